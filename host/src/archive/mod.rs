//! Backup archives: a GeoNode backup as a zip file or as a folder, read and
//! written entry by entry, with gnbr's manifest of checksums.

mod crypt;
mod extract;
mod folder;
mod listing;
mod manifest;
mod pipe;
mod reader;
pub mod targets;
mod writer;

pub use crypt::{decrypt_reader, is_encrypted, set_identity_file, Encryption, PASSPHRASE_VAR};
pub use extract::{stage_folder, StagedFolder};
pub use folder::add_folder;
pub use listing::{
    archive_path, describe_archive, folder_archive, folder_archives, is_archive_name,
    list_archives, name_stamp, sort_newest_first, with_sidecars, ArchiveFile, BackupKind,
    DateSource, ListedArchive, SIDECARS,
};
pub use manifest::{
    DatastoreSource, EntryDigest, GeoServerSource, Manifest, SiteSource, TableRecord, MANIFEST_NAME,
};
pub use pipe::write_in_background;
pub use reader::{check_backup_path, hex, ArchiveRead, BackupReader, EntryInfo};
pub use writer::{write_error, BackupWriter, EntrySink, EntryWriter, Finished};

use std::{
    fs::File,
    io::Read,
    path::{Path, PathBuf},
};

use md5::Md5;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::errors::{Error, ErrorKind};

/// A folder of the target replaced by one of the backup.
#[derive(Debug, Serialize)]
pub struct FolderReport {
    /// The backup's folder (`uploaded/`).
    pub from: String,
    /// The target folder (`MEDIA_ROOT`).
    pub to: PathBuf,
    /// Files put in place.
    pub files: u64,
    /// Bytes put in place.
    pub bytes: u64,
    /// Where the replaced content was kept, if it was.
    pub previous: Option<PathBuf>,
}

/// A file's checksums, hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSums {
    /// sha256, as gnbr's manifest and restore log record archives.
    pub sha256: String,
    /// md5, as GeoNode's `<archive>.md5` sidecar holds it.
    pub md5: String,
}

