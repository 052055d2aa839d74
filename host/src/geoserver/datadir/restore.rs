//! Restoring a data directory: staged inside it, then swapped in.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Read,
    path::{Path, PathBuf},
};

use serde::Serialize;

use super::{
    classify::{classify, KindMap},
    is_table_dump,
    scan::{holds_references, parse_references},
    Class, DataDir, Selection, Skip, Tally, ARCHIVE_PREFIX, EXTERNAL_PREFIX,
};
use crate::{
    archive::BackupReader,
    errors::{Error, ErrorKind},
    geoserver::rewrite::{self, Mapping, RewriteReport},
    swap::{Journal, Op, Replace, Staging, TargetFolder},
};

/// What a restore of the data directory put in place (or will, once swapped in).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreReport {
    /// The data directory.
    pub datadir: PathBuf,
    /// Staged from `gs_data_dir/`, by class.
    pub restored: BTreeMap<Class, Tally>,
    /// Files of the data directory that the restore replaces or removes
    /// (moved aside at the swap).
    pub replaced: u64,
    /// Staged from `external/`.
    pub externals: Tally,
    /// Left out, by reason.
    pub skipped: BTreeMap<Skip, Tally>,
    /// Values rewritten for the target.
    pub rewrite: RewriteReport,
    /// Things the admin should know.
    pub warnings: Vec<String>,
}

/// A restore of the data directory, extracted but not yet in place; the
/// journal it was staged with removes the staging if it is never swapped.
pub struct StagedDataDir {
    staging: Staging,
    units: Vec<String>,
    externals: Vec<(PathBuf, PathBuf)>,
    /// What was staged, left out and rewritten.
    pub report: RestoreReport,
}

