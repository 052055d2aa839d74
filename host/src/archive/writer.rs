//! Writing a backup, zip or folder, under a temporary name that is renamed
//! into place only when everything was written: a failed run leaves nothing
//! where the output should be, and never touches an existing file unless
//! asked to replace it.

use std::{
    fs::{self, File},
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};
use tempfile::{NamedTempFile, TempDir};
use zip::{write::SimpleFileOptions, CompressionMethod, ZipWriter};

use super::{check_entry_name, reader::hex, EntryDigest, Manifest, MANIFEST_NAME};
use crate::errors::{Error, ErrorKind};

enum Target {
    Zip(Box<ZipWriter<BufWriter<NamedTempFile>>>),
    Folder(TempDir),
}

/// A backup being written.
pub struct BackupWriter {
    path: PathBuf,
    target: Target,
    replace: bool,
    manifest: Manifest,
}

/// One entry being written; hashes what passes through it.
pub struct EntryWriter<'a> {
    out: Box<dyn Write + Send + 'a>,
    hasher: Sha256,
    size: u64,
    name: String,
    manifest: &'a mut Manifest,
}

fn output_error(path: &Path, what: &str, err: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Run,
        format!("{}: cannot {what}: {err}", path.display()),
    )
}

impl BackupWriter {
    /// Starts writing the backup `path`: a zip archive when it ends in
    /// `.zip`, else a folder.
    ///
    /// # Errors
    ///
    /// When `path` exists and `replace` is false, or its folder is not writable.
    pub fn create(path: &Path, replace: bool) -> Result<Self, Error> {
        if path.exists() && !replace {
            return Err(Error::new(
                ErrorKind::Refused,
                format!("{} already exists", path.display()),
            )
            .hint("choose another output path, or pass --force to replace it"));
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let prefix = format!(
            ".{}.gnbr-",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        let is_zip = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        let target = if is_zip {
            let file = tempfile::Builder::new()
                .prefix(&prefix)
                .suffix(".tmp")
                .tempfile_in(&parent)
                .map_err(|e| output_error(&parent, "create a file in this folder", e))?;
            Target::Zip(Box::new(ZipWriter::new(BufWriter::with_capacity(
                1 << 20,
                file,
            ))))
        } else {
            let dir = tempfile::Builder::new()
                .prefix(&prefix)
                .tempdir_in(&parent)
                .map_err(|e| output_error(&parent, "create a folder in this folder", e))?;
            Target::Folder(dir)
        };
        Ok(Self {
            path: path.to_owned(),
            target,
            replace,
            manifest: Manifest::default(),
        })
    }

    /// The manifest being built (fill in versions and settings before [`BackupWriter::finish`]).
    pub fn manifest_mut(&mut self) -> &mut Manifest {
        &mut self.manifest
    }

    /// Starts an entry; its content is whatever is written before the next one starts.
    ///
    /// # Errors
    ///
    /// When the name is unsafe or the entry cannot be created.
    pub fn entry(&mut self, name: &str) -> Result<EntryWriter<'_>, Error> {
        let out = raw_entry(&mut self.target, &self.path, name)?;
        Ok(EntryWriter {
            out,
            hasher: Sha256::new(),
            size: 0,
            name: name.to_owned(),
            manifest: &mut self.manifest,
        })
    }

    /// Writes the manifest and renames the backup into place.
    ///
    /// # Errors
    ///
    /// When writing or renaming fails; the temporary output is removed.
    pub fn finish(mut self) -> Result<PathBuf, Error> {
        let manifest =
            serde_json::to_vec_pretty(&self.manifest).expect("a manifest always serialises");
        let mut out = raw_entry(&mut self.target, &self.path, MANIFEST_NAME)?;
        out.write_all(&manifest)
            .and_then(|()| out.flush())
            .map_err(|e| output_error(&self.path, "write the manifest", e))?;
        drop(out);
        let path = self.path;
        let old = if self.replace && path.exists() {
            Some(move_aside(&path)?)
        } else {
            None
        };
        let placed = place(self.target, &path);
        match (placed, old) {
            (Ok(()), Some(old)) => {
                let removed = if old.is_dir() {
                    fs::remove_dir_all(&old)
                } else {
                    fs::remove_file(&old)
                };
                if let Err(e) = removed {
                    tracing::warn!("the replaced backup is still at {}: {e}", old.display());
                }
                Ok(path)
            }
            (Ok(()), None) => Ok(path),
            (Err(e), Some(old)) => {
                let _ = fs::rename(&old, &path);
                Err(e)
            }
            (Err(e), None) => Err(e),
        }
    }
}

/// Starts an entry of the temporary output.
fn raw_entry<'a>(
    target: &'a mut Target,
    path: &Path,
    name: &str,
) -> Result<Box<dyn Write + Send + 'a>, Error> {
    check_entry_name(name)?;
    let out: Box<dyn Write + Send + 'a> = match target {
        Target::Zip(zip) => {
            let options = SimpleFileOptions::default()
                .compression_method(CompressionMethod::Deflated)
                .compression_level(Some(1))
                .large_file(true)
                .unix_permissions(0o600);
            zip.start_file(name, options)
                .map_err(|e| output_error(path, &format!("write entry {name}"), e))?;
            Box::new(zip)
        }
        Target::Folder(dir) => {
            let file_path = dir.path().join(name);
            if let Some(parent) = file_path.parent() {
                fs::create_dir_all(parent)
                    .map_err(|e| output_error(path, &format!("create {name}"), e))?;
            }
            let file = File::create(&file_path)
                .map_err(|e| output_error(path, &format!("create {name}"), e))?;
            Box::new(BufWriter::with_capacity(1 << 20, file))
        }
    };
    Ok(out)
}

/// Renames an existing output out of the way, next to it.
fn move_aside(path: &Path) -> Result<PathBuf, Error> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let aside = path.with_file_name(format!(".{name}.gnbr-replaced-{}", std::process::id()));
    fs::rename(path, &aside)
        .map_err(|e| output_error(path, "move the old output aside to replace it", e))?;
    Ok(aside)
}

/// Finishes the temporary output and renames it to `path`.
fn place(target: Target, path: &Path) -> Result<(), Error> {
    match target {
        Target::Zip(zip) => {
            let file = zip
                .finish()
                .map_err(|e| output_error(path, "finish the archive", e))?
                .into_inner()
                .map_err(|e| output_error(path, "write", e.error()))?;
            file.as_file()
                .sync_all()
                .map_err(|e| output_error(path, "write", e))?;
            file.persist(path).map_err(|e| {
                output_error(path, "rename the finished archive into place", e.error)
            })?;
        }
        Target::Folder(dir) => {
            fs::rename(dir.path(), path)
                .map_err(|e| output_error(path, "rename the finished folder into place", e))?;
            let _ = dir.keep();
        }
    }
    Ok(())
}

impl EntryWriter<'_> {
    /// Ends the entry and records its size and sha256 in the manifest.
    ///
    /// # Errors
    ///
    /// When flushing fails.
    pub fn close(mut self) -> io::Result<u64> {
        self.out.flush()?;
        let digest = EntryDigest {
            size: self.size,
            sha256: hex(&self.hasher.finalize()),
        };
        self.manifest.entries.insert(self.name, digest);
        Ok(self.size)
    }
}

impl Write for EntryWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
