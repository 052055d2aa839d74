//! The vector tables of GeoNode's datastore (the PostGIS database
//! GeoServer's layers live in), dumped and restored one table at a time with
//! `pg_dump` and `psql`.
//!
//! A dump is plain SQL holding the table's whole definition (primary key,
//! indexes, constraints, owned sequences and their positions) and rows,
//! without owner or grants, so the restoring user owns what it creates. A
//! restore runs one transaction per table: an existing table of that name
//! is moved aside into a schema of this run first, so a failed table stays as
//! it was and a finished run can still be undone. Credentials go through the
//! environment only (`PGPASSWORD`), never the command line.

use std::{
    fmt,
    io::{self, Read, Write},
    process::{Child, ChildStdin, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    thread::{self, JoinHandle},
    time::{SystemTime, UNIX_EPOCH},
};

use super::{command, Database};
use crate::errors::{Error, ErrorKind};

/// The comment `pg_dump` ends every plain dump with: a dump without it was
/// cut short.
const TRAILER: &[u8] = b"-- PostgreSQL database dump complete";

/// How many lines of a tool's error output an error shows.
const ERROR_LINES: usize = 5;

/// The tables below `c.oid` in its partition tree, as a JSON array of
/// `[schema, name]`: empty for a table that is not partitioned.
const PARTITIONS: &str = "coalesce((SELECT jsonb_agg(jsonb_build_array(pn.nspname, pc.relname) \
     ORDER BY pn.nspname COLLATE \"C\", pc.relname COLLATE \"C\") \
     FROM pg_catalog.pg_partition_tree(c.oid) t \
     JOIN pg_catalog.pg_class pc ON pc.oid = t.relid \
     JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace \
     WHERE t.relid <> c.oid), '[]')";

/// Restorers made by this process so far: part of their aside schemas'
/// names, so that two restores running at once never share one.
static RESTORERS: AtomicUsize = AtomicUsize::new(0);

/// A table as [`list`]'s query gives it: schema, name, partitions.
type ListedRow = (String, String, Vec<(String, String)>);

/// A table of the datastore.
#[derive(Debug, Clone)]
pub struct Table {
    /// Its schema.
    pub schema: String,
    /// Its name, exactly as in the catalog.
    pub name: String,
    /// The partitions below a partitioned table, which hold its rows and are
    /// dumped with it; filled by [`list`].
    partitions: Vec<Table>,
}

impl Table {
    /// The table `name` in `schema`.
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
            partitions: Vec::new(),
        }
    }

    /// `"schema"."name"`, each part a quoted SQL identifier.
    ///
    /// Inside double quotes a `pg_dump --table` pattern is literal too:
    /// `""` stands for `"`, and `*`, `?`, `.`, `$` and regular expression
    /// characters match themselves, case included. So this is also the
    /// pattern that selects exactly this table.
    pub fn quoted(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.name))
    }

    fn same(&self, other: &Table) -> bool {
        self.schema == other.schema && self.name == other.name
    }

    /// Fails for names no PostgreSQL table has, which no command line or
    /// SQL text could name exactly.
    fn check_name(&self) -> Result<(), Error> {
        let bad = |part: &str| part.is_empty() || part.contains('\0');
        if bad(&self.schema) || bad(&self.name) {
            return Err(Error::new(
                ErrorKind::Input,
                format!(
                    "{self} cannot be a PostgreSQL table: a name is empty or holds a NUL character"
                ),
            )
            .hint("check the table names the backup recorded"));
        }
        Ok(())
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quoted())
    }
}