/// Extracts a backup's data directory (`gs_data_dir/`) and external files
/// (`external/`) for restoring into `datadir`: the parts `selection` asks
/// for, with `mapping` applied to catalog files and to external paths.
/// `None` when the backup holds neither. The data directory is not changed
/// (the staging folder is created inside it, journaled in `journal`, and
/// takes the data directory's owner and mode); [`StagedDataDir::swap_in`]
/// puts the result in place.
///
/// Each class is replaced only when the backup holds it (a GeoNode archive
/// holds only `geonode/` and `data/geonode/`: the catalog is then kept);
/// data files are replaced per top folder the backup holds. `progress`
/// gets the bytes written so far and about how many there are.
///
/// # Errors
///
/// A damaged entry, or a data directory that cannot be read or written.
pub fn stage(
    input: &mut BackupReader,
    datadir: &Path,
    selection: &Selection,
    mapping: &Mapping,
    journal: &mut Journal,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Option<StagedDataDir>, Error> {
    let archived: Vec<(String, u64)> = input
        .entries()
        .iter()
        .filter_map(|e| Some((e.name.strip_prefix(ARCHIVE_PREFIX)?.to_owned(), e.size)))
        .collect();
    let externals: Vec<(String, u64)> = input
        .entries()
        .iter()
        .filter_map(|e| Some((e.name.strip_prefix(EXTERNAL_PREFIX)?.to_owned(), e.size)))
        .collect();
    if archived.is_empty() && externals.is_empty() {
        return Ok(None);
    }
    let mut report = RestoreReport {
        datadir: datadir.to_owned(),
        ..RestoreReport::default()
    };

    let mut references = Vec::new();
    for (relative, _) in archived.iter().filter(|(r, _)| holds_references(r)) {
        let bytes = read_entry(input, &format!("{ARCHIVE_PREFIX}{relative}"))?;
        let parsed = std::str::from_utf8(&bytes)
            .map_err(|e| format!("not UTF-8: {e}"))
            .and_then(|text| parse_references(relative, text, None));
        match parsed {
            Ok(found) => references.extend(found),
            Err(e) => report.warnings.push(format!(
                "{ARCHIVE_PREFIX}{relative} cannot be read as XML ({e})"
            )),
        }
    }
    let is_archived_dir = |relative: &str| {
        let prefix = format!("{relative}/");
        archived.iter().any(|(r, _)| r.starts_with(&prefix))
    };
    let kinds = KindMap::new(
        archived.iter().map(|(r, _)| r.as_str()),
        &references,
        &is_archived_dir,
    );

    let mut chosen: Vec<(String, Class, u64)> = Vec::new();
    let mut covered: BTreeSet<String> = BTreeSet::new();
    for (relative, size) in &archived {
        let class = classify(relative);
        // Neither says anything about the data directory's content: a
        // table dump alone must not make `geonode/` look replaced.
        let outside = match class {
            Class::Ephemeral => Some(Skip::Ephemeral),
            _ if is_table_dump(relative) => Some(Skip::TableDump),
            _ => None,
        };
        if let Some(skip) = outside {
            report.skipped.entry(skip).or_default().add(*size);
            continue;
        }
        covered.insert(scope(relative, class));
        let kind = (class == Class::Data).then(|| kinds.kind(relative));
        match selection.skip(relative, class, kind) {
            Some(skip) => report.skipped.entry(skip).or_default().add(*size),
            None => chosen.push((relative.clone(), class, *size)),
        }
    }

    let target = DataDir::scan(datadir)?;
    let mut tree = Tree::default();
    for file in &target.files {
        let replaced = file.class != Class::Ephemeral
            && covered.contains(&scope(&file.relative, file.class))
            && selection
                .skip(&file.relative, file.class, file.kind)
                .is_none();
        if replaced {
            report.replaced += 1;
        }
        tree.insert(&file.relative, !replaced);
    }
    for relative in &target.ephemeral_dirs {
        tree.insert(relative, true);
    }
    for relative in &target.pinned {
        tree.pin(relative);
    }
    for (relative, _, _) in &chosen {
        tree.insert(relative, false);
    }
    let mut units = Vec::new();
    tree.units("", &mut units);

    let mut staged = StagedDataDir {
        staging: Staging::begin(TargetFolder::resolve(datadir), journal)?,
        units,
        externals: Vec::new(),
        report,
    };
    // Externals left out are only known on the way: the total may be more
    // than what is written.
    let total = chosen.iter().map(|(_, _, size)| size).sum::<u64>()
        + externals.iter().map(|(_, size)| size).sum::<u64>();
    let mut done = 0;
    progress(done, total);
    for (relative, class, _) in &chosen {
        let name = format!("{ARCHIVE_PREFIX}{relative}");
        let bytes = if rewrite::is_rewritable(relative) && !mapping.is_empty() {
            let original = read_entry(input, &name)?;
            let rewritten = std::str::from_utf8(&original)
                .map_err(|e| format!("not UTF-8: {e}"))
                .and_then(|text| rewrite::rewrite_text(relative, text, mapping))
                .unwrap_or_else(|e| {
                    staged.report.warnings.push(format!(
                        "{name} cannot be read as XML ({e}); restored as it was"
                    ));
                    rewrite::Rewritten::default()
                });
            staged.report.rewrite.merge(RewriteReport {
                files: u64::from(rewritten.text.is_some()),
                changes: rewritten.changes,
                warnings: rewritten.warnings,
            });
            let out = rewritten.text.map_or(original, String::into_bytes);
            staged.staging.write(relative, &out)?;
            progress(done + out.len() as u64, total);
            out.len() as u64
        } else {
            let dest = staged.staging.path(relative);
            input.extract_entry(&name, &dest, &mut |n| progress(done + n, total))?
        };
        done += bytes;
        staged.report.restored.entry(*class).or_default().add(bytes);
    }

    let external_kinds = KindMap::new(externals.iter().map(|(r, _)| r.as_str()), &[], &|_| false);
    for (relative, size) in &externals {
        let skip = if selection.externals {
            selection.skip_kind(Some(external_kinds.kind(relative)))
        } else {
            Some(Skip::External)
        };
        if let Some(skip) = skip {
            staged.report.skipped.entry(skip).or_default().add(*size);
            continue;
        }
        let original = Path::new("/").join(relative);
        let dest = mapping.map_path(&original).unwrap_or(original);
        if dest.starts_with(datadir) {
            staged.report.warnings.push(format!(
                "{EXTERNAL_PREFIX}{relative} would land inside the data directory at {}; left out",
                dest.display()
            ));
            continue;
        }
        let path = journal.staging_file(&dest)?;
        staged.externals.push((path.clone(), dest));
        let bytes =
            input.extract_entry(&format!("{EXTERNAL_PREFIX}{relative}"), &path, &mut |n| {
                progress(done + n, total)
            })?;
        done += bytes;
        staged.report.externals.add(bytes);
    }
    staged.staging.seal()?;
    Ok(Some(staged))
}

/// The scope a file belongs to: a backup holding any file of a scope
/// replaces that scope's files. Catalog, settings and security are one
/// scope each; data and other files one per top folder (`data/geonode/`
/// and `geonode/` on their own, as GeoNode's archives hold only those).
fn scope(relative: &str, class: Class) -> String {
    match class {
        Class::Data | Class::Other => {
            if relative.starts_with("data/geonode/") {
                "data:data/geonode".to_owned()
            } else {
                let top = relative.split_once('/').map_or("", |(top, _)| top);
                format!("{}:{top}", class.name())
            }
        }
        class => class.name().to_owned(),
    }
}

fn read_entry(input: &mut BackupReader, name: &str) -> Result<Vec<u8>, Error> {
    let backup = input.path().display().to_string();
    let mut bytes = Vec::new();
    input
        .open_entry(name)?
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Error::new(
                ErrorKind::Input,
                format!("{backup}: cannot read {name}: {e}"),
            )
        })?;
    Ok(bytes)
}

