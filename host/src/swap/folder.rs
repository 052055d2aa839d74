//! A folder of the target (`MEDIA_ROOT`, `ASSETS_ROOT`) whose content a
//! restore replaces: its *content* is swapped, never the folder itself, so
//! that a mount point (every GeoNode container's volumes), a symlink (the
//! link is kept, its target's content replaced) and the folder's owner,
//! group and mode all stay as they were. Staging and the replaced content
//! go inside it (`.gnbr-staging-<run>`, `.gnbr-previous-<run>`), on the
//! same filesystem as what they swap with.

use std::{
    collections::BTreeSet,
    fs, io,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Component, Path, PathBuf},
};

use super::journal::Op;
use crate::errors::{Error, ErrorKind};

/// Names gnbr's own files inside a target folder start with.
pub const GNBR_PREFIX: &str = ".gnbr-";

/// A target folder, resolved.
#[derive(Debug, Clone)]
pub struct TargetFolder {
    /// As GeoNode's settings name it.
    pub given: PathBuf,
    /// Where its content is: links resolved.
    pub real: PathBuf,
    /// Folders inside it that are other target folders (relative to
    /// `real`): left out of its swap, swapped on their own.
    pub nested: Vec<PathBuf>,
}

/// The owner, group and mode staged content takes from the folder it goes into.
#[derive(Debug, Clone, Copy)]
pub struct Ownership {
    uid: u32,
    gid: u32,
    mode: u32,
}

impl TargetFolder {
    /// Resolves `given` (it need not exist yet).
    pub fn resolve(given: &Path) -> Self {
        Self {
            given: given.to_owned(),
            real: real_path(given),
            nested: Vec::new(),
        }
    }

    /// Marks the folders of `all` nested in one another.
    ///
    /// # Errors
    ///
    /// When two are the same folder.
    pub fn nest(all: &mut [TargetFolder]) -> Result<(), Error> {
        for i in 0..all.len() {
            for j in 0..all.len() {
                if i == j {
                    continue;
                }
                let (outer, inner) = (&all[i], &all[j]);
                if outer.real == inner.real {
                    return Err(Error::new(
                        ErrorKind::Target,
                        format!(
                            "{} and {} are the same folder ({})",
                            outer.given.display(),
                            inner.given.display(),
                            outer.real.display()
                        ),
                    )
                    .hint("give MEDIA_ROOT and ASSETS_ROOT folders of their own"));
                }
                if let Ok(relative) = inner.real.strip_prefix(&outer.real) {
                    let relative = relative.to_owned();
                    all[i].nested.push(relative);
                }
            }
        }
        Ok(())
    }

    /// Creates the folder when it is missing (with its missing parents).
    ///
    /// # Errors
    ///
    /// When it cannot be created.
    pub fn create(&self) -> Result<(), Error> {
        fs::create_dir_all(&self.real).map_err(|e| write_error(&self.real, &e))
    }

    /// The owner, group and mode of the folder.
    ///
    /// # Errors
    ///
    /// When it cannot be read.
    pub fn ownership(&self) -> Result<Ownership, Error> {
        let meta = fs::metadata(&self.real).map_err(|e| write_error(&self.real, &e))?;
        Ok(Ownership {
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode() & 0o7777,
        })
    }

    /// The swap's steps: every entry of the folder (but gnbr's own and
    /// the nested folders) renamed into `previous`, every entry of
    /// `staging` renamed into the folder. Folders on the way to a nested
    /// folder are not moved: their content is swapped the same way.
    ///
    /// # Errors
    ///
    /// A folder that cannot be read, or a mount point inside the folder
    /// (which no rename can move).
    pub fn plan(&self, staging: &Path, previous: &Path) -> Result<Vec<Op>, Error> {
        let mut ops = Vec::new();
        let nested: Vec<&Path> = self.nested.iter().map(PathBuf::as_path).collect();
        plan_level(
            &self.real,
            staging,
            previous,
            &nested,
            true,
            &self.given,
            &mut ops,
        )?;
        Ok(ops)
    }
}

