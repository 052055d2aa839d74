//! `gnbr backups list`: the archives of a backup folder or a bucket's
//! prefix ([`crate::storage::BackupDir`]), one row each:
//! when it was taken, the source GeoNode's version, its size, whether it is
//! encrypted, whether it matches its `.md5` sidecar (read whole only with
//! `--check`), and why it cannot be read as a backup, if it cannot.

use std::path::PathBuf;

use serde::Serialize;

use crate::{
    archive::{BackupKind, DateSource, ListedArchive},
    errors::Error,
    exit_codes,
    requests::BackupsListRequest,
    storage::BackupDir,
    time::format_utc,
    ui::{print_table, size, Ui},
};

/// Whether an archive matches its `.md5` sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verified {
    /// Read whole (`--check`): it matches its sidecar.
    Yes,
    /// Read whole (`--check`): it does not match, or could not be read.
    No,
    /// It has a sidecar, not compared (no `--check`).
    NotChecked,
    /// It has no `.md5` sidecar to compare with.
    NoSidecar,
}

/// One archive of the folder.
#[derive(Debug, Serialize)]
pub struct ArchiveListing {
    /// Its file name.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// When the backup was taken, `YYYY-MM-DDTHH:MM:SSZ`, when known.
    pub created: Option<String>,
    /// Where that date comes from (`manifest`, `name`).
    pub created_from: Option<DateSource>,
    /// Who wrote it (`gnbr`, `geonode`); `null` when it is not a backup.
    pub kind: Option<BackupKind>,
    /// The source GeoNode's version its manifest records.
    pub geonode_version: Option<String>,
    /// Its size in bytes.
    pub bytes: u64,
    /// Whether it is encrypted (a `.zip.age` archive).
    pub encrypted: bool,
    /// Whether it matches its `.md5` sidecar.
    pub verified: Verified,
    /// Its `.md5` sidecar, when it has one.
    pub md5_sidecar: Option<PathBuf>,
    /// Why it cannot be read as a backup, or does not match its sidecar.
    pub problem: Option<String>,
}

/// What `gnbr backups list` found.
#[derive(Debug, Serialize)]
pub struct BackupsReport {
    /// The folder listed.
    pub backup_dir: PathBuf,
    /// Its archives, newest first.
    pub archives: Vec<ArchiveListing>,
}

impl BackupsReport {
    /// 4 when an archive read whole does not match its sidecar, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.archives.iter().any(|a| a.verified == Verified::No) {
            exit_codes::INPUT
        } else {
            exit_codes::SUCCESS
        }
    }
}

/// Runs `gnbr backups list`.
///
/// # Errors
///
/// When the folder cannot be read; an archive that cannot be read is a row
/// with its problem.
pub fn run(request: &BackupsListRequest, ui: Ui) -> Result<BackupsReport, Error> {
    let dir = BackupDir::open(&request.backup_dir, || request.setup.storage_settings())?;
    let archives = dir
        .list()?
        .into_iter()
        .map(|archive| listing(&dir, archive, request.check, ui))
        .collect();
    Ok(BackupsReport {
        backup_dir: request.backup_dir.clone(),
        archives,
    })
}

/// The row of `archive`, read whole against its sidecar when `check`.
fn listing(dir: &BackupDir, archive: ListedArchive, check: bool, ui: Ui) -> ArchiveListing {
    let mut problem = archive.problem.clone();
    let verified = match (&archive.md5_sidecar, check) {
        (None, _) => Verified::NoSidecar,
        (Some(_), false) => Verified::NotChecked,
        (Some(_), true) => {
            ui.info(&format!("checking {}", archive.path.display()));
            match dir.archive_sums(&archive) {
                Ok(_) => Verified::Yes,
                Err(e) => {
                    problem = Some(e.message);
                    Verified::No
                }
            }
        }
    };
    ArchiveListing {
        created: archive
            .created
            .map(|(date, _)| format!("{}Z", format_utc(date))),
        created_from: archive.created.map(|(_, source)| source),
        name: archive.name,
        path: archive.path,
        kind: archive.kind,
        geonode_version: archive.geonode_version,
        bytes: archive.bytes,
        encrypted: archive.encrypted,
        verified,
        md5_sidecar: archive.md5_sidecar,
        problem,
    }
}

/// Prints the report: JSON, or a table.
pub fn print_report(report: &BackupsReport, ui: Ui) {
    for archive in &report.archives {
        if archive.verified == Verified::No {
            eprintln!(
                "gnbr: error: {}",
                archive.problem.as_deref().unwrap_or_default()
            );
        }
    }
    if !ui.report(report) {
        return;
    }
    if report.archives.is_empty() {
        println!("no .zip archives in {}", report.backup_dir.display());
        return;
    }
    let rows: Vec<[String; 7]> = report
        .archives
        .iter()
        .map(|a| {
            let date = a.created.as_ref().map_or_else(
                || "unknown".to_owned(),
                |date| {
                    let shown = date.replace('T', " ").trim_end_matches('Z').to_owned();
                    if a.created_from == Some(DateSource::Name) {
                        format!("{shown} (name)")
                    } else {
                        shown
                    }
                },
            );
            let version = match (&a.geonode_version, a.kind) {
                (Some(version), _) => version.clone(),
                (None, Some(_)) => "not recorded".to_owned(),
                (None, None) => "-".to_owned(),
            };
            let verified = match a.verified {
                Verified::Yes => "yes",
                Verified::No => "NO",
                Verified::NotChecked => "not checked",
                Verified::NoSidecar => "no .md5",
            };
            [
                date,
                a.name.clone(),
                version,
                size(a.bytes),
                if a.encrypted { "yes" } else { "no" }.to_owned(),
                verified.to_owned(),
                a.problem.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print_table(
        &[
            "DATE (UTC)",
            "ARCHIVE",
            "GEONODE",
            "SIZE",
            "ENCRYPTED",
            "VERIFIED",
            "PROBLEM",
        ],
        &rows,
    );
}
