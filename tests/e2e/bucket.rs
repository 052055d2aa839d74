//! Archives in a bucket of the test S3 server (Garage, which
//! `scripts/test-services.sh up` starts): a restore and a verify from
//! `s3://...` do what they do with the same archive on disk, and a backup
//! written into the bucket (plain or encrypted) restores as the source was;
//! one killed mid-upload, or refused the bucket, leaves nothing behind.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use gnbr::exit_codes::INPUT;
use object_store::ObjectStoreExt;
use serde_json::Value;

use crate::{
    backup::{copy_tree, differences, source, SOURCE_DB},
    geonode::{env_file, gn511_archive, Services},
    support::{age_tool, backup_command, command, expect_code, restore, restore_command},
};

/// The test S3 server's env file: `GNBR_TEST_S3_ENV`, default
/// `/var/tmp/gnbr-test/s3.env`. A test that needs it fails, never skips,
/// when it is missing.
pub(crate) struct TestBucket {
    env: BTreeMap<String, String>,
}

impl TestBucket {
    pub(crate) fn get() -> Self {
        let env = env_file(
            "GNBR_TEST_S3_ENV",
            "/var/tmp/gnbr-test/s3.env",
            "the test S3 server (Garage); run `scripts/test-services.sh up`",
        );
        Self { env }
    }

    pub(crate) fn var(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from the S3 env file"))
    }

    /// A prefix no other run uses.
    pub(crate) fn fresh_prefix() -> String {
        format!(
            "e2e-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        )
    }

    /// The bucket, reached directly with the server's key.
    fn store(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(self.var("GNBR_TEST_S3_ENDPOINT"))
            .with_allow_http(true)
            .with_region(self.var("GNBR_TEST_S3_REGION"))
            .with_bucket_name(self.var("GNBR_TEST_S3_BUCKET"))
            .with_access_key_id(self.var("AWS_ACCESS_KEY_ID"))
            .with_secret_access_key(self.var("AWS_SECRET_ACCESS_KEY"))
            .build()
            .unwrap()
    }

    /// Puts the files `files` under a prefix of their own; returns its `s3://` URL.
    fn upload(&self, files: &[PathBuf]) -> String {
        let prefix = Self::fresh_prefix();
        let store = self.store();
        let runtime = runtime();
        for file in files {
            let name = file.file_name().unwrap().to_str().unwrap();
            let key = object_store::path::Path::from(format!("{prefix}/{name}"));
            let bytes = std::fs::read(file).unwrap();
            runtime.block_on(store.put(&key, bytes.into())).unwrap();
        }
        format!("s3://{}/{prefix}", self.var("GNBR_TEST_S3_BUCKET"))
    }

    /// The names of the objects under `url` (`s3://BUCKET/PREFIX`), sorted.
    pub(crate) fn names(&self, url: &str) -> Vec<String> {
        let prefix = url.rsplit('/').next().unwrap();
        let store = self.store();
        let listing = runtime()
            .block_on(object_store::ObjectStore::list_with_delimiter(
                &store,
                Some(&object_store::path::Path::from(prefix)),
            ))
            .unwrap();
        let mut names: Vec<String> = listing
            .objects
            .iter()
            .map(|o| o.location.filename().unwrap().to_owned())
            .collect();
        names.sort();
        names
    }

    /// `settings` with the server's `[storage]` added.
    pub(crate) fn add_storage(&self, settings: &Path) {
        let mut text = std::fs::read_to_string(settings).unwrap();
        text.push_str(&format!(
            "\n[storage]\nendpoint = {}\nregion = {}\n",
            self.var("GNBR_TEST_S3_ENDPOINT"),
            self.var("GNBR_TEST_S3_REGION")
        ));
        std::fs::write(settings, text).unwrap();
    }

    /// `command` with the server's key in its environment.
    fn keyed<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command
            .env("AWS_ACCESS_KEY_ID", self.var("AWS_ACCESS_KEY_ID"))
            .env("AWS_SECRET_ACCESS_KEY", self.var("AWS_SECRET_ACCESS_KEY"))
    }
}

