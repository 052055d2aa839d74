//! The journal of one restore's folder swap and datastore tables: a small
//! file, written and fsynced before each step, from which the next gnbr run
//! finishes or undoes a restore that a crash interrupted.
//!
//! States: `staged` (staging folders being filled, nothing live touched),
//! `swapping` (the planned renames, how many are done), then `committed` or
//! `aborted`. Each datastore table is journaled (with the old tables it
//! moves aside) before its own transaction starts: undoing puts the old
//! tables back, finishing drops them. A catalog GeoServer is asked to
//! restore is journaled before the request, with the archive that puts
//! the previous one back: undoing ends with that, done by the caller
//! ([`Journal::catalog_settled`] then closes the journal). The database commit decides: `committed` is written right
//! after it; a journal left in `swapping` is decided by asking the database
//! whether the run's row in `gnbr_restore_log` exists.
//!
//! The running gnbr holds an exclusive lock on `<journal>.lock` for its
//! whole life; a journal whose lock is free belongs to a dead run.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write},
    os::unix::{
        fs::{DirBuilderExt, OpenOptionsExt},
        io::AsRawFd,
    },
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::folder::write_error;
use crate::{
    errors::{Error, ErrorKind},
    fault,
    postgres::tables::{self, Datastore, Replaced},
    scratch::sync_dir,
};

/// The journal format written: 2 added the datastore's tables and
/// GeoServer's catalog.
const FORMAT: u32 = 2;
/// How journal files are named: `.gnbr-journal-<run>.json`.
const PREFIX: &str = ".gnbr-journal-";

/// One step of a swap, undone by its reverse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Creates a folder that did not exist.
    Mkdir {
        /// The folder.
        path: PathBuf,
    },
    /// Renames a path.
    Rename {
        /// Where it was.
        from: PathBuf,
        /// Where it goes.
        to: PathBuf,
    },
}

/// Where a swap stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Staging folders are being filled; nothing live was touched.
    Staged,
    /// Renames are being done (`done` of `ops`); the database has not
    /// been known to commit.
    Swapping,
    /// The database committed: the swap is to be finished.
    Committed,
    /// The restore failed: the swap is to be undone.
    Aborted,
}

/// The journal's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The journal format, 1.
    pub format: u32,
    /// The run's id, also written in the run's `gnbr_restore_log` row.
    pub run: String,
    /// The target database (`name on host:port`), to refuse deciding with another.
    pub database: String,
    /// Where the swap stands.
    pub state: State,
    /// Whether what the restore replaced is kept (no `--no-snapshot`).
    pub keep_previous: bool,
    /// Staging folders, removed at the end.
    pub staging: Vec<PathBuf>,
    /// Folders holding what the swap replaced.
    pub previous: Vec<PathBuf>,
    /// The steps, in order.
    pub ops: Vec<Op>,
    /// How many of `ops` are known done (the next may be done too).
    pub done: usize,
    /// The datastore the tables are in (`name on host:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datastore: Option<String>,
    /// The datastore tables replaced (or being replaced), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<Replaced>,
    /// GeoServer's catalog, when GeoServer was asked to replace it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<CatalogRecord>,
}

/// A catalog GeoServer was asked to restore, and where the previous one
/// can be put back from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogRecord {
    /// The archive holding the previous catalog; `None` with
    /// `--no-snapshot` and no `--recovery-file`.
    pub recovery: Option<PathBuf>,
    /// Whether `recovery` is GeoServer's archive itself, not a backup holding one.
    pub is_catalog: bool,
}

/// What finishing a journal left for the admin.
#[derive(Debug, Default)]
pub struct Finished {
    /// Folders holding what the swap replaced, kept.
    pub kept: Vec<PathBuf>,
    /// What could not be cleaned up (old datastore tables still aside).
    pub warnings: Vec<String>,
}

