//! Reading a backup, zip or folder, entry by entry.

use std::{
    collections::HashSet,
    fs::{self, File},
    io::{self, Read, Seek, Write},
    os::unix::fs::FileTypeExt,
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};
use zip::ZipArchive;

use super::{check_entry_name, crypt::ArchiveFile, Manifest, MANIFEST_NAME};
use crate::errors::{Error, ErrorKind};

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// Its path inside the backup, `/`-separated.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What a zip archive is read from: a file, or an object in a bucket
/// read by ranges ([`crate::storage`]).
pub trait ArchiveRead: Read + Seek + Send {}

impl<T: Read + Seek + Send> ArchiveRead for T {}

enum Source {
    Zip(ZipArchive<Box<dyn ArchiveRead>>),
    Folder,
}

/// A backup opened for reading.
pub struct BackupReader {
    path: PathBuf,
    source: Source,
    entries: Vec<EntryInfo>,
    manifest: Option<Manifest>,
}

impl BackupReader {
    /// Opens a backup: a `.zip` file, a `.zip.age` file (decrypted as it is
    /// read, see [`ArchiveFile`]) or a folder.
    ///
    /// # Errors
    ///
    /// When it does not exist, is not a zip archive, cannot be decrypted,
    /// or holds an unsafe entry name.
    pub fn open(path: &Path) -> Result<Self, Error> {
        if check_backup_path(path)? {
            return Self::with_source(path, Source::Folder, folder_entries(path)?);
        }
        Self::open_zip(path, Box::new(ArchiveFile::open(path)?))
    }

    /// Opens the zip archive `input`, shown as `path` in messages.
    ///
    /// # Errors
    ///
    /// When it is not a zip archive, or holds a damaged entry or an unsafe entry name.
    pub fn open_zip(path: &Path, input: Box<dyn ArchiveRead>) -> Result<Self, Error> {
        let input_error = |message: String| Error::new(ErrorKind::Input, message);
        let mut zip = ZipArchive::new(input).map_err(|e| {
            input_error(format!(
                "{} is not a readable zip archive: {e}",
                path.display()
            ))
            .hint("pass a backup archive (.zip or .zip.age) or a backup folder")
        })?;
        let mut entries = Vec::with_capacity(zip.len());
        for i in 0..zip.len() {
            let entry = zip.by_index_raw(i).map_err(|e| {
                input_error(format!("{}: entry {i} is damaged: {e}", path.display()))
            })?;
            if entry.is_dir() {
                continue;
            }
            let name = entry.name().map_err(|e| {
                input_error(format!(
                    "{}: entry {i} has no readable name: {e}",
                    path.display()
                ))
            })?;
            check_entry_name(&name)?;
            entries.push(EntryInfo {
                name: name.into_owned(),
                size: entry.size(),
            });
        }
        Self::with_source(path, Source::Zip(zip), entries)
    }

    /// The backup read from `source`, its manifest read when it has one.
    fn with_source(path: &Path, source: Source, entries: Vec<EntryInfo>) -> Result<Self, Error> {
        let input_error = |message: String| Error::new(ErrorKind::Input, message);
        let mut reader = Self {
            path: path.to_owned(),
            source,
            entries,
            manifest: None,
        };
        if reader.has(MANIFEST_NAME) {
            let mut text = String::new();
            reader
                .open_entry(MANIFEST_NAME)?
                .read_to_string(&mut text)
                .map_err(|e| {
                    input_error(format!(
                        "{}: cannot read {MANIFEST_NAME}: {e}",
                        path.display()
                    ))
                })?;
            let manifest = serde_json::from_str(&text).map_err(|e| {
                input_error(format!(
                    "{}: {MANIFEST_NAME} is not a gnbr manifest: {e}",
                    path.display()
                ))
            })?;
            reader.manifest = Some(manifest);
        }
        Ok(reader)
    }

    /// The backup's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every file in the backup, in archive order (folders: name order).
    pub fn entries(&self) -> &[EntryInfo] {
        &self.entries
    }

