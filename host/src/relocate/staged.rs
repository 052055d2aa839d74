//! A restore onto another host: the staged fixtures get the target's
//! address and folders in place of the source's (see [`super`]), before
//! the load, so that the move is part of the restore's one transaction.

use std::{
    fs::File,
    io::{BufReader, BufWriter},
    path::{Path, PathBuf},
};

use super::{other_address, Place, Relocation, RelocationReport};
use crate::{
    errors::{Error, ErrorKind},
    fixtures::StreamError,
    geonode::TargetInfo,
    ui::Ui,
};

/// Moves the `source`'s SITEURL, GeoServer URL, MEDIA_ROOT and ASSETS_ROOT
/// to `target_siteurl` and the target's in every staged fixture of
/// `files`, in place (nothing without a `source`: the URLs are kept).
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
    ui: Ui,
) -> Result<RelocationReport, Error> {
    let mut report = RelocationReport::default();
    let Some(source) = source else {
        return Ok(report);
    };
    if source.siteurl.is_none() {
        warn_other_address(files, target_siteurl, ui)?;
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
        let input = File::open(path).map_err(|e| io_error(path, &e))?;
        let output = File::create(&moved).map_err(|e| io_error(&moved, &e))?;
        relocation
            .fixture(BufReader::new(input), BufWriter::new(output), &mut report)
            .map_err(|e| stream_error(path, e))?
            .into_inner()
            .map_err(|e| io_error(&moved, e.error()))?
            .sync_all()
            .map_err(|e| io_error(&moved, &e))?;
        std::fs::rename(&moved, path).map_err(|e| io_error(path, &e))?;
    }
    Ok(report)
}

/// Warns when a staged fixture shows an address other than the target's.
fn warn_other_address(files: &[PathBuf], target_siteurl: &str, ui: Ui) -> Result<(), Error> {
    for path in files {
        let input = File::open(path).map_err(|e| io_error(path, &e))?;
        if let Some(evidence) = other_address(BufReader::new(input), target_siteurl)
            .map_err(|e| stream_error(path, e))?
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