/// A runtime for the direct calls to the bucket.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn no_edit(_: &str, _: &mut Vec<Value>) {}

/// `len` bytes that do not compress (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// A report without what differs between two runs and two places: the
/// archive's and its sidecar's paths, and every `seconds`.
fn comparable(mut report: Value) -> Value {
    fn without_seconds(value: &mut Value) {
        match value {
            Value::Object(fields) => {
                fields.remove("seconds");
                fields.values_mut().for_each(without_seconds);
            }
            Value::Array(items) => items.iter_mut().for_each(without_seconds),
            _ => {}
        }
    }
    for key in ["archive", "md5_sidecar"] {
        report.as_object_mut().unwrap().remove(key);
    }
    without_seconds(&mut report);
    report
}

/// The GeoNode 5.1.1 test archive `name` in `dir`, with `noise` as `uploaded/noise.bin`.
fn noisy_archive(dir: &Path, name: &str, noise: &[u8]) -> PathBuf {
    gn511_archive(dir, name, no_edit, &[("uploaded/noise.bin", noise)])
}

/// Two restore targets under `dir`: `bucket/` with the fresh database
/// `bucket_db` and settings that reach the test bucket, and `disk/` with
/// `disk_db`: each folder and its settings.ini.
struct Targets {
    from_bucket: PathBuf,
    bucket_settings: PathBuf,
    from_disk: PathBuf,
    disk_settings: PathBuf,
}

impl Targets {
    fn new(
        services: &Services,
        bucket: &TestBucket,
        dir: &Path,
        bucket_db: &str,
        disk_db: &str,
    ) -> Self {
        let (from_bucket, from_disk) = (dir.join("bucket"), dir.join("disk"));
        std::fs::create_dir_all(&from_bucket).unwrap();
        std::fs::create_dir_all(&from_disk).unwrap();
        services.fresh_db(bucket_db);
        services.fresh_db(disk_db);
        let bucket_settings = services.settings(&from_bucket, bucket_db);
        bucket.add_storage(&bucket_settings);
        let disk_settings = services.settings(&from_disk, disk_db);
        Self {
            from_bucket,
            bucket_settings,
            from_disk,
            disk_settings,
        }
    }
}

