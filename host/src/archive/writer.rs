//! Writing a backup, zip, encrypted zip or folder, under a temporary name
//! that takes its final name only when everything was written and synced,
//! sidecars first:
//! a failed or killed run leaves nothing under the output's name, and an
//! existing file is never touched unless asked to replace it. The final name
//! is claimed atomically ([`Naming`]), so concurrent runs never overwrite
//! each other. A zip (encrypted or not) can go to a bucket instead, as a
//! multipart upload ([`Upload`]) that takes its name when completed.

use std::{
    collections::HashSet,
    fs::{self, File},
    io::{self, BufWriter, Seek, Write},
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::Arc,
};

use sha2::{Digest, Sha256};
use zip::{
    write::{SimpleFileOptions, StreamWriter},
    CompressionMethod, ZipWriter,
};

use super::{
    check_entry_name,
    crypt::{is_encrypted, Encryption},
    file_sums,
    reader::hex,
    sidecar, EntryDigest, Manifest, MANIFEST_NAME, SIDECARS,
};
use crate::{
    errors::{Error, ErrorKind},
    fault,
    scratch::{numbered, place_new, sync_dir, TempPath},
    sealed::{self, ScratchKey, ScratchWriter},
    storage::{Bucket, BucketUrl, Upload},
};

/// An encrypted zip: written as a stream (entries with data descriptors,
/// no seeking back) into the age writer, which encrypts it into the file.
type EncryptedZip = ZipWriter<StreamWriter<age::stream::StreamWriter<BufWriter<File>>>>;

/// A zip streamed into a bucket, plain or encrypted.
type UploadedZip = ZipWriter<StreamWriter<Upload>>;
type EncryptedUploadedZip = ZipWriter<StreamWriter<age::stream::StreamWriter<Upload>>>;

enum Target {
    Zip(Box<ZipWriter<BufWriter<File>>>),
    Encrypted(Box<EncryptedZip>),
    /// A folder, its files sealed with `key` when there is one.
    Folder {
        dir: PathBuf,
        key: Option<Arc<ScratchKey>>,
    },
    Uploaded(Box<UploadedZip>),
    EncryptedUploaded(Box<EncryptedUploadedZip>),
}

/// Where the output is until it has its name.
enum Place {
    /// A temporary file or folder beside the output's path.
    Local(TempPath),
    /// An unfinished upload to the output's object (its bucket and key),
    /// invisible until completed.
    Bucket(BucketUrl),
}

/// A finished output, before it takes its name, as its sidecars are made from it.
pub enum Finished<'a> {
    /// A file (or folder) under its temporary name.
    File(&'a Path),
    /// An upload, whole on the store, with the md5 of what was sent.
    Uploaded(String),
}

impl Finished<'_> {
    /// The output's md5, hex, as GeoNode's `.md5` sidecar holds it: a file
    /// read once more, an upload's as it was sent.
    ///
    /// # Errors
    ///
    /// A file that cannot be read (an [`ErrorKind::Run`] error naming it).
    pub fn md5(&self) -> Result<String, Error> {
        match self {
            Self::File(path) => file_sums(path).map(|sums| sums.md5).map_err(|e| Error {
                kind: ErrorKind::Run,
                ..e
            }),
            Self::Uploaded(md5) => Ok(md5.clone()),
        }
    }
}

/// How a finished backup takes its name. Never by a rename over a file:
/// the name is claimed atomically (`link(2)`, else `renameat2(2)` with
/// `RENAME_NOREPLACE`), so two runs can never both take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// The path given; refused when something has that name, at the start
    /// or by the time the backup is finished.
    Exact,
    /// The path given; what has that name is moved aside, and removed once
    /// the new backup is in place (`--force`).
    Replace,
    /// The path given, else the first free of `<stem>_2.<ext>`,
    /// `<stem>_3.<ext>`... whose sidecars' names are free too.
    NextFree,
}

/// How many names [`Naming::NextFree`] tries before giving up.
const MAX_NAMES: usize = 1000;