/// The paths of a data directory and of a restore, to find the largest
/// folders that can be swapped whole.
#[derive(Default)]
struct Tree {
    children: BTreeMap<String, Tree>,
    /// Something under (or at) this path stays as it is.
    kept: bool,
    /// A link or mount point: never renamed itself.
    pinned: bool,
}

impl Tree {
    fn node(&mut self, relative: &str, kept: bool) -> &mut Tree {
        let mut node = self;
        for part in relative.split('/') {
            node = node.children.entry(part.to_owned()).or_default();
            node.kept |= kept;
        }
        node
    }

    fn insert(&mut self, relative: &str, kept: bool) {
        self.node(relative, kept);
    }

    fn pin(&mut self, relative: &str) {
        self.node(relative, false).pinned = true;
    }

    /// The largest paths with nothing kept under them: each is renamed whole.
    fn units(&self, prefix: &str, out: &mut Vec<String>) {
        for (name, child) in &self.children {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if !child.kept && !child.pinned {
                out.push(path);
            } else {
                child.units(&path, out);
            }
        }
    }
}

impl StagedDataDir {
    /// Puts the staged restore in place: each path it replaces is renamed
    /// into `<datadir>/.gnbr-previous-<run>` (external files: beside
    /// themselves, `.<name>.gnbr-previous-<run>`), each staged path renamed
    /// into place, every step journaled in `journal`.
    ///
    /// # Errors
    ///
    /// A rename fails (a path on another filesystem, a permission); the
    /// caller then aborts the journal, which undoes every rename done.
    pub fn swap_in(self, journal: &mut Journal) -> Result<(), Error> {
        let mut ops = self.staging.plan(journal, &Replace::Paths(self.units))?;
        for (staged, dest) in self.externals {
            if dest.symlink_metadata().is_ok() {
                ops.push(Op::Rename {
                    from: dest.clone(),
                    to: journal.previous_file(&dest),
                });
            }
            ops.push(Op::Rename {
                from: staged,
                to: dest,
            });
        }
        journal.swap(ops)
    }
}

