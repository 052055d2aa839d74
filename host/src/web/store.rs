//! The admin page's state in one SQLite file: backup definitions, runs and
//! their logs, sessions.

use std::{
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard, PoisonError},
};

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::{
    errors::{Error, ErrorKind},
    retention::KeepPolicy,
};

/// The database file inside `[serve] state_dir`.
pub const DB_FILE: &str = "gnbr-serve.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS backups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    base_folder TEXT NOT NULL,
    skip_geoserver INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    location TEXT,
    last_run INTEGER,
    schedule TEXT,
    keep_last INTEGER NOT NULL DEFAULT 0,
    keep_daily INTEGER NOT NULL DEFAULT 0,
    keep_weekly INTEGER NOT NULL DEFAULT 0,
    keep_monthly INTEGER NOT NULL DEFAULT 0,
    schedule_checked INTEGER,
    schedule_pending INTEGER,
    encrypt INTEGER NOT NULL DEFAULT 0,
    recipients TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    backup_id INTEGER,
    backup_name TEXT NOT NULL,
    by_user TEXT NOT NULL,
    archive TEXT,
    sha256 TEXT,
    started INTEGER NOT NULL,
    finished INTEGER,
    status TEXT NOT NULL,
    message TEXT,
    details TEXT,
    plan_run INTEGER,
    confirmed_by INTEGER,
    warnings TEXT,
    frozen TEXT
);
CREATE TABLE IF NOT EXISTS log_lines (
    run_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    csrf TEXT NOT NULL,
    expires INTEGER NOT NULL,
    checked INTEGER NOT NULL DEFAULT 0
);
DROP TABLE IF EXISTS login_failures;
";

/// The open database.
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// A backup definition: what to back up where, and its last archive.
#[derive(Debug, Clone, Serialize)]
pub struct Backup {
    /// Its id.
    pub id: i64,
    /// Its name, unique.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The folder archives are written into.
    pub base_folder: String,
    /// Leave GeoServer out (`--skip-geoserver`).
    pub skip_geoserver: bool,
    /// When it was last edited or backed up (seconds since the epoch).
    pub updated: i64,
    /// The archive of its last successful backup.
    pub location: Option<String>,
    /// Its last run.
    pub last_run: Option<i64>,
    /// When it runs by itself: five cron fields, in UTC.
    pub schedule: Option<String>,
    /// What its folder keeps after each successful backup (every rule off: all).
    pub keep: KeepPolicy,
    /// Until when the scheduler has looked for its due times (the
    /// scheduler's clock, seconds since the epoch).
    pub schedule_checked: Option<i64>,
    /// The due time of a scheduled run waiting for another run to end.
    pub schedule_pending: Option<i64>,
    /// Whether its runs write encrypted archives (`.zip.age`, `--encrypt`).
    pub encrypt: bool,
    /// The age recipients (`age1...`, public keys) its encrypted archives
    /// are written for; none: the passphrase in gnbr serve's `GNBR_PASSPHRASE`.
    pub recipients: Vec<String>,
}

impl Backup {
    /// Whether its base folder is a bucket's prefix (`s3://bucket/prefix`).
    pub fn in_bucket(&self) -> bool {
        crate::storage::BucketUrl::parse(Path::new(&self.base_folder)).is_some()
    }
}

/// The fields of a backup definition that the admin edits.
#[derive(Debug, Clone)]
pub struct BackupFields {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Base folder.
    pub base_folder: String,
    /// Leave GeoServer out.
    pub skip_geoserver: bool,
    /// Schedule (five cron fields, UTC), if any.
    pub schedule: Option<String>,
    /// Retention policy applied after each successful backup.
    pub keep: KeepPolicy,
    /// Encrypt its archives.
    pub encrypt: bool,
    /// Their age recipients; none: the passphrase of the server's environment.
    pub recipients: Vec<String>,
}

