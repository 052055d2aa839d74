//! Which of a backup's folders go where in a restore: `uploaded/` into
//! `MEDIA_ROOT`, `assets/` into `ASSETS_ROOT`, each resolved (links
//! followed) and a folder nested in the other left out of the outer one's
//! swap and swapped on its own.

use std::path::Path;

use super::BackupReader;
use crate::{
    errors::{Error, ErrorKind},
    swap::TargetFolder,
};

/// One folder of the target and what of the backup goes into it.
#[derive(Debug, Clone)]
pub struct FolderPlan {
    /// The backup's entries for it (`uploaded/`).
    pub prefix: String,
    /// Paths under `prefix` left out: the nested folder's.
    pub skip: Vec<String>,
    /// The target folder.
    pub folder: TargetFolder,
    /// GeoNode's name for it (`MEDIA_ROOT`).
    pub name: &'static str,
}

impl FolderPlan {
    /// `MEDIA_ROOT /path`, for the confirmation.
    pub fn describe(&self) -> String {
        format!("{} {}", self.name, self.folder.given.display())
    }
}

/// The folders the backup replaces, given the target's `MEDIA_ROOT` and
/// `ASSETS_ROOT` (empty when it has none). A folder nested in the other (e.g.
/// `ASSETS_ROOT` inside `MEDIA_ROOT`) is left out of the outer swap; it
/// gets the backup's own folder for it, else what the outer folder's
/// entries hold at its place.
///
/// # Errors
///
/// A backup folder the target has no folder for, or both settings naming
/// the same folder.
pub fn plan_folders(
    input: &BackupReader,
    media_root: &str,
    assets_root: &str,
) -> Result<Vec<FolderPlan>, Error> {
    let wanted = [
        ("uploaded/", media_root, "MEDIA_ROOT"),
        ("assets/", assets_root, "ASSETS_ROOT"),
    ];
    let has = |prefix: &str| holds(input, prefix);
    if let Some((prefix, _, name)) = wanted
        .iter()
        .find(|(prefix, root, _)| root.is_empty() && has(prefix))
    {
        return Err(Error::new(
            ErrorKind::Target,
            format!("the backup has {prefix} but the target has no {name}"),
        )
        .hint(format!("set {name} in the target GeoNode's settings")));
    }
    let present: Vec<_> = wanted
        .iter()
        .filter(|(_, root, _)| !root.is_empty())
        .collect();
    let mut folders: Vec<TargetFolder> = present
        .iter()
        .map(|(_, root, _)| TargetFolder::resolve(Path::new(root)))
        .collect();
    TargetFolder::nest(&mut folders)?;
    let mut plans: Vec<FolderPlan> = present
        .iter()
        .zip(&folders)
        .map(|((prefix, _, name), folder)| FolderPlan {
            prefix: (*prefix).to_owned(),
            skip: folder.nested.iter().map(|n| slash(n)).collect(),
            folder: folder.clone(),
            name,
        })
        .collect();
    for i in 0..plans.len() {
        for j in 0..plans.len() {
            let Ok(relative) = plans[j].folder.real.strip_prefix(&plans[i].folder.real) else {
                continue;
            };
            if i == j || has(&plans[j].prefix) {
                continue;
            }
            let inside = format!("{}{}/", plans[i].prefix, slash(relative));
            if has(&inside) {
                plans[j].prefix = inside;
            }
        }
    }
    plans.retain(|plan| has(&plan.prefix));
    Ok(plans)
}

/// Whether the backup has entries or links under `prefix`.
fn holds(input: &BackupReader, prefix: &str) -> bool {
    input.entries().iter().any(|e| e.name.starts_with(prefix))
        || input
            .manifest()
            .is_some_and(|m| m.links.keys().any(|name| name.starts_with(prefix)))
}

fn slash(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
