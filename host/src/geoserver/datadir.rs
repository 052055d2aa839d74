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
//! rename in the restore's [`Journal`] (which undoes or finishes them, also
//! after a crash). A failure while staging leaves the data directory as it
//! was. What the restore does not replace (settings or
//! security when not asked for, tile caches, excluded paths, parts the
//! backup does not hold) is never moved. GeoServer must be told to reload
//! afterwards (`rest::Client::reload`), or be restarted.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fs::{self, File},
    io::{Read, Write},
    path::{Component, Path, PathBuf},
};

use serde::Serialize;

use super::{
    rewrite::{self, relative_name, split_file_url, Mapping, RewriteReport},
    xml::Document,
};
use crate::{
    archive::{BackupReader, BackupWriter},
    errors::{Error, ErrorKind},
    swap::{Journal, Op, TargetFolder},
};

/// Where the data directory goes in a backup.
pub const ARCHIVE_PREFIX: &str = "gs_data_dir/";
/// Where files outside the data directory go, by absolute path.
pub const EXTERNAL_PREFIX: &str = "external/";

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
fn is_ephemeral_dir(relative: &str) -> bool {
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

/// One file of a data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataFile {
    /// Data-dir relative, `/`-separated.
    pub relative: String,
    /// What it is.
    pub class: Class,
    /// For data files: raster or vector.
    pub kind: Option<DataKind>,
    /// Bytes.
    pub size: u64,
}

/// A file the catalog refers to outside the data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalFile {
    /// Its absolute path.
    pub path: PathBuf,
    /// Raster or vector (`None`: a style's file, which goes with the catalog).
    pub kind: Option<DataKind>,
    /// The catalog file that refers to it.
    pub referenced_by: String,
    /// Bytes.
    pub size: u64,
}

/// A data directory as found on disk.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
    files: Vec<DataFile>,
    externals: Vec<ExternalFile>,
    ephemeral_dirs: Vec<String>,
    pinned: Vec<String>,
    warnings: Vec<String>,
}

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

/// What a backup of the data directory wrote and left out.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackupReport {
    /// The data directory.
    pub datadir: PathBuf,
    /// Written under `gs_data_dir/`, by class.
    pub written: BTreeMap<Class, Tally>,
    /// Written under `external/`.
    pub externals: Tally,
    /// Left out, by reason.
    pub skipped: BTreeMap<Skip, Tally>,
    /// Ephemeral folders left out without being walked (tile caches, `temp/`).
    pub ephemeral_dirs: u64,
    /// Things the admin should know (broken references, unreadable catalog files).
    pub warnings: Vec<String>,
}

/// What a restore of the data directory put in place (or will, once swapped in).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreReport {
    /// The data directory.
    pub datadir: PathBuf,
    /// Staged from `gs_data_dir/`, by class.
    pub restored: BTreeMap<Class, Tally>,
    /// Files of the data directory that the restore replaces or removes
    /// (moved aside at the swap).
    pub replaced: u64,
    /// Staged from `external/`.
    pub externals: Tally,
    /// Left out, by reason.
    pub skipped: BTreeMap<Skip, Tally>,
    /// Values rewritten for the target.
    pub rewrite: RewriteReport,
    /// Things the admin should know.
    pub warnings: Vec<String>,
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

impl DataDir {
    /// Walks a data directory: every file classified, data files given a
    /// kind (from the stores that refer to them, else their extension),
    /// the files the catalog refers to outside it found. Ephemeral folders
    /// are not walked. A missing directory is an empty one.
    ///
    /// # Errors
    ///
    /// A folder that cannot be read, or a file name that is not UTF-8.
    pub fn scan(root: &Path) -> Result<Self, Error> {
        let mut dir = Self {
            root: root.to_owned(),
            files: Vec::new(),
            externals: Vec::new(),
            ephemeral_dirs: Vec::new(),
            pinned: Vec::new(),
            warnings: Vec::new(),
        };
        let Ok(root_meta) = fs::metadata(root) else {
            return Ok(dir);
        };
        let root_device = device(&root_meta);
        let read_error = |what: String| {
            Error::new(ErrorKind::Run, what)
                .hint("gnbr needs to read the whole GeoServer data directory ([geoserver] datadir)")
        };
        let mut walk = walkdir::WalkDir::new(root)
            .min_depth(1)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter();
        while let Some(entry) = walk.next() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e)
                    if e.io_error()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
                {
                    dir.warnings.push(format!(
                        "{}: a broken link or a file that vanished; left out",
                        e.path().unwrap_or(root).display()
                    ));
                    continue;
                }
                Err(e) => {
                    return Err(read_error(format!(
                        "cannot read the data directory {}: {e}",
                        root.display()
                    )))
                }
            };
            let relative = relative_name(root, entry.path()).ok_or_else(|| {
                read_error(format!(
                    "{}: the name is not UTF-8, which a backup archive cannot hold",
                    entry.path().display()
                ))
                .hint("rename the file (GeoServer data directories use UTF-8 names)")
            })?;
            let meta = entry
                .metadata()
                .map_err(|e| read_error(format!("cannot read {}: {e}", entry.path().display())))?;
            if entry.file_type().is_dir() {
                if is_ephemeral_dir(&relative) {
                    walk.skip_current_dir();
                    dir.ephemeral_dirs.push(relative);
                } else if entry.path_is_symlink() || device(&meta) != root_device {
                    dir.pinned.push(relative);
                }
                continue;
            }
            if entry.file_type().is_file() {
                let class = classify(&relative);
                dir.files.push(DataFile {
                    relative,
                    class,
                    kind: None,
                    size: meta.len(),
                });
            }
        }
        let mut references = Vec::new();
        for file in &dir.files {
            if !holds_references(&file.relative) {
                continue;
            }
            let path = root.join(&file.relative);
            let bytes = fs::read(&path)
                .map_err(|e| read_error(format!("cannot read {}: {e}", path.display())))?;
            let parsed = std::str::from_utf8(&bytes)
                .map_err(|e| format!("not UTF-8: {e}"))
                .and_then(|text| parse_references(&file.relative, text, Some(root)));
            match parsed {
                Ok(found) => references.extend(found),
                Err(e) => dir.warnings.push(format!(
                    "{} cannot be read as XML ({e}); the files it refers to were not looked for",
                    file.relative
                )),
            }
        }
        let kinds = KindMap::new(
            dir.files.iter().map(|f| f.relative.as_str()),
            &references,
            &|relative| root.join(relative).is_dir(),
        );
        for file in &mut dir.files {
            if file.class == Class::Data {
                file.kind = Some(kinds.kind(&file.relative));
            }
        }
        dir.find_externals(&references);
        Ok(dir)
    }

    /// Its files, in name order (ephemeral folders not walked).
    pub fn files(&self) -> &[DataFile] {
        &self.files
    }

    /// Files outside it that the catalog refers to.
    pub fn externals(&self) -> &[ExternalFile] {
        &self.externals
    }

    /// Things found wrong (references to missing files, unreadable catalog files).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Adds the files outside the data directory that references point to:
    /// a folder whole, a file with its siblings of the same stem
    /// (`roads.shp` with `roads.dbf`, `roads.prj`, ...).
    fn find_externals(&mut self, references: &[Reference]) {
        let mut found: BTreeMap<PathBuf, ExternalFile> = BTreeMap::new();
        for reference in references {
            let Target::Outside(path) = &reference.target else {
                if let Target::Inside(relative) = &reference.target {
                    if !self.root.join(relative).exists() {
                        self.warnings.push(format!(
                            "{} refers to {relative}, which is not in the data directory; that store will not work after a restore",
                            reference.from
                        ));
                    }
                }
                continue;
            };
            let mut add = |file: PathBuf, size: u64| {
                found.entry(file.clone()).or_insert(ExternalFile {
                    path: file,
                    kind: reference.kind,
                    referenced_by: reference.from.clone(),
                    size,
                });
            };
            let whole = if reference.whole_dir {
                path.parent().map(Path::to_path_buf)
            } else if path.is_dir() {
                Some(path.clone())
            } else {
                None
            };
            if let Some(folder) = whole {
                for entry in walkdir::WalkDir::new(&folder)
                    .follow_links(true)
                    .into_iter()
                    .flatten()
                {
                    if entry.file_type().is_file() {
                        add(
                            entry.path().to_owned(),
                            entry.metadata().map_or(0, |m| m.len()),
                        );
                    }
                }
                continue;
            }
            let stem =
                file_stem(&path.file_name().unwrap_or_default().to_string_lossy()).to_owned();
            let siblings = path
                .parent()
                .and_then(|p| fs::read_dir(p).ok())
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| file_stem(&e.file_name().to_string_lossy()) == stem)
                .filter_map(|e| Some((e.path(), e.metadata().ok().filter(|m| m.is_file())?.len())))
                .collect::<Vec<_>>();
            if siblings.is_empty() {
                self.warnings.push(format!(
                    "{} refers to {}, which does not exist; it is not in the backup",
                    reference.from,
                    path.display()
                ));
            }
            for (file, size) in siblings {
                add(file, size);
            }
        }
        self.externals = found.into_values().collect();
    }
}