/// A swap in progress, journaled beside the folders it changes.
pub struct Journal {
    path: PathBuf,
    lock_path: PathBuf,
    _lock: File,
    record: Record,
    /// Where the journal's tables are, once it has any.
    datastore: Option<Datastore>,
    /// Whether the journal is finished (its files removed).
    closed: bool,
}

impl Journal {
    /// Starts the journal of run `run` in `home` (state `staged`), locked
    /// for this process's life.
    ///
    /// # Errors
    ///
    /// When `home` cannot be written.
    pub fn begin(
        home: &Path,
        run: &str,
        database: &str,
        keep_previous: bool,
    ) -> Result<Self, Error> {
        fs::create_dir_all(home).map_err(|e| write_error(home, &e))?;
        let path = home.join(format!("{PREFIX}{run}.json"));
        let lock_path = lock_path(&path);
        let lock = open_lock(&lock_path)?;
        if !try_lock(&lock).map_err(|e| write_error(&lock_path, &e))? {
            return Err(Error::new(
                ErrorKind::Refused,
                format!("{} is locked by another gnbr run", lock_path.display()),
            ));
        }
        let journal = Self {
            path,
            lock_path,
            _lock: lock,
            record: Record {
                format: FORMAT,
                run: run.to_owned(),
                database: database.to_owned(),
                state: State::Staged,
                keep_previous,
                staging: Vec::new(),
                previous: Vec::new(),
                ops: Vec::new(),
                done: 0,
                datastore: None,
                tables: Vec::new(),
                catalog: None,
            },
            datastore: None,
            closed: false,
        };
        journal.write()?;
        Ok(journal)
    }

    /// The run's id.
    pub fn run(&self) -> &str {
        &self.record.run
    }

    /// Whether what the swap replaces is kept (the restore has no `--no-snapshot`).
    pub fn keeps_previous(&self) -> bool {
        self.record.keep_previous
    }

    /// Creates the staging folder `<parent>/.gnbr-staging-<run>` (0700),
    /// journaled first so that a crash leaves nothing the next run does
    /// not remove.
    ///
    /// # Errors
    ///
    /// When `parent` cannot be written.
    pub fn staging_dir(&mut self, parent: &Path) -> Result<PathBuf, Error> {
        let dir = parent.join(format!(".gnbr-staging-{}", self.record.run));
        if !self.record.staging.contains(&dir) {
            self.record.staging.push(dir.clone());
            self.write()?;
        }
        match fs::DirBuilder::new()
            .mode(0o700)
            .recursive(false)
            .create(&dir)
        {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(write_error(&dir, &e)),
            _ => Ok(dir),
        }
    }

    /// Names a file staged beside `dest` (`.<name>.gnbr-staging-<run>`),
    /// journaled first; the caller creates it.
    ///
    /// # Errors
    ///
    /// When the journal cannot be written.
    pub fn staging_file(&mut self, dest: &Path) -> Result<PathBuf, Error> {
        let path = beside(dest, "staging", &self.record.run);
        if !self.record.staging.contains(&path) {
            self.record.staging.push(path.clone());
            self.write()?;
        }
        Ok(path)
    }

    /// Names where a file the swap replaces goes beside itself
    /// (`.<name>.gnbr-previous-<run>`).
    pub fn previous_file(&mut self, dest: &Path) -> PathBuf {
        let path = beside(dest, "previous", &self.record.run);
        if !self.record.previous.contains(&path) {
            self.record.previous.push(path.clone());
        }
        path
    }

    /// Names the folder `<parent>/.gnbr-previous-<run>` that receives what
    /// a swap under `parent` replaces (created by the swap's own `Mkdir`).
    pub fn previous_dir(&mut self, parent: &Path) -> PathBuf {
        let dir = parent.join(format!(".gnbr-previous-{}", self.record.run));
        if !self.record.previous.contains(&dir) {
            self.record.previous.push(dir.clone());
        }
        dir
    }

