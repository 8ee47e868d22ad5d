#!/usr/bin/env bash
# Installs what the browser end-to-end test needs; idempotent and quick
# when done. playwright-core only drives a browser: it never downloads one.
# The browser is Debian's chromium (.ci/run installs it).
set -euo pipefail
cd "$(dirname "$0")"
if ! node -e "require.resolve('playwright-core')" >/dev/null 2>&1; then
  echo "ui e2e: installing npm packages" >&2
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi
