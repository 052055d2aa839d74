#!/usr/bin/env bash
# test-services.sh: install and start the real services gnbr's end-to-end tests need:
# a throwaway PostgreSQL 15 + PostGIS cluster, GeoNode 5.1.1 in a venv, a migrated template
# database, a single-node Garage S3 server with a bucket and a key, and an environment file
# describing each. Optionally GeoNode 4.4.5, and the 3.x road (GeoNode 3.3.3 and 4.1.5, on
# pyenv's Python 3.8 and 3.10), as well.
#
#   scripts/test-services.sh [up] [--with-4.4.5] [--with-3.3.3]
#                                   install what is missing, start postgres (default);
#                                   --with-3.3.3 brings GeoNode 3.3.3 and 4.1.5
#   scripts/test-services.sh down   stop postgres and Garage
#   scripts/test-services.sh env [5.1.1|4.4.5|4.1.5|3.3.3|s3]
#                                   print the path of the environment file
#
# Runs as root, needs no stdin, is idempotent and reuses whatever a previous run left in
# ${GNBR_TEST_STATE:-/var/tmp/gnbr-test}. See scripts/README.md.
set -Eeuo pipefail

STATE=${GNBR_TEST_STATE:-/var/tmp/gnbr-test}
PGPORT_=${GNBR_TEST_PGPORT:-54329}
PGBIN=/usr/lib/postgresql/15/bin
PGHOST_=127.0.0.1
PGROOT=$STATE/pg              # owned by postgres: data/, sock/, postgres.log
PGDATA_=$PGROOT/data
PGSOCK=$PGROOT/sock
PGLOG=$PGROOT/postgres.log
LOGS=$STATE/logs
DB_USER=gnbr
DB_PASS=gnbr
DB_DEFAULT=gnbr_target
# The (empty) PostGIS datastore GeoNode 4.1.5's migrations need.
DATASTORE_415=gnbr_datastore_415
# Bump when the install recipe changes: a venv whose marker holds another value is rebuilt.
RECIPE_REV=1
# Garage, the S3 server the bucket tests use: built from crates.io into cargo-tools (as
# scripts/semver.sh installs cargo-semver-checks), one node on loopback, state in $GARAGE_ROOT.
GARAGE_VERSION=2.5.0
GARAGE_BIN=$STATE/cargo-tools/bin/garage
GARAGE_ROOT=$STATE/garage
GARAGE_CONF=$GARAGE_ROOT/garage.toml
GARAGE_LOG=$GARAGE_ROOT/garage.log
GARAGE_PORT=${GNBR_TEST_S3PORT:-39900} # S3 API; RPC and admin on the next two ports
GARAGE_REGION=garage
GARAGE_BUCKET=gnbr-test
GARAGE_KEY_NAME=gnbr-test

export DEBIAN_FRONTEND=noninteractive
export PIP_CACHE_DIR=$STATE/pip-cache
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

PACKAGES=(
    postgresql-15 postgresql-client-15
    postgresql-15-postgis-3 postgresql-15-postgis-3-scripts
    libgdal-dev gdal-bin libmemcached-dev
    gcc g++ libpq-dev libmagic1 python3-venv python3-dev
    # The admin page's browser tests (tests/e2e/serve.rs) drive headless Chromium.
    chromium chromium-driver fonts-dejavu-core
    # The age CLI (age, age-keygen): encrypted archives read and written by hand (host/tests/backups.rs,
    # host/src/archive/crypt.rs); Info-ZIP's unzip tests the zip age decrypts from gnbr's (crypt.rs);
    # OpenSSH's ssh-keygen makes the ssh keys archives are encrypted to (crypt.rs, tests/e2e/bucket.rs).
    age unzip openssh-client
)

say() { echo "test-services: $*"; }
die() { echo "test-services: ERROR: $*" >&2; exit 1; }
set_err_trap() {
    trap 'die "command failed (exit $?) at ${BASH_SOURCE[0]}:${LINENO}: ${BASH_COMMAND}"' ERR
}
set_err_trap

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
}

