//! Where backups are kept: a local folder, or a prefix of an S3-compatible
//! bucket, `s3://bucket/prefix` ([`BucketUrl`]). A bucket is reached
//! through Apache Arrow's `object_store` ([`Bucket`]), its archives read by
//! ranges as they are needed ([`RangeReader`]) and written as multipart
//! uploads ([`Upload`]), never staged whole on local disk.
//! The endpoint comes from settings.ini `[storage]`, the credentials from
//! the environment or a profile ([`credentials`]).

mod bucket;
pub mod credentials;
mod ranged;
mod upload;

use std::{
    io::Read,
    path::{Path, PathBuf},
    sync::Arc,
};

pub use bucket::Bucket;
pub use ranged::{RangeReader, READ_AHEAD_FIRST, READ_AHEAD_MAX};
pub use upload::{Upload, FIRST_PART_SIZE, PARTS_IN_FLIGHT, PARTS_PER_SIZE};

use crate::{
    archive::{
        archive_path, check_archive_sums, check_backup_path, decrypt_reader, describe_archive,
        file_sums, folder_archive, folder_archives, is_archive_name, is_encrypted, list_archives,
        match_md5_sidecar, md5_sidecars, read_sums, sidecar, sort_newest_first, ArchiveFile,
        ArchiveRead, ArchiveSums, BackupReader, ListedArchive, SIDECARS,
    },
    config::StorageSettings,
    errors::{Error, ErrorKind},
};

/// The scheme of a bucket location.
const SCHEME: &str = "s3://";

/// `s3://bucket/key`: a bucket and a key in it (a prefix for a folder of
/// archives, an object's key for one archive; empty: the bucket's top).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketUrl {
    /// The bucket's name.
    pub bucket: String,
    /// The key or prefix, without a leading or trailing `/`.
    pub key: String,
}

impl BucketUrl {
    /// The bucket location `path` names, when it is an `s3://` URL; `None`
    /// for a local path.
    ///
    /// # Errors
    ///
    /// An `s3://` URL without a valid bucket name or with an empty path segment.
    pub fn parse(path: &Path) -> Option<Result<Self, Error>> {
        let text = path.to_str()?;
        let rest = text.strip_prefix(SCHEME)?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let key = key.trim_end_matches('/');
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && !bucket.starts_with(['.', '-'])
            && !bucket.ends_with(['.', '-']);
        let valid_key = key.is_empty()
            || key
                .split('/')
                .all(|s| !s.is_empty() && s != "." && s != "..");
        Some(if valid_bucket && valid_key {
            Ok(Self {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            })
        } else {
            Err(Error::new(
                ErrorKind::Usage,
                format!("`{text}` is not a bucket location s3://BUCKET/PREFIX"),
            )
            .hint("write s3://, the bucket's name (3 to 63 lowercase letters, digits, dots, dashes), then the prefix, e.g. s3://geonode-backups/site-a"))
        })
    }

    /// The URL of `key` in the same bucket, as a path for reports.
    pub fn url_of(&self, key: &str) -> PathBuf {
        PathBuf::from(format!("{SCHEME}{}/{key}", self.bucket))
    }

    /// The key of `name` under this prefix.
    pub fn child(&self, name: &str) -> String {
        if self.key.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.key)
        }
    }

    /// The prefix this key is in, and the name it has there (an object's
    /// URL: `s3://b/site-a/x.zip` is `x.zip` in `s3://b/site-a`).
    pub fn parent_and_name(&self) -> (Self, &str) {
        let (parent, name) = self.key.rsplit_once('/').unwrap_or(("", &self.key));
        let parent = Self {
            bucket: self.bucket.clone(),
            key: parent.to_owned(),
        };
        (parent, name)
    }

    /// The key of the report path `url` in this bucket, when it is one of its URLs.
    pub fn key_of(&self, url: &Path) -> Option<String> {
        let text = url.to_str()?;
        let rest = text.strip_prefix(SCHEME)?.strip_prefix(&self.bucket)?;
        Some(rest.strip_prefix('/')?.to_owned())
    }
}