    /// Does `ops`, journaling each before it: the journal lists them all,
    /// then how many are done after each.
    ///
    /// # Errors
    ///
    /// A step that fails (it is not done); the caller then [`Journal::abort`]s.
    pub fn swap(&mut self, ops: Vec<Op>) -> Result<(), Error> {
        let first = self.record.ops.len();
        self.record.ops.extend(ops);
        self.record.state = State::Swapping;
        self.write()?;
        for i in first..self.record.ops.len() {
            let op = self.record.ops[i].clone();
            if matches!(op, Op::Rename { .. }) {
                fault::point("swap-rename");
            }
            forward(&op)?;
            self.record.done = i + 1;
            self.write()?;
        }
        Ok(())
    }

    /// Journals that `replaced` is about to be restored into `datastore`,
    /// before its transaction starts.
    ///
    /// # Errors
    ///
    /// When the journal cannot be written (the table is then not restored),
    /// or it holds tables of another datastore.
    pub fn replacing(&mut self, datastore: &Datastore, replaced: &Replaced) -> Result<(), Error> {
        let name = datastore.db.to_string();
        match &self.record.datastore {
            Some(known) if *known != name => {
                return Err(Error::new(
                    ErrorKind::Run,
                    format!(
                    "one restore cannot restore tables into two datastores ({known} and {name})"
                ),
                ))
            }
            _ => {}
        }
        self.record.datastore = Some(name);
        self.datastore = Some(datastore.clone());
        self.record.tables.push(replaced.clone());
        self.write()
    }

    /// Journals that GeoServer is about to be asked to restore a catalog,
    /// `catalog` saying where the previous one can be put back from.
    ///
    /// # Errors
    ///
    /// When the journal cannot be written (GeoServer is then not asked).
    pub fn replacing_catalog(&mut self, catalog: CatalogRecord) -> Result<(), Error> {
        self.record.catalog = Some(catalog);
        self.write()
    }

    /// The catalog an aborted journal leaves for its caller to put back.
    pub fn catalog(&self) -> Option<&CatalogRecord> {
        self.record.catalog.as_ref()
    }

    /// Records that GeoServer's catalog was put back (or that putting it
    /// back was tried and said); an aborted journal is then closed.
    ///
    /// # Errors
    ///
    /// When the journal cannot be written.
    pub fn catalog_settled(&mut self) -> Result<(), Error> {
        if self.closed || self.record.catalog.is_none() {
            return Ok(());
        }
        self.record.catalog = None;
        if self.record.state == State::Aborted && self.record.done == 0 {
            self.close_aborted();
            return Ok(());
        }
        self.write()
    }

    /// Records that the database committed: from here the swap is finished,
    /// whatever happens.
    ///
    /// # Errors
    ///
    /// When the journal cannot be written (the decision is then the
    /// database's row, which the next run reads).
    pub fn commit(&mut self) -> Result<(), Error> {
        fault::point("after-commit");
        self.record.state = State::Committed;
        self.write()?;
        fault::point("committed");
        Ok(())
    }

    /// Finishes a committed swap: any step left is done, the old datastore
    /// tables dropped, staging folders removed, what was replaced kept (the
    /// non-empty previous folders are returned) or removed, the journal
    /// removed. Old tables that cannot be dropped (a view still uses one)
    /// stay aside, with a warning.
    ///
    /// # Errors
    ///
    /// A step that cannot be done; the journal stays for the next run.
    pub fn finish(mut self) -> Result<Finished, Error> {
        self.roll_forward()?;
        fault::point("finishing");
        let mut warnings = Vec::new();
        if !self.record.tables.is_empty() {
            let datastore = self.tables_datastore()?;
            if let Err(e) = tables::drop_replaced(&datastore, &self.record.tables) {
                warnings.push(e.to_string());
            }
        }
        for dir in &self.record.staging {
            remove_tree(dir);
        }
        let mut kept = Vec::new();
        for path in &self.record.previous {
            let Ok(meta) = path.symlink_metadata() else {
                continue;
            };
            let empty = meta.is_dir() && fs::read_dir(path).is_ok_and(|mut d| d.next().is_none());
            if empty {
                let _ = fs::remove_dir(path);
            } else if self.record.keep_previous {
                kept.push(path.clone());
            } else {
                remove_tree(path);
            }
        }
        self.close();
        Ok(Finished { kept, warnings })
    }

