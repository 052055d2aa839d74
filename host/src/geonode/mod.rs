//! The bridge to a real GeoNode: its own Python runs `gnbr_django.py`
//! (embedded here) inside Django, and answers in JSON lines.
//!
//! The environment passes through, plus settings.ini `[geonode] env_file`
//! and `DJANGO_SETTINGS_MODULE`. Credentials found there stay in memory and
//! in child environments; they are never printed or logged.

mod dump;
mod env_file;
mod users;

pub use dump::{DumpReceiver, Dumper};

use std::{
    fmt,
    io::{BufRead, BufReader, Lines, Write},
    os::unix::fs::DirBuilderExt,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    sync::Arc,
};

use serde::{Deserialize, Serialize};

use crate::{
    config::GeoNodeSettings,
    errors::{Error, ErrorKind},
    fifo::{self, Served},
    postgres::Database,
    sealed::{self, ScratchKey},
    ui::{Progress, Ui, Unit},
};

const SCRIPT: &str = include_str!("gnbr_django.py");

/// The helper's variable naming the database Django uses instead of its default one.
const DATABASE_NAME_ENV: &str = "GNBR_DATABASE_NAME";

/// A GeoNode install gnbr can run Django code in.
pub struct GeoNode {
    python: PathBuf,
    env: Vec<(String, String)>,
    /// The long-lived helper of [`GeoNode::user`], once started (declared
    /// before `work`: it ends before its folder is removed).
    users: users::UserHelper,
    work: crate::scratch::TempPath,
}

/// What `info` found about the target.
#[derive(Debug, Clone, Deserialize)]
pub struct TargetInfo {
    /// GeoNode's version, e.g. `5.1.1`.
    pub geonode_version: String,
    /// Django's default database.
    pub database: Database,
    /// GeoNode's datastore (`OGC_SERVER['default']['DATASTORE']`), where
    /// GeoServer's vector layers live; `None` when GeoNode has none.
    #[serde(default)]
    pub datastore: Option<Database>,
    /// GeoServer's public URL in GeoNode's settings (`OGC_SERVER['default']['PUBLIC_LOCATION']`).
    #[serde(default)]
    pub geoserver_public_url: Option<String>,
    /// `SITEURL`: the target's public address.
    #[serde(default)]
    pub siteurl: String,
    /// `MEDIA_ROOT`.
    pub media_root: String,
    /// `ASSETS_ROOT`.
    pub assets_root: String,
    /// `MULTILANG_FIELDS`: metadata fields kept per language.
    #[serde(default)]
    pub multilang_fields: Vec<String>,
    /// Whether the database answered.
    pub reachable: bool,
    /// Why it did not.
    #[serde(default)]
    pub problem: Option<String>,
    /// Migrations not applied yet.
    #[serde(default)]
    pub unapplied_migrations: Vec<String>,
    /// Tables a restore replaces.
    #[serde(default)]
    pub tables: usize,
    /// Restores gnbr recorded in this database.
    #[serde(default)]
    pub restores: Vec<RestoreRecord>,
}

impl TargetInfo {
    /// Adds what plugins may need of the target to `context`: its version,
    /// folders, multilingual fields and GeoServer's public URL.
    pub fn add_to_context(&self, context: &mut mangler_api::Context) {
        context.target_version = Some(self.geonode_version.clone());
        for (name, value) in [
            ("multilang_fields", self.multilang_fields.join(",")),
            ("media_root", self.media_root.clone()),
            ("assets_root", self.assets_root.clone()),
        ] {
            context.options.insert(name.to_owned(), value);
        }
        if let Some(url) = &self.geoserver_public_url {
            context
                .options
                .insert("geoserver_public_location".to_owned(), url.clone());
        }
    }

    /// Checks that the target's database answered.
    ///
    /// # Errors
    ///
    /// When it did not, with Django's reason.
    pub fn ensure_reachable(&self) -> Result<(), Error> {
        if self.reachable {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Target,
            format!(
                "the target's {} cannot be reached: {}",
                self.database,
                self.problem.as_deref().unwrap_or("no answer")
            ),
        )
        .hint("start the database, or fix DATABASE_URL in settings.ini [geonode] env_file"))
    }
}

