# Shared by the benchmarks: the services of scripts/test-services.sh, a
# release build of gnbr, a work folder target/bench/$WORK_NAME, and helpers.
# Sourced from the repository's root.
scripts/test-services.sh up >/dev/null
ENV_FILE=$(scripts/test-services.sh env 5.1.1)
# shellcheck disable=SC1090
set -a; . "$ENV_FILE"; set +a
# GeoNode's settings need GEOSERVER_LOCATION; gnbr would take it as the
# GeoServer to call, and none runs here.
unset GEOSERVER_LOCATION
cargo build --release --quiet
GNBR=$PWD/target/release/gnbr
WORK=$PWD/target/bench/$WORK_NAME
rm -rf "$WORK"; mkdir -p "$WORK"

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
measure() {  # LABEL COMMAND...: prints "LABEL  seconds  peak-RSS-MB  own-peak-RSS-MB"
    # Peak RSS is the largest process of the run (Django children included);
    # own peak RSS is the command's own process alone: its VmHWM, read from
    # /proc each 0.2 s while it runs (VmHWM only grows, so the last reading
    # before it exits is its peak up to then).
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/$label.log" 2>&1 &
    local timer=$! own=0 pid hwm
    while kill -0 "$timer" 2>/dev/null; do
        pid=$(pgrep -P "$timer" | head -1) || true
        hwm=$( [ -n "$pid" ] && awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || true
        [ -n "$hwm" ] && [ "$hwm" -gt "$own" ] && own=$hwm
        sleep 0.2
    done
    wait "$timer" || { cat "$WORK/$label.log"; exit 1; }
    read -r secs kb <"$WORK/time"
    printf '%-34s %8.1f s %9.0f MB %9.0f MB\n' "$label" "$secs" "$((kb / 1024))" "$((own / 1024))"
}