    /// Undoes the swap: every step done is reversed, last first, each
    /// journaled, the datastore's tables put back; staging folders are
    /// removed, then the journal, unless GeoServer's catalog is left to
    /// put back ([`Journal::catalog`], then [`Journal::catalog_settled`]).
    ///
    /// # Errors
    ///
    /// A step that cannot be reversed; the journal stays, and the next
    /// gnbr run tries again.
    pub fn abort(&mut self) -> Result<(), Error> {
        if self.closed {
            return Ok(());
        }
        if self.record.state != State::Aborted {
            self.record.state = State::Aborted;
            self.write()?;
        }
        fault::point("aborted");
        if let Some(op) = self.record.ops.get(self.record.done) {
            if is_done(op) == Some(true) {
                self.record.done += 1;
            }
        }
        while self.record.done > 0 {
            let op = self.record.ops[self.record.done - 1].clone();
            fault::point(match op {
                Op::Rename { .. } => "undo-rename",
                Op::Mkdir { .. } => "undo-mkdir",
            });
            backward(&op).map_err(|e| Error {
                message: format!(
                    "{}; the swap's journal is kept at {}",
                    e.message,
                    self.path.display()
                ),
                hint: Some("fix the cause; the next gnbr command on this target (e.g. gnbr check) puts the rest back".to_owned()),
                ..e
            })?;
            self.record.done -= 1;
            self.write()?;
        }
        if !self.record.tables.is_empty() {
            fault::point("undo-tables");
            let datastore = self.tables_datastore()?;
            tables::put_back(&datastore, &self.record.tables).map_err(|e| Error {
                message: format!(
                    "{}; the restore's journal is kept at {}",
                    e.message,
                    self.path.display()
                ),
                ..e
            })?;
            self.record.tables.clear();
            self.write()?;
        }
        fault::point("undone");
        if self.record.catalog.is_none() {
            self.close_aborted();
        }
        Ok(())
    }

    /// Removes an undone journal's staging and previous folders, then the journal.
    fn close_aborted(&mut self) {
        for dir in self.record.staging.iter().chain(&self.record.previous) {
            remove_tree(dir);
        }
        self.close();
    }

    /// The datastore the journal's tables are in: the one this run restored
    /// them into, or for a journal a crash left, the one the next run was
    /// given, which must be the same.
    fn tables_datastore(&self) -> Result<Datastore, Error> {
        let named = self
            .record
            .datastore
            .as_deref()
            .unwrap_or("an unnamed datastore");
        match &self.datastore {
            Some(datastore) if datastore.db.to_string() == named => Ok(datastore.clone()),
            other => Err(Error::new(
                ErrorKind::Target,
                format!(
                    "{} lists tables an interrupted restore replaced in the datastore {named}, but {}",
                    self.path.display(),
                    match other {
                        Some(given) => format!("the target's datastore is {}", given.db),
                        None => "the target has no datastore".to_owned(),
                    }
                ),
            )
            .hint("run gnbr check with the settings of that restore's target: it finishes or undoes it")),
        }
    }

    fn roll_forward(&mut self) -> Result<(), Error> {
        while let Some(op) = self.record.ops.get(self.record.done).cloned() {
            if is_done(&op) != Some(true) {
                forward(&op)?;
            }
            self.record.done += 1;
            self.write()?;
        }
        Ok(())
    }

    /// Writes the journal: to a temporary file, fsynced, renamed over the
    /// journal, the folder fsynced.
    fn write(&self) -> Result<(), Error> {
        fault::point("journal-write");
        let temp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&self.record).expect("a journal serialises");
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&temp, &self.path)
        })();
        written.map_err(|e| write_error(&self.path, &e))?;
        sync_dir(self.path.parent().unwrap_or(Path::new(".")))
    }

    fn close(&mut self) {
        let _ = fs::remove_file(&self.path);
        let _ = fs::remove_file(&self.lock_path);
        if let Some(dir) = self.path.parent() {
            let _ = sync_dir(dir);
        }
        self.closed = true;
    }
}

