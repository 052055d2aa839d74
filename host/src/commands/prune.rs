//! `gnbr prune`: the archives of a backup folder or a bucket's prefix
//! ([`crate::storage::BackupDir`]) that no `--keep-*` rule keeps
//! ([`crate::retention`]), removed with their sidecars.
//!
//! Only gnbr's own archives are weighed: a `.zip` named as gnbr names
//! archives (`YYYY-MM-DD_HHMMSS[_N].zip`) that reads as a gnbr or GeoNode
//! backup; every other file is left alone, and other `.zip` files are
//! reported as ignored. A file that cannot be removed is named and the
//! others are still removed.

use std::path::PathBuf;

use serde::Serialize;

use crate::{
    archive::ListedArchive,
    errors::{Error, ErrorKind},
    exit_codes,
    requests::PruneRequest,
    retention::{kept_by, KeepPolicy, Rule},
    storage::BackupDir,
    time::format_utc,
    ui::{plural, print_table, size, Ui},
};

/// An archive the policy keeps.
#[derive(Debug, Serialize)]
pub struct Kept {
    /// Its file name.
    pub name: String,
    /// When it was taken, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
    /// The rules that keep it.
    pub rules: Vec<Rule>,
}

/// An archive the policy lets go, with its sidecars.
#[derive(Debug, Serialize)]
pub struct Removal {
    /// Its file name.
    pub name: String,
    /// When it was taken, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The archive, then its `.md5` and `.ini` sidecars that are there.
    pub files: Vec<PathBuf>,
    /// Whether every one of them was removed (false in a dry run).
    pub removed: bool,
}

/// A `.zip` file prune does not touch, and why.
#[derive(Debug, Serialize)]
pub struct Ignored {
    /// Its file name.
    pub name: String,
    /// Why it is not one of gnbr's archives.
    pub reason: String,
}

/// A file that could not be removed.
#[derive(Debug, Serialize)]
pub struct RemovalError {
    /// The file.
    pub file: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// What `gnbr prune` kept, removed and left alone.
#[derive(Debug, Serialize)]
pub struct PruneReport {
    /// The folder pruned.
    pub backup_dir: PathBuf,
    /// Whether nothing was removed on purpose.
    pub dry_run: bool,
    /// The policy applied.
    pub policy: KeepPolicy,
    /// The archives kept, newest first.
    pub keep: Vec<Kept>,
    /// The archives removed (or to remove, in a dry run), newest first.
    pub remove: Vec<Removal>,
    /// The `.zip` files left alone.
    pub ignored: Vec<Ignored>,
    /// The files that could not be removed.
    pub errors: Vec<RemovalError>,
}

impl PruneReport {
    /// 1 when a file could not be removed, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.errors.is_empty() {
            exit_codes::SUCCESS
        } else {
            exit_codes::RUN_FAILED
        }
    }
}

/// What the policy decides for a folder's archives, by their index in the listing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// The archives kept, and the rules that keep them.
    pub keep: Vec<(usize, Vec<Rule>)>,
    /// The archives let go.
    pub remove: Vec<usize>,
    /// The archives that are not gnbr's, and why.
    pub ignored: Vec<(usize, String)>,
}

/// Applies `policy` to gnbr's own archives among `archives` (newest
/// first); every other one is ignored.
pub fn decide(policy: &KeepPolicy, archives: &[ListedArchive]) -> Decision {
    let mut decision = Decision::default();
    let mut own = Vec::new();
    for (index, archive) in archives.iter().enumerate() {
        if archive.is_own() {
            own.push(index);
        } else if !archive.named_by_gnbr {
            decision.ignored.push((
                index,
                "not named as gnbr names archives (YYYY-MM-DD_HHMMSS.zip)".to_owned(),
            ));
        } else {
            let why = archive.problem.as_deref().unwrap_or("not a backup");
            decision
                .ignored
                .push((index, format!("cannot be read as a backup: {why}")));
        }
    }
    let dates: Vec<i64> = own.iter().map(|&i| date_of(&archives[i])).collect();
    for (index, rules) in own.into_iter().zip(kept_by(policy, &dates)) {
        if rules.is_empty() {
            decision.remove.push(index);
        } else {
            decision.keep.push((index, rules));
        }
    }
    decision
}

/// When the backup was taken: its manifest's time, else its name's.
fn date_of(archive: &ListedArchive) -> i64 {
    archive.created.map_or(archive.modified, |(date, _)| date)
}

