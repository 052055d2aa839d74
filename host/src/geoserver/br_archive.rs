//! A Backup & Restore archive (`geoserver_catalog.zip`) rewritten for the
//! target: its store, settings, logging and style entries go through
//! [`rewrite_text`], every other entry is copied as it is.

use std::{
    fs::File,
    io::{self, Read, Seek, Write},
    path::Path,
};

use zip::{write::SimpleFileOptions, CompressionMethod, ZipArchive, ZipWriter};

use super::{
    rewrite::{is_rewritable, rewrite_text, Mapping, RewriteReport},
    server::CATALOG_ENTRY,
};
use crate::{
    archive::BackupReader,
    errors::{Error, ErrorKind},
};

/// Writes the archive `source` to `dest` (a file, or memory) with
/// `mapping` applied; returns every value changed. `source_name` and
/// `dest_name` are what messages call them (the backup and its entry,
/// `backup.zip: geoserver_catalog.zip`, for one read from a backup).
///
/// # Errors
///
/// `source` is not a zip archive or an entry cannot be read; `dest` cannot
/// be written. An entry that is not well-formed XML is copied unchanged,
/// with a warning in the report.
pub fn rewrite_archive<R: Read + Seek, W: Write + Seek>(
    source: R,
    source_name: &str,
    dest: W,
    dest_name: &str,
    mapping: &Mapping,
) -> Result<RewriteReport, Error> {
    let damaged = |e: &dyn std::fmt::Display| {
        Error::new(
            ErrorKind::Input,
            format!("{source_name}: not a readable GeoServer Backup & Restore archive: {e}"),
        )
    };
    let write_failed = |e: &dyn std::fmt::Display| {
        Error::new(ErrorKind::Run, format!("cannot write {dest_name}: {e}"))
    };
    let mut input = ZipArchive::new(source).map_err(|e| damaged(&e))?;
    let mut output = ZipWriter::new(dest);
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let mut report = RewriteReport::default();
    for index in 0..input.len() {
        let mut entry = input.by_index(index).map_err(|e| damaged(&e))?;
        let name = entry.name().map_err(|e| damaged(&e))?.into_owned();
        if entry.is_dir() || !is_rewritable(&name) {
            output.raw_copy_file(entry).map_err(|e| write_failed(&e))?;
            continue;
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| damaged(&format!("{name}: {e}")))?;
        drop(entry);
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => rewrite_text(&name, text, mapping),
            Err(e) => Err(format!("not UTF-8: {e}")),
        };
        let rewritten = match text {
            Ok(rewritten) => rewritten,
            Err(why) => {
                report.warnings.push(format!(
                    "{CATALOG}: {name} left as it is: {why}",
                    CATALOG = super::server::CATALOG_ENTRY
                ));
                Default::default()
            }
        };
        output
            .start_file(name.as_str(), options)
            .map_err(|e| write_failed(&e))?;
        let body = rewritten.text.as_deref().map_or(&bytes[..], str::as_bytes);
        output.write_all(body).map_err(|e| write_failed(&e))?;
        if rewritten.text.is_some() {
            report.files += 1;
        }
        report.changes.extend(rewritten.changes);
        report.warnings.extend(rewritten.warnings);
    }
    output
        .finish()
        .and_then(|mut f| f.flush().map_err(zip::result::ZipError::Io))
        .map_err(|e| write_failed(&e))?;
    Ok(report)
}

/// Copies `reader` into a new file at `path`.
///
/// # Errors
///
/// The file cannot be written.
pub fn save(reader: &mut dyn Read, path: &Path) -> Result<(), Error> {
    File::create(path)
        .and_then(|mut file| io::copy(reader, &mut file).map(drop))
        .map_err(|e| {
            Error::new(
                ErrorKind::Run,
                format!("cannot write {}: {e}", path.display()),
            )
        })
}

/// The most of an encrypted backup's GeoServer archive held in memory.
const CATALOG_MEMORY_LIMIT: u64 = 512 << 20;