impl Drop for Journal {
    /// A journal dropped before any live path was touched is removed with
    /// its staging folders; any other stays for the next run to settle.
    fn drop(&mut self) {
        if !self.closed
            && self.record.state == State::Staged
            && self.record.done == 0
            && self.record.tables.is_empty()
            && self.record.catalog.is_none()
        {
            for dir in &self.record.staging {
                remove_tree(dir);
            }
            self.close();
        }
    }
}

/// What settling a journal needs of the target it was written for.
pub trait Target {
    /// The target database (`name on host:port`), which journals must name.
    fn database(&self) -> String;
    /// The target's datastore, where journaled tables are put back or dropped.
    fn datastore(&self) -> Option<&Datastore>;
    /// Whether run `run`'s database transaction committed (the database
    /// holds its restore row).
    ///
    /// # Errors
    ///
    /// When the database cannot be asked.
    fn committed(&mut self, run: &str) -> Result<bool, Error>;
    /// Puts GeoServer's previous catalog back as `catalog` says; tells how.
    ///
    /// # Errors
    ///
    /// When GeoServer cannot be asked (the journal then stays).
    fn put_back_catalog(&mut self, catalog: &CatalogRecord) -> Result<String, Error>;
}

/// Settles every interrupted restore journaled in `homes`: a journal
/// `committed` is finished, `staged` or `aborted` undone (folders, tables,
/// then GeoServer's catalog), `swapping` decided by the target's database.
/// Returns what was done, one line each.
///
/// # Errors
///
/// A journal another gnbr run holds (a restore in progress), one written
/// for another database, a database or GeoServer that cannot be asked, or
/// a step that cannot be done (the journal then stays).
pub fn recover(homes: &[PathBuf], target: &mut dyn Target) -> Result<Vec<String>, Error> {
    let mut notes = Vec::new();
    let mut seen = Vec::new();
    for home in homes {
        let Ok(entries) = fs::read_dir(home) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.starts_with(PREFIX) && n.ends_with(".json")
                })
            })
            .collect();
        found.sort();
        for path in found {
            if seen.contains(&path) {
                continue;
            }
            seen.push(path.clone());
            notes.extend(recover_one(&path, target)?);
        }
    }
    Ok(notes)
}