#[cfg(test)]
mod tests {
    use std::{fs, path::Path};

    use super::{classify, stage, Class, Selection, Skip};
    use crate::geoserver::datadir::{
        scan::device,
        test_support::{archive_of, busy_data_dir, copy_tree, snapshot, write, MINIMAL},
    };
    use crate::{
        archive::{BackupReader, BackupWriter},
        errors::ErrorKind,
        geoserver::rewrite::{Mapping, PathRule},
        swap::Journal,
    };

    #[test]
    fn restores_staged_then_swapped_keeping_what_it_does_not_replace() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = archive_of(Path::new(MINIMAL), &tmp.path().join("b.zip"));
        let target = tmp.path().join("target");
        copy_tree(Path::new(MINIMAL), &target);
        write(&target, "global.xml", "<global>target's own</global>");
        write(
            &target,
            "workspaces/extra/workspace.xml",
            "<workspace><name>extra</name></workspace>",
        );
        write(&target, "styles/point.sld", "changed on the target");
        write(&target, "logs/geoserver.log", "target log");
        write(&target, "gwc/sf_roads/EPSG_4326_01/0_0/00_00.png", "tile");
        write(&target, "data/target-only.tif", "target data");
        let before = snapshot(&target);

        let selection = Selection {
            settings: false,
            ..Selection::all()
        };
        let mut input = BackupReader::open(&archive).unwrap();
        let mut journal = Journal::begin(tmp.path(), "s", "db", true).unwrap();
        let staged = stage(
            &mut input,
            &target,
            &selection,
            &Mapping::default(),
            &mut journal,
            &mut |_, _| {},
        )
        .unwrap()
        .unwrap();
        assert_eq!(snapshot(&target), before, "staging changes nothing");
        assert_eq!(staged.report.restored[&Class::Catalog].files, 37);
        assert!(!staged.report.restored.contains_key(&Class::Settings));