/// One restore gnbr recorded in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRecord {
    /// The archive's file name.
    pub archive: String,
    /// The archive's sha256.
    pub sha256: String,
    /// When.
    pub restored_at: String,
    /// The gnbr that did it.
    pub gnbr_version: String,
    /// The GeoNode version the backup came from, when known.
    pub source_version: Option<String>,
    /// The target's GeoNode version.
    pub target_version: Option<String>,
    /// The run's id, which its swap journal carries (none in older rows).
    #[serde(default)]
    pub run_id: Option<String>,
}

/// A GeoNode user's login row, for `gnbr serve`'s login.
#[derive(Clone, Deserialize)]
pub struct UserRow {
    /// The username, as stored.
    pub username: String,
    /// Django's password hash (`algorithm$iterations$salt$hash`).
    pub password: String,
    /// May administer everything.
    pub is_superuser: bool,
    /// May log in.
    pub is_active: bool,
}

impl fmt::Debug for UserRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRow")
            .field("username", &self.username)
            .field("is_superuser", &self.is_superuser)
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

/// What `load` needs: the staged fixtures, what they hold, the record to keep.
#[derive(Debug, Clone, Serialize)]
pub struct LoadRequest {
    /// The archive the fixtures came from, as messages name it.
    pub archive: String,
    /// Fixture files, in load order (one loaddata call).
    pub fixtures: Vec<LoadFixture>,
    /// Objects per model in them, to check row counts.
    pub expected: std::collections::BTreeMap<String, u64>,
    /// Import without truncating.
    pub merge: bool,
    /// A full load may insert in batches (`[restore] batched_load`).
    pub batched: bool,
    /// How long any lock wait may take (`[restore] lock_timeout`), in ms.
    pub lock_timeout_ms: u64,
    /// `--only-listed-fixtures`: the `apps` entries (`app` or
    /// `app.Model`) whose models' tables alone are emptied, with those of
    /// the models the fixtures hold; `None` empties every table.
    pub only: Option<Vec<String>>,
    /// The restore record.
    pub record: RestoreRecord,
    /// The key the staged fixtures are sealed with, if they are: Django
    /// then reads them through FIFOs gnbr serves them decrypted into.
    #[serde(skip)]
    pub sealed: Option<Arc<ScratchKey>>,
}

/// A staged fixture file of a load, and the archive entry it came from:
/// a failed load names the object as `<archive>: <entry> object #N`.
#[derive(Debug, Clone, Serialize)]
pub struct LoadFixture {
    /// The staged file.
    pub path: PathBuf,
    /// Its entry in the archive (`fixtures/base.json`).
    pub entry: String,
    /// The objects it holds: the load's progress counts them.
    pub objects: u64,
}

/// What the helper says during a load.
#[derive(Debug)]
pub enum LoadEvent {
    /// A step done: `truncated`, `loaded`, `reindexed`.
    Step(String),
    /// How far a stage is.
    Progress(HelperProgress),
}

/// How far the helper is in a stage (`loading` objects, `reindexing`
/// resources), at most about once a second.
#[derive(Debug, Clone, Deserialize)]
pub struct HelperProgress {
    /// The stage.
    pub stage: String,
    /// What it counts.
    pub unit: Unit,
    /// Done so far.
    pub done: u64,
    /// Of how many, when known.
    #[serde(default)]
    pub total: Option<u64>,
    /// The fixture being loaded (its archive entry).
    #[serde(default)]
    pub fixture: Option<String>,
    /// Its objects loaded so far.
    #[serde(default)]
    pub fixture_done: Option<u64>,
    /// Its objects.
    #[serde(default)]
    pub fixture_total: Option<u64>,
}

impl HelperProgress {
    /// The fixture being loaded and its count: `fixtures/base.json 200 of 5,000`.
    pub fn fixture_detail(&self) -> Option<String> {
        let fixture = self.fixture.as_deref()?;
        Some(match (self.fixture_done, self.fixture_total) {
            (Some(done), Some(total)) => format!(
                "{fixture} {} of {}",
                crate::ui::thousands(done),
                crate::ui::thousands(total)
            ),
            (Some(done), None) => format!("{fixture} {}", crate::ui::thousands(done)),
            _ => fixture.to_owned(),
        })
    }
}

