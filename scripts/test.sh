#!/usr/bin/env bash
# The whole test suite: builds the workspace (gnbr, the shipped plugins),
# then runs every test. The e2e tests build their own test plugins
# (tests/plugins) on first use. Non-interactive; exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast
