//! Where the files of GeoNode 4.4's new assets are.
//!
//! GeoNode 4.4's in-place upgrade moves no file: migration `base.0092`
//! copies each resource's `files` list, absolute paths under the 4.1
//! instance's `MEDIA_ROOT`, into the asset's `location` as it is. The
//! assets are then "unmanaged" (outside `ASSETS_ROOT`), which 4.4 serves
//! and backs up (its backup copies `MEDIA_ROOT`) but never deletes or
//! copies on clone. A restore puts the archive's `uploaded/` into the
//! target's `MEDIA_ROOT`, so a path keeps its place relative to that
//! folder: only the prefix changes, from the source's `MEDIA_ROOT` to the
//! target's.

use mangler_api::prelude::*;

/// The files of one resource, for its asset.
#[derive(Debug, Clone)]
pub struct ResourceFiles {
    /// The resource's pk.
    pub pk: i64,
    /// The asset's owner: the resource's.
    pub owner: Value,
    /// Absolute paths.
    pub files: Vec<String>,
}

/// The source's and the target's `MEDIA_ROOT`, when the run knows them.
pub struct Locations {
    source: Option<String>,
    target: Option<String>,
}

impl Locations {
    /// Roots without a trailing `/`.
    pub fn new(source: Option<String>, target: Option<String>) -> Self {
        Self { source, target }
    }

    /// The resources with their paths moved to the target's `MEDIA_ROOT`,
    /// and a note for what cannot be moved.
    pub fn apply(&self, resources: &[ResourceFiles], out: &mut Output) -> Vec<ResourceFiles> {
        let count: usize = resources.iter().map(|r| r.files.len()).sum();
        let (source, target) = match (&self.source, &self.target) {
            (Some(source), Some(target)) => (source, target),
            (_, None) => {
                out.note(format!(
                    "{count} file(s) of {} resource(s) become assets that keep the source's \
                     absolute paths: the run does not know the target's MEDIA_ROOT (an offline \
                     `gnbr migrate`: set `[migrate] media_root`); they are right when the target's \
                     MEDIA_ROOT is the source's, else restore the archive with gnbr, which rewrites them",
                    resources.len()
                ));
                return resources.to_vec();
            }
            (None, Some(target))
                if resources.iter().flat_map(|r| &r.files).all(|f| {
                    f.strip_prefix(target.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
                }) =>
            {
                // Already the target's (a plugin before this one placed them).
                return resources.to_vec();
            }
            (None, Some(target)) => {
                out.note(format!(
                    "{count} file(s) of {} resource(s) become assets that keep the source's \
                     absolute paths: the run does not know the source's MEDIA_ROOT, so they \
                     cannot be moved to the target's ({target}); right only if both are the \
                     same folder, else set `[geonode] source_media_root` in settings.ini",
                    resources.len()
                ));
                return resources.to_vec();
            }
        };
        let prefix = format!("{source}/");
        let mut outside = Vec::new();
        let moved = resources
            .iter()
            .map(|resource| ResourceFiles {
                files: resource
                    .files
                    .iter()
                    .map(|file| match file.strip_prefix(&prefix) {
                        Some(rest) => format!("{target}/{rest}"),
                        None => {
                            outside.push(format!("{file} (resource {})", resource.pk));
                            file.clone()
                        }
                    })
                    .collect(),
                ..resource.clone()
            })
            .collect();
        if !outside.is_empty() {
            out.note(format!(
                "{} file(s) of resources lie outside the source's MEDIA_ROOT ({source}), so \
                 the backup's uploaded/ folder does not hold them: their assets keep the \
                 path, which the target must provide: {}",
                outside.len(),
                outside.join(", ")
            ));
        }
        moved
    }
}