    /// gnbr's manifest, when the backup has one.
    pub fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_ref()
    }

    /// Whether the backup has an entry of that name.
    pub fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.name == name)
    }

    /// Checks that the backup holds exactly the entries its manifest lists:
    /// an entry listed but absent means a damaged copy, and an entry that is
    /// not listed could not be checked. Without a manifest there is nothing
    /// to compare.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Input`] error naming every such entry.
    pub fn check_against_manifest(&self) -> Result<(), Error> {
        let Some(manifest) = &self.manifest else {
            return Ok(());
        };
        let absent: Vec<&str> = manifest
            .entries
            .keys()
            .filter(|name| !self.has(name))
            .map(String::as_str)
            .collect();
        let unlisted: Vec<&str> = self
            .entries
            .iter()
            .map(|e| e.name.as_str())
            .filter(|name| *name != MANIFEST_NAME && !manifest.entries.contains_key(*name))
            .collect();
        let mut problems = Vec::new();
        if !absent.is_empty() {
            problems.push(format!(
                "its {MANIFEST_NAME} lists {} that it does not hold",
                listing(&absent)
            ));
        }
        if !unlisted.is_empty() {
            problems.push(format!(
                "it holds {} that its {MANIFEST_NAME} does not list (no checksum to check them by)",
                listing(&unlisted)
            ));
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Input,
            format!("{}: {}", self.path.display(), problems.join("; ")),
        )
        .hint("the archive is incomplete or was changed after it was written; nothing was touched: copy it again from where it was written, or use another backup"))
    }

    /// Reads every entry but those in `done` to its end, so that each is
    /// checked before anything is changed: by the manifest's sha256 when
    /// there is a manifest, by the zip's CRC-32 in any zip. `progress` hears
    /// each entry's name as it starts and the bytes read.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Input`] error naming the first entry that does not
    /// match or cannot be read.
    pub fn verify_entries(
        &mut self,
        done: &HashSet<String>,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<(), Error> {
        let mut buf = vec![0; 1 << 16];
        for name in self.names_but(done) {
            self.read_to_end(&name, &mut buf, progress)?;
        }
        Ok(())
    }

    /// [`BackupReader::verify_entries`] that goes on past a bad entry:
    /// returns one error for each entry that does not match or cannot be read.
    pub fn check_entries(
        &mut self,
        done: &HashSet<String>,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Vec<Error> {
        let mut buf = vec![0; 1 << 16];
        self.names_but(done)
            .into_iter()
            .filter_map(|name| self.read_to_end(&name, &mut buf, progress).err())
            .collect()
    }

    /// The entries' names, but those in `done`.
    fn names_but(&self, done: &HashSet<String>) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| e.name.clone())
            .filter(|name| !done.contains(name))
            .collect()
    }

    /// Reads the entry `name` to its end through `buf`, which checks it.
    fn read_to_end(
        &mut self,
        name: &str,
        buf: &mut [u8],
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<(), Error> {
        let display = self.path.display().to_string();
        progress(name, 0);
        let mut entry = self.open_entry(name)?;
        loop {
            crate::cancel::check()?;
            match entry.read(buf) {
                Ok(0) => return Ok(()),
                Ok(n) => progress(name, n as u64),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let what = e.to_string();
                    let message = if what.contains(name) {
                        format!("{display}: {what}")
                    } else {
                        format!("{display}: entry {name}: {what}")
                    };
                    return Err(Error::new(ErrorKind::Input, message)
                        .hint("the archive is damaged or was changed after it was written; nothing was touched: copy it again, or use another backup"));
                }
            }
        }
    }

    /// Opens an entry for reading. With a manifest, the entry's sha256 is
    /// checked as it is read: the reader fails at its end on a mismatch.
    ///
    /// # Errors
    ///
    /// When the entry is missing or cannot be opened.
    pub fn open_entry(&mut self, name: &str) -> Result<Box<dyn Read + Send + '_>, Error> {
        let expected = self
            .manifest
            .as_ref()
            .and_then(|m| m.entries.get(name))
            .map(|d| d.sha256.clone());
        let display = self.path.display().to_string();
        let inner: Box<dyn Read + Send + '_> = match &mut self.source {
            Source::Zip(zip) => Box::new(zip.by_name(name).map_err(|e| {
                Error::new(
                    ErrorKind::Input,
                    format!("{display}: cannot read entry {name}: {e}"),
                )
            })?),
            Source::Folder => Box::new(File::open(self.path.join(name)).map_err(|e| {
                Error::new(
                    ErrorKind::Input,
                    format!("{display}: cannot read {name}: {e}"),
                )
            })?),
        };
        Ok(match expected {
            Some(sha256) => Box::new(CheckedReader {
                inner,
                hasher: Sha256::new(),
                expected: sha256,
                name: name.to_owned(),
                checked: false,
            }),
            None => inner,
        })
    }

    /// Copies the entry `name` into a new file at `dest` (its folders
    /// created), its checksum checked as for [`BackupReader::open_entry`];
    /// `progress` gets the bytes copied so far. Returns its size.
    ///
    /// # Errors
    ///
    /// A missing or damaged entry ([`ErrorKind::Input`], naming the backup
    /// and the entry), or a file that cannot be written.
    pub fn extract_entry(
        &mut self,
        name: &str,
        dest: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, Error> {
        crate::cancel::check()?;
        let write_error = |path: &Path, e: io::Error| {
            Error::new(
                ErrorKind::Run,
                format!("cannot write {}: {e}", path.display()),
            )
            .hint("the folder must be writable by the user running gnbr")
        };
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
        }
        let backup = self.path.display().to_string();
        let mut source = self.open_entry(name)?;
        let mut file = File::create(dest).map_err(|e| write_error(dest, e))?;
        let mut buffer = vec![0; 1 << 16];
        let mut copied = 0;
        loop {
            let n = match source.read(&mut buffer) {
                Ok(0) => return Ok(copied),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Input,
                        format!("{backup}: {name}: {e}"),
                    ))
                }
            };
            file.write_all(&buffer[..n])
                .map_err(|e| write_error(dest, e))?;
            copied += n as u64;
            progress(copied);
        }
    }
}