/// A backup being written.
pub struct BackupWriter {
    path: PathBuf,
    target: Target,
    place: Place,
    naming: Naming,
    manifest: Manifest,
}

/// One entry being written; hashes what passes through it.
pub struct EntryWriter<'a> {
    out: EntryOut<'a>,
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

fn exists_error(path: &Path) -> Error {
    Error::new(
        ErrorKind::Refused,
        format!("{} already exists", path.display()),
    )
    .hint("choose another output path, or pass --force to replace it")
}

/// The object `path` of a bucket, or one of its sidecars, exists: never replaced.
fn exists_in_bucket_error(path: &Path) -> Error {
    Error::new(
        ErrorKind::Refused,
        format!("{} (or its .md5 or .ini) already exists", path.display()),
    )
    .hint("choose another name: gnbr never replaces an object of a bucket (remove it and its .md5 and .ini first if it must go)")
}

/// The folder `path` is in.
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

impl BackupWriter {
    /// Starts writing the backup `path`: a zip archive when it ends in
    /// `.zip`, else a folder (not `.zip.age`: see
    /// [`BackupWriter::create_numbered`]); either private (0600 files, 0700 folders), under
    /// a temporary name in the same folder that is removed if gnbr stops.
    /// With `replace`, what has that name when the backup is finished is
    /// replaced; else the backup is refused if its name is taken by then.
    ///
    /// # Errors
    ///
    /// When `path` exists and `replace` is false, or its folder is not writable.
    pub fn create(path: &Path, replace: bool) -> Result<Self, Error> {
        Self::start(
            path,
            if replace {
                Naming::Replace
            } else {
                Naming::Exact
            },
            None,
        )
    }

    /// Starts writing the backup `path` like [`BackupWriter::create`], to be
    /// named `path` if that name (and its sidecars' names) are still free
    /// when it is finished, else the first free of `<stem>_2.<ext>`,
    /// `<stem>_3.<ext>`...: concurrent runs never take the same name.
    /// With `encryption`, `path` ends in `.zip.age` and the zip is encrypted
    /// as it is written: no byte of it reaches the disk in the clear.
    ///
    /// # Errors
    ///
    /// When its folder is not writable.
    pub fn create_numbered(path: &Path, encryption: Option<&Encryption>) -> Result<Self, Error> {
        Self::start(path, Naming::NextFree, encryption)
    }