/// The sha256 and md5 of the file at `path`, read once.
///
/// # Errors
///
/// When it cannot be read (an [`ErrorKind::Input`] error naming it).
pub fn file_sums(path: &Path) -> Result<FileSums, Error> {
    let file = File::open(path).map_err(|e| {
        Error::new(
            ErrorKind::Input,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    read_sums(file, path)
}

/// The sha256 and md5 of what `input` reads to its end; `shown` names it
/// in errors.
///
/// # Errors
///
/// When it cannot be read (an [`ErrorKind::Input`] error naming it).
pub fn read_sums(mut input: impl Read, shown: &Path) -> Result<FileSums, Error> {
    let unreadable = |e: std::io::Error| {
        Error::new(
            ErrorKind::Input,
            format!("cannot read {}: {e}", shown.display()),
        )
    };
    let (mut sha, mut md5) = (Sha256::new(), Md5::new());
    let mut buf = vec![0; 1 << 20];
    loop {
        crate::cancel::check()?;
        let n = input.read(&mut buf).map_err(unreadable)?;
        if n == 0 {
            return Ok(FileSums {
                sha256: hex(&sha.finalize()),
                md5: hex(&md5.finalize()),
            });
        }
        sha.update(&buf[..n]);
        md5.update(&buf[..n]);
    }
}

/// An archive's checksums, checked against GeoNode's `.md5` sidecar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveSums {
    /// The archive's sha256 (for a folder: of its listing, names and sizes).
    pub sha256: String,
    /// The `.md5` sidecar it matched, when it has one.
    pub sidecar: Option<PathBuf>,
}

/// The archive's sha256 (for a folder: of its listing, names and sizes),
/// checked against GeoNode's `<archive>.md5` sidecar when there is one.
///
/// # Errors
///
/// An [`ErrorKind::Input`] error when the archive cannot be read or does
/// not match its sidecar.
pub fn check_archive_sums(archive: &Path) -> Result<ArchiveSums, Error> {
    if check_backup_path(archive)? {
        let listing = BackupReader::open(archive)?
            .entries()
            .iter()
            .map(|e| format!("{}\0{}\n", e.name, e.size))
            .collect::<String>();
        return Ok(ArchiveSums {
            sha256: hex(&Sha256::digest(listing.as_bytes())),
            sidecar: None,
        });
    }
    let sums = file_sums(archive)?;
    let sidecar = md5_sidecars(archive)
        .into_iter()
        .find_map(|p| std::fs::read_to_string(&p).ok().map(|text| (p, text)));
    match_md5_sidecar(archive, sums, sidecar)
}

/// The archive's sums checked against its `.md5` sidecar, `(path, text)`,
/// when it has one.
///
/// # Errors
///
/// An [`ErrorKind::Input`] error when the md5 differs from the sidecar's.
pub fn match_md5_sidecar(
    archive: &Path,
    sums: FileSums,
    sidecar: Option<(PathBuf, String)>,
) -> Result<ArchiveSums, Error> {
    let Some((sidecar, text)) = sidecar else {
        return Ok(ArchiveSums {
            sha256: sums.sha256,
            sidecar: None,
        });
    };
    let expected = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let actual = &sums.md5;
    if expected != *actual {
        return Err(Error::new(
            ErrorKind::Input,
            format!(
                "{} does not match its {} (md5 {actual}, the sidecar says {expected})",
                archive.display(),
                sidecar.display()
            ),
        )
        .hint("the archive is damaged or incomplete: copy it again"));
    }
    Ok(ArchiveSums {
        sha256: sums.sha256,
        sidecar: Some(sidecar),
    })
}

/// Where GeoNode's `.md5` sidecar of `archive` may be: `<stem>.md5`, as
/// GeoNode and gnbr write it, or `<stem>.zip.md5`, as some copies carry it.
/// An encrypted archive's is only `<stem>.zip.age.md5` (see [`sidecar`]):
/// a `<stem>.md5` beside it may be of the plaintext it was made from.
pub fn md5_sidecars(archive: &Path) -> Vec<PathBuf> {
    let whole_name = PathBuf::from(format!("{}.md5", archive.display()));
    if is_encrypted(archive) {
        return vec![whole_name];
    }
    vec![archive.with_extension("md5"), whole_name]
}

/// The sidecar `ext` (`md5`, `ini`) of `archive`: `<stem>.<ext>` beside a
/// `<stem>.zip`, `<stem>.zip.age.<ext>` beside an encrypted archive (whose
/// checksum is of the file as written, not of the zip inside).
pub fn sidecar(archive: &Path, ext: &str) -> PathBuf {
    if is_encrypted(archive) {
        PathBuf::from(format!("{}.{ext}", archive.display()))
    } else {
        archive.with_extension(ext)
    }
}

/// Whether an entry is where fixtures are kept: `fixtures/<name>.json`, or
/// `<name>.json` at the root other than the manifest.
pub fn is_fixture_entry(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".json") else {
        return false;
    };
    match stem.strip_prefix("fixtures/") {
        Some(rest) => !rest.contains('/'),
        None => !stem.contains('/') && name != MANIFEST_NAME,
    }
}

/// Checks that an entry name stays inside the backup: relative, `/`-separated,
/// no `..`, no empty or `.` components.
///
/// # Errors
///
/// When the name could escape the folder it is extracted to.
pub fn check_entry_name(name: &str) -> Result<(), Error> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.contains('\\')
        || name.contains('\0')
        || name.split('/').any(|c| c == ".." || c == ".")
        || name.split('/').rev().skip(1).any(str::is_empty)
        || (name.len() > 1 && name.as_bytes()[1] == b':');
    if bad {
        return Err(Error::new(
            ErrorKind::Input,
            format!("the backup holds an entry named `{name}`, which would land outside the backup's folder"),
        )
        .hint("the archive was not written by GeoNode or gnbr, or was tampered with; do not use it"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_entry_name;

    #[test]
    fn entry_names_must_stay_inside() {
        for good in [
            "fixtures/base.json",
            "uploaded/a b/c.png",
            "dir/",
            "external/opt/data/x.tif",
        ] {
            assert!(check_entry_name(good).is_ok(), "{good}");
        }
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a\\b",
            "C:/x",
            "a//b",
            "./a",
        ] {
            assert!(check_entry_name(bad).is_err(), "{bad}");
        }
    }
}
