#!/usr/bin/env bash
# Installs schemathesis (pinned in requirements.txt) for the OpenAPI test
# (tests/it/openapi.rs) into the python3 on PATH ($PYTHON to override);
# idempotent and quick when done.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
want="$(sed -n 's/^schemathesis==//p' requirements.txt)"
have="$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)"
if [ "$have" != "$want" ]; then
  echo "openapi: installing schemathesis $want" >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check -r requirements.txt ||
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --break-system-packages -r requirements.txt
fi