/// The tables `db`'s user owns in `schemas`, each with its exact row count,
/// in schema then name order.
///
/// Ordinary and partitioned tables are listed, partitions and the tables of
/// extensions (PostGIS's `spatial_ref_sys`, `topology.*`) are not. The
/// names and the counts are read in one snapshot.
///
/// # Errors
///
/// When `psql` is missing or the database fails.
pub fn list(psql: &str, db: &Database, schemas: &[String]) -> Result<Vec<(Table, u64)>, Error> {
    let schemas: Vec<String> = schemas.iter().map(|s| literal(s)).collect();
    let from = format!(
        "FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
         AND c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user) \
         AND n.nspname = ANY (ARRAY[{}]::text[]) \
         AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d \
             WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid \
             AND d.deptype = 'e')",
        schemas.join(", ")
    );
    let order = "n.nspname COLLATE \"C\", c.relname COLLATE \"C\"";
    // The names come as one line of JSON (jsonb text never breaks lines),
    // then `\gexec` prints one count a line, in the same order.
    let script = format!(
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;\n\
         SELECT coalesce(jsonb_agg(jsonb_build_array(n.nspname, c.relname, {PARTITIONS}) \
         ORDER BY {order}), '[]') {from};\n\
         SELECT format('SELECT count(*) FROM %I.%I', n.nspname, c.relname) {from} \
         ORDER BY {order} \\gexec\n"
    );
    let output = run_script(psql, db, script)
        .map_err(|e| context(e, &format!("listing the tables of the datastore ({db})")))?;
    let mut lines = output.lines();
    let names: Vec<ListedRow> = lines
        .next()
        .and_then(|line| serde_json::from_str(line).ok())
        .ok_or_else(|| unexpected(psql, &output))?;
    let counts = lines
        .map(|line| line.trim().parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| unexpected(psql, &output))?;
    if counts.len() != names.len() {
        return Err(unexpected(psql, &output));
    }
    Ok(names
        .into_iter()
        .zip(counts)
        .map(|((schema, name, partitions), rows)| {
            let mut table = Table::new(schema, name);
            table.partitions = partitions
                .into_iter()
                .map(|(schema, name)| Table::new(schema, name))
                .collect();
            (table, rows)
        })
        .collect())
}

/// What [`dump`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dumped {
    /// Bytes of SQL.
    pub bytes: u64,
    /// Rows in its `COPY` blocks: the rows of the snapshot `pg_dump` read,
    /// which a restore must find again.
    pub rows: u64,
}

/// Writes `table` as plain SQL from `pg_dump` to `out`: its definition with
/// primary key, indexes, constraints and owned sequences, its rows (its
/// partitions' too), without owner or grants.
///
/// The dump is streamed, never held in memory.
///
/// # Errors
///
/// When `pg_dump` is missing or fails (its messages included), or `out`
/// cannot be written; `out` may then hold part of the dump.
pub fn dump(
    pg_dump: &str,
    db: &Database,
    table: &Table,
    out: &mut dyn Write,
) -> Result<Dumped, Error> {
    let tables: Vec<&Table> = std::iter::once(table).chain(&table.partitions).collect();
    for table in &tables {
        table.check_name()?;
    }
    let mut command = command(pg_dump, db);
    command.env("PGDATABASE", &db.name).args([
        "--format=plain",
        "--encoding=UTF8",
        "--no-owner",
        "--no-privileges",
        // The target's tablespaces are not the source's.
        "--no-tablespaces",
        "--strict-names",
    ]);
    for table in &tables {
        command.arg(format!("--table={}", table.quoted()));
    }
    let mut child = spawn(
        &mut command,
        pg_dump,
        "pgdump",
        Stdio::null(),
        Stdio::piped(),
    )?;
    let stderr = collect(child.stderr.take());
    let mut counted = RowCounter::new(out);
    let copied = match child.stdout.take() {
        Some(mut stdout) => io::copy(&mut stdout, &mut counted),
        None => Err(io::Error::other("no output pipe")),
    };
    let rows = counted.rows;
    let bytes = match copied {
        Ok(bytes) => bytes,
        Err(e) => {
            stop(&mut child);
            return Err(Error::new(
                ErrorKind::Run,
                format!("cannot write the dump of {table}: {e}"),
            )
            .hint("check the space and permissions where the backup is written"));
        }
    };
    let status = child.wait();
    let stderr = stderr.join().unwrap_or_default();
    if !status.is_ok_and(|s| s.success()) {
        return Err(Error::new(
            ErrorKind::Target,
            format!(
                "pg_dump of table {table} from the datastore ({db}) failed: {}",
                error_lines(&stderr)
            ),
        )
        .hint("check that the datastore is reachable and that its user can read the table"));
    }
    Ok(Dumped { bytes, rows })
}

