//! Writing a data directory into a backup, in GeoNode's layout.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{Read, Write},
    path::{Path, PathBuf},
};

use serde::Serialize;

use super::{slash_path, Class, DataDir, Selection, Skip, Tally, ARCHIVE_PREFIX, EXTERNAL_PREFIX};
use crate::{
    archive::BackupWriter,
    errors::{Error, ErrorKind},
};

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
    crate::cancel::check()?;
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

#[cfg(test)]
mod tests {
    use super::{backup, DataDir, Selection, Skip};
    use crate::archive::{BackupReader, BackupWriter};
    use crate::geoserver::datadir::test_support::{busy_data_dir, names, write_backup};

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
}
