//! Encrypted archives: a backup zip inside an age file (`<name>.zip.age`),
//! written as it is encrypted and read as it is decrypted, never written out
//! in the clear. The key is a passphrase (`GNBR_PASSPHRASE`, scrypt) or
//! public keys, age X25519 ones or ssh ones (`ssh-ed25519`, `ssh-rsa`), as
//! the `age` CLI takes them: recipients (`--recipient`, `--recipients-file`)
//! to write, an identity file (`--identity FILE`: age identities, or an
//! unencrypted OpenSSH private key) to read.

use std::{
    fs::File,
    io::{self, BufReader, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    str::FromStr,
    sync::OnceLock,
};

use age::{
    secrecy::SecretString,
    stream::{StreamReader, StreamWriter},
    DecryptError, Decryptor, Encryptor, Identity, Recipient,
};

use crate::errors::{Error, ErrorKind};

/// The environment variable holding the passphrase of scrypt-encrypted archives.
pub const PASSPHRASE_VAR: &str = "GNBR_PASSPHRASE";

/// The identity file given with `--identity` (or `GNBR_IDENTITY_FILE`).
static IDENTITY_FILE: OnceLock<PathBuf> = OnceLock::new();

/// Makes `path` the age identity file encrypted archives are read with,
/// for the rest of the run (the first one given counts).
pub fn set_identity_file(path: PathBuf) {
    let _ = IDENTITY_FILE.set(path);
}

/// The keys an encrypted archive may be opened with.
#[derive(Default)]
pub struct Keys {
    /// The passphrase of a passphrase-encrypted (scrypt) archive.
    pub passphrase: Option<SecretString>,
    /// An age identity file for an archive encrypted to recipients.
    pub identity_file: Option<PathBuf>,
}

impl Keys {
    /// The keys this run was given: `GNBR_PASSPHRASE` and `--identity`.
    pub fn of_run() -> Self {
        Self {
            passphrase: std::env::var(PASSPHRASE_VAR).ok().map(SecretString::from),
            identity_file: IDENTITY_FILE.get().cloned(),
        }
    }
}

/// Whether `path` names an encrypted archive: its name ends in `.age`.
pub fn is_encrypted(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("age"))
}

/// A backup archive's bytes as zip reads them: the file itself, or the
/// plaintext of an encrypted one, decrypted as it is read.
pub enum ArchiveFile {
    /// A plain `.zip`.
    Plain(BufReader<File>),
    /// A `.zip.age`, decrypted chunk by chunk (each chunk authenticated).
    Encrypted(Box<StreamReader<BufReader<File>>>),
}

impl ArchiveFile {
    /// Opens the archive at `path`, decrypting it with [`Keys::of_run`] if
    /// its name ends in `.age`.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Input`] error naming the archive when it cannot be
    /// opened, is not an age file, or no key given opens it.
    pub fn open(path: &Path) -> Result<Self, Error> {
        Self::open_with(path, &Keys::of_run())
    }

    /// [`ArchiveFile::open`] with the keys `keys`.
    ///
    /// # Errors
    ///
    /// As [`ArchiveFile::open`].
    pub fn open_with(path: &Path, keys: &Keys) -> Result<Self, Error> {
        let file = File::open(path).map_err(|e| {
            Error::new(
                ErrorKind::Input,
                format!("cannot open backup {}: {e}", path.display()),
            )
        })?;
        let input = BufReader::with_capacity(1 << 16, file);
        if !is_encrypted(path) {
            return Ok(Self::Plain(input));
        }
        decrypt(path, input, keys).map(|r| Self::Encrypted(Box::new(r)))
    }
}

impl Read for ArchiveFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(r) => r.read(buf),
            Self::Encrypted(r) => r.read(buf),
        }
    }
}

impl Seek for ArchiveFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self {
            Self::Plain(r) => r.seek(pos),
            Self::Encrypted(r) => r.seek(pos),
        }
    }
}

/// Who can open the encrypted archive a backup writes: whoever knows the
/// passphrase (scrypt), or holds the identity (age X25519 or ssh private
/// key) of one of its recipients.
pub struct Encryption {
    recipients: Vec<Box<dyn Recipient>>,
}

