//! Archives read from a bucket of the test S3 server (Garage, which
//! `scripts/test-services.sh up` starts): a restore and a verify from
//! `s3://...` do what they do with the same archive on disk.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use gnbr::exit_codes::INPUT;
use object_store::ObjectStoreExt;
use serde_json::Value;

use crate::{
    geonode::{env_file, gn511_archive, Services},
    support::{command, expect_code, restore, restore_command},
};

/// The test S3 server's env file: `GNBR_TEST_S3_ENV`, default
/// `/var/tmp/gnbr-test/s3.env`. A test that needs it fails, never skips,
/// when it is missing.
struct TestBucket {
    env: BTreeMap<String, String>,
}

impl TestBucket {
    fn get() -> Self {
        let env = env_file(
            "GNBR_TEST_S3_ENV",
            "/var/tmp/gnbr-test/s3.env",
            "the test S3 server (Garage); run `scripts/test-services.sh up`",
        );
        Self { env }
    }

    fn var(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from the S3 env file"))
    }

    /// Puts the files `files` under a prefix of their own; returns its `s3://` URL.
    fn upload(&self, files: &[PathBuf]) -> String {
        let prefix = format!(
            "e2e-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(self.var("GNBR_TEST_S3_ENDPOINT"))
            .with_allow_http(true)
            .with_region(self.var("GNBR_TEST_S3_REGION"))
            .with_bucket_name(self.var("GNBR_TEST_S3_BUCKET"))
            .with_access_key_id(self.var("AWS_ACCESS_KEY_ID"))
            .with_secret_access_key(self.var("AWS_SECRET_ACCESS_KEY"))
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for file in files {
            let name = file.file_name().unwrap().to_str().unwrap();
            let key = object_store::path::Path::from(format!("{prefix}/{name}"));
            let bytes = std::fs::read(file).unwrap();
            runtime.block_on(store.put(&key, bytes.into())).unwrap();
        }
        format!("s3://{}/{prefix}", self.var("GNBR_TEST_S3_BUCKET"))
    }

    /// `settings` with the server's `[storage]` added.
    fn add_storage(&self, settings: &Path) {
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

fn no_edit(_: &str, _: &mut Vec<Value>) {}

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

#[test]
fn a_restore_and_a_verify_from_a_bucket_do_what_they_do_from_disk() {
    let services = Services::get();
    let bucket = TestBucket::get();
    let dir = tempfile::tempdir().unwrap();
    // 5 MB that do not compress: read by many ranges, the read-ahead growing.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let noise: Vec<u8> = (0..5 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    let archive = gn511_archive(
        dir.path(),
        "2026-01-10_200000.zip",
        no_edit,
        &[("uploaded/noise.bin", &noise)],
    );
    let url = bucket.upload(&[archive.clone(), archive.with_extension("md5")]);
    let remote = format!("{url}/2026-01-10_200000.zip");
    let (from_bucket, from_disk) = (dir.path().join("bucket"), dir.path().join("disk"));
    std::fs::create_dir_all(&from_bucket).unwrap();
    std::fs::create_dir_all(&from_disk).unwrap();
    let bucket_db = "gnbr_e2e_from_bucket";
    let disk_db = "gnbr_e2e_from_disk";
    services.fresh_db(bucket_db);
    services.fresh_db(disk_db);
    let bucket_settings = services.settings(&from_bucket, bucket_db);
    bucket.add_storage(&bucket_settings);
    let disk_settings = services.settings(&from_disk, disk_db);

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

    let loaded = |db: &str| {
        let mut digest = services.digest(db, &[]);
        let log = digest.remove("gnbr_restore_log").unwrap();
        assert!(log.starts_with("1:"), "{db}: one restore recorded: {log}");
        digest
    };
    let (ours, theirs) = (loaded(bucket_db), loaded(disk_db));
    assert_eq!(ours, theirs, "every table but the restore log");
    assert!(
        !ours["base_resourcebase"].starts_with("0:"),
        "the restore loaded resources"
    );
}
