//! A target folder (`MEDIA_ROOT`, `ASSETS_ROOT`) written into a backup:
//! every file as `<prefix>/<path>`; symbolic links kept as links (in the
//! manifest's `links`) when they point inside the folder, refused when
//! they point outside it (a backup never follows a link out of the tree);
//! gnbr's own entries (`.gnbr-*`) and the folders given to leave out (a
//! folder nested in it that is backed up on its own) are not written.

use std::{
    fs::{self, File},
    io,
    path::{Component, Path, PathBuf},
};

use super::BackupWriter;
use crate::{
    errors::{Error, ErrorKind},
    swap::{normalize, real_path, GNBR_PREFIX},
};

/// Adds the folder `root` as `prefix/`, leaving out the folders in `skip`
/// (real paths); `progress` gets the bytes added so far. Returns the
/// files added.
///
/// # Errors
///
/// A file that cannot be read, or a link pointing outside `root`.
pub fn add_folder(
    writer: &mut BackupWriter,
    root: &Path,
    prefix: &str,
    skip: &[PathBuf],
    progress: &mut dyn FnMut(u64),
) -> Result<u64, Error> {
    let real = real_path(root);
    let mut files = 0;
    let mut bytes = 0;
    let walk = walkdir::WalkDir::new(&real)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let own = e.depth() == 1 && e.file_name().to_string_lossy().starts_with(GNBR_PREFIX);
            !own && !skip.iter().any(|s| s == e.path())
        });
    for entry in walk {
        crate::cancel::check()?;
        let entry = entry.map_err(|e| {
            Error::new(
                ErrorKind::Target,
                format!("cannot read {}: {e}", root.display()),
            )
        })?;
        let relative = entry
            .path()
            .strip_prefix(&real)
            .expect("walkdir stays under its root");
        let name = std::iter::once(prefix.to_owned())
            .chain(
                relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned()),
            )
            .collect::<Vec<_>>()
            .join("/");
        if entry.file_type().is_symlink() {
            let target = link_inside(entry.path(), &real, root)?;
            writer.manifest_mut().links.insert(name, target);
        } else if entry.file_type().is_file() {
            bytes += add_file(writer, entry.path(), &name)?;
            files += 1;
            progress(bytes);
        }
    }
    Ok(files)
}

/// The target of the link at `link`, relative to its folder, `..` first,
/// when it stays inside `real` (the folder `root`, resolved).
fn link_inside(link: &Path, real: &Path, root: &Path) -> Result<String, Error> {
    let unreadable = |e: io::Error| {
        Error::new(
            ErrorKind::Target,
            format!("cannot read the link {}: {e}", link.display()),
        )
    };
    let target = fs::read_link(link).map_err(unreadable)?;
    let folder = link.parent().unwrap_or(real);
    let lexical = normalize(&folder.join(&target));
    let resolved = fs::canonicalize(link).unwrap_or_else(|_| lexical.clone());
    if !lexical.starts_with(real) || !resolved.starts_with(real) {
        return Err(Error::new(
            ErrorKind::Target,
            format!(
                "{} is a symbolic link to {}, outside {}: a backup keeps links only inside the folder, and never follows one out of it",
                link.display(),
                target.display(),
                root.display()
            ),
        )
        .hint(format!(
            "replace the link by a copy of what it points to, or move that into {} and link to it there",
            root.display()
        )));
    }
    Ok(relative(folder, &lexical))
}

/// `to` relative to the folder `from` (both absolute, normalized): `..`
/// first, then names.
fn relative(from: &Path, to: &Path) -> String {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let parts: Vec<String> = std::iter::repeat_n("..".to_owned(), from.len() - common)
        .chain(
            to[common..]
                .iter()
                .map(|c| c.as_os_str().to_string_lossy().into_owned()),
        )
        .collect();
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// Copies the file at `path` into the entry `name`; returns its bytes.
fn add_file(writer: &mut BackupWriter, path: &Path, name: &str) -> Result<u64, Error> {
    let mut source = File::open(path).map_err(|e| {
        Error::new(
            ErrorKind::Target,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let mut sink = writer.entry(name)?;
    let written = io::copy(&mut source, &mut sink).and_then(|n| sink.close().map(|_| n));
    written.map_err(|e| {
        Error::new(
            ErrorKind::Run,
            format!("cannot write the backup's {name}: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::{fs, os::unix::fs::symlink, path::Path};

    use super::{add_folder, relative};
    use crate::{
        archive::{BackupReader, BackupWriter},
        errors::ErrorKind,
    };

    #[test]
    fn relative_paths_climb_first() {
        assert_eq!(
            relative(Path::new("/m/a/b"), Path::new("/m/c/d")),
            "../../c/d"
        );
        assert_eq!(relative(Path::new("/m/a"), Path::new("/m/a/x")), "x");
        assert_eq!(relative(Path::new("/m/a"), Path::new("/m/a")), ".");
    }

    #[test]
    fn keeps_links_inside_and_leaves_out_nested_and_own_folders() {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("media");
        fs::create_dir_all(media.join("docs")).unwrap();
        fs::create_dir_all(media.join("assets")).unwrap();
        fs::create_dir_all(media.join(".gnbr-previous-x")).unwrap();
        fs::write(media.join("docs/a.pdf"), "pdf").unwrap();
        fs::write(media.join("assets/nested.bin"), "asset").unwrap();
        fs::write(media.join(".gnbr-previous-x/old"), "old").unwrap();
        symlink("docs/a.pdf", media.join("latest.pdf")).unwrap();
        symlink(media.join("docs"), media.join("docs-link")).unwrap();
        let out = dir.path().join("b");
        let mut writer = BackupWriter::create(&out, false).unwrap();
        let files = add_folder(
            &mut writer,
            &media,
            "uploaded",
            &[media.join("assets")],
            &mut |_| {},
        )
        .unwrap();
        writer.finish().unwrap();
        assert_eq!(files, 1);
        let reader = BackupReader::open(&out).unwrap();
        let names: Vec<&str> = reader.entries().iter().map(|e| e.name.as_str()).collect();
        assert!(names.contains(&"uploaded/docs/a.pdf"), "{names:?}");
        assert!(
            !names
                .iter()
                .any(|n| n.contains("nested") || n.contains("old")),
            "{names:?}"
        );
        let links = &reader.manifest().unwrap().links;
        assert_eq!(links["uploaded/latest.pdf"], "docs/a.pdf");
        assert_eq!(links["uploaded/docs-link"], "docs");
    }

    #[test]
    fn refuses_a_link_out_of_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("media");
        fs::create_dir_all(&media).unwrap();
        symlink("/etc/passwd", media.join("passwd")).unwrap();
        let mut writer = BackupWriter::create(&dir.path().join("b"), false).unwrap();
        let error = add_folder(&mut writer, &media, "uploaded", &[], &mut |_| {}).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Target);
        assert!(
            error
                .message
                .contains("passwd is a symbolic link to /etc/passwd, outside"),
            "{}",
            error.message
        );
        assert!(error.hint.unwrap().contains("copy"));
    }
}