impl Encryption {
    /// The age recipients `recipients` (`age1...`, `ssh-ed25519 ...`,
    /// `ssh-rsa ...`) and those of `recipients_file` (one a line, `#`
    /// comments); without any, the passphrase in `GNBR_PASSPHRASE`.
    ///
    /// # Errors
    ///
    /// A [`ErrorKind::Usage`] error naming the recipient (and its file and
    /// line) that is not one age takes, a recipients file that cannot be read
    /// or holds none, or no recipient and no passphrase.
    pub fn for_backup(
        recipients: &[String],
        recipients_file: Option<&Path>,
    ) -> Result<Self, Error> {
        let mut parsed: Vec<Box<dyn Recipient>> = Vec::new();
        for text in recipients {
            parsed.push(parse_recipient(text, "--recipient")?);
        }
        if let Some(file) = recipients_file {
            let from_file = read_recipients(file)?;
            if from_file.is_empty() {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!("the recipients file {} holds no recipient", file.display()),
                )
                .hint("put one recipient a line in it: age1... as `age-keygen -y` prints them, or an ssh-ed25519 or ssh-rsa public key"));
            }
            parsed.extend(from_file);
        }
        if parsed.is_empty() {
            let passphrase = std::env::var(PASSPHRASE_VAR)
                .ok()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Usage,
                        format!("--encrypt needs a key: no --recipient, no --recipients-file and {PASSPHRASE_VAR} is not set"),
                    )
                    .hint(format!("set {PASSPHRASE_VAR} to a passphrase, or pass --recipient age1... (age-keygen makes a key pair)"))
                })?;
            parsed.push(Box::new(age::scrypt::Recipient::new(SecretString::from(
                passphrase,
            ))));
        }
        Ok(Self { recipients: parsed })
    }

    /// Encrypts what is written to the writer returned into `output`; the
    /// age file is complete once [`StreamWriter::finish`] returned.
    ///
    /// # Errors
    ///
    /// When the header cannot be written to `output`.
    pub fn wrap<W: Write>(&self, output: W) -> io::Result<StreamWriter<W>> {
        Encryptor::with_recipients(self.recipients.iter().map(|r| r.as_ref() as &dyn Recipient))
            .map_err(io::Error::other)?
            .wrap_output(output)
    }
}

/// The recipient `text`, given as `source` (a flag, or a file and line):
/// an age X25519 one (`age1...`), or an ssh public key (`ssh-ed25519 ...`,
/// `ssh-rsa ...`, its comment ignored), as the `age` CLI takes them.
fn parse_recipient(text: &str, source: &str) -> Result<Box<dyn Recipient>, Error> {
    let refused = |why: String, hint: &str| {
        Error::new(
            ErrorKind::Usage,
            format!("{source}: `{text}` is not an age recipient: {why}"),
        )
        .hint(hint)
    };
    let x25519 = match age::x25519::Recipient::from_str(text) {
        Ok(recipient) => return Ok(Box::new(recipient)),
        Err(why) => why,
    };
    let ssh_types = "age takes ssh-ed25519 and ssh-rsa keys (2048 bits or more); make one with ssh-keygen -t ed25519, or an age key pair with age-keygen";
    match age::ssh::Recipient::from_str(text) {
        Ok(recipient) => Ok(Box::new(recipient)),
        Err(age::ssh::ParseRecipientKeyError::Unsupported(kind)) => Err(refused(
            format!("ssh keys of type {kind} are not supported"),
            ssh_types,
        )),
        Err(age::ssh::ParseRecipientKeyError::RsaModulusTooSmall) => Err(refused(
            "the ssh-rsa key is shorter than 2048 bits".to_owned(),
            ssh_types,
        )),
        Err(age::ssh::ParseRecipientKeyError::RsaModulusTooLarge) => Err(refused(
            "the ssh-rsa key is longer than age takes".to_owned(),
            ssh_types,
        )),
        Err(_) if text.starts_with("ssh-") => Err(refused(
            "it is not a valid ssh public key".to_owned(),
            "copy the whole line of the .pub file: its type, its base64 key and, if you like, its comment",
        )),
        Err(_) => Err(refused(
            x25519.to_string(),
            "pass an age X25519 recipient, age1... as `age-keygen -y` prints it, or an ssh-ed25519 or ssh-rsa public key (a line of ~/.ssh/id_ed25519.pub)",
        )),
    }
}