    fn start(path: &Path, naming: Naming, encryption: Option<&Encryption>) -> Result<Self, Error> {
        if naming == Naming::Exact && path.symlink_metadata().is_ok() {
            return Err(exists_error(path));
        }
        if is_encrypted(path) != encryption.is_some() {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "{}: only gnbr backup --encrypt writes an archive named .zip.age, and always under that name",
                    path.display()
                ),
            )
            .hint("name the output .zip, or back up with gnbr backup --encrypt"));
        }
        let parent = parent_of(path);
        let prefix = format!(
            ".{}.gnbr-",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        let is_zip = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        let (target, temp) = TempPath::create(|| {
            if is_zip || encryption.is_some() {
                let (file, temp) = tempfile::Builder::new()
                    .prefix(&prefix)
                    .suffix(".tmp")
                    .tempfile_in(&parent)
                    .and_then(|f| f.keep().map_err(|e| e.error))
                    .map_err(|e| output_error(&parent, "create a file in this folder", e))?;
                let file = BufWriter::with_capacity(1 << 20, file);
                let target = match encryption {
                    Some(encryption) => {
                        let sealed = encryption
                            .wrap(file)
                            .map_err(|e| output_error(path, "start encrypting", e))?;
                        Target::Encrypted(Box::new(ZipWriter::new_stream(sealed)))
                    }
                    None => Target::Zip(Box::new(ZipWriter::new(file))),
                };
                Ok((target, temp))
            } else {
                let dir = tempfile::Builder::new()
                    .prefix(&prefix)
                    .permissions(fs::Permissions::from_mode(0o700))
                    .tempdir_in(&parent)
                    .map_err(|e| output_error(&parent, "create a folder in this folder", e))?
                    .keep();
                Ok((
                    Target::Folder {
                        dir: dir.clone(),
                        key: None,
                    },
                    dir,
                ))
            }
        })?;
        Ok(Self {
            path: path.to_owned(),
            target,
            place: Place::Local(temp),
            naming,
            manifest: Manifest::default(),
        })
    }

    /// Starts writing the backup `name` (`.zip`, or `.zip.age` with
    /// `encryption`) into the prefix `url` of `bucket`, as a zip streamed
    /// (sizes after each entry's data) into a multipart upload: under that
    /// name if it and its sidecars' are free now, else the first free of
    /// `<stem>_2.zip`, `<stem>_3.zip`... The upload takes its name only when
    /// finished ([`BackupWriter::finish_with_sidecars`]), and only if the
    /// name is still free then.
    ///
    /// # Errors
    ///
    /// The prefix cannot be listed, or the store refuses the upload
    /// (credentials without the right to write): an [`ErrorKind::Usage`]
    /// error naming the bucket and the fix.
    pub fn create_in_bucket(
        bucket: &Arc<Bucket>,
        url: &BucketUrl,
        name: &str,
        encryption: Option<&Encryption>,
    ) -> Result<Self, Error> {
        Self::upload(bucket, url, name, MAX_NAMES, encryption)
    }

    /// Starts writing the backup `url` (an object's `s3://` URL, a `.zip`)
    /// into `bucket` as [`BackupWriter::create_in_bucket`] does, under that
    /// name only: refused when it or its sidecars' name is taken, now or
    /// when it is finished. An object of a bucket is never replaced.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Refused`] error when the name is taken; a URL that
    /// does not name a `.zip`, or a bucket that cannot be used, as
    /// [`BackupWriter::create_in_bucket`].
    pub fn create_object_in_bucket(bucket: &Arc<Bucket>, url: &BucketUrl) -> Result<Self, Error> {
        let (prefix, name) = url.parent_and_name();
        Self::upload(bucket, &prefix, name, 1, None)
    }

    /// Starts the upload of `name` into the prefix `url` of `bucket`, under
    /// the first of `names` numbered names whose sidecars' names are free too.
    fn upload(
        bucket: &Arc<Bucket>,
        url: &BucketUrl,
        name: &str,
        names: usize,
        encryption: Option<&Encryption>,
    ) -> Result<Self, Error> {
        let wanted = PathBuf::from(name);
        let extension = if encryption.is_some() {
            ".zip.age"
        } else {
            ".zip"
        };
        if !name.ends_with(extension) || name.starts_with('.') {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "{}: a backup in a bucket is one archive named .zip (.zip.age when gnbr backup --encrypt writes it)",
                    url.url_of(&url.child(name)).display()
                ),
            )
            .hint("name the archive, e.g. s3://BUCKET/PREFIX/NAME.zip"));
        }
        let taken: HashSet<String> = bucket
            .list(&url.key)?
            .iter()
            .filter_map(|o| o.location.filename().map(str::to_owned))
            .collect();
        let free = (1..=names).map(|n| numbered(&wanted, n)).find(|candidate| {
            std::iter::once(candidate.clone())
                .chain(SIDECARS.iter().map(|ext| sidecar(candidate, ext)))
                .all(|file| !taken.contains(&file.display().to_string()))
        });
        let Some(free) = free else {
            let path = url.url_of(&url.child(name));
            return Err(if names == 1 {
                exists_in_bucket_error(&path)
            } else {
                names_taken_error(&path, names)
            });
        };
        let key = url.child(&free.display().to_string());
        let path = url.url_of(&key);
        let upload = Upload::start(bucket.clone(), &key)?;
        let target = match encryption {
            Some(encryption) => {
                let sealed = encryption
                    .wrap(upload)
                    .map_err(|e| output_error(&path, "start encrypting", e))?;
                Target::EncryptedUploaded(Box::new(ZipWriter::new_stream(sealed)))
            }
            None => Target::Uploaded(Box::new(ZipWriter::new_stream(upload))),
        };
        Ok(Self {
            path,
            target,
            place: Place::Bucket(BucketUrl {
                bucket: url.bucket.clone(),
                key,
            }),
            naming: Naming::Exact,
            manifest: Manifest::default(),
        })
    }

    /// The path (a bucket's `s3://` URL) the backup is written to, and takes when finished.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts writing the folder `path` as [`BackupWriter::create`] does,
    /// its files sealed with `key` when there is one ([`crate::sealed`]):
    /// a restore's staged fixtures, only ciphertext on disk when the
    /// archive is encrypted.
    ///
    /// # Errors
    ///
    /// As [`BackupWriter::create`]; and when `path` names a zip, not a folder.
    pub fn create_scratch(path: &Path, key: Option<Arc<ScratchKey>>) -> Result<Self, Error> {
        let mut writer = Self::create(path, false)?;
        match &mut writer.target {
            Target::Folder { key: sealed, .. } => *sealed = key,
            _ => return Err(output_error(path, "stage files", "not a folder")),
        }
        Ok(writer)
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

    /// Writes the manifest and gives the backup its name; returns it.
    ///
    /// # Errors
    ///
    /// When writing fails or no name can be claimed; the temporary output
    /// is removed.
    pub fn finish(self) -> Result<PathBuf, Error> {
        self.finish_with_sidecars(|_| Ok(Vec::new()))
    }

    /// Whether the backup is written into a bucket (an upload).
    pub fn is_upload(&self) -> bool {
        matches!(self.place, Place::Bucket(_))
    }

    /// [`BackupWriter::finish_with_sidecars`] with GeoNode's sidecars:
    /// `<name>.md5`, of the output as written, and `<name>.ini`, `ini`.
    ///
    /// # Errors
    ///
    /// As [`BackupWriter::finish_with_sidecars`].
    pub fn finish_with_geonode_sidecars(self, ini: String) -> Result<PathBuf, Error> {
        self.finish_with_sidecars(|finished| {
            Ok(vec![
                ("md5", finished.md5()?.into_bytes()),
                ("ini", ini.into_bytes()),
            ])
        })
    }

    /// Writes the manifest, then the sidecars `sidecars` makes from the
    /// finished output (extension and content: `<name>.md5`,
    /// `<name>.ini`), each written, synced and given its name before the
    /// backup takes its own: a backup under its final name always has
    /// complete sidecars. Returns the backup's path, the sidecars' are
    /// beside it. In a bucket: the sidecars are put, then the upload
    /// completed, when neither the archive's name nor theirs is taken by then.
    ///
    /// # Errors
    ///
    /// When writing fails or no name can be claimed; the temporary output
    /// (the unfinished upload) and any sidecar written are removed.
    pub fn finish_with_sidecars(
        mut self,
        sidecars: impl FnOnce(&Finished) -> Result<Vec<(&'static str, Vec<u8>)>, Error>,
    ) -> Result<PathBuf, Error> {
        let manifest = serde_json::to_vec_pretty(&self.manifest)
            .map_err(|e| output_error(&self.path, "write the manifest", e))?;
        let mut out = raw_entry(&mut self.target, &self.path, MANIFEST_NAME)?;
        out.write_all(&manifest)
            .and_then(|()| out.close())
            .map_err(|e| output_error(&self.path, "write the manifest", e))?;
        let temp = match self.place {
            Place::Local(temp) => temp,
            Place::Bucket(url) => {
                return finish_upload(self.target, &self.path, &url, sidecars);
            }
        };
        complete(self.target, &self.path)?;
        let sidecars = sidecars(&Finished::File(temp.path()))?;
        let parent = parent_of(&self.path);
        if self.naming == Naming::Replace {
            return replace(&self.path, temp, &sidecars);
        }
        let names = match self.naming {
            Naming::NextFree => MAX_NAMES,
            _ => 1,
        };
        for n in 1..=names {
            let candidate = numbered(&self.path, n);
            if claim(&parent, &candidate, temp.path(), &sidecars)? {
                // The temporary name goes (a link of the backup, or gone with a rename).
                drop(temp);
                return Ok(candidate);
            }
        }
        Err(match self.naming {
            Naming::NextFree => names_taken_error(&self.path, MAX_NAMES),
            _ => exists_error(&self.path),
        })
    }
}

/// `path` and the next `names - 1` names are all taken.
fn names_taken_error(path: &Path, names: usize) -> Error {
    Error::new(
        ErrorKind::Refused,
        format!(
            "{} and the next {} names are taken",
            path.display(),
            names - 1
        ),
    )
    .hint("move older backups away, or choose another folder")
}

/// Finishes the zip streamed into the upload to `url`'s key (shown as
/// `path`): its last parts sent, its sidecars put, then the upload
/// completed, if neither its name nor theirs was taken meanwhile.
fn finish_upload(
    target: Target,
    path: &Path,
    url: &BucketUrl,
    sidecars: impl FnOnce(&Finished) -> Result<Vec<(&'static str, Vec<u8>)>, Error>,
) -> Result<PathBuf, Error> {
    let finish_zip = |e| output_error(path, "finish the archive", e);
    let mut upload = match target {
        Target::Uploaded(zip) => zip.finish().map_err(finish_zip)?.into_inner(),
        Target::EncryptedUploaded(zip) => {
            zip.finish()
                .map_err(finish_zip)?
                .into_inner()
                .finish()
                .map_err(|e| output_error(path, "finish encrypting the archive", e))?
        }
        _ => unreachable!("a bucket's output is an upload"),
    };
    let md5 = upload.finish()?;
    let sidecars: Vec<(String, Vec<u8>)> = sidecars(&Finished::Uploaded(md5))?
        .into_iter()
        .map(|(ext, bytes)| {
            let name = sidecar(Path::new(&url.key), ext);
            (name.display().to_string(), bytes)
        })
        .collect();
    if upload.complete_with_sidecars(&sidecars)? {
        Ok(path.to_owned())
    } else {
        Err(exists_error(path).hint(
            "another run took this name while this one was written (a backup started within the same second, say); nothing of this one was left: run it again",
        ))
    }
}

/// Tries to give the finished output at `temp` the name `candidate`, its
/// sidecars first. Returns false when a name is taken (what it claimed is
/// then given back).
fn claim(
    parent: &Path,
    candidate: &Path,
    temp: &Path,
    sidecars: &[(&'static str, Vec<u8>)],
) -> Result<bool, Error> {
    let mut placed: Vec<PathBuf> = Vec::new();
    let give_back = |placed: &[PathBuf]| {
        for path in placed {
            let _ = fs::remove_file(path);
        }
    };
    for (ext, bytes) in sidecars {
        let name = sidecar(candidate, ext);
        let written = write_synced(parent, &name, bytes)?;
        match place_new(written.path(), &name) {
            Ok(()) => placed.push(name),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                give_back(&placed);
                return Ok(false);
            }
            Err(e) => {
                give_back(&placed);
                return Err(output_error(&name, "write", e));
            }
        }
    }
    sync_dir(parent)?;
    fault::point("before-archive-rename");
    match place_new(temp, candidate) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            give_back(&placed);
            return Ok(false);
        }
        Err(e) => {
            give_back(&placed);
            return Err(output_error(
                candidate,
                "give the finished backup its name",
                e,
            ));
        }
    }
    sync_dir(parent)?;
    fault::point("after-archive-rename");
    Ok(true)
}

/// [`Naming::Replace`]: moves what has the name aside, puts the output and
/// its sidecars in place, then removes the old output.
fn replace(
    path: &Path,
    temp: TempPath,
    sidecars: &[(&'static str, Vec<u8>)],
) -> Result<PathBuf, Error> {
    let parent = parent_of(path);
    for (ext, bytes) in sidecars {
        let name = sidecar(path, ext);
        let written = write_synced(&parent, &name, bytes)?;
        fs::rename(written.path(), &name).map_err(|e| output_error(&name, "write", e))?;
    }
    let old = if path.symlink_metadata().is_ok() {
        Some(move_aside(path)?)
    } else {
        None
    };
    if let Err(e) = place_new(temp.path(), path) {
        if let Some(old) = &old {
            let _ = place_new(old, path);
        }
        return Err(output_error(path, "give the finished backup its name", e));
    }
    sync_dir(&parent)?;
    drop(temp);
    if let Some(old) = old {
        let removed = if old.is_dir() {
            fs::remove_dir_all(&old)
        } else {
            fs::remove_file(&old)
        };
        if let Err(e) = removed {
            tracing::warn!("the replaced backup is still at {}: {e}", old.display());
        }
    }
    Ok(path.to_owned())
}

/// Writes `bytes` to a private temporary file beside `name`, synced.
fn write_synced(parent: &Path, name: &Path, bytes: &[u8]) -> Result<TempPath, Error> {
    let prefix = format!(
        ".{}.gnbr-",
        name.file_name().unwrap_or_default().to_string_lossy()
    );
    let (mut file, temp) = TempPath::create(|| {
        tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .tempfile_in(parent)
            .and_then(|f| f.keep().map_err(|e| e.error))
            .map_err(|e| output_error(parent, "create a file in this folder", e))
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| output_error(name, "write", e))?;
    Ok(temp)
}

/// Starts an entry of the temporary output.
fn raw_entry<'a>(target: &'a mut Target, path: &Path, name: &str) -> Result<EntryOut<'a>, Error> {
    check_entry_name(name)?;
    let out = match target {
        Target::Zip(zip) => EntryOut::Zip(zip_entry(zip, path, name)?),
        Target::Encrypted(zip) => EntryOut::Zip(zip_entry(zip, path, name)?),
        Target::Uploaded(zip) => EntryOut::Zip(zip_entry(zip, path, name)?),
        Target::EncryptedUploaded(zip) => EntryOut::Zip(zip_entry(zip, path, name)?),
        Target::Folder { dir, key } => {
            let mut folder = dir.clone();
            let mut parts = name.split('/').peekable();
            while let Some(part) = parts.next() {
                folder.push(part);
                if parts.peek().is_none() {
                    break;
                }
                // One level at a time, never the temporary folder itself: once
                // removed (gnbr stopped by a signal), it stays removed.
                match fs::DirBuilder::new().mode(0o700).create(&folder) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists && folder.is_dir() => {}
                    Err(e) => return Err(output_error(path, &format!("create {name}"), e)),
                }
            }
            EntryOut::File(
                sealed::create(&folder, key.as_deref())
                    .map_err(|e| output_error(path, &format!("create {name}"), e))?,
            )
        }
    };
    Ok(out)
}

/// Where an entry's bytes go: into the zip, or a file of the folder.
enum EntryOut<'a> {
    Zip(Box<dyn Write + Send + 'a>),
    File(ScratchWriter),
}

impl EntryOut<'_> {
    /// Ends the entry: flushed, a sealed file's last chunk written.
    fn close(self) -> io::Result<()> {
        match self {
            Self::Zip(mut zip) => zip.flush(),
            Self::File(file) => file.finish().map(drop),
        }
    }
}

