//! Runs in the background, one at a time: the same `backup` and `restore`
//! code as the command line, with their lines kept as the run's log; a
//! run can be cancelled until its point of no return ([`crate::cancel`]).

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::{Path, PathBuf},
    sync::{Arc, PoisonError},
};

use serde_json::json;

use super::{
    frozen::{self, Frozen, Inputs},
    now,
    store::{Backup, NewRun, Outcome, Run, RunKind, Store},
    App,
};
use crate::{
    archive::PASSPHRASE_VAR,
    cancel::{self, Cancel},
    commands::{backup, prune, restore},
    errors::{Error, ErrorKind},
    geonode::GeoNode,
    requests::{
        command_line, BackupLocation, BackupRequest, EncryptTo, PruneRequest, RestoreRequest, Setup,
    },
    storage::{backup_sums, check_key, BackupDir},
    ui::{plural, size, Ui, WARNING},
};

type Work = Box<dyn FnOnce(Ui) -> Result<Outcome, Error> + Send>;

/// The run going on: its id, and what cancels it.
pub(super) struct Going {
    /// The run's id.
    pub(super) id: i64,
    /// What cancels it.
    pub(super) cancel: Arc<Cancel>,
}

/// Why a run that ended can no longer be cancelled.
const ENDED: &str = "it has ended";

impl App {
    /// Starts `gnbr backup` of a definition into its base folder, then
    /// applies its retention policy to that folder (`gnbr prune`) if the
    /// backup succeeded; `note` is the log's first line (why it runs).
    ///
    /// # Errors
    ///
    /// When another run is going on, or the run cannot be recorded.
    pub fn start_backup(
        &self,
        backup: &Backup,
        user: &str,
        note: Option<String>,
    ) -> Result<i64, Error> {
        let request = BackupRequest {
            skip_geoserver: backup.skip_geoserver,
            encrypt: backup.encrypt.then(|| EncryptTo {
                recipients: backup.recipients.clone(),
                recipients_file: None,
            }),
            ..BackupRequest::new(self.setup.clone(), PathBuf::from(&backup.base_folder))
        };
        let retention = (!backup.keep.is_empty()).then(|| PruneRequest {
            setup: self.setup.clone(),
            backup_dir: PathBuf::from(&backup.base_folder),
            policy: backup.keep,
            dry_run: false,
        });
        self.start(
            new_run(RunKind::Backup, backup, user, None),
            Box::new(move |ui| {
                if let Some(note) = &note {
                    ui.info(note);
                }
                ui.info(&running(&command_line(&request)));
                let report = backup::run(&request, ui)?;
                ui.info(&format!(
                    "wrote {} ({:.1} MB in {:.1} s)",
                    report.archive.display(),
                    report.bytes as f64 / 1e6,
                    report.seconds
                ));
                let mut details = serde_json::to_value(&report).ok();
                if let (Some(retention), Some(serde_json::Value::Object(details))) =
                    (&retention, details.as_mut())
                {
                    cancel::final_step(
                        "the backup is written; its retention policy is removing older archives",
                    )?;
                    details.insert("retention".to_owned(), apply_retention(retention, ui));
                }
                Ok(Outcome {
                    archive: Some(report.archive.display().to_string()),
                    details,
                    ..Outcome::default()
                })
            }),
        )
    }