/// Who starts the runs of a schedule (no GeoNode username has parentheses).
pub const SCHEDULER: &str = "(schedule)";

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// `gnbr backup`.
    Backup,
    /// `gnbr restore --dry-run`: the plan shown before a restore is confirmed.
    Plan,
    /// `gnbr restore`.
    Restore,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Going on.
    Running,
    /// Done.
    Succeeded,
    /// Done, with warnings (kept with the run).
    SucceededWithWarnings,
    /// Failed; its message says why.
    Failed,
    /// `gnbr serve` stopped while it ran.
    Interrupted,
    /// Cancelled (its page's Cancel, or `gnbr serve` stopping); what it
    /// began was undone, its message says by whom.
    Cancelled,
    /// Not a run: scheduled runs that did not happen (`gnbr serve` was
    /// not running, or the machine slept); its message says how many and when.
    Missed,
}

impl Status {
    /// Whether the run did its work (with or without warnings).
    pub fn succeeded(self) -> bool {
        matches!(self, Status::Succeeded | Status::SucceededWithWarnings)
    }
}

/// One run of a backup, plan or restore.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// Its id.
    pub id: i64,
    /// What it does.
    pub kind: RunKind,
    /// The definition it ran for (gone if deleted since).
    pub backup_id: Option<i64>,
    /// That definition's name at the time.
    pub backup_name: String,
    /// The GeoNode superuser who started it.
    pub by_user: String,
    /// The archive written or restored.
    pub archive: Option<String>,
    /// The archive's sha256 (plans and restores).
    pub sha256: Option<String>,
    /// When it started (seconds since the epoch).
    pub started: i64,
    /// When it ended.
    pub finished: Option<i64>,
    /// Where it is.
    pub status: Status,
    /// Its status as the page says it (`planned` for a plan that succeeded).
    pub label: String,
    /// A failure's message, as the command line prints it.
    pub message: Option<String>,
    /// Its report, as JSON (handed to templates on its own, see `template_value`).
    #[serde(skip)]
    pub details: Option<serde_json::Value>,
    /// For a restore: the plan the admin confirmed.
    pub plan_run: Option<i64>,
    /// For a plan: the restore that confirmed it.
    pub confirmed_by: Option<i64>,
    /// The warnings it gave.
    pub warnings: Vec<String>,
    /// For a plan: what decides its restore (see `web::frozen`).
    #[serde(skip)]
    pub frozen: Option<serde_json::Value>,
}

/// A run about to start.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// What it does.
    pub kind: RunKind,
    /// For which definition.
    pub backup_id: i64,
    /// Its name.
    pub backup_name: String,
    /// Who starts it.
    pub by_user: String,
    /// The archive, when known before the run.
    pub archive: Option<String>,
    /// Its sha256, when known before the run.
    pub sha256: Option<String>,
    /// The plan confirmed (restores).
    pub plan_run: Option<i64>,
}

/// A logged-in admin.
#[derive(Debug, Clone)]
pub struct Session {
    /// The GeoNode username.
    pub username: String,
    /// The token every form of this session carries.
    pub csrf: String,
    /// When GeoNode last confirmed the user is an active superuser.
    pub checked: i64,
}

