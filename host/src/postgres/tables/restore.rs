//! Dumps restored into the datastore with `psql`, one table and one
//! transaction at a time, what they replace kept aside until the end.

use std::{
    io::{self, Read, Write},
    process::Stdio,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use super::{
    ident, literal,
    process::{
        collect, context, error_lines, lock_wait, psql_command, run_script, spawn, unexpected,
    },
    query::check_postgis,
    Table, PARTITIONS,
};
use serde::{Deserialize, Serialize};

use crate::{
    errors::{Error, ErrorKind},
    fault,
    postgres::Database,
};

/// The comment `pg_dump` ends every plain dump with: a dump without it was
/// cut short.
const TRAILER: &[u8] = b"-- PostgreSQL database dump complete";

/// Restorers made by this process so far: part of their aside schemas'
/// names, so that two restores running at once never share one.
static RESTORERS: AtomicUsize = AtomicUsize::new(0);

/// A datastore database reached with `psql`, every statement waiting at
/// most `lock_timeout` for a lock (`[restore] lock_timeout`).
#[derive(Clone)]
pub struct Datastore {
    /// The `psql` program.
    pub psql: String,
    /// The database.
    pub db: Database,
    /// How long any statement waits for a lock.
    pub lock_timeout: Duration,
}

/// A table a restore replaces, and the old tables (the table and its
/// partitions) it moves aside for it: what puts it back, or finishes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replaced {
    /// The table restored.
    pub table: Table,
    /// The old tables moved aside, empty when the datastore had none.
    pub moved: Vec<Aside>,
}

/// An old table moved into an aside schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Aside {
    /// Where it was.
    pub table: Table,
    /// The aside schema it is in.
    pub schema: String,
}

/// Restores dumps into the datastore, one table and one transaction at a
/// time, moving aside what each replaces.
///
/// An existing table of the same name is moved, with its indexes,
/// constraints, owned sequences and partitions, into an aside schema of this
/// run (`gnbr_aside_<time>_<pid>_<run>_<n>`, one per schema it came from, so names
/// never collide there). What was moved is told before each transaction,
/// for the caller to journal: [`put_back`] undoes it, [`drop_replaced`]
/// finishes it.
pub struct Restorer {
    datastore: Datastore,
    aside_prefix: String,
    /// Aside schema of each schema tables were moved from.
    asides: Vec<(String, String)>,
    restored: Vec<Table>,
    postgis_checked: bool,
}

impl Restorer {
    /// A restorer into `datastore`; it connects only when used.
    pub fn new(datastore: &Datastore) -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let run = RESTORERS.fetch_add(1, Ordering::Relaxed);
        Self {
            datastore: datastore.clone(),
            aside_prefix: format!("gnbr_aside_{secs}_{}_{run}", std::process::id()),
            asides: Vec::new(),
            restored: Vec::new(),
            postgis_checked: false,
        }
    }

    /// Restores `table` from `sql`, a dump written by [`dump`], in one
    /// transaction; returns its row count after the commit, for the caller
    /// to compare with the count recorded at backup. `journal` is told what
    /// the transaction replaces before it starts.
    ///
    /// # Errors
    ///
    /// When the datastore lacks PostGIS, the dump is cut short or fails
    /// (psql's first error lines shown), `journal` fails, or `table` was
    /// already restored by this run. The table is then left as it was.
    pub fn restore(
        &mut self,
        table: &Table,
        mut sql: impl Read,
        journal: impl FnOnce(&Replaced) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        table.check_name()?;
        if self.restored.iter().any(|r| r.same(table)) {
            return Err(Error::new(
                ErrorKind::Input,
                format!("table {table} comes twice in this restore"),
            )
            .hint("check the backup's list of datastore tables"));
        }
        if !self.postgis_checked {
            check_postgis(&self.datastore.psql, &self.datastore.db)?;
            self.postgis_checked = true;
        }
        let moved: Vec<Aside> = self
            .existing(table)?
            .into_iter()
            .map(|old| Aside {
                schema: self.aside_for(&old.schema),
                table: old,
            })
            .collect();
        let mut preamble = String::new();
        for old in &moved {
            let aside = ident(&old.schema);
            preamble.push_str(&format!(
                "CREATE SCHEMA IF NOT EXISTS {aside};\nALTER TABLE {} SET SCHEMA {aside};\n",
                old.table.quoted()
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
        journal(&Replaced {
            table: table.clone(),
            moved,
        })?;
        let Datastore {
            psql,
            db,
            lock_timeout,
        } = &self.datastore;
        let mut command = psql_command(psql, db, *lock_timeout);
        command
            .arg(format!("--command={preamble}"))
            .arg("--file=-")
            .arg(format!("--command={check}"));
        let mut child = spawn(&mut command, psql, "psql", Stdio::piped(), Stdio::null())?;
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
            Fed::Sent if !status.is_ok_and(|s| s.success()) => {
                let doing = format!("restoring table {table} into the datastore ({db})");
                if let Some(error) = lock_wait(
                    psql,
                    db,
                    *lock_timeout,
                    &stderr,
                    "the table was left as it was",
                ) {
                    return Err(context(error, &doing));
                }
                return Err(crate::cancel::or_cancelled(
                    Error::new(
                        ErrorKind::Target,
                        format!("{doing} failed: {}", error_lines(&stderr)),
                    )
                    .hint(
                        "the table in the datastore was left as it was; fix the cause and restore again",
                    ),
                ));
            }
            Fed::Sent => {}
        }
        self.restored.push(table.clone());
        fault::point("table-restored");
        let output = run_script(
            psql,
            db,
            *lock_timeout,
            format!("SELECT count(*) FROM {};\n", table.quoted()),
        )
        .map_err(|e| {
            context(
                e,
                &format!("counting the rows of {table} after its restore"),
            )
        })?;
        output.trim().parse().map_err(|_| unexpected(psql, &output))
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
        let Datastore {
            psql,
            db,
            lock_timeout,
        } = &self.datastore;
        let output = run_script(
            psql,
            db,
            *lock_timeout,
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
                &format!("looking for table {table} in the datastore ({db})"),
            )
        })?;
        if output.trim().is_empty() {
            return Ok(Vec::new());
        }
        let (kind, partitions): (String, Vec<(String, String)>) =
            serde_json::from_str(output.trim()).map_err(|_| unexpected(psql, &output))?;
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
                format!("{table} in the datastore ({db}) is {what}"),
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

/// Puts back what `replaced` lists, last first, in one transaction: each
/// restored table dropped and its old tables moved back from their aside
/// schemas, which are then dropped. Asks the datastore first which old
/// tables are still aside, so that a restore whose transaction never
/// committed, or an undo done already, is left alone: it can be run again.
///
/// # Errors
///
/// When the database fails; nothing is undone then, and the old tables
/// stay in the aside schemas.
pub fn put_back(datastore: &Datastore, replaced: &[Replaced]) -> Result<(), Error> {
    let Datastore {
        psql,
        db,
        lock_timeout,
    } = datastore;
    let failed = |e: Error| {
        context(
            e,
            &format!("putting the datastore's tables back ({db})"),
        )
        .hint("the old tables are still in the gnbr_aside_* schemas; move them back by hand, or run the command again")
    };
    let schemas = aside_schemas(replaced);
    let aside = aside_tables(datastore, &schemas).map_err(failed)?;
    let mut script = String::new();
    for one in replaced.iter().rev() {
        let back: Vec<&Aside> = one
            .moved
            .iter()
            .filter(|old| aside.contains(&(old.schema.clone(), old.table.name.clone())))
            .collect();
        // A table that replaced nothing goes; one that replaced tables goes
        // only when its transaction moved them (committed).
        if one.moved.is_empty() || !back.is_empty() {
            script.push_str(&format!("DROP TABLE IF EXISTS {};\n", one.table.quoted()));
        }
        for old in back {
            script.push_str(&format!(
                "ALTER TABLE {}.{} SET SCHEMA {};\n",
                ident(&old.schema),
                ident(&old.table.name),
                ident(&old.table.schema)
            ));
        }
    }
    for schema in &schemas {
        script.push_str(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE;\n",
            ident(schema)
        ));
    }
    if script.is_empty() {
        return Ok(());
    }
    run_script(psql, db, *lock_timeout, script)
        .map(drop)
        .map_err(failed)
}

