#!/usr/bin/env bash
# Fuzzes gnbr's parsers: every cargo-fuzz target in fuzz/ for SECONDS each
# (default 60), starting from the corpus kept in fuzz/corpus/<target>/.
# New inputs the fuzzer finds go to fuzz/target/corpus/<target>/ (not kept;
# copy a small, telling one into fuzz/corpus/ by hand).
#
# Needs the nightly toolchain (checked, never downloaded) and cargo-fuzz
# (installed from crates.io when missing). Builds into GNBR_FUZZ_TARGET_DIR
# (default: fuzz-target in the test services' state folder, kept between
# runs and clones so that only gnbr itself is rebuilt).
#
# A crash stops the run with exit 1; libFuzzer names the input it saved in
# fuzz/artifacts/<target>/. Keep it as fuzz/regressions/<target>/<name> and
# fix the bug: tests/e2e/fuzz_corpus.rs replays every file there on stable.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz.sh: no nightly toolchain (rustup toolchain list); the corpus replay tests cover the kept inputs" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

build_dir=${GNBR_FUZZ_TARGET_DIR:-${GNBR_TEST_STATE:-/var/tmp/gnbr-test}/fuzz-target}
cargo +nightly fuzz build --target-dir "$build_dir"
for target in $(cargo +nightly fuzz list); do
    mkdir -p "target/corpus/$target"
    echo "fuzz.sh: $target for ${seconds} s"
    # -timeout: one input taking 10 s is a hang (a quadratic scan, a loop);
    # -rss_limit_mb: one input using 2 GB is a memory bomb.
    cargo +nightly fuzz run --target-dir "$build_dir" "$target" "target/corpus/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