        staged.swap_in(&mut journal).unwrap();
        let after = snapshot(&target);
        let source = snapshot(Path::new(MINIMAL));
        for (name, bytes) in &source {
            if classify(name) == Class::Settings {
                continue;
            }
            assert_eq!(after.get(name), Some(bytes), "{name}");
        }
        assert_eq!(
            after["global.xml"], b"<global>target's own</global>",
            "settings kept"
        );
        assert_eq!(after["logs/geoserver.log"], b"target log", "ephemeral kept");
        assert!(
            after.contains_key("gwc/sf_roads/EPSG_4326_01/0_0/00_00.png"),
            "tile cache kept"
        );
        assert!(
            !after.contains_key("workspaces/extra/workspace.xml"),
            "not in the backup's catalog"
        );
        assert!(
            !after.contains_key("data/target-only.tif"),
            "the backup holds data/"
        );
        journal.commit().unwrap();
        let kept = journal.finish().unwrap().kept;
        assert_eq!(kept.len(), 1);
        let previous = snapshot(&kept[0]);
        assert_eq!(
            previous["workspaces/extra/workspace.xml"],
            b"<workspace><name>extra</name></workspace>"
        );
        assert_eq!(previous["styles/point.sld"], b"changed on the target");
        let leftovers: Vec<_> = fs::read_dir(&target)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".gnbr-"))
            .collect();
        assert_eq!(leftovers, [kept[0].file_name().unwrap().to_string_lossy()]);
    }

    #[test]
    fn undo_puts_the_old_data_dir_back() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = archive_of(Path::new(MINIMAL), &tmp.path().join("b.zip"));
        let target = tmp.path().join("target");
        write(
            &target,
            "workspaces/old/workspace.xml",
            "<workspace><name>old</name></workspace>",
        );
        write(&target, "global.xml", "<global/>");
        let before = snapshot(&target);
        let mut input = BackupReader::open(&archive).unwrap();
        let mut journal = Journal::begin(tmp.path(), "s", "db", true).unwrap();
        let staged = stage(
            &mut input,
            &target,
            &Selection::all(),
            &Mapping::default(),
            &mut journal,
            &mut |_, _| {},
        )
        .unwrap()
        .unwrap();
        staged.swap_in(&mut journal).unwrap();
        assert_ne!(snapshot(&target), before);
        journal.abort().unwrap();
        assert_eq!(snapshot(&target), before);
        assert_eq!(
            fs::read_dir(&target).unwrap().count(),
            2,
            "no staging or previous folder left"
        );
    }

    #[test]
    fn a_damaged_backup_leaves_the_data_dir_as_it_was() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = tmp.path().join("backup");
        archive_of(Path::new(MINIMAL), &folder);
        // Changed after the manifest was written: its sha256 no longer matches.
        fs::write(
            folder.join("gs_data_dir/styles/default_point.sld"),
            "tampered",
        )
        .unwrap();
        let target = tmp.path().join("target");
        copy_tree(Path::new(MINIMAL), &target);
        let before = snapshot(&target);
        let mut input = BackupReader::open(&folder).unwrap();
        let mut journal = Journal::begin(tmp.path(), "s", "db", true).unwrap();
        let err = stage(
            &mut input,
            &target,
            &Selection::all(),
            &Mapping::default(),
            &mut journal,
            &mut |_, _| {},
        )
        .err()
        .unwrap();
        assert_eq!(err.kind, ErrorKind::Input, "{err}");
        assert!(err.message.contains("styles/default_point.sld"), "{err}");
        drop(journal);
        assert_eq!(snapshot(&target), before);
        assert!(fs::read_dir(&target).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".gnbr-")));
    }

    #[test]
    fn a_failed_swap_is_undone() {
        // A link to a folder on another filesystem: renames across it fail.
        let other = Path::new("/dev/shm");
        let tmp = tempfile::tempdir().unwrap();
        let Ok(elsewhere) = tempfile::tempdir_in(other) else {
            eprintln!(
                "skipped: no {} to put a second filesystem in",
                other.display()
            );
            return;
        };
        if device(&fs::metadata(elsewhere.path()).unwrap())
            == device(&fs::metadata(tmp.path()).unwrap())
        {
            eprintln!("skipped: {} is on the same filesystem", other.display());
            return;
        }
        let archive = archive_of(Path::new(MINIMAL), &tmp.path().join("b.zip"));
        let target = tmp.path().join("target");
        copy_tree(Path::new(MINIMAL), &target);
        write(&target, "global.xml", "<global>old</global>");
        copy_tree(&target.join("data"), &elsewhere.path().join("data"));
        fs::remove_dir_all(target.join("data")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path().join("data"), target.join("data")).unwrap();
        write(&target, "data/nodataSquare.png", "old png");
        let before = snapshot(&target);
        let mut input = BackupReader::open(&archive).unwrap();
        let mut journal = Journal::begin(tmp.path(), "s", "db", true).unwrap();
        let staged = stage(
            &mut input,
            &target,
            &Selection::all(),
            &Mapping::default(),
            &mut journal,
            &mut |_, _| {},
        )
        .unwrap()
        .unwrap();
        let err = staged.swap_in(&mut journal).err().unwrap();
        journal.abort().unwrap();
        assert_eq!(err.kind, ErrorKind::Run);
        assert!(err.message.contains("data/"), "{err}");
        assert_eq!(snapshot(&target), before);
        assert!(fs::symlink_metadata(target.join("data"))
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn a_geonode_archive_replaces_only_the_folders_it_holds() {
        let tmp = tempfile::tempdir().unwrap();
        // What GeoNode's backup writes: uploaded rasters and vector table dumps, no catalog.
        let with_dump = tmp.path().join("geonode.zip");
        let mut out = BackupWriter::create(&with_dump, false).unwrap();
        for (name, bytes) in [
            (
                "gs_data_dir/data/geonode/dem/dem.tif",
                b"new dem".as_slice(),
            ),
            (
                "gs_data_dir/geonode/roads.sql",
                b"-- a table dump".as_slice(),
            ),
        ] {
            let mut entry = out.entry(name).unwrap();
            std::io::Write::write_all(&mut entry, bytes).unwrap();
            entry.close().unwrap();
        }
        out.finish().unwrap();
        let target = tmp.path().join("target");
        copy_tree(Path::new(MINIMAL), &target);
        write(&target, "data/geonode/old/old.tif", "old upload");
        write(
            &target,
            "geonode/upload.tif",
            "kept: the backup has no geonode/ content",
        );
        let before = snapshot(&target);
        let mut input = BackupReader::open(&with_dump).unwrap();
        let mut journal = Journal::begin(tmp.path(), "s", "db", true).unwrap();
        let staged = stage(
            &mut input,
            &target,
            &Selection::all(),
            &Mapping::default(),
            &mut journal,
            &mut |_, _| {},
        )
        .unwrap()
        .unwrap();
        assert_eq!(staged.report.skipped[&Skip::TableDump].files, 1);
        assert_eq!(staged.report.replaced, 1, "only data/geonode/old/old.tif");
        assert!(
            before.contains_key("geonode/upload.tif"),
            "a table dump alone does not replace geonode/"
        );
        staged.swap_in(&mut journal).unwrap();
        journal.commit().unwrap();
        journal.finish().unwrap();
        let mut expected = before;
        expected.remove("data/geonode/old/old.tif");
        expected.insert("data/geonode/dem/dem.tif".into(), b"new dem".to_vec());
        assert_eq!(
            snapshot(&target),
            expected,
            "catalog, settings, security and data/ kept"
        );
    }

    #[test]
    fn restores_external_files_and_rewrites_their_references() {
        let tmp = tempfile::tempdir().unwrap();
        let (source, outside) = (tmp.path().join("gs"), tmp.path().join("mnt"));
        busy_data_dir(&source, &outside);
        let archive = archive_of(&source, &tmp.path().join("b.zip"));
        let moved = tmp.path().join("srv");
        write(&moved, "rasters/big.tif", "the target's older copy");
        let mapping = Mapping {
            paths: vec![PathRule {
                from: outside.clone(),
                to: moved.clone(),
            }],
            ..Mapping::default()
        };
        let target = tmp.path().join("target");
        let mut input = BackupReader::open(&archive).unwrap();
        let mut journal = Journal::begin(tmp.path(), "s", "db", true).unwrap();
        let staged = stage(
            &mut input,
            &target,
            &Selection::all(),
            &mapping,
            &mut journal,
            &mut |_, _| {},
        )
        .unwrap()
        .unwrap();
        assert_eq!(staged.report.externals.files, 3);
        assert_eq!(staged.report.rewrite.files, 2);
        assert_eq!(
            fs::read(moved.join("rasters/big.tif")).unwrap(),
            b"the target's older copy"
        );
        staged.swap_in(&mut journal).unwrap();
        journal.commit().unwrap();
        let kept = journal.finish().unwrap().kept;
        assert_eq!(
            fs::read(moved.join("rasters/big.tif")).unwrap(),
            b"outside raster"
        );
        assert_eq!(
            fs::read(moved.join("shapes/roads.shp")).unwrap(),
            b"outside vector"
        );
        assert!(
            kept.iter().any(|k| k.ends_with(".big.tif.gnbr-previous-s")),
            "{kept:?}"
        );
        let store = fs::read_to_string(target.join("workspaces/sf/big/coveragestore.xml")).unwrap();
        assert!(
            store.contains(&format!("file://{}/rasters/big.tif", moved.display())),
            "{store}"
        );
    }
}