/// Drops the old tables `replaced` moved aside, and their aside schemas,
/// once the restore committed. Nothing else is dropped with them: when a
/// view or another table's foreign key still uses an old table, they all
/// stay.
///
/// # Errors
///
/// When the database fails or something still uses an old table; the
/// restored tables stay, and so do the aside schemas.
pub fn drop_replaced(datastore: &Datastore, replaced: &[Replaced]) -> Result<(), Error> {
    let old: Vec<String> = replaced
        .iter()
        .flat_map(|r| &r.moved)
        .map(|old| format!("{}.{}", ident(&old.schema), ident(&old.table.name)))
        .collect();
    let mut script = String::new();
    if !old.is_empty() {
        script.push_str(&format!("DROP TABLE IF EXISTS {};\n", old.join(", ")));
    }
    for schema in aside_schemas(replaced) {
        script.push_str(&format!("DROP SCHEMA IF EXISTS {};\n", ident(&schema)));
    }
    if script.is_empty() {
        return Ok(());
    }
    let Datastore {
        psql,
        db,
        lock_timeout,
    } = datastore;
    run_script(psql, db, *lock_timeout, script).map(drop).map_err(|e| {
        context(e, &format!("dropping the old datastore tables ({db})"))
            .hint("the old tables stay in the gnbr_aside_* schemas: point the views or foreign keys that use them at the restored tables, then DROP SCHEMA … CASCADE")
    })
}

/// The aside schemas `replaced` moved tables into, each once, in order.
fn aside_schemas(replaced: &[Replaced]) -> Vec<String> {
    let mut schemas: Vec<String> = Vec::new();
    for old in replaced.iter().flat_map(|r| &r.moved) {
        if !schemas.contains(&old.schema) {
            schemas.push(old.schema.clone());
        }
    }
    schemas
}

/// The tables (schema, name) now in `schemas`.
fn aside_tables(datastore: &Datastore, schemas: &[String]) -> Result<Vec<(String, String)>, Error> {
    if schemas.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = schemas.iter().map(|s| literal(s)).collect();
    let output = run_script(
        &datastore.psql,
        &datastore.db,
        datastore.lock_timeout,
        format!(
            "SELECT coalesce(jsonb_agg(jsonb_build_array(n.nspname, c.relname)), '[]') \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname IN ({});\n",
            list.join(", ")
        ),
    )?;
    serde_json::from_str(output.trim()).map_err(|_| unexpected(&datastore.psql, &output))
}

/// How feeding a dump to psql ended.
pub(super) enum Fed {
    /// All of it went in, closing line included, or psql stopped reading
    /// (it failed: its exit status tells).
    Sent,
    /// It ended without pg_dump's closing line.
    Truncated,
    /// Reading it failed.
    Read(io::Error),
}

/// Copies `sql` into `stdin` (psql's), watching for pg_dump's closing line.
pub(super) fn feed(sql: &mut impl Read, stdin: &mut impl Write) -> Fed {
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

#[cfg(test)]
mod tests {
    use super::TrailerWatch;

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
}
