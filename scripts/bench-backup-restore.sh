#!/usr/bin/env bash
# Backup and restore benchmark, gnbr next to GeoNode's own commands, on a real
# GeoNode 5.1.1 with N resources (default 10000):
#
#   scripts/bench-backup-restore.sh [N]
#
# GeoNode's own commands run only up to GEONODE_MAX resources (default 20000):
# its restore rebuilds the search index one resource at a time (0.05-0.24 s
# each), hours at N = 100000.
#
# 1. an archive: the real 5.1.1 backup in tests/data plus N documents;
# 2. restore it into a fresh database with gnbr, and with GeoNode's `restore`
#    (skipped with BENCH_SKIP_GEONODE_RESTORE=1: 9 minutes at N = 10000);
# 3. back the instance gnbr restored up with gnbr, and with GeoNode's `backup`,
#    interleaved BENCH_BACKUP_ROUNDS times (default 1): gnbr, GeoNode, gnbr, ...
# Its databases are named after N, so runs of different sizes do not collide.
# Prints wall time, peak RSS (largest process of each run, Django children
# included), own RSS (the command's own process alone) and the load average
# before each backup (the machine may be shared). Uses the services of
# scripts/test-services.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
GEONODE_MAX=${GEONODE_MAX:-20000}

WORK_NAME=backup-restore
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
python3 scripts/bench/make_archive.py "$N" "$WORK/bench.zip"

geonode() {  # DIR DB: the command line of GeoNode's django-admin against DB
    # shellcheck disable=SC2046
    echo env $(grep -v '^GNBR_TEST_' "$ENV_FILE" | xargs) DATABASE_URL="$(db_url "$2")" MEDIA_ROOT="$1/media" ASSETS_ROOT="$1/assets" "$GNBR_TEST_DJANGO_ADMIN"
}

own() {  # LABEL COMMAND...: measure GeoNode's own command up to GEONODE_MAX
    if [ "$N" -le "$GEONODE_MAX" ]; then measure "$@"; else printf '%-34s skipped: N > GEONODE_MAX (%s)\n' "$1" "$GEONODE_MAX"; fi
}

echo "N = $N extra resources; $(du -h "$WORK/bench.zip" | cut -f1) archive"
printf '%-34s %10s %12s %12s\n' run "wall" "peak RSS" "own RSS"
fresh_db gnbr_bench_gnbr_$N; settings_for "$WORK/gnbr" gnbr_bench_gnbr_$N
(cd "$WORK/gnbr" && measure "restore: gnbr" "$GNBR" -c settings.ini --quiet restore --backup-file "$WORK/bench.zip" -f --no-snapshot)
if [ "${BENCH_SKIP_GEONODE_RESTORE:-0}" != 1 ]; then
    fresh_db gnbr_bench_geonode_$N; mkdir -p "$WORK/geonode"
    # shellcheck disable=SC2046
    own "restore: GeoNode's own" $(geonode "$WORK/geonode" gnbr_bench_geonode_$N) restore --backup-file "$WORK/bench.zip" \
        -c "$PWD/tests/data/geonode-5.1.1-backup/settings-as-written-by-backup.ini" --skip-geoserver --skip-read-only -f
fi
for round in $(seq "${BENCH_BACKUP_ROUNDS:-1}"); do
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    (cd "$WORK/gnbr" && measure "backup: gnbr ($round)" "$GNBR" -c settings.ini --quiet backup --backup-dir "$WORK/gnbr-backups" --skip-geoserver)
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    # shellcheck disable=SC2046
    own "backup: GeoNode's own ($round)" $(geonode "$WORK/gnbr" gnbr_bench_gnbr_$N) backup --backup-dir "$WORK/geonode-backups" \
        -c "$PWD/tests/data/geonode-5.1.1-backup/settings-as-written-by-backup.ini" --skip-geoserver -f
done
