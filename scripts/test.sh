#!/usr/bin/env bash
# The whole test suite. Installs and starts what the tests need (PostgreSQL
# 15 + PostGIS, real GeoNodes 5.1.1, 4.4.5, 4.1.5 and 3.3.3 in virtualenvs, migrated
# template databases, the Garage S3 server: scripts/test-services.sh, idempotent, a
# second when warm),
# builds the workspace (gnbr and the shipped plugins) and runs every test.
# The e2e tests build their own test plugins (tests/plugins) on first use.
# After a green suite: the SDK's semver check, then the fuzz targets.
# Non-interactive; exits non-zero on any failure, including a missing service.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-services.sh up --with-4.4.5 --with-3.3.3
GNBR_TEST_ENV=$(scripts/test-services.sh env 5.1.1)
GNBR_TEST_ENV_445=$(scripts/test-services.sh env 4.4.5)
GNBR_TEST_ENV_415=$(scripts/test-services.sh env 4.1.5)
GNBR_TEST_ENV_333=$(scripts/test-services.sh env 3.3.3)
GNBR_TEST_S3_ENV=$(scripts/test-services.sh env s3)
export GNBR_TEST_ENV GNBR_TEST_ENV_445 GNBR_TEST_ENV_415 GNBR_TEST_ENV_333 GNBR_TEST_S3_ENV

cargo build --workspace --all-targets
results=$(mktemp)
trap 'rm -f "$results"' EXIT
status=0
cargo test --workspace --no-fail-fast 2>&1 | tee "$results" || status=$?

# The plugin SDK's public API against its last release (scripts/semver.sh,
# cargo-semver-checks installed on first use): a breaking change fails.
if [ "$status" = 0 ]; then
    scripts/semver.sh || status=$?
fi

# Each fuzz target for a bounded time (GNBR_FUZZ_SECONDS each, 0: none), only
# when a nightly toolchain is installed (never downloaded): the kept corpus
# and crashes are replayed by the suite above on stable either way.
fuzz_seconds=${GNBR_FUZZ_SECONDS:-30}
if [ "$status" = 0 ] && [ "$fuzz_seconds" -gt 0 ] &&
    rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    scripts/fuzz.sh "$fuzz_seconds" || status=$?
fi

# The whole suite's count, last, as one plain line.
count() { grep -Eo "[0-9]+ $1;" "$results" | awk '{ n += $1 } END { print n + 0 }'; }
echo "tests: $(count passed) passed, $(count failed) failed"
exit "$status"
