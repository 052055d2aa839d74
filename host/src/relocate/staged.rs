//! A restore onto another host: the staged fixtures get the target's
//! address and folders in place of the source's (see [`super`]), before
//! the load, so that the move is part of the restore's one transaction.

use std::path::{Path, PathBuf};

use super::{other_address, Place, Relocation, RelocationReport};
use crate::{
    errors::{Error, ErrorKind},
    fixtures::StreamError,
    geonode::TargetInfo,
    sealed::{self, ScratchKey},
    ui::Ui,
};

/// Moves the `source`'s SITEURL, GeoServer URL, MEDIA_ROOT and ASSETS_ROOT
/// to `target_siteurl` and the target's in every staged fixture of
/// `files`, in place (nothing without a `source`: the URLs are kept),
/// each read and written again sealed with `key` when they are.
/// Without the source's SITEURL, warns when the fixtures show another
/// address.
///
/// # Errors
///
/// A staged fixture that cannot be read, parsed or written.
pub fn relocate_staged(
    source: Option<&Place>,
    info: &TargetInfo,
    target_siteurl: &str,
    files: &[PathBuf],
    key: Option<&ScratchKey>,
    ui: Ui,
) -> Result<RelocationReport, Error> {
    let mut report = RelocationReport::default();
    let Some(source) = source else {
        return Ok(report);
    };
    if source.siteurl.is_none() {
        warn_other_address(files, key, target_siteurl, ui)?;
    }
    let target = Place {
        siteurl: Some(target_siteurl.to_owned()),
        geoserver_url: info.geoserver_public_url.clone(),
        media_root: Some(info.media_root.clone()),
        assets_root: Some(info.assets_root.clone()),
    };
    let relocation = Relocation::new(source, &target);
    report.moves = relocation.moves().to_vec();
    for moved in &report.moves {
        ui.info(&format!(
            "moving the source's {} {} -> {}",
            moved.what, moved.from, moved.to
        ));
    }
    if relocation.is_empty() {
        return Ok(report);
    }
    for path in files {
        let moved = path.with_extension("json.relocated");
        let input = sealed::open(path, key).map_err(|e| io_error(path, &e))?;
        let output = sealed::create(&moved, key).map_err(|e| io_error(&moved, &e))?;
        relocation
            .fixture(input, output, &mut report)
            .map_err(|e| stream_error(path, e))?
            .finish()
            .and_then(|file| file.sync_all())
            .map_err(|e| io_error(&moved, &e))?;
        std::fs::rename(&moved, path).map_err(|e| io_error(path, &e))?;
    }
    Ok(report)
}

/// Warns when a staged fixture shows an address other than the target's.
fn warn_other_address(
    files: &[PathBuf],
    key: Option<&ScratchKey>,
    target_siteurl: &str,
    ui: Ui,
) -> Result<(), Error> {
    for path in files {
        let input = sealed::open(path, key).map_err(|e| io_error(path, &e))?;
        if let Some(evidence) =
            other_address(input, target_siteurl).map_err(|e| stream_error(path, e))?
        {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            ui.warn(&format!(
                "the archive comes from another address than this target's {target_siteurl} ({name}: {}), and its SITEURL is not known: its URLs are restored as they are; give it with --source-siteurl {} or settings.ini [geonode] source_siteurl (and source_media_root, source_assets_root), or pass --keep-urls",
                evidence.seen, evidence.siteurl
            ));
            return Ok(());
        }
    }
    Ok(())
}

fn io_error(path: &Path, err: &std::io::Error) -> Error {
    Error::new(
        ErrorKind::Run,
        format!("cannot move the addresses in {}: {err}", path.display()),
    )
}

fn stream_error(path: &Path, err: StreamError) -> Error {
    Error::new(
        ErrorKind::Run,
        format!(
            "cannot move the addresses in staged {}: {err}",
            path.display()
        ),
    )
    .hint("nothing was changed; pass --keep-urls to restore the URLs as they are")
}

#[cfg(test)]
mod tests {
    use std::{io::Read, io::Write, path::PathBuf};

    use super::relocate_staged;
    use crate::{
        geonode::TargetInfo,
        relocate::Place,
        sealed::{self, ScratchKey},
        ui::Ui,
    };

    fn target() -> TargetInfo {
        serde_json::from_value(serde_json::json!({
            "geonode_version": "5.1.1",
            "database": {"engine": "django.db.backends.postgresql", "name": "geonode",
                         "host": "", "port": "", "user": "geonode", "password": ""},
            "geoserver_public_url": "https://new.example.net/geoserver/",
            "siteurl": "https://new.example.net/",
            "media_root": "/mnt/media",
            "assets_root": "/mnt/assets",
            "reachable": true,
        }))
        .unwrap()
    }

    #[test]
    fn sealed_staged_fixtures_are_relocated_and_stay_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let key = ScratchKey::generate();
        let fixture = r#"[{"model": "base.link", "pk": 1, "fields": {"url": "http://old.example.org/uploaded/x.png", "name": "pbkdf2_sha256$marker"}}]"#;
        let files: Vec<PathBuf> = ["a.json", "b.json"]
            .iter()
            .map(|name| dir.path().join(name))
            .collect();
        for path in &files {
            let mut staged = sealed::create(path, Some(&key)).unwrap();
            staged.write_all(fixture.as_bytes()).unwrap();
            staged.finish().unwrap();
        }
        let source = Place {
            siteurl: Some("http://old.example.org/".to_owned()),
            ..Place::default()
        };
        let ui = Ui {
            quiet: true,
            json: false,
            log: None,
        };
        let report = relocate_staged(
            Some(&source),
            &target(),
            "https://new.example.net/",
            &files,
            Some(&key),
            ui,
        )
        .unwrap();
        assert_eq!(report.objects, 2);
        assert_eq!(report.fields["base.link.url"], 2);
        for path in &files {
            let on_disk = std::fs::read(path).unwrap();
            assert!(on_disk.starts_with(b"age-encryption.org/v1\n"));
            assert!(memchr::memmem::find(&on_disk, b"pbkdf2_sha256").is_none());
            let mut text = String::new();
            sealed::open(path, Some(&key))
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            assert!(
                text.contains("https://new.example.net/uploaded/x.png"),
                "{text}"
            );
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no relocated copy left: {names:?}");
    }
}
