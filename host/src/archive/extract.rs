//! Folders of a backup (`uploaded/`, `assets/`) put in place: extracted into
//! a staging folder inside their destination, then swapped in by the
//! restore's journal (see [`crate::swap`]), so that the destination is
//! either wholly old or wholly new.

use std::path::{Component, Path};

use super::BackupReader;
use crate::{
    errors::{Error, ErrorKind},
    swap::{Journal, Replace, Staging, TargetFolder},
};

/// A backup folder extracted inside its destination, not yet in place.
pub struct StagedFolder {
    staging: Staging,
    /// Files extracted.
    pub files: u64,
    /// Symbolic links made.
    pub links: u64,
    /// Bytes extracted.
    pub bytes: u64,
}

/// Extracts the entries under `prefix` (`uploaded/`) but those under
/// `skip` (relative to `prefix`) into a staging folder inside `folder`
/// (created if missing), and the links the manifest records there. Every
/// file's size is counted and its checksum checked (the manifest's sha256,
/// the zip's CRC-32); the staged content takes the folder's owner and
/// mode. `progress` gets the bytes extracted so far and of how many.
/// `None` when the backup has no such entries.
///
/// # Errors
///
/// A damaged entry, a link leaving the folder, or a destination folder
/// that is not writable.
pub fn stage_folder(
    input: &mut BackupReader,
    prefix: &str,
    skip: &[String],
    folder: &TargetFolder,
    journal: &mut Journal,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Option<StagedFolder>, Error> {
    let kept = |relative: &str| {
        !skip
            .iter()
            .any(|s| relative == s || relative.starts_with(&format!("{s}/")))
    };
    let names: Vec<(String, u64)> = input
        .entries()
        .iter()
        .filter_map(|e| Some((e.name.strip_prefix(prefix)?, e.size)))
        .filter(|(relative, _)| kept(relative))
        .map(|(relative, size)| (relative.to_owned(), size))
        .collect();
    let total = names.iter().map(|(_, size)| size).sum();
    let links: Vec<(String, String)> = input
        .manifest()
        .map(|m| {
            m.links
                .iter()
                .filter_map(|(name, target)| {
                    Some((name.strip_prefix(prefix)?.to_owned(), target.clone()))
                })
                .filter(|(relative, _)| kept(relative))
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() && links.is_empty() {
        return Ok(None);
    }
    let backup = input.path().display().to_string();
    for (relative, target) in &links {
        let under_a_link = links
            .iter()
            .any(|(other, _)| relative.starts_with(&format!("{other}/")));
        let checked = if under_a_link {
            Err("is inside another link")
        } else {
            check_link(relative, target)
        };
        checked.map_err(|why| {
            Error::new(
                ErrorKind::Input,
                format!("{backup}: the link {prefix}{relative} -> {target} {why}"),
            )
            .hint("the archive is damaged or was not written by gnbr: restore another one")
        })?;
    }
    let mut staged = StagedFolder {
        staging: Staging::begin(folder.clone(), journal)?,
        files: 0,
        links: 0,
        bytes: 0,
    };
    progress(0, total);
    for (relative, _) in names {
        let path = staged.staging.path(&relative);
        let done = staged.bytes;
        staged.bytes += input.extract_entry(&format!("{prefix}{relative}"), &path, &mut |n| {
            progress(done + n, total);
        })?;
        staged.files += 1;
    }
    for (relative, target) in links {
        staged.staging.symlink(&relative, &target)?;
        staged.links += 1;
    }
    staged.staging.seal()?;
    Ok(Some(staged))
}

/// Why a link of a backed-up folder may not be made, if it may not: its
/// target must be relative, with its `..` first (a `..` after a name could
/// climb out of a linked folder), and stay inside the folder.
fn check_link(relative: &str, target: &str) -> Result<(), &'static str> {
    let target = Path::new(target);
    if target.is_absolute() {
        return Err("is absolute");
    }
    let mut depth = relative.split('/').count() - 1;
    let mut named = false;
    for component in target.components() {
        match component {
            Component::ParentDir if named => return Err("has `..` after a name"),
            Component::ParentDir if depth == 0 => return Err("leaves the backed-up folder"),
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => named = true,
            _ => {}
        }
    }
    Ok(())
}

impl StagedFolder {
    /// The destination, as GeoNode's settings name it.
    pub fn dest(&self) -> &Path {
        &self.staging.folder().given
    }

    /// The folder whose content it replaces.
    pub fn folder(&self) -> &TargetFolder {
        self.staging.folder()
    }

    /// Swaps the staged content in: each entry of the destination renamed
    /// into `.gnbr-previous-<run>` inside it, each staged entry into its
    /// place, every step journaled.
    ///
    /// # Errors
    ///
    /// A folder that cannot be read, a mount point inside the destination,
    /// or a rename that fails; the caller then aborts the journal.
    pub fn swap_in(&self, journal: &mut Journal) -> Result<(), Error> {
        let ops = self.staging.plan(journal, &Replace::Everything)?;
        journal.swap(ops)
    }
}

#[cfg(test)]
mod tests {
    use super::check_link;

    #[test]
    fn links_must_stay_inside_the_folder() {
        assert_eq!(check_link("a/link", "b.tif"), Ok(()));
        assert_eq!(check_link("a/link", "../b/c.tif"), Ok(()));
        assert_eq!(
            check_link("link", "../etc/passwd"),
            Err("leaves the backed-up folder")
        );
        assert_eq!(
            check_link("a/link", "../../x"),
            Err("leaves the backed-up folder")
        );
        assert_eq!(check_link("a/link", "/etc/passwd"), Err("is absolute"));
        assert_eq!(check_link("a/link", "b/../c"), Err("has `..` after a name"));
    }
}