impl BucketUrl {
    /// The key of `url`, a listed archive's URL in this bucket.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Input`] error when `url` is not one of its URLs.
    fn key_of_listed(&self, url: &Path) -> Result<String, Error> {
        self.key_of(url).ok_or_else(|| {
            Error::new(
                ErrorKind::Input,
                format!("{} is not in the bucket {}", url.display(), self.bucket),
            )
        })
    }
}

/// A folder of backups: a local folder, or a prefix of a bucket.
pub enum BackupDir {
    /// A local folder.
    Folder(PathBuf),
    /// A prefix of a bucket.
    Bucket(Arc<Bucket>, BucketUrl),
}

impl BackupDir {
    /// The folder `dir` names: an `s3://` URL is a bucket's prefix, reached
    /// as the `[storage]` settings `settings` gives say (asked for only
    /// then; nothing is asked of the bucket yet).
    ///
    /// # Errors
    ///
    /// A malformed `s3://` URL, settings that cannot be read, or no
    /// credentials for the bucket.
    pub fn open(
        dir: &Path,
        settings: impl FnOnce() -> Result<StorageSettings, Error>,
    ) -> Result<Self, Error> {
        match BucketUrl::parse(dir) {
            None => Ok(Self::Folder(dir.to_owned())),
            Some(url) => {
                let url = url?;
                Ok(Self::Bucket(
                    Bucket::connect(&url.bucket, &settings()?)?,
                    url,
                ))
            }
        }
    }