/// The GeoServer archive of the encrypted backup `input`, `name`d so in
/// messages, read into memory up to [`CATALOG_MEMORY_LIMIT`].
///
/// # Errors
///
/// When it is larger, or cannot be read.
pub fn catalog_in_memory(input: &mut BackupReader, name: &str) -> Result<Vec<u8>, Error> {
    let too_large = || {
        Error::new(
            ErrorKind::Refused,
            format!(
                "{name} is larger than the {} MiB of an encrypted backup's GeoServer catalog gnbr holds in memory (it never writes it to disk in the clear)",
                CATALOG_MEMORY_LIMIT >> 20
            ),
        )
        .hint("decrypt the archive by hand (age -d) into a private folder and restore the .zip, or restore with --skip-geoserver")
    };
    let size = input
        .entries()
        .iter()
        .find(|e| e.name == CATALOG_ENTRY)
        .map_or(0, |e| e.size);
    if size > CATALOG_MEMORY_LIMIT {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    input
        .open_entry(CATALOG_ENTRY)?
        .take(CATALOG_MEMORY_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::new(ErrorKind::Input, format!("cannot read {name}: {e}")))?;
    if bytes.len() as u64 > CATALOG_MEMORY_LIMIT {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Reads every entry of the archive `archive` (each checked by its
/// CRC-32); returns how many files it holds. `source_name` is what messages
/// call it, as for [`rewrite_archive`].
///
/// # Errors
///
/// An [`ErrorKind::Input`] error when it is not a zip archive or an entry
/// cannot be read.
pub fn check_archive(archive: impl Read + Seek, source_name: &str) -> Result<u64, Error> {
    let damaged = |e: &dyn std::fmt::Display| {
        Error::new(
            ErrorKind::Input,
            format!("{source_name}: not a readable GeoServer Backup & Restore archive: {e}"),
        )
        .hint("the backup's GeoServer catalog is damaged: use another backup, or restore with --skip-geoserver")
    };
    let mut input = ZipArchive::new(archive).map_err(|e| damaged(&e))?;
    let mut files = 0;
    for index in 0..input.len() {
        let mut entry = input.by_index(index).map_err(|e| damaged(&e))?;
        let name = entry.name().map_err(|e| damaged(&e))?.into_owned();
        io::copy(&mut entry, &mut io::sink()).map_err(|e| damaged(&format!("{name}: {e}")))?;
        files += u64::from(!entry.is_dir());
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::{
        fs::File,
        io::{Read, Write},
        path::PathBuf,
    };

    use zip::{write::SimpleFileOptions, ZipArchive, ZipWriter};

    use super::rewrite_archive;
    use crate::geoserver::{
        rewrite::{Mapping, PathRule, StoreMatch, StoreRule, StoreTarget},
        Secret,
    };

    const STORES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>
<items>
<dataStore><id>s1</id><name>geonode_data</name><type>PostGIS</type><connectionParameters>
<entry key="dbtype">postgis</entry><entry key="host">db-old</entry><entry key="port">5432</entry>
<entry key="database">geonode_data</entry><entry key="user">geonode</entry>
<entry key="passwd">crypt1:abc</entry></connectionParameters></dataStore>
<coverageStore><id>c1</id><name>dem</name><url>file:/old/data/dem.tif</url></coverageStore>
</items>
"#;

    #[test]
    fn stores_and_paths_move_and_the_rest_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("in.zip");
        let mut zip = ZipWriter::new(File::create(&source).unwrap());
        for (name, text) in [
            ("br_index.xml", "<index/>"),
            ("store.dat.1", STORES),
            ("workspaces/geonode/workspace.xml", "<workspace/>"),
        ] {
            zip.start_file(name, SimpleFileOptions::default()).unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        let mapping = Mapping {
            stores: vec![StoreRule {
                from: StoreMatch {
                    host: Some("db-old".to_owned()),
                    ..StoreMatch::default()
                },
                to: StoreTarget {
                    host: Some("db-new".to_owned()),
                    password: Some(Secret::new("n3w")),
                    ..StoreTarget::default()
                },
            }],
            paths: vec![PathRule {
                from: PathBuf::from("/old/data"),
                to: PathBuf::from("/new/data"),
            }],
            ..Mapping::default()
        };
        let dest = dir.path().join("out.zip");
        let report = rewrite_archive(
            File::open(&source).unwrap(),
            "catalog.zip",
            File::create(&dest).unwrap(),
            "out.zip",
            &mapping,
        )
        .unwrap();
        let changed: Vec<(&str, &str, &str)> = report
            .changes
            .iter()
            .map(|c| (c.field.as_str(), c.old.as_str(), c.new.as_str()))
            .collect();
        assert_eq!(
            changed,
            [
                ("host", "db-old", "db-new"),
                ("passwd", "(not shown)", "(not shown)"),
                ("url", "file:/old/data/dem.tif", "file:/new/data/dem.tif"),
            ]
        );
        assert_eq!(report.files, 1);
        let mut out = ZipArchive::new(File::open(&dest).unwrap()).unwrap();
        assert_eq!(out.len(), 3);
        let mut text = String::new();
        out.by_name("store.dat.1")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert!(
            text.contains(r#"<entry key="host">db-new</entry>"#),
            "{text}"
        );
        assert!(text.contains("plain:n3w"));
        let mut index = String::new();
        out.by_name("br_index.xml")
            .unwrap()
            .read_to_string(&mut index)
            .unwrap();
        assert_eq!(index, "<index/>");
    }

    #[test]
    fn a_file_that_is_not_a_zip_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("catalog.zip");
        std::fs::write(&source, b"not a zip").unwrap();
        let error = rewrite_archive(
            File::open(&source).unwrap(),
            "backup.zip: geoserver_catalog.zip",
            std::io::Cursor::new(Vec::new()),
            "memory",
            &Mapping::default(),
        )
        .unwrap_err();
        assert!(
            error
                .message
                .starts_with("backup.zip: geoserver_catalog.zip: not a readable"),
            "{error}"
        );
    }
}
