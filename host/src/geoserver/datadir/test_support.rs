//! Data directories and backups the data directory's tests share.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use super::{backup, BackupReport, DataDir, Selection};
use crate::archive::{BackupReader, BackupWriter};

pub(super) const MINIMAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/geoserver-double/data_dir_minimal"
);

/// Every file under `root` with its bytes, gnbr's own folders left out.
pub(super) fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
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

pub(super) fn copy_tree(from: &Path, to: &Path) {
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

pub(super) fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

pub(super) fn write_backup(dir: &DataDir, selection: &Selection, out: &Path) -> BackupReport {
    let mut writer = BackupWriter::create(out, false).unwrap();
    let report = backup(dir, selection, &mut writer, &mut |_| {}).unwrap();
    writer.finish().unwrap();
    report
}

pub(super) fn names(path: &Path) -> Vec<String> {
    BackupReader::open(path)
        .unwrap()
        .entries()
        .iter()
        .map(|e| e.name.clone())
        .collect()
}

/// A data dir with everything a backup must handle: the CITE data dir,
/// ephemeral content, a table dump's name, and stores that refer to
/// files outside it.
pub(super) fn busy_data_dir(root: &Path, outside: &Path) {
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
        &format!(
            "<coverageStore><name>big</name><url>file://{}/rasters/big.tif</url></coverageStore>",
            outside.display()
        ),
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

/// Backs up `source` whole into a zip archive.
pub(super) fn archive_of(source: &Path, out: &Path) -> PathBuf {
    let dir = DataDir::scan(source).unwrap();
    write_backup(&dir, &Selection::all(), out);
    out.to_owned()
}