    /// Starts `gnbr restore --dry-run` of one of a definition's archives: the plan
    /// and what would be overwritten, shown before the admin confirms, and
    /// what decides the restore frozen with it ([`Frozen`]).
    ///
    /// An encrypted archive is planned only when gnbr serve holds its key:
    /// its header is opened first, so this blocks.
    ///
    /// # Errors
    ///
    /// When the archive is encrypted and gnbr serve's environment holds no
    /// key that opens it, another run is going on, or the run cannot be recorded.
    pub fn start_plan(&self, backup: &Backup, archive: &Path, user: &str) -> Result<i64, Error> {
        self.check_key(archive)?;
        let archive = archive.to_owned();
        let to_run = restore_request(&self.setup, &archive, false, backup.skip_geoserver);
        let request = RestoreRequest {
            dry_run: true,
            ..to_run.clone()
        };
        self.start(
            new_run(RunKind::Plan, backup, user, Some(&archive)),
            Box::new(move |ui| {
                ui.info(&running(&command_line(&request)));
                let settings = request.setup.load_settings()?;
                let info = GeoNode::new(&settings.geonode)?.info()?;
                let report = restore::run(&request, ui)?;
                ui.info("freezing what decides the restore: its options, the archive's checksum, settings.ini, the target and the plugins");
                let frozen = Frozen {
                    inputs: Inputs::read(&to_run, &settings, &info, report.sha256.clone())?,
                    chain: report.plugins.clone(),
                };
                ui.info("reading what the restore would replace");
                let (dir, listed) = BackupDir::of_archive(&archive, || Ok(settings.storage.clone()))?;
                let input = dir.open_archive(&listed)?;
                let folders: Vec<_> = [
                    ("uploaded/", "MEDIA_ROOT", &info.media_root),
                    ("assets/", "ASSETS_ROOT", &info.assets_root),
                ]
                .into_iter()
                .filter(|(prefix, _, _)| input.entries().iter().any(|e| e.name.starts_with(prefix)))
                .map(|(prefix, name, path)| {
                    let folder = Path::new(path);
                    let aside = folder.with_file_name(format!(
                        ".{}.gnbr-previous-…",
                        folder.file_name().unwrap_or_default().to_string_lossy()
                    ));
                    json!({ "from": prefix, "name": name, "path": path, "aside": aside })
                })
                .collect();
                let objects: u64 = report.objects.values().sum();
                ui.info("dry run: everything checked, nothing changed");
                let details = json!({
                    "report": report,
                    "plan": report.plan.lines(),
                    "objects": objects,
                    "tables": info.tables,
                    "folders": folders,
                    "snapshot_dir": std::path::absolute(&settings.restore.snapshot_dir)
                        .unwrap_or(settings.restore.snapshot_dir),
                    "md5_sidecar": listed.md5_sidecar.is_some(),
                    "command_line": command_line(&to_run),
                });
                Ok(Outcome {
                    archive: Some(archive.display().to_string()),
                    sha256: Some(report.sha256.clone()),
                    details: Some(details),
                    frozen: serde_json::to_value(&frozen).ok(),
                    ..Outcome::default()
                })
            }),
        )
    }