impl Write for EntryOut<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Zip(zip) => zip.write(buf),
            Self::File(file) => file.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Zip(zip) => zip.flush(),
            Self::File(file) => file.flush(),
        }
    }
}

/// Starts the entry `name` of the zip `zip` (written to `path`).
fn zip_entry<'a, W: Write + Seek + Send>(
    zip: &'a mut ZipWriter<W>,
    path: &Path,
    name: &str,
) -> Result<Box<dyn Write + Send + 'a>, Error> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(1))
        .large_file(true)
        .unix_permissions(0o600);
    zip.start_file(name, options)
        .map_err(|e| output_error(path, &format!("write entry {name}"), e))?;
    Ok(Box::new(zip))
}

/// Renames an existing output out of the way, next to it.
fn move_aside(path: &Path) -> Result<PathBuf, Error> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let aside = path.with_file_name(format!(".{name}.gnbr-replaced-{}", std::process::id()));
    fs::rename(path, &aside)
        .map_err(|e| output_error(path, "move the old output aside to replace it", e))?;
    Ok(aside)
}

/// Finishes the temporary output: the zip's central directory written (and
/// the age file's last chunk), the file synced to disk.
fn complete(target: Target, path: &Path) -> Result<(), Error> {
    let file = match target {
        Target::Zip(zip) => zip
            .finish()
            .map_err(|e| output_error(path, "finish the archive", e))?,
        Target::Encrypted(zip) => zip
            .finish()
            .map_err(|e| output_error(path, "finish the archive", e))?
            .into_inner()
            .finish()
            .map_err(|e| output_error(path, "finish encrypting the archive", e))?,
        Target::Folder { .. } => return Ok(()),
        Target::Uploaded(_) | Target::EncryptedUploaded(_) => {
            unreachable!("an upload is finished by finish_upload")
        }
    };
    file.into_inner()
        .map_err(|e| output_error(path, "write", e.error()))?
        .sync_all()
        .map_err(|e| output_error(path, "write", e))
}

