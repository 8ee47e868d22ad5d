#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests.
# This is the README's test command; CI (.ci/run) calls it after installing
# what the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."
# The seed's receivers (Express, Flask) and the Standard Webhooks library
# that the delivery tests run against; idempotent and quick when present.
bash tests/receivers/install.sh
# schemathesis, for the OpenAPI run against the served document
# (tests/it/openapi.rs).
bash tests/openapi/install.sh
# playwright-core for the admin panel's browser test (it drives the system
# chromium; it never downloads a browser).
bash tests/ui/install.sh
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# The tests run with a throwaway PostgreSQL cluster (HERALD_TEST_PG): the
# store conformance suite and tests/it/postgres.rs run on it too. Without
# PostgreSQL's binaries this fails, saying to install `postgresql`.
bash tests/pg/start.sh cargo test --all-targets