#[test]
fn a_restore_and_a_verify_from_a_bucket_do_what_they_do_from_disk() {
    let services = Services::get();
    let bucket = TestBucket::get();
    let dir = tempfile::tempdir().unwrap();
    // 5 MB that do not compress: read by many ranges, the read-ahead growing.
    let noise = noise(5 << 20);
    let archive = noisy_archive(dir.path(), "2026-01-10_200000.zip", &noise);
    let url = bucket.upload(&[archive.clone(), archive.with_extension("md5")]);
    let remote = format!("{url}/2026-01-10_200000.zip");
    let (bucket_db, disk_db) = ("gnbr_e2e_from_bucket", "gnbr_e2e_from_disk");
    let Targets {
        from_bucket,
        bucket_settings,
        from_disk,
        disk_settings,
    } = Targets::new(&services, &bucket, dir.path(), bucket_db, disk_db);

    let verify = |cwd: &Path, settings: &Path, archive: &str| {
        let args = [
            "-c",
            settings.to_str().unwrap(),
            "verify",
            archive,
            "--json",
        ];
        let (stdout, _) = expect_code(&bucket.keyed(&mut command(cwd, &args)).output().unwrap(), 0);
        serde_json::from_str::<Value>(&stdout).unwrap()
    };
    let ours = verify(&from_bucket, &bucket_settings, &remote);
    let theirs = verify(&from_disk, &disk_settings, archive.to_str().unwrap());
    assert_eq!(ours["ok"], true, "{ours}");
    assert_eq!(ours["archive"], remote.as_str());
    assert_eq!(ours["md5_sidecar"], format!("{url}/2026-01-10_200000.md5"));
    assert_eq!(comparable(ours), comparable(theirs));

    // A copy whose .md5 does not match is refused before the target is asked anything.
    let damaged = dir.path().join("damaged/2026-01-10_200000.zip");
    std::fs::create_dir_all(damaged.parent().unwrap()).unwrap();
    std::fs::copy(&archive, &damaged).unwrap();
    std::fs::write(damaged.with_extension("md5"), "0".repeat(32)).unwrap();
    let damaged_url = bucket.upload(&[damaged.clone(), damaged.with_extension("md5")]);
    let output = bucket
        .keyed(&mut restore_command(
            &from_bucket,
            &bucket_settings,
            format!("{damaged_url}/2026-01-10_200000.zip"),
            &[],
        ))
        .output()
        .unwrap();
    let (_, stderr) = expect_code(&output, INPUT);
    assert!(
        stderr.contains(&format!(
            "{damaged_url}/2026-01-10_200000.zip does not match its {damaged_url}/2026-01-10_200000.md5"
        )),
        "{stderr}"
    );

    let output = bucket
        .keyed(&mut restore_command(
            &from_bucket,
            &bucket_settings,
            &remote,
            &["--json"],
        ))
        .output()
        .unwrap();
    let (stdout, _) = expect_code(&output, 0);
    let ours: Value = serde_json::from_str(&stdout).unwrap();
    let (stdout, _) = expect_code(
        &restore(&from_disk, &disk_settings, &archive, &["--json"]),
        0,
    );
    let theirs: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(ours["archive"], remote.as_str());
    assert_eq!(ours["sha256"], theirs["sha256"]);
    let restored = std::fs::read(from_bucket.join("media/noise.bin")).unwrap();
    assert!(restored == noise, "uploaded/ restored byte for byte");

    loaded_the_same(&services, bucket_db, disk_db);
}

/// Checks that the databases `ours` and `theirs`, each restored once, hold
/// the same rows in every table but the restore log, resources among them.
fn loaded_the_same(services: &Services, ours: &str, theirs: &str) {
    let loaded = |db: &str| {
        let mut digest = services.digest(db, &[]);
        let log = digest.remove("gnbr_restore_log").unwrap();
        assert!(log.starts_with("1:"), "{db}: one restore recorded: {log}");
        digest
    };
    let (ours, theirs) = (loaded(ours), loaded(theirs));
    assert_eq!(ours, theirs, "every table but the restore log");
    assert!(
        !ours["base_resourcebase"].starts_with("0:"),
        "the restore loaded resources"
    );
}

/// A copy of the backup source's folders in a folder of its own, with
/// `media/noise.bin` of `noise_bytes` added, and its settings.ini reaching
/// the test bucket.
fn bucket_source(
    services: &Services,
    bucket: &TestBucket,
    noise_bytes: usize,
) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    for folder in ["media", "gs_data"] {
        copy_tree(&source(services).join(folder), &dir.path().join(folder));
    }
    let payload = noise(noise_bytes);
    std::fs::write(dir.path().join("media/noise.bin"), &payload).unwrap();
    let settings = services.settings(dir.path(), SOURCE_DB);
    bucket.add_storage(&settings);
    (dir, settings, payload)
}

/// `gnbr backup` of `settings` into `url` with the bucket's key, `extra`
/// added: its output.
fn backup_into(
    bucket: &TestBucket,
    cwd: &Path,
    settings: &Path,
    url: &str,
    extra: &[&str],
) -> std::process::Output {
    bucket
        .keyed(&mut backup_command(cwd, settings, url, extra))
        .output()
        .unwrap()
}