#[cfg(unix)]
fn device(meta: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::dev(meta)
}

#[cfg(not(unix))]
fn device(_meta: &fs::Metadata) -> u64 {
    0
}

/// What a catalog file refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    /// The catalog file, data-dir relative.
    from: String,
    /// Raster (coverage store), vector (data store), `None` (a style's file).
    kind: Option<DataKind>,
    /// Where.
    target: Target,
    /// The whole folder of the file (an image mosaic's index).
    whole_dir: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// Data-dir relative.
    Inside(String),
    /// Absolute, outside the data directory.
    Outside(PathBuf),
}

/// Whether a catalog file may refer to data files: stores and styles.
fn holds_references(relative: &str) -> bool {
    let base = relative.rsplit('/').next().unwrap_or(relative);
    let store = relative.starts_with("workspaces/")
        && (base == "datastore.xml" || base == "coveragestore.xml");
    let style = (relative.starts_with("styles/") || relative.contains("/styles/"))
        && base.ends_with(".xml")
        && classify(relative) == Class::Catalog;
    store || style
}

/// The references of one catalog file. `root` resolves absolute paths that
/// lie inside the data directory (unknown for a backup's files, whose
/// absolute paths are then all outside).
fn parse_references(
    relative: &str,
    text: &str,
    root: Option<&Path>,
) -> Result<Vec<Reference>, String> {
    let doc = Document::parse(text)?;
    let mut out = Vec::new();
    let mut push = |kind, value: &str, base: &str, whole_dir| {
        if let Some(target) = resolve(value, base, root) {
            out.push(Reference {
                from: relative.to_owned(),
                kind,
                target,
                whole_dir,
            });
        }
    };
    for store in doc.named("dataStore") {
        let Some(params) = doc.child(store, "connectionParameters") else {
            continue;
        };
        for entry in doc.children(params, "entry") {
            if let Some((_, path)) = split_file_url(doc.text(entry).trim()) {
                push(Some(DataKind::Vector), path, "", false);
            }
        }
    }
    for store in doc.named("coverageStore") {
        let Some(url) = doc.child_text(store, "url") else {
            continue;
        };
        let Some((_, path)) = split_file_url(url.trim()) else {
            continue;
        };
        let kind = doc.child_text(store, "type").unwrap_or_default();
        let index = Path::new(path)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("shp") || e.eq_ignore_ascii_case("properties"));
        let mosaic = matches!(kind.trim(), "ImageMosaic" | "ImagePyramid") && index;
        push(Some(DataKind::Raster), path, "", mosaic);
    }
    for style in doc.named("style") {
        if let Some(file) = doc.child_text(style, "filename") {
            let base = relative.rsplit_once('/').map_or("", |(dir, _)| dir);
            push(None, file.trim(), base, false);
        }
    }
    Ok(out)
}

/// Where a path found in a catalog file points: relative paths against
/// `base` (data-dir relative), absolute ones checked against `root`.
fn resolve(value: &str, base: &str, root: Option<&Path>) -> Option<Target> {
    if value.is_empty() {
        return None;
    }
    let path = Path::new(value);
    if !path.is_absolute() {
        let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
        for part in value.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        // It climbs out of the data directory: where to needs `root`.
                        return Some(Target::Outside(normalize(&root?.join(base).join(path))));
                    }
                }
                part => parts.push(part),
            }
        }
        return Some(Target::Inside(parts.join("/")));
    }
    let path = normalize(path);
    if let Some(root) = root {
        for r in [Some(normalize(root)), root.canonicalize().ok()]
            .iter()
            .flatten()
        {
            if let Ok(inside) = path.strip_prefix(r) {
                return Some(Target::Inside(slash_path(inside)?));
            }
        }
    }
    Some(Target::Outside(path))
}