    /// The folder or bucket prefix holding the archive `path` (a file, or
    /// an `s3://` URL), and the archive as it lists it, unread.
    ///
    /// # Errors
    ///
    /// As [`BackupDir::open`] and [`BackupDir::archive`]; an
    /// [`ErrorKind::Input`] error naming `path` when it is not an archive there.
    pub fn of_archive(
        path: &Path,
        settings: impl FnOnce() -> Result<StorageSettings, Error>,
    ) -> Result<(Self, ArchiveFile), Error> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let dir = Self::open(path.parent().unwrap_or(Path::new("")), settings)?;
        match dir.archive(name)? {
            Some(file) => Ok((dir, file)),
            None => Err(Error::new(
                ErrorKind::Input,
                format!(
                    "cannot open backup {}: there is no such archive",
                    path.display()
                ),
            )
            .hint("pick an archive from the definition's list of archives")),
        }
    }

    /// Its `.zip` and `.zip.age` archives, newest first, each read for what
    /// it says, as [`list_archives`] lists a folder's.
    ///
    /// # Errors
    ///
    /// As [`BackupDir::files`].
    pub fn list(&self) -> Result<Vec<ListedArchive>, Error> {
        if let Self::Folder(folder) = self {
            return list_archives(folder);
        }
        let mut archives: Vec<ListedArchive> = self
            .files()?
            .into_iter()
            .map(|file| {
                let opened = self.open_archive(&file);
                describe_archive(file, opened)
            })
            .collect();
        sort_newest_first(&mut archives);
        Ok(archives)
    }

    /// Its `.zip` and `.zip.age` archives as it lists them, none of them
    /// read (a bucket's: one listing of its prefix), in no particular order.
    ///
    /// # Errors
    ///
    /// A folder that cannot be read, or a bucket that cannot be listed
    /// (unreachable, refusing the credentials, missing): an
    /// [`ErrorKind::Usage`] error naming it and the fix.
    pub fn files(&self) -> Result<Vec<ArchiveFile>, Error> {
        let (bucket, url) = match self {
            Self::Folder(folder) => return folder_archives(folder),
            Self::Bucket(bucket, url) => (bucket, url),
        };
        let objects = bucket.list(&url.key)?;
        let names: std::collections::HashMap<&str, &object_store::ObjectMeta> = objects
            .iter()
            .filter_map(|o| Some((o.location.filename()?, o)))
            .collect();
        Ok(names
            .iter()
            .filter(|(name, _)| is_archive_name(name))
            .map(|(name, meta)| {
                let sidecar_url = |file: PathBuf| {
                    let file = file.display().to_string();
                    names
                        .contains_key(file.as_str())
                        .then(|| url.url_of(&url.child(&file)))
                };
                ArchiveFile {
                    name: (*name).to_owned(),
                    path: url.url_of(meta.location.as_ref()),
                    bytes: meta.size,
                    modified: meta.last_modified.timestamp(),
                    md5_sidecar: md5_sidecars(Path::new(name))
                        .into_iter()
                        .find_map(sidecar_url),
                    sidecars: SIDECARS
                        .iter()
                        .filter_map(|ext| sidecar_url(sidecar(Path::new(name), ext)))
                        .collect(),
                }
            })
            .collect())
    }

    /// The archive named `name`, unread, when it is one of its archives
    /// (a plain `.zip` or `.zip.age` name, no folder; in a folder, a
    /// regular file, not a link).
    ///
    /// # Errors
    ///
    /// As [`BackupDir::files`], for a bucket.
    pub fn archive(&self, name: &str) -> Result<Option<ArchiveFile>, Error> {
        match self {
            Self::Folder(folder) => Ok(folder_archive(folder, name)),
            Self::Bucket(..) if !is_archive_name(name) => Ok(None),
            Self::Bucket(..) => Ok(self.files()?.into_iter().find(|file| file.name == name)),
        }
    }

    /// A listed archive opened as a backup (a `.zip.age` decrypted as it is
    /// read, with the run's keys).
    ///
    /// # Errors
    ///
    /// As [`BackupReader::open`].
    pub fn open_archive(&self, file: &ArchiveFile) -> Result<BackupReader, Error> {
        match self {
            Self::Folder(_) => BackupReader::open(&file.path),
            Self::Bucket(bucket, url) => open_object(
                bucket,
                &url.key_of_listed(&file.path)?,
                file.bytes,
                &file.path,
            ),
        }
    }

    /// The bytes of a listed archive as they are stored (an encrypted one
    /// stays encrypted), read from the start: a download's.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Input`] error naming the archive when it cannot be opened.
    pub fn stored_bytes(&self, file: &ArchiveFile) -> Result<Box<dyn Read + Send>, Error> {
        match self {
            Self::Folder(_) => std::fs::File::open(&file.path)
                .map(|f| Box::new(f) as Box<dyn Read + Send>)
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Input,
                        format!("cannot read {}: {e}", file.path.display()),
                    )
                }),
            Self::Bucket(bucket, url) => Ok(Box::new(RangeReader::new(
                bucket.clone(),
                &url.key_of_listed(&file.path)?,
                file.bytes,
            ))),
        }
    }

    /// Its newest `.zip` or `.zip.age` archive by the time it was last
    /// changed (a file's modification, an object's last write), as
    /// `restore --backup-files-dir` takes it; `None` when it holds none.
    ///
    /// # Errors
    ///
    /// A folder that cannot be read, or a bucket that cannot be listed: an
    /// [`ErrorKind::Usage`] error naming it.
    pub fn newest(&self) -> Result<Option<PathBuf>, Error> {
        match self {
            Self::Folder(dir) => {
                let newest = std::fs::read_dir(dir)
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::Usage,
                            format!("cannot read {}: {e}", dir.display()),
                        )
                    })?
                    .filter_map(Result::ok)
                    .filter_map(|e| {
                        let path = archive_path(dir, &e.file_name().into_string().ok()?)?;
                        Some((e.metadata().ok()?.modified().ok()?, path))
                    })
                    .max();
                Ok(newest.map(|(_, path)| path))
            }
            Self::Bucket(bucket, url) => {
                let newest = bucket
                    .list(&url.key)?
                    .into_iter()
                    .filter_map(|o| {
                        let name = o.location.filename()?;
                        is_archive_name(name).then(|| (o.last_modified, name.to_owned()))
                    })
                    .max();
                Ok(newest.map(|(_, name)| url.url_of(&url.child(&name))))
            }
        }
    }

    /// Removes the file `path` of a listed archive ([`ListedArchive::files`]).
    ///
    /// # Errors
    ///
    /// What stopped it, as a message naming the file.
    pub fn remove(&self, path: &Path) -> Result<(), String> {
        match self {
            Self::Folder(_) => std::fs::remove_file(path)
                .map_err(|e| format!("cannot remove {}: {e}", path.display())),
            Self::Bucket(bucket, url) => {
                let key = url.key_of(path).ok_or_else(|| {
                    format!(
                        "{} is not in {}",
                        path.display(),
                        url.url_of(&url.key).display()
                    )
                })?;
                bucket.delete(&key).map_err(|e| e.to_string())
            }
        }
    }

    /// The sums of a listed archive, read whole, checked against its `.md5` sidecar.
    ///
    /// # Errors
    ///
    /// As [`check_archive_sums`].
    pub fn archive_sums(&self, archive: &ListedArchive) -> Result<ArchiveSums, Error> {
        match self {
            Self::Folder(_) => check_archive_sums(&archive.path),
            Self::Bucket(bucket, url) => {
                bucket_sums(bucket, &url.key_of_listed(&archive.path)?, &archive.path)
            }
        }
    }
}

