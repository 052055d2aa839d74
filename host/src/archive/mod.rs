//! Backup archives: a GeoNode backup as a zip file or as a folder, read and
//! written entry by entry, with gnbr's manifest of checksums.

mod extract;
mod folder;
mod manifest;
mod pipe;
mod reader;
pub mod targets;
mod writer;

pub use extract::{stage_folder, StagedFolder};
pub use folder::add_folder;
pub use manifest::{
    DatastoreSource, EntryDigest, GeoServerSource, Manifest, SiteSource, TableRecord, MANIFEST_NAME,
};
pub use pipe::write_in_background;
pub use reader::{check_backup_path, hex, BackupReader, EntryInfo};
pub use writer::{write_error, BackupWriter, EntrySink, EntryWriter};

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
    let unreadable = |e: std::io::Error| {
        Error::new(
            ErrorKind::Input,
            format!("cannot read {}: {e}", path.display()),
        )
    };
    let mut file = File::open(path).map_err(unreadable)?;
    let (mut sha, mut md5) = (Sha256::new(), Md5::new());
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(unreadable)?;
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