# run_step "what" LOG FUNCTION ARGS...: runs FUNCTION in a subshell with errexit and xtrace,
# output appended to LOG; on failure says what failed, shows the log's tail and exits 1.
run_step() {
    local what=$1 log=$2
    shift 2
    local t0=$SECONDS rc
    say "$what ... (log: $log)"
    mkdir -p "$(dirname "$log")"
    echo "==== $(date -Is) $what" >>"$log"
    # Not "( ... ) || rc=$?": errexit would be ignored inside. The ERR trap fires even
    # without errexit, so it is off while the step runs.
    trap - ERR
    set +e
    (
        set -e -o pipefail -x
        "$@"
    ) >>"$log" 2>&1 </dev/null 9>&- # fd 9 = lock: daemons started here must not inherit it
    rc=$?
    set -e
    set_err_trap
    if [ "$rc" -ne 0 ]; then
        echo "test-services: ---- last lines of $log ----" >&2
        tail -n 40 "$log" >&2 || true
        die "$what failed (exit $rc); full log: $log"
    fi
    say "$what: done in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- Debian packages
ensure_packages() {
    local p missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        say "Debian packages: all present"
        return 0
    fi
    run_step "installing Debian packages: ${missing[*]}" "$LOGS/apt.log" apt_install "${missing[@]}"
}

apt_install() {
    apt-get update
    apt-get install -y --no-install-recommends "$@"
}

# ---------------------------------------------------------------- state folder
ensure_state_dirs() {
    mkdir -p "$STATE" "$LOGS" "$PIP_CACHE_DIR" "$PGROOT"
    chmod 755 "$STATE"
    # Every folder on the way to $STATE must be traversable by postgres.
    if ! runuser -u postgres -- test -x "$STATE"; then
        local d=$STATE chain=()
        while [ "$d" != / ]; do
            chain=("$d" "${chain[@]}")
            d=$(dirname "$d")
        done
        for d in "${chain[@]}"; do # top-down
            if ! runuser -u postgres -- test -x "$d"; then
                say "making $d traversable for the postgres user (chmod o+x)"
                chmod o+x "$d"
            fi
        done
        runuser -u postgres -- test -x "$STATE" || die "postgres still cannot reach $STATE"
    fi
    # Runs once per state folder; cheap enough to check every time.
    [ "$(stat -c %U "$PGROOT")" = postgres ] || chown postgres:postgres "$PGROOT"
    mkdir -p "$PGSOCK"
    [ "$(stat -c %U "$PGSOCK")" = postgres ] || chown postgres:postgres "$PGSOCK"
    chmod 755 "$PGROOT" # the data dir inside stays 0700
}

# ---------------------------------------------------------------- PostgreSQL
pg_as() { runuser -u postgres -- "$@"; }

psql_su() { # psql as the postgres superuser over TCP (trusted), quiet, unaligned
    psql -X -q -At -v ON_ERROR_STOP=1 -h "$PGHOST_" -p "$PGPORT_" -U postgres "$@"
}

init_cluster() {
    local tmp=$PGROOT/data.initdb
    rm -rf "$tmp"
    install -d -o postgres -g postgres -m 700 "$tmp"
    pg_as "$PGBIN/initdb" -D "$tmp" -U postgres --auth-local=trust --auth-host=trust \
        -E UTF8 --locale=C.UTF-8
    # Throwaway cluster: loopback only, no durability.
    cat >>"$tmp/postgresql.conf" <<EOF

# ---- gnbr test cluster (scripts/test-services.sh)
listen_addresses = '$PGHOST_'
port = $PGPORT_
unix_socket_directories = '$PGSOCK'
fsync = off
full_page_writes = off
synchronous_commit = off
max_connections = 100
EOF
    # postgres is trusted everywhere (local socket and loopback); every other role (gnbr)
    # must give its password over TCP, so that password-passing code paths are really tested.
    cat >"$tmp/pg_hba.conf" <<EOF
# gnbr test cluster (scripts/test-services.sh)
local   all   all                     trust
host    all   postgres   127.0.0.1/32 trust
host    all   postgres   ::1/128      trust
host    all   all        127.0.0.1/32 scram-sha-256
host    all   all        ::1/128      scram-sha-256
EOF
    chown postgres:postgres "$tmp/pg_hba.conf"
    mv "$tmp" "$PGDATA_"
}

# Running = postmaster.pid names a live postgres process serving this data dir. A pid file
# left by a killed server (its pid possibly reused since) is removed, so that start works.
pg_running() {
    local pid
    [ -f "$PGDATA_/postmaster.pid" ] || return 1
    pid=$(head -n 1 "$PGDATA_/postmaster.pid")
    if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -F -- "$PGDATA_" >/dev/null; then
        return 0
    fi
    say "postgres: removing stale postmaster.pid (pid ${pid:-?} is not this cluster's server)"
    rm -f "$PGDATA_/postmaster.pid" "$PGSOCK"/.s.PGSQL.*.lock
    return 1
}

ensure_postgres() {
    if [ ! -f "$PGDATA_/PG_VERSION" ] || [ ! -f "$PGDATA_/postgresql.conf" ]; then
        rm -rf "$PGDATA_"
        run_step "creating PostgreSQL 15 cluster in $PGDATA_" "$LOGS/initdb.log" init_cluster
    fi
    # The port lives in postgresql.conf: follow a changed GNBR_TEST_PGPORT.
    if ! grep -q "^port = $PGPORT_\$" "$PGDATA_/postgresql.conf"; then
        sed -i "s/^port = [0-9]*\$/port = $PGPORT_/" "$PGDATA_/postgresql.conf"
        if pg_running; then
            say "port changed to $PGPORT_: restarting postgres"
            pg_as "$PGBIN/pg_ctl" -D "$PGDATA_" -m fast -w stop >/dev/null
        fi
    fi
    if pg_running; then
        say "postgres: already running on $PGHOST_:$PGPORT_"
    else
        say "postgres: starting on $PGHOST_:$PGPORT_ (log: $PGLOG)"
        if ! pg_as "$PGBIN/pg_ctl" -D "$PGDATA_" -l "$PGLOG" -w -t 60 start >>"$LOGS/pg_ctl.log" 2>&1 9>&-; then
            tail -n 20 "$PGLOG" >&2 || true
            die "postgres did not start; logs: $PGLOG and $LOGS/pg_ctl.log"
        fi
    fi
    local i
    for i in $(seq 1 60); do
        if "$PGBIN/pg_isready" -q -h "$PGHOST_" -p "$PGPORT_" -U postgres; then
            break
        fi
        [ "$i" -lt 60 ] || die "postgres on $PGHOST_:$PGPORT_ not ready after 30 s; log: $PGLOG"
        sleep 0.5
    done
    psql_su -d postgres -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER') THEN
            CREATE ROLE $DB_USER LOGIN SUPERUSER PASSWORD '$DB_PASS';
        END IF; END \$\$;" ||
        die "could not create role $DB_USER; log: $PGLOG"
}

stop_postgres() {
    if [ -f "$PGDATA_/PG_VERSION" ] && pg_running; then
        pg_as "$PGBIN/pg_ctl" -D "$PGDATA_" -m fast -w stop >>"$LOGS/pg_ctl.log" 2>&1 ||
            die "pg_ctl stop failed; logs: $PGLOG and $LOGS/pg_ctl.log"
        say "postgres: stopped"
    else
        say "postgres: not running"
    fi
}

# ---------------------------------------------------------------- GeoNode venvs
# base_python VERSION: the Python each GeoNode runs on: 3.3.3 only declares 3.7/3.8, 4.1.5 is
# tested on 3.10, 4.4.5 and 5.1.1 on 3.11 (pyenv's, which these machines have, else Debian's).
base_python() {
    local minor p
    case $1 in
    3.3.3) minor=3.8 ;;
    4.1.5) minor=3.10 ;;
    *)
        if [ -n "${GNBR_TEST_BASE_PYTHON:-}" ]; then
            echo "$GNBR_TEST_BASE_PYTHON"
            return
        fi
        minor=3.11
        ;;
    esac
    p=$(printf '%s\n' /root/.pyenv/versions/$minor.*/bin/python$minor | sort -V | tail -n 1)
    if [ -n "$p" ] && [ -x "$p" ]; then
        echo "$p"
    elif [ -x "/usr/bin/python$minor" ]; then
        echo "/usr/bin/python$minor"
    else
        die "no Python $minor found for GeoNode $1 (pyenv's /root/.pyenv/versions/$minor.*)"
    fi
}