/// Removes `.` and `..` components without touching the filesystem.
fn normalize(path: &Path) -> PathBuf {
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

fn slash_path(path: &Path) -> Option<String> {
    let parts: Option<Vec<&str>> = path.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// A file name up to its first dot: the shapefile or world-file group it belongs to.
fn file_stem(name: &str) -> &str {
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
struct KindMap {
    /// `(folder, stem)` -> kind, from stores that name a file.
    stems: HashMap<(String, String), DataKind>,
    /// folder -> kind, from stores that name a folder.
    dirs: HashMap<String, DataKind>,
    /// `(folder, stem)` -> kind, from the extensions in the group.
    groups: HashMap<(String, String), DataKind>,
}

impl KindMap {
    fn new<'a>(
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

    fn kind(&self, relative: &str) -> DataKind {
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

/// Copies `reader` to `writer`, telling `progress` the running total.
fn pump(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    read_error: &dyn Fn(std::io::Error) -> Error,
    write_error: &dyn Fn(std::io::Error) -> Error,
    done: &mut u64,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, Error> {
    let mut buf = vec![0; 1 << 16];
    let mut copied = 0;
    loop {
        let n = reader.read(&mut buf).map_err(read_error)?;
        if n == 0 {
            return Ok(copied);
        }
        writer.write_all(&buf[..n]).map_err(write_error)?;
        copied += n as u64;
        *done += n as u64;
        progress(*done);
    }
}

/// Writes a data directory into a backup: `gs_data_dir/<path>` for its
/// files, `external/<absolute path>` for the files outside it that the
/// catalog refers to. Each entry is checksummed in the backup's manifest.
/// `progress` gets the bytes written so far.
///
/// # Errors
///
/// A file that cannot be read (it changed during the backup), or an entry
/// that cannot be written.
pub fn backup(
    dir: &DataDir,
    selection: &Selection,
    out: &mut BackupWriter,
    progress: &mut dyn FnMut(u64),
) -> Result<BackupReport, Error> {
    let mut report = BackupReport {
        datadir: dir.root.clone(),
        ephemeral_dirs: dir.ephemeral_dirs.len() as u64,
        warnings: dir.warnings.clone(),
        ..BackupReport::default()
    };
    let mut done = 0;
    for file in &dir.files {
        if let Some(skip) = selection.skip(&file.relative, file.class, file.kind) {
            if skip == Skip::TableDump {
                report.warnings.push(format!(
                    "{} left out: GeoNode's backups keep vector table dumps under that name",
                    file.relative
                ));
            }
            report.skipped.entry(skip).or_default().add(file.size);
            continue;
        }
        let path = dir.root.join(&file.relative);
        let bytes = copy_into(
            &path,
            out,
            &format!("{ARCHIVE_PREFIX}{}", file.relative),
            &mut done,
            progress,
        )?;
        report.written.entry(file.class).or_default().add(bytes);
    }
    for external in &dir.externals {
        let skip = if selection.externals {
            selection.skip_kind(external.kind)
        } else {
            Some(Skip::External)
        };
        if let Some(skip) = skip {
            report.skipped.entry(skip).or_default().add(external.size);
            continue;
        }
        let name = external
            .path
            .strip_prefix("/")
            .ok()
            .and_then(slash_path)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Run,
                    format!(
                        "{} (referred to by {}): the path is not UTF-8, which a backup archive cannot hold",
                        external.path.display(),
                        external.referenced_by
                    ),
                )
            })?;
        let bytes = copy_into(
            &external.path,
            out,
            &format!("{EXTERNAL_PREFIX}{name}"),
            &mut done,
            progress,
        )?;
        report.externals.add(bytes);
    }
    Ok(report)
}

fn copy_into(
    path: &Path,
    out: &mut BackupWriter,
    name: &str,
    done: &mut u64,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, Error> {
    let read_error = |e: std::io::Error| {
        Error::new(
            ErrorKind::Run,
            format!("cannot read {}: {e}", path.display()),
        )
        .hint("the GeoServer data directory changed during the backup; run it again")
    };
    let mut file = File::open(path).map_err(read_error)?;
    let mut entry = out.entry(name)?;
    let write_error = |e: std::io::Error| {
        Error::new(
            ErrorKind::Run,
            format!("cannot write {name} into the backup: {e}"),
        )
    };
    let bytes = pump(
        &mut file,
        &mut entry,
        &read_error,
        &write_error,
        done,
        progress,
    )?;
    entry.close().map_err(write_error)?;
    Ok(bytes)
}

/// A restore of the data directory, extracted but not yet in place; the
/// journal it was staged with removes the staging if it is never swapped.
pub struct StagedDataDir {
    datadir: PathBuf,
    staging: PathBuf,
    units: Vec<String>,
    externals: Vec<(PathBuf, PathBuf)>,
    /// What was staged, left out and rewritten.
    pub report: RestoreReport,
}

/// Extracts a backup's data directory (`gs_data_dir/`) and external files
/// (`external/`) for restoring into `datadir`: the parts `selection` asks
/// for, with `mapping` applied to catalog files and to external paths.
/// `None` when the backup holds neither. The data directory is not changed
/// (the staging folder is created inside it, journaled in `journal`, and
/// takes the data directory's owner and mode); [`StagedDataDir::swap_in`]
/// puts the result in place.
///
/// Each class is replaced only when the backup holds it (a GeoNode archive
/// holds only `geonode/` and `data/geonode/`: the catalog is then kept);
/// data files are replaced per top folder the backup holds.
///
/// # Errors
///
/// A damaged entry, or a data directory that cannot be read or written.
pub fn stage(
    input: &mut BackupReader,
    datadir: &Path,
    selection: &Selection,
    mapping: &Mapping,
    journal: &mut Journal,
    progress: &mut dyn FnMut(u64),
) -> Result<Option<StagedDataDir>, Error> {
    let archived: Vec<(String, u64)> = input
        .entries()
        .iter()
        .filter_map(|e| Some((e.name.strip_prefix(ARCHIVE_PREFIX)?.to_owned(), e.size)))
        .collect();
    let externals: Vec<(String, u64)> = input
        .entries()
        .iter()
        .filter_map(|e| Some((e.name.strip_prefix(EXTERNAL_PREFIX)?.to_owned(), e.size)))
        .collect();
    if archived.is_empty() && externals.is_empty() {
        return Ok(None);
    }
    let mut report = RestoreReport {
        datadir: datadir.to_owned(),
        ..RestoreReport::default()
    };

    let mut references = Vec::new();
    for (relative, _) in archived.iter().filter(|(r, _)| holds_references(r)) {
        let bytes = read_entry(input, &format!("{ARCHIVE_PREFIX}{relative}"))?;
        let parsed = std::str::from_utf8(&bytes)
            .map_err(|e| format!("not UTF-8: {e}"))
            .and_then(|text| parse_references(relative, text, None));
        match parsed {
            Ok(found) => references.extend(found),
            Err(e) => report.warnings.push(format!(
                "{ARCHIVE_PREFIX}{relative} cannot be read as XML ({e})"
            )),
        }
    }
    let is_archived_dir = |relative: &str| {
        let prefix = format!("{relative}/");
        archived.iter().any(|(r, _)| r.starts_with(&prefix))
    };
    let kinds = KindMap::new(
        archived.iter().map(|(r, _)| r.as_str()),
        &references,
        &is_archived_dir,
    );

    let mut chosen: Vec<(String, Class, u64)> = Vec::new();
    let mut covered: BTreeSet<String> = BTreeSet::new();
    for (relative, size) in &archived {
        let class = classify(relative);
        // Neither says anything about the data directory's content: a
        // table dump alone must not make `geonode/` look replaced.
        let outside = match class {
            Class::Ephemeral => Some(Skip::Ephemeral),
            _ if is_table_dump(relative) => Some(Skip::TableDump),
            _ => None,
        };
        if let Some(skip) = outside {
            report.skipped.entry(skip).or_default().add(*size);
            continue;
        }
        covered.insert(scope(relative, class));
        let kind = (class == Class::Data).then(|| kinds.kind(relative));
        match selection.skip(relative, class, kind) {
            Some(skip) => report.skipped.entry(skip).or_default().add(*size),
            None => chosen.push((relative.clone(), class, *size)),
        }
    }

    let target = DataDir::scan(datadir)?;
    let mut tree = Tree::default();
    for file in &target.files {
        let replaced = file.class != Class::Ephemeral
            && covered.contains(&scope(&file.relative, file.class))
            && selection
                .skip(&file.relative, file.class, file.kind)
                .is_none();
        if replaced {
            report.replaced += 1;
        }
        tree.insert(&file.relative, !replaced);
    }
    for relative in &target.ephemeral_dirs {
        tree.insert(relative, true);
    }
    for relative in &target.pinned {
        tree.pin(relative);
    }
    for (relative, _, _) in &chosen {
        tree.insert(relative, false);
    }
    let mut units = Vec::new();
    tree.units("", &mut units);

    let folder = TargetFolder::resolve(datadir);
    folder.create()?;
    let staging = journal.staging_dir(datadir)?;
    let mut staged = StagedDataDir {
        datadir: datadir.to_owned(),
        staging: staging.clone(),
        units,
        externals: Vec::new(),
        report,
    };
    let staging_root = staging;
    let mut done = 0;
    for (relative, class, _) in &chosen {
        let name = format!("{ARCHIVE_PREFIX}{relative}");
        let dest = staging_root.join(relative);
        let bytes = if rewrite::is_rewritable(relative) && !mapping.is_empty() {
            let original = read_entry(input, &name)?;
            let rewritten = std::str::from_utf8(&original)
                .map_err(|e| format!("not UTF-8: {e}"))
                .and_then(|text| rewrite::rewrite_text(relative, text, mapping))
                .unwrap_or_else(|e| {
                    staged.report.warnings.push(format!(
                        "{name} cannot be read as XML ({e}); restored as it was"
                    ));
                    rewrite::Rewritten::default()
                });
            staged.report.rewrite.merge(RewriteReport {
                files: u64::from(rewritten.text.is_some()),
                changes: rewritten.changes,
                warnings: rewritten.warnings,
            });
            let out = rewritten.text.map_or(original, String::into_bytes);
            create_parent(&dest)?;
            fs::write(&dest, &out).map_err(|e| write_error(&dest, &e))?;
            done += out.len() as u64;
            progress(done);
            out.len() as u64
        } else {
            extract(input, &name, &dest, &mut done, progress)?
        };
        staged.report.restored.entry(*class).or_default().add(bytes);
    }

    let external_kinds = KindMap::new(externals.iter().map(|(r, _)| r.as_str()), &[], &|_| false);
    for (relative, size) in &externals {
        let skip = if selection.externals {
            selection.skip_kind(Some(external_kinds.kind(relative)))
        } else {
            Some(Skip::External)
        };
        if let Some(skip) = skip {
            staged.report.skipped.entry(skip).or_default().add(*size);
            continue;
        }
        let original = Path::new("/").join(relative);
        let dest = mapping.map_path(&original).unwrap_or(original);
        if dest.starts_with(datadir) {
            staged.report.warnings.push(format!(
                "{EXTERNAL_PREFIX}{relative} would land inside the data directory at {}; left out",
                dest.display()
            ));
            continue;
        }
        let parent = dest.parent().unwrap_or(Path::new("/")).to_owned();
        fs::create_dir_all(&parent).map_err(|e| write_error(&parent, &e))?;
        let path = journal.staging_file(&dest)?;
        staged.externals.push((path.clone(), dest));
        let bytes = extract(
            input,
            &format!("{EXTERNAL_PREFIX}{relative}"),
            &path,
            &mut done,
            progress,
        )?;
        staged.report.externals.add(bytes);
    }
    folder.ownership()?.apply_below(&staged.staging)?;
    Ok(Some(staged))
}

/// The scope a file belongs to: a backup holding any file of a scope
/// replaces that scope's files. Catalog, settings and security are one
/// scope each; data and other files one per top folder (`data/geonode/`
/// and `geonode/` on their own, as GeoNode's archives hold only those).
fn scope(relative: &str, class: Class) -> String {
    match class {
        Class::Data | Class::Other => {
            if relative.starts_with("data/geonode/") {
                "data:data/geonode".to_owned()
            } else {
                let top = relative.split_once('/').map_or("", |(top, _)| top);
                format!("{}:{top}", class.name())
            }
        }
        class => class.name().to_owned(),
    }
}

fn read_entry(input: &mut BackupReader, name: &str) -> Result<Vec<u8>, Error> {
    let backup = input.path().display().to_string();
    let mut bytes = Vec::new();
    input
        .open_entry(name)?
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Error::new(
                ErrorKind::Input,
                format!("{backup}: cannot read {name}: {e}"),
            )
        })?;
    Ok(bytes)
}

fn extract(
    input: &mut BackupReader,
    name: &str,
    dest: &Path,
    done: &mut u64,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, Error> {
    create_parent(dest)?;
    let backup = input.path().display().to_string();
    let mut source = input.open_entry(name)?;
    let mut file = File::create(dest).map_err(|e| write_error(dest, &e))?;
    let read_error =
        |e: std::io::Error| Error::new(ErrorKind::Input, format!("{backup}: {name}: {e}"));
    let file_error = |e: std::io::Error| write_error(dest, &e);
    let bytes = pump(
        &mut source,
        &mut file,
        &read_error,
        &file_error,
        done,
        progress,
    )?;
    file.flush().map_err(|e| write_error(dest, &e))?;
    Ok(bytes)
}

fn create_parent(path: &Path) -> Result<(), Error> {
    match path.parent() {
        Some(parent) => fs::create_dir_all(parent).map_err(|e| write_error(parent, &e)),
        None => Ok(()),
    }
}

fn write_error(path: &Path, err: &dyn std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Run,
        format!("cannot write {}: {err}", path.display()),
    )
    .hint("the GeoServer data directory must be writable by the user running gnbr")
}

/// The paths of a data directory and of a restore, to find the largest
/// folders that can be swapped whole.
#[derive(Default)]
struct Tree {
    children: BTreeMap<String, Tree>,
    /// Something under (or at) this path stays as it is.
    kept: bool,
    /// A link or mount point: never renamed itself.
    pinned: bool,
}

impl Tree {
    fn node(&mut self, relative: &str, kept: bool) -> &mut Tree {
        let mut node = self;
        for part in relative.split('/') {
            node = node.children.entry(part.to_owned()).or_default();
            node.kept |= kept;
        }
        node
    }

    fn insert(&mut self, relative: &str, kept: bool) {
        self.node(relative, kept);
    }

    fn pin(&mut self, relative: &str) {
        self.node(relative, false).pinned = true;
    }

    /// The largest paths with nothing kept under them: each is renamed whole.
    fn units(&self, prefix: &str, out: &mut Vec<String>) {
        for (name, child) in &self.children {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if !child.kept && !child.pinned {
                out.push(path);
            } else {
                child.units(&path, out);
            }
        }
    }
}

impl StagedDataDir {
    /// Puts the staged restore in place: each path it replaces is renamed
    /// into `<datadir>/.gnbr-previous-<run>` (external files: beside
    /// themselves, `.<name>.gnbr-previous-<run>`), each staged path renamed
    /// into place, every step journaled in `journal`.
    ///
    /// # Errors
    ///
    /// A rename fails (a path on another filesystem, a permission); the
    /// caller then aborts the journal, which undoes every rename done.
    pub fn swap_in(self, journal: &mut Journal) -> Result<(), Error> {
        let previous = journal.previous_dir(&self.datadir);
        let mut plan = Plan::default();
        for unit in &self.units {
            let live = self.datadir.join(unit);
            if live.symlink_metadata().is_ok() {
                let aside = previous.join(unit);
                plan.create_dirs(aside.parent().expect("under previous"));
                plan.ops.push(Op::Rename {
                    from: live.clone(),
                    to: aside,
                });
            }
            let staged = self.staging.join(unit);
            if staged.symlink_metadata().is_ok() {
                plan.create_dirs(live.parent().expect("under the data directory"));
                plan.ops.push(Op::Rename {
                    from: staged,
                    to: live,
                });
            }
        }
        for (staged, dest) in &self.externals {
            if dest.symlink_metadata().is_ok() {
                plan.ops.push(Op::Rename {
                    from: dest.clone(),
                    to: journal.previous_file(dest),
                });
            }
            plan.ops.push(Op::Rename {
                from: staged.clone(),
                to: dest.clone(),
            });
        }
        journal.swap(plan.ops)
    }
}

/// The steps of a data directory's swap, being planned.
#[derive(Default)]
struct Plan {
    ops: Vec<Op>,
    made: BTreeSet<PathBuf>,
}

impl Plan {
    /// Plans creating a folder and its missing parents.
    fn create_dirs(&mut self, dir: &Path) {
        let mut missing = Vec::new();
        let mut at = Some(dir);
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

#[cfg(test)]
mod tests {
    use std::{
        collections::BTreeMap,
        fs,
        path::{Path, PathBuf},
    };

    use super::{
        backup, classify, is_table_dump, stage, Class, DataDir, DataKind, Selection, Skip,
    };
    use crate::{
        archive::{BackupReader, BackupWriter},
        errors::ErrorKind,
        geoserver::rewrite::{Mapping, PathRule},
        swap::Journal,
    };

    const MINIMAL: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/geoserver-double/data_dir_minimal"
    );

    /// Every file under `root` with its bytes, gnbr's own folders left out.
    fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
        walkdir::WalkDir::new(root)
            .into_iter()
            .map(Result::unwrap)
            .filter(|e| e.file_type().is_file())
            .filter_map(|e| {
                let name = e
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                (!name.starts_with(".gnbr-")).then(|| (name, fs::read(e.path()).unwrap()))
            })
            .collect()
    }

    fn copy_tree(from: &Path, to: &Path) {
        for entry in walkdir::WalkDir::new(from) {
            let entry = entry.unwrap();
            let dest = to.join(entry.path().strip_prefix(from).unwrap());
            if entry.file_type().is_dir() {
                fs::create_dir_all(&dest).unwrap();
            } else {
                fs::copy(entry.path(), &dest).unwrap();
            }
        }
    }

    fn write(root: &Path, relative: &str, text: &str) {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn write_backup(dir: &DataDir, selection: &Selection, out: &Path) -> super::BackupReport {
        let mut writer = BackupWriter::create(out, false).unwrap();
        let report = backup(dir, selection, &mut writer, &mut |_| {}).unwrap();
        writer.finish().unwrap();
        report
    }

    fn names(path: &Path) -> Vec<String> {
        BackupReader::open(path)
            .unwrap()
            .entries()
            .iter()
            .map(|e| e.name.clone())
            .collect()
    }

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

    #[test]
    fn scans_geoservers_cite_data_dir() {
        let dir = DataDir::scan(Path::new(MINIMAL)).unwrap();
        let class_of = |name: &str| {
            dir.files()
                .iter()
                .find(|f| f.relative == name)
                .map(|f| (f.class, f.kind))
                .unwrap_or_else(|| panic!("{name} not found"))
        };
        assert_eq!(
            class_of("workspaces/sf/sf/datastore.xml"),
            (Class::Catalog, None)
        );
        assert_eq!(
            class_of("workspaces/cite_wmts_10/wmts.xml"),
            (Class::Settings, None)
        );
        assert_eq!(
            class_of("data/nodataSquare.png"),
            (Class::Data, Some(DataKind::Raster))
        );
        assert_eq!(
            class_of("data/nodataSquare.wld"),
            (Class::Data, Some(DataKind::Raster))
        );
        assert_eq!(class_of("gwc/geowebcache.xml"), (Class::Settings, None));
        assert_eq!(
            class_of("security/masterpw/default/passwd"),
            (Class::Security, None)
        );
        assert_eq!(
            class_of("nsg-profile/configuration.properties"),
            (Class::Other, None)
        );
        assert_eq!(
            class_of("workspaces/sf/sf/EntitéGénérique/layer.xml"),
            (Class::Catalog, None)
        );
        let mut per_class: BTreeMap<Class, usize> = BTreeMap::new();
        for file in dir.files() {
            *per_class.entry(file.class).or_default() += 1;
        }
        assert_eq!(
            per_class,
            BTreeMap::from([
                (Class::Catalog, 37),
                (Class::Settings, 17),
                (Class::Security, 32),
                (Class::Data, 2),
                (Class::Other, 3),
            ])
        );
        assert!(dir.externals().is_empty());
        assert!(dir.warnings().is_empty(), "{:?}", dir.warnings());
    }

    #[test]
    fn data_kinds_follow_the_stores_that_use_the_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "workspaces/sf/sf/datastore.xml", "<dataStore><name>sf</name><connectionParameters><entry key=\"url\">file:data/sf</entry></connectionParameters></dataStore>");
        write(root, "workspaces/sf/dem/coveragestore.xml", "<coverageStore><name>dem</name><type>GeoTIFF</type><url>file:data/sf/sfdem.tif</url></coverageStore>");
        write(root, "workspaces/n/mosaic/coveragestore.xml", "<coverageStore><name>m</name><type>ImageMosaic</type><url>file:coverages/mosaic/mosaic.shp</url></coverageStore>");
        for file in [
            "data/sf/roads.shp",
            "data/sf/roads.dbf",
            "data/sf/roads.prj",
            "data/sf/notes.txt",
            "data/sf/sfdem.tif",
            "data/sf/sfdem.prj",
            "coverages/mosaic/mosaic.shp",
            "coverages/mosaic/mosaic.properties",
            "coverages/mosaic/g_1.png",
            "data/lone.prj",
            "data/places.shp",
            "data/places.prj",
            "data/blob.bin",
        ] {
            write(root, file, "x");
        }
        let dir = DataDir::scan(root).unwrap();
        let kinds: BTreeMap<&str, DataKind> = dir
            .files()
            .iter()
            .filter_map(|f| Some((f.relative.as_str(), f.kind?)))
            .collect();
        use DataKind::{Raster, Vector};
        assert_eq!(
            kinds,
            BTreeMap::from([
                ("coverages/mosaic/g_1.png", Raster),
                ("coverages/mosaic/mosaic.properties", Raster),
                ("coverages/mosaic/mosaic.shp", Raster),
                ("data/blob.bin", Raster),
                ("data/lone.prj", Raster),
                ("data/places.prj", Vector),
                ("data/places.shp", Vector),
                ("data/sf/notes.txt", Vector),
                ("data/sf/roads.dbf", Vector),
                ("data/sf/roads.prj", Vector),
                ("data/sf/roads.shp", Vector),
                ("data/sf/sfdem.prj", Raster),
                ("data/sf/sfdem.tif", Raster),
            ])
        );
    }

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

    /// A data dir with everything a backup must handle: the CITE data dir,
    /// ephemeral content, a table dump's name, and stores that refer to
    /// files outside it.
    fn busy_data_dir(root: &Path, outside: &Path) {
        copy_tree(Path::new(MINIMAL), root);
        write(root, "logs/geoserver.log", "log");
        write(root, "temp/upload/x.zip", "tmp");
        write(root, "gwc/sf_roads/EPSG_4326_01/0_0/00_00.png", "tile");
        write(root, "catalog.lock", "");
        write(root, "geonode/roads.sql", "-- not ours");
        write(root, "data/geonode/dem/dem.tif", "tif");
        write(outside, "rasters/big.tif", "outside raster");
        write(outside, "rasters/big.tfw", "world file");
        write(outside, "shapes/roads.shp", "outside vector");
        write(
            root,
            "workspaces/sf/big/coveragestore.xml",
            &format!("<coverageStore><name>big</name><url>file://{}/rasters/big.tif</url></coverageStore>", outside.display()),
        );
        write(
            root,
            "workspaces/sf/roads/datastore.xml",
            &format!("<dataStore><name>roads</name><connectionParameters><entry key=\"url\">file:{}/shapes</entry></connectionParameters></dataStore>", outside.display()),
        );
        write(
            root,
            "workspaces/sf/gone/coveragestore.xml",
            "<coverageStore><name>gone</name><url>file:/nonexistent/gone.tif</url></coverageStore>",
        );
    }

    #[test]
    fn backs_up_in_geonodes_layout_without_ephemeral_content() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, outside) = (tmp.path().join("gs"), tmp.path().join("mnt"));
        busy_data_dir(&root, &outside);
        let dir = DataDir::scan(&root).unwrap();
        let out = tmp.path().join("backup");
        let mut progress = 0;
        let mut writer = BackupWriter::create(&out, false).unwrap();
        let report = backup(&dir, &Selection::all(), &mut writer, &mut |done| {
            progress = done
        })
        .unwrap();
        writer.finish().unwrap();
        let names = names(&out);
        let mnt = outside.strip_prefix("/").unwrap().display().to_string();
        for expected in [
            "gs_data_dir/global.xml".to_owned(),
            "gs_data_dir/workspaces/sf/sf/datastore.xml".to_owned(),
            "gs_data_dir/security/geoserver.jceks".to_owned(),
            "gs_data_dir/data/nodataSquare.png".to_owned(),
            "gs_data_dir/data/geonode/dem/dem.tif".to_owned(),
            "gs_data_dir/logs/DEFAULT_LOGGING.properties".to_owned(),
            "gs_data_dir/README.rst".to_owned(),
            format!("external/{mnt}/rasters/big.tif"),
            format!("external/{mnt}/rasters/big.tfw"),
            format!("external/{mnt}/shapes/roads.shp"),
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:#?}"
            );
        }
        for never in [
            "logs/geoserver.log",
            "temp/",
            "gwc/sf_roads",
            "catalog.lock",
            "geonode/roads.sql",
        ] {
            assert!(
                !names.iter().any(|n| n.contains(never)),
                "{never} was backed up"
            );
        }
        assert_eq!(report.externals.files, 3);
        assert_eq!(
            report.ephemeral_dirs, 2,
            "temp/ and gwc/sf_roads/, not walked"
        );
        assert_eq!(
            report.skipped[&Skip::Ephemeral].files,
            2,
            "the log and the lock"
        );
        assert_eq!(report.skipped[&Skip::TableDump].files, 1);
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains("/nonexistent/gone.tif")),
            "{:?}",
            report.warnings
        );
        let written: u64 =
            report.written.values().map(|t| t.bytes).sum::<u64>() + report.externals.bytes;
        assert_eq!(progress, written);
        // Every entry is in the manifest with its checksum.
        let reader = BackupReader::open(&out).unwrap();
        assert_eq!(reader.manifest().unwrap().entries.len(), names.len() - 1);
    }

    #[test]
    fn backs_up_only_what_is_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, outside) = (tmp.path().join("gs"), tmp.path().join("mnt"));
        busy_data_dir(&root, &outside);
        let dir = DataDir::scan(&root).unwrap();
        let selection = Selection {
            settings: false,
            security: false,
            raster_data: false,
            vector_data: true,
            externals: true,
            exclude: Selection::parse_exclusions("nsg-profile,/workspaces/cite_wmts_10/"),
        };
        let out = tmp.path().join("backup");
        let report = write_backup(&dir, &selection, &out);
        let names = names(&out);
        assert!(names
            .iter()
            .all(|n| !n.starts_with("gs_data_dir/security/")));
        assert!(!names.contains(&"gs_data_dir/global.xml".to_owned()));
        assert!(!names.contains(&"gs_data_dir/data/nodataSquare.png".to_owned()));
        assert!(names
            .iter()
            .all(|n| !n.contains("cite_wmts_10/") && !n.contains("nsg-profile")));
        assert!(names.contains(&"gs_data_dir/workspaces/sf/workspace.xml".to_owned()));
        assert!(
            names.iter().any(|n| n.ends_with("shapes/roads.shp")),
            "vector external kept"
        );
        assert!(
            !names.iter().any(|n| n.ends_with("rasters/big.tif")),
            "raster external left out"
        );
        assert_eq!(report.skipped[&Skip::Security].files, 32);
        assert_eq!(
            report.skipped[&Skip::RasterData].files,
            5,
            "2 in data/, 1 in data/geonode, 2 outside"
        );
        assert!(report.skipped[&Skip::Excluded].files > 0);
    }

    /// Backs up `source` whole into a zip archive.
    fn archive_of(source: &Path, out: &Path) -> PathBuf {
        let dir = DataDir::scan(source).unwrap();
        write_backup(&dir, &Selection::all(), out);
        out.to_owned()
    }

    #[test]
    fn restores_staged_then_swapped_keeping_what_it_does_not_replace() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = archive_of(Path::new(MINIMAL), &tmp.path().join("b.zip"));
        let target = tmp.path().join("target");
        copy_tree(Path::new(MINIMAL), &target);
        write(&target, "global.xml", "<global>target's own</global>");
        write(
            &target,
            "workspaces/extra/workspace.xml",
            "<workspace><name>extra</name></workspace>",
        );
        write(&target, "styles/point.sld", "changed on the target");
        write(&target, "logs/geoserver.log", "target log");
        write(&target, "gwc/sf_roads/EPSG_4326_01/0_0/00_00.png", "tile");
        write(&target, "data/target-only.tif", "target data");
        let before = snapshot(&target);

        let selection = Selection {
            settings: false,
            ..Selection::all()
        };
        let mut input = BackupReader::open(&archive).unwrap();
        let mut journal = Journal::begin(tmp.path(), "s", "db", true).unwrap();
        let staged = stage(
            &mut input,
            &target,
            &selection,
            &Mapping::default(),
            &mut journal,
            &mut |_| {},
        )
        .unwrap()
        .unwrap();
        assert_eq!(snapshot(&target), before, "staging changes nothing");
        assert_eq!(staged.report.restored[&Class::Catalog].files, 37);
        assert!(!staged.report.restored.contains_key(&Class::Settings));

        staged.swap_in(&mut journal).unwrap();
        let after = snapshot(&target);
        let source = snapshot(Path::new(MINIMAL));
        for (name, bytes) in &source {
            if classify(name) == Class::Settings {
                continue;
            }
            assert_eq!(after.get(name), Some(bytes), "{name}");
        }
        assert_eq!(
            after["global.xml"], b"<global>target's own</global>",
            "settings kept"
        );
        assert_eq!(after["logs/geoserver.log"], b"target log", "ephemeral kept");
        assert!(
            after.contains_key("gwc/sf_roads/EPSG_4326_01/0_0/00_00.png"),
            "tile cache kept"
        );
        assert!(
            !after.contains_key("workspaces/extra/workspace.xml"),
            "not in the backup's catalog"
        );
        assert!(
            !after.contains_key("data/target-only.tif"),
            "the backup holds data/"
        );
        journal.commit().unwrap();
        let kept = journal.finish().unwrap();
        assert_eq!(kept.len(), 1);
        let previous = snapshot(&kept[0]);
        assert_eq!(
            previous["workspaces/extra/workspace.xml"],
            b"<workspace><name>extra</name></workspace>"
        );
        assert_eq!(previous["styles/point.sld"], b"changed on the target");
        let leftovers: Vec<_> = fs::read_dir(&target)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".gnbr-"))
            .collect();
        assert_eq!(leftovers, [kept[0].file_name().unwrap().to_string_lossy()]);
    }

    #[test]
    fn undo_puts_the_old_data_dir_back() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = archive_of(Path::new(MINIMAL), &tmp.path().join("b.zip"));
        let target = tmp.path().join("target");
        write(
            &target,
            "workspaces/old/workspace.xml",
            "<workspace><name>old</name></workspace>",
        );
        write(&target, "global.xml", "<global/>");
        let before = snapshot(&target);
        let mut input = BackupReader::open(&archive).unwrap();
        let mut journal = Journal::begin(tmp.path(), "s", "db", true).unwrap();
        let staged = stage(
            &mut input,
            &target,
            &Selection::all(),
            &Mapping::default(),
            &mut journal,
            &mut |_| {},
        )
        .unwrap()
        .unwrap();
        staged.swap_in(&mut journal).unwrap();
        assert_ne!(snapshot(&target), before);
        journal.abort().unwrap();
        assert_eq!(snapshot(&target), before);
        assert_eq!(
            fs::read_dir(&target).unwrap().count(),
            2,
            "no staging or previous folder left"
        );
    }

    #[test]
    fn a_damaged_backup_leaves_the_data_dir_as_it_was() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = tmp.path().join("backup");
        archive_of(Path::new(MINIMAL), &folder);
        // Changed after the manifest was written: its sha256 no longer matches.
        fs::write(
            folder.join("gs_data_dir/styles/default_point.sld"),
            "tampered",
        )
        .unwrap();
        let target = tmp.path().join("target");
        copy_tree(Path::new(MINIMAL), &target);
        let before = snapshot(&target);
        let mut input = BackupReader::open(&folder).unwrap();
        let mut journal = Journal::begin(tmp.path(), "s", "db", true).unwrap();
        let err = stage(
            &mut input,
            &target,
            &Selection::all(),
            &Mapping::default(),
            &mut journal,
            &mut |_| {},
        )
        .err()
        .unwrap();
        assert_eq!(err.kind, ErrorKind::Input, "{err}");
        assert!(err.message.contains("styles/default_point.sld"), "{err}");
        drop(journal);
        assert_eq!(snapshot(&target), before);
        assert!(fs::read_dir(&target).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".gnbr-")));
    }

    #[test]
    fn a_failed_swap_is_undone() {
        // A link to a folder on another filesystem: renames across it fail.
        let other = Path::new("/dev/shm");
        let tmp = tempfile::tempdir().unwrap();
        let Ok(elsewhere) = tempfile::tempdir_in(other) else {
            eprintln!(
                "skipped: no {} to put a second filesystem in",
                other.display()
            );
            return;
        };
        if super::device(&fs::metadata(elsewhere.path()).unwrap())
            == super::device(&fs::metadata(tmp.path()).unwrap())
        {
            eprintln!("skipped: {} is on the same filesystem", other.display());
            return;
        }
        let archive = archive_of(Path::new(MINIMAL), &tmp.path().join("b.zip"));
        let target = tmp.path().join("target");
        copy_tree(Path::new(MINIMAL), &target);
        write(&target, "global.xml", "<global>old</global>");
        copy_tree(&target.join("data"), &elsewhere.path().join("data"));
        fs::remove_dir_all(target.join("data")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path().join("data"), target.join("data")).unwrap();
        write(&target, "data/nodataSquare.png", "old png");
        let before = snapshot(&target);
        let mut input = BackupReader::open(&archive).unwrap();
        let mut journal = Journal::begin(tmp.path(), "s", "db", true).unwrap();
        let staged = stage(
            &mut input,
            &target,
            &Selection::all(),
            &Mapping::default(),
            &mut journal,
            &mut |_| {},
        )
        .unwrap()
        .unwrap();
        let err = staged.swap_in(&mut journal).err().unwrap();
        journal.abort().unwrap();
        assert_eq!(err.kind, ErrorKind::Run);
        assert!(err.message.contains("data/"), "{err}");
        assert_eq!(snapshot(&target), before);
        assert!(fs::symlink_metadata(target.join("data"))
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn a_geonode_archive_replaces_only_the_folders_it_holds() {
        let tmp = tempfile::tempdir().unwrap();
        // What GeoNode's backup writes: uploaded rasters and vector table dumps, no catalog.
        let with_dump = tmp.path().join("geonode.zip");
        let mut out = BackupWriter::create(&with_dump, false).unwrap();
        for (name, bytes) in [
            (
                "gs_data_dir/data/geonode/dem/dem.tif",
                b"new dem".as_slice(),
            ),
            (
                "gs_data_dir/geonode/roads.sql",
                b"-- a table dump".as_slice(),
            ),
        ] {
            let mut entry = out.entry(name).unwrap();
            std::io::Write::write_all(&mut entry, bytes).unwrap();
            entry.close().unwrap();
        }
        out.finish().unwrap();
        let target = tmp.path().join("target");
        copy_tree(Path::new(MINIMAL), &target);
        write(&target, "data/geonode/old/old.tif", "old upload");
        write(
            &target,
            "geonode/upload.tif",
            "kept: the backup has no geonode/ content",
        );
        let before = snapshot(&target);
        let mut input = BackupReader::open(&with_dump).unwrap();
        let mut journal = Journal::begin(tmp.path(), "s", "db", true).unwrap();
        let staged = stage(
            &mut input,
            &target,
            &Selection::all(),
            &Mapping::default(),
            &mut journal,
            &mut |_| {},
        )
        .unwrap()
        .unwrap();
        assert_eq!(staged.report.skipped[&Skip::TableDump].files, 1);
        assert_eq!(staged.report.replaced, 1, "only data/geonode/old/old.tif");
        assert!(
            before.contains_key("geonode/upload.tif"),
            "a table dump alone does not replace geonode/"
        );
        staged.swap_in(&mut journal).unwrap();
        journal.commit().unwrap();
        journal.finish().unwrap();
        let mut expected = before;
        expected.remove("data/geonode/old/old.tif");
        expected.insert("data/geonode/dem/dem.tif".into(), b"new dem".to_vec());
        assert_eq!(
            snapshot(&target),
            expected,
            "catalog, settings, security and data/ kept"
        );
    }

    #[test]
    fn restores_external_files_and_rewrites_their_references() {
        let tmp = tempfile::tempdir().unwrap();
        let (source, outside) = (tmp.path().join("gs"), tmp.path().join("mnt"));
        busy_data_dir(&source, &outside);
        let archive = archive_of(&source, &tmp.path().join("b.zip"));
        let moved = tmp.path().join("srv");
        write(&moved, "rasters/big.tif", "the target's older copy");
        let mapping = Mapping {
            paths: vec![PathRule {
                from: outside.clone(),
                to: moved.clone(),
            }],
            ..Mapping::default()
        };
        let target = tmp.path().join("target");
        let mut input = BackupReader::open(&archive).unwrap();
        let mut journal = Journal::begin(tmp.path(), "s", "db", true).unwrap();
        let staged = stage(
            &mut input,
            &target,
            &Selection::all(),
            &mapping,
            &mut journal,
            &mut |_| {},
        )
        .unwrap()
        .unwrap();
        assert_eq!(staged.report.externals.files, 3);
        assert_eq!(staged.report.rewrite.files, 2);
        assert_eq!(
            fs::read(moved.join("rasters/big.tif")).unwrap(),
            b"the target's older copy"
        );
        staged.swap_in(&mut journal).unwrap();
        journal.commit().unwrap();
        let kept = journal.finish().unwrap();
        assert_eq!(
            fs::read(moved.join("rasters/big.tif")).unwrap(),
            b"outside raster"
        );
        assert_eq!(
            fs::read(moved.join("shapes/roads.shp")).unwrap(),
            b"outside vector"
        );
        assert!(
            kept.iter().any(|k| k.ends_with(".big.tif.gnbr-previous-s")),
            "{kept:?}"
        );
        let store = fs::read_to_string(target.join("workspaces/sf/big/coveragestore.xml")).unwrap();
        assert!(
            store.contains(&format!("file://{}/rasters/big.tif", moved.display())),
            "{store}"
        );
    }
}
