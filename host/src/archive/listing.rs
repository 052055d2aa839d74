//! The archives of a backup folder: each `.zip` (or encrypted `.zip.age`) file in it, what its
//! manifest says, and the sidecars gnbr wrote beside it. The one place
//! that lists a folder (`gnbr backups list`, `gnbr prune`, the admin
//! page); another kind of location (a bucket) lists through its own
//! function returning the same [`ListedArchive`]s.

use std::{
    path::{Path, PathBuf},
    time::UNIX_EPOCH,
};

use serde::Serialize;

use super::{is_encrypted, is_fixture_entry, md5_sidecars, sidecar, BackupReader, MANIFEST_NAME};
use crate::{
    errors::{Error, ErrorKind},
    time::parse_utc,
};

/// The sidecars gnbr (and GeoNode) write beside `<stem>.zip` (see [`sidecar`]).
pub const SIDECARS: [&str; 2] = ["md5", "ini"];

/// Who wrote an archive, as its content tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupKind {
    /// gnbr: it holds gnbr's `manifest.json`.
    Gnbr,
    /// GeoNode's own backup: fixtures, no manifest.
    Geonode,
}

/// Where an archive's date comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateSource {
    /// The manifest's `created`.
    Manifest,
    /// The name, `YYYY-MM-DD_HHMMSS`.
    Name,
}

/// One `.zip` or `.zip.age` file of a backup folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedArchive {
    /// Its file name.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was last written (seconds since the epoch).
    pub modified: i64,
    /// When the backup was taken (seconds since the epoch, UTC), and where
    /// that comes from; `None` when neither the manifest nor the name tells.
    pub created: Option<(i64, DateSource)>,
    /// Whether it is encrypted (its name ends in `.age`).
    pub encrypted: bool,
    /// Whether its name is one gnbr gives: `YYYY-MM-DD_HHMMSS.zip`, or
    /// `YYYY-MM-DD_HHMMSS_N.zip` when that name was taken (either with
    /// `.age` after it when encrypted).
    pub named_by_gnbr: bool,
    /// Who wrote it; `None` when it cannot be read as a backup.
    pub kind: Option<BackupKind>,
    /// The source GeoNode's version its manifest records.
    pub geonode_version: Option<String>,
    /// GeoNode's `.md5` sidecar beside it, when there is one.
    pub md5_sidecar: Option<PathBuf>,
    /// The sidecars gnbr writes beside it ([`SIDECARS`]) that are there.
    pub sidecars: Vec<PathBuf>,
    /// Why it cannot be read as a backup, if it cannot.
    pub problem: Option<String>,
}

impl ListedArchive {
    /// Whether gnbr may remove it: named as gnbr names archives and read as
    /// a gnbr or GeoNode backup.
    pub fn is_own(&self) -> bool {
        self.named_by_gnbr && self.kind.is_some()
    }

    /// The archive and the sidecars beside it that are there.
    pub fn files(&self) -> Vec<PathBuf> {
        std::iter::once(self.path.clone())
            .chain(self.sidecars.iter().cloned())
            .collect()
    }
}

/// An archive file as its location lists it, before it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFile {
    /// Its file name.
    pub name: String,
    /// Its path (a folder's) or URL (a bucket's).
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was last written (seconds since the epoch).
    pub modified: i64,
    /// GeoNode's `.md5` sidecar beside it, when there is one.
    pub md5_sidecar: Option<PathBuf>,
    /// The sidecars gnbr writes beside it ([`SIDECARS`]) that are there.
    pub sidecars: Vec<PathBuf>,
}

/// The `.zip` and `.zip.age` archives of `folder`, newest first (by their date, else
/// their modification time; then by modification time, then by name).
///
/// # Errors
///
/// An [`ErrorKind::Usage`] error when the folder cannot be read.
pub fn list_archives(folder: &Path) -> Result<Vec<ListedArchive>, Error> {
    let mut archives: Vec<ListedArchive> = folder_archives(folder)?
        .into_iter()
        .map(|file| {
            let reader = BackupReader::open(&file.path);
            describe_archive(file, reader)
        })
        .collect();
    sort_newest_first(&mut archives);
    Ok(archives)
}