fn plan_level(
    live: &Path,
    staging: &Path,
    previous: &Path,
    nested: &[&Path],
    top: bool,
    given: &Path,
    ops: &mut Vec<Op>,
) -> Result<(), Error> {
    let mut names = BTreeSet::new();
    for dir in [live, staging] {
        match fs::read_dir(dir) {
            Ok(entries) => {
                for entry in entries {
                    names.insert(entry.map_err(|e| read_error(dir, &e))?.file_name());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(read_error(dir, &e)),
        }
    }
    let device = fs::metadata(live).map(|m| m.dev()).ok();
    let mut previous_made = false;
    for name in names {
        if top && name.to_string_lossy().starts_with(GNBR_PREFIX) {
            continue;
        }
        let inner: Vec<&Path> = nested
            .iter()
            .filter_map(|n| n.strip_prefix(&name).ok())
            .collect();
        let (live_path, staged_path, previous_path) =
            (live.join(&name), staging.join(&name), previous.join(&name));
        if inner.iter().any(|n| n.as_os_str().is_empty()) {
            continue;
        }
        if !inner.is_empty() {
            if !previous_made && !previous.exists() {
                ops.push(Op::Mkdir {
                    path: previous.to_owned(),
                });
                previous_made = true;
            }
            plan_level(
                &live_path,
                &staged_path,
                &previous_path,
                &inner,
                false,
                given,
                ops,
            )?;
            continue;
        }
        if let Ok(meta) = live_path.symlink_metadata() {
            if meta.is_dir() && Some(meta.dev()) != device {
                return Err(Error::new(
                    ErrorKind::Target,
                    format!(
                        "{} is a mount point inside {}: gnbr cannot move it aside",
                        live_path.display(),
                        given.display()
                    ),
                )
                .hint("mount the volume at the folder itself (MEDIA_ROOT or ASSETS_ROOT), or unmount it for the restore"));
            }
            if !previous_made && !previous.exists() {
                ops.push(Op::Mkdir {
                    path: previous.to_owned(),
                });
                previous_made = true;
            }
            ops.push(Op::Rename {
                from: live_path.clone(),
                to: previous_path,
            });
        }
        if staged_path.symlink_metadata().is_ok() {
            ops.push(Op::Rename {
                from: staged_path,
                to: live_path,
            });
        }
    }
    Ok(())
}

impl Ownership {
    /// Gives everything under `dir` (not `dir` itself) the folder's owner
    /// and group when gnbr runs as root, and its mode: folders the
    /// folder's, files the folder's read and write bits.
    ///
    /// # Errors
    ///
    /// When a path cannot be changed.
    pub fn apply_below(&self, dir: &Path) -> Result<(), Error> {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        for entry in walkdir::WalkDir::new(dir).min_depth(1) {
            let entry = entry.map_err(|e| {
                Error::new(
                    ErrorKind::Run,
                    format!("cannot read {}: {e}", dir.display()),
                )
            })?;
            let path = entry.path();
            if root {
                std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid))
                    .map_err(|e| write_error(path, &e))?;
            }
            let mode = if entry.file_type().is_dir() {
                self.mode
            } else if entry.file_type().is_file() {
                self.mode & 0o666
            } else {
                continue;
            };
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(|e| write_error(path, &e))?;
        }
        Ok(())
    }
}

/// Where `path`'s content is: its links resolved, the part that does not
/// exist yet appended as given.
pub fn real_path(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut missing = Vec::new();
    let mut at = absolute.as_path();
    loop {
        if let Ok(real) = fs::canonicalize(at) {
            return missing.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_owned());
                at = parent;
            }
            _ => return normalize(&absolute),
        }
    }
}

/// Removes `.` and `..` without touching the filesystem.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn read_error(path: &Path, err: &io::Error) -> Error {
    Error::new(
        ErrorKind::Target,
        format!("cannot read {}: {err}", path.display()),
    )
    .hint("the folder must be readable by the user running gnbr")
}

fn write_error(path: &Path, err: &io::Error) -> Error {
    Error::new(
        ErrorKind::Run,
        format!("cannot write {}: {err}", path.display()),
    )
    .hint("the folder must be writable by the user running gnbr")
}