/// Restores `archive` into the fresh database `db` with the bucket's key and
/// `extra`; checks the tables and `media/noise.bin` are the source's.
fn restore_from_bucket(
    services: &Services,
    bucket: &TestBucket,
    archive: &str,
    db: &str,
    payload: &[u8],
    extra: &[&str],
) {
    let dir = tempfile::tempdir().unwrap();
    services.fresh_db(db);
    let target = services.settings(dir.path(), db);
    bucket.add_storage(&target);
    let args = [&["--no-snapshot", "--keep-urls"][..], extra].concat();
    let output = bucket
        .keyed(&mut restore_command(dir.path(), &target, archive, &args))
        .output()
        .unwrap();
    expect_code(&output, 0);
    assert_eq!(
        differences(services, SOURCE_DB, db),
        std::collections::BTreeSet::new(),
        "tables that differ from the source"
    );
    let restored = std::fs::read(dir.path().join("media/noise.bin")).unwrap();
    assert!(
        restored == payload,
        "media/noise.bin restored byte for byte"
    );
}

#[test]
fn a_backup_into_a_bucket_restores_as_the_source_was() {
    let services = Services::get();
    let bucket = TestBucket::get();
    // Three parts of the upload at least (8 MiB each).
    let (dir, settings, payload) = bucket_source(&services, &bucket, 20 << 20);
    let url = format!(
        "s3://{}/{}",
        bucket.var("GNBR_TEST_S3_BUCKET"),
        TestBucket::fresh_prefix()
    );
    // Its scratch folders go to TMPDIR: they are gone when it ends.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let output = bucket
        .keyed(&mut backup_command(dir.path(), &settings, &url, &[]))
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    let (stdout, _) = expect_code(&output, 0);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let name = "2023-11-14_221320.zip";
    assert_eq!(report["archive"], format!("{url}/{name}"));
    assert_eq!(report["md5_file"], format!("{url}/2023-11-14_221320.md5"));
    assert!(
        report["bytes"].as_u64().unwrap() > payload.len() as u64,
        "{report}"
    );
    assert_eq!(
        bucket.names(&url),
        ["2023-11-14_221320.ini", "2023-11-14_221320.md5", name]
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "nothing left in TMPDIR"
    );

    // A second backup of the same second takes the next name.
    let (stdout, _) = expect_code(
        &backup_into(&bucket, dir.path(), &settings, &url, &["--skip-geoserver"]),
        0,
    );
    let second: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(second["archive"], format!("{url}/2023-11-14_221320_2.zip"));

    restore_from_bucket(
        &services,
        &bucket,
        &format!("{url}/{name}"),
        "gnbr_e2e_from_bucket_backup",
        &payload,
        &[],
    );
}