impl EntryWriter<'_> {
    /// Ends the entry and records its size and sha256 in the manifest.
    ///
    /// # Errors
    ///
    /// When flushing fails.
    pub fn close(self) -> io::Result<u64> {
        self.out.close()?;
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

/// Where an entry goes: the output backup, or nowhere in a dry run.
pub enum EntrySink<'a> {
    /// An entry of the output backup.
    Entry(EntryWriter<'a>),
    /// Nowhere: a dry run.
    Nowhere(io::Sink),
}

impl<'a> EntrySink<'a> {
    /// The entry `name` of `output`, or nowhere without one.
    ///
    /// # Errors
    ///
    /// When the entry cannot be started.
    pub fn open(output: Option<&'a mut BackupWriter>, name: &str) -> Result<Self, Error> {
        Ok(match output {
            Some(output) => EntrySink::Entry(output.entry(name)?),
            None => EntrySink::Nowhere(io::sink()),
        })
    }

    /// Ends the entry.
    ///
    /// # Errors
    ///
    /// When flushing fails.
    pub fn close(self) -> io::Result<()> {
        match self {
            EntrySink::Entry(entry) => entry.close().map(drop),
            EntrySink::Nowhere(_) => Ok(()),
        }
    }
}

impl Write for EntrySink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            EntrySink::Entry(entry) => entry.write(buf),
            EntrySink::Nowhere(sink) => sink.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            EntrySink::Entry(entry) => entry.flush(),
            EntrySink::Nowhere(sink) => sink.flush(),
        }
    }
}

