"""gnbr's bridge into a GeoNode's Django, run with the GeoNode install's own Python.

gnbr writes this file to a temporary folder and runs it; it never prints a
traceback to the admin: every outcome is one JSON line on stdout, details go
to stderr (gnbr's debug log).

    python gnbr_django.py info
    python gnbr_django.py maxpks
    python gnbr_django.py load REQUEST.json
    python gnbr_django.py dump          (says info, then reads REQUEST.json's path on stdin)
    python gnbr_django.py users

`load` restores fixtures in ONE transaction: truncate GeoNode's tables (never
extension-owned ones such as spatial_ref_sys, never django_migrations or
gnbr_restore_log), loaddata with GeoNode's signals disabled, reset sequences,
check row counts, rebuild the search index (the rows GeoNode's `reindex`
gives, set-based; GeoNode's `reindex` itself where gnbr cannot be exact),
record the restore; then it asks
gnbr on stdin whether to commit, so that gnbr dying at any point before
"commit" leaves the database as it was. While it loads and reindexes it says
how far it is (`progress` events, at most about once a second).

`dump` serves a backup with one Django start: it says what `info` says, then
waits on stdin for the dump request's path; it runs `dumpdata` of every app
in one read-only repeatable-read snapshot, with a serializer that writes what
Django's JSON serializer writes byte for byte but reads many-to-many values a
chunk of objects at a time.

`users` stays up for `gnbr serve`: one JSON request a line on stdin
(`{"username": ...}`), one answer a line on stdout, until stdin ends; so a
login costs a query, not a Django start.
"""

import contextlib
import functools
import itertools
import json
import os
import sys
import time
import traceback


def say(**event):
    sys.stdout.write(json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


class Meter:
    """`progress` events of one stage (`loading` objects, `reindexing`
    resources): the first at once, then at most about once a second, the
    last when the stage ends."""

    EVERY = 1.0

    def __init__(self, stage, unit, total):
        self.stage = stage
        self.unit = unit
        self.total = total
        self.done = 0
        self.part = {}
        self.last = 0.0
        self.tell(force=True)

    def tick(self):
        self.done += 1
        if "fixture_done" in self.part:
            self.part["fixture_done"] += 1
        self.tell()

    def begin_fixture(self, entry, total):
        """The fixture loaded next: its archive entry and its objects."""
        self.part = {"fixture": entry, "fixture_done": 0, "fixture_total": total}
        self.tell()

    def end_fixture(self):
        """The fixture loaded: all its objects counted (a Django whose
        loaddata has no `save_obj` is counted so, fixture by fixture)."""
        total = self.part.get("fixture_total")
        if total is not None and self.part["fixture_done"] < total:
            self.done += total - self.part["fixture_done"]
            self.part["fixture_done"] = total
        self.tell()

    def tell(self, force=False):
        now = time.monotonic()
        if force or now - self.last >= self.EVERY:
            self.last = now
            say(event="progress", stage=self.stage, unit=self.unit, done=self.done, total=self.total, **self.part)


class Refused(Exception):
    """A problem the admin must fix; its message is the whole story."""


class LockTimeout(Refused):
    """lock_timeout expired: another session holds a lock the restore needs."""


class CommitRefused(Exception):
    """The database refused the COMMIT (a deferred constraint, mostly): rolled back."""


LOG_TABLE = "gnbr_restore_log"
DATABASE_NAME_ENV = "GNBR_DATABASE_NAME"


def setup():
    import django

    # `gnbr verify --restore-check`: Django's default database is swapped
    # for a throwaway one before anything connects.
    name = os.environ.get(DATABASE_NAME_ENV)
    if name:
        from django.conf import settings

        settings.DATABASES["default"]["NAME"] = name
    django.setup()


def geonode_version():
    import geonode

    version = getattr(geonode, "__version__", None)
    if isinstance(version, tuple):
        return ".".join(str(part) for part in version[:3])
    return str(version or "unknown")


def unapplied_migrations(connection):
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def public_tables(cursor):
    """Tables of the public schema that a restore replaces."""
    cursor.execute(
        """
        SELECT c.relname FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.objid = c.oid AND d.deptype = 'e')
        ORDER BY c.relname
        """
    )
    keep = {"django_migrations", LOG_TABLE}
    return [row[0] for row in cursor.fetchall() if row[0] not in keep]


def restore_log(cursor):
    cursor.execute("SELECT to_regclass(%s)", [LOG_TABLE])
    if cursor.fetchone()[0] is None:
        return []
    cursor.execute(
        f"SELECT archive, sha256, restored_at, gnbr_version, source_version, target_version "
        f"FROM {LOG_TABLE} ORDER BY restored_at"
    )
    names = ["archive", "sha256", "restored_at", "gnbr_version", "source_version", "target_version"]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def connection_params(db):
    return {
        "engine": db.get("ENGINE", ""),
        "name": db.get("NAME", ""),
        "host": db.get("HOST", "") or "",
        "port": str(db.get("PORT", "") or ""),
        "user": db.get("USER", "") or "",
        "password": db.get("PASSWORD", "") or "",
    }


def datastore_params(settings):
    """GeoNode's datastore (OGC_SERVER['default']['DATASTORE']): where GeoServer's vector layers live."""
    alias = (getattr(settings, "OGC_SERVER", {}) or {}).get("default", {}).get("DATASTORE", "")
    db = settings.DATABASES.get(alias) if alias else None
    return connection_params(db) if db else None


def geoserver_public_url(settings):
    """GeoServer's public URL (OGC_SERVER['default']['PUBLIC_LOCATION'], else LOCATION)."""
    server = (getattr(settings, "OGC_SERVER", {}) or {}).get("default", {})
    return server.get("PUBLIC_LOCATION") or server.get("LOCATION") or None


def info():
    """What gnbr needs of the target (version, databases, folders, restore
    history) as one `info` event; returns whether the database answered."""
    from django.conf import settings
    from django.db import connection

    result = {
        "geonode_version": geonode_version(),
        "database": connection_params(settings.DATABASES["default"]),
        "datastore": datastore_params(settings),
        "geoserver_public_url": geoserver_public_url(settings),
        "siteurl": str(getattr(settings, "SITEURL", "") or ""),
        "media_root": str(getattr(settings, "MEDIA_ROOT", "") or ""),
        "assets_root": str(getattr(settings, "ASSETS_ROOT", "") or ""),
        "multilang_fields": list(getattr(settings, "MULTILANG_FIELDS", []) or []),
    }
    try:
        connection.ensure_connection()
    except Exception as e:  # noqa: BLE001 - any failure means "not reachable"
        result["reachable"] = False
        result["problem"] = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        say(event="info", **result)
        return False
    result["reachable"] = True
    result["unapplied_migrations"] = unapplied_migrations(connection)
    with connection.cursor() as cursor:
        result["tables"] = len(public_tables(cursor))
        result["restores"] = restore_log(cursor)
    say(event="info", **result)
    return True


def maxpks():
    """The highest integer pk of every model with rows: the offsets of a merge."""
    from django.apps import apps
    from django.db import connection
    from django.db.models import IntegerField, Max

    existing = set(connection.introspection.table_names())
    result = {}
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or meta.db_table not in existing or not isinstance(meta.pk, IntegerField):
            continue
        if meta.pk.remote_field is not None:  # a child table: its pk is its parent's
            continue
        top = model.objects.aggregate(top=Max(meta.pk.attname))["top"]
        if top is not None:
            result[meta.label_lower] = top
    say(event="maxpks", maxpks=result)


def expected_tables(expected):
    """Row counts per table from object counts per model."""
    from django.apps import apps

    tables = {}
    for label, count in expected.items():
        try:
            model = apps.get_model(label)
        except LookupError:
            raise Refused(
                f"the fixtures hold objects of `{label}`, a model this GeoNode does not have "
                f"(hint: the backup is from another GeoNode version; migrate it with a plugin first)"
            )
        table = model._meta.concrete_model._meta.db_table
        tables[table] = tables.get(table, 0) + count
    return tables


def operating_modes(connection):
    """The target's read-only and maintenance switches (base_configuration)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('base_configuration')")
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute("SELECT read_only, maintenance FROM base_configuration ORDER BY id LIMIT 1")
        # No row yet: GeoNode creates it with both switches off.
        return cursor.fetchone() or (False, False)


def keep_operating_modes(connection, modes):
    """Puts the target's switches back: they describe the running instance,
    not its data. GeoNode's own backup runs in read-only mode, so its archives
    carry read_only = true, which would otherwise lock the restored site."""
    if modes is None:
        return
    with connection.cursor() as cursor:
        cursor.execute("UPDATE base_configuration SET read_only = %s, maintenance = %s", list(modes))


def add_missing_content_types_and_permissions():
    """What `migrate` adds after the fact: content types and permissions of
    models the backup's GeoNode did not have (existing ids are kept)."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
    for app_config in apps.get_app_configs():
        create_contenttypes(app_config, verbosity=0)
        create_permissions(app_config, verbosity=0)


def reset_sequences(connection, models):
    """Each serial pk's sequence moved past the highest id. Django's own reset
    sets it to max(id), which fails when every id is negative (GeoNode's
    AnonymousUser is -1): here the next id is max(1, max(id) + 1)."""
    from django.db import models as fields

    autos = (fields.AutoField, fields.BigAutoField, fields.SmallAutoField)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in models:
            for field in model._meta.local_fields:
                if not isinstance(field, autos):
                    continue
                table = model._meta.db_table
                cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [quote(table), field.column])
                sequence = cursor.fetchone()[0]
                if sequence:
                    cursor.execute(
                        f"SELECT setval(%s, GREATEST(coalesce(max({quote(field.column)}), 0), 0) + 1, false) "
                        f"FROM {quote(table)}",
                        [sequence],
                    )


