//! PostgreSQL's own tools (`pg_dump`, `pg_restore`, `psql`), with
//! credentials passed through the environment (`PGPASSWORD`), never argv.

use std::{
    fmt,
    os::unix::fs::DirBuilderExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use serde::Deserialize;

use crate::{
    errors::{Error, ErrorKind},
    scratch::{numbered, place_new, sync_dir, TempPath},
};

pub mod tables;
pub mod throwaway;

/// A PostgreSQL database and how to connect to it, as Django's settings
/// give it (`DATABASES`, GeoNode's datastore).
#[derive(Clone, Deserialize)]
pub struct Database {
    /// Django's engine.
    pub engine: String,
    /// Database name.
    pub name: String,
    /// Host (empty: the local socket).
    pub host: String,
    /// Port (empty: the default).
    pub port: String,
    /// User.
    pub user: String,
    /// Password: handed to PostgreSQL tools through `PGPASSWORD` only.
    pub password: String,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.is_empty() {
            "local socket"
        } else {
            &self.host
        };
        let port = if self.port.is_empty() {
            String::new()
        } else {
            format!(":{}", self.port)
        };
        write!(
            f,
            "database `{}` on {host}{port} as `{}`",
            self.name, self.user
        )
    }
}

/// A command for `tool` connected to `db`: host, port, user and database
/// as options, the password in the environment; it dies with gnbr.
pub(crate) fn command(tool: &str, db: &Database) -> Command {
    let mut command = Command::new(tool);
    crate::process::die_with_parent(&mut command);
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

/// What to do when a restore gave up waiting for a lock another session
/// holds (`[restore] lock_timeout`).
pub const LOCK_TIMEOUT_HINT: &str = "end that session (stop what runs it, or as a superuser SELECT pg_terminate_backend(PID)), or raise [restore] lock_timeout in settings.ini, then run the restore again; while a restore waits for a lock, the live site's queries on those tables wait behind it";

/// How many names a snapshot tries (`<name>.dump`, `<name>_2.dump`...).
const MAX_SNAPSHOT_NAMES: usize = 1000;

/// Writes a snapshot of `db` (`pg_dump -Fc`, waiting at most `lock_timeout`
/// for each table's lock) to `path`, or the first free of `<stem>_2.dump`,
/// `<stem>_3.dump`... when it is taken (an older snapshot is never
/// overwritten); returns where. Private (0600; its folder 0700 when
/// gnbr creates it), written under a temporary name that is removed if the
/// dump fails or gnbr is stopped, and named only when complete and synced.
///
/// # Errors
///
/// When `pg_dump` is missing or fails, or the file cannot be written.
pub fn snapshot(
    pg_dump: &str,
    db: &Database,
    path: &Path,
    lock_timeout: std::time::Duration,
) -> Result<PathBuf, Error> {
    let write_error = |path: &Path, e: std::io::Error| {
        Error::new(
            ErrorKind::Run,
            format!("cannot write the snapshot {}: {e}", path.display()),
        )
        .hint("free space there, or set [restore] snapshot_dir in settings.ini")
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&parent)
        .map_err(|e| write_error(&parent, e))?;
    let prefix = format!(
        ".{}.gnbr-",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let ((), temp) = TempPath::create(|| {
        let temp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .tempfile_in(&parent)
            .and_then(|f| f.keep().map_err(|e| e.error))
            .map_err(|e| write_error(&parent, e))?;
        Ok(((), temp.1))
    })?;
    // pg_dump truncates the private file gnbr made, which keeps its mode.
    let output = command(pg_dump, db)
        .arg("--format=custom")
        .arg(format!("--lock-wait-timeout={}", lock_timeout.as_millis()))
        .arg("--file")
        .arg(temp.path())
        .arg("--dbname")
        .arg(&db.name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|child| {
            crate::cancel::watch(&child);
            child.wait_with_output()
        })
        .map_err(|e| {
            Error::new(ErrorKind::Usage, format!("cannot run `{pg_dump}`: {e}"))
                .hint("install PostgreSQL's client tools or set [database] pgdump in settings.ini")
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(crate::cancel::or_cancelled(Error::new(
            ErrorKind::Target,
            format!("the snapshot of {db} failed: {}", stderr.trim()),
        )
        .hint("fix the database access, or pass --no-snapshot to restore without one (not recommended)")));
    }
    std::fs::File::open(temp.path())
        .and_then(|f| f.sync_all())
        .map_err(|e| write_error(path, e))?;
    for n in 1..=MAX_SNAPSHOT_NAMES {
        let candidate = numbered(path, n);
        match place_new(temp.path(), &candidate) {
            Ok(()) => {
                sync_dir(&parent)?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(write_error(&candidate, e)),
        }
    }
    Err(Error::new(
        ErrorKind::Run,
        format!(
            "{} and the next {} names are taken",
            path.display(),
            MAX_SNAPSHOT_NAMES - 1
        ),
    )
    .hint("move older snapshots away, or set [restore] snapshot_dir in settings.ini"))
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