/// The archive `key` of `bucket`, `size` bytes long (shown as `shown`),
/// read by ranges; a `.zip.age` decrypted as it is read.
///
/// # Errors
///
/// As [`BackupReader::open`].
fn open_object(
    bucket: &Arc<Bucket>,
    key: &str,
    size: u64,
    shown: &Path,
) -> Result<BackupReader, Error> {
    let reader = RangeReader::new(bucket.clone(), key, size);
    let input: Box<dyn ArchiveRead> = if is_encrypted(Path::new(key)) {
        decrypt_reader(shown, reader)?
    } else {
        Box::new(reader)
    };
    BackupReader::open_zip(shown, input)
}

/// The sums of the object `key` of `bucket`, read whole, checked against
/// its `.md5` sidecar when the bucket has one beside it.
fn bucket_sums(bucket: &Arc<Bucket>, key: &str, shown: &Path) -> Result<ArchiveSums, Error> {
    let size = bucket.size(key)?;
    let sums = read_sums(RangeReader::new(bucket.clone(), key, size), shown)?;
    let mut sidecar = None;
    for candidate in md5_sidecars(Path::new(key)) {
        let candidate = candidate.display().to_string();
        if let Some(text) = bucket.read_small(&candidate)? {
            let path = shown.with_file_name(candidate.rsplit('/').next().unwrap_or(&candidate));
            sidecar = Some((path, text));
            break;
        }
    }
    match_md5_sidecar(shown, sums, sidecar)
}

/// Opens the backup `path`: a folder, a zip file, or an `s3://` URL of a
/// zip archive in a bucket, read by ranges (a `.zip.age` decrypted as it is read).
///
/// # Errors
///
/// As [`BackupReader::open`]; for a bucket, also what [`BackupDir::list`] names.
pub fn open_backup(path: &Path, settings: &StorageSettings) -> Result<BackupReader, Error> {
    let Some(url) = BucketUrl::parse(path) else {
        return BackupReader::open(path);
    };
    let url = url?;
    let bucket = Bucket::connect(&url.bucket, settings)?;
    let size = bucket.size(&url.key)?;
    open_object(&bucket, &url.key, size, path)
}

/// The backup's sums, as [`check_archive_sums`] gives them, for a local
/// backup or an `s3://` URL (its `.md5` sidecar read from the bucket).
///
/// # Errors
///
/// As [`check_archive_sums`]; for a bucket, also what [`BackupDir::list`] names.
pub fn backup_sums(path: &Path, settings: &StorageSettings) -> Result<ArchiveSums, Error> {
    let Some(url) = BucketUrl::parse(path) else {
        return check_archive_sums(path);
    };
    let url = url?;
    let bucket = Bucket::connect(&url.bucket, settings)?;
    bucket_sums(&bucket, &url.key, path)
}

/// The sha256 of the backup `path` as it is stored (a folder's: of its
/// listing, as [`check_archive_sums`] gives it), for a local backup or an
/// `s3://` URL, its `.md5` sidecar not read.
///
/// # Errors
///
/// When it cannot be read (an [`ErrorKind::Input`] error naming it); for a
/// bucket, also what [`BackupDir::list`] names.
pub fn stored_sha256(path: &Path, settings: &StorageSettings) -> Result<String, Error> {
    let Some(url) = BucketUrl::parse(path) else {
        if check_backup_path(path)? {
            return Ok(check_archive_sums(path)?.sha256);
        }
        return Ok(file_sums(path)?.sha256);
    };
    let url = url?;
    let bucket = Bucket::connect(&url.bucket, settings)?;
    let size = bucket.size(&url.key)?;
    Ok(read_sums(RangeReader::new(bucket, &url.key, size), path)?.sha256)
}

