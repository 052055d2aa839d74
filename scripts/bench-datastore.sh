#!/usr/bin/env bash
# Datastore tables benchmark: gnbr's per-table pg_dump/psql next to running
# the tools by hand, on one PostGIS table of ROWS rows (default 1000000):
#
#   scripts/bench-datastore.sh [ROWS]
#
# 1. `pg_dump -t` to a file, and `psql --single-transaction` of that file
#    into an empty database: the floor;
# 2. `gnbr backup` of a fresh GeoNode 5.1.1 whose datastore holds the
#    table, and `gnbr restore` of it into another GeoNode and datastore,
#    each also run with `dumpvectordata = no`, so that the difference is
#    the table's share.
# Prints wall time and peak RSS. Uses the services of scripts/test-services.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}

WORK_NAME=datastore
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh

fresh_datastore() {
    psql_su "DROP DATABASE IF EXISTS $1 WITH (FORCE)"
    psql_su "CREATE DATABASE $1 OWNER $GNBR_TEST_PGUSER"
    "$GNBR_TEST_PGBIN/psql" -h "$GNBR_TEST_PGHOST" -p "$GNBR_TEST_PGPORT" -U postgres -qAt -d "$1" \
        -c "CREATE EXTENSION postgis"
}
in_db() {  # DB SQL: as the GeoNode user
    "$GNBR_TEST_PGBIN/psql" -h "$GNBR_TEST_PGHOST" -p "$GNBR_TEST_PGPORT" -U postgres -qAt -d "$1" \
        -v ON_ERROR_STOP=1 -c "SET ROLE $GNBR_TEST_PGUSER; $2"
}
with_datastore() {  # DIR DB DATASTORE VECTOR(yes|no)
    settings_for "$1" "$2"
    printf 'DEFAULT_BACKEND_DATASTORE=datastore\nGEODATABASE_URL=%s\n' "$(db_url "$3")" >>"$1/gn.env"
    printf '\n[geoserver]\ndumpvectordata = %s\n' "$4" >>"$1/settings.ini"
}

fresh_datastore gnbr_bench_ds_source
in_db gnbr_bench_ds_source "CREATE TABLE roads (id serial PRIMARY KEY, name text NOT NULL, lanes integer CHECK (lanes > 0), geom geometry(LineString, 4326));
    INSERT INTO roads (name, lanes, geom) SELECT 'road ' || g, g % 4 + 1,
        ST_MakeLine(ST_Point(g % 360 - 180, g % 170 - 85, 4326), ST_Point(g % 360 - 179.5, g % 170 - 84.5, 4326))
        FROM generate_series(1, $ROWS) g;
    CREATE INDEX roads_geom ON roads USING gist (geom);"
echo "ROWS = $ROWS in one PostGIS table of $(in_db gnbr_bench_ds_source "SELECT pg_size_pretty(pg_total_relation_size('roads'))")"
printf '%-34s %10s %12s %12s\n' run "wall" "peak RSS" "own RSS"
export PGPASSWORD=$GNBR_TEST_PGPASSWORD
pg() { echo "-h $GNBR_TEST_PGHOST -p $GNBR_TEST_PGPORT -U $GNBR_TEST_PGUSER --no-password"; }
# shellcheck disable=SC2046
measure "by hand: pg_dump -t" "$GNBR_TEST_PGBIN/pg_dump" $(pg) --no-owner -t roads -f "$WORK/roads.sql" gnbr_bench_ds_source
fresh_datastore gnbr_bench_ds_by_hand
# shellcheck disable=SC2046
measure "by hand: psql --single-transaction" "$GNBR_TEST_PGBIN/psql" $(pg) -X -q -v ON_ERROR_STOP=1 --single-transaction -f "$WORK/roads.sql" gnbr_bench_ds_by_hand

fresh_db gnbr_bench_gn_source
for vector in no yes; do
    with_datastore "$WORK/source-$vector" gnbr_bench_gn_source gnbr_bench_ds_source "$vector"
    (cd "$WORK/source-$vector" && measure "backup: gnbr, dumpvectordata=$vector" "$GNBR" -c settings.ini --quiet backup --backup-dir backups)
done
ARCHIVE=$(ls "$WORK"/source-yes/backups/*.zip)
for vector in no yes; do
    fresh_db gnbr_bench_gn_target; fresh_datastore gnbr_bench_ds_target
    with_datastore "$WORK/target-$vector" gnbr_bench_gn_target gnbr_bench_ds_target "$vector"
    (cd "$WORK/target-$vector" && measure "restore: gnbr, dumpvectordata=$vector" "$GNBR" -c settings.ini --quiet restore --backup-file "$ARCHIVE" -f --no-snapshot)
done
echo "rows restored: $(in_db gnbr_bench_ds_target "SELECT count(*) FROM roads" | tail -1)"