/// Shows a load as it goes: each step as a status line `{prefix}: {step}`,
/// its counts as progress from the helper's first count on (not while
/// Django starts); the progress ends when this is dropped.
pub fn shown_load(ui: Ui, prefix: &str) -> impl FnMut(LoadEvent) + '_ {
    let mut progress: Option<Progress> = None;
    move |event| match event {
        LoadEvent::Step(step) => {
            let line = format!("{prefix}: {step}");
            match &progress {
                Some(progress) => progress.info(&line),
                None => ui.info(&line),
            }
        }
        LoadEvent::Progress(counts) => {
            let shown = progress
                .get_or_insert_with(|| ui.progress(&counts.stage, counts.unit, counts.total));
            shown.at(&counts.stage, counts.unit, counts.total);
            if let Some(detail) = counts.fixture_detail() {
                shown.detail(&detail);
            }
            shown.update(counts.done);
        }
    }
}

/// A load done inside an open transaction, waiting for commit or rollback.
pub struct PendingLoad {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    stderr_log: PathBuf,
    /// Rows per table after the load.
    pub rows: serde_json::Value,
    /// The sealed fixtures served to Django, until the commit or rollback.
    served: Option<Served>,
}

#[derive(Deserialize)]
struct Event {
    event: String,
    #[serde(default)]
    message: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl GeoNode {
    /// Prepares to drive the GeoNode of `settings`.
    ///
    /// # Errors
    ///
    /// When `[geonode] python` is missing or the env file is invalid.
    pub fn new(settings: &GeoNodeSettings) -> Result<Self, Error> {
        let python = settings.python.clone().ok_or_else(|| {
            Error::new(ErrorKind::Usage, "settings.ini has no [geonode] python").hint(
                "set it to the Python of the GeoNode install, e.g. /opt/geonode/venv/bin/python",
            )
        })?;
        if !python.exists() {
            return Err(Error::new(
                ErrorKind::Target,
                format!("[geonode] python {} does not exist", python.display()),
            )
            .hint("point it at the Python of the GeoNode install (its virtualenv's bin/python)"));
        }
        let mut env = match &settings.env_file {
            Some(path) => env_file::read(path)?,
            None => Vec::new(),
        };
        env.push((
            "DJANGO_SETTINGS_MODULE".to_owned(),
            settings.settings_module.clone(),
        ));
        let work = crate::scratch::temp_dir("gnbr-django-")?;
        std::fs::write(work.path().join("gnbr_django.py"), SCRIPT).map_err(|e| {
            Error::new(
                ErrorKind::Run,
                format!("cannot write gnbr's Django helper: {e}"),
            )
        })?;
        Ok(Self {
            python,
            env,
            users: users::UserHelper::default(),
            work,
        })
    }

    /// Prepares to drive the GeoNode of `settings` with another database of
    /// the same server as its default one (`database`: a throwaway copy).
    ///
    /// # Errors
    ///
    /// As [`GeoNode::new`].
    pub fn on_database(settings: &GeoNodeSettings, database: &str) -> Result<Self, Error> {
        let mut geonode = Self::new(settings)?;
        geonode
            .env
            .push((DATABASE_NAME_ENV.to_owned(), database.to_owned()));
        Ok(geonode)
    }

    /// A variable of the `[geonode] env_file`, when it sets it.
    pub fn env_file_var(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Reads the target's version, database, folders and restore history.
    ///
    /// # Errors
    ///
    /// When Django cannot start with these settings.
    pub fn info(&self) -> Result<TargetInfo, Error> {
        target_info(self.run_once(&["info"], "info")?)
    }

    /// The highest pk of every model with rows (`app.model` -> pk).
    ///
    /// # Errors
    ///
    /// When Django cannot start or the database cannot be read.
    pub fn max_pks(&self) -> Result<std::collections::BTreeMap<String, i64>, Error> {
        let event = self.run_once(&["maxpks"], "maxpks")?;
        serde_json::from_value(event.rest.get("maxpks").cloned().unwrap_or_default()).map_err(|e| {
            Error::new(
                ErrorKind::Target,
                format!("gnbr's Django helper answered oddly: {e}"),
            )
        })
    }

    /// The login row of `username` (Django's own lookup), if the user
    /// exists: asked of one long-lived Django helper, started on first use.
    ///
    /// # Errors
    ///
    /// When Django cannot start or the database cannot be read.
    pub fn user(&self, username: &str) -> Result<Option<UserRow>, Error> {
        self.users.find(self, username)
    }

    /// Whether the restore run `run_id` committed (its `gnbr_restore_log`
    /// row exists): how an interrupted run's journal is decided.
    ///
    /// # Errors
    ///
    /// When Django cannot start or the database cannot be read.
    pub fn run_committed(&self, run_id: &str) -> Result<bool, Error> {
        let event = self.run_once(&["run", run_id], "run")?;
        Ok(event.rest.get("found") == Some(&serde_json::Value::Bool(true)))
    }

    /// Loads fixtures in one transaction and stops before committing.
    /// `progress` hears each step (`truncated`, `loaded`, `reindexed`),
    /// with its message when it has one (`reindex_fallback: why`), and how
    /// far the load and the reindex are.
    ///
    /// # Errors
    ///
    /// The load's failure (rolled back), naming fixture (by its archive and
    /// entry), object and constraint.
    pub fn load(
        &self,
        request: &LoadRequest,
        progress: &mut dyn FnMut(LoadEvent),
    ) -> Result<PendingLoad, Error> {
        let (request, served) = self.serve_sealed(request)?;
        self.load_served(&request, served, progress)
    }

    /// `request` as Django reads it: each sealed fixture replaced by a FIFO
    /// in the work folder that gnbr serves it into, decrypted, for as long
    /// as what is returned lives (the load, and its commit: a failed
    /// commit names the objects at fault, reading the fixtures again).
    fn serve_sealed(&self, request: &LoadRequest) -> Result<(LoadRequest, Option<Served>), Error> {
        let mut for_django = request.clone();
        let Some(key) = request.sealed.clone() else {
            return Ok((for_django, None));
        };
        let mut fifos = Vec::new();
        for fixture in &mut for_django.fixtures {
            let path = self.work.path().join("fixtures").join(&fixture.entry);
            if let Some(folder) = path.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(folder)
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::Run,
                            format!("cannot create {}: {e}", folder.display()),
                        )
                    })?;
            }
            fifo::make(&path)?;
            fifos.push(path.clone());
            fixture.path = path;
        }
        let files: Vec<PathBuf> = request.fixtures.iter().map(|f| f.path.clone()).collect();
        let content = move |index: usize| sealed::open(&files[index], Some(&key));
        Ok((for_django, Some(fifo::serve(fifos, Box::new(content)))))
    }

    /// Runs the load of `request`, whose fixtures `served` serves if sealed.
    fn load_served(
        &self,
        request: &LoadRequest,
        served: Option<Served>,
        progress: &mut dyn FnMut(LoadEvent),
    ) -> Result<PendingLoad, Error> {
        let feed_failed = |error: Error| with_feed_failure(error, served.as_ref());
        let request_path = self.work.path().join("load.json");
        std::fs::write(
            &request_path,
            serde_json::to_vec(request).expect("a load request serialises"),
        )
        .map_err(|e| {
            Error::new(
                ErrorKind::Run,
                format!("cannot write the load request: {e}"),
            )
        })?;
        let (mut child, stderr_log) = self.spawn(&["load", &request_path.to_string_lossy()])?;
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        loop {
            let event = match next_event(&mut lines, &stderr_log) {
                Ok(event) => event,
                Err(e) => {
                    // Killed or lost: its transaction rolls back with its connection.
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(feed_failed(e));
                }
            };
            match event.event.as_str() {
                "ready" => {
                    return Ok(PendingLoad {
                        child,
                        stdin,
                        lines,
                        stderr_log,
                        rows: event.rest.get("rows").cloned().unwrap_or_default(),
                        served,
                    })
                }
                "error" => {
                    let _ = child.wait();
                    return Err(feed_failed(load_error(&event, &stderr_log)));
                }
                "progress" => match serde_json::from_value(serde_json::Value::Object(event.rest)) {
                    Ok(counts) => progress(LoadEvent::Progress(counts)),
                    Err(e) => tracing::debug!("a progress event gnbr cannot read: {e}"),
                },
                _ if event.message.is_empty() => progress(LoadEvent::Step(event.event)),
                step => progress(LoadEvent::Step(format!("{step}: {}", event.message))),
            }
        }
    }

    fn run_once(&self, args: &[&str], expected: &str) -> Result<Event, Error> {
        let (mut child, stderr_log) = self.spawn(args)?;
        drop(child.stdin.take());
        let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let event = next_event(&mut lines, &stderr_log);
        let _ = child.wait();
        expect_event(event?, expected, &stderr_log)
    }

    fn spawn(&self, args: &[&str]) -> Result<(Child, PathBuf), Error> {
        self.spawn_helper(args, true)
    }

    /// Starts `gnbr_django.py args`, its stderr into a log file in the
    /// work folder; if `dies_with_thread`, killed when the thread that
    /// started it ends (Linux's parent-death signal follows the thread)
    /// or when its run is cancelled.
    fn spawn_helper(
        &self,
        args: &[&str],
        dies_with_thread: bool,
    ) -> Result<(Child, PathBuf), Error> {
        let stderr_log = self.work.path().join(format!("{}.stderr.log", args[0]));
        let stderr = std::fs::File::create(&stderr_log).map_err(|e| {
            Error::new(
                ErrorKind::Run,
                format!("cannot create {}: {e}", stderr_log.display()),
            )
        })?;
        let mut command = Command::new(&self.python);
        command
            .arg(self.work.path().join("gnbr_django.py"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        if dies_with_thread {
            crate::process::die_with_parent(&mut command);
        }
        let child = command.spawn().map_err(|e| {
            Error::new(
                ErrorKind::Target,
                format!("cannot run {}: {e}", self.python.display()),
            )
            .hint("check settings.ini [geonode] python")
        })?;
        if dies_with_thread {
            crate::cancel::watch(&child);
        }
        Ok((child, stderr_log))
    }
}

/// `error` of a load or its commit, behind the reason a sealed fixture
/// could not be served to Django when that is what cut Django's read short.
fn with_feed_failure(error: Error, served: Option<&Served>) -> Error {
    match served.and_then(Served::failure) {
        Some(failure) => Error::new(
            ErrorKind::Run,
            format!("cannot serve a staged fixture to Django: {failure}"),
        )
        .caused_by(error),
        None => error,
    }
}

impl PendingLoad {
    /// Commits the transaction.
    ///
    /// # Errors
    ///
    /// When the commit fails (the database is then as it was).
    pub fn commit(mut self) -> Result<(), Error> {
        let mut stdin = self.stdin.take().expect("a pending load has its stdin");
        stdin
            .write_all(b"commit\n")
            .and_then(|()| stdin.flush())
            .map_err(|e| {
                Error::new(
                    ErrorKind::Run,
                    format!("lost the target's Django process before the commit: {e}"),
                )
            })?;
        drop(stdin);
        crate::fault::point("commit-sent");
        let event = next_event(&mut self.lines, &self.stderr_log);
        let _ = self.child.wait();
        let outcome = match event {
            Ok(e) if e.event == "committed" => Ok(()),
            Ok(e) => Err(load_error(&e, &self.stderr_log)),
            Err(e) => Err(e),
        };
        let outcome = outcome.map_err(|e| with_feed_failure(e, self.served.as_ref()));
        drop(self.served.take());
        outcome
    }

    /// Rolls the transaction back.
    pub fn rollback(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
        drop(self.served.take());
    }
}

/// The helper's answer when it is the `expected` event; its error, or an
/// odd answer, otherwise.
fn expect_event(event: Event, expected: &str, stderr_log: &Path) -> Result<Event, Error> {
    if event.event == "error" {
        log_stderr(stderr_log);
        return Err(Error::new(
            ErrorKind::Target,
            format!("the target GeoNode: {}", event.message),
        )
        .hint(
            "check settings.ini [geonode] and its env_file (GNBR_LOG=debug shows Django's output)",
        ));
    }
    if event.event != expected {
        return Err(Error::new(
            ErrorKind::Target,
            format!("gnbr's Django helper answered `{}`", event.event),
        ));
    }
    Ok(event)
}

/// The target described by the helper's `info` event.
fn target_info(event: Event) -> Result<TargetInfo, Error> {
    serde_json::from_value(serde_json::Value::Object(event.rest)).map_err(|e| {
        Error::new(
            ErrorKind::Target,
            format!("gnbr's Django helper answered oddly: {e}"),
        )
    })
}

/// A dump gnbr could not take: when the stream ended early (the dump's
/// error is [`ErrorKind::Target`]), the helper's own error follows on its
/// output; it becomes the error's cause.
fn with_django_reason(
    error: Error,
    lines: &mut Lines<BufReader<ChildStdout>>,
    stderr_log: &Path,
) -> Error {
    if error.kind != ErrorKind::Target {
        return error;
    }
    match next_event(lines, stderr_log) {
        Ok(event) if event.event == "error" => {
            log_stderr(stderr_log);
            let reason = Error::new(ErrorKind::Target, format!("Django: {}", event.message));
            error.caused_by(reason)
        }
        _ => error,
    }
}

fn next_event(
    lines: &mut Lines<BufReader<ChildStdout>>,
    stderr_log: &Path,
) -> Result<Event, Error> {
    loop {
        match lines.next() {
            Some(Ok(line)) => match serde_json::from_str::<Event>(&line) {
                Ok(event) => return Ok(event),
                Err(_) => tracing::debug!("django: {line}"),
            },
            Some(Err(e)) => {
                return Err(crate::cancel::or_cancelled(Error::new(
                    ErrorKind::Target,
                    format!("cannot read from the target's Django process: {e}"),
                )))
            }
            None => {
                log_stderr(stderr_log);
                // Its own temporary folder goes with gnbr: the last line
                // (Python's exception, mostly) is said here.
                let last = std::fs::read_to_string(stderr_log).ok().and_then(|text| {
                    text.lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .map(str::to_owned)
                });
                return Err(crate::cancel::or_cancelled(Error::new(
                    ErrorKind::Target,
                    match last {
                        Some(line) => format!("the target's Django process ended without an answer: {}", line.trim()),
                        None => "the target's Django process ended without an answer".to_owned(),
                    },
                )
                .hint("check settings.ini [geonode] python and env_file (GNBR_LOG=debug shows Django's whole output)")));
            }
        }
    }
}

/// The helper's error during a load, worded by what failed: a lock it
/// waited for too long, the COMMIT itself, or the load.
fn load_error(event: &Event, stderr_log: &Path) -> Error {
    log_stderr(stderr_log);
    let message = &event.message;
    match event.rest.get("kind").and_then(|k| k.as_str()) {
        Some("lock_timeout") => Error::new(ErrorKind::Target, message.clone())
            .hint(crate::postgres::LOCK_TIMEOUT_HINT),
        Some("commit_refused") => Error::new(
            ErrorKind::Run,
            format!("the database refused to commit the restore, and rolled it back; the database is as it was: {message}"),
        )
        .hint("the load itself went through; what refused the commit is named above (a deferred constraint or trigger of the target, mostly): fix it and run the restore again"),
        // Django could not turn a fixture's value into its field's type
        // (a string pk of an integer key, a date that is none): the backup's fault.
        Some("DeserializationError") => Error::new(
            ErrorKind::Input,
            format!("the backup holds a value the target cannot read; the load was rolled back, the database is as it was: {message}"),
        )
        .hint("fix the object named above in the backup (or the plugin that produced it) and run the restore again"),
        _ => Error::new(ErrorKind::Run, format!("the load failed and was rolled back, the database is as it was: {message}"))
            .hint("fix the object named above in the backup (or the plugin that produced it) and run the restore again"),
    }
}

fn log_stderr(path: &Path) {
    if let Ok(text) = std::fs::read_to_string(path) {
        for line in text.lines() {
            tracing::debug!("django: {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::Write,
        process::{Command, Stdio},
    };

    use super::GeoNode;
    use crate::config::GeoNodeSettings;

    /// A GeoNode whose "python" is the shell script `script`, in `dir`.
    ///
    /// The script is written by a `sh` child, never through a file this
    /// process holds open: a test thread forking meanwhile would carry that
    /// write descriptor into its child until the child execs, and running
    /// the script then fails with "text file busy" (ETXTBSY).
    pub(super) fn scripted(dir: &std::path::Path, script: &str) -> GeoNode {
        let python = dir.join("python");
        let mut writer = Command::new("sh")
            .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
            .arg(&python)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = writer.stdin.take().unwrap();
        stdin
            .write_all(format!("#!/bin/sh\n{script}").as_bytes())
            .unwrap();
        drop(stdin);
        assert!(writer.wait().unwrap().success());
        let settings = GeoNodeSettings {
            python: Some(python),
            settings_module: "geonode.settings".to_owned(),
            env_file: None,
            source_media_root: None,
            source_siteurl: None,
            source_assets_root: None,
        };
        GeoNode::new(&settings).unwrap()
    }

    #[test]
    fn a_python_that_dies_is_named_by_its_last_words() {
        let dir = tempfile::tempdir().unwrap();
        let geonode = scripted(
            dir.path(),
            "echo 'Traceback (most recent call last):' >&2\necho \"ModuleNotFoundError: No module named 'geonode'\" >&2\nexit 1\n",
        );
        let error = geonode.info().unwrap_err();
        assert_eq!(
            error.message,
            "the target's Django process ended without an answer: ModuleNotFoundError: No module named 'geonode'"
        );
        assert!(error.hint.unwrap().contains("[geonode] python"));
    }
}