# Prints the wheel's Requires-Dist lines that apply without extras, minus names given.
wheel_requirements() {
    local py=$1 whl=$2
    shift 2
    "$py" - "$whl" "$@" <<'EOF'
import email, re, sys, zipfile
whl, drop = sys.argv[1], {d.lower() for d in sys.argv[2:]}
z = zipfile.ZipFile(whl)
meta = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")][0]
for req in email.message_from_bytes(z.read(meta)).get_all("Requires-Dist") or []:
    if "extra ==" in req:
        continue
    name = re.match(r"[A-Za-z0-9._-]+", req).group(0).lower().replace("_", "-")
    if name not in drop:
        print(req)
EOF
}

# install_geonode VERSION VENV: the recipe from shared/notes (GDAL 3.6.2 workaround).
install_geonode() {
    local ver=$1 v=$2 py work whl
    py=$(base_python "$ver")
    work=$STATE/work-$ver
    rm -rf "$v" "$work"
    mkdir -p "$work"
    "$py" -m venv "$v"
    case $ver in
    # The versions GeoNode 3.3.3 itself pins.
    3.3.3) "$v/bin/python" -m pip install -U 'pip==22.2.2' wheel 'setuptools==65.3.0' ;;
    # dropbox 11.36.0 (pinned by 4.1.5) has metadata that pip >= 24.1 rejects.
    4.1.5) "$v/bin/python" -m pip install -U 'pip<24.1' wheel 'setuptools<67.9' ;;
    *) "$v/bin/python" -m pip install -U pip wheel 'setuptools<80' ;;
    esac
    "$v/bin/python" -m pip download geonode=="$ver" --no-deps -d "$work"
    whl=$(ls "$work"/[Gg]eo[Nn]ode-"$ver"-*.whl)
    # geonode pins GDAL 3.8.4 (or imports osgeo without listing it) but Debian 12 ships
    # libgdal 3.6.2: build GDAL 3.6.2 bindings (numpy first, so that gdal_array is built).
    case $ver in
    3.3.3) "$v/bin/python" -m pip install 'numpy==1.22.*' ;;
    4.1.5) "$v/bin/python" -m pip install 'numpy==1.24.*' ;;
    *) "$v/bin/python" -m pip install 'numpy==1.26.*' ;;
    esac
    "$v/bin/python" -m pip install --no-build-isolation GDAL==3.6.2
    echo 'GDAL==3.6.2' >"$work/constraints.txt"
    case $ver in
    3.3.3)
        # pyopenssl 22.0.0 (pinned) breaks on today's cryptography; jwcrypto >= 1.4 wants a
        # newer cryptography than that.
        printf 'cryptography==36.0.2\njwcrypto==1.3.1\n' >>"$work/constraints.txt"
        wheel_requirements "$v/bin/python" "$whl" >"$work/reqs.txt"
        cat "$work/reqs.txt"
        "$v/bin/python" -m pip install -r "$work/reqs.txt" -c "$work/constraints.txt"
        ;;
    4.1.5)
        # geonode-importer 1.0.5 pins gdal 3.2.2.1: installed without deps, its deps by hand.
        wheel_requirements "$v/bin/python" "$whl" geonode-importer >"$work/reqs.txt"
        cat "$work/reqs.txt"
        "$v/bin/python" -m pip install -r "$work/reqs.txt" -c "$work/constraints.txt"
        "$v/bin/python" -m pip install --no-deps geonode-importer==1.0.5
        "$v/bin/python" -m pip install -c "$work/constraints.txt" \
            geonode-django-dynamic-model==0.4.0 pdok-geopackage-validator==0.8.0
        ;;
    5.1.1)
        wheel_requirements "$v/bin/python" "$whl" gdal >"$work/reqs.txt"
        cat "$work/reqs.txt"
        "$v/bin/python" -m pip install -r "$work/reqs.txt" -c "$work/constraints.txt"
        ;;
    4.4.5)
        # geonode-importer 1.1.4 pins gdal<=3.4.3: install it without deps, add its deps by hand.
        wheel_requirements "$v/bin/python" "$whl" geonode-importer >"$work/reqs.txt"
        cat "$work/reqs.txt"
        "$v/bin/python" -m pip install -r "$work/reqs.txt" -c "$work/constraints.txt"
        "$v/bin/python" -m pip install --no-deps geonode-importer==1.1.4
        "$v/bin/python" -m pip install -c "$work/constraints.txt" \
            geonode-django-dynamic-model==0.4.0 pdok-geopackage-validator==0.8.5
        ;;
    *) echo "unknown GeoNode version $ver" >&2; return 1 ;;
    esac
    "$v/bin/python" -m pip install --no-deps "$whl"
    "$v/bin/python" -m pip check || true # expected: only the GDAL pin(s) complain
    "$v/bin/python" -c "import geonode, django; from osgeo import gdal, gdal_array; print('geonode', geonode.__version__, 'django', django.get_version(), 'gdal', gdal.__version__)"
    "$v/bin/python" -m pip freeze >"$v/gnbr-pip-freeze.txt"
    rm -rf "$work"
    echo "$RECIPE_REV" >"$v/.gnbr-install-complete"
}

