//! What each file of a data directory is: its [`Class`], and for data
//! files whether raster or vector ([`DataKind`]).

use std::collections::HashMap;

use serde::Serialize;

use super::scan::{Reference, Target};

/// What a file of the data directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Workspaces, stores, layers, styles, layer groups, GWC tile layers: always restored.
    Catalog,
    /// Global, logging and service settings, projections, palettes: on request.
    Settings,
    /// `security/` (users, roles, keystore, master password) and `geofence/`: on request.
    Security,
    /// Data files (`data/`, `coverages/`, GeoNode's `geonode/`): `dumprasterdata` / `dumpvectordata`.
    Data,
    /// Logs, temporary files, locks, tile caches: never backed up.
    Ephemeral,
    /// Anything else (extension configuration such as `validation/`,
    /// `www/`, `templates/`): backed up and restored like the catalog, so
    /// nothing is lost silently.
    Other,
}

impl Class {
    /// Its name, as in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Catalog => "catalog",
            Self::Settings => "settings",
            Self::Security => "security",
            Self::Data => "data",
            Self::Ephemeral => "ephemeral",
            Self::Other => "other",
        }
    }
}

/// Raster or vector: which of `dumprasterdata` / `dumpvectordata` governs a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataKind {
    /// GeoTIFFs, mosaics, world files: `dumprasterdata`.
    Raster,
    /// Shapefiles, GeoPackages, property files: `dumpvectordata`.
    Vector,
}

/// Service settings a workspace may override (`workspaces/<ws>/wms.xml`).
const WORKSPACE_SETTINGS: [&str; 7] = [
    "wms.xml",
    "wfs.xml",
    "wcs.xml",
    "wps.xml",
    "wmts.xml",
    "csw.xml",
    "settings.xml",
];

/// Classifies a data-dir relative, `/`-separated path of a file.
pub fn classify(relative: &str) -> Class {
    let parts: Vec<&str> = relative.split('/').collect();
    let first = parts[0];
    let last = parts[parts.len() - 1];
    if last.ends_with(".lock") || first.starts_with(".gnbr-") {
        return Class::Ephemeral;
    }
    if parts.len() == 1 {
        return if first.ends_with(".xml") {
            Class::Settings
        } else {
            Class::Other
        };
    }
    match first {
        "workspaces" if parts.len() == 3 && WORKSPACE_SETTINGS.contains(&last) => Class::Settings,
        "workspaces" | "styles" | "layergroups" | "gwc-layers" => Class::Catalog,
        "security" | "geofence" => Class::Security,
        "data" | "coverages" | "geonode" => Class::Data,
        "user_projections" | "palettes" => Class::Settings,
        "temp" => Class::Ephemeral,
        "logs" if is_log(last) => Class::Ephemeral,
        "logs" => Class::Settings,
        // GeoWebCache: its configuration files at the top, tile caches and quota stores below.
        "gwc" if parts.len() == 2 && last.ends_with(".xml") => Class::Settings,
        "gwc" => Class::Ephemeral,
        _ => Class::Other,
    }
}

/// Whether a whole folder is ephemeral (not walked: tile caches can hold
/// millions of files).
pub(super) fn is_ephemeral_dir(relative: &str) -> bool {
    let parts: Vec<&str> = relative.split('/').collect();
    matches!(parts.as_slice(), ["temp"] | ["gwc", _]) || parts[0].starts_with(".gnbr-")
}

/// `geoserver.log`, and its rotations (`geoserver.log.1`, `geoserver-2.log`).
fn is_log(name: &str) -> bool {
    name.ends_with(".log") || name.contains(".log.")
}

/// Whether a data-dir relative path is where GeoNode's backups keep vector
/// table dumps (`geonode/<table>.sql`, older `geonode/<table>.dump`): those
/// are restored into the database, not into the data directory.
pub fn is_table_dump(relative: &str) -> bool {
    relative.strip_prefix("geonode/").is_some_and(|name| {
        !name.contains('/') && (name.ends_with(".sql") || name.ends_with(".dump"))
    })
}

/// A file name up to its first dot: the shapefile or world-file group it belongs to.
pub(super) fn file_stem(name: &str) -> &str {
    match name.find('.') {
        Some(0) | None => name,
        Some(i) => &name[..i],
    }
}

const VECTOR_EXTENSIONS: [&str; 17] = [
    "shp", "shx", "dbf", "cpg", "qix", "sbn", "sbx", "fix", "qpj", "gpkg", "geojson", "gml", "kml",
    "kmz", "csv", "fgb", "sqlite",
];

const RASTER_EXTENSIONS: [&str; 25] = [
    "tif", "tiff", "png", "jpg", "jpeg", "gif", "jp2", "j2k", "ecw", "sid", "asc", "grd", "nc",
    "hdf", "h5", "img", "bil", "vrt", "tfw", "tifw", "pgw", "jgw", "wld", "ovr", "mbtiles",
];