#[test]
fn an_encrypted_backup_into_a_bucket_restores_with_an_identity_only_an_ssh_key_too() {
    let services = Services::get();
    let bucket = TestBucket::get();
    let (dir, settings, payload) = bucket_source(&services, &bucket, 1 << 20);
    let key = dir.path().join("key.txt");
    let key = key.to_str().unwrap();
    age_tool("age-keygen", &["-o", key]);
    let recipient = age_tool("age-keygen", &["-y", key]);
    // An admin's ssh key, in a recipients file as `age -R` reads it.
    let ssh_key = dir.path().join("id_ed25519");
    let ssh_key = ssh_key.to_str().unwrap();
    let made = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "admin@geonode",
            "-f",
            ssh_key,
        ])
        .output()
        .expect("OpenSSH's ssh-keygen (apt-get install openssh-client)");
    assert!(made.status.success(), "{made:?}");
    let recipients = dir.path().join("recipients.txt");
    std::fs::copy(format!("{ssh_key}.pub"), &recipients).unwrap();
    let url = format!(
        "s3://{}/{}",
        bucket.var("GNBR_TEST_S3_BUCKET"),
        TestBucket::fresh_prefix()
    );
    let output = backup_into(
        &bucket,
        dir.path(),
        &settings,
        &url,
        &[
            "--encrypt",
            "--recipient",
            recipient.trim(),
            "--recipients-file",
            recipients.to_str().unwrap(),
        ],
    );
    let (stdout, _) = expect_code(&output, 0);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let name = "2023-11-14_221320.zip.age";
    let archive = format!("{url}/{name}");
    assert_eq!(report["archive"], archive.as_str());
    assert_eq!(
        bucket.names(&url),
        [
            name.to_owned(),
            format!("{name}.ini"),
            format!("{name}.md5")
        ]
    );
    let object = runtime()
        .block_on(async {
            bucket
                .store()
                .get(&object_store::path::Path::from(
                    archive
                        .split_once(&format!("{}/", bucket.var("GNBR_TEST_S3_BUCKET")))
                        .unwrap()
                        .1,
                ))
                .await?
                .bytes()
                .await
        })
        .unwrap();
    assert!(
        object.starts_with(b"age-encryption.org/v1\n"),
        "encrypted before it left gnbr"
    );
    // The age CLI opens it with either key.
    let copy = dir.path().join("copy.zip.age");
    std::fs::write(&copy, &object).unwrap();
    for identity in [key, ssh_key] {
        let plain = dir.path().join("plain.zip");
        age_tool(
            "age",
            &[
                "-d",
                "-i",
                identity,
                "-o",
                plain.to_str().unwrap(),
                copy.to_str().unwrap(),
            ],
        );
        let zip = zip::ZipArchive::new(std::fs::File::open(&plain).unwrap()).unwrap();
        assert!(
            zip.index_for_name("uploaded/noise.bin").is_some(),
            "{identity}"
        );
        std::fs::remove_file(plain).unwrap();
    }

    let refused_dir = tempfile::tempdir().unwrap();
    services.fresh_db("gnbr_e2e_bucket_no_key");
    let target = services.settings(refused_dir.path(), "gnbr_e2e_bucket_no_key");
    bucket.add_storage(&target);
    let output = bucket
        .keyed(&mut restore_command(
            refused_dir.path(),
            &target,
            &archive,
            &["--no-snapshot"],
        ))
        .output()
        .unwrap();
    let (_, stderr) = expect_code(&output, INPUT);
    assert!(
        stderr.contains(&archive) && stderr.contains("--identity"),
        "{stderr}"
    );

    restore_from_bucket(
        &services,
        &bucket,
        &archive,
        "gnbr_e2e_from_bucket_encrypted",
        &payload,
        &["--identity", ssh_key],
    );
}

#[test]
fn a_backup_killed_mid_upload_or_refused_the_bucket_leaves_nothing() {
    use std::os::unix::process::ExitStatusExt;
    let services = Services::get();
    let bucket = TestBucket::get();
    let (dir, settings, _) = bucket_source(&services, &bucket, 20 << 20);
    let url = format!(
        "s3://{}/{}",
        bucket.var("GNBR_TEST_S3_BUCKET"),
        TestBucket::fresh_prefix()
    );
    // Killed once its first part is stored: the upload is left unfinished,
    // which no listing shows and no name has. A kill leaves gnbr's scratch
    // folders in TMPDIR: none holds the archive's bytes (8 MiB were sent).
    let killed_tmp = dir.path().join("killed-tmp");
    std::fs::create_dir(&killed_tmp).unwrap();
    let output = bucket
        .keyed(&mut backup_command(dir.path(), &settings, &url, &[]))
        .env("GNBR_FAULT", "part-uploaded:1")
        .env("TMPDIR", &killed_tmp)
        .output()
        .unwrap();
    assert_eq!(
        output.status.signal(),
        Some(9),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(bucket.names(&url), Vec::<String>::new());
    let staged: Vec<(String, u64)> = walkdir::WalkDir::new(&killed_tmp)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().display().to_string(), e.metadata().unwrap().len()))
        .collect();
    let bytes: u64 = staged.iter().map(|(_, size)| size).sum();
    assert!(bytes < 1 << 20, "nothing staged in TMPDIR: {staged:?}");

    // Credentials the bucket refuses: said before the GeoNode is asked anything.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let output = backup_command(dir.path(), &settings, &url, &[])
        .env("AWS_ACCESS_KEY_ID", bucket.var("AWS_ACCESS_KEY_ID"))
        .env("AWS_SECRET_ACCESS_KEY", "0".repeat(64))
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    let (_, stderr) = expect_code(&output, gnbr::exit_codes::USAGE);
    assert!(
        stderr.contains(&format!(
            "refused to list {url} with the credentials of AWS_ACCESS_KEY_ID"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("dumping"), "no dump started: {stderr}");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "no local file written"
    );
    assert_eq!(bucket.names(&url), Vec::<String>::new());
}

