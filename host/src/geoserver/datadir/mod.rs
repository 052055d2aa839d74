//! The GeoServer data directory: what each file is ([`Class`]), which of
//! it a backup carries, and putting it back.
//!
//! A backup holds the data directory under `gs_data_dir/` and the files the
//! catalog refers to outside it under `external/<absolute path>`, GeoNode's
//! layout (GeoNode itself only copied `geonode/` and `data/geonode/`, and
//! its copy of external files skipped every file not already there).
//! Ephemeral content (logs, temporary files, locks, tile caches) is never
//! backed up.
//!
//! A restore is staged, then swapped: everything is extracted into
//! `<datadir>/.gnbr-staging-<run>` first; then only the paths the restore
//! replaces are renamed aside (into `<datadir>/.gnbr-previous-<run>`) and
//! the staged ones renamed into place, deepest shared folder first, each
//! rename in the restore's [`Journal`](crate::swap::Journal) (which undoes
//! or finishes them, also after a crash). A failure while staging leaves
//! the data directory as it was. What the restore does not replace
//! (settings or security when not asked for, tile caches, excluded paths,
//! parts the backup does not hold) is never moved. GeoServer must be told to reload
//! afterwards (`rest::Client::reload`), or be restarted.
//!
//! One file per job: `classify` (what each file is), `scan` (walking a
//! data directory, resolving the catalog's references), `backup` (writing
//! it into a backup), `restore` (staging and swapping it in).

use std::path::Path;

use serde::Serialize;

mod backup;
mod classify;
mod restore;
mod scan;
#[cfg(test)]
mod test_support;

pub use backup::{backup, BackupReport};
pub use classify::{classify, is_table_dump, Class, DataKind};
pub use restore::{stage, RestoreReport, StagedDataDir};
pub use scan::{DataDir, DataFile, ExternalFile};

/// Where the data directory goes in a backup.
pub const ARCHIVE_PREFIX: &str = "gs_data_dir/";
/// Where files outside the data directory go, by absolute path.
pub const EXTERNAL_PREFIX: &str = "external/";

/// Which parts of a data directory to back up or restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Settings ([`Class::Settings`]).
    pub settings: bool,
    /// Security ([`Class::Security`]).
    pub security: bool,
    /// Raster data files (`dumprasterdata`).
    pub raster_data: bool,
    /// Vector data files (`dumpvectordata`).
    pub vector_data: bool,
    /// Files outside the data directory that the catalog refers to.
    pub externals: bool,
    /// Data-dir relative paths left out, with everything under them
    /// (`datadir_exclude_file_path`, see [`Selection::parse_exclusions`]).
    pub exclude: Vec<String>,
}

/// Why a file was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// Logs, temporary files, locks, tile caches.
    Ephemeral,
    /// Under a path of [`Selection::exclude`].
    Excluded,
    /// A vector table dump's name (`geonode/<table>.sql`): the database part's.
    TableDump,
    /// Settings, not asked for.
    Settings,
    /// Security, not asked for.
    Security,
    /// Raster data, not asked for.
    RasterData,
    /// Vector data, not asked for.
    VectorData,
    /// A file outside the data directory, not asked for.
    External,
}

/// Files and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Files.
    pub files: u64,
    /// Bytes.
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: u64) {
        self.files += 1;
        self.bytes += bytes;
    }
}

impl Selection {
    /// What settings.ini `[geoserver]` selects (`settings`, `security`,
    /// `dumprasterdata`, `dumpvectordata`, `datadir_exclude_file_path`).
    pub fn from_settings(settings: &crate::config::GeoServerSettings) -> Self {
        Self {
            settings: settings.settings,
            security: settings.security,
            raster_data: settings.dump_raster_data,
            vector_data: settings.dump_vector_data,
            externals: true,
            exclude: Self::parse_exclusions(&settings.exclude),
        }
    }

    /// Everything but ephemeral content.
    pub fn all() -> Self {
        Self {
            settings: true,
            security: true,
            raster_data: true,
            vector_data: true,
            externals: true,
            exclude: Vec::new(),
        }
    }

    /// Reads a `datadir_exclude_file_path` value: paths separated by `,`
    /// (settings.ini) or `;` (GeoServer's `exclude.file.path`), data-dir
    /// relative, with or without leading and trailing `/`.
    pub fn parse_exclusions(value: &str) -> Vec<String> {
        value
            .split([',', ';'])
            .map(|p| p.trim().trim_matches('/').to_owned())
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// Why a file is left out, if it is.
    fn skip(&self, relative: &str, class: Class, kind: Option<DataKind>) -> Option<Skip> {
        if class == Class::Ephemeral {
            return Some(Skip::Ephemeral);
        }
        if self.excluded(relative) {
            return Some(Skip::Excluded);
        }
        if is_table_dump(relative) {
            return Some(Skip::TableDump);
        }
        match class {
            Class::Settings if !self.settings => Some(Skip::Settings),
            Class::Security if !self.security => Some(Skip::Security),
            Class::Data => self.skip_kind(kind),
            _ => None,
        }
    }

    fn skip_kind(&self, kind: Option<DataKind>) -> Option<Skip> {
        match kind {
            Some(DataKind::Raster) if !self.raster_data => Some(Skip::RasterData),
            Some(DataKind::Vector) if !self.vector_data => Some(Skip::VectorData),
            _ => None,
        }
    }

    fn excluded(&self, relative: &str) -> bool {
        self.exclude.iter().any(|e| {
            relative
                .strip_prefix(e.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }
}

fn slash_path(path: &Path) -> Option<String> {
    let parts: Option<Vec<&str>> = path.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

#[cfg(test)]
mod tests {
    use super::Selection;

    #[test]
    fn parses_exclusions_like_geonode() {
        assert_eq!(
            Selection::parse_exclusions(" data/geonode/ , /logs;;www "),
            ["data/geonode", "logs", "www"]
        );
        let selection = Selection {
            exclude: vec!["data/geo".into()],
            ..Selection::all()
        };
        assert!(selection.excluded("data/geo/x.tif") && selection.excluded("data/geo"));
        assert!(!selection.excluded("data/geonode/x.tif"));
    }
}