    /// Starts the restore a plan showed, once confirmed: exactly the
    /// request the plan froze, after checking that nothing that decides
    /// it (the definition's options, the archive, settings.ini, the
    /// target, the plugins) changed since. Asks the target, so it blocks.
    ///
    /// # Errors
    ///
    /// When the plan was confirmed already or froze nothing (an older
    /// gnbr's), anything changed since it, another run is going on, or the
    /// run cannot be recorded.
    pub fn start_restore(&self, plan: &Run, backup: &Backup, user: &str) -> Result<i64, Error> {
        if let Some(done) = plan.confirmed_by {
            return Err(Error::new(
                ErrorKind::Refused,
                format!("this plan was confirmed already: restore run #{done}"),
            )
            .hint("run the restore again to see a new plan"));
        }
        let frozen: Frozen = plan
            .frozen
            .clone()
            .and_then(|f| serde_json::from_value(f).ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Refused,
                    format!(
                        "run #{} holds no record of what its restore would run (an older gnbr serve planned it), so it cannot be confirmed; nothing was started",
                        plan.id
                    ),
                )
                .hint(PLAN_AGAIN)
            })?;
        if let Some(other) = self.current() {
            return Err(busy(other));
        }
        let archive = frozen::archive(&frozen.inputs.request).to_owned();
        self.check_key(&archive)?;
        let asked = restore_request(&self.setup, &archive, false, backup.skip_geoserver);
        frozen.check(plan.id, &Inputs::now(&asked)?)?;
        let request = frozen.inputs.request;
        let planned = frozen.inputs.archive_sha256;
        let mut run = new_run(RunKind::Restore, backup, user, Some(&archive));
        run.sha256 = Some(planned.clone());
        run.plan_run = Some(plan.id);
        self.start(
            run,
            Box::new(move |ui| {
                ui.info(&running(&command_line(&request)));
                ui.info(&format!("checking that {} is the archive planned", archive.display()));
                let storage = request.setup.storage_settings()?;
                let actual = backup_sums(&archive, &storage)?.sha256;
                if actual != planned {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!(
                            "the archive {} changed since the plan: sha256 {planned}, now {actual}; nothing was changed",
                            archive.display()
                        ),
                    )
                    .hint(PLAN_AGAIN));
                }
                let report = restore::run(&request, ui)?;
                ui.info(&format!("restored in {:.1} s", report.seconds));
                Ok(Outcome {
                    archive: Some(archive.display().to_string()),
                    sha256: Some(report.sha256.clone()),
                    details: serde_json::to_value(&report).ok(),
                    ..Outcome::default()
                })
            }),
        )
    }

    /// Checks that gnbr serve holds the key of `archive` when it is
    /// encrypted (a plain one needs none), before a run of it starts.
    ///
    /// # Errors
    ///
    /// The archive's error, saying to set the key in gnbr serve's
    /// environment, when no key it holds opens it or it cannot be read.
    fn check_key(&self, archive: &Path) -> Result<(), Error> {
        check_key(archive, || self.setup.storage_settings()).map_err(|e| {
            let server = format!("gnbr serve reads {PASSPHRASE_VAR} and GNBR_IDENTITY_FILE from its own environment (never from this page): set one where it runs (its systemd unit's EnvironmentFile) and restart it");
            let hint = match &e.hint {
                Some(hint) => format!("{hint}. {server}"),
                None => server,
            };
            Error {
                message: format!("{}; nothing was started", e.message),
                hint: Some(hint),
                ..e
            }
        })
    }

    /// Records the run and starts it on its own thread, unless one is going on.
    fn start(&self, run: NewRun, work: Work) -> Result<i64, Error> {
        let mut current = self
            .shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(other) = current.as_ref() {
            return Err(busy(other.id));
        }
        let id = self.store().start_run(&run, now())?;
        let cancel = Cancel::new();
        *current = Some(Going {
            id,
            cancel: cancel.clone(),
        });
        drop(current);
        let shared = self.shared.clone();
        let kind = run.kind;
        let ui = Ui {
            quiet: self.quiet,
            json: false,
            log: Some(self.log),
        };
        tracing::info!(
            "run #{id}: {:?} of `{}` by `{}`",
            run.kind,
            run.backup_name,
            run.by_user
        );
        let spawned = std::thread::Builder::new()
            .name(format!("gnbr-run-{id}"))
            .spawn(move || {
                let done =
                    || cancel.run(|| work(ui).and_then(|o| cancel::final_step(ENDED).map(|()| o)));
                let result = catch_unwind(AssertUnwindSafe(done)).unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    Err(Error::new(
                        ErrorKind::Run,
                        format!("gnbr failed unexpectedly: {what}"),
                    ))
                });
                let mut outcome = result.unwrap_or_else(|e| {
                    let cancelled =
                        e.kind == ErrorKind::Cancelled || cancel.cancelled_by().is_some();
                    let plain_cancel = e.kind == ErrorKind::Cancelled && e.cause.is_none();
                    if plain_cancel {
                        ui.info(&format!("{}: {}", e.message, left_by_cancel(kind)));
                    } else {
                        ui.info(&format!("error: {e}"));
                    }
                    Outcome {
                        error: Some(e.to_string()),
                        cancelled,
                        ..Outcome::default()
                    }
                });
                outcome.warnings = warnings(&shared.store, id);
                if let Err(e) = shared.store.finish_run(id, &outcome, now()) {
                    tracing::error!("cannot record the end of run #{id}: {e}");
                }
                *shared
                    .current
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
            });
        let spawned = spawned.map(|thread| {
            *self.runner.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread);
        });
        if let Err(e) = spawned {
            let error = Error::new(ErrorKind::Run, format!("cannot start run #{id}: {e}"));
            let outcome = Outcome {
                error: Some(error.to_string()),
                ..Outcome::default()
            };
            let _ = self.store().finish_run(id, &outcome, now());
            *self
                .shared
                .current
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = None;
            return Err(error);
        }
        Ok(id)
    }
}

impl App {
    /// Cancels run `id` for `user` (Cancel on its page): it stops at its
    /// next check and undoes what it began; its log says who cancelled it.
    ///
    /// # Errors
    ///
    /// When the run is not going on, or is past its point of no return.
    pub fn cancel_run(&self, id: i64, user: &str) -> Result<(), Error> {
        let current = self
            .shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(going) = current.as_ref().filter(|going| going.id == id) else {
            return Err(Error::new(
                ErrorKind::Refused,
                format!("run #{id} is not going on: there is nothing to cancel"),
            )
            .hint("its page says how it ended"));
        };
        match going.cancel.cancel(&format!("`{user}`")) {
            // Logged under the lock: before any line of the run's undo.
            Ok(true) => {
                tracing::info!("run #{id}: cancelled by `{user}`");
                self.store().append_log(
                    id,
                    &format!("cancel asked by `{user}`: the run stops at its next step and undoes what it began"),
                    now(),
                )
            }
            Ok(false) => Ok(()),
            Err(why) => Err(Error::new(
                ErrorKind::Refused,
                format!("run #{id} can no longer be cancelled: {why}"),
            )
            .hint("wait for it to end; its page follows it")),
        }
    }