def all_models(connection):
    from django.apps import apps

    existing = set(connection.introspection.table_names())
    return [m for m in apps.get_models(include_auto_created=True) if m._meta.db_table in existing]


class ManyToManyPlan:
    """How `.set(ids)` writes one many-to-many field of a freshly inserted
    object: the through model and its two foreign keys, named as Django's
    related manager names them."""

    def __init__(self, field):
        self.through = field.remote_field.through
        self.source_attname = "%s_id" % field.m2m_field_name()
        self.target_attname = "%s_id" % field.m2m_reverse_field_name()
        self.source_field = self.through._meta.get_field(field.m2m_field_name())
        self.target_field = self.through._meta.get_field(field.m2m_reverse_field_name())

    def rows(self, obj, values):
        """The through rows `.set(values)` inserts for `obj`, in its order: the
        target ids collected into a set as `_get_target_ids` does, then
        bulk-created in that set's order."""
        source_id = self.source_field.get_foreign_related_value(obj)[0]
        target_ids = set()
        for value in values:
            target_ids.add(self.target_field.get_prep_value(value))
        return [self.through(**{self.source_attname: source_id, self.target_attname: t}) for t in target_ids]


class BatchedLoad:
    """A full load's objects inserted a batch at a time, with the rows
    Django's raw save would write one object at a time.

    On a table the load emptied, `DeserializedObject.save` does an UPDATE
    by pk that matches nothing, then an INSERT of the model's local
    concrete fields' raw values, then for each many-to-many field a `.set()`
    whose SELECT finds nothing and whose bulk insert writes one through row
    per target id. Here a run of objects of one model is held, then
    written with one INSERT of the same values, row by row as Django's
    own INSERT (never Django 5.2's UNNEST form, whose casts cut an
    over-long string instead of refusing it before 5.2.18), and one bulk insert per through table in the order the objects' own
    `.set()` calls would have made: the same rows, the same through ids.

    What could not give the same rows goes through Django's own per-object
    save, after what is held is written: an object without a pk, a
    (model, pk) already loaded (Django would UPDATE it), a model with
    `order_with_respect_to` or its own save machinery, a table the load did
    not empty, a many-to-many field that is symmetrical or has its own
    through model, any save or m2m_changed signal receiver left connected.
    Every query not issued here that names a table with held rows writes
    them first, so what the deserializer and Django read sees every
    earlier object. A batch whose INSERT fails is rolled back to its
    savepoint and replayed object by object through Django's `save_obj`,
    which names the object the database refuses as it always has."""

    SIZE = 500
    MAX_PARAMS = 60000

    def __init__(self, command, using, emptied):
        from django.db.models.signals import m2m_changed, post_save, pre_save

        self.command = command
        self.using = using
        self.emptied = set(emptied)
        self.enabled = not any(signal.receivers for signal in (pre_save, post_save, m2m_changed))
        self.plans = {}
        self.seen = set()
        self.model = None
        self.held = []
        self.size = self.SIZE
        self.tables = ()
        self.writing = False
        self.inserted = 0

    def plan(self, model):
        """The insert of `model`'s rows (its fields and many-to-many fields),
        or None when Django's raw save of it would do more than insert."""
        if model not in self.plans:
            self.plans[model] = self.make_plan(model)
        return self.plans[model]

    def make_plan(self, model):
        from django.db import router
        from django.db.models import Model, QuerySet

        meta = model._meta
        own_save = any(
            getattr(model, name) is not getattr(Model, name)
            for name in ("save_base", "_save_table", "_do_insert", "_do_update")
        )
        if (
            own_save
            or meta.order_with_respect_to
            or getattr(meta, "is_composite_pk", False)
            or meta.db_table not in self.emptied
            or type(model._base_manager.get_queryset())._insert is not QuerySet._insert
            or router.db_for_write(model) != self.using
        ):
            return None
        m2m = {}
        for field in meta.local_many_to_many:
            through = field.remote_field.through
            if (
                through._meta.auto_created
                and not field.remote_field.symmetrical
                and through._meta.db_table in self.emptied
                and router.db_for_write(through) == self.using
            ):
                m2m[field.name] = ManyToManyPlan(field)
        fields = [f for f in meta.local_concrete_fields if not getattr(f, "generated", False)]
        size = max(1, min(self.SIZE, self.MAX_PARAMS // max(1, len(fields))))
        tables = (meta.db_table, *(p.through._meta.db_table for p in m2m.values()))
        return fields, m2m, size, tables

    def key(self, deserialized):
        obj = deserialized.object
        model = obj._meta.concrete_model
        return model, obj._get_pk_val(model._meta)

    def takes(self, deserialized):
        """Whether `deserialized` joins the batch: its rows are the same as
        Django's raw save of it would write."""
        from django.db.models import Model

        model, pk = self.key(deserialized)
        plan = self.plan(model) if self.enabled else None
        if plan is None or pk is None or (model, pk) in self.seen:
            return False
        m2m = plan[1]
        for name, values in (deserialized.m2m_data or {}).items():
            if name not in m2m or any(isinstance(v, Model) for v in values):
                return False
        return True

    def admit(self, deserialized):
        """Makes room for `deserialized`: writes what is held when it cannot
        join it. Returns whether it joins the batch."""
        joins = self.takes(deserialized)
        model = self.key(deserialized)[0]
        if not joins or model is not self.model or len(self.held) >= self.size:
            self.flush()
        if joins:
            _, _, self.size, self.tables = self.plan(model)
            self.model = model
        return joins

    def hold(self, deserialized, using=None):
        """`deserialized.save()` of an admitted object: held for the batch."""
        self.held.append(deserialized)
        self.seen.add(self.key(deserialized))

    def saved(self, deserialized):
        """An object Django saved itself: a later one with its pk is an UPDATE."""
        model, pk = self.key(deserialized)
        if pk is not None:
            self.seen.add((model, pk))

    def __call__(self, execute, sql, params, many, context):
        """`connection.execute_wrapper`: writes the held rows before any
        other query that names their tables."""
        if self.held and not self.writing and (not isinstance(sql, str) or any(t in sql for t in self.tables)):
            self.flush()
        return execute(sql, params, many, context)

    def flush(self):
        """Writes the held objects: one INSERT, then their through rows, in
        a savepoint; if the database refuses, replays them one by one
        through Django's own `save_obj`, which names the object."""
        from django.db import transaction

        held, self.held = self.held, []
        if not held:
            return
        m2m_data = [deserialized.m2m_data for deserialized in held]
        self.writing = True
        try:
            with transaction.atomic(using=self.using):
                self.insert(self.model, held)
        except Exception:  # noqa: BLE001 - Django's own save of each object says what it is
            self.writing = False
            for deserialized, data in zip(held, m2m_data):
                deserialized.m2m_data = data
                self.command.replay(deserialized)
        finally:
            self.writing = False

    def insert(self, model, held):
        from types import MethodType

        from django.db.models import sql
        from django.db.models.sql.compiler import SQLInsertCompiler

        fields, m2m, _, _ = self.plan(model)
        objs = [d.object for d in held]
        returning = model._meta.db_returning_fields
        query = sql.InsertQuery(model)
        query.insert_values(fields, objs, raw=True)
        compiler = query.get_compiler(using=self.using)
        compiler.assemble_as_sql = MethodType(SQLInsertCompiler.assemble_as_sql, compiler)
        rows = compiler.execute_sql(returning)
        for obj, row in zip(objs, rows or ()):
            for value, field in zip(row, returning):
                setattr(obj, field.attname, value)
        through_rows = {}
        for deserialized in held:
            deserialized.object._state.db = self.using
            deserialized.object._state.adding = False
            for name, values in (deserialized.m2m_data or {}).items():
                plan = m2m[name]
                through_rows.setdefault(plan.through, []).extend(plan.rows(deserialized.object, values))
            deserialized.m2m_data = None
        for through, rows in through_rows.items():
            through._default_manager.using(self.using).bulk_create(rows, ignore_conflicts=True)
        self.inserted += len(held)


def loaddata(request, emptied=None):
    """Django's loaddata of the request's fixtures without its sequence reset,
    which fails when every id is negative (`load` runs gnbr's own over every
    model afterwards), saying how far it is: objects of all and of each
    fixture (their counts come with the request). `emptied`: the tables the
    load emptied, when it emptied every table and may insert in batches
    (BatchedLoad); None loads object by object. Returns what it loaded, in
    words: the objects, and how many were inserted in batches."""
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.core.management.commands.loaddata import Command
    from django.db import DEFAULT_DB_ALIAS, connections

    fixtures = request["fixtures"]
    by_path = {f["path"]: f for f in fixtures}
    total = sum(f.get("objects", 0) for f in fixtures)
    meter = Meter("loading", "objects", total)
    connection = connections[DEFAULT_DB_ALIAS]

    class LoadData(Command):
        def reset_sequences(self, connection, models):
            """None here: `load` resets every sequence once after all fixtures."""

        def load_label(self, fixture_label):
            fixture = by_path.get(fixture_label, {})
            meter.begin_fixture(fixture.get("entry", fixture_label), fixture.get("objects"))
            super().load_label(fixture_label)
            if batches is not None:
                try:
                    batches.flush()
                except Exception as e:
                    # What Django's load_label says of an object its loop refused.
                    if not isinstance(e, CommandError):
                        fixture_file = self.find_fixtures(fixture_label)[-1][0]
                        e.args = ("Problem installing fixture '%s': %s" % (fixture_file, e),)
                    raise
            meter.end_fixture()

        def save_obj(self, obj):
            joins = batches is not None and batches.admit(obj)
            if joins:
                obj.save = functools.partial(batches.hold, obj)
            try:
                saved = super().save_obj(obj)
            finally:
                obj.__dict__.pop("save", None)
            if batches is not None and not joins:
                batches.saved(obj)
            meter.tick()
            return saved

        def replay(self, obj):
            """A held object saved by Django's own `save_obj`, as if never held."""
            deferred = len(self.objs_with_deferred_fields)
            super().save_obj(obj)
            del self.objs_with_deferred_fields[deferred:]

    command = LoadData()
    batches = BatchedLoad(command, DEFAULT_DB_ALIAS, emptied) if emptied is not None else None
    with connection.execute_wrapper(batches) if batches is not None else contextlib.nullcontext():
        call_command(command, *by_path, verbosity=0)
    meter.tell(force=True)
    if batches is None:
        return f"{meter.done} objects, one by one"
    return f"{meter.done} objects, {batches.inserted} of them inserted in batches"


def reindex():
    """GeoNode's `reindex`, saying how many resources it indexed of all:
    each index update is counted on the way (the command's own loop)."""
    from django.core.management import call_command

    from geonode.base.models import ResourceBase
    from geonode.indexing.manager import index_manager

    meter = Meter("reindexing", "resources", ResourceBase.objects.count())
    update_index = index_manager.update_index

    def counted(*args, **kwargs):
        result = update_index(*args, **kwargs)
        meter.tick()
        return result

    index_manager.update_index = counted
    try:
        call_command("reindex", verbosity=0)
    finally:
        index_manager.update_index = update_index
    meter.tell(force=True)


class ReindexFallback(Exception):
    """What the set-based search-index rebuild cannot reproduce exactly; the
    message says why, and GeoNode's own `reindex` runs instead."""


# The GeoNode code whose behaviour rebuild_search_index reproduces instead of
# calling it, by the sha256 (first 16 hex digits) of its source in GeoNode
# 5.1.1: any other version of it falls back to GeoNode's own `reindex`.
KNOWN_INDEX_CODE = {
    ("geonode.indexing.management.commands.reindex", "Command.handle"): "f62cc6a576ebe7e0",
    ("geonode.indexing.manager", "TSVectorIndexManager.update_index"): "9f79799b5399b2cb",
    ("geonode.metadata.manager", "MetadataManager.build_schema_instance"): "8690bad7f22ca172",
    ("geonode.metadata.handlers.sparse", "SparseHandler.load_serialization_context"): "0f94203edabb4416",
    ("geonode.metadata.models", "SparseField.get_fields"): "199ce70a07f80987",
}

# Resources read, turned into rows and written per statement.
REINDEX_BATCH = 1000


def check_known_index_code():
    """Refuses (ReindexFallback) GeoNode code other than the one the rebuild reproduces."""
    import hashlib
    import importlib
    import inspect

    for (module_name, qualname), digest in KNOWN_INDEX_CODE.items():
        try:
            found = importlib.import_module(module_name)
            for part in qualname.split("."):
                found = getattr(found, part)
            source = inspect.getsource(found)
        except (ImportError, AttributeError, OSError, TypeError) as e:
            raise ReindexFallback(f"GeoNode's {module_name}.{qualname} cannot be read ({e})")
        if hashlib.sha256(source.encode()).hexdigest()[:16] != digest:
            raise ReindexFallback(f"GeoNode's {module_name}.{qualname} is not the one gnbr knows (GeoNode 5.1.1's)")


def overrides(handler, method):
    """Whether a metadata handler has its own `method`, not the no-op of MetadataHandler."""
    from geonode.metadata.handlers.abstract import MetadataHandler

    return getattr(type(handler), method) is not getattr(MetadataHandler, method)


def index_settings():
    """settings.METADATA_INDEXES and MULTILANG_FIELDS, checked."""
    from django.conf import settings

    indexes = getattr(settings, "METADATA_INDEXES", None)
    multilang = getattr(settings, "MULTILANG_FIELDS", ())
    if not isinstance(indexes, dict) or not all(
        isinstance(name, str) and isinstance(fields, (list, tuple)) and all(isinstance(f, str) for f in fields)
        for name, fields in indexes.items()
    ):
        raise ReindexFallback("settings.METADATA_INDEXES is not a dict of index names to lists of field names")
    if not isinstance(multilang, (list, tuple, set, frozenset)) or not all(isinstance(f, str) for f in multilang):
        raise ReindexFallback("settings.MULTILANG_FIELDS is not a list of field names")
    return dict(indexes), multilang


def check_plain_column(prop):
    """Refuses a property BaseHandler reads as anything but a plain ResourceBase
    column: only then is getattr(resource, prop) the column's value."""
    from django.db.models.query_utils import DeferredAttribute

    from geonode.base.models import ResourceBase

    try:
        field = ResourceBase._meta.get_field(prop)
    except Exception:  # noqa: BLE001 - FieldDoesNotExist, or no field at all
        field = None
    attribute = getattr(ResourceBase, prop, None)
    if (
        field is None
        or not field.concrete
        or field.is_relation
        or field.attname != prop
        or not isinstance(attribute, DeferredAttribute)
        or attribute.field is not field
    ):
        raise ReindexFallback(f"the search index reads `{prop}`, which is not a plain column of ResourceBase")


def post_serializers(handlers):
    """The metadata handlers that change an instance after it is read: only
    MultiLangHandler's is known; any other handler's, or a serialization
    context other than SparseHandler's, is refused."""
    from geonode.metadata.handlers.multilang import MultiLangHandler
    from geonode.metadata.handlers.sparse import SparseHandler

    found = []
    for handler_id, handler in handlers.items():
        named = f"metadata handler `{handler_id}` ({type(handler).__name__})"
        if overrides(handler, "load_serialization_context") and type(handler) is not SparseHandler:
            raise ReindexFallback(f"{named} loads a serialization context gnbr's rebuild does not know")
        if overrides(handler, "post_serialization"):
            if type(handler) is not MultiLangHandler:
                raise ReindexFallback(f"{named} changes the metadata after reading it, as gnbr's rebuild cannot")
            found.append(handler)
    return found


def check_text_search_config(lang, config):
    """Refuses a text search configuration PostgreSQL lacks, or a name GeoNode
    would not write as it is into its SQL (a quoted literal)."""
    import re

    from django.db import connection

    if not isinstance(config, str) or not re.fullmatch(r"([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*", config):
        raise ReindexFallback(f"settings.MULTILANG_POSTGRES_LANGS gives {config!r} for language {lang!r}")
    schema, _, name = config.rpartition(".")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace "
            "WHERE c.cfgname = %s AND (n.nspname = %s OR %s = '' AND pg_ts_config_is_visible(c.oid))",
            [name, schema, schema],
        )
        if cursor.fetchone() is None:
            raise ReindexFallback(f"PostgreSQL has no text search configuration `{config}` (language {lang!r})")


class SearchIndexPlan:
    """What GeoNode's `reindex` reads and writes, per the settings and metadata
    handlers of this run: the schema properties it reads through BaseHandler
    (ResourceBase columns) and SparseHandler (SparseField rows), the handlers
    that fix the instance up afterwards, and the indexes and languages."""

    def __init__(self):
        from geonode.indexing.manager import index_manager
        from geonode.metadata.handlers.base import BaseHandler
        from geonode.metadata.handlers.sparse import SparseHandler
        from geonode.metadata.manager import metadata_manager
        import geonode.metadata.multilang.utils as multi

        self.indexes, multilang = index_settings()
        self.languages = list(index_manager.LANGUAGES)
        self.gather = index_manager._gather_fields_values
        try:
            self.schema = metadata_manager.get_schema(None)
        except Exception as e:  # noqa: BLE001 - GeoNode's reindex would fail on every resource alike
            raise ReindexFallback(f"GeoNode's metadata schema cannot be built ({' '.join(str(e).split())})")

        wanted = set()
        for field in {field for fields in self.indexes.values() for field in fields}:
            wanted.add(field)
            if field in multilang:
                wanted.update(name for _, name in multi.get_multilang_field_names(field))
        self.base_props, self.sparse_props = [], []
        for prop in sorted(wanted):
            subschema = self.schema["properties"].get(prop)
            handler_id = subschema.get("geonode:handler") if subschema else None
            if not handler_id:  # GeoNode's instance has no such key
                continue
            handler = metadata_manager.handlers.get(handler_id)
            if type(handler) is SparseHandler:
                self.sparse_handler = handler
                self.sparse_props.append(prop)
            elif type(handler) is BaseHandler:
                check_plain_column(prop)
                self.base_handler = handler
                self.base_props.append(prop)
            else:
                raise ReindexFallback(
                    f"the search index reads `{prop}` through metadata handler `{handler_id}` "
                    f"({type(handler).__name__}), which gnbr's rebuild does not know"
                )
        self.post_serializers = post_serializers(metadata_manager.handlers)

        localized = [name for name, fields in self.indexes.items() if any(f in multilang for f in fields)]
        self.configs = {None: multi.get_pg_language(None)} if len(localized) < len(self.indexes) else {}
        if localized:
            self.configs.update((lang, multi.get_pg_language(lang)) for lang in self.languages)
        for lang, config in self.configs.items():
            check_text_search_config(lang, config)

    def rows(self, columns, sparse):
        """The rows GeoNode's update_index writes for one resource, in its
        order: (lang, index name, text search configuration, text, localized)."""
        from types import SimpleNamespace

        from geonode.metadata.exceptions import UnsetFieldException
        from geonode.metadata.handlers.sparse import CONTEXT_ID

        resource = SimpleNamespace(**columns)
        context = {CONTEXT_ID: {"fields": sparse, "schema": self.schema}}
        instance = {}
        for prop in self.base_props:
            instance[prop] = self.base_handler.get_jsonschema_instance(resource, prop, context, {}, None)
        for prop in self.sparse_props:
            try:
                instance[prop] = self.sparse_handler.get_jsonschema_instance(resource, prop, context, {}, None)
            except UnsetFieldException:
                pass
        for handler in self.post_serializers:
            handler.post_serialization(resource, self.schema, instance, context)
        non_ml, ml = self.gather(instance)
        for name, fields in self.indexes.items():
            if all(f in non_ml for f in fields):
                yield None, name, self.configs[None], " ".join(filter(None, (str(non_ml[f]) for f in fields))), False
            else:
                non_ml_text = " ".join(filter(None, (non_ml[f] for f in fields if f in non_ml)))
                for lang in self.languages:
                    ml_text = " ".join(filter(None, (ml[f][lang] for f in fields if f in ml)))
                    yield lang, name, self.configs[lang], " ".join(filter(None, [ml_text, non_ml_text])), True


def search_index_plan():
    """The SearchIndexPlan of this GeoNode; ReindexFallback when it has none."""
    check_known_index_code()
    try:
        return SearchIndexPlan()
    except ImportError as e:
        raise ReindexFallback(f"GeoNode's metadata or indexing code cannot be imported ({e})")


def write_search_index(plan, progress):
    """Writes the rows of `plan` for every resource, as GeoNode's `reindex`
    would (same rows, vectors and, in its order, ids); returns the resources
    and rows written. Into an empty index, one INSERT per batch; into a
    filled one (a merge), GeoNode's update_or_create and deletes replayed
    set-based at the end."""
    import time

    from django.db import connection

    from geonode.base.models import ResourceBase
    from geonode.indexing.models import ResourceIndex
    from geonode.metadata.models import SparseField

    table = connection.ops.quote_name(ResourceIndex._meta.db_table)
    total = ResourceBase.objects.count()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")
        merging = cursor.fetchone()[0]
        if merging:
            cursor.execute(
                f"SELECT 1 FROM {table} WHERE name = ANY(%s) "
                "GROUP BY resource_id, lang, name HAVING count(*) > 1 LIMIT 1",
                [list(plan.indexes)],
            )
            if cursor.fetchone():
                raise ReindexFallback(f"{ResourceIndex._meta.db_table} holds an index row twice before the rebuild")
            cursor.execute(
                "CREATE TEMPORARY TABLE gnbr_search_index (o bigint, resource_id bigint, lang text, name text, "
                "localized boolean, vector tsvector) ON COMMIT DROP"
            )
            target = "gnbr_search_index (o, resource_id, lang, name, localized, vector)"
            values = "o + %s, r, l, n, z, to_tsvector(c::regconfig, t)"
        else:
            target = f"{table} (resource_id, lang, name, vector)"
            values = "r, l, n, to_tsvector(c::regconfig, t)"
        insert = (
            f"INSERT INTO {target} SELECT {values} FROM unnest(%s::bigint[], %s::text[], %s::text[], "
            "%s::boolean[], %s::text[], %s::text[]) WITH ORDINALITY AS u(r, l, n, z, c, t, o) ORDER BY o"
        )
        done = written = 0
        last_report = time.monotonic()

        def flush(batch):
            nonlocal done, written, last_report
            sparse = {}
            if plan.sparse_props:
                found = SparseField.objects.filter(
                    resource_id__in=[rid for rid, _ in batch], name__in=plan.sparse_props
                ).values_list("resource_id", "name", "value")
                for rid, name, value in found:
                    sparse.setdefault(rid, {})[name] = value
            rows = [[] for _ in range(6)]
            for rid, columns in batch:
                seen = set()
                try:
                    computed = list(plan.rows(columns, sparse.get(rid, {})))
                except Exception as e:  # noqa: BLE001 - GeoNode's reindex would skip this resource half-indexed
                    raise ReindexFallback(f"resource {rid}: {type(e).__name__}: {e}")
                for lang, name, config, text, localized in computed:
                    if (lang, name) in seen:  # GeoNode's second update_or_create rewrites the same row
                        continue
                    seen.add((lang, name))
                    for column, value in zip(rows, (rid, lang, name, localized, config, text)):
                        column.append(value)
            cursor.execute(insert, ([written] if merging else []) + rows)
            written += len(rows[0])
            done += len(batch)
            if time.monotonic() - last_report >= 1:
                progress(done, total)
                last_report = time.monotonic()

        batch = []
        for rid, *values in ResourceBase.objects.values_list("id", *plan.base_props).iterator(chunk_size=REINDEX_BATCH):
            batch.append((rid, dict(zip(plan.base_props, values))))
            if len(batch) == REINDEX_BATCH:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
        if merging:
            same_row = "i.resource_id = n.resource_id AND i.name = n.name AND i.lang IS NOT DISTINCT FROM n.lang"
            cursor.execute(f"UPDATE {table} i SET vector = n.vector FROM gnbr_search_index n WHERE {same_row}")
            cursor.execute(
                f"DELETE FROM {table} i USING (SELECT DISTINCT resource_id, name, localized FROM gnbr_search_index) g "
                "WHERE i.resource_id = g.resource_id AND i.name = g.name AND (i.lang IS NULL) = g.localized"
            )
            cursor.execute(
                f"INSERT INTO {table} (resource_id, lang, name, vector) SELECT n.resource_id, n.lang, n.name, n.vector "
                f"FROM gnbr_search_index n WHERE NOT EXISTS (SELECT 1 FROM {table} i WHERE {same_row}) ORDER BY n.o"
            )
            cursor.execute("DROP TABLE gnbr_search_index")
    progress(done, total)
    return done, written


def rebuild_search_index(progress):
    """GeoNode's search index (indexing_resourceindex) rebuilt with the rows
    GeoNode's `reindex` gives, reading only what the indexes need, in bulk,
    and writing set-based; inside a savepoint, so that when it cannot be exact
    (ReindexFallback) GeoNode's own `reindex` runs instead, as a helper event
    says. `progress(done, total)` hears resources done, about once a second."""
    from django.db import DataError, transaction

    from geonode.utils import DisableDjangoSignals

    try:
        with transaction.atomic():
            resources, rows = write_search_index(search_index_plan(), progress)
        say(event="reindexed", resources=resources, rows=rows)
        return
    except ReindexFallback as e:
        reason = str(e)
    except DataError as e:
        reason = f"PostgreSQL refused an index row ({' '.join(str(e).split())})"
    say(event="reindex_fallback", message=f"{reason}: GeoNode's own reindex runs instead, one resource at a time")
    with DisableDjangoSignals():
        reindex()
    say(event="reindexed")


def tables_to_empty(tables, labels, expected):
    """What --only-listed-fixtures empties, among `tables`: the tables of the
    models of each `apps` entry (an app's every model, or the model named),
    and of the models the fixtures hold, each with its many-to-many tables."""
    from django.apps import apps

    models = set()
    for label in labels:
        app, _, name = label.partition(".")
        try:
            config = apps.get_app_config(app)
            models.update([config.get_model(name)] if name else config.get_models(include_auto_created=True))
        except LookupError:  # an app or model this GeoNode does not have: no table of it
            continue
    models.update(apps.get_model(label) for label in expected)
    for model in list(models):
        for field in model._meta.local_many_to_many:
            if field.remote_field.through._meta.auto_created:
                models.add(field.remote_field.through)
    wanted = {model._meta.db_table for model in models}
    return [table for table in tables if table in wanted]


def refuse_cascades(cursor, tables):
    """Refuses to empty tables that a kept table's foreign key would follow
    with ON DELETE CASCADE, SET NULL or SET DEFAULT: those rows would change
    without a word."""
    cursor.execute(
        """
        SELECT src.relname, con.conname, dst.relname FROM pg_constraint con
        JOIN pg_class src ON src.oid = con.conrelid
        JOIN pg_class dst ON dst.oid = con.confrelid
        JOIN pg_namespace n ON n.oid = dst.relnamespace
        WHERE con.contype = 'f' AND n.nspname = 'public' AND con.confdeltype IN ('c', 'n', 'd')
          AND dst.relname = ANY(%s) AND NOT (src.relname = ANY(%s))
        ORDER BY 1, 2
        """,
        [tables, tables],
    )
    found = cursor.fetchall()
    if found:
        named = ", ".join(f"{src}.{name} -> {dst}" for src, name, dst in found)
        raise Refused(
            f"emptying only the listed fixtures' tables would change rows of other tables through "
            f"foreign keys that act on delete: {named}; nothing was changed (hint: add those tables' "
            f"apps to [fixtures] apps, or restore the whole backup without --only-listed-fixtures)"
        )


def lock_timed_out(error):
    """Whether a database error, or one it was raised from, is PostgreSQL's
    lock_not_available (55P03): lock_timeout expired."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if getattr(error, "pgcode", None) == "55P03" or getattr(error, "sqlstate", None) == "55P03":
            return True
        error = error.__cause__ or error.__context__
    return False


def lock_holders(connection):
    """The other sessions holding locks on the tables of the public schema.

    Never their query text: it can hold secrets (an `ALTER ROLE ... PASSWORD`,
    tokens or keys in a WHERE clause) and this message reaches terminals, logs
    and the admin page's run log. The application, user, address, state and
    times name the session well enough to find and end it."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT l.pid, a.application_name, a.usename, host(a.client_addr), a.state,
                   a.xact_start, string_agg(DISTINCT c.relname, ', ')
            FROM pg_locks l
            JOIN pg_class c ON c.oid = l.relation
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.granted AND l.pid <> pg_backend_pid() AND n.nspname = 'public'
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            GROUP BY 1, 2, 3, 4, 5, 6
            ORDER BY a.xact_start NULLS LAST, 1
            """
        )
        return cursor.fetchall()


def lock_timeout_message(connection, request):
    seconds = int(request["lock_timeout_ms"]) / 1000
    holders = []
    for pid, application, user, address, state, since, tables in lock_holders(connection)[:5]:
        details = [
            f"application `{application}`" if application else "no application name",
            f"user `{user}`" if user else "user not shown",
            f"from {address}" if address else "from the local socket",
            state or "state not shown (hint: grant pg_read_all_stats to see it)",
        ]
        if since is not None:
            details.append(f"in a transaction since {since.isoformat(timespec='seconds')}")
        shown = tables if len(tables) <= 120 else tables[:120] + "..."
        holders.append(f"pid {pid} ({', '.join(details)}) on {shown}")
    held = "; ".join(holders) if holders else "a session that had ended by the time gnbr looked"
    return (
        f"the restore waited {seconds:g} s ([restore] lock_timeout) for a lock on the target's tables and "
        f"gave up; nothing was changed. The lock is held by {held}"
    )


def fixture_names(request):
    """What messages call each staged fixture file: the archive and the entry
    it came from (`backup.zip: fixtures/base.json`), as the request says."""
    return {f["path"]: f"{request['archive']}: {f['entry']}" for f in request["fixtures"]}


def named(text, names):
    """`text` with each staged fixture file (Django names the file it was
    loading) called by its archive's name for it."""
    for path, name in names.items():
        text = text.replace(path, name)
    return text


def describe_error(error, names):
    """One line for a database error; the fixture objects behind a foreign key
    violation when it names one."""
    return explain_integrity_error(error, names) or named(" ".join(str(error).split()), names) or type(error).__name__


def reindex_meter():
    """A `progress(done, total)` for rebuild_search_index that says
    `reindexing` progress events (it calls it about once a second)."""
    meter = None

    def progress(done, total):
        nonlocal meter
        if meter is None:
            meter = Meter("reindexing", "resources", total)
        meter.done = done
        meter.tell(force=True)

    return progress


def load(request_path):
    from django.core.management import get_commands
    from django.db import IntegrityError, connection, transaction

    from geonode.utils import DisableDjangoSignals

    with open(request_path, encoding="utf-8") as f:
        request = json.load(f)
    # Every lock wait of the run is bounded: a session holding a lock on a
    # table would otherwise stall the restore forever, and the live site
    # with it (its queries queue behind the TRUNCATE's waiting lock).
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, false)", [f"{int(request['lock_timeout_ms'])}ms"])
    unapplied = unapplied_migrations(connection)
    if unapplied:
        raise Refused(
            f"the target database is not migrated ({len(unapplied)} migrations not applied, "
            f"first {unapplied[0]}) (hint: run GeoNode's `manage.py migrate` on it first)"
        )
    tables = expected_tables(request["expected"])
    merge = bool(request.get("merge"))
    only = request.get("only")
    committing = False
    try:
        with transaction.atomic():
            modes = operating_modes(connection)
            with connection.cursor() as cursor:
                before = {table: 0 for table in tables}
                if merge:
                    for table in tables:
                        cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
                        before[table] = cursor.fetchone()[0]
                emptied = None
                if not merge:
                    targets = public_tables(cursor)
                    if only is None:
                        if targets:
                            cursor.execute("TRUNCATE " + ", ".join(connection.ops.quote_name(t) for t in targets))
                        if request.get("batched", True):
                            emptied = targets
                    else:
                        # DELETE, not TRUNCATE: Django's foreign keys are checked at
                        # the end of the load, so rows kept elsewhere may still
                        # point at restored rows, and are refused if they do not.
                        targets = tables_to_empty(targets, only, request["expected"])
                        refuse_cascades(cursor, targets)
                        for table in targets:
                            cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
                    say(event="truncated", tables=len(targets))
            with DisableDjangoSignals():
                try:
                    loaded = loaddata(request, emptied)
                except IntegrityError as e:
                    if only is not None and "is still referenced from table" in str(e):
                        raise Refused(
                            "the restore of only the listed fixtures would leave kept rows pointing at rows "
                            f"the fixtures do not hold: {' '.join(str(e).replace('Problem installing fixtures: ', '').split())}; "
                            "nothing was changed (hint: add the app of the table named last to [fixtures] apps, "
                            "or restore the whole backup without --only-listed-fixtures)"
                        ) from e
                    raise
            say(event="loaded", message=loaded)
            keep_operating_modes(connection, modes)
            add_missing_content_types_and_permissions()
            reset_sequences(connection, all_models(connection))
            with connection.cursor() as cursor:
                counts = {}
                for table, expected in sorted(tables.items()):
                    cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
                    counts[table] = cursor.fetchone()[0]
                wrong = {t: (before[t] + tables[t], counts[t]) for t in tables if counts[t] != before[t] + tables[t]}
                if wrong:
                    details = ", ".join(
                        f"{t}: {want} expected, {got} in the table" for t, (want, got) in sorted(wrong.items())
                    )
                    why = " (objects of the backup overwrote existing rows: their pks were not offset)" if merge else ""
                    raise Refused(f"row counts differ after the load{why}: {details}; nothing was changed")
            if request.get("reindex", True) and "reindex" in get_commands():
                rebuild_search_index(reindex_meter())
            with connection.cursor() as cursor:
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {LOG_TABLE} (id serial PRIMARY KEY, archive text NOT NULL, "
                    "sha256 text NOT NULL, restored_at timestamptz NOT NULL DEFAULT now(), gnbr_version text NOT NULL, "
                    "source_version text, target_version text)"
                )
                # The run's id: a crashed run's journal asks whether this row committed.
                cursor.execute(f"ALTER TABLE {LOG_TABLE} ADD COLUMN IF NOT EXISTS run_id text")
                record = request["record"]
                cursor.execute(
                    f"INSERT INTO {LOG_TABLE} (archive, sha256, gnbr_version, source_version, target_version, run_id) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    [
                        record["archive"],
                        record["sha256"],
                        record["gnbr_version"],
                        record.get("source_version"),
                        geonode_version(),
                        record.get("run_id"),
                    ],
                )
            say(event="ready", rows=counts)
            answer = sys.stdin.readline().strip()
            if answer != "commit":
                raise Refused("gnbr did not confirm the commit; everything was rolled back")
            committing = True
    except Exception as e:  # noqa: BLE001 - sorted out here, re-raised otherwise
        if committing:
            raise CommitRefused(describe_error(e, fixture_names(request))) from e
        if lock_timed_out(e):
            raise LockTimeout(lock_timeout_message(connection, request)) from e
        raise
    say(event="committed")


