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

use super::{journal::Op, stage::Replace};
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

    /// The swap's steps for `replace`: each path it names (for
    /// [`Replace::Everything`], every entry of the folder and of `staging`
    /// but gnbr's own and the nested folders, whose parents are gone
    /// through instead of moved) renamed into `previous` if it is there,
    /// then the staged path renamed into its place if it is staged; the
    /// folders on the way made first.
    ///
    /// # Errors
    ///
    /// A folder that cannot be read, or a mount point inside the folder
    /// (which no rename can move).
    pub fn plan(
        &self,
        staging: &Path,
        previous: &Path,
        replace: &Replace,
    ) -> Result<Vec<Op>, Error> {
        let units = match replace {
            Replace::Everything => {
                let nested: Vec<&Path> = self.nested.iter().map(PathBuf::as_path).collect();
                let mut units = Vec::new();
                entries(&self.real, staging, Path::new(""), &nested, &mut units)?;
                units
            }
            Replace::Paths(paths) => paths.iter().map(PathBuf::from).collect(),
        };
        let mut plan = Plan::default();
        for unit in units {
            let (live, staged, aside) = (
                self.real.join(&unit),
                staging.join(&unit),
                previous.join(&unit),
            );
            if let Ok(meta) = live.symlink_metadata() {
                self.check_not_mounted(&live, &meta)?;
                plan.create_dirs(aside.parent());
                plan.ops.push(Op::Rename {
                    from: live.clone(),
                    to: aside,
                });
            }
            if staged.symlink_metadata().is_ok() {
                plan.create_dirs(live.parent());
                plan.ops.push(Op::Rename {
                    from: staged,
                    to: live,
                });
            }
        }
        Ok(plan.ops)
    }

    /// Fails for a folder at `live` that is a mount point.
    fn check_not_mounted(&self, live: &Path, meta: &fs::Metadata) -> Result<(), Error> {
        let parent = live.parent().and_then(|p| fs::metadata(p).ok());
        if meta.is_dir() && parent.is_some_and(|p| p.dev() != meta.dev()) {
            return Err(Error::new(
                ErrorKind::Target,
                format!(
                    "{} is a mount point inside {}: gnbr cannot move it aside",
                    live.display(),
                    self.given.display()
                ),
            )
            .hint("mount the volume at the folder itself (MEDIA_ROOT or ASSETS_ROOT), or unmount it for the restore"));
        }
        Ok(())
    }
}

/// The entries of `live/at` and `staging/at` (but gnbr's own at the top)
/// into `units`, relative to `live`; the ones on the way to a `nested`
/// folder (relative to `at`) are gone through, the nested folders left
/// out.
fn entries(
    live: &Path,
    staging: &Path,
    at: &Path,
    nested: &[&Path],
    units: &mut Vec<PathBuf>,
) -> Result<(), Error> {
    let mut names = BTreeSet::new();
    for dir in [live.join(at), staging.join(at)] {
        match fs::read_dir(&dir) {
            Ok(found) => {
                for entry in found {
                    names.insert(entry.map_err(|e| read_error(&dir, &e))?.file_name());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(read_error(&dir, &e)),
        }
    }
    for name in names {
        if at.as_os_str().is_empty() && name.to_string_lossy().starts_with(GNBR_PREFIX) {
            continue;
        }
        let inner: Vec<&Path> = nested
            .iter()
            .filter_map(|n| n.strip_prefix(&name).ok())
            .collect();
        if inner.iter().any(|n| n.as_os_str().is_empty()) {
            continue;
        }
        if inner.is_empty() {
            units.push(at.join(&name));
        } else {
            entries(live, staging, &at.join(&name), &inner, units)?;
        }
    }
    Ok(())
}

/// The steps of a swap, being planned.
#[derive(Default)]
struct Plan {
    ops: Vec<Op>,
    made: BTreeSet<PathBuf>,
}

impl Plan {
    /// Plans creating a folder and its missing parents.
    fn create_dirs(&mut self, dir: Option<&Path>) {
        let mut missing = Vec::new();
        let mut at = dir;
        while let Some(path) = at.filter(|p| !p.exists() && !self.made.contains(*p)) {
            missing.push(path.to_owned());
            at = path.parent();
        }
        for path in missing.into_iter().rev() {
            self.made.insert(path.clone());
            self.ops.push(Op::Mkdir { path });
        }
    }
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

pub(super) fn write_error(path: &Path, err: &io::Error) -> Error {
    Error::new(
        ErrorKind::Run,
        format!("cannot write {}: {err}", path.display()),
    )
    .hint("the folder must be writable by the user running gnbr")
}