/// Checks that this run holds the key of the backup `path` (local or an
/// `s3://` URL, reached as `settings` say) when it is encrypted: its age
/// header is read and opened with the run's keys, nothing more. A plain
/// backup needs none.
///
/// # Errors
///
/// An [`ErrorKind::Input`] error naming the archive and the key to set,
/// when the key is missing or does not open it, or it cannot be read.
pub fn check_key(
    path: &Path,
    settings: impl FnOnce() -> Result<StorageSettings, Error>,
) -> Result<(), Error> {
    if !is_encrypted(path) {
        return Ok(());
    }
    let Some(url) = BucketUrl::parse(path) else {
        let file = std::fs::File::open(path).map_err(|e| {
            Error::new(
                ErrorKind::Input,
                format!("cannot open backup {}: {e}", path.display()),
            )
        })?;
        return decrypt_reader(path, file).map(drop);
    };
    let url = url?;
    let bucket = Bucket::connect(&url.bucket, &settings()?)?;
    let size = bucket.size(&url.key)?;
    decrypt_reader(path, RangeReader::new(bucket, &url.key, size)).map(drop)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::BucketUrl;

    #[test]
    fn a_folders_newest_archive_is_its_last_modified_zip_or_zip_age() {
        use std::time::{Duration, SystemTime};

        use super::BackupDir;

        let dir = tempfile::tempdir().unwrap();
        let folder = BackupDir::Folder(dir.path().to_owned());
        assert_eq!(folder.newest().unwrap(), None);
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        // By when each was written, not by its name; no sidecar, hidden file or folder.
        for (n, name) in [
            "2026-01-02_000000.zip",
            "2026-01-01_000000.zip.age",
            "2026-01-01_000000.zip.age.md5",
            ".2026-01-03_000000.zip.gnbr-x.tmp",
            ".hidden.zip",
        ]
        .iter()
        .enumerate()
        {
            let file = std::fs::File::create(dir.path().join(name)).unwrap();
            file.set_modified(start + Duration::from_secs(n as u64))
                .unwrap();
        }
        std::fs::create_dir(dir.path().join("later.zip")).unwrap();
        assert_eq!(
            folder.newest().unwrap(),
            Some(dir.path().join("2026-01-01_000000.zip.age"))
        );
    }

    #[test]
    fn bucket_urls_are_told_from_paths_and_checked() {
        assert_eq!(BucketUrl::parse(Path::new("/srv/backups")), None);
        assert_eq!(BucketUrl::parse(Path::new("s3:/x")), None);
        let url = BucketUrl::parse(Path::new("s3://geonode-backups/site-a/"))
            .unwrap()
            .unwrap();
        assert_eq!(url.bucket, "geonode-backups");
        assert_eq!(url.key, "site-a");
        assert_eq!(url.child("a.zip"), "site-a/a.zip");
        assert_eq!(
            url.key_of(&url.url_of("site-a/a.zip")).as_deref(),
            Some("site-a/a.zip")
        );
        let top = BucketUrl::parse(Path::new("s3://geonode-backups"))
            .unwrap()
            .unwrap();
        assert_eq!(top.key, "");
        assert_eq!(top.child("a.zip"), "a.zip");
        let object = BucketUrl::parse(Path::new("s3://geonode-backups/site-a/b/x.zip"))
            .unwrap()
            .unwrap();
        let (parent, name) = object.parent_and_name();
        assert_eq!((parent.key.as_str(), name), ("site-a/b", "x.zip"));
        let (parent, name) = top.parent_and_name();
        assert_eq!((parent.key.as_str(), name), ("", ""));
        for bad in [
            "s3://",
            "s3://Upper/x",
            "s3://ab",
            "s3://b-ucket//x",
            "s3://bucket/../x",
        ] {
            let error = BucketUrl::parse(Path::new(bad)).unwrap().unwrap_err();
            assert!(error.message.contains(bad), "{}", error.message);
        }
    }
}