/// Passes a plain dump through, counting the data lines of its `COPY …
/// FROM stdin;` blocks (each row is one line; a block ends with `\.`).
struct RowCounter<'a> {
    out: &'a mut dyn Write,
    /// The first bytes of the current line: enough to tell `COPY ` and `\.`.
    head: Vec<u8>,
    in_copy: bool,
    rows: u64,
}

impl<'a> RowCounter<'a> {
    fn new(out: &'a mut dyn Write) -> Self {
        Self {
            out,
            head: Vec::with_capacity(5),
            in_copy: false,
            rows: 0,
        }
    }
}

impl Write for RowCounter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        for &byte in &buf[..n] {
            if byte == b'\n' {
                if self.in_copy {
                    if self.head == b"\\." {
                        self.in_copy = false;
                    } else {
                        self.rows += 1;
                    }
                } else if self.head.starts_with(b"COPY ") {
                    self.in_copy = true;
                }
                self.head.clear();
            } else if self.head.len() < 5 {
                self.head.push(byte);
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The names of `tables` that `db` holds with something the restoring
/// user cannot move aside (a view, an index, a sequence, a partition,
/// another role's table), each with what it is: `a view owned by alice`.
///
/// # Errors
///
/// When the database cannot be asked.
pub fn conflicts(
    psql: &str,
    db: &Database,
    tables: &[&Table],
) -> Result<Vec<(Table, String)>, Error> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let script = format!(
        "SELECT coalesce(jsonb_agg(jsonb_build_array(n.nspname, c.relname, c.relkind::text, \
         pg_catalog.pg_get_userbyid(c.relowner)) ORDER BY n.nspname, c.relname), '[]') \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE (n.nspname, c.relname) IN ({}) \
         AND (c.relkind NOT IN ('r', 'p') OR c.relispartition \
         OR NOT pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE'));\n",
        values(tables)
    );
    let output = run_script(psql, db, script)
        .map_err(|e| context(e, &format!("checking the datastore ({db})")))?;
    let found: Vec<(String, String, String, String)> =
        serde_json::from_str(output.trim()).map_err(|_| unexpected(psql, &output))?;
    Ok(found
        .into_iter()
        .map(|(schema, name, kind, owner)| {
            let what = match kind.as_str() {
                "r" | "p" => "a table (a partition, or another role's)",
                "v" => "a view",
                "m" => "a materialized view",
                "i" | "I" => "an index",
                "S" => "a sequence",
                "f" => "a foreign table",
                _ => "an object",
            };
            (Table::new(schema, name), format!("{what} owned by {owner}"))
        })
        .collect())
}

/// What else in `db` uses the existing tables named like `tables`: views
/// (plain or materialized) and other tables' foreign keys, each described
/// (`view public.roads_view uses "public"."roads"`). A restore moves those
/// tables aside, and these keep using the old ones.
///
/// # Errors
///
/// When the database cannot be asked.
pub fn dependents(psql: &str, db: &Database, tables: &[&Table]) -> Result<Vec<String>, Error> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let script = format!(
        "WITH replaced AS (SELECT c.oid FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE (n.nspname, c.relname) IN ({})), \
         uses AS ( \
         SELECT DISTINCT CASE v.relkind WHEN 'm' THEN 'materialized view ' ELSE 'view ' END \
             || v.oid::pg_catalog.regclass::text || ' uses ' || d.refobjid::pg_catalog.regclass::text AS what \
         FROM pg_catalog.pg_depend d \
         JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass \
         JOIN pg_catalog.pg_class v ON v.oid = r.ev_class \
         WHERE d.refobjid IN (SELECT oid FROM replaced) AND v.oid NOT IN (SELECT oid FROM replaced) \
         UNION \
         SELECT 'foreign key ' || co.conname || ' of ' || co.conrelid::pg_catalog.regclass::text \
             || ' uses ' || co.confrelid::pg_catalog.regclass::text \
         FROM pg_catalog.pg_constraint co \
         WHERE co.contype = 'f' AND co.confrelid IN (SELECT oid FROM replaced) \
         AND co.conrelid NOT IN (SELECT oid FROM replaced)) \
         SELECT coalesce(jsonb_agg(what ORDER BY what), '[]') FROM uses;\n",
        values(tables)
    );
    let output = run_script(psql, db, script)
        .map_err(|e| context(e, &format!("checking the datastore ({db})")))?;
    serde_json::from_str(output.trim()).map_err(|_| unexpected(psql, &output))
}