/// Checks that `path` (followed if a symlink) is a regular file or a folder;
/// returns whether it is a folder. A device, FIFO or socket is refused
/// before anything reads it: `/dev/zero` would be hashed forever, a FIFO
/// could not be read twice.
///
/// # Errors
///
/// [`ErrorKind::Input`] when it cannot be read, [`ErrorKind::Usage`] when it
/// is neither a file nor a folder.
pub fn check_backup_path(path: &Path) -> Result<bool, Error> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::new(
            ErrorKind::Input,
            format!("cannot open backup {}: {e}", path.display()),
        )
    })?;
    if meta.is_dir() || meta.is_file() {
        return Ok(meta.is_dir());
    }
    let kind = meta.file_type();
    let kind = if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else {
        "a socket"
    };
    Err(Error::new(
        ErrorKind::Usage,
        format!(
            "{} is {kind}, not a backup archive or folder",
            path.display()
        ),
    )
    .hint(
        "pass a backup archive (.zip) or a backup folder; save a streamed backup to a file first",
    ))
}

fn folder_entries(root: &Path) -> Result<Vec<EntryInfo>, Error> {
    let mut entries = Vec::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry
            .map_err(|e| Error::new(ErrorKind::Input, format!("cannot read backup folder: {e}")))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(root)
            .expect("walkdir stays under its root");
        let name = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        entries.push(EntryInfo { name, size });
    }
    Ok(entries)
}

/// Up to five names, then how many more.
fn listing(names: &[&str]) -> String {
    let shown = names[..names.len().min(5)].join(", ");
    match names.len() {
        1 => format!("entry {shown}"),
        n if n <= 5 => format!("entries {shown}"),
        n => format!("entries {shown} and {} more", n - 5),
    }
}

/// Hashes what it reads and fails at the end when the sha256 differs from the manifest's.
struct CheckedReader<R> {
    inner: R,
    hasher: Sha256,
    expected: String,
    name: String,
    checked: bool,
}