fn extension_kind(name: &str) -> Option<DataKind> {
    let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
    if VECTOR_EXTENSIONS.contains(&extension.as_str()) {
        Some(DataKind::Vector)
    } else if RASTER_EXTENSIONS.contains(&extension.as_str()) {
        Some(DataKind::Raster)
    } else {
        None
    }
}

/// Raster or vector for each data file: what a store says about it, else
/// what its stem group's extensions say, else raster (GeoNode's
/// `dumprasterdata` copied the data folders whole).
pub(super) struct KindMap {
    /// `(folder, stem)` -> kind, from stores that name a file.
    stems: HashMap<(String, String), DataKind>,
    /// folder -> kind, from stores that name a folder.
    dirs: HashMap<String, DataKind>,
    /// `(folder, stem)` -> kind, from the extensions in the group.
    groups: HashMap<(String, String), DataKind>,
}

impl KindMap {
    pub(super) fn new<'a>(
        files: impl Iterator<Item = &'a str>,
        references: &[Reference],
        is_dir: &dyn Fn(&str) -> bool,
    ) -> Self {
        let mut map = Self {
            stems: HashMap::new(),
            dirs: HashMap::new(),
            groups: HashMap::new(),
        };
        for file in files {
            if let Some(kind) = extension_kind(file) {
                let group = map.groups.entry(stem_key(file)).or_insert(kind);
                if kind == DataKind::Vector {
                    // A shapefile's .prj or .xml is still a shapefile's.
                    *group = kind;
                }
            }
        }
        for reference in references {
            let (Some(kind), Target::Inside(relative)) = (reference.kind, &reference.target) else {
                continue;
            };
            if reference.whole_dir {
                let folder = relative.rsplit_once('/').map_or("", |(d, _)| d);
                map.dirs.insert(folder.to_owned(), kind);
            } else if is_dir(relative) {
                map.dirs.insert(relative.clone(), kind);
            } else {
                map.stems.insert(stem_key(relative), kind);
            }
        }
        map
    }

    pub(super) fn kind(&self, relative: &str) -> DataKind {
        let key = stem_key(relative);
        if let Some(kind) = self.stems.get(&key) {
            return *kind;
        }
        let mut folder = key.0.as_str();
        loop {
            if let Some(kind) = self.dirs.get(folder) {
                return *kind;
            }
            match folder.rsplit_once('/') {
                Some((parent, _)) => folder = parent,
                None if !folder.is_empty() => folder = "",
                None => break,
            }
        }
        self.groups.get(&key).copied().unwrap_or(DataKind::Raster)
    }
}

fn stem_key(relative: &str) -> (String, String) {
    let (folder, name) = relative.rsplit_once('/').unwrap_or(("", relative));
    (folder.to_owned(), file_stem(name).to_owned())
}

#[cfg(test)]
mod tests {
    use super::{classify, is_table_dump, Class};

    #[test]
    fn classifies_every_part() {
        for (path, class) in [
            ("workspaces/sf/workspace.xml", Class::Catalog),
            ("workspaces/default.xml", Class::Catalog),
            ("workspaces/sf/sf/roads/featuretype.xml", Class::Catalog),
            ("workspaces/sf/wms.xml", Class::Settings),
            ("workspaces/sf/settings.xml", Class::Settings),
            ("workspaces/sf/styles/x.sld", Class::Catalog),
            ("styles/point.sld", Class::Catalog),
            ("layergroups/lg.xml", Class::Catalog),
            ("gwc-layers/LayerInfoImpl-1.xml", Class::Catalog),
            ("global.xml", Class::Settings),
            ("logging.xml", Class::Settings),
            ("gwc-gs.xml", Class::Settings),
            ("gwc/geowebcache.xml", Class::Settings),
            ("gwc/sf_roads/EPSG_4326_03/0_0/00_00.png", Class::Ephemeral),
            ("user_projections/epsg.properties", Class::Settings),
            ("palettes/dem31.pal", Class::Settings),
            ("logs/DEFAULT_LOGGING.properties", Class::Settings),
            ("logs/geoserver.log", Class::Ephemeral),
            ("logs/geoserver.log.3", Class::Ephemeral),
            ("temp/upload/x.zip", Class::Ephemeral),
            ("catalog.lock", Class::Ephemeral),
            ("workspaces/sf/sf/x.lock", Class::Ephemeral),
            (".gnbr-staging-x/global.xml", Class::Ephemeral),
            ("security/usergroup/default/users.xml", Class::Security),
            ("security/geoserver.jceks", Class::Security),
            ("geofence/geofence-server.properties", Class::Security),
            ("data/sf/roads.shp", Class::Data),
            ("data/geonode/x/x.tif", Class::Data),
            ("geonode/roads.sql", Class::Data),
            ("coverages/dem/dem.tif", Class::Data),
            ("www/index.html", Class::Other),
            ("validation/FeatureCheck.xml", Class::Other),
            ("README.rst", Class::Other),
        ] {
            assert_eq!(classify(path), class, "{path}");
        }
        assert!(is_table_dump("geonode/roads.sql") && is_table_dump("geonode/roads.dump"));
        assert!(!is_table_dump("geonode/x/roads.sql") && !is_table_dump("data/geonode/r.sql"));
    }
}