def run_committed(run_id):
    """Whether the restore run `run_id` committed: its gnbr_restore_log row exists."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = 'run_id'",
            [LOG_TABLE],
        )
        found = False
        if cursor.fetchone():
            cursor.execute(f"SELECT 1 FROM {LOG_TABLE} WHERE run_id = %s", [run_id])
            found = cursor.fetchone() is not None
    say(event="run", found=found)


def explain_integrity_error(error, names):
    """The fixture objects behind a foreign key violation, when it names one;
    `names` maps each staged fixture file to what messages call it."""
    import re

    from django.apps import apps

    cause = getattr(error, "__cause__", None) or error
    diag = getattr(cause, "diag", None)
    table = getattr(diag, "table_name", None)
    detail = getattr(diag, "message_detail", None) or str(error)
    match = re.search(r"Key \((\w+)\)=\(([^)]*)\) is not present in table \"?(\w+)", detail)
    if not table or not match:
        return None
    column, value, target = match.groups()
    models = [m for m in apps.get_models() if m._meta.db_table == table]
    if not models:
        return None
    model = models[0]
    field = next((f for f in model._meta.concrete_fields if f.column == column), None)
    if field is None:
        return None
    found = []
    for path, name in names.items():
        with open(path, encoding="utf-8") as f:
            objects = json.load(f)
        for index, obj in enumerate(objects):
            if obj.get("model") == model._meta.label_lower and str(obj.get("fields", {}).get(field.name)) == value:
                found.append(f"{name} object #{index} (pk {obj.get('pk')})")
    if not found:
        return None
    constraint = getattr(diag, "constraint_name", "") or "a foreign key"
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    return (
        f"{', '.join(found[:3])}{more}: {model._meta.label_lower}.{field.name} = {value} points to no row of "
        f"{target} (constraint {constraint})"
    )


def check_dump_label(label):
    """An `apps` entry dumpdata accepts: `app_label` or `app_label.ModelName`."""
    from django.apps import apps

    app, _, model = label.partition(".")
    try:
        config = apps.get_app_config(app)
        if model:
            config.get_model(model)
    except LookupError as e:
        raise Refused(
            f"settings.ini [fixtures] apps names `{label}`, which this GeoNode does not have ({e}) "
            "(hint: remove it from [fixtures] apps and dumps, or use the settings written for this GeoNode version)"
        )


DUMP_CHUNK = 2000
DUMP_FORMAT = "gnbr-json"


def m2m_prefetches(model):
    """The many-to-many fields Django's serializer writes for `model` (those
    with an auto-created link table), each to be fetched with the related
    objects' pks only, in the related model's own order. A related model
    without one gets pk order: `dumpdata`'s is then the plan's, which for a
    lookup through the link table's unique (from, to) index is pk order too,
    where one query for many objects would give the rows in any order."""
    from django.db.models import Prefetch

    def related(field):
        queryset = field.remote_field.model._default_manager.select_related(None).only("pk")
        return queryset if queryset.ordered else queryset.order_by("pk")

    return [
        Prefetch(field.name, queryset=related(field))
        for field in model._meta.concrete_model._meta.local_many_to_many
        if field.serialize and field.remote_field.through._meta.auto_created
    ]


def prefetched_in_chunks(objects):
    """`objects` as `dumpdata` gives them (model after model, pk order),
    DUMP_CHUNK at a time, each chunk's many-to-many values fetched with one
    query per model and field: `dumpdata` asks one per object and field."""
    from django.db.models import prefetch_related_objects

    objects = iter(objects)
    while True:
        chunk = list(itertools.islice(objects, DUMP_CHUNK))
        if not chunk:
            return
        for model, group in itertools.groupby(chunk, key=type):
            lookups = m2m_prefetches(model)
            if lookups:
                prefetch_related_objects(list(group), *lookups)
        yield from chunk


def dump_format():
    """Registers (once) and names the serializer `dumpdata` is run with:
    Django's JSON serializer, writing what it writes byte for byte, faster.
    Many-to-many values come from the chunk's prefetch (Django's own reads
    them with a query per object, or builds that query before it looks for
    a prefetch), and an object is encoded in one call of the C encoder
    rather than streamed piece by piece through the pure-Python one."""
    import types

    from django.core import serializers
    from django.core.serializers import json as django_json

    class PrefetchedJSONSerializer(django_json.Serializer):
        def serialize(self, queryset, **options):
            return super().serialize(prefetched_in_chunks(queryset), **options)

        def handle_m2m_field(self, obj, field):
            prefetched = getattr(obj, "_prefetched_objects_cache", {}).get(field.name)
            if prefetched is None:
                super().handle_m2m_field(obj, field)
                return
            self._current[field.name] = [self._value_from_field(related, related._meta.pk) for related in prefetched]

        def end_object(self, obj):
            if not self.first:
                self.stream.write(", ")
            self.stream.write(json.dumps(self.get_dump_object(obj), **self.json_kwargs))
            self._current = None

    if DUMP_FORMAT not in serializers.get_serializer_formats():
        module = types.ModuleType("gnbr_json_serializer")
        module.Serializer = PrefetchedJSONSerializer
        module.Deserializer = django_json.Deserializer
        sys.modules[module.__name__] = module
        serializers.register_serializer(DUMP_FORMAT, module.__name__)
    return DUMP_FORMAT


@contextlib.contextmanager
def dump_snapshot():
    """One read-only repeatable-read transaction for the whole dump: every
    app is dumped as the database was at its first query, so fixtures that
    point at each other agree even while GeoNode keeps writing."""
    from django.db import connection, transaction

    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def dump():
    """Says `info` first, then waits for the path of the dump request on
    stdin (none: gnbr stopped before dumping), so that a backup starts Django
    once. Then `dumpdata` of each app into the path gnbr names (a FIFO it
    reads), in order, from one snapshot of the database."""
    from django.core.management import call_command
    from django.db import connections

    from geonode.utils import DisableDjangoSignals

    if not info():
        return
    request_path = sys.stdin.readline().strip()
    if not request_path:
        return
    with open(request_path, encoding="utf-8") as f:
        request = json.load(f)
    # An unknown label fails dumpdata before it opens its output: gnbr would
    # wait on that FIFO forever. Every label is checked before the first dump.
    for item in request["dumps"]:
        check_dump_label(item["app"])
    with DisableDjangoSignals(), dump_snapshot():
        for item in request["dumps"]:
            say(event="dumping", app=item["app"], path=item["path"])
            try:
                call_command("dumpdata", item["app"], format=dump_format(), output=item["path"], verbosity=0)
            except Exception as e:  # noqa: BLE001 - named with its app
                traceback.print_exc()
                raise Refused(f"dumpdata of `{item['app']}` failed: {' '.join(str(e).split())}")
            say(event="dumped", app=item["app"])
    connections.close_all()
    say(event="done")


def users():
    """Login rows on demand (people_profile through Django's own lookup): the
    password hash goes to gnbr, which checks it; no password ever comes here.
    Each lookup waits at most a few seconds for a lock (a restore holds the
    users' table while it loads); a failed one drops the connection so that
    the next opens a new one (the database may have restarted)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    model = get_user_model()
    say(event="ready")
    for line in sys.stdin:
        try:
            username = json.loads(line)["username"]
            if not isinstance(username, str):
                raise ValueError("the username is not a string")
        except (ValueError, KeyError, TypeError) as e:
            say(event="error", message=f"a request gnbr's Django helper cannot read: {e}")
            continue
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL lock_timeout = '5s'")
                        cursor.execute("SET LOCAL statement_timeout = '10s'")
                found = model._default_manager.get_by_natural_key(username)
        except model.DoesNotExist:
            say(event="user", found=False)
            continue
        except Exception as e:  # noqa: BLE001 - one line for gnbr's log, traceback to stderr
            traceback.print_exc()
            connection.close()
            say(event="error", message=" ".join(str(e).split()) or type(e).__name__)
            continue
        say(
            event="user",
            found=True,
            username=found.get_username(),
            password=found.password or "",
            is_superuser=bool(found.is_superuser),
            is_active=bool(found.is_active),
        )


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    try:
        setup()
        if command == "info":
            info()
        elif command == "maxpks":
            maxpks()
        elif command == "load":
            load(sys.argv[2])
        elif command == "dump":
            dump()
            # The transaction is over, the connection closed, every dump
            # written: Python's own teardown of Django would add a second.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        elif command == "users":
            users()
        elif command == "run":
            run_committed(sys.argv[2])
        else:
            raise Refused(f"unknown command `{command}`")
    except LockTimeout as e:
        say(event="error", kind="lock_timeout", message=str(e))
        sys.exit(1)
    except Refused as e:
        say(event="error", kind="refused", message=str(e))
        sys.exit(1)
    except CommitRefused as e:
        traceback.print_exc()
        say(event="error", kind="commit_refused", message=str(e))
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - reported as one line, traceback to stderr
        traceback.print_exc()
        message = " ".join(str(e).split()) or type(e).__name__
        if command == "load":
            try:
                with open(sys.argv[2], encoding="utf-8") as f:
                    names = fixture_names(json.load(f))
                message = explain_integrity_error(e, names) or named(message, names)
            except Exception:  # noqa: BLE001 - the plain message still stands
                traceback.print_exc()
        say(event="error", kind=type(e).__name__, message=message)
        sys.exit(1)


if __name__ == "__main__":
    main()
