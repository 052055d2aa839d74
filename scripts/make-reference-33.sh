#!/usr/bin/env bash
# make-reference-33.sh OUT: the 3.x road's reference data, made with real GeoNodes.
#
# A GeoNode 3.3.3 database seeded by tests/data/seed_geonode33.py is backed up by GeoNode
# 3.3.3's own `backup`; then the same database is upgraded in place the way GeoNode documents
# it (4.1.5's `migrate`, then 4.4.5's, then 5.1.1's), and after each step that GeoNode's own
# `backup` writes what it holds. Each archive is kept and unpacked under OUT:
#
#   OUT/geonode-3.3.3-backup/              GeoNode 3.3.3's backup of the seeded instance
#   OUT/geonode-3.3.3-upgraded-to-4.1.5/   4.1.5's backup after its in-place migrate
#   OUT/geonode-3.3.3-upgraded-to-4.4.5/   4.4.5's backup after its in-place migrate
#   OUT/geonode-3.3.3-upgraded-to-5.1.1/   5.1.1's backup after its in-place migrate
#   OUT/media/, OUT/assets/                 the instance's MEDIA_ROOT and ASSETS_ROOT
#
# The plugin tests (manglers/gn33_to_41, gn41_to_44) hold copies of these fixtures. Needs the
# test services with the 3.x road: scripts/test-services.sh up --with-4.4.5 --with-3.3.3.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=${1:?usage: scripts/make-reference-33.sh OUT}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DB=gnbr_ref33

say() { echo "make-reference-33: $*"; }

# env_of VERSION: the services' environment file for a GeoNode version.
env_of() { scripts/test-services.sh env "$1"; }

# in_geonode VERSION COMMAND...: runs COMMAND in that GeoNode's environment, pointed at $DB
# and at OUT's media and assets folders.
in_geonode() {
    local ver=$1 line
    shift
    (
        while IFS= read -r line; do
            [ -n "$line" ] && export "${line?}"
        done <"$(env_of "$ver")"
        export DATABASE_URL="postgis://$GNBR_TEST_PGUSER:$GNBR_TEST_PGPASSWORD@$GNBR_TEST_PGHOST:$GNBR_TEST_PGPORT/$DB"
        export MEDIA_ROOT=$OUT/media ASSETS_ROOT=$OUT/assets
        cd "$OUT"
        "$@"
    )
}

psql_su() {
    local line
    while IFS= read -r line; do
        [ -n "$line" ] && export "${line?}"
    done <"$(env_of 5.1.1)"
    psql -X -q -At -v ON_ERROR_STOP=1 -h "$GNBR_TEST_PGHOST" -p "$GNBR_TEST_PGPORT" -U postgres -d postgres -c "$1"
}

# backup_as VERSION SETTINGS NAME: that GeoNode's own backup, unpacked into OUT/NAME.
backup_as() {
    local ver=$1 ini=$2 name=$3 dir zip
    dir=$OUT/$name
    rm -rf "$dir" "$dir.zip"
    mkdir -p "$OUT/backups-$ver"
    rm -f "$OUT/backups-$ver"/*
    in_geonode "$ver" bash -c '"$GNBR_TEST_DJANGO_ADMIN" backup --backup-dir "$1" -c "$2" --skip-geoserver -f' \
        _ "$OUT/backups-$ver" "$ini"
    zip=$(ls "$OUT/backups-$ver"/*.zip)
    mv "$zip" "$dir.zip"
    rm -rf "$OUT/backups-$ver"
    mkdir -p "$dir"
    (cd "$dir" && unzip -q "$dir.zip")
    say "GeoNode $ver's backup: $dir.zip"
}

rm -rf "$OUT/media" "$OUT/assets"
mkdir -p "$OUT/media" "$OUT/assets"
psql_su "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql_su "CREATE DATABASE $DB TEMPLATE gnbr_tpl_333 OWNER gnbr"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1767225600}
in_geonode 3.3.3 bash -c '"$GNBR_TEST_PYTHON" "$1"' _ "$REPO/tests/data/seed_geonode33.py"
backup_as 3.3.3 "$REPO/tests/data/geonode-3.3.3-settings.ini" geonode-3.3.3-backup
for ver in 4.1.5 4.4.5 5.1.1; do
    say "GeoNode $ver: migrate in place"
    in_geonode "$ver" bash -c '"$GNBR_TEST_DJANGO_ADMIN" migrate --noinput' >"$OUT/migrate-$ver.log" 2>&1 ||
        { tail -n 30 "$OUT/migrate-$ver.log" >&2; exit 1; }
    case $ver in
    4.1.5) ini=$REPO/tests/data/geonode-4.1.5-settings.ini ;;
    4.4.5) ini=$REPO/tests/data/geonode-4.4.5-settings.ini ;;
    5.1.1) ini=$REPO/tests/data/geonode-5.1.1-backup/settings-as-written-by-backup.ini ;;
    esac
    backup_as "$ver" "$ini" "geonode-3.3.3-upgraded-to-$ver"
done
date -Is >"$OUT/READY"
say "done: $OUT"