fn recover_one(path: &Path, target: &mut dyn Target) -> Result<Vec<String>, Error> {
    let lock_path = lock_path(path);
    let lock = open_lock(&lock_path)?;
    if !try_lock(&lock).map_err(|e| write_error(&lock_path, &e))? {
        return Err(Error::new(
            ErrorKind::Refused,
            format!(
                "another gnbr run is restoring into this target right now (its journal is {})",
                path.display()
            ),
        )
        .hint("wait for it to end, then run this command again"));
    }
    let text = match fs::read(path) {
        Ok(text) => text,
        // Settled by another run between the listing and the lock.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::new(
                ErrorKind::Run,
                format!("cannot read {}: {e}", path.display()),
            ))
        }
    };
    let record: Record = serde_json::from_slice(&text).map_err(|e| {
        Error::new(
            ErrorKind::Run,
            format!("{} is not a gnbr swap journal: {e}", path.display()),
        )
        .hint("it was left by an interrupted restore; compare the folders beside it with the backup, then remove it")
    })?;
    if record.format > FORMAT {
        return Err(Error::new(
            ErrorKind::Run,
            format!(
                "{} was written by a newer gnbr (journal format {}, this gnbr reads up to {FORMAT})",
                path.display(),
                record.format
            ),
        )
        .hint("settle it with the gnbr that ran that restore (gnbr check), then use this one"));
    }
    let database = target.database();
    if record.database != database {
        return Err(Error::new(
            ErrorKind::Target,
            format!(
                "{} was left by an interrupted restore into {}, but settings.ini points at {database}",
                path.display(),
                record.database
            ),
        )
        .hint("run gnbr check with the settings.ini of that restore first: it finishes or undoes it"));
    }
    let run = record.run.clone();
    let what = parts(&record);
    let forward = match record.state {
        State::Committed => true,
        State::Staged | State::Aborted => false,
        State::Swapping => target.committed(&run)?,
    };
    let mut journal = Journal {
        path: path.to_owned(),
        lock_path,
        _lock: lock,
        record,
        datastore: target.datastore().cloned(),
        closed: false,
    };
    if forward {
        journal.record.state = State::Committed;
        journal.write()?;
        let Finished { kept, mut warnings } = journal.finish()?;
        let kept = match kept.as_slice() {
            [] => String::new(),
            dirs => format!(
                "; what it replaced is kept in {}",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        warnings.insert(0, format!(
            "finished the {what} of an interrupted restore (run {run}), whose database transaction had committed{kept}"
        ));
        Ok(warnings)
    } else {
        journal.abort()?;
        let mut notes = vec![format!(
            "undid the {what} of an interrupted restore (run {run}), whose database transaction never committed: the target is as before it"
        )];
        if let Some(catalog) = journal.catalog().cloned() {
            notes.push(target.put_back_catalog(&catalog).map_err(|e| {
                e.context(format!(
                    "an interrupted restore (run {run}) asked GeoServer to restore a catalog; putting the previous one back failed, and its journal {} is kept",
                    path.display()
                ))
                .hint("make GeoServer answer, then run gnbr check again")
            })?);
            journal.catalog_settled()?;
        }
        Ok(notes)
    }
}

/// What a journal lists, in words: "folder swap", "datastore tables" and
/// "GeoServer catalog" for those it has.
fn parts(record: &Record) -> String {
    let parts: Vec<&str> = [
        (!record.ops.is_empty(), "folder swap"),
        (!record.tables.is_empty(), "datastore tables"),
        (record.catalog.is_some(), "GeoServer catalog"),
    ]
    .into_iter()
    .filter_map(|(has, part)| has.then_some(part))
    .collect();
    match parts.as_slice() {
        [] => "staging".to_owned(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Whether a step is done, judged from the filesystem: `None` when neither
/// its before nor its after is there.
fn is_done(op: &Op) -> Option<bool> {
    match op {
        Op::Mkdir { path } => Some(path.symlink_metadata().is_ok()),
        Op::Rename { from, to } => {
            match (
                from.symlink_metadata().is_ok(),
                to.symlink_metadata().is_ok(),
            ) {
                (false, true) => Some(true),
                (true, false) => Some(false),
                _ => None,
            }
        }
    }
}

fn forward(op: &Op) -> Result<(), Error> {
    match op {
        Op::Mkdir { path } => match fs::create_dir(path) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(write_error(path, &e)),
            _ => sync_parents(&[path]),
        },
        Op::Rename { from, to } => rename(from, to),
    }
}

fn backward(op: &Op) -> Result<(), Error> {
    match op {
        // Left in place when something else was put in it meanwhile.
        Op::Mkdir { path } => match fs::remove_dir(path) {
            Ok(()) => sync_parents(&[path]),
            Err(_) => Ok(()),
        },
        Op::Rename { from, to } => match is_done(op) {
            Some(false) => Ok(()),
            _ => rename(to, from),
        },
    }
}

/// Renames `from` to `to`, then makes it durable: the journal records a
/// rename as done only once a power loss can no longer bring the old name
/// back.
fn rename(from: &Path, to: &Path) -> Result<(), Error> {
    fs::rename(from, to).map_err(|e| {
        Error::new(
            ErrorKind::Run,
            format!("cannot move {} to {}: {e}", from.display(), to.display()),
        )
        .hint("both must be on one filesystem, not mount points, and writable by the user running gnbr")
    })?;
    sync_parents(&[from, to])
}

/// Fsyncs the folders holding `paths`, each once: names added to or
/// removed from them are then on disk.
fn sync_parents(paths: &[&Path]) -> Result<(), Error> {
    let mut synced: Vec<&Path> = Vec::new();
    for path in paths {
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if !synced.contains(&parent) {
            sync_dir(parent)?;
            synced.push(parent);
        }
    }
    Ok(())
}

/// `<dest's folder>/.<dest's name>.gnbr-<what>-<run>`.
fn beside(dest: &Path, what: &str, run: &str) -> PathBuf {
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    dest.with_file_name(format!(".{name}.gnbr-{what}-{run}"))
}

fn lock_path(journal: &Path) -> PathBuf {
    journal.with_extension("lock")
}

fn open_lock(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| write_error(path, &e))
}

/// Takes an exclusive lock without waiting: `false` when another process holds it.
fn try_lock(file: &File) -> io::Result<bool> {
    // SAFETY: flock on a file descriptor this process owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(error)
    }
}

fn remove_tree(path: &Path) {
    let removed = match path.symlink_metadata() {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => Ok(()),
    };
    if let Err(e) = removed {
        tracing::warn!("{} is still there: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use std::{fs, path::Path};

    use super::{recover, CatalogRecord, Journal, Op, State, Target};
    use crate::{errors::Error, postgres::tables::Datastore};

    /// A target that answers as told: its database's name, whether runs
    /// committed; it records the catalogs it is asked to put back.
    struct Answers {
        database: &'static str,
        committed: bool,
        catalogs: Vec<CatalogRecord>,
    }

    impl Answers {
        fn new(database: &'static str, committed: bool) -> Self {
            Self {
                database,
                committed,
                catalogs: Vec::new(),
            }
        }
    }

    impl Target for Answers {
        fn database(&self) -> String {
            self.database.to_owned()
        }

        fn datastore(&self) -> Option<&Datastore> {
            None
        }

        fn committed(&mut self, run: &str) -> Result<bool, Error> {
            assert_eq!(run, "run1");
            Ok(self.committed)
        }

        fn put_back_catalog(&mut self, catalog: &CatalogRecord) -> Result<String, Error> {
            self.catalogs.push(catalog.clone());
            Ok("put back".to_owned())
        }
    }

    fn tree(root: &Path) -> Vec<String> {
        let mut names: Vec<String> = walkdir::WalkDir::new(root)
            .min_depth(1)
            .into_iter()
            .map(|e| {
                let e = e.unwrap();
                let relative = e.path().strip_prefix(root).unwrap().display().to_string();
                match fs::read_to_string(e.path()) {
                    Ok(text) => format!("{relative}={text}"),
                    Err(_) => relative,
                }
            })
            .collect();
        names.sort();
        names
    }

    /// A root holding `old`, a journal with `new` staged and the swap's steps planned.
    fn staged(root: &Path) -> (Journal, Vec<Op>) {
        fs::write(root.join("a.txt"), "old").unwrap();
        let mut journal = Journal::begin(root, "run1", "db", false).unwrap();
        let staging = journal.staging_dir(root).unwrap();
        fs::write(staging.join("a.txt"), "new").unwrap();
        let previous = journal.previous_dir(root);
        let ops = vec![
            Op::Mkdir {
                path: previous.clone(),
            },
            Op::Rename {
                from: root.join("a.txt"),
                to: previous.join("a.txt"),
            },
            Op::Rename {
                from: staging.join("a.txt"),
                to: root.join("a.txt"),
            },
        ];
        (journal, ops)
    }

    #[test]
    fn finishes_and_removes_everything_but_the_result() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, ops) = staged(dir.path());
        journal.swap(ops).unwrap();
        journal.commit().unwrap();
        let finished = journal.finish().unwrap();
        assert!(finished.kept.is_empty() && finished.warnings.is_empty());
        assert_eq!(tree(dir.path()), ["a.txt=new"]);
    }

    #[test]
    fn aborts_back_to_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, ops) = staged(dir.path());
        journal.swap(ops).unwrap();
        journal.abort().unwrap();
        assert_eq!(tree(dir.path()), ["a.txt=old"]);
    }

    #[test]
    fn recovery_decides_by_the_database_at_every_step() {
        for done in 0..=3 {
            for committed in [false, true] {
                let dir = tempfile::tempdir().unwrap();
                let (mut journal, ops) = staged(dir.path());
                // As if killed after `done` steps (the journal one step behind).
                for op in &ops[..done] {
                    super::forward(op).unwrap();
                }
                journal.record.ops = ops;
                journal.record.state = State::Swapping;
                journal.record.done = done.saturating_sub(1);
                journal.write().unwrap();
                journal.closed = true;
                drop(journal);
                let notes =
                    recover(&[dir.path().to_owned()], &mut Answers::new("db", committed)).unwrap();
                assert_eq!(notes.len(), 1, "{notes:?}");
                let expected = if committed { "a.txt=new" } else { "a.txt=old" };
                assert_eq!(tree(dir.path()), [expected], "done {done}, {committed}");
            }
        }
    }

    #[test]
    fn a_live_run_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, ops) = staged(dir.path());
        journal.swap(ops).unwrap();
        let error = recover(&[dir.path().to_owned()], &mut Answers::new("db", true)).unwrap_err();
        assert!(error.message.contains("another gnbr run"), "{error:?}");
        journal.abort().unwrap();
    }

    #[test]
    fn tables_keep_a_dropped_journal_for_a_run_that_knows_their_datastore() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::begin(dir.path(), "run1", "db", false).unwrap();
        journal.record.datastore = Some("ds on h:1".to_owned());
        journal
            .record
            .tables
            .push(crate::postgres::tables::Replaced {
                table: crate::postgres::tables::Table::new("public", "roads"),
                moved: Vec::new(),
            });
        journal.write().unwrap();
        drop(journal);
        let error = recover(&[dir.path().to_owned()], &mut Answers::new("db", false)).unwrap_err();
        assert!(
            error.message.contains("datastore ds on h:1")
                && error.message.contains("the target has no datastore"),
            "{error:?}"
        );
    }

    #[test]
    fn a_newer_journal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::begin(dir.path(), "run1", "db", false).unwrap();
        journal.record.format = super::FORMAT + 1;
        journal.record.state = State::Swapping;
        journal.write().unwrap();
        journal.closed = true;
        drop(journal);
        let error = recover(&[dir.path().to_owned()], &mut Answers::new("db", true)).unwrap_err();
        assert!(error.message.contains("newer gnbr"), "{error:?}");
    }

    #[test]
    fn a_catalog_asked_for_is_put_back_after_the_folders_and_closes_the_journal() {
        for committed in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (mut journal, ops) = staged(dir.path());
            journal.swap(ops).unwrap();
            let catalog = CatalogRecord {
                recovery: Some(dir.path().join("before.zip")),
                is_catalog: true,
            };
            journal.replacing_catalog(catalog.clone()).unwrap();
            journal.closed = true;
            drop(journal);
            let mut target = Answers::new("db", committed);
            let notes = recover(&[dir.path().to_owned()], &mut target).unwrap();
            let expected = if committed { "a.txt=new" } else { "a.txt=old" };
            assert_eq!(tree(dir.path()), [expected], "{notes:?}");
            if committed {
                assert!(target.catalogs.is_empty());
            } else {
                assert_eq!(target.catalogs, [catalog]);
                assert!(
                    notes[0].contains("GeoServer catalog") && notes[1] == "put back",
                    "{notes:?}"
                );
            }
        }
    }

    #[test]
    fn another_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, ops) = staged(dir.path());
        journal.swap(ops).unwrap();
        journal.closed = true;
        drop(journal);
        let error =
            recover(&[dir.path().to_owned()], &mut Answers::new("other", true)).unwrap_err();
        assert!(error.message.contains("points at other"), "{error:?}");
    }
}
