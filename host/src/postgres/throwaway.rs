//! A throwaway database beside a target's (`gnbr verify --restore-check`):
//! created empty on the same server, the target's schema copied into it
//! (`pg_dump --schema-only`, which only reads the target), and dropped when
//! done, on failure, or when gnbr is stopped by a signal.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use super::{
    command,
    tables::{error_lines, ident},
    Database,
};
use crate::{
    errors::{Error, ErrorKind},
    scratch::StopGuard,
};

/// A database gnbr created for a while, dropped when this is dropped.
pub struct ThrowawayDatabase {
    db: Database,
    psql: String,
    /// The database the `CREATE` and `DROP` are sent from: the target's.
    maintenance: Database,
    guard: Option<StopGuard>,
}

impl ThrowawayDatabase {
    /// Creates `name` on `target`'s server, as `target`'s user, and copies
    /// `target`'s schema (tables, sequences, extensions; no owners, grants or
    /// comments) into it, with the rows of the tables `rows_of` only
    /// (`schema.table`); waits at most `lock_timeout` for each of the
    /// target's tables to be read.
    ///
    /// # Errors
    ///
    /// The user may not create databases, or the schema cannot be copied
    /// (the new database is then dropped again).
    pub fn create(
        pg_dump: &str,
        psql: &str,
        target: &Database,
        name: &str,
        rows_of: &[&str],
        lock_timeout: Duration,
    ) -> Result<Self, Error> {
        let db = Database {
            name: name.to_owned(),
            ..target.clone()
        };
        let drop_sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(name));
        let (psql_owned, maintenance) = (psql.to_owned(), target.clone());
        // Created and registered in one step: a signal arriving meanwhile
        // waits for it, then drops the database.
        let ((), guard) = StopGuard::create(
            || {
                sql(psql, target, &format!("CREATE DATABASE {}", ident(name))).map_err(|e| {
                    e.context(format!("cannot create the throwaway database `{name}` beside {target}"))
                        .hint("the target's database user needs the CREATEDB privilege (ALTER ROLE ... CREATEDB), or run without --restore-check")
                })
            },
            move || {
                let _ = sql(&psql_owned, &maintenance, &drop_sql);
            },
        )?;
        let throwaway = Self {
            db,
            psql: psql.to_owned(),
            maintenance: target.clone(),
            guard: Some(guard),
        };
        let schema = ["--schema-only".to_owned()];
        let rows: Vec<String> = std::iter::once("--data-only".to_owned())
            .chain(rows_of.iter().map(|table| format!("--table={table}")))
            .collect();
        for what in [&schema[..], &rows[..]] {
            copy(pg_dump, psql, target, &throwaway.db, what, lock_timeout)?;
        }
        Ok(throwaway)
    }

    /// The database, to connect to.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Drops the database.
    ///
    /// # Errors
    ///
    /// When it cannot be dropped: the error names it, to drop by hand.
    pub fn finish(mut self) -> Result<(), Error> {
        self.guard = None;
        self.drop_now()
    }

    fn drop_now(&self) -> Result<(), Error> {
        let name = &self.db.name;
        sql(
            &self.psql,
            &self.maintenance,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(name)),
        )
        .map_err(|e| {
            e.context(format!("cannot drop the throwaway database `{name}`"))
                .hint(format!(
                    "drop it by hand: DROP DATABASE \"{name}\" WITH (FORCE)"
                ))
        })
    }
}

impl Drop for ThrowawayDatabase {
    fn drop(&mut self) {
        if self.guard.take().is_some() {
            if let Err(e) = self.drop_now() {
                tracing::warn!("{e}");
            }
        }
    }
}

/// Runs one statement with psql, connected to `db`, outside a transaction.
fn sql(psql: &str, db: &Database, statement: &str) -> Result<(), Error> {
    let output = command(psql, db)
        .env("PGDATABASE", &db.name)
        .args([
            "--no-psqlrc",
            "--quiet",
            "--set=ON_ERROR_STOP=1",
            "--command",
        ])
        .arg(statement)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| cannot_run(psql, &e))?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Target,
        format!("psql on {db}: {}", error_lines(&output.stderr)),
    ))
}

/// `pg_dump` of `from` with `what` (`--schema-only`...) piped into psql on
/// `to`, in one transaction.
fn copy(
    pg_dump: &str,
    psql: &str,
    from: &Database,
    to: &Database,
    what: &[String],
    lock_timeout: Duration,
) -> Result<(), Error> {
    let mut dump = command(pg_dump, from);
    dump.env("PGDATABASE", &from.name)
        .args(what)
        .args([
            "--no-owner",
            "--no-privileges",
            "--no-comments",
            "--no-tablespaces",
        ])
        .arg(format!("--lock-wait-timeout={}", lock_timeout.as_millis()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut dumping = dump.spawn().map_err(|e| cannot_run(pg_dump, &e))?;
    let schema = dumping.stdout.take().map_or_else(Stdio::null, Stdio::from);
    let loaded = restore_command(psql, to)
        .stdin(schema)
        .output()
        .map_err(|e| cannot_run(psql, &e));
    let dumped = dumping.wait_with_output();
    let failed = |why: String| {
        Err(Error::new(
            ErrorKind::Target,
            format!("cannot copy {} of {from} into the throwaway `{}`: {why}", what_of(what), to.name),
        )
        .hint("check that the target's database user can read every table of it, and create its extensions (PostGIS) in a new database"))
    };
    // psql's error first: when it stops, pg_dump fails on the broken pipe.
    let loaded = loaded?;
    if !loaded.status.success() {
        return failed(format!("psql: {}", error_lines(&loaded.stderr)));
    }
    match dumped {
        Ok(out) if !out.status.success() => {
            failed(format!("pg_dump: {}", error_lines(&out.stderr)))
        }
        Err(e) => failed(format!("pg_dump: {e}")),
        Ok(_) => Ok(()),
    }
}

/// psql reading a schema on its input into `db`, in one transaction.
fn restore_command(psql: &str, db: &Database) -> Command {
    let mut restore = command(psql, db);
    restore
        .env("PGDATABASE", &db.name)
        .args([
            "--no-psqlrc",
            "--quiet",
            "--set=ON_ERROR_STOP=1",
            "--single-transaction",
            "--file=-",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    restore
}

/// What `pg_dump`'s `what` copies, for messages.
fn what_of(what: &[String]) -> &'static str {
    if what.iter().any(|w| w == "--schema-only") {
        "the schema"
    } else {
        "rows"
    }
}

fn cannot_run(tool: &str, e: &std::io::Error) -> Error {
    Error::new(ErrorKind::Usage, format!("cannot run `{tool}`: {e}"))
        .hint("install PostgreSQL's client tools or set [database] pgdump and psql in settings.ini")
}