    /// Cancels the run going on as `gnbr serve` stops (`by`: how it was
    /// asked to), unless it is past its point of no return.
    pub(super) fn cancel_for_stop(&self, by: &str, ui: Ui) {
        let current = self
            .shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(going) = current.as_ref() else {
            return;
        };
        let id = going.id;
        let line = match going.cancel.cancel(by) {
            Ok(true) => format!(
                "cancelled by {by}: the run stops at its next step and undoes what it began"
            ),
            Ok(false) => return,
            Err(why) => format!(
                "{by}: this run can no longer be cancelled ({why}); gnbr serve waits for its end"
            ),
        };
        ui.info(&format!("run #{id}: {line}"));
        if let Err(e) = self.store().append_log(id, &line, now()) {
            tracing::warn!("cannot keep a line of run #{id}: {e}");
        }
    }

    /// Waits for the last run started to end (gnbr serve stops after it).
    pub(super) fn wait_for_run(&self, ui: Ui) {
        let runner = self
            .runner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(runner) = runner else {
            return;
        };
        if let Some(id) = self.current() {
            ui.info(&format!("waiting for run #{id} to end"));
        }
        if runner.join().is_err() {
            tracing::error!("a run's thread ended unexpectedly");
        }
    }
}

/// Applies a definition's retention policy after its backup: `gnbr
/// prune`'s report as JSON, each removal in the log; a file that cannot be
/// removed, or a folder that cannot be read, is a warning (the backup
/// stands).
fn apply_retention(request: &PruneRequest, ui: Ui) -> serde_json::Value {
    ui.info(&format!(
        "applying the retention policy: gnbr prune --backup-dir {} {}",
        request.backup_dir.display(),
        request.policy.flags().join(" ")
    ));
    match prune::run(request, ui) {
        Ok(report) => {
            for error in &report.errors {
                ui.warn(&format!("retention: {}", error.message));
            }
            let freed: u64 = report.remove.iter().map(|r| r.bytes).sum();
            ui.info(&format!(
                "retention: {} kept, {} removed ({}), {} ignored",
                plural(report.keep.len() as u64, "archive"),
                report.remove.len(),
                size(freed),
                report.ignored.len()
            ));
            serde_json::to_value(&report).unwrap_or_default()
        }
        Err(e) => {
            ui.warn(&format!("the retention policy was not applied: {e}"));
            json!({ "error": e.to_string() })
        }
    }
}

/// What a cancelled run of `kind` left, when its error is the cancel alone.
fn left_by_cancel(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Backup => "the unfinished archive and the temporary files were removed; no archive was written",
        RunKind::Plan => "a plan changes nothing; its temporary files were removed",
        RunKind::Restore => "nothing was committed, the target is as it was before the restore; the temporary files were removed",
    }
}

fn new_run(kind: RunKind, backup: &Backup, user: &str, archive: Option<&Path>) -> NewRun {
    NewRun {
        kind,
        backup_id: backup.id,
        backup_name: backup.name.clone(),
        by_user: user.to_owned(),
        archive: archive.map(|a| a.display().to_string()),
        sha256: None,
        plan_run: None,
    }
}

/// The archive of the definition's last successful backup.
///
/// # Errors
///
/// When it has none yet.
pub(super) fn location(backup: &Backup) -> Result<PathBuf, Error> {
    backup
        .location
        .as_deref()
        .map(PathBuf::from)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Usage,
                format!("the backup `{}` has no archive yet", backup.name),
            )
            .hint("run the backup first: its archive becomes the Location")
        })
}

/// The hint of a confirmation refused: what to do instead.
const PLAN_AGAIN: &str =
    "plan again: “Run the Restore” on the Backups page shows the plan of what is there now";

/// The refusal of a run while `other` goes on.
fn busy(other: i64) -> Error {
    Error::new(
        ErrorKind::Refused,
        format!("run #{other} is going on; runs go one at a time"),
    )
    .hint("wait for it to end, then start this one again")
}

/// The warnings a run gave: its log's `warning: ` lines, in order.
fn warnings(store: &Store, run: i64) -> Vec<String> {
    match store.log(run, 0) {
        Ok(lines) => lines
            .iter()
            .filter_map(|line| line.strip_prefix(WARNING))
            .map(str::to_owned)
            .collect(),
        Err(e) => {
            tracing::error!("cannot read the warnings of run #{run}: {e}");
            Vec::new()
        }
    }
}

/// The first line of a run's log: the command line it stands for.
fn running(command_line: &str) -> String {
    format!("running: {command_line}")
}

/// `gnbr restore --backup-file ARCHIVE -f [--dry-run]`: the page asked first.
fn restore_request(
    setup: &Setup,
    archive: &Path,
    dry_run: bool,
    skip_geoserver: bool,
) -> RestoreRequest {
    let mut request = RestoreRequest::new(setup.clone(), BackupLocation::File(archive.to_owned()));
    request.force = true;
    request.dry_run = dry_run;
    request.geoserver.skip = skip_geoserver;
    request
}
