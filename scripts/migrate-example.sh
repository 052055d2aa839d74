#!/usr/bin/env bash
# The main job, offline: builds gnbr and its plugins, then migrates the
# GeoNode 2.0 example backup shipped in examples/ to GeoNode 2.4.
# Writes target/example/gn24-backup.zip (replaced on each run).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release
mkdir -p target/example
exec target/release/gnbr -c settings.ini migrate \
    --backup-file examples/gn20-backup \
    --output target/example/gn24-backup.zip --force \
    --siteurl http://geonode24.example.org "$@"
