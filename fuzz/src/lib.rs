//! The checks the fuzz targets run on each input, one function per target.
//!
//! Each must never panic on any input except where it asserts a property of
//! gnbr's own output. The same file is the body of the corpus replay test
//! (`tests/e2e/fuzz_corpus.rs`, which includes it by path), so that the
//! corpus and every crash kept in `fuzz/regressions/` run on stable in the
//! normal suite too.

use std::{
    io::{self, Read},
    path::PathBuf,
};

use gnbr::{
    archive::{BackupReader, Manifest},
    config::Settings,
    fixtures::{self, FixtureReader},
    geoserver::{
        rewrite::{rewrite_text, Mapping, PathRule, StoreMatch, StoreRule, StoreTarget, UrlRule},
        Secret,
    },
};
use mangler_api::{client::Chain, FixtureObject};

/// The object limit the fixture target reads with: small, so that the
/// fuzzer reaches it.
pub const FIXTURE_LIMIT: usize = 1 << 16;

/// settings.ini: any bytes give settings or an error.
pub fn settings_ini(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("settings.ini");
    if std::fs::write(&path, data).is_ok() {
        let _ = Settings::load(&path);
    }
}

/// A reader handing out at most `step` bytes per read, to cut the input at
/// every kind of place.
struct Chunks<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Chunks<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.data.len().min(self.step).min(out.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The fixture reader (its first byte sets the read size): what it accepts
/// it gives back byte for byte, within the limit, and every element it
/// accepts is one that serde_json and the plugins' [`FixtureObject`] read
/// whole, each field included.
pub fn fixture_reader(data: &[u8]) {
    let Some((&step, text)) = data.split_first() else {
        return;
    };
    let source = Chunks {
        data: text,
        step: usize::from(step % 64) + 1,
    };
    let mut reader = FixtureReader::with_limit(source, FIXTURE_LIMIT);
    let mut copy = match reader.prefix() {
        Ok(prefix) => prefix.to_vec(),
        Err(_) => return,
    };
    loop {
        match reader.next_element() {
            Ok(Some(element)) => {
                assert!(element.gap.len() + element.text.len() <= FIXTURE_LIMIT);
                copy.extend_from_slice(element.gap);
                copy.extend_from_slice(element.text.as_bytes());
                check_object(element.text, element.model, element.pk);
            }
            Ok(None) => break,
            Err(_) => return,
        }
    }
    copy.extend_from_slice(reader.suffix());
    assert_eq!(copy, text, "the reader gives back every byte it accepted");
    assert_eq!(reader.position(), text.len() as u64);

    let (stats, out) = fixtures::mangle(
        text,
        Vec::new(),
        &Chain::new(Vec::new()),
        &mut [],
        &mut Vec::new(),
        &mut |_| {},
    )
    .expect("a fixture the reader accepted streams through an empty chain");
    assert_eq!(out, text, "an empty chain copies the fixture byte for byte");
    assert_eq!(stats.objects_in, stats.objects_out);
}

fn check_object(text: &str, model: &str, pk: Option<&str>) {
    let value: serde_json::Value =
        serde_json::from_str(text).expect("serde_json reads every element the scanner accepts");
    let object = FixtureObject::parse(text).expect("FixtureObject reads every element accepted");
    assert_eq!(object.model(), model);
    if let Some(pk) = pk {
        let written: serde_json::Value = serde_json::from_str(pk).expect("a pk is JSON");
        assert_eq!(object.pk(), Some(&written));
    }
    let names: Vec<String> = object.field_names().map(str::to_owned).collect();
    for name in &names {
        assert!(object.field(name).is_some());
    }
    assert_eq!(
        object.into_value(),
        value,
        "FixtureObject reads the values serde_json reads"
    );
}

/// Backup archives and manifests: any bytes, as a zip file or as a
/// manifest, give a backup or an error; every entry of an archive that
/// opens reads to its end or fails, within bounds.
pub fn backup_archive(data: &[u8]) {
    let _ = serde_json::from_slice::<Manifest>(data);
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("backup.zip");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let Ok(mut backup) = BackupReader::open(&path) else {
        return;
    };
    let names: Vec<String> = backup
        .entries()
        .iter()
        .take(64)
        .map(|e| e.name.clone())
        .collect();
    for name in names {
        if let Ok(entry) = backup.open_entry(&name) {
            let _ = io::copy(&mut entry.take(1 << 20), &mut io::sink());
        }
    }
}

/// The GeoServer XML rewrite: any text, as each kind of file it rewrites,
/// gives a rewrite or an error; a rewritten file is still well-formed and a
/// second rewrite changes nothing in it.
pub fn geoserver_rewrite(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mapping = Mapping {
        stores: vec![StoreRule {
            from: StoreMatch {
                host: Some("db-old".to_owned()),
                database: Some("geonode_data".to_owned()),
                ..StoreMatch::default()
            },
            to: StoreTarget {
                host: Some("db-new".to_owned()),
                port: Some("5433".to_owned()),
                password: Some(Secret::new("s3cret")),
                ..StoreTarget::default()
            },
        }],
        paths: vec![PathRule {
            from: PathBuf::from("/srv/geoserver/data"),
            to: PathBuf::from("/opt/gs/data_dir"),
        }],
        urls: vec![UrlRule {
            from: "http://old.example.org/geoserver".to_owned(),
            to: "https://new.example.org/geoserver".to_owned(),
        }],
    };
    for name in [
        "workspaces/w/s/datastore.xml",
        "global.xml",
        "logging.xml",
        "styles/s.xml",
    ] {
        let Ok(first) = rewrite_text(name, text, &mapping) else {
            continue;
        };
        if let Some(new) = first.text {
            let again = rewrite_text(name, &new, &mapping)
                .unwrap_or_else(|e| panic!("{name}: the rewritten text is not well-formed: {e}"));
            assert!(
                again.changes.is_empty(),
                "{name}: a second rewrite changed {:?}",
                again.changes
            );
        }
    }
}