ensure_geonode() {
    local ver=$1 v=$STATE/venv-$1
    if [ "$(cat "$v/.gnbr-install-complete" 2>/dev/null || true)" = "$RECIPE_REV" ] &&
        "$v/bin/python" -c '' 2>/dev/null; then
        say "GeoNode $ver: venv complete ($v)"
        return 0
    fi
    run_step "installing GeoNode $ver into $v (cold: ~4 min)" "$LOGS/install-$ver.log" install_geonode "$ver" "$v"
}

# ---------------------------------------------------------------- env file + template DB
env_file() {
    case $1 in
    s3) echo "$STATE/s3.env" ;;
    *) echo "$STATE/gn$(echo "$1" | tr -d .).env" ;;
    esac
}

write_env_file() {
    local ver=$1 tpl=$2 short file v
    short=gn$(echo "$ver" | tr -d .)
    file=$(env_file "$ver")
    v=$STATE/venv-$ver
    mkdir -p "$STATE/$short/media" "$STATE/$short/static" "$STATE/$short/assets"
    cat >"$file.tmp" <<EOF
DJANGO_SETTINGS_MODULE=geonode.settings
DATABASE_URL=postgis://$DB_USER:$DB_PASS@$PGHOST_:$PGPORT_/$DB_DEFAULT
SITEURL=http://localhost:8000/
SECRET_KEY=gnbr-test-not-secret
DEBUG=False
ALLOWED_HOSTS=localhost,testserver
MEDIA_ROOT=$STATE/$short/media
STATIC_ROOT=$STATE/$short/static
ASSETS_ROOT=$STATE/$short/assets
ASYNC_SIGNALS=False
CELERY_TASK_ALWAYS_EAGER=True
MEMCACHED_ENABLED=False
GEOSERVER_LOCATION=http://127.0.0.1:9/geoserver/
GEOSERVER_PUBLIC_LOCATION=http://127.0.0.1:9/geoserver/
OGC_REQUEST_TIMEOUT=2
OGC_REQUEST_MAX_RETRIES=0
HARVESTING_MONITOR_ENABLED=False
GEOFENCE_SECURITY_ENABLED=False
GEONODE_DB_CONN_TOUT=5
GNBR_TEST_GEONODE_VERSION=$ver
GNBR_TEST_PYTHON=$v/bin/python
GNBR_TEST_DJANGO_ADMIN=$v/bin/django-admin
GNBR_TEST_PGBIN=$PGBIN
GNBR_TEST_PGHOST=$PGHOST_
GNBR_TEST_PGPORT=$PGPORT_
GNBR_TEST_PGSOCKET=$PGSOCK
GNBR_TEST_PGUSER=$DB_USER
GNBR_TEST_PGPASSWORD=$DB_PASS
GNBR_TEST_PGSUPERUSER=postgres
GNBR_TEST_DBNAME=$DB_DEFAULT
GNBR_TEST_TEMPLATE_DB=$tpl
EOF
    case $ver in
    # 3.3.3 monitors requests by default (and needs GeoServer for it).
    3.3.3) echo 'MONITORING_ENABLED=False' >>"$file.tmp" ;;
    # 4.1.5's migrations (importer.0005) need the datastore connection.
    4.1.5)
        cat >>"$file.tmp" <<EOF
DEFAULT_BACKEND_DATASTORE=datastore
GEODATABASE_URL=postgis://$DB_USER:$DB_PASS@$PGHOST_:$PGPORT_/$DATASTORE_415
EOF
        ;;
    esac
    if cmp -s "$file.tmp" "$file"; then rm -f "$file.tmp"; else mv "$file.tmp" "$file"; fi
}

db_exists() {
    [ "$(psql_su -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$1'")" = 1 ]
}

# migrate_template VERSION BUILD_DB: GeoNode's migrate onto BUILD_DB, with the env file's settings.
migrate_template() {
    local ver=$1 db=$2 line
    while IFS= read -r line; do
        [ -n "$line" ] && export "${line?}"
    done <"$(env_file "$ver")"
    export DATABASE_URL="postgis://$DB_USER:$DB_PASS@$PGHOST_:$PGPORT_/$db"
    "$STATE/venv-$ver/bin/django-admin" migrate --noinput
}

ensure_template() {
    local ver=$1 tpl=$2 build=${2}__building n
    if db_exists "$tpl"; then
        say "template database $tpl: present"
        return 0
    fi
    if db_exists "$build"; then
        say "dropping $build left by an interrupted run"
        psql_su -d postgres -c "DROP DATABASE \"$build\" WITH (FORCE)"
    fi
    psql_su -d postgres -c "CREATE DATABASE \"$build\" OWNER $DB_USER TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'"
    psql_su -d "$build" -c "CREATE EXTENSION IF NOT EXISTS postgis"
    run_step "migrating GeoNode $ver into a new template database $tpl (~1 min)" "$LOGS/migrate-$ver.log" \
        migrate_template "$ver" "$build"
    n=$(psql_su -d "$build" -c "SELECT count(*) FROM django_migrations")
    psql_su -d postgres -c "ALTER DATABASE \"$build\" RENAME TO \"$tpl\""
    psql_su -d postgres -c "ALTER DATABASE \"$tpl\" IS_TEMPLATE true"
    psql_su -d postgres -c "COMMENT ON DATABASE \"$tpl\" IS 'gnbr test template: GeoNode $ver migrated ($n migrations), recipe $RECIPE_REV'"
    say "template database $tpl: created ($n migrations applied)"
}

ensure_datastore_415() {
    if ! db_exists "$DATASTORE_415"; then
        psql_su -d postgres -c "CREATE DATABASE \"$DATASTORE_415\" OWNER $DB_USER TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'"
        psql_su -d "$DATASTORE_415" -c "CREATE EXTENSION IF NOT EXISTS postgis"
        say "datastore database $DATASTORE_415: created"
    fi
}

up_geonode() {
    local ver=$1 tpl
    tpl=gnbr_tpl_$(echo "$1" | tr -d .)
    [ "$ver" != 4.1.5 ] || ensure_datastore_415
    ensure_geonode "$ver"
    write_env_file "$ver" "$tpl"
    ensure_template "$ver" "$tpl"
    say "GeoNode $ver ready: env file $(env_file "$ver")"
}

# ---------------------------------------------------------------- Garage (S3)
install_garage() {
    # lmdb metadata (Garage's default engine), its C library bundled; no metrics, no K2V. A
    # debug build: about twice as fast to build, and fast enough for tests. A build folder of
    # its own, so that an interrupted build resumes; removed once installed.
    CARGO_TARGET_DIR=$STATE/garage-build nice cargo install garage --version "$GARAGE_VERSION" \
        --locked --debug --root "$STATE/cargo-tools" --no-default-features --features bundled-libs,lmdb
    rm -rf "$STATE/garage-build"
    "$GARAGE_BIN" --version
}

ensure_garage_binary() {
    if "$GARAGE_BIN" --version 2>/dev/null | grep -qF "cargo:$GARAGE_VERSION "; then
        say "Garage $GARAGE_VERSION: installed ($GARAGE_BIN)"
        return 0
    fi
    command -v cargo >/dev/null || die "cargo is needed to build Garage (rustup's stable toolchain)"
    run_step "building Garage $GARAGE_VERSION from crates.io into $STATE/cargo-tools (cold: ~15 min on 2 cores)" \
        "$LOGS/install-garage.log" install_garage
}

hex_bytes() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# The node's secret and the test key are generated once and kept: the key (GK + 24 hex
# digits, a 64-digit secret, as Garage makes them) is imported, so that it survives a
# re-run of this script and the env file stays valid. Returns 0 when the config changed.
write_garage_config() {
    install -d -m 700 "$GARAGE_ROOT" "$GARAGE_ROOT/meta" "$GARAGE_ROOT/data"
    if [ ! -s "$GARAGE_ROOT/rpc_secret" ]; then
        (umask 077 && hex_bytes 32 >"$GARAGE_ROOT/rpc_secret")
    fi
    if [ ! -s "$GARAGE_ROOT/key" ]; then
        (umask 077 && echo "GK$(hex_bytes 12) $(hex_bytes 32)" >"$GARAGE_ROOT/key")
    fi
    cat >"$GARAGE_CONF.tmp" <<EOF
# gnbr test S3 server (scripts/test-services.sh): one node, loopback only.
metadata_dir = "$GARAGE_ROOT/meta"
data_dir = "$GARAGE_ROOT/data"
db_engine = "lmdb"
metadata_fsync = false
data_fsync = false
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$((GARAGE_PORT + 1))"
rpc_public_addr = "127.0.0.1:$((GARAGE_PORT + 1))"
rpc_secret_file = "$GARAGE_ROOT/rpc_secret"

[s3_api]
s3_region = "$GARAGE_REGION"
api_bind_addr = "127.0.0.1:$GARAGE_PORT"
root_domain = ".s3.localhost"

[admin]
api_bind_addr = "127.0.0.1:$((GARAGE_PORT + 2))"
EOF
    if cmp -s "$GARAGE_CONF.tmp" "$GARAGE_CONF"; then
        rm -f "$GARAGE_CONF.tmp"
        return 1
    fi
    mv "$GARAGE_CONF.tmp" "$GARAGE_CONF"
}

garage_cli() { "$GARAGE_BIN" -c "$GARAGE_CONF" "$@"; }