/// `VALUES ('schema', 'name'), …` of `tables`, for `(nspname, relname) IN (…)`.
fn values(tables: &[&Table]) -> String {
    let rows: Vec<String> = tables
        .iter()
        .map(|t| format!("({}, {})", literal(&t.schema), literal(&t.name)))
        .collect();
    format!("VALUES {}", rows.join(", "))
}

/// Checks that the datastore `db` has PostGIS, which the dumps of geometry
/// tables need.
///
/// # Errors
///
/// When it has not, or cannot be asked.
pub fn check_postgis(psql: &str, db: &Database) -> Result<(), Error> {
    let output = run_script(
        psql,
        db,
        "SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'postgis';\n".to_owned(),
    )
    .map_err(|e| context(e, &format!("checking the datastore ({db})")))?;
    if output.trim() == "0" {
        return Err(Error::new(
            ErrorKind::Target,
            format!("the datastore ({db}) has no PostGIS extension"),
        )
        .hint(format!(
            "run `CREATE EXTENSION postgis;` in database `{}` as a superuser, then restore again",
            db.name
        )));
    }
    Ok(())
}

/// Restores dumps into the datastore, one table and one transaction at a
/// time, keeping what it replaced until [`Restorer::finish`] or
/// [`Restorer::undo`].
///
/// An existing table of the same name is moved, with its indexes,
/// constraints, owned sequences and partitions, into an aside schema of this
/// run (`gnbr_aside_<time>_<pid>_<run>_<n>`, one per schema it came from, so names
/// never collide there). A run that stops half way leaves those schemas for
/// the admin to recover from.
pub struct Restorer {
    psql: String,
    db: Database,
    aside_prefix: String,
    /// Aside schema of each schema tables were moved from.
    asides: Vec<(String, String)>,
    restored: Vec<Restored>,
    postgis_checked: bool,
}

/// A table this run restored, and the old tables it moved aside for it,
/// each with the aside schema it went to.
struct Restored {
    table: Table,
    moved: Vec<(Table, String)>,
}