impl Store {
    /// Opens (creating) the database in `dir`, readable by its owner only;
    /// runs left `running` by a `gnbr serve` that stopped are marked interrupted.
    ///
    /// # Errors
    ///
    /// When the folder or the database cannot be created or read.
    pub fn open(dir: &Path, now: i64) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::new(
                ErrorKind::Usage,
                format!(
                    "cannot create the admin page's state folder {}: {e}",
                    dir.display()
                ),
            )
            .hint("set settings.ini [serve] state_dir to a folder gnbr may write")
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|e| db_error(&path, &e))?;
        let store = Self {
            path,
            conn: Mutex::new(conn),
        };
        store.with(|c| {
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            c.execute_batch(SCHEMA)?;
            // Sessions of a gnbr before re-checks: checked long ago, so at once.
            add_column(c, "sessions", "checked", "INTEGER NOT NULL DEFAULT 0")?;
            // Runs of a gnbr before warnings and frozen plans: none kept.
            add_column(c, "runs", "warnings", "TEXT")?;
            add_column(c, "runs", "frozen", "TEXT")?;
            // Definitions of a gnbr before schedules: none, every archive kept.
            add_column(c, "backups", "schedule", "TEXT")?;
            for rule in ["keep_last", "keep_daily", "keep_weekly", "keep_monthly"] {
                add_column(c, "backups", rule, "INTEGER NOT NULL DEFAULT 0")?;
            }
            add_column(c, "backups", "schedule_checked", "INTEGER")?;
            add_column(c, "backups", "schedule_pending", "INTEGER")?;
            // Definitions of a gnbr before encrypted archives on the page: plain ones.
            add_column(c, "backups", "encrypt", "INTEGER NOT NULL DEFAULT 0")?;
            add_column(c, "backups", "recipients", "TEXT NOT NULL DEFAULT ''")?;
            c.execute(
                "UPDATE runs SET status = 'interrupted', finished = ?1, \
                 message = 'gnbr serve stopped while this ran; the target is as the run left it \
                 (a restore is all or nothing)' WHERE status = 'running'",
                params![now],
            )?;
            Ok(())
        })?;
        Ok(store)
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let conn = self.lock();
        f(&conn).map_err(|e| db_error(&self.path, &e))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every backup definition, by name.
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn backups(&self) -> Result<Vec<Backup>, Error> {
        self.with(|c| {
            c.prepare(&format!("{BACKUP_COLUMNS} ORDER BY name"))?
                .query_map([], backup_row)?
                .collect()
        })
    }

    /// One backup definition.
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn backup(&self, id: i64) -> Result<Option<Backup>, Error> {
        self.with(|c| {
            c.query_row(&format!("{BACKUP_COLUMNS} WHERE id = ?1"), [id], backup_row)
                .optional()
        })
    }

    /// Adds a definition; returns its id. Its schedule's due times count
    /// from `schedule_now` (the scheduler's clock).
    ///
    /// # Errors
    ///
    /// When the name is taken, or the database cannot be written.
    pub fn add_backup(
        &self,
        fields: &BackupFields,
        now: i64,
        schedule_now: i64,
    ) -> Result<i64, Error> {
        self.unique_name(fields, None)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO backups (name, description, base_folder, skip_geoserver, updated, \
                 schedule, keep_last, keep_daily, keep_weekly, keep_monthly, schedule_checked, \
                 encrypt, recipients) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    fields.name,
                    fields.description,
                    fields.base_folder,
                    fields.skip_geoserver,
                    now,
                    fields.schedule,
                    fields.keep.last,
                    fields.keep.daily,
                    fields.keep.weekly,
                    fields.keep.monthly,
                    schedule_now,
                    fields.encrypt,
                    fields.recipients.join("\n")
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Changes a definition (its archives stay where they are). A changed
    /// schedule's due times count from `schedule_now`; without a schedule,
    /// no scheduled run waits.
    ///
    /// # Errors
    ///
    /// When the name is taken, or the database cannot be written.
    pub fn update_backup(
        &self,
        id: i64,
        fields: &BackupFields,
        now: i64,
        schedule_now: i64,
    ) -> Result<(), Error> {
        self.unique_name(fields, Some(id))?;
        self.with(|c| {
            c.execute(
                "UPDATE backups SET name = ?1, description = ?2, base_folder = ?3, \
                 skip_geoserver = ?4, updated = ?5, \
                 schedule_checked = CASE WHEN schedule IS ?6 THEN schedule_checked ELSE ?7 END, \
                 schedule_pending = CASE WHEN ?6 IS NULL THEN NULL ELSE schedule_pending END, \
                 schedule = ?6, keep_last = ?8, keep_daily = ?9, keep_weekly = ?10, \
                 keep_monthly = ?11, encrypt = ?13, recipients = ?14 WHERE id = ?12",
                params![
                    fields.name,
                    fields.description,
                    fields.base_folder,
                    fields.skip_geoserver,
                    now,
                    fields.schedule,
                    schedule_now,
                    fields.keep.last,
                    fields.keep.daily,
                    fields.keep.weekly,
                    fields.keep.monthly,
                    id,
                    fields.encrypt,
                    fields.recipients.join("\n")
                ],
            )
            .map(drop)
        })
    }

    /// Notes that the scheduler looked for definition `id`'s due times
    /// until `checked`, and the due time of its run waiting, if any.
    ///
    /// # Errors
    ///
    /// When the database cannot be written.
    pub fn schedule_looked(
        &self,
        id: i64,
        checked: i64,
        pending: Option<i64>,
    ) -> Result<(), Error> {
        self.with(|c| {
            c.execute(
                "UPDATE backups SET schedule_checked = ?1, schedule_pending = ?2 WHERE id = ?3",
                params![checked, pending, id],
            )
            .map(drop)
        })
    }

    /// Records `count` scheduled runs of `backup` that did not happen,
    /// from `first` on, as a `missed` entry of the runs list (its details:
    /// `{"missed": count}`); returns its id.
    ///
    /// # Errors
    ///
    /// When the database cannot be written.
    pub fn record_missed(
        &self,
        backup: &Backup,
        (count, first): (u64, i64),
        message: &str,
        now: i64,
    ) -> Result<i64, Error> {
        let details = serde_json::json!({ "missed": count }).to_string();
        self.with(|c| {
            c.execute(
                "INSERT INTO runs (kind, backup_id, backup_name, by_user, started, finished, \
                 status, message, details) VALUES ('backup', ?1, ?2, ?3, ?4, ?5, 'missed', ?6, ?7)",
                params![
                    backup.id,
                    backup.name,
                    SCHEDULER,
                    first,
                    now,
                    message,
                    details
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// The latest `missed` entry of definition `id`.
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn latest_missed(&self, id: i64) -> Result<Option<Run>, Error> {
        self.with(|c| {
            c.query_row(
                &format!(
                    "{RUN_COLUMNS} WHERE backup_id = ?1 AND status = 'missed' ORDER BY id DESC LIMIT 1"
                ),
                [id],
                run_row,
            )
            .optional()
        })
    }

    fn unique_name(&self, fields: &BackupFields, id: Option<i64>) -> Result<(), Error> {
        let taken = self.with(|c| {
            c.query_row(
                "SELECT count(*) FROM backups WHERE name = ?1 AND id IS NOT ?2",
                params![fields.name, id],
                |r| r.get::<_, i64>(0),
            )
        })?;
        if taken > 0 {
            return Err(Error::new(
                ErrorKind::Usage,
                format!("a backup named `{}` exists already", fields.name),
            )
            .hint("choose another name"));
        }
        Ok(())
    }

    /// Forgets a definition's location (its archive was deleted).
    ///
    /// # Errors
    ///
    /// When the database cannot be written.
    pub fn forget_location(&self, id: i64) -> Result<(), Error> {
        self.with(|c| {
            c.execute("UPDATE backups SET location = NULL WHERE id = ?1", [id])
                .map(drop)
        })
    }

    /// Deletes a definition; its archives and its runs' history stay.
    ///
    /// # Errors
    ///
    /// When the database cannot be written.
    pub fn delete_backup(&self, id: i64) -> Result<(), Error> {
        self.with(|c| {
            c.execute("DELETE FROM backups WHERE id = ?1", [id])
                .map(drop)
        })
    }

    /// Records a run as started; returns its id.
    ///
    /// # Errors
    ///
    /// When the database cannot be written.
    pub fn start_run(&self, run: &NewRun, now: i64) -> Result<i64, Error> {
        self.with(|c| {
            c.execute(
                "INSERT INTO runs (kind, backup_id, backup_name, by_user, archive, sha256, started, \
                 status, plan_run) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8)",
                params![
                    run.kind.name(),
                    run.backup_id,
                    run.backup_name,
                    run.by_user,
                    run.archive,
                    run.sha256,
                    now,
                    run.plan_run
                ],
            )?;
            let id = c.last_insert_rowid();
            c.execute(
                "UPDATE backups SET last_run = ?1 WHERE id = ?2",
                params![id, run.backup_id],
            )?;
            if let Some(plan) = run.plan_run {
                c.execute(
                    "UPDATE runs SET confirmed_by = ?1 WHERE id = ?2",
                    params![id, plan],
                )?;
            }
            Ok(id)
        })
    }

    /// Records how a run ended. A backup's archive becomes its definition's location.
    ///
    /// # Errors
    ///
    /// When the database cannot be written.
    pub fn finish_run(&self, id: i64, outcome: &Outcome, now: i64) -> Result<(), Error> {
        let (status, message) = match &outcome.error {
            None if outcome.warnings.is_empty() => (Status::Succeeded, None),
            None => (Status::SucceededWithWarnings, None),
            Some(message) if outcome.cancelled => (Status::Cancelled, Some(message.as_str())),
            Some(message) => (Status::Failed, Some(message.as_str())),
        };
        let details = outcome.details.as_ref().map(ToString::to_string);
        let warnings = (!outcome.warnings.is_empty())
            .then(|| serde_json::Value::from(outcome.warnings.clone()).to_string());
        let frozen = outcome.frozen.as_ref().map(ToString::to_string);
        self.with(|c| {
            c.execute(
                "UPDATE runs SET status = ?1, message = ?2, finished = ?3, details = ?4, \
                 archive = coalesce(?5, archive), sha256 = coalesce(?6, sha256), warnings = ?7, \
                 frozen = ?8 WHERE id = ?9",
                params![
                    status_text(status),
                    message,
                    now,
                    details,
                    outcome.archive,
                    outcome.sha256,
                    warnings,
                    frozen,
                    id
                ],
            )?;
            if outcome.error.is_none() {
                c.execute(
                    "UPDATE backups SET location = ?1, updated = ?2 \
                     WHERE id = (SELECT backup_id FROM runs WHERE id = ?3 AND kind = 'backup')",
                    params![outcome.archive, now, id],
                )?;
            }
            Ok(())
        })
    }

    /// One run.
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn run(&self, id: i64) -> Result<Option<Run>, Error> {
        self.with(|c| {
            c.query_row(&format!("{RUN_COLUMNS} WHERE id = ?1"), [id], run_row)
                .optional()
        })
    }

    /// The newest runs first, of one kind or all.
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn runs(&self, kind: Option<RunKind>, limit: i64) -> Result<Vec<Run>, Error> {
        self.with(|c| {
            c.prepare(&format!(
                "{RUN_COLUMNS} WHERE ?1 IS NULL OR kind = ?1 ORDER BY id DESC LIMIT ?2"
            ))?
            .query_map(params![kind.map(RunKind::name), limit], run_row)?
            .collect()
        })
    }

    /// Adds a line to a run's log.
    ///
    /// # Errors
    ///
    /// When the database cannot be written.
    pub fn append_log(&self, run: i64, line: &str, now: i64) -> Result<(), Error> {
        self.with(|c| {
            c.execute(
                "INSERT INTO log_lines (run_id, seq, at, line) VALUES \
                 (?1, (SELECT coalesce(max(seq), 0) + 1 FROM log_lines WHERE run_id = ?1), ?2, ?3)",
                params![run, now, line],
            )
            .map(drop)
        })
    }

    /// A run's log lines after the first `from`.
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn log(&self, run: i64, from: i64) -> Result<Vec<String>, Error> {
        self.with(|c| {
            c.prepare("SELECT line FROM log_lines WHERE run_id = ?1 AND seq > ?2 ORDER BY seq")?
                .query_map(params![run, from], |r| r.get(0))?
                .collect()
        })
    }

    /// Keeps a session, by its token's sha256.
    ///
    /// # Errors
    ///
    /// When the database cannot be written.
    pub fn add_session(
        &self,
        token_sha256: &str,
        session: &Session,
        expires: i64,
    ) -> Result<(), Error> {
        self.with(|c| {
            c.execute(
                "INSERT INTO sessions (token_sha256, username, csrf, expires, checked) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    token_sha256,
                    session.username,
                    session.csrf,
                    expires,
                    session.checked
                ],
            )
            .map(drop)
        })
    }

    /// The session of a token's sha256, unless expired (expired ones are removed).
    ///
    /// # Errors
    ///
    /// When the database cannot be read.
    pub fn session(&self, token_sha256: &str, now: i64) -> Result<Option<Session>, Error> {
        self.with(|c| {
            c.execute("DELETE FROM sessions WHERE expires <= ?1", [now])?;
            c.query_row(
                "SELECT username, csrf, checked FROM sessions WHERE token_sha256 = ?1",
                [token_sha256],
                |r| {
                    Ok(Session {
                        username: r.get(0)?,
                        csrf: r.get(1)?,
                        checked: r.get(2)?,
                    })
                },
            )
            .optional()
        })
    }

    /// Ends a session.
    ///
    /// # Errors
    ///
    /// When the database cannot be written.
    pub fn remove_session(&self, token_sha256: &str) -> Result<(), Error> {
        self.with(|c| {
            c.execute(
                "DELETE FROM sessions WHERE token_sha256 = ?1",
                [token_sha256],
            )
            .map(drop)
        })
    }

    /// Notes that GeoNode confirmed the user of a session at `now`.
    ///
    /// # Errors
    ///
    /// When the database cannot be written.
    pub fn session_checked(&self, token_sha256: &str, now: i64) -> Result<(), Error> {
        self.with(|c| {
            c.execute(
                "UPDATE sessions SET checked = ?1 WHERE token_sha256 = ?2",
                params![now, token_sha256],
            )
            .map(drop)
        })
    }

    /// Ends every session of `username` (GeoNode no longer lets the user in).
    ///
    /// # Errors
    ///
    /// When the database cannot be written.
    pub fn remove_sessions_of(&self, username: &str) -> Result<(), Error> {
        self.with(|c| {
            c.execute("DELETE FROM sessions WHERE username = ?1", [username])
                .map(drop)
        })
    }
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The error's message, as the command line prints it; `None`: it succeeded.
    pub error: Option<String>,
    /// Whether the error is that it was cancelled.
    pub cancelled: bool,
    /// The archive written or restored.
    pub archive: Option<String>,
    /// Its sha256.
    pub sha256: Option<String>,
    /// The report.
    pub details: Option<serde_json::Value>,
    /// The warnings it gave, in order.
    pub warnings: Vec<String>,
    /// For a plan: what decides its restore, compared again on confirmation.
    pub frozen: Option<serde_json::Value>,
}

const BACKUP_COLUMNS: &str = "SELECT id, name, description, base_folder, skip_geoserver, updated, \
                              location, last_run, schedule, keep_last, keep_daily, keep_weekly, \
                              keep_monthly, schedule_checked, schedule_pending, encrypt, \
                              recipients FROM backups";

fn backup_row(r: &Row<'_>) -> rusqlite::Result<Backup> {
    Ok(Backup {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        base_folder: r.get(3)?,
        skip_geoserver: r.get(4)?,
        updated: r.get(5)?,
        location: r.get(6)?,
        last_run: r.get(7)?,
        schedule: r.get(8)?,
        keep: KeepPolicy {
            last: r.get(9)?,
            daily: r.get(10)?,
            weekly: r.get(11)?,
            monthly: r.get(12)?,
        },
        schedule_checked: r.get(13)?,
        schedule_pending: r.get(14)?,
        encrypt: r.get(15)?,
        recipients: r.get::<_, String>(16)?.lines().map(str::to_owned).collect(),
    })
}

const RUN_COLUMNS: &str = "SELECT id, kind, backup_id, backup_name, by_user, archive, sha256, \
                           started, finished, status, message, details, plan_run, confirmed_by, \
                           warnings, frozen FROM runs";

fn run_row(r: &Row<'_>) -> rusqlite::Result<Run> {
    let kind = match r.get::<_, String>(1)?.as_str() {
        "backup" => RunKind::Backup,
        "plan" => RunKind::Plan,
        _ => RunKind::Restore,
    };
    let status = match r.get::<_, String>(9)?.as_str() {
        "running" => Status::Running,
        "succeeded" => Status::Succeeded,
        "succeeded_with_warnings" => Status::SucceededWithWarnings,
        "failed" => Status::Failed,
        "cancelled" => Status::Cancelled,
        "missed" => Status::Missed,
        _ => Status::Interrupted,
    };
    let details: Option<String> = r.get(11)?;
    let warnings: Option<String> = r.get(14)?;
    let frozen: Option<String> = r.get(15)?;
    Ok(Run {
        label: label(kind, status).to_owned(),
        id: r.get(0)?,
        kind,
        backup_id: r.get(2)?,
        backup_name: r.get(3)?,
        by_user: r.get(4)?,
        archive: r.get(5)?,
        sha256: r.get(6)?,
        started: r.get(7)?,
        finished: r.get(8)?,
        status,
        message: r.get(10)?,
        details: details.and_then(|d| serde_json::from_str(&d).ok()),
        plan_run: r.get(12)?,
        confirmed_by: r.get(13)?,
        warnings: warnings
            .and_then(|w| serde_json::from_str(&w).ok())
            .unwrap_or_default(),
        frozen: frozen.and_then(|f| serde_json::from_str(&f).ok()),
    })
}

/// How the page names a run's status: a plan that succeeded is "planned"
/// (nothing was restored), warnings are said.
fn label(kind: RunKind, status: Status) -> &'static str {
    match (kind, status) {
        (RunKind::Plan, Status::Succeeded) => "planned",
        (RunKind::Plan, Status::SucceededWithWarnings) => "planned, with warnings",
        (_, Status::Running) => "running",
        (_, Status::Succeeded) => "succeeded",
        (_, Status::SucceededWithWarnings) => "succeeded with warnings",
        (_, Status::Failed) => "failed",
        (_, Status::Interrupted) => "interrupted",
        (_, Status::Cancelled) => "cancelled",
        (_, Status::Missed) => "missed",
    }
}

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Running => "running",
        Status::Succeeded => "succeeded",
        Status::SucceededWithWarnings => "succeeded_with_warnings",
        Status::Failed => "failed",
        Status::Interrupted => "interrupted",
        Status::Cancelled => "cancelled",
        Status::Missed => "missed",
    }
}

/// Adds `column` to `table` unless it is there (a database of an older gnbr).
fn add_column(
    c: &Connection,
    table: &str,
    column: &str,
    declaration: &str,
) -> rusqlite::Result<()> {
    let present: i64 = c.query_row(
        "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
        params![table, column],
        |r| r.get(0),
    )?;
    if present == 0 {
        c.execute_batch(&format!(
            "ALTER TABLE {table} ADD COLUMN {column} {declaration}"
        ))?;
    }
    Ok(())
}

impl RunKind {
    /// Its name: `backup`, `plan` or `restore`.
    pub fn name(self) -> &'static str {
        match self {
            RunKind::Backup => "backup",
            RunKind::Plan => "plan",
            RunKind::Restore => "restore",
        }
    }
}

fn db_error(path: &Path, e: &rusqlite::Error) -> Error {
    Error::new(
        ErrorKind::Run,
        format!("the admin page's database {}: {e}", path.display()),
    )
    .hint("check settings.ini [serve] state_dir: gnbr must be able to write there")
}
