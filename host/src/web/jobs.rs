//! Runs in the background, one at a time: the same `backup` and `restore`
//! code as the command line, with their lines kept as the run's log.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::{Path, PathBuf},
    sync::PoisonError,
};

use serde_json::json;

use super::{
    now,
    store::{Backup, NewRun, Outcome, Run, RunKind},
    App,
};
use crate::{
    archive::{file_sums, BackupReader},
    commands::{backup, restore},
    errors::{Error, ErrorKind},
    geonode::GeoNode,
    requests::{command_line, BackupLocation, BackupRequest, RestoreRequest, Setup},
    ui::Ui,
};

type Work = Box<dyn FnOnce(Ui) -> Result<Outcome, Error> + Send>;

impl App {
    /// Starts `gnbr backup` of a definition into its base folder.
    ///
    /// # Errors
    ///
    /// When another run is going on, or the run cannot be recorded.
    pub fn start_backup(&self, backup: &Backup, user: &str) -> Result<i64, Error> {
        let request = BackupRequest {
            skip_geoserver: backup.skip_geoserver,
            ..BackupRequest::new(self.setup.clone(), PathBuf::from(&backup.base_folder))
        };
        self.start(
            new_run(RunKind::Backup, backup, user, None),
            Box::new(move |ui| {
                ui.info(&running(&command_line(&request)));
                let report = backup::run(&request, ui)?;
                ui.info(&format!(
                    "wrote {} ({:.1} MB in {:.1} s)",
                    report.archive.display(),
                    report.bytes as f64 / 1e6,
                    report.seconds
                ));
                Ok(Outcome {
                    error: None,
                    archive: Some(report.archive.display().to_string()),
                    sha256: None,
                    details: serde_json::to_value(&report).ok(),
                })
            }),
        )
    }

    /// Starts `gnbr restore --dry-run` of a definition's location: the plan
    /// and what would be overwritten, shown before the admin confirms.
    ///
    /// # Errors
    ///
    /// When the definition has no archive yet, another run is going on, or
    /// the run cannot be recorded.
    pub fn start_plan(&self, backup: &Backup, user: &str) -> Result<i64, Error> {
        let archive = location(backup)?;
        let request = restore_request(&self.setup, &archive, true, backup.skip_geoserver);
        self.start(
            new_run(RunKind::Plan, backup, user, Some(&archive)),
            Box::new(move |ui| {
                ui.info(&running(&command_line(&request)));
                let report = restore::run(&request, ui)?;
                ui.info("reading what the restore would replace");
                let settings = request.setup.load_settings()?;
                let info = GeoNode::new(&settings.geonode)?.info()?;
                let input = BackupReader::open(&archive)?;
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
                    "md5_sidecar": archive.with_extension("md5").exists()
                        || PathBuf::from(format!("{}.md5", archive.display())).exists(),
                });
                Ok(Outcome {
                    error: None,
                    archive: Some(archive.display().to_string()),
                    sha256: Some(report.sha256.clone()),
                    details: Some(details),
                })
            }),
        )
    }

    /// Starts the restore a plan showed, once confirmed: `gnbr restore`
    /// of the same archive, refused if it changed since (by its sha256).
    ///
    /// # Errors
    ///
    /// When the plan did not succeed or was confirmed already, another run
    /// is going on, or the run cannot be recorded.
    pub fn start_restore(&self, plan: &Run, backup: &Backup, user: &str) -> Result<i64, Error> {
        let (Some(archive), Some(planned)) = (plan.archive.clone(), plan.sha256.clone()) else {
            return Err(Error::new(
                ErrorKind::Refused,
                format!("run #{} is not a restore plan that succeeded", plan.id),
            ));
        };
        if let Some(done) = plan.confirmed_by {
            return Err(Error::new(
                ErrorKind::Refused,
                format!("this plan was confirmed already: restore run #{done}"),
            )
            .hint("run the restore again to see a new plan"));
        }
        let archive = PathBuf::from(archive);
        let request = restore_request(&self.setup, &archive, false, backup.skip_geoserver);
        let mut run = new_run(RunKind::Restore, backup, user, Some(&archive));
        run.sha256 = Some(planned.clone());
        run.plan_run = Some(plan.id);
        self.start(
            run,
            Box::new(move |ui| {
                ui.info(&running(&command_line(&request)));
                ui.info(&format!("checking that {} is the archive planned", archive.display()));
                let actual = file_sums(&archive)?
                    .sha256;
                if actual != planned {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!(
                            "{} changed since its plan was shown (sha256 {actual}, planned {planned}); nothing was changed",
                            archive.display()
                        ),
                    )
                    .hint("run the restore again to see the plan of the archive as it is now"));
                }
                let report = restore::run(&request, ui)?;
                ui.info(&format!("restored in {:.1} s", report.seconds));
                Ok(Outcome {
                    error: None,
                    archive: Some(archive.display().to_string()),
                    sha256: Some(report.sha256.clone()),
                    details: serde_json::to_value(&report).ok(),
                })
            }),
        )
    }

    /// Records the run and starts it on its own thread, unless one is going on.
    fn start(&self, run: NewRun, work: Work) -> Result<i64, Error> {
        let mut current = self
            .shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(other) = *current {
            return Err(Error::new(
                ErrorKind::Refused,
                format!("run #{other} is going on; runs go one at a time"),
            )
            .hint("wait for it to end, then start this one again"));
        }
        let id = self.store().start_run(&run, now())?;
        *current = Some(id);
        drop(current);
        let shared = self.shared.clone();
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
                let result = catch_unwind(AssertUnwindSafe(|| work(ui))).unwrap_or_else(|panic| {
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
                let outcome = result.unwrap_or_else(|e| {
                    ui.info(&format!("error: {e}"));
                    Outcome {
                        error: Some(e.to_string()),
                        ..Outcome::default()
                    }
                });
                if let Err(e) = shared.store.finish_run(id, &outcome, now()) {
                    tracing::error!("cannot record the end of run #{id}: {e}");
                }
                *shared
                    .current
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
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
fn location(backup: &Backup) -> Result<PathBuf, Error> {
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