impl Restorer {
    /// A restorer into `db` with `psql`; it connects only when used.
    pub fn new(psql: &str, db: &Database) -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let run = RESTORERS.fetch_add(1, Ordering::Relaxed);
        Self {
            psql: psql.to_owned(),
            db: db.clone(),
            aside_prefix: format!("gnbr_aside_{secs}_{}_{run}", std::process::id()),
            asides: Vec::new(),
            restored: Vec::new(),
            postgis_checked: false,
        }
    }

    /// Restores `table` from `sql`, a dump written by [`dump`], in one
    /// transaction; returns its row count after the commit, for the caller
    /// to compare with the count recorded at backup.
    ///
    /// # Errors
    ///
    /// When the datastore lacks PostGIS, the dump is cut short or fails
    /// (psql's first error lines shown), or `table` was already restored by
    /// this run. The table is then left as it was.
    pub fn restore(&mut self, table: &Table, mut sql: impl Read) -> Result<u64, Error> {
        table.check_name()?;
        if self.restored.iter().any(|r| r.table.same(table)) {
            return Err(Error::new(
                ErrorKind::Input,
                format!("table {table} comes twice in this restore"),
            )
            .hint("check the backup's list of datastore tables"));
        }
        if !self.postgis_checked {
            check_postgis(&self.psql, &self.db)?;
            self.postgis_checked = true;
        }
        let moved: Vec<(Table, String)> = self
            .existing(table)?
            .into_iter()
            .map(|old| {
                let aside = self.aside_for(&old.schema);
                (old, aside)
            })
            .collect();
        let mut preamble = String::new();
        for (old, aside) in &moved {
            let aside = ident(aside);
            preamble.push_str(&format!(
                "CREATE SCHEMA IF NOT EXISTS {aside};\nALTER TABLE {} SET SCHEMA {aside};\n",
                old.quoted()
            ));
        }
        preamble.push_str(&format!(
            "CREATE SCHEMA IF NOT EXISTS {};\n",
            ident(&table.schema)
        ));
        // A dump that did not create the table fails here, not after the commit.
        let check = format!(
            "SELECT {}::pg_catalog.regclass AS created_by_the_dump;",
            literal(&table.quoted())
        );
        let mut command = psql_command(&self.psql, &self.db);
        command
            .arg(format!("--command={preamble}"))
            .arg("--file=-")
            .arg(format!("--command={check}"));
        let mut child = spawn(
            &mut command,
            &self.psql,
            "psql",
            Stdio::piped(),
            Stdio::null(),
        )?;
        let stderr = collect(child.stderr.take());
        let mut stdin = child.stdin.take();
        let fed = match stdin.as_mut() {
            Some(stdin) => feed(&mut sql, stdin),
            None => Fed::Read(io::Error::other("no input pipe to psql")),
        };
        if !matches!(fed, Fed::Sent) {
            // psql commits only after the end of its input: killed while
            // its input is still open, it leaves the transaction to roll back.
            let _ = child.kill();
        }
        drop(stdin);
        let status = child.wait();
        let stderr = stderr.join().unwrap_or_default();
        match fed {
            Fed::Read(e) => {
                return Err(Error::new(
                    ErrorKind::Input,
                    format!("cannot read the dump of table {table}: {e}"),
                )
                .hint("the table in the datastore was left as it was"))
            }
            Fed::Truncated => {
                return Err(Error::new(
                    ErrorKind::Input,
                    format!(
                        "the dump of table {table} is cut short: it lacks pg_dump's closing line"
                    ),
                )
                .hint("the backup is damaged; the table in the datastore was left as it was"))
            }
            Fed::Sent if !status.is_ok_and(|s| s.success()) => return Err(Error::new(
                ErrorKind::Target,
                format!(
                    "restoring table {table} into the datastore ({}) failed: {}",
                    self.db,
                    error_lines(&stderr)
                ),
            )
            .hint(
                "the table in the datastore was left as it was; fix the cause and restore again",
            )),
            Fed::Sent => {}
        }
        self.restored.push(Restored {
            table: table.clone(),
            moved,
        });
        let output = run_script(
            &self.psql,
            &self.db,
            format!("SELECT count(*) FROM {};\n", table.quoted()),
        )
        .map_err(|e| {
            context(
                e,
                &format!("counting the rows of {table} after its restore"),
            )
        })?;
        output
            .trim()
            .parse()
            .map_err(|_| unexpected(&self.psql, &output))
    }

    /// Puts back every table this run replaced: drops each restored table
    /// and moves the old one back to its schema, all in one transaction,
    /// then drops the aside schemas.
    ///
    /// # Errors
    ///
    /// When the database fails; nothing is undone then, and the old tables
    /// stay in the aside schemas.
    pub fn undo(self) -> Result<(), Error> {
        let mut script = String::new();
        for restored in self.restored.iter().rev() {
            script.push_str(&format!(
                "DROP TABLE IF EXISTS {};\n",
                restored.table.quoted()
            ));
            for (old, aside) in &restored.moved {
                script.push_str(&format!(
                    "ALTER TABLE {}.{} SET SCHEMA {};\n",
                    ident(aside),
                    ident(&old.name),
                    ident(&old.schema)
                ));
            }
        }
        self.drop_asides(script).map_err(|e| {
            context(
                e,
                &format!("undoing the restore of the datastore tables ({})", self.db),
            )
            .hint("the old tables are still in the gnbr_aside_* schemas; move them back by hand")
        })
    }

    /// Drops the old tables and the aside schemas, once every table was
    /// restored. Nothing else is dropped with them: when a view or another
    /// table's foreign key still uses an old table, they all stay.
    ///
    /// # Errors
    ///
    /// When the database fails or something still uses an old table; the
    /// restored tables stay, and so do the aside schemas.
    pub fn finish(self) -> Result<(), Error> {
        let old: Vec<String> = self
            .restored
            .iter()
            .flat_map(|r| &r.moved)
            .map(|(old, aside)| format!("{}.{}", ident(aside), ident(&old.name)))
            .collect();
        let mut script = String::new();
        if !old.is_empty() {
            script.push_str(&format!("DROP TABLE IF EXISTS {};\n", old.join(", ")));
        }
        for (_, aside) in &self.asides {
            script.push_str(&format!("DROP SCHEMA IF EXISTS {};\n", ident(aside)));
        }
        if script.is_empty() {
            return Ok(());
        }
        run_script(&self.psql, &self.db, script).map(drop).map_err(|e| {
            context(
                e,
                &format!("dropping the old datastore tables ({})", self.db),
            )
            .hint("the old tables stay in the gnbr_aside_* schemas: point the views or foreign keys that use them at the restored tables, then DROP SCHEMA … CASCADE")
        })
    }

    fn drop_asides(&self, mut script: String) -> Result<(), Error> {
        for (_, aside) in &self.asides {
            script.push_str(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE;\n",
                ident(aside)
            ));
        }
        if script.is_empty() {
            return Ok(());
        }
        run_script(&self.psql, &self.db, script).map(drop)
    }

    /// The aside schema for tables moved from `schema`.
    fn aside_for(&mut self, schema: &str) -> String {
        if let Some((_, aside)) = self.asides.iter().find(|(from, _)| from == schema) {
            return aside.clone();
        }
        let aside = format!("{}_{}", self.aside_prefix, self.asides.len() + 1);
        self.asides.push((schema.to_owned(), aside.clone()));
        aside
    }

    /// The table named like `table` in the target and its partitions, which
    /// the restore moves aside; empty when there is none.
    fn existing(&self, table: &Table) -> Result<Vec<Table>, Error> {
        let output = run_script(
            &self.psql,
            &self.db,
            format!(
                "SELECT jsonb_build_array(c.relkind, {PARTITIONS}) \
                 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = {} AND c.relname = {};\n",
                literal(&table.schema),
                literal(&table.name)
            ),
        )
        .map_err(|e| {
            context(
                e,
                &format!("looking for table {table} in the datastore ({})", self.db),
            )
        })?;
        if output.trim().is_empty() {
            return Ok(Vec::new());
        }
        let (kind, partitions): (String, Vec<(String, String)>) =
            serde_json::from_str(output.trim()).map_err(|_| unexpected(&self.psql, &output))?;
        if kind != "r" && kind != "p" {
            let what = match kind.as_str() {
                "v" => "a view",
                "m" => "a materialized view",
                "S" => "a sequence",
                "f" => "a foreign table",
                "i" | "I" => "an index",
                "c" => "a composite type",
                _ => "not a table",
            };
            return Err(Error::new(
                ErrorKind::Target,
                format!("{table} in the datastore ({}) is {what}", self.db),
            )
            .hint("rename or drop it, then restore again"));
        }
        Ok(
            std::iter::once(Table::new(table.schema.clone(), table.name.clone()))
                .chain(partitions.into_iter().map(|(s, n)| Table::new(s, n)))
                .collect(),
        )
    }
}