/// The `.zip` and `.zip.age` archives of `folder` as the folder lists them,
/// none of them read (in no particular order).
///
/// # Errors
///
/// An [`ErrorKind::Usage`] error when the folder cannot be read.
pub fn folder_archives(folder: &Path) -> Result<Vec<ArchiveFile>, Error> {
    let entries = std::fs::read_dir(folder).map_err(|e| {
        Error::new(
            ErrorKind::Usage,
            format!("cannot read the backup folder {}: {e}", folder.display()),
        )
        .hint("pass the folder `gnbr backup --backup-dir` writes into")
    })?;
    Ok(entries
        .filter_map(Result::ok)
        .filter_map(|entry| folder_archive(folder, &entry.file_name().into_string().ok()?))
        .collect())
}

/// The archive `name` of `folder` as the folder lists it, unread; `None`
/// when `name` is not one of its archives ([`archive_path`]).
pub fn folder_archive(folder: &Path, name: &str) -> Option<ArchiveFile> {
    let path = archive_path(folder, name)?;
    let meta = std::fs::metadata(&path).ok()?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Some(ArchiveFile {
        name: name.to_owned(),
        md5_sidecar: md5_sidecars(&path).into_iter().find(|p| p.is_file()),
        sidecars: with_sidecars(&path)[1..].to_vec(),
        path,
        bytes: meta.len(),
        modified,
    })
}

/// Sorts `archives` newest first: by their date, else their modification
/// time; then by modification time, then by name.
pub fn sort_newest_first(archives: &mut [ListedArchive]) {
    let newest = |a: &ListedArchive| a.created.map_or(a.modified, |(date, _)| date);
    archives
        .sort_by(|a, b| (newest(b), b.modified, &b.name).cmp(&(newest(a), a.modified, &a.name)));
}

/// What the archive `file`, opened as `reader`, says of itself.
pub fn describe_archive(file: ArchiveFile, reader: Result<BackupReader, Error>) -> ListedArchive {
    let stamp = name_stamp(&file.name);
    let mut archive = ListedArchive {
        named_by_gnbr: stamp.is_some(),
        encrypted: is_encrypted(&file.path),
        created: stamp.map(|date| (date, DateSource::Name)),
        md5_sidecar: file.md5_sidecar,
        sidecars: file.sidecars,
        name: file.name,
        path: file.path,
        bytes: file.bytes,
        modified: file.modified,
        kind: None,
        geonode_version: None,
        problem: None,
    };
    let reader = match reader {
        Ok(reader) => reader,
        Err(e) => {
            archive.problem = Some(e.message);
            return archive;
        }
    };
    if let Some(manifest) = reader.manifest() {
        archive.kind = Some(BackupKind::Gnbr);
        archive
            .geonode_version
            .clone_from(&manifest.geonode_version);
        if let Some(date) = parse_utc(&manifest.created) {
            archive.created = Some((date, DateSource::Manifest));
        }
    } else if reader.entries().iter().any(|e| is_fixture_entry(&e.name)) {
        archive.kind = Some(BackupKind::Geonode);
    } else {
        archive.problem = Some(format!(
            "holds neither gnbr's {MANIFEST_NAME} nor GeoNode's fixtures: not a backup"
        ));
    }
    archive
}

/// The time in a name gnbr gives archives, `YYYY-MM-DD_HHMMSS.zip` or
/// `YYYY-MM-DD_HHMMSS_N.zip` (N from 2), either with `.age` after it when
/// encrypted, as seconds since the epoch.
pub fn name_stamp(name: &str) -> Option<i64> {
    let stem = name
        .strip_suffix(".age")
        .unwrap_or(name)
        .strip_suffix(".zip")?;
    if !stem.is_ascii() || stem.len() < 17 {
        return None;
    }
    let (stamp, rest) = stem.split_at(17);
    let numbered = match rest.strip_prefix('_') {
        None => rest.is_empty(),
        Some(n) => {
            !n.starts_with('0')
                && n.bytes().all(|b| b.is_ascii_digit())
                && n.parse::<u64>().is_ok_and(|n| n >= 2)
        }
    };
    if !numbered || stamp.as_bytes()[10] != b'_' {
        return None;
    }
    parse_utc(stamp)
}

/// The archive `name` in `folder`, when it is one: a plain `.zip` or `.zip.age` file
/// name (no folder, not hidden) of a regular file, not a link.
pub fn archive_path(folder: &Path, name: &str) -> Option<PathBuf> {
    let path = folder.join(name);
    let regular = is_archive_name(name)
        && std::fs::symlink_metadata(&path)
            .map(|m| m.file_type().is_file())
            .unwrap_or(false);
    regular.then_some(path)
}

