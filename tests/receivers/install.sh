#!/usr/bin/env bash
# Installs what the test receivers need; idempotent and quick when done.
#   npm packages (express) into tests/receivers/node_modules, from package-lock.json
#   PyPI packages (flask, standardwebhooks, svix: the official Svix SDK) into the python3 on PATH ($PYTHON to override)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"

if ! node -e "require.resolve('express')" >/dev/null 2>&1; then
  echo "receivers: installing npm packages" >&2
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
fi

if ! "$PYTHON" -c "import flask, standardwebhooks.webhooks, prometheus_client, svix.webhooks" >/dev/null 2>&1; then
  echo "receivers: installing PyPI packages" >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check -r requirements.txt ||
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --break-system-packages -r requirements.txt
fi