/// Runs `gnbr prune`.
///
/// # Errors
///
/// A policy without any rule, or a folder that cannot be read; a file that
/// cannot be removed is in the report's `errors`.
pub fn run(request: &PruneRequest, ui: Ui) -> Result<PruneReport, Error> {
    if request.policy.is_empty() {
        return Err(Error::new(
            ErrorKind::Usage,
            "gnbr prune needs at least one rule: with none, it would keep only the newest archive",
        )
        .hint("give --keep-last, --keep-daily, --keep-weekly or --keep-monthly, e.g. --keep-daily 7 --keep-weekly 4 --keep-monthly 12"));
    }
    let dir = BackupDir::open(&request.backup_dir, || request.setup.storage_settings())?;
    let archives = dir.list()?;
    let decision = decide(&request.policy, &archives);
    let created = |archive: &ListedArchive| format!("{}Z", format_utc(date_of(archive)));
    let mut report = PruneReport {
        backup_dir: request.backup_dir.clone(),
        dry_run: request.dry_run,
        policy: request.policy,
        keep: decision
            .keep
            .into_iter()
            .map(|(index, rules)| Kept {
                name: archives[index].name.clone(),
                created: created(&archives[index]),
                rules,
            })
            .collect(),
        remove: Vec::new(),
        ignored: decision
            .ignored
            .into_iter()
            .map(|(index, reason)| Ignored {
                name: archives[index].name.clone(),
                reason,
            })
            .collect(),
        errors: Vec::new(),
    };
    for index in decision.remove {
        let archive = &archives[index];
        let files = archive.files();
        let removed = !request.dry_run && remove_files(&dir, &files, &mut report.errors, ui);
        report.remove.push(Removal {
            name: archive.name.clone(),
            created: created(archive),
            bytes: archive.bytes,
            files,
            removed,
        });
    }
    Ok(report)
}

/// Removes `files`, the archive first, going on past one that cannot be
/// removed; returns whether every one was.
fn remove_files(
    dir: &BackupDir,
    files: &[PathBuf],
    errors: &mut Vec<RemovalError>,
    ui: Ui,
) -> bool {
    let mut all = true;
    for file in files {
        match dir.remove(file) {
            Ok(()) => ui.info(&format!("removed {}", file.display())),
            Err(message) => {
                all = false;
                errors.push(RemovalError {
                    file: file.clone(),
                    message,
                });
            }
        }
    }
    all
}

