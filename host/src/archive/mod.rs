//! Backup archives: a GeoNode backup as a zip file or as a folder, read and
//! written entry by entry, with gnbr's manifest of checksums.

mod extract;
mod manifest;
mod pipe;
mod reader;
mod writer;

pub use extract::{stage_folder, StagedFolder, SwappedFolder};
pub use manifest::{
    DatastoreSource, EntryDigest, GeoServerSource, Manifest, TableRecord, MANIFEST_NAME,
};
pub use pipe::write_in_background;
pub use reader::{hex, BackupReader, EntryInfo};
pub use writer::{BackupWriter, EntryWriter};

use crate::errors::{Error, ErrorKind};

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