/// `gnbr -c SETTINGS migrate --backup-file IN --output OUT --json EXTRA...`
/// in `cwd` with the bucket's key: its output.
fn migrate_into(
    bucket: &TestBucket,
    cwd: &Path,
    settings: &Path,
    input: &Path,
    output: &str,
    extra: &[&str],
) -> std::process::Output {
    let args = [
        &[
            "-c",
            settings.to_str().unwrap(),
            "migrate",
            "--backup-file",
            input.to_str().unwrap(),
            "--output",
            output,
            "--json",
        ][..],
        extra,
    ]
    .concat();
    bucket.keyed(&mut command(cwd, &args)).output().unwrap()
}

#[test]
fn a_migrated_backup_streamed_into_a_bucket_is_the_newest_there_and_restores_as_the_local_one() {
    let services = Services::get();
    let bucket = TestBucket::get();
    let dir = tempfile::tempdir().unwrap();
    // Three parts of the upload at least (8 MiB each).
    let noise = noise(20 << 20);
    let input = noisy_archive(dir.path(), "2026-01-10_200000.zip", &noise);
    // An older archive already in the prefix (older by when it was put,
    // though its name says a later date).
    let older = dir.path().join("older");
    std::fs::create_dir(&older).unwrap();
    let older_archive = gn511_archive(&older, "2026-01-11_000000.zip", no_edit, &[]);
    let url = bucket.upload(&[older_archive.clone(), older_archive.with_extension("md5")]);
    let (bucket_db, disk_db) = ("gnbr_e2e_migrated_into_bucket", "gnbr_e2e_migrated_on_disk");
    let Targets {
        from_bucket,
        bucket_settings,
        from_disk,
        disk_settings,
    } = Targets::new(&services, &bucket, dir.path(), bucket_db, disk_db);

    let remote = format!("{url}/migrated.zip");
    let output = migrate_into(
        &bucket,
        &from_bucket,
        &bucket_settings,
        &input,
        &remote,
        &[],
    );
    let (stdout, _) = expect_code(&output, 0);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["output"], remote.as_str());
    assert_eq!(
        bucket.names(&url),
        [
            "2026-01-11_000000.md5",
            "2026-01-11_000000.zip",
            "migrated.ini",
            "migrated.md5",
            "migrated.zip"
        ]
    );
    let local = from_disk.join("migrated.zip");
    let output = command(
        &from_disk,
        &[
            "-c",
            disk_settings.to_str().unwrap(),
            "migrate",
            "--backup-file",
            input.to_str().unwrap(),
            "--output",
            local.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    expect_code(&output, 0);

    // Its name is never taken twice, nor replaced with --force.
    let (_, stderr) = expect_code(
        &migrate_into(
            &bucket,
            &from_bucket,
            &bucket_settings,
            &input,
            &remote,
            &[],
        ),
        gnbr::exit_codes::REFUSED,
    );
    assert!(
        stderr.contains(&format!("{remote} (or its .md5 or .ini) already exists")),
        "{stderr}"
    );
    let (_, stderr) = expect_code(
        &migrate_into(
            &bucket,
            &from_bucket,
            &bucket_settings,
            &input,
            &remote,
            &["-f"],
        ),
        gnbr::exit_codes::USAGE,
    );
    assert!(
        stderr.contains("never replaces an object of a bucket"),
        "{stderr}"
    );
    let (_, stderr) = expect_code(
        &migrate_into(&bucket, &from_bucket, &bucket_settings, &input, &url, &[]),
        gnbr::exit_codes::USAGE,
    );
    assert!(stderr.contains("NAME.zip"), "{stderr}");

    // The newest archive of the prefix is the migrated one: restored from
    // there, it loads what the local migrated archive loads.
    let args = [
        "-c",
        bucket_settings.to_str().unwrap(),
        "restore",
        "--backup-files-dir",
        &url,
        "-f",
        "--json",
    ];
    let output = bucket
        .keyed(&mut command(&from_bucket, &args))
        .output()
        .unwrap();
    let (stdout, _) = expect_code(&output, 0);
    let ours: Value = serde_json::from_str(&stdout).unwrap();
    let (stdout, _) = expect_code(&restore(&from_disk, &disk_settings, &local, &["--json"]), 0);
    let theirs: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(ours["archive"], remote.as_str());
    assert_eq!(theirs["archive"], local.to_str().unwrap());
    let restored = std::fs::read(from_bucket.join("media/noise.bin")).unwrap();
    assert!(restored == noise, "uploaded/ restored byte for byte");
    loaded_the_same(&services, bucket_db, disk_db);

    // An empty prefix has no newest archive: said before anything is touched.
    let empty = format!("{url}-empty");
    let args = [
        "-c",
        bucket_settings.to_str().unwrap(),
        "restore",
        "--backup-files-dir",
        &empty,
        "-f",
    ];
    let output = bucket
        .keyed(&mut command(&from_bucket, &args))
        .output()
        .unwrap();
    let (_, stderr) = expect_code(&output, gnbr::exit_codes::USAGE);
    assert!(
        stderr.contains(&format!("no .zip or .zip.age archive in {empty}")),
        "{stderr}"
    );
}

#[test]
fn a_migrate_killed_or_failing_mid_upload_leaves_nothing_under_the_archive_name() {
    use std::os::unix::process::ExitStatusExt;
    let bucket = TestBucket::get();
    let dir = tempfile::tempdir().unwrap();
    let input = noisy_archive(dir.path(), "2026-01-10_200000.zip", &noise(20 << 20));
    let settings = dir.path().join("settings.ini");
    std::fs::write(&settings, "").unwrap();
    bucket.add_storage(&settings);
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    for (fault, left) in [
        // Its first part stored: an unfinished upload, which no listing shows.
        ("part-uploaded:1", &[][..]),
        // Its sidecars put, the upload not completed: they stay (as a kill
        // of a backup leaves them), the archive has no name.
        (
            "before-archive-rename",
            &["migrated.ini", "migrated.md5"][..],
        ),
    ] {
        let url = format!(
            "s3://{}/{}",
            bucket.var("GNBR_TEST_S3_BUCKET"),
            TestBucket::fresh_prefix()
        );
        let output = bucket
            .keyed(&mut command(
                dir.path(),
                &[
                    "-c",
                    settings.to_str().unwrap(),
                    "migrate",
                    "--backup-file",
                    input.to_str().unwrap(),
                    "--output",
                    &format!("{url}/migrated.zip"),
                ],
            ))
            .env("GNBR_FAULT", fault)
            .env("TMPDIR", &tmp)
            .output()
            .unwrap();
        assert_eq!(
            output.status.signal(),
            Some(9),
            "{fault}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(bucket.names(&url), left, "{fault}");
    }
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "nothing staged locally"
    );

    // An input whose last entry (the noise) fails its CRC once 20 MiB of it
    // were read, and two parts sent: the upload is aborted, nothing is left.
    let mut bytes = std::fs::read(&input).unwrap();
    let inside_the_noise = bytes.len() - (2 << 20);
    bytes[inside_the_noise] ^= 0xff;
    std::fs::write(&input, bytes).unwrap();
    let url = format!(
        "s3://{}/{}",
        bucket.var("GNBR_TEST_S3_BUCKET"),
        TestBucket::fresh_prefix()
    );
    let output = migrate_into(
        &bucket,
        dir.path(),
        &settings,
        &input,
        &format!("{url}/migrated.zip"),
        &[],
    );
    let (_, stderr) = expect_code(&output, INPUT);
    assert!(stderr.contains("uploaded/noise.bin"), "{stderr}");
    assert_eq!(bucket.names(&url), Vec::<String>::new());
}