/// How feeding a dump to psql ended.
enum Fed {
    /// All of it went in, closing line included, or psql stopped reading
    /// (it failed: its exit status tells).
    Sent,
    /// It ended without pg_dump's closing line.
    Truncated,
    /// Reading it failed.
    Read(io::Error),
}

/// Copies `sql` into psql's `stdin`, watching for pg_dump's closing line.
fn feed(sql: &mut impl Read, stdin: &mut ChildStdin) -> Fed {
    let mut trailer = TrailerWatch::default();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = match sql.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Fed::Read(e),
        };
        trailer.feed(&buffer[..n]);
        if stdin.write_all(&buffer[..n]).is_err() {
            return Fed::Sent;
        }
    }
    if trailer.seen {
        Fed::Sent
    } else {
        Fed::Truncated
    }
}

/// Whether [`TRAILER`] went by in a stream read in chunks.
#[derive(Default)]
struct TrailerWatch {
    seen: bool,
    tail: Vec<u8>,
}

impl TrailerWatch {
    fn feed(&mut self, chunk: &[u8]) {
        if self.seen {
            return;
        }
        self.tail.extend_from_slice(chunk);
        if memchr::memmem::find(&self.tail, TRAILER).is_some() {
            self.seen = true;
            self.tail = Vec::new();
            return;
        }
        let keep = TRAILER.len() - 1;
        if self.tail.len() > keep {
            self.tail.drain(..self.tail.len() - keep);
        }
    }
}

