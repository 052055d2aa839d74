#!/usr/bin/env bash
# The whole test suite. Installs and starts what the tests need (PostgreSQL
# 15 + PostGIS, a real GeoNode 5.1.1 in a virtualenv, a migrated template
# database: scripts/test-services.sh, idempotent, a few seconds when warm),
# builds the workspace (gnbr and the shipped plugins) and runs every test.
# The e2e tests build their own test plugins (tests/plugins) on first use.
# Non-interactive; exits non-zero on any failure, including a missing service.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-services.sh up
GNBR_TEST_ENV=$(scripts/test-services.sh env 5.1.1)
export GNBR_TEST_ENV

cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast
