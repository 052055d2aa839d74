#!/usr/bin/env bash
# Where a restore's time goes, batched load and object by object, and
# whether the two write the same rows:
#
#   scripts/bench/profile-restore.sh [N]
#
# Builds the benchmark's archive (the real 5.1.1 backup plus N documents,
# default 10000), restores it with gnbr into two fresh databases, once with
# `[restore] batched_load = no` (Django's loaddata, object by object) and
# once batched, each time running the load's Django helper under cProfile;
# prints each profile's stages (deserialisation, SQL, search index ...),
# then compares every table of the two databases row by row (all columns;
# the restore record's time and run id aside). cProfile slows Python down,
# the per-object load most: read the stages as shares, and take wall times
# from scripts/bench-backup-restore.sh. Uses the services of
# scripts/test-services.sh; its databases are named after N.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-10000}

WORK_NAME=profile-restore
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
python3 scripts/bench/make_archive.py "$N" "$WORK/bench.zip"

# gnbr's `[geonode] python`: the venv's Python, under cProfile for `load`.
cat >"$WORK/python" <<EOF
#!/bin/sh
if [ "\$2" = load ]; then exec "$GNBR_TEST_PYTHON" -m cProfile -o "\$GNBR_PROFILE_OUT" "\$@"; fi
exec "$GNBR_TEST_PYTHON" "\$@"
EOF
chmod +x "$WORK/python"

echo "N = $N extra resources; $(du -h "$WORK/bench.zip" | cut -f1) archive"
printf '%-34s %10s %12s %12s\n' run "wall" "peak RSS" "own RSS"
for mode in per-object batched; do
    db=gnbr_profile_${mode/-/_}_$N
    fresh_db "$db"; settings_for "$WORK/$mode" "$db"
    batched=yes; [ "$mode" = per-object ] && batched=no
    sed -i "s#^python = .*#python = $WORK/python#" "$WORK/$mode/settings.ini"
    printf '\n[restore]\nbatched_load = %s\n' "$batched" >>"$WORK/$mode/settings.ini"
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    (cd "$WORK/$mode" && GNBR_PROFILE_OUT="$WORK/$mode.prof" measure "restore under cProfile: $mode" \
        "$GNBR" -c settings.ini --quiet restore --backup-file "$WORK/bench.zip" -f --no-snapshot)
done

"$GNBR_TEST_PYTHON" - "$WORK/per-object.prof" "$WORK/batched.prof" <<'EOF'
import pstats
import sys

# Stages of the helper's `load`, by the function that runs each (cumulative
# seconds, so nested stages overlap: deserialisation and SQL are parts of
# loaddata).
STAGES = [
    ("whole `load` helper (Django start included)", "<module>", "gnbr_django.py"),
    ("Django start-up", "setup", "gnbr_django.py"),
    ("loaddata", "loaddata", "gnbr_django.py"),
    ("  deserialisation: JSON parsing", "loads", "json/__init__.py"),
    ("  deserialisation: objects (field values, GEOS)", "_handle_object", "serializers/python.py"),
    ("  SQL: cursor.execute (PostgreSQL and psycopg)", "execute", "backends/utils.py"),
    ("  per-object saves: rows (Model.save_base)", "save_base", "db/models/base.py"),
    ("  per-object saves: many-to-many (.set())", "set", "fields/related_descriptors.py"),
    ("  batched inserts (BatchedLoad.insert)", "insert", "gnbr_django.py"),
    ("content types and permissions", "add_missing_content_types_and_permissions", "gnbr_django.py"),
    ("sequences", "reset_sequences", "gnbr_django.py"),
    ("search index", "rebuild_search_index", "gnbr_django.py"),
]
for path in sys.argv[1:]:
    stats = pstats.Stats(path)
    print(f"\n{path}: {stats.total_tt:.1f} s profiled")
    for label, name, where in STAGES:
        found = [(ct, nc) for (file, _, func), (_, nc, _, ct, _) in stats.stats.items()
                 if func == name and file.endswith(where)]
        if found:
            print(f"  {label:<52} {max(ct for ct, _ in found):8.1f} s  {sum(n for _, n in found):>9} calls")
EOF

digest() {  # DB: each public table's row count and the md5 of its sorted rows
    local selects
    selects=$("$GNBR_TEST_PGBIN/psql" -h "$GNBR_TEST_PGHOST" -p "$GNBR_TEST_PGPORT" -U postgres -d "$1" -qAt -c "
        SELECT string_agg(format(
            'SELECT %L || '' '' || count(*) || '':'' || coalesce(md5(string_agg(r, ''|'' ORDER BY r)), ''-'') FROM (SELECT (to_jsonb(t)%s)::text r FROM %I t) s',
            tablename, CASE WHEN tablename = 'gnbr_restore_log' THEN ' - ''restored_at'' - ''run_id''' ELSE '' END, tablename), ' UNION ALL ' ORDER BY tablename)
        FROM pg_tables WHERE schemaname = 'public'")
    "$GNBR_TEST_PGBIN/psql" -h "$GNBR_TEST_PGHOST" -p "$GNBR_TEST_PGPORT" -U postgres -d "$1" -qAt -c "$selects" | sort
}
digest "gnbr_profile_per_object_$N" >"$WORK/per-object.digest"
digest "gnbr_profile_batched_$N" >"$WORK/batched.digest"
echo
echo "tables: $(wc -l <"$WORK/batched.digest"); rows: $(awk '{split($2, a, ":"); n += a[1]} END {print n}' "$WORK/batched.digest")"
if diff "$WORK/per-object.digest" "$WORK/batched.digest"; then
    echo "every table equal, row by row, batched and object by object"
else
    echo "tables that differ: above"; exit 1
fi