/// psql for `db`: no psqlrc, bare output, stop at the first error, one
/// transaction, UTF-8.
fn psql_command(psql: &str, db: &Database) -> Command {
    let mut command = command(psql, db);
    command
        // The database name in the environment, where a name holding `=`
        // cannot turn into a connection string.
        .env("PGDATABASE", &db.name)
        .env("PGCLIENTENCODING", "UTF8")
        // A table someone holds a lock on fails the restore instead of hanging it.
        .env("PGOPTIONS", "-c lock_timeout=60s")
        .args([
            "--no-psqlrc",
            "--quiet",
            "--no-align",
            "--tuples-only",
            "--set=ON_ERROR_STOP=1",
            "--single-transaction",
        ]);
    command
}

/// Runs `script` with psql in one transaction; returns its output.
fn run_script(psql: &str, db: &Database, script: String) -> Result<String, Error> {
    let mut command = psql_command(psql, db);
    command.arg("--file=-");
    let mut child = spawn(&mut command, psql, "psql", Stdio::piped(), Stdio::piped())?;
    let writer = child.stdin.take().map(|mut stdin| {
        thread::spawn(move || {
            // A write error means psql stopped early; its status tells why.
            let _ = stdin.write_all(script.as_bytes());
        })
    });
    let output = child.wait_with_output();
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let output = output.map_err(|e| {
        Error::new(ErrorKind::Target, format!("psql did not finish: {e}"))
            .hint("check the datastore connection")
    })?;
    if !output.status.success() {
        return Err(Error::new(
            ErrorKind::Target,
            format!("psql failed: {}", error_lines(&output.stderr)),
        )
        .hint("check that the datastore is reachable with the configured user"));
    }
    String::from_utf8(output.stdout).map_err(|_| {
        Error::new(
            ErrorKind::Target,
            format!("psql's answer from {db} is not UTF-8"),
        )
        .hint("check the datastore's encoding")
    })
}

fn spawn(
    command: &mut Command,
    tool: &str,
    setting: &str,
    stdin: Stdio,
    stdout: Stdio,
) -> Result<Child, Error> {
    command
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::new(ErrorKind::Usage, format!("cannot run `{tool}`: {e}")).hint(format!(
                "install PostgreSQL's client tools or set [database] {setting} in settings.ini"
            ))
        })
}

