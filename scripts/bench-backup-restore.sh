#!/usr/bin/env bash
# Backup and restore benchmark, gnbr next to GeoNode's own commands, on a real
# GeoNode 5.1.1 with N resources (default 10000):
#
#   scripts/bench-backup-restore.sh [N]
#
# 1. an archive: the real 5.1.1 backup in tests/data plus N documents;
# 2. restore it into a fresh database with gnbr, and with GeoNode's `restore`;
# 3. back the restored instance up with gnbr, and with GeoNode's `backup`.
# Prints wall time and peak RSS (largest process of each run, Django
# children included). Uses the services of scripts/test-services.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}

scripts/test-services.sh up >/dev/null
ENV_FILE=$(scripts/test-services.sh env 5.1.1)
# shellcheck disable=SC1090
set -a; . "$ENV_FILE"; set +a
cargo build --release --quiet
GNBR=$PWD/target/release/gnbr
WORK=$PWD/target/bench/backup-restore
rm -rf "$WORK"; mkdir -p "$WORK"
python3 scripts/bench/make_archive.py "$N" "$WORK/bench.zip"

psql_su() { "$GNBR_TEST_PGBIN/psql" -h "$GNBR_TEST_PGHOST" -p "$GNBR_TEST_PGPORT" -U postgres -qAt -c "$1"; }
fresh_db() {
    psql_su "DROP DATABASE IF EXISTS $1 WITH (FORCE)"
    psql_su "CREATE DATABASE $1 TEMPLATE $GNBR_TEST_TEMPLATE_DB OWNER $GNBR_TEST_PGUSER"
}
db_url() { echo "postgis://$GNBR_TEST_PGUSER:$GNBR_TEST_PGPASSWORD@$GNBR_TEST_PGHOST:$GNBR_TEST_PGPORT/$1"; }
settings_for() {  # DIR DB: a settings.ini and env file for gnbr
    mkdir -p "$1"
    grep -v '^GNBR_TEST_' "$ENV_FILE" | sed "s#^DATABASE_URL=.*#DATABASE_URL=$(db_url "$2")#; s#^MEDIA_ROOT=.*#MEDIA_ROOT=$1/media#; s#^ASSETS_ROOT=.*#ASSETS_ROOT=$1/assets#" >"$1/gn.env"
    {
        printf '[geonode]\npython = %s\nenv_file = gn.env\n\n[fixtures]\n' "$GNBR_TEST_PYTHON"
        grep -E '^(apps|dumps) =' tests/data/geonode-5.1.1-backup/settings-as-written-by-backup.ini
    } >"$1/settings.ini"
}
measure() {  # LABEL COMMAND...: prints "LABEL  seconds  peak-RSS-MB"
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/$label.log" 2>&1 || { cat "$WORK/$label.log"; exit 1; }
    read -r secs kb <"$WORK/time"
    printf '%-34s %8.1f s %9.0f MB\n' "$label" "$secs" "$((kb / 1024))"
}
geonode() {  # DIR DB: the command line of GeoNode's django-admin against DB
    # shellcheck disable=SC2046
    echo env $(grep -v '^GNBR_TEST_' "$ENV_FILE" | xargs) DATABASE_URL="$(db_url "$2")" MEDIA_ROOT="$1/media" ASSETS_ROOT="$1/assets" "$GNBR_TEST_DJANGO_ADMIN"
}

echo "N = $N extra resources; $(du -h "$WORK/bench.zip" | cut -f1) archive"
printf '%-34s %10s %12s\n' run "wall" "peak RSS"
fresh_db gnbr_bench_gnbr; settings_for "$WORK/gnbr" gnbr_bench_gnbr
(cd "$WORK/gnbr" && measure "restore: gnbr" "$GNBR" -c settings.ini --quiet restore --backup-file "$WORK/bench.zip" -f --no-snapshot)
fresh_db gnbr_bench_geonode; mkdir -p "$WORK/geonode"
# shellcheck disable=SC2046
measure "restore: GeoNode's own" $(geonode "$WORK/geonode" gnbr_bench_geonode) restore --backup-file "$WORK/bench.zip" \
    -c "$PWD/tests/data/geonode-5.1.1-backup/settings-as-written-by-backup.ini" --skip-geoserver --skip-read-only -f
(cd "$WORK/gnbr" && measure "backup: gnbr" "$GNBR" -c settings.ini --quiet backup --backup-dir "$WORK/gnbr-backups" --skip-geoserver)
# shellcheck disable=SC2046
measure "backup: GeoNode's own" $(geonode "$WORK/gnbr" gnbr_bench_gnbr) backup --backup-dir "$WORK/geonode-backups" \
    -c "$PWD/tests/data/geonode-5.1.1-backup/settings-as-written-by-backup.ini" --skip-geoserver -f