/// The recipients of the recipients file `path`: one a line, blank lines
/// and `#` comments skipped, as `age -R` reads them.
fn read_recipients(path: &Path) -> Result<Vec<Box<dyn Recipient>>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::new(
            ErrorKind::Usage,
            format!("cannot read the recipients file {}: {e}", path.display()),
        )
    })?;
    let mut recipients: Vec<Box<dyn Recipient>> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let source = format!("{} line {}", path.display(), number + 1);
        recipients.push(parse_recipient(line, &source)?);
    }
    Ok(recipients)
}

/// The plaintext of the encrypted archive `input` (shown as `path`: a
/// bucket's object read by ranges, say), decrypted as it is read with the
/// keys of the run ([`Keys::of_run`]); it seeks as `input` does.
///
/// # Errors
///
/// As [`ArchiveFile::open`].
pub fn decrypt_reader<R: Read + Seek + Send + 'static>(
    path: &Path,
    input: R,
) -> Result<Box<dyn super::ArchiveRead>, Error> {
    let reader = decrypt(
        path,
        BufReader::with_capacity(1 << 16, input),
        &Keys::of_run(),
    )?;
    Ok(Box::new(reader))
}

/// The plaintext of the age file `input` (read from `path`), with the key
/// it needs: the passphrase for a passphrase-encrypted file, else the
/// identity file.
fn decrypt<R: Read + Seek>(
    path: &Path,
    input: BufReader<R>,
    keys: &Keys,
) -> Result<StreamReader<BufReader<R>>, Error> {
    let failed = |what: String, hint: &str| {
        Error::new(
            ErrorKind::Input,
            format!("cannot decrypt {}: {what}", path.display()),
        )
        .hint(hint)
    };
    let decryptor = Decryptor::new_buffered(input).map_err(|e| {
        failed(
            format!("it is not an age file: {e}"),
            "an archive named .age must be one `gnbr backup --encrypt` or `age -e` wrote; copy it again",
        )
    })?;
    let scrypt = decryptor.is_scrypt();
    let identities: Vec<Box<dyn Identity>> = if scrypt {
        let Some(passphrase) = &keys.passphrase else {
            return Err(failed(
                "it is encrypted with a passphrase and GNBR_PASSPHRASE is not set".to_owned(),
                "set GNBR_PASSPHRASE to the passphrase it was encrypted with",
            ));
        };
        vec![Box::new(age::scrypt::Identity::new(passphrase.clone()))]
    } else {
        let Some(file) = &keys.identity_file else {
            return Err(failed(
                "it is encrypted to age recipients and no identity file was given".to_owned(),
                "pass --identity FILE (or set GNBR_IDENTITY_FILE) with the age identity (or ssh private key) of one of its recipients",
            ));
        };
        read_identities(file)?
    };
    decryptor
        .decrypt(identities.iter().map(|i| i.as_ref()))
        .map_err(|e| match e {
            DecryptError::DecryptionFailed | DecryptError::NoMatchingKeys => failed(
                "the key given does not open it".to_owned(),
                if scrypt {
                    "set GNBR_PASSPHRASE to the passphrase it was encrypted with"
                } else {
                    "pass --identity with the age identity (or ssh private key) of one of its recipients"
                },
            ),
            other => failed(
                other.to_string(),
                "the archive is damaged or was not written by age; copy it again",
            ),
        })
}