/// Whether `name` is one a listed archive may have: a plain `.zip` or
/// `.zip.age` file name, no folder, not hidden, no control character.
pub fn is_archive_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains('/')
        && !name.chars().any(char::is_control)
        && (name.ends_with(".zip") || name.ends_with(".zip.age"))
}

/// `archive` and the sidecars beside it that are there.
pub fn with_sidecars(archive: &Path) -> Vec<PathBuf> {
    std::iter::once(archive.to_owned())
        .chain(
            SIDECARS
                .iter()
                .map(|ext| sidecar(archive, ext))
                .filter(|p| p.is_file()),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use std::{fs, io::Write};

    use super::{list_archives, name_stamp, BackupKind, DateSource};
    use crate::archive::BackupWriter;

    #[test]
    fn only_names_gnbr_gives_carry_a_stamp() {
        assert_eq!(name_stamp("2023-11-14_221320.zip"), Some(1_700_000_000));
        assert_eq!(name_stamp("2023-11-14_221320_2.zip"), Some(1_700_000_000));
        assert_eq!(name_stamp("2023-11-14_221320_12.zip"), Some(1_700_000_000));
        for other in [
            "2023-11-14_221320.md5",
            "2023-11-14_221320_1.zip",
            "2023-11-14_221320_02.zip",
            "2023-11-14_221320_.zip",
            "2023-11-14_221320-copy.zip",
            "2023-11-14T22:13:20.zip",
            "x2023-11-14_221320.zip",
            "holiday.zip",
            "2023-11-14_221320é.zip",
        ] {
            assert_eq!(name_stamp(other), None, "{other}");
        }
    }

    #[test]
    fn lists_zip_files_with_their_date_kind_and_problem() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path();
        let mut writer =
            BackupWriter::create(&folder.join("2024-01-02_030405.zip"), false).unwrap();
        writer.manifest_mut().created = "2024-01-02_040000".to_owned();
        writer.manifest_mut().geonode_version = Some("4.4.0".to_owned());
        writer.finish().unwrap();
        let mut geonode = zip::ZipWriter::new(fs::File::create(folder.join("own.zip")).unwrap());
        geonode
            .start_file("base.json", zip::write::SimpleFileOptions::default())
            .unwrap();
        geonode.write_all(b"[]").unwrap();
        geonode.finish().unwrap();
        fs::write(folder.join("2024-01-01_000000.zip"), "not a zip").unwrap();
        fs::write(folder.join("2024-01-01_000000.md5"), "x").unwrap();
        fs::write(folder.join("notes.txt"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", folder.join("link.zip")).unwrap();

        let listed = list_archives(folder).unwrap();
        let names: Vec<&str> = listed.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names[1..],
            ["2024-01-02_030405.zip", "2024-01-01_000000.zip"]
        );
        assert_eq!(names[0], "own.zip", "dated by its modification time: now");
        let gnbr = &listed[1];
        assert_eq!(gnbr.kind, Some(BackupKind::Gnbr));
        assert_eq!(
            gnbr.created,
            Some((1_704_168_000, DateSource::Manifest)),
            "the manifest's time wins over the name's"
        );
        assert_eq!(gnbr.geonode_version.as_deref(), Some("4.4.0"));
        assert!(gnbr.is_own() && gnbr.problem.is_none());
        assert_eq!(listed[0].kind, Some(BackupKind::Geonode));
        assert!(!listed[0].is_own(), "not named as gnbr names archives");
        let broken = &listed[2];
        assert_eq!(broken.created, Some((1_704_067_200, DateSource::Name)));
        assert!(broken
            .problem
            .as_deref()
            .unwrap()
            .contains("not a readable zip"));
        assert!(!broken.is_own());
        assert_eq!(
            broken.md5_sidecar.as_deref(),
            Some(folder.join("2024-01-01_000000.md5").as_path())
        );
        assert_eq!(broken.files().len(), 2);
    }

    #[test]
    fn a_folder_that_cannot_be_read_is_named() {
        let error = list_archives(std::path::Path::new("/nonexistent/backups")).unwrap_err();
        assert!(error.message.contains("/nonexistent/backups"), "{error}");
    }
}
