//! Folders of a backup (`uploaded/`, `assets/`) put in place: extracted into
//! a staging folder next to their destination, then swapped in by renames,
//! so the destination is either wholly old or wholly new.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use tempfile::TempDir;

use super::BackupReader;
use crate::errors::{Error, ErrorKind};

/// A backup folder extracted next to its destination, not yet in place.
pub struct StagedFolder {
    staging: TempDir,
    dest: PathBuf,
    /// Files extracted.
    pub files: u64,
    /// Bytes extracted.
    pub bytes: u64,
}

/// A folder swapped in; the previous content is kept aside until finished.
pub struct SwappedFolder {
    dest: PathBuf,
    previous: Option<PathBuf>,
}

/// Extracts the entries under `prefix` (`uploaded/`) into a staging folder
/// next to `dest`. Every file's size is counted and its checksum checked
/// (the manifest's sha256, the zip's CRC-32). `None` when the backup has no
/// such entries.
///
/// # Errors
///
/// A damaged entry, or a destination folder that is not writable.
pub fn stage_folder(
    input: &mut BackupReader,
    prefix: &str,
    dest: &Path,
) -> Result<Option<StagedFolder>, Error> {
    let names: Vec<String> = input
        .entries()
        .iter()
        .filter(|e| e.name.starts_with(prefix))
        .map(|e| e.name.clone())
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    fs::create_dir_all(parent).map_err(|e| write_error(parent, &e))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.gnbr-staging-"))
        .tempdir_in(parent)
        .map_err(|e| write_error(parent, &e))?;
    let mut staged = StagedFolder {
        staging,
        dest: dest.to_owned(),
        files: 0,
        bytes: 0,
    };
    let backup = input.path().display().to_string();
    for entry in names {
        let relative = &entry[prefix.len()..];
        let target = staged.staging.path().join(relative);
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir).map_err(|e| write_error(dir, &e))?;
        }
        let mut source = input.open_entry(&entry)?;
        let mut file = fs::File::create(&target).map_err(|e| write_error(&target, &e))?;
        let bytes = io::copy(&mut source, &mut file).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => {
                Error::new(ErrorKind::Input, format!("{backup}: {entry}: {e}"))
            }
            _ => write_error(&target, &e),
        })?;
        file.flush().map_err(|e| write_error(&target, &e))?;
        staged.files += 1;
        staged.bytes += bytes;
    }
    Ok(Some(staged))
}

impl StagedFolder {
    /// The destination.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Renames the destination aside and the staging folder into its place.
    ///
    /// # Errors
    ///
    /// When a rename fails; the destination is then as it was.
    pub fn swap_in(self, stamp: &str) -> Result<SwappedFolder, Error> {
        let previous = if self.dest.exists() {
            let name = self.dest.file_name().unwrap_or_default().to_string_lossy();
            let aside = self
                .dest
                .with_file_name(format!(".{name}.gnbr-previous-{stamp}"));
            fs::rename(&self.dest, &aside).map_err(|e| write_error(&self.dest, &e))?;
            Some(aside)
        } else {
            None
        };
        let staging = self.staging.keep();
        if let Err(e) = fs::rename(&staging, &self.dest) {
            if let Some(previous) = &previous {
                let _ = fs::rename(previous, &self.dest);
            }
            let _ = fs::remove_dir_all(&staging);
            return Err(write_error(&self.dest, &e));
        }
        Ok(SwappedFolder {
            dest: self.dest,
            previous,
        })
    }
}

impl SwappedFolder {
    /// Puts the previous content back (the restore failed after the swap).
    pub fn undo(self) {
        let name = self.dest.file_name().unwrap_or_default().to_string_lossy();
        let failed = self.dest.with_file_name(format!(".{name}.gnbr-failed"));
        if fs::rename(&self.dest, &failed).is_ok() {
            if let Some(previous) = &self.previous {
                let _ = fs::rename(previous, &self.dest);
            }
            let _ = fs::remove_dir_all(&failed);
        }
    }

    /// Ends the swap: the previous content is kept (its path returned) or removed.
    pub fn finish(self, keep_previous: bool) -> Option<PathBuf> {
        let previous = self.previous?;
        if keep_previous {
            return Some(previous);
        }
        if let Err(e) = fs::remove_dir_all(&previous) {
            tracing::warn!(
                "the previous content is still at {}: {e}",
                previous.display()
            );
        }
        None
    }
}

fn write_error(path: &Path, err: &io::Error) -> Error {
    Error::new(
        ErrorKind::Run,
        format!("cannot write {}: {err}", path.display()),
    )
    .hint("the folder must be writable by the user running gnbr")
}
