#!/usr/bin/env bash
# Checks that mangler-api, the plugin SDK, keeps its semver promise: its
# public API compared with its last release by cargo-semver-checks. A
# breaking change without a major version bump fails (exit non-zero).
#
# The last release is named here by version and commit (a tag would not
# travel with every clone). Its source is taken from git once and kept in
# the test services' state folder, so a shallow clone on the same machine
# checks too; cargo-semver-checks reads it with --baseline-root. On a new
# release of mangler-api, set both to the commit that carries it.
#
# cargo-semver-checks is installed from crates.io when missing, at the
# version pinned here, into the state folder (kept between runs and clones).
set -euo pipefail
cd "$(dirname "$0")/.."

release_version=1.2.0
release_commit=2f97d6a3559f5fd673bf13ca9558fe20ea1cf0cc
tool_version=0.51.0

state=${GNBR_TEST_STATE:-/var/tmp/gnbr-test}
tools=$state/cargo-tools
tool=$tools/bin/cargo-semver-checks
baseline=$state/semver-baseline/mangler-api-$release_version-${release_commit:0:12}

die() { echo "semver.sh: $*" >&2; exit 2; }

if [ "$("$tool" --version 2>/dev/null)" != "cargo-semver-checks $tool_version" ]; then
    echo "semver.sh: installing cargo-semver-checks $tool_version into $tools"
    cargo install cargo-semver-checks --version "$tool_version" --locked --root "$tools" --quiet
fi

if [ ! -d "$baseline" ]; then
    if ! git cat-file -e "$release_commit^{commit}" 2>/dev/null; then
        if ! git fetch --quiet origin "$release_commit" 2>/dev/null; then
            # A shallow clone without a reachable origin: nothing to compare
            # with. Said loudly, not failed: the suite itself has passed.
            echo "semver.sh: WARNING: not checked: commit $release_commit (mangler-api $release_version) is not in this clone; fetch the history (git fetch --unshallow) and run again" >&2
            exit 0
        fi
    fi
    mkdir -p "$(dirname "$baseline")"
    staging=$(mktemp -d "$baseline.XXXXXX")
    trap 'rm -rf "$staging"' EXIT
    git archive "$release_commit" | tar -x -C "$staging"
    released=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$staging/mangler-api/Cargo.toml" | head -1)
    [ "$released" = "$release_version" ] ||
        die "commit $release_commit holds mangler-api $released, not $release_version: fix release_commit in $0"
    # Another run may have put it there first: then its copy stays.
    mv -T "$staging" "$baseline" 2>/dev/null || rm -rf "$staging"
    trap - EXIT
fi

echo "semver.sh: mangler-api against its release $release_version (${release_commit:0:12})"
# By manifest, not by package name: the repository holds other crates named
# mangler-api (the frozen 1.0 copy in tests/plugins/, generated ones in target/).
"$tool" semver-checks --manifest-path mangler-api/Cargo.toml --baseline-root "$baseline/mangler-api"