impl<R: Read> Read for CheckedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.checked {
            self.checked = true;
            let actual = hex(&self.hasher.finalize_reset());
            if actual != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "entry {} does not match the manifest's sha256 (the backup is damaged or was changed after it was written)",
                        self.name
                    ),
                ));
            }
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_fifos_are_refused_as_backups() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("backup.zip");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        for (path, kind) in [
            (Path::new("/dev/zero"), "a character device"),
            (fifo.as_path(), "a FIFO (named pipe)"),
        ] {
            let err = BackupReader::open(path).err().unwrap();
            assert_eq!(err.exit_code(), crate::exit_codes::USAGE);
            assert_eq!(
                err.message,
                format!(
                    "{} is {kind}, not a backup archive or folder",
                    path.display()
                )
            );
        }
        assert_eq!(check_backup_path(dir.path()), Ok(true));
    }

    /// A backup folder with `files` and a manifest listing `listed` of
    /// them, with their sha256.
    fn backup_folder(files: &[(&str, &str)], listed: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = super::super::Manifest::default();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            if listed.contains(name) {
                manifest.entries.insert(
                    (*name).to_owned(),
                    super::super::EntryDigest {
                        size: text.len() as u64,
                        sha256: hex(&Sha256::digest(text.as_bytes())),
                    },
                );
            }
        }
        std::fs::write(
            dir.path().join(MANIFEST_NAME),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
        dir
    }

    #[test]
    fn entries_the_manifest_lists_but_the_backup_lacks_and_the_reverse_are_refused() {
        let files = [("fixtures/base.json", "[]"), ("uploaded/a.png", "png")];
        let all = ["fixtures/base.json", "uploaded/a.png"];
        let whole = backup_folder(&files, &all);
        BackupReader::open(whole.path())
            .unwrap()
            .check_against_manifest()
            .unwrap();

        std::fs::remove_file(whole.path().join("fixtures/base.json")).unwrap();
        let err = BackupReader::open(whole.path())
            .unwrap()
            .check_against_manifest()
            .unwrap_err();
        assert_eq!(err.exit_code(), crate::exit_codes::INPUT);
        assert!(
            err.message.ends_with(
                "its manifest.json lists entry fixtures/base.json that it does not hold"
            ),
            "{err}"
        );

        let added = backup_folder(&files, &["uploaded/a.png"]);
        let err = BackupReader::open(added.path())
            .unwrap()
            .check_against_manifest()
            .unwrap_err();
        assert!(
            err.message.ends_with(
                "it holds entry fixtures/base.json that its manifest.json does not list (no checksum to check them by)"
            ),
            "{err}"
        );
    }

    #[test]
    fn every_entry_is_checked_against_the_manifest_not_only_the_fixtures() {
        let files = [
            ("fixtures/base.json", "[]"),
            ("uploaded/a.png", "png"),
            ("gs_data_dir/geonode/roads.sql", "COPY"),
        ];
        let dir = backup_folder(&files, &files.map(|(name, _)| name));
        let done = HashSet::from(["fixtures/base.json".to_owned()]);
        let mut seen = Vec::new();
        BackupReader::open(dir.path())
            .unwrap()
            .verify_entries(&done, &mut |name, _| seen.push(name.to_owned()))
            .unwrap();
        assert!(!seen.iter().any(|n| n == "fixtures/base.json"), "{seen:?}");

        std::fs::write(dir.path().join("gs_data_dir/geonode/roads.sql"), "DROP").unwrap();
        std::fs::write(dir.path().join("uploaded/a.png"), "gif").unwrap();
        let bad: Vec<String> = BackupReader::open(dir.path())
            .unwrap()
            .check_entries(&done, &mut |_, _| {})
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad[1].contains("entry uploaded/a.png"), "{bad:?}");
        let err = BackupReader::open(dir.path())
            .unwrap()
            .verify_entries(&done, &mut |_, _| {})
            .unwrap_err();
        assert_eq!(err.exit_code(), crate::exit_codes::INPUT);
        assert!(
            err.message.contains(
                "entry gs_data_dir/geonode/roads.sql does not match the manifest's sha256"
            ),
            "{err}"
        );
    }
}
