//! Scratch files that are only ever ciphertext on disk: what a restore of
//! an encrypted archive stages (its fixtures, relocated and counted before
//! the load) is encrypted to an age X25519 key made for the run, held in memory only
//! and gone with it, and decrypted only as it is read back.
//!
//! [`create`] and [`open`] take the key as an `Option`: without one, a
//! scratch file is plain, as a plain archive's are (the archive is itself
//! plain on disk), so one code path writes and reads both.

use std::{
    fs::{File, OpenOptions},
    io::{self, BufRead, BufReader, BufWriter, Read, Write},
    iter,
    os::unix::fs::OpenOptionsExt,
    path::Path,
};

use age::{
    stream::StreamWriter,
    x25519::{Identity, Recipient},
    Decryptor, Encryptor,
};

/// The key of one run's sealed scratch files: never written anywhere.
pub struct ScratchKey {
    identity: Identity,
    recipient: Recipient,
}

impl std::fmt::Debug for ScratchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScratchKey(..)")
    }
}

impl ScratchKey {
    /// A new key, from the system's random numbers.
    pub fn generate() -> Self {
        let identity = Identity::generate();
        let recipient = identity.to_public();
        Self {
            identity,
            recipient,
        }
    }

    /// Encrypts what is written to the writer returned into `output`; the
    /// ciphertext is complete once [`StreamWriter::finish`] returned.
    ///
    /// # Errors
    ///
    /// When the header cannot be written to `output`.
    pub fn seal<W: Write>(&self, output: W) -> io::Result<StreamWriter<W>> {
        Encryptor::with_recipients(iter::once(&self.recipient as &dyn age::Recipient))
            .map_err(io::Error::other)?
            .wrap_output(output)
    }

    /// The plaintext of `input`, sealed with this key, decrypted as it is
    /// read (each chunk authenticated, a cut-short file an error).
    ///
    /// # Errors
    ///
    /// When `input` is not sealed with this key ([`io::ErrorKind::InvalidData`]).
    pub fn unseal<R: BufRead>(&self, input: R) -> io::Result<impl Read> {
        Decryptor::new_buffered(input)
            .and_then(|d| d.decrypt(iter::once(&self.identity as &dyn age::Identity)))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// A scratch file being written: plain, or sealed with a [`ScratchKey`].
pub enum ScratchWriter {
    /// Written as it is.
    Plain(BufWriter<File>),
    /// Encrypted as it is written.
    Sealed(Box<StreamWriter<BufWriter<File>>>),
}

impl ScratchWriter {
    /// Ends the file (a sealed one's last chunk written) and returns it, to sync.
    ///
    /// # Errors
    ///
    /// When the last bytes cannot be written.
    pub fn finish(self) -> io::Result<File> {
        let buffered = match self {
            Self::Plain(file) => file,
            Self::Sealed(sealed) => sealed.finish()?,
        };
        buffered.into_inner().map_err(|e| e.into_error())
    }
}

impl Write for ScratchWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(file) => file.write(buf),
            Self::Sealed(sealed) => sealed.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(file) => file.flush(),
            Self::Sealed(sealed) => sealed.flush(),
        }
    }
}

/// Creates the scratch file `path` (0600, replacing what has that name),
/// sealed with `key` when there is one.
///
/// # Errors
///
/// When the file cannot be created or its header written.
pub fn create(path: &Path, key: Option<&ScratchKey>) -> io::Result<ScratchWriter> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    let file = BufWriter::with_capacity(1 << 20, file);
    Ok(match key {
        Some(key) => ScratchWriter::Sealed(Box::new(key.seal(file)?)),
        None => ScratchWriter::Plain(file),
    })
}

/// Opens the scratch file `path` for reading: decrypted with `key` as it is
/// read when there is one.
///
/// # Errors
///
/// When the file cannot be opened, or is not sealed with `key`.
pub fn open(path: &Path, key: Option<&ScratchKey>) -> io::Result<Box<dyn Read + Send>> {
    let file = BufReader::with_capacity(1 << 16, File::open(path)?);
    Ok(match key {
        Some(key) => Box::new(key.unseal(file)?),
        None => Box::new(file),
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::{create, open, ScratchKey};

    const TEXT: &[u8] = br#"[{"model": "people.profile", "pk": 1, "fields": {"password": "pbkdf2_sha256$1$salt$hash"}}]"#;

    fn read(path: &std::path::Path, key: Option<&ScratchKey>) -> std::io::Result<Vec<u8>> {
        let mut text = Vec::new();
        open(path, key)?.read_to_end(&mut text)?;
        Ok(text)
    }

    #[test]
    fn a_sealed_file_holds_only_ciphertext_and_reads_back_with_its_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.json");
        let key = ScratchKey::generate();
        let mut sealed = create(&path, Some(&key)).unwrap();
        for _ in 0..10_000 {
            sealed.write_all(TEXT).unwrap();
        }
        sealed.finish().unwrap().sync_all().unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        assert!(on_disk.starts_with(b"age-encryption.org/v1\n"));
        let finder = memchr::memmem::Finder::new(b"pbkdf2_sha256");
        assert!(finder.find(&on_disk).is_none(), "plaintext on disk");
        assert_eq!(read(&path, Some(&key)).unwrap(), TEXT.repeat(10_000));
        let other = ScratchKey::generate();
        let error = read(&path, Some(&other)).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        let mode = std::fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    #[test]
    fn a_sealed_file_cut_short_is_an_error_not_less_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.json");
        let key = ScratchKey::generate();
        let mut sealed = create(&path, Some(&key)).unwrap();
        sealed.write_all(&TEXT.repeat(5_000)).unwrap();
        sealed.finish().unwrap();
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 100]).unwrap();
        assert!(read(&path, Some(&key)).is_err());
    }

    #[test]
    fn without_a_key_a_scratch_file_is_plain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.json");
        let mut plain = create(&path, None).unwrap();
        plain.write_all(TEXT).unwrap();
        plain.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), TEXT);
        assert_eq!(read(&path, None).unwrap(), TEXT);
    }
}