/// Reads a child's pipe to its end on a thread, so the child never blocks
/// on it.
fn collect(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Kills a child we started and reaps it.
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// `error` with what was being done before its message.
fn context(mut error: Error, doing: &str) -> Error {
    error.message = format!("{doing}: {}", error.message);
    error
}

fn unexpected(tool: &str, output: &str) -> Error {
    let start: String = output.chars().take(200).collect();
    Error::new(
        ErrorKind::Target,
        format!("unexpected answer from `{tool}`: {start:?}"),
    )
    .hint("check that settings.ini's [database] psql is PostgreSQL's psql")
}

/// The first error of a tool's error output and the lines after it (the
/// detail, the hint, the line of SQL); the first lines when none says
/// error.
fn error_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "no error message".to_owned();
    }
    let first = lines
        .iter()
        .position(|l| l.contains("ERROR:") || l.contains("FATAL:") || l.contains("error:"))
        .unwrap_or(0);
    lines[first..]
        .iter()
        .take(ERROR_LINES)
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` as a quoted SQL identifier.
fn ident(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// `text` as an SQL string literal, whatever `standard_conforming_strings`.
fn literal(text: &str) -> String {
    format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_names_are_exact_patterns() {
        let cases = [
            ("public", "roads", r#""public"."roads""#),
            ("public", "Roads", r#""public"."Roads""#),
            ("public", "we.ird*", r#""public"."we.ird*""#),
            ("My Schema", "a?b$c", r#""My Schema"."a?b$c""#),
            ("s", r#"say "hi""#, r#""s"."say ""hi""""#),
            ("s", "[x]|(y)+^", r#""s"."[x]|(y)+^""#),
        ];
        for (schema, name, quoted) in cases {
            let table = Table::new(schema, name);
            assert_eq!(table.quoted(), quoted);
            assert_eq!(table.to_string(), quoted);
            assert!(table.check_name().is_ok());
        }
    }

    #[test]
    fn impossible_names_are_refused() {
        for (schema, name) in [("", "t"), ("public", ""), ("public", "a\0b")] {
            let error = Table::new(schema, name).check_name().unwrap_err();
            assert_eq!(error.kind, ErrorKind::Input);
        }
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(literal("public"), "E'public'");
        assert_eq!(literal(r"it's a\b"), r"E'it''s a\\b'");
        assert_eq!(literal(r#""s"."t""#), r#"E'"s"."t"'"#);
    }

    #[test]
    fn the_trailer_is_seen_across_chunks() {
        let dump = b"COPY t FROM stdin;\n1\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n";
        for split in 0..dump.len() {
            let mut watch = TrailerWatch::default();
            watch.feed(&dump[..split]);
            watch.feed(&dump[split..]);
            assert!(watch.seen, "split at {split}");
        }
        let mut watch = TrailerWatch::default();
        for byte in dump.iter().take(dump.len() - 12) {
            watch.feed(std::slice::from_ref(byte));
        }
        assert!(!watch.seen);
    }

    #[test]
    fn error_lines_start_at_the_first_error() {
        let stderr = b"psql:<stdin>:3: NOTICE:  hello\n\
            psql:<stdin>:9: ERROR:  relation \"nowhere\" does not exist\n\
            LINE 1: SELECT * FROM nowhere;\n\
            \x20                     ^\n";
        assert_eq!(
            error_lines(stderr),
            "psql:<stdin>:9: ERROR:  relation \"nowhere\" does not exist\n\
             LINE 1: SELECT * FROM nowhere;\n\
             \x20                     ^"
        );
        assert_eq!(error_lines(b""), "no error message");
        assert_eq!(error_lines(b"odd\n"), "odd");
    }

    #[test]
    fn copy_rows_are_counted_across_chunks() {
        let dump = b"CREATE TABLE t (a text);\nCOPY public.t (a) FROM stdin;\nx\n\\.y\n\\N\n\\.\n-- x\nCOPY public.p (a) FROM stdin;\nz\n\\.\n";
        for chunk in [1, 3, dump.len()] {
            let mut out = Vec::new();
            let mut counter = super::RowCounter::new(&mut out);
            for part in dump.chunks(chunk) {
                std::io::Write::write_all(&mut counter, part).unwrap();
            }
            assert_eq!(counter.rows, 4, "chunks of {chunk}");
            assert_eq!(out, dump);
        }
    }
}