# Running = the pid file names a live `garage -c CONF server`.
garage_running() {
    local pid
    pid=$(cat "$GARAGE_ROOT/garage.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -F -- "$GARAGE_CONF server" >/dev/null
}

stop_garage() {
    if garage_running; then
        kill "$(cat "$GARAGE_ROOT/garage.pid")"
        local i
        for i in $(seq 1 50); do
            garage_running || break
            sleep 0.2
        done
        say "garage: stopped"
    else
        say "garage: not running"
    fi
    rm -f "$GARAGE_ROOT/garage.pid"
}

# Lays out the single node, then makes the key and the bucket, each only when missing. The
# secret goes to Garage on stdin (this step runs under xtrace), its answer is not logged.
setup_garage_cluster() {
    local layout node key_id secret
    layout=$(garage_cli layout show)
    if grep -q 'No nodes currently have a role' <<<"$layout"; then
        node=$(garage_cli node id -q | cut -d@ -f1)
        garage_cli layout assign -z dc1 -c 1G "$node"
        garage_cli layout apply --version 1
    fi
    read -r key_id secret <"$GARAGE_ROOT/key"
    if ! garage_cli key info "$GARAGE_KEY_NAME" >/dev/null 2>&1; then
        garage_cli json-api ImportKey - >/dev/null <<EOF
{"accessKeyId": "$key_id", "secretAccessKey": "$secret", "name": "$GARAGE_KEY_NAME"}
EOF
    fi
    if ! garage_cli bucket info "$GARAGE_BUCKET" >/dev/null 2>&1; then
        garage_cli bucket create "$GARAGE_BUCKET"
    fi
    garage_cli bucket allow --read --write --owner "$GARAGE_BUCKET" --key "$GARAGE_KEY_NAME"
}

write_s3_env_file() {
    local file key_id secret
    file=$(env_file s3)
    read -r key_id secret <"$GARAGE_ROOT/key"
    (umask 077 && cat >"$file.tmp" <<EOF
GNBR_TEST_S3_ENDPOINT=http://127.0.0.1:$GARAGE_PORT
GNBR_TEST_S3_REGION=$GARAGE_REGION
GNBR_TEST_S3_BUCKET=$GARAGE_BUCKET
AWS_ACCESS_KEY_ID=$key_id
AWS_SECRET_ACCESS_KEY=$secret
EOF
    )
    if cmp -s "$file.tmp" "$file"; then rm -f "$file.tmp"; else mv "$file.tmp" "$file"; fi
}

ensure_garage() {
    ensure_garage_binary
    if write_garage_config && garage_running; then
        say "garage: config changed, restarting"
        stop_garage
    fi
    if garage_running; then
        say "garage: already running on 127.0.0.1:$GARAGE_PORT"
    else
        say "garage: starting on 127.0.0.1:$GARAGE_PORT (log: $GARAGE_LOG)"
        setsid "$GARAGE_BIN" -c "$GARAGE_CONF" server >>"$GARAGE_LOG" 2>&1 </dev/null 9>&- &
        echo $! >"$GARAGE_ROOT/garage.pid"
    fi
    local i
    for i in $(seq 1 60); do
        garage_cli status >/dev/null 2>&1 && break
        if ! garage_running; then
            tail -n 20 "$GARAGE_LOG" >&2 || true
            die "garage did not start; log: $GARAGE_LOG"
        fi
        [ "$i" -lt 60 ] || die "garage on 127.0.0.1:$GARAGE_PORT not ready after 30 s; log: $GARAGE_LOG"
        sleep 0.5
    done
    run_step "garage: layout, key $GARAGE_KEY_NAME, bucket $GARAGE_BUCKET" "$LOGS/garage-setup.log" setup_garage_cluster
    write_s3_env_file
    say "Garage ready: env file $(env_file s3)"
}

# ---------------------------------------------------------------- main
cmd=up
with445=0
with333=0
for a in "$@"; do
    case $a in
    up | down | env) cmd=$a ;;
    --with-4.4.5) with445=1 ;;
    --with-3.3.3) with333=1 ;;
    5.1.1 | 4.4.5 | 4.1.5 | 3.3.3 | s3) envver=$a ;;
    -h | --help | help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $a" ;;
    esac
done

case $cmd in
env)
    env_file "${envver:-5.1.1}"
    exit 0
    ;;
esac

[ "$(id -u)" = 0 ] || die "must run as root"
T0=$SECONDS
mkdir -p "$STATE"
exec 9>"$STATE/.lock"
# fd 9 holds the lock: close it (9>&-) for anything that may outlive this script.
flock -w 1200 9 || die "could not lock $STATE/.lock within 20 min (another test-services.sh still running?)"

case $cmd in
down)
    stop_postgres
    stop_garage
    ;;
up)
    ensure_packages
    ensure_state_dirs
    ensure_postgres
    ensure_garage
    up_geonode 5.1.1
    [ "$with445" = 0 ] || up_geonode 4.4.5
    if [ "$with333" = 1 ]; then
        up_geonode 3.3.3
        up_geonode 4.1.5
    fi
    say "all services up in $((SECONDS - T0)) s (state: $STATE)"
    ;;
esac
