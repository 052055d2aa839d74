//! PostgreSQL's own tools (`pg_dump`, `pg_restore`, `psql`), with
//! credentials passed through the environment (`PGPASSWORD`), never argv.

use std::{
    path::Path,
    process::{Command, Stdio},
};

use crate::{
    errors::{Error, ErrorKind},
    geonode::Database,
};

pub mod tables;

/// A command for `tool` connected to `db`: host, port, user and database
/// as options, the password in the environment.
pub(crate) fn command(tool: &str, db: &Database) -> Command {
    let mut command = Command::new(tool);
    if !db.host.is_empty() {
        command.arg("--host").arg(&db.host);
    }
    if !db.port.is_empty() {
        command.arg("--port").arg(&db.port);
    }
    if !db.user.is_empty() {
        command.arg("--username").arg(&db.user);
    }
    command.arg("--no-password");
    if !db.password.is_empty() {
        command.env("PGPASSWORD", &db.password);
    }
    command
}

/// Writes a snapshot of `db` (`pg_dump -Fc`) to `path`, waiting at most
/// `lock_timeout` for each table's lock.
///
/// # Errors
///
/// When `pg_dump` is missing or fails; a partial file is removed.
pub fn snapshot(
    pg_dump: &str,
    db: &Database,
    path: &Path,
    lock_timeout: std::time::Duration,
) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            Error::new(
                ErrorKind::Run,
                format!("cannot create {}: {e}", parent.display()),
            )
        })?;
    }
    let output = command(pg_dump, db)
        .arg("--format=custom")
        .arg(format!("--lock-wait-timeout={}", lock_timeout.as_millis()))
        .arg("--file")
        .arg(path)
        .arg("--dbname")
        .arg(&db.name)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Error::new(ErrorKind::Usage, format!("cannot run `{pg_dump}`: {e}"))
                .hint("install PostgreSQL's client tools or set [database] pgdump in settings.ini")
        })?;
    if !output.status.success() {
        let _ = std::fs::remove_file(path);
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Error::new(
            ErrorKind::Target,
            format!("the snapshot of {db} failed: {}", stderr.trim()),
        )
        .hint("fix the database access, or pass --no-snapshot to restore without one (not recommended)"));
    }
    Ok(())
}

/// Converts a dump in PostgreSQL's custom format (`pg_dump -Fc`, as
/// GeoNode before 4.2 wrote its vector tables) into plain SQL at `sql`,
/// without owners or grants. Needs no database.
///
/// # Errors
///
/// When `pg_restore` is missing or cannot read the dump.
pub fn custom_dump_to_sql(pg_restore: &str, dump: &Path, sql: &Path) -> Result<(), Error> {
    let output = Command::new(pg_restore)
        .args(["--no-owner", "--no-privileges", "--file"])
        .arg(sql)
        .arg(dump)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Error::new(ErrorKind::Usage, format!("cannot run `{pg_restore}`: {e}")).hint(
                "install PostgreSQL's client tools or set [database] pgrestore in settings.ini",
            )
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(Error::new(
        ErrorKind::Input,
        format!("pg_restore cannot read the dump: {}", stderr.trim()),
    ))
}

/// The version line of a PostgreSQL tool (`pg_dump (PostgreSQL) 15.18`), if it runs.
pub fn tool_version(tool: &str) -> Option<String> {
    let output = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
