//! Walking a data directory: every file classified, and the catalog's
//! references to data files resolved, inside it or outside it.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use serde::Serialize;

use super::{
    classify::{classify, file_stem, is_ephemeral_dir, KindMap},
    slash_path, Class, DataKind,
};
use crate::{
    errors::{Error, ErrorKind},
    geoserver::{
        rewrite::{relative_name, split_file_url},
        xml::Document,
    },
    swap::normalize,
};

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
    pub(super) root: PathBuf,
    pub(super) files: Vec<DataFile>,
    pub(super) externals: Vec<ExternalFile>,
    pub(super) ephemeral_dirs: Vec<String>,
    pub(super) pinned: Vec<String>,
    pub(super) warnings: Vec<String>,
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
pub(super) fn device(meta: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::dev(meta)
}

#[cfg(not(unix))]
pub(super) fn device(_meta: &fs::Metadata) -> u64 {
    0
}

/// What a catalog file refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reference {
    /// The catalog file, data-dir relative.
    pub(super) from: String,
    /// Raster (coverage store), vector (data store), `None` (a style's file).
    pub(super) kind: Option<DataKind>,
    /// Where.
    pub(super) target: Target,
    /// The whole folder of the file (an image mosaic's index).
    pub(super) whole_dir: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// Data-dir relative.
    Inside(String),
    /// Absolute, outside the data directory.
    Outside(PathBuf),
}

/// Whether a catalog file may refer to data files: stores and styles.
pub(super) fn holds_references(relative: &str) -> bool {
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
pub(super) fn parse_references(
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

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, path::Path};

    use super::{Class, DataDir, DataKind};
    use crate::geoserver::datadir::test_support::{write, MINIMAL};

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
}