/// The identities of the identity file `path`: an age identity file
/// (`AGE-SECRET-KEY-1...` lines), or an OpenSSH (or PEM) private key, which
/// must not be encrypted: nobody is there to type its passphrase.
fn read_identities(path: &Path) -> Result<Vec<Box<dyn Identity>>, Error> {
    let refused = |e: String, hint: &str| {
        Error::new(
            ErrorKind::Usage,
            format!("cannot read the identity file {}: {e}", path.display()),
        )
        .hint(hint)
    };
    let unreadable = |e: String| {
        refused(
            e,
            "pass an age identity file (AGE-SECRET-KEY-1... lines, as `age-keygen` writes) or an unencrypted ssh private key",
        )
    };
    let text = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    if !text.trim_ascii_start().starts_with(b"-----BEGIN ") {
        return age::IdentityFile::from_buffer(text.as_slice())
            .map_err(|e| unreadable(e.to_string()))?
            .into_identities()
            .map_err(|e| unreadable(e.to_string()));
    }
    let identity = age::ssh::Identity::from_buffer(text.as_slice(), None)
        .map_err(|e| unreadable(format!("not an ssh private key age takes: {e}")))?;
    let encrypted = "it is an ssh private key protected by a passphrase, which gnbr cannot ask for (it runs unattended, and the age CLI cannot prompt from a service either)";
    let decrypt_copy = "give gnbr a copy without a passphrase, readable by gnbr's user only: `install -m 600 KEY KEY.gnbr && ssh-keygen -p -N '' -f KEY.gnbr` (ssh-keygen asks the old passphrase once), kept off the backups' disk; or encrypt to an age key (age-keygen) as well";
    match identity {
        age::ssh::Identity::Unencrypted(_) => Ok(vec![Box::new(identity)]),
        age::ssh::Identity::Encrypted(_)
        | age::ssh::Identity::Unsupported(
            age::ssh::UnsupportedKey::EncryptedSsh(_) | age::ssh::UnsupportedKey::EncryptedPem,
        ) => Err(refused(encrypted.to_owned(), decrypt_copy)),
        age::ssh::Identity::Unsupported(
            age::ssh::UnsupportedKey::Type(kind) | age::ssh::UnsupportedKey::Hardware(kind),
        ) => Err(refused(
            format!("ssh keys of type {kind} are not supported"),
            "age takes ssh-ed25519 and ssh-rsa keys; pass one of those, or an age identity file",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        path::{Path, PathBuf},
    };

    use age::secrecy::{ExposeSecret, SecretString};
    use zip::ZipArchive;

    use super::{ArchiveFile, Encryption, Keys};
    use crate::{
        archive::{file_sums, BackupWriter},
        exit_codes,
    };

    const PEOPLE: &str = r#"[{"model": "people.profile", "pk": 1, "fields": {}}]"#;

    /// A real gnbr archive, then that archive encrypted by `encryptor` beside it.
    fn encrypted_archive(dir: &Path, encryptor: age::Encryptor) -> PathBuf {
        let plain = dir.join("2026-01-02_030405.zip");
        let mut writer = BackupWriter::create(&plain, false).unwrap();
        let mut entry = writer.entry("fixtures/people.json").unwrap();
        entry.write_all(PEOPLE.as_bytes()).unwrap();
        entry.close().unwrap();
        writer.finish().unwrap();
        let sealed = dir.join("2026-01-02_030405.zip.age");
        let mut out = encryptor
            .wrap_output(std::fs::File::create(&sealed).unwrap())
            .unwrap();
        out.write_all(&std::fs::read(&plain).unwrap()).unwrap();
        out.finish().unwrap();
        std::fs::remove_file(plain).unwrap();
        sealed
    }

    fn passphrase_encryptor(passphrase: &str) -> age::Encryptor {
        let mut recipient = age::scrypt::Recipient::new(SecretString::from(passphrase));
        recipient.set_work_factor(10);
        age::Encryptor::with_recipients(std::iter::once(&recipient as _)).unwrap()
    }

    fn passphrase(text: &str) -> Keys {
        Keys {
            passphrase: Some(SecretString::from(text)),
            identity_file: None,
        }
    }

    fn people(file: ArchiveFile) -> String {
        let mut zip = ZipArchive::new(file).unwrap();
        let mut text = String::new();
        zip.by_name("fixtures/people.json")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert!(zip.by_name(crate::archive::MANIFEST_NAME).is_ok());
        text
    }

    fn open_error(path: &Path, keys: &Keys) -> crate::errors::Error {
        match ArchiveFile::open_with(path, keys) {
            Ok(file) => ZipArchive::new(file)
                .map(drop)
                .map_err(|e| {
                    crate::errors::Error::new(crate::errors::ErrorKind::Input, e.to_string())
                })
                .unwrap_err(),
            Err(e) => e,
        }
    }

    #[test]
    fn a_passphrase_encrypted_archive_reads_as_the_zip_inside() {
        let dir = tempfile::tempdir().unwrap();
        let sealed = encrypted_archive(dir.path(), passphrase_encryptor("correct horse"));
        let file = ArchiveFile::open_with(&sealed, &passphrase("correct horse")).unwrap();
        assert_eq!(people(file), PEOPLE);

        let wrong = open_error(&sealed, &passphrase("wrong horse"));
        assert_eq!(wrong.exit_code(), exit_codes::INPUT, "{wrong}");
        assert!(
            wrong.message.contains("2026-01-02_030405.zip.age"),
            "{wrong}"
        );
        assert!(wrong.message.contains("does not open it"), "{wrong}");
        let missing = open_error(&sealed, &Keys::default());
        assert_eq!(missing.exit_code(), exit_codes::INPUT, "{missing}");
        assert!(
            missing.message.contains("GNBR_PASSPHRASE is not set"),
            "{missing}"
        );
    }

    #[test]
    fn an_archive_encrypted_to_a_recipient_reads_with_its_identity_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as _)).unwrap();
        let sealed = encrypted_archive(dir.path(), encryptor);
        let key_file = dir.path().join("key.txt");
        std::fs::write(&key_file, identity.to_string().expose_secret()).unwrap();
        let keys = Keys {
            passphrase: None,
            identity_file: Some(key_file),
        };
        assert_eq!(
            people(ArchiveFile::open_with(&sealed, &keys).unwrap()),
            PEOPLE
        );

        let other_file = dir.path().join("other.txt");
        let other = age::x25519::Identity::generate();
        std::fs::write(&other_file, other.to_string().expose_secret()).unwrap();
        let other_keys = Keys {
            passphrase: None,
            identity_file: Some(other_file),
        };
        let wrong = open_error(&sealed, &other_keys);
        assert_eq!(wrong.exit_code(), exit_codes::INPUT, "{wrong}");
        assert!(wrong.message.contains("does not open it"), "{wrong}");
        let missing = open_error(&sealed, &passphrase("a passphrase is not an identity"));
        assert!(missing.message.contains("no identity file"), "{missing}");
        assert!(
            missing
                .hint
                .as_deref()
                .unwrap_or_default()
                .contains("--identity"),
            "{missing:?}"
        );
    }

    /// An archive `gnbr backup --encrypt` would write in `dir` with
    /// `encryption`, sidecars included; returns its path.
    fn written_encrypted(dir: &Path, encryption: &Encryption) -> PathBuf {
        let path = dir.join("2026-01-02_030405.zip.age");
        let mut writer = BackupWriter::create_numbered(&path, Some(encryption)).unwrap();
        let mut entry = writer.entry("fixtures/people.json").unwrap();
        entry.write_all(PEOPLE.as_bytes()).unwrap();
        entry.close().unwrap();
        writer
            .finish_with_sidecars(|finished| {
                let md5 = finished.md5().unwrap();
                Ok(vec![("md5", md5.into_bytes()), ("ini", b"[x]\n".to_vec())])
            })
            .unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_passphrase_encrypted_backup_is_written_as_it_is_encrypted_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut recipient = age::scrypt::Recipient::new(SecretString::from("correct horse"));
        // The lowest work factor age takes: a test, not a real backup.
        recipient.set_work_factor(1);
        let encryption = Encryption {
            recipients: vec![Box::new(recipient)],
        };
        let first = written_encrypted(dir.path(), &encryption);
        let second = written_encrypted(dir.path(), &encryption);
        assert_eq!(first, dir.path().join("2026-01-02_030405.zip.age"));
        assert_eq!(second, dir.path().join("2026-01-02_030405_2.zip.age"));
        assert_eq!(
            names(dir.path()),
            [
                "2026-01-02_030405.zip.age",
                "2026-01-02_030405.zip.age.ini",
                "2026-01-02_030405.zip.age.md5",
                "2026-01-02_030405_2.zip.age",
                "2026-01-02_030405_2.zip.age.ini",
                "2026-01-02_030405_2.zip.age.md5",
            ],
            "no plaintext zip, no temporary file"
        );
        let bytes = std::fs::read(&first).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
        assert!(!bytes.windows(PEOPLE.len()).any(|w| w == PEOPLE.as_bytes()));
        let md5 =
            std::fs::read_to_string(dir.path().join("2026-01-02_030405.zip.age.md5")).unwrap();
        assert_eq!(
            md5,
            file_sums(&first).unwrap().md5,
            "of the file as written"
        );
        let keys = passphrase("correct horse");
        assert_eq!(
            people(ArchiveFile::open_with(&first, &keys).unwrap()),
            PEOPLE
        );
        let wrong = open_error(&second, &passphrase("wrong horse"));
        assert!(wrong.message.contains("does not open it"), "{wrong}");
    }

    #[test]
    fn a_backup_encrypted_to_recipients_opens_with_gnbr_and_with_the_age_cli() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (
            age::x25519::Identity::generate(),
            age::x25519::Identity::generate(),
        );
        let recipients_file = dir.path().join("recipients.txt");
        std::fs::write(
            &recipients_file,
            format!("# the second admin\n\n{}\n", two.to_public()),
        )
        .unwrap();
        let encryption =
            Encryption::for_backup(&[one.to_public().to_string()], Some(&recipients_file)).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let archive = written_encrypted(dir.path(), &encryption);
        for (n, identity) in [&one, &two].into_iter().enumerate() {
            let key_file = elsewhere.path().join(format!("key{n}.txt"));
            std::fs::write(&key_file, identity.to_string().expose_secret()).unwrap();
            opens_with_gnbr_and_the_age_cli(&archive, &key_file);
        }
    }

    /// Checks that `archive` opens with the identity file `key_file`, in
    /// gnbr and in the age CLI (decrypted beside `key_file`, a zip that
    /// Info-ZIP's unzip tests whole).
    fn opens_with_gnbr_and_the_age_cli(archive: &Path, key_file: &Path) {
        let keys = Keys {
            passphrase: None,
            identity_file: Some(key_file.to_owned()),
        };
        assert_eq!(
            people(ArchiveFile::open_with(archive, &keys).unwrap()),
            PEOPLE,
            "{}",
            key_file.display()
        );
        let plain = key_file.with_extension("decrypted.zip");
        let status = std::process::Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(key_file)
            .arg("-o")
            .arg(&plain)
            .arg(archive)
            .status()
            .expect("the age CLI (apt-get install age)");
        assert!(status.success(), "{}", key_file.display());
        let tested = std::process::Command::new("unzip")
            .arg("-tq")
            .arg(&plain)
            .output()
            .expect("Info-ZIP's unzip (apt-get install unzip)");
        assert!(tested.status.success(), "{tested:?}");
        let mut zip = ZipArchive::new(std::fs::File::open(&plain).unwrap()).unwrap();
        assert!(zip.index_for_name("fixtures/people.json").is_some());
        assert!(zip.index_for_name(crate::archive::MANIFEST_NAME).is_some());
        for i in 0..zip.len() {
            std::io::copy(&mut zip.by_index(i).unwrap(), &mut std::io::sink()).unwrap();
        }
    }

    #[test]
    fn a_recipient_that_is_not_x25519_is_refused_naming_it_and_where_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let Err(flag) = Encryption::for_backup(&["age1nope".to_owned()], None) else {
            panic!("age1nope taken");
        };
        assert_eq!(flag.exit_code(), exit_codes::USAGE, "{flag}");
        assert!(
            flag.message.starts_with("--recipient: `age1nope`"),
            "{flag}"
        );
        let file = dir.path().join("recipients.txt");
        std::fs::write(&file, "# admins\nssh-ed25519 AAAAC3Nza admin@host\n").unwrap();
        let Err(ssh) = Encryption::for_backup(&[], Some(&file)) else {
            panic!("an ssh key taken");
        };
        assert!(ssh.message.contains("recipients.txt line 2"), "{ssh}");
        assert!(ssh.message.contains("not a valid ssh public key"), "{ssh}");
        // A key type age does not take (age's own test key).
        std::fs::write(&file, "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHFliOyIZs1gxGF3fmDxFykQhE88wy6AKDGFBfn0R6ZuvRmENABZQa9+pj9hMki+LX0qDJbmHTiWDbYv/cmFt/Q=\n").unwrap();
        let Err(ecdsa) = Encryption::for_backup(&[], Some(&file)) else {
            panic!("an ecdsa key taken");
        };
        assert!(
            ecdsa.message.contains("recipients.txt line 1")
                && ecdsa
                    .message
                    .contains("ssh keys of type ecdsa-sha2-nistp256 are not supported"),
            "{ecdsa}"
        );
        assert!(
            ecdsa
                .hint
                .as_deref()
                .unwrap_or_default()
                .contains("ssh-ed25519"),
            "{ecdsa:?}"
        );
        std::fs::write(&file, "# nobody yet\n").unwrap();
        let Err(empty) = Encryption::for_backup(&[], Some(&file)) else {
            panic!("an empty recipients file taken");
        };
        assert!(empty.message.contains("holds no recipient"), "{empty}");
    }

    /// A key pair `ssh-keygen -t kind` makes in `dir`, protected by
    /// `passphrase` (none when empty): the private key's file and the
    /// public key's line, comment included.
    fn ssh_key(dir: &Path, kind: &str, passphrase: &str) -> (PathBuf, String) {
        let key = dir.join(format!("id_{kind}"));
        let made = std::process::Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                kind,
                "-N",
                passphrase,
                "-C",
                "admin@geonode",
                "-f",
            ])
            .arg(&key)
            .output()
            .expect("OpenSSH's ssh-keygen (apt-get install openssh-client)");
        assert!(made.status.success(), "{made:?}");
        let public = std::fs::read_to_string(dir.join(format!("id_{kind}.pub"))).unwrap();
        (key, public.trim().to_owned())
    }

    #[test]
    fn a_backup_encrypted_to_ssh_keys_opens_with_their_private_keys_and_the_age_cli() {
        let keys = tempfile::tempdir().unwrap();
        let (ed25519, ed25519_public) = ssh_key(keys.path(), "ed25519", "");
        let (rsa, rsa_public) = ssh_key(keys.path(), "rsa", "");
        let recipients_file = keys.path().join("recipients.txt");
        std::fs::write(
            &recipients_file,
            format!("# the admin's RSA key\n{rsa_public}\n"),
        )
        .unwrap();
        let encryption = Encryption::for_backup(&[ed25519_public], Some(&recipients_file)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let archive = written_encrypted(dir.path(), &encryption);
        for key_file in [ed25519, rsa] {
            opens_with_gnbr_and_the_age_cli(&archive, &key_file);
        }
    }

    #[test]
    fn an_ssh_key_protected_by_a_passphrase_is_refused_saying_what_to_do() {
        let keys = tempfile::tempdir().unwrap();
        let (key, public) = ssh_key(keys.path(), "ed25519", "a passphrase");
        let encryption = Encryption::for_backup(&[public], None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let archive = written_encrypted(dir.path(), &encryption);
        let refused = open_error(
            &archive,
            &Keys {
                passphrase: None,
                identity_file: Some(key.clone()),
            },
        );
        assert_eq!(refused.exit_code(), exit_codes::USAGE, "{refused}");
        assert!(
            refused.message.contains(&key.display().to_string())
                && refused.message.contains("protected by a passphrase"),
            "{refused}"
        );
        assert!(
            refused
                .hint
                .as_deref()
                .unwrap_or_default()
                .contains("ssh-keygen -p -N ''"),
            "{refused:?}"
        );
    }

    #[test]
    fn a_truncated_or_foreign_age_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let sealed = encrypted_archive(dir.path(), passphrase_encryptor("p"));
        let bytes = std::fs::read(&sealed).unwrap();
        std::fs::write(&sealed, &bytes[..bytes.len() - 100]).unwrap();
        let truncated = open_error(&sealed, &passphrase("p"));
        assert_eq!(truncated.exit_code(), exit_codes::INPUT, "{truncated}");

        std::fs::write(&sealed, b"PK\x03\x04 a plain zip named .age").unwrap();
        let foreign = open_error(&sealed, &passphrase("p"));
        assert_eq!(foreign.exit_code(), exit_codes::INPUT, "{foreign}");
        assert!(foreign.message.contains("not an age file"), "{foreign}");
    }
}