/// A write error on an entry of the output; one the output's own upload
/// met ([`Upload`]'s error, inside `err`) keeps its kind, as its cause.
pub fn write_error(entry: &str, err: &io::Error) -> Error {
    match err.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
        Some(cause) => cause.clone().context(format!("cannot write {entry}")),
        None => Error::new(ErrorKind::Run, format!("cannot write {entry}: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use std::{io::Write, os::unix::fs::PermissionsExt, path::Path};

    use super::{BackupWriter, Finished};
    use crate::{archive::file_sums, exit_codes};

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn sidecars(finished: &Finished) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("md5", finished.md5().unwrap().into_bytes()),
            ("ini", b"[fixtures]\n".to_vec()),
        ]
    }

    fn write_one(writer: &mut BackupWriter, text: &str) {
        let mut entry = writer.entry("fixtures/people.json").unwrap();
        entry.write_all(text.as_bytes()).unwrap();
        entry.close().unwrap();
    }

    #[test]
    fn a_scratch_folder_with_a_key_holds_only_sealed_files() {
        use std::io::Read;

        use crate::sealed::{self, ScratchKey};

        let dir = tempfile::tempdir().unwrap();
        let key = std::sync::Arc::new(ScratchKey::generate());
        let mut writer =
            BackupWriter::create_scratch(&dir.path().join("fixtures"), Some(key.clone())).unwrap();
        write_one(&mut writer, r#"[{"model": "people.profile", "pk": 1}]"#);
        let staged = writer.finish().unwrap();
        for name in ["fixtures/people.json", "manifest.json"] {
            let path = staged.join(name);
            assert!(std::fs::read(&path)
                .unwrap()
                .starts_with(b"age-encryption.org/v1\n"));
            assert_eq!(mode(&path), 0o600);
            let mut text = String::new();
            sealed::open(&path, Some(&key))
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            assert!(text.contains("people"), "{name}: {text}");
        }
        let mut plain = BackupWriter::create_scratch(&dir.path().join("plain"), None).unwrap();
        write_one(&mut plain, "[]");
        let plain = plain.finish().unwrap();
        assert_eq!(
            std::fs::read(plain.join("fixtures/people.json")).unwrap(),
            b"[]"
        );
        assert!(BackupWriter::create_scratch(&dir.path().join("x.zip"), None).is_err());
    }

    #[test]
    fn a_taken_name_gets_the_next_free_one_with_its_own_complete_sidecars() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("2026-01-01_000000.zip");
        // Both started before either finished: each claims its name at the end.
        let mut first = BackupWriter::create_numbered(&path, None).unwrap();
        let mut second = BackupWriter::create_numbered(&path, None).unwrap();
        write_one(&mut first, "[]");
        write_one(&mut second, "[ ]");
        // A stray archive without sidecars takes `_2` before anyone.
        std::fs::write(dir.path().join("2026-01-01_000000_2.zip"), "not ours").unwrap();
        let second = second.finish_with_sidecars(|f| Ok(sidecars(f))).unwrap();
        let first = first.finish_with_sidecars(|f| Ok(sidecars(f))).unwrap();
        assert_eq!(second, path);
        assert_eq!(first, dir.path().join("2026-01-01_000000_3.zip"));
        for archive in [&first, &second] {
            let md5 = std::fs::read_to_string(archive.with_extension("md5")).unwrap();
            assert_eq!(
                md5,
                file_sums(archive).unwrap().md5,
                "{}",
                archive.display()
            );
            assert_eq!(mode(archive), 0o600);
            assert_eq!(mode(&archive.with_extension("md5")), 0o600);
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join("2026-01-01_000000_2.zip")).unwrap(),
            "not ours"
        );
        assert!(!dir.path().join("2026-01-01_000000_2.md5").exists());
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "2026-01-01_000000.ini",
                "2026-01-01_000000.md5",
                "2026-01-01_000000.zip",
                "2026-01-01_000000_2.zip",
                "2026-01-01_000000_3.ini",
                "2026-01-01_000000_3.md5",
                "2026-01-01_000000_3.zip",
            ],
            "no temporary file left"
        );
    }

    #[test]
    fn an_exact_name_taken_while_writing_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        for path in [dir.path().join("out.zip"), dir.path().join("out")] {
            let mut writer = BackupWriter::create(&path, false).unwrap();
            write_one(&mut writer, "[]");
            std::fs::create_dir(&path).unwrap();
            std::fs::write(path.join("theirs"), "x").unwrap();
            let error = writer.finish().unwrap_err();
            assert_eq!(error.exit_code(), exit_codes::REFUSED, "{error}");
            assert!(error.message.ends_with("already exists"), "{error}");
            assert_eq!(std::fs::read_to_string(path.join("theirs")).unwrap(), "x");
            std::fs::remove_dir_all(&path).unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_folder_backup_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut writer = BackupWriter::create(&path, false).unwrap();
        write_one(&mut writer, "[]");
        assert_eq!(writer.finish().unwrap(), path);
        assert_eq!(mode(&path), 0o700);
        assert_eq!(mode(&path.join("fixtures")), 0o700);
        assert_eq!(mode(&path.join("fixtures/people.json")), 0o600);
        assert_eq!(mode(&path.join(super::MANIFEST_NAME)), 0o600);
    }

    #[test]
    fn replace_puts_the_new_backup_over_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.zip");
        std::fs::write(&path, "old").unwrap();
        let mut writer = BackupWriter::create(&path, true).unwrap();
        write_one(&mut writer, "[]");
        assert_eq!(writer.finish().unwrap(), path);
        assert_ne!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