/// Prints the report: JSON, or a table of what is kept, removed and ignored.
pub fn print_report(report: &PruneReport, ui: Ui) {
    for error in &report.errors {
        eprintln!("gnbr: error: {}", error.message);
    }
    if !ui.report(report) {
        return;
    }
    let shown = |created: &str| created.replace('T', " ").trim_end_matches('Z').to_owned();
    let action = if report.dry_run {
        "would remove"
    } else {
        "remove"
    };
    let rows: Vec<[String; 4]> = report
        .keep
        .iter()
        .map(|k| {
            let rules: Vec<&str> = k.rules.iter().map(|r| r.name()).collect();
            [
                "keep".to_owned(),
                shown(&k.created),
                k.name.clone(),
                rules.join(", "),
            ]
        })
        .chain(report.remove.iter().map(|r| {
            let sidecars: Vec<String> = r.files[1..]
                .iter()
                .filter_map(|f| f.extension().map(|e| format!(".{}", e.to_string_lossy())))
                .collect();
            let with = if sidecars.is_empty() {
                String::new()
            } else {
                format!("with {}", sidecars.join(", "))
            };
            [action.to_owned(), shown(&r.created), r.name.clone(), with]
        }))
        .chain(report.ignored.iter().map(|i| {
            [
                "ignore".to_owned(),
                String::new(),
                i.name.clone(),
                i.reason.clone(),
            ]
        }))
        .collect();
    print_table(&["ACTION", "DATE (UTC)", "ARCHIVE", "WHY"], &rows);
    let freed: u64 = report.remove.iter().map(|r| r.bytes).sum();
    let verb = if report.dry_run {
        "would be removed"
    } else {
        "removed"
    };
    println!(
        "{} kept, {} {verb} ({}), {} ignored{}",
        plural(report.keep.len() as u64, "archive"),
        report.remove.len(),
        size(freed),
        report.ignored.len(),
        if report.errors.is_empty() {
            String::new()
        } else {
            format!(
                ", {} not removable",
                plural(report.errors.len() as u64, "file")
            )
        }
    );
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use proptest::prelude::*;

    use super::{decide, remove_files};
    use crate::{
        archive::{name_stamp, BackupKind, DateSource, ListedArchive},
        retention::KeepPolicy,
    };

    /// An archive as the listing gives it, from its name and whether it reads as a backup.
    fn listed(name: &str, readable: bool, modified: i64) -> ListedArchive {
        let stamp = name_stamp(name);
        ListedArchive {
            name: name.to_owned(),
            path: PathBuf::from(name),
            bytes: 1,
            modified,
            created: stamp.map(|date| (date, DateSource::Name)),
            named_by_gnbr: stamp.is_some(),
            encrypted: false,
            kind: readable.then_some(BackupKind::Gnbr),
            geonode_version: None,
            md5_sidecar: None,
            sidecars: Vec::new(),
            problem: (!readable).then(|| "not a zip".to_owned()),
        }
    }

    /// Names gnbr gives, and names close to them that it does not.
    fn a_name() -> impl Strategy<Value = String> {
        prop_oneof![
            (1u32..28, 0u32..24, 0u32..2).prop_map(|(day, hour, n)| {
                let suffix = if n == 0 {
                    String::new()
                } else {
                    "_2".to_owned()
                };
                format!("2025-03-{day:02}_{hour:02}0000{suffix}.zip")
            }),
            (1u32..28).prop_map(|day| format!("2025-03-{day:02}_000000_1.zip")),
            (1u32..28).prop_map(|day| format!("2025-03-{day:02}_000000.zip.bak")),
            (1u32..28).prop_map(|day| format!("backup-2025-03-{day:02}.zip")),
            "[a-z]{1,8}\\.zip",
        ]
    }

    proptest! {
        #[test]
        fn nothing_but_gnbrs_own_archives_is_ever_kept_or_removed(
            archives in prop::collection::vec((a_name(), any::<bool>(), 0i64..2_000_000_000), 0..40),
            last in 0u32..3, daily in 0u32..5, weekly in 0u32..3, monthly in 0u32..3,
        ) {
            let archives: Vec<ListedArchive> = archives
                .iter()
                .map(|(name, readable, modified)| listed(name, *readable, *modified))
                .collect();
            let policy = KeepPolicy { last, daily, weekly, monthly };
            let decision = decide(&policy, &archives);
            let weighed: Vec<usize> = decision
                .keep
                .iter()
                .map(|(i, _)| *i)
                .chain(decision.remove.iter().copied())
                .collect();
            for &index in &weighed {
                let archive = &archives[index];
                prop_assert!(archive.is_own(), "{} was weighed", archive.name);
            }
            let mut all: Vec<usize> = weighed
                .iter()
                .copied()
                .chain(decision.ignored.iter().map(|(i, _)| *i))
                .collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..archives.len()).collect::<Vec<_>>());
            if archives.iter().any(ListedArchive::is_own) {
                prop_assert!(!decision.keep.is_empty(), "the newest is kept");
            }
        }
    }

    #[test]
    fn a_name_gnbr_gives_that_does_not_read_as_a_backup_is_ignored_with_its_problem() {
        let archives = [
            listed("2025-03-02_000000.zip", false, 0),
            listed("2025-03-01_000000.zip", true, 0),
            listed("holiday.zip", true, 0),
        ];
        let decision = decide(
            &KeepPolicy {
                last: 1,
                ..KeepPolicy::default()
            },
            &archives,
        );
        assert_eq!(decision.keep, [(1, vec![crate::retention::Rule::Last])]);
        assert!(decision.remove.is_empty());
        assert_eq!(decision.ignored[0].0, 0);
        assert!(
            decision.ignored[0].1.contains("not a zip"),
            "{:?}",
            decision.ignored
        );
        assert_eq!(decision.ignored[1].0, 2);
    }

    #[test]
    fn a_file_that_cannot_be_removed_is_named_and_the_others_still_go() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("2025-03-01_000000.zip");
        let stuck = dir.path().join("2025-03-01_000000.md5");
        let sidecar = dir.path().join("2025-03-01_000000.ini");
        std::fs::write(&archive, "zip").unwrap();
        // A folder cannot be removed as a file, even by root.
        std::fs::create_dir(&stuck).unwrap();
        std::fs::write(&sidecar, "ini").unwrap();
        let mut errors = Vec::new();
        let ui = crate::ui::Ui {
            quiet: true,
            json: false,
            log: None,
        };
        let removed = remove_files(
            &crate::storage::BackupDir::Folder(dir.path().to_owned()),
            &[archive.clone(), stuck.clone(), sidecar.clone()],
            &mut errors,
            ui,
        );
        assert!(!removed);
        assert!(!archive.exists() && !sidecar.exists() && stuck.exists());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].file, stuck);
        assert!(
            errors[0]
                .message
                .starts_with(&format!("cannot remove {}: ", stuck.display())),
            "{}",
            errors[0].message
        );
    }
}
