//! `gnbr backups list` and `gnbr prune`, the binary run on real folders of
//! archives written by gnbr's own archive writer (no database needed), and
//! on the same archives in a bucket of the test S3 server (Garage, which
//! `scripts/test-services.sh up` starts; its env file `s3.env`).

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use assert_cmd::cargo::CommandCargoExt;
use gnbr::archive::{file_sums, BackupWriter};
use serde_json::Value;

/// `gnbr ARGS...`, run in `dir`.
fn gnbr(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("gnbr")
        .expect("the gnbr binary is built")
        .current_dir(dir)
        .args(args)
        .env_remove("GNBR_LOG")
        .output()
        .expect("gnbr runs")
}

/// Its stdout as JSON, when it exited with `code`.
fn json(output: &Output, code: i32) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

/// A gnbr archive `<stem>.zip` in `dir` taken at `created` (as the backup
/// command records it, `YYYY-MM-DD_HHMMSS`), with its `.md5` and `.ini`.
fn gnbr_archive(dir: &Path, stem: &str, created: &str, version: &str) -> PathBuf {
    let mut writer = BackupWriter::create(&dir.join(format!("{stem}.zip")), false).unwrap();
    let manifest = writer.manifest_mut();
    manifest.format = 1;
    manifest.gnbr_version = "0.1.0".to_owned();
    manifest.created = created.to_owned();
    manifest.geonode_version = Some(version.to_owned());
    let mut entry = writer.entry("fixtures/base.json").unwrap();
    entry.write_all(b"[]").unwrap();
    entry.close().unwrap();
    writer
        .finish_with_sidecars(|finished| {
            Ok(vec![
                ("md5", finished.md5()?.into_bytes()),
                ("ini", b"[fixtures]\napps = base\n".to_vec()),
            ])
        })
        .unwrap()
}

/// A zip as GeoNode's own backup writes it: fixtures, no manifest.
fn geonode_archive(path: &Path) {
    let mut zip = zip::ZipWriter::new(fs::File::create(path).unwrap());
    zip.start_file("base.json", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"[]").unwrap();
    zip.finish().unwrap();
}

/// Every file name in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// What no rule may ever touch: files gnbr did not write.
const FOREIGN: [&str; 5] = [
    "holiday.zip",
    "2025-12-01_000000.zip",
    "notes.txt",
    "2025-11-01_000000.md5",
    "2025-11-01_000000.zip.bak",
];

fn add_foreign_files(dir: &Path) {
    geonode_archive(&dir.join("holiday.zip"));
    // Named as gnbr names archives, but not a zip.
    fs::write(dir.join("2025-12-01_000000.zip"), "not a zip").unwrap();
    for name in &FOREIGN[2..] {
        fs::write(dir.join(name), "keep me").unwrap();
    }
}

#[test]
fn backups_list_shows_each_archive_its_date_version_and_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path();
    gnbr_archive(folder, "2026-01-02_030405", "2026-01-02_030405", "4.4.0");
    gnbr_archive(folder, "2026-01-03_000000", "2026-01-03_000000", "5.1.1");
    geonode_archive(&folder.join("2026-01-01_120000.zip"));
    add_foreign_files(folder);
    let shown = folder.to_str().unwrap();

    let report = json(&gnbr(folder, &["backups", "list", "--json"]), 0);
    assert_eq!(report["backup_dir"], ".");
    let rows = report["archives"].as_array().unwrap();
    let by_name = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {rows:?}"))
    };
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 5, "only the .zip files: {names:?}");
    assert_eq!(
        names[1..],
        [
            "2026-01-03_000000.zip",
            "2026-01-02_030405.zip",
            "2026-01-01_120000.zip",
            "2025-12-01_000000.zip",
        ],
        "newest first; holiday.zip by its modification time, now"
    );
    let newest = by_name("2026-01-03_000000.zip");
    assert_eq!(newest["created"], "2026-01-03T00:00:00Z");
    assert_eq!(newest["created_from"], "manifest");
    assert_eq!(newest["kind"], "gnbr");
    assert_eq!(newest["geonode_version"], "5.1.1");
    assert_eq!(newest["encrypted"], false);
    assert_eq!(newest["verified"], "not_checked");
    assert_eq!(newest["problem"], Value::Null);
    assert!(newest["bytes"].as_u64().unwrap() > 100);
    let own = by_name("2026-01-01_120000.zip");
    assert_eq!(own["kind"], "geonode");
    assert_eq!(own["created_from"], "name");
    assert_eq!(own["verified"], "no_sidecar");
    let broken = by_name("2025-12-01_000000.zip");
    assert_eq!(broken["kind"], Value::Null);
    assert!(
        broken["problem"]
            .as_str()
            .unwrap()
            .contains("not a readable zip archive"),
        "{broken}"
    );

    let checked = json(
        &gnbr(
            folder,
            &[
                "backups",
                "list",
                "--backup-dir",
                shown,
                "--check",
                "--json",
            ],
        ),
        0,
    );
    for name in ["2026-01-03_000000.zip", "2026-01-02_030405.zip"] {
        let row = checked["archives"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap();
        assert_eq!(row["verified"], "yes", "{row}");
    }

    // A sidecar that no longer matches: NO, the problem named, exit 4.
    fs::write(folder.join("2026-01-02_030405.md5"), "0".repeat(32)).unwrap();
    let output = gnbr(
        folder,
        &["backups", "list", "--backup-dir", shown, "--check"],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stdout}{stderr}");
    assert!(
        stderr.contains("2026-01-02_030405.zip does not match its"),
        "{stderr}"
    );
    let header = stdout.lines().next().unwrap();
    assert!(
        header.starts_with("DATE (UTC) ")
            && header.contains("ENCRYPTED  VERIFIED")
            && header.ends_with("PROBLEM"),
        "{header}"
    );
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not in {stdout}"))
            .to_owned()
    };
    let damaged = line("2026-01-02_030405.zip");
    assert!(
        damaged.starts_with("2026-01-02 03:04:05") && damaged.contains("4.4.0"),
        "{damaged}"
    );
    assert!(damaged.contains(" NO "), "{damaged}");
    assert!(line("2026-01-01_120000.zip").contains("2026-01-01 12:00:00 (name)"));
    assert!(line("2026-01-01_120000.zip").contains("not recorded"));

    let empty = tempfile::tempdir().unwrap();
    let output = gnbr(empty.path(), &["backups", "list"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("no .zip archives in ."));
    let missing = gnbr(folder, &["backups", "list", "--backup-dir", "missing"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("cannot read the backup folder missing")
    );
}

/// Two backups a day, 02:00 and 20:00 UTC, from 2025-12-20 to 2026-01-10.
fn dated_fixture(folder: &Path) -> Vec<String> {
    let mut stems = Vec::new();
    for (month, first, last) in [(12, 20, 31), (1, 1, 10)] {
        let year = if month == 12 { 2025 } else { 2026 };
        for day in first..=last {
            for hour in [2, 20] {
                let stem = format!("{year}-{month:02}-{day:02}_{hour:02}0000");
                gnbr_archive(folder, &stem, &stem, "4.4.0");
                stems.push(stem);
            }
        }
    }
    stems
}

/// `gnbr prune` with every rule, as the dated fixture is pruned.
const PRUNE_ARGS: [&str; 10] = [
    "prune",
    "--keep-last",
    "2",
    "--keep-daily",
    "3",
    "--keep-weekly",
    "2",
    "--keep-monthly",
    "2",
    "--json",
];

#[test]
fn prune_keeps_what_a_rule_keeps_and_removes_the_rest_with_its_sidecars_only() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path();
    let stems = dated_fixture(folder);
    add_foreign_files(folder);
    // Taken on 2026-01-06 at 20:00 by its manifest, though named for the 9th at 02:00.
    for ext in ["zip", "md5", "ini"] {
        fs::remove_file(folder.join(format!("2026-01-09_020000.{ext}"))).unwrap();
    }
    gnbr_archive(folder, "2026-01-09_020000", "2026-01-06T21:00:00Z", "4.4.0");
    let before = names(folder);
    let args = PRUNE_ARGS;

    let dry = json(&gnbr(folder, &[&args[..], &["--dry-run"]].concat()), 0);
    assert_eq!(names(folder), before, "a dry run removes nothing");
    assert_eq!(dry["dry_run"], true);
    let kept: Vec<(String, Vec<String>)> = dry["keep"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let rules = k["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect();
            (k["name"].as_str().unwrap().to_owned(), rules)
        })
        .collect();
    let expected = [
        (
            "2026-01-10_200000.zip",
            &["last", "daily", "weekly", "monthly"][..],
        ),
        ("2026-01-10_020000.zip", &["last"]),
        ("2026-01-09_200000.zip", &["daily"]),
        ("2026-01-08_200000.zip", &["daily"]),
        // Sunday 2026-01-04 ends the ISO week before 2026-01-05's.
        ("2026-01-04_200000.zip", &["weekly"]),
        ("2025-12-31_200000.zip", &["monthly"]),
    ];
    assert_eq!(
        kept,
        expected
            .iter()
            .map(|(n, r)| ((*n).to_owned(), r.iter().map(|r| (*r).to_owned()).collect()))
            .collect::<Vec<_>>()
    );
    let removed: Vec<&str> = dry["remove"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(removed.len(), stems.len() - expected.len());
    assert!(removed.contains(&"2026-01-09_020000.zip"));
    assert!(dry["remove"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["removed"] == false && r["files"].as_array().unwrap().len() == 3));
    let ignored: Vec<&str> = dry["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(ignored, ["holiday.zip", "2025-12-01_000000.zip"]);

    let text = gnbr(folder, &[&args[..args.len() - 1], &["--dry-run"]].concat());
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.status.code(), Some(0), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("keep") && l.ends_with("2026-01-10_020000.zip  last")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("would remove")
            && l.contains("2026-01-07_200000.zip")
            && l.ends_with("with .md5, .ini")),
        "{stdout}"
    );
    assert!(stdout
        .lines()
        .any(|l| l.starts_with("ignore") && l.contains("holiday.zip")));
    assert!(
        stdout.contains(&format!(
            "6 archives kept, {} would be removed (",
            removed.len()
        )),
        "{stdout}"
    );
    assert_eq!(names(folder), before);

    let done = json(&gnbr(folder, &args), 0);
    assert_eq!(done["dry_run"], false);
    assert!(done["remove"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["removed"] == true));
    let mut left: Vec<String> = expected
        .iter()
        .flat_map(|(name, _)| {
            let stem = name.trim_end_matches(".zip");
            ["zip", "md5", "ini"].map(|ext| format!("{stem}.{ext}"))
        })
        .chain(FOREIGN.iter().map(|n| (*n).to_owned()))
        .collect();
    left.sort();
    assert_eq!(names(folder), left);

    // Once more: nothing left to remove.
    let again = json(&gnbr(folder, &args), 0);
    assert_eq!(again["remove"].as_array().unwrap().len(), 0);
    assert_eq!(again["keep"].as_array().unwrap().len(), 6);
}

#[test]
fn prune_without_a_rule_is_refused_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    gnbr_archive(
        dir.path(),
        "2026-01-01_000000",
        "2026-01-01_000000",
        "4.4.0",
    );
    gnbr_archive(
        dir.path(),
        "2026-01-02_000000",
        "2026-01-02_000000",
        "4.4.0",
    );
    let before = names(dir.path());
    let output = gnbr(dir.path(), &["prune", "--keep-daily", "0", "--json"]);
    let error = json(&output, 2);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at least one rule"),
        "{error}"
    );
    assert_eq!(names(dir.path()), before);
}

/// The test S3 server's env file: `GNBR_TEST_S3_ENV`, default
/// `/var/tmp/gnbr-test/s3.env` (`scripts/test-services.sh env s3`). A test
/// that needs it fails, never skips, when it is missing.
struct S3 {
    env: std::collections::BTreeMap<String, String>,
    runtime: tokio::runtime::Runtime,
}

impl S3 {
    fn get() -> Self {
        let path = std::env::var("GNBR_TEST_S3_ENV")
            .unwrap_or_else(|_| "/var/tmp/gnbr-test/s3.env".to_owned());
        let text = fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{path}: {e}: these tests need the test S3 server (Garage); run `scripts/test-services.sh up` (scripts/test.sh does)")
        });
        let env = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Self { env, runtime }
    }

    fn var(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from the S3 env file"))
    }

    /// A prefix no other run uses.
    fn fresh_prefix(name: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("{name}-{}-{nanos}", std::process::id())
    }

    /// `s3://BUCKET/PREFIX`.
    fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.var("GNBR_TEST_S3_BUCKET"))
    }

    /// A settings.ini in `dir` with the server's `[storage]` and nothing else.
    fn settings(&self, dir: &Path) -> PathBuf {
        let path = dir.join("settings.ini");
        fs::write(
            &path,
            format!(
                "[storage]\nendpoint = {}\nregion = {}\n",
                self.var("GNBR_TEST_S3_ENDPOINT"),
                self.var("GNBR_TEST_S3_REGION")
            ),
        )
        .unwrap();
        path
    }

    /// `gnbr ARGS...` in `dir` with the key `(id, secret)` in its environment
    /// (`None`: none at all, and no profile).
    fn gnbr(&self, dir: &Path, args: &[&str], key: Option<(&str, &str)>) -> Output {
        let mut command = Command::cargo_bin("gnbr").expect("the gnbr binary is built");
        command
            .current_dir(dir)
            .args(args)
            .env_remove("GNBR_LOG")
            .env("HOME", dir);
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("AWS_")) {
            command.env_remove(name);
        }
        if let Some((id, secret)) = key {
            command
                .env("AWS_ACCESS_KEY_ID", id)
                .env("AWS_SECRET_ACCESS_KEY", secret);
        }
        command.output().expect("gnbr runs")
    }

    /// [`S3::gnbr`] with the server's own key.
    fn gnbr_keyed(&self, dir: &Path, args: &[&str]) -> Output {
        let key = (
            self.var("AWS_ACCESS_KEY_ID"),
            self.var("AWS_SECRET_ACCESS_KEY"),
        );
        self.gnbr(dir, args, Some(key))
    }

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

    /// Uploads every file of `folder` under `prefix`.
    fn upload_folder(&self, folder: &Path, prefix: &str) {
        use object_store::ObjectStoreExt;
        let store = self.store();
        for name in names(folder) {
            let key = object_store::path::Path::from(format!("{prefix}/{name}"));
            let bytes = fs::read(folder.join(&name)).unwrap();
            self.runtime
                .block_on(store.put(&key, bytes.into()))
                .unwrap();
        }
    }

    /// Every key under `prefix/`, sub-folders too, relative to it, sorted.
    fn keys(&self, prefix: &str) -> Vec<String> {
        use object_store::ObjectStore;
        let store = self.store();
        let prefix_path = object_store::path::Path::from(prefix);
        let mut keys: Vec<String> = self.runtime.block_on(async {
            let mut listing = store.list(Some(&prefix_path));
            let mut keys = Vec::new();
            while let Some(meta) = futures_util::StreamExt::next(&mut listing).await {
                keys.push(meta.unwrap().location.to_string());
            }
            keys
        });
        for key in &mut keys {
            *key = key[prefix.len() + 1..].to_owned();
        }
        keys.sort();
        keys
    }
}

/// The columns a row of `backups list --json` shows, but its path.
fn row_without_path(row: &Value) -> Value {
    serde_json::json!([
        row["name"],
        row["created"],
        row["created_from"],
        row["kind"],
        row["geonode_version"],
        row["bytes"],
        row["encrypted"],
        row["verified"],
        row["md5_sidecar"].is_string(),
        row["problem"].is_string(),
    ])
}

#[test]
fn a_bucket_is_listed_and_pruned_as_the_same_folder_is() {
    let s3 = S3::get();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("local");
    fs::create_dir(&folder).unwrap();
    dated_fixture(&folder);
    add_foreign_files(&folder);
    let prefix = S3::fresh_prefix("prune");
    s3.upload_folder(&folder, &prefix);
    // Objects beside the prefix's own: in a sub-folder, and under a longer prefix.
    let nested = dir.path().join("nested");
    fs::create_dir(&nested).unwrap();
    gnbr_archive(&nested, "2025-12-20_020000", "2025-12-20_020000", "4.4.0");
    s3.upload_folder(&nested, &format!("{prefix}/nested"));
    s3.upload_folder(&nested, &format!("{prefix}-other"));
    let seeded = s3.keys(&prefix);
    let settings = s3.settings(dir.path());
    let settings = settings.to_str().unwrap();
    let url = s3.url(&prefix);
    let local = folder.to_str().unwrap();

    let listed = |dir_arg: &str, check: bool| {
        let mut args = vec![
            "-c",
            settings,
            "backups",
            "list",
            "--backup-dir",
            dir_arg,
            "--json",
        ];
        if check {
            args.push("--check");
        }
        json(&s3.gnbr_keyed(dir.path(), &args), 0)
    };
    for check in [false, true] {
        let (theirs, ours) = (listed(local, check), listed(&url, check));
        assert_eq!(ours["backup_dir"], url.as_str());
        let rows = |report: &Value| -> Vec<Value> {
            report["archives"]
                .as_array()
                .unwrap()
                .iter()
                .map(row_without_path)
                .collect()
        };
        assert_eq!(rows(&ours), rows(&theirs), "--check: {check}");
        let newest = &ours["archives"][1];
        assert_eq!(newest["name"], "2026-01-10_200000.zip", "{ours}");
        assert_eq!(newest["path"], format!("{url}/2026-01-10_200000.zip"));
        assert_eq!(
            newest["md5_sidecar"],
            format!("{url}/2026-01-10_200000.md5")
        );
        if check {
            assert_eq!(newest["verified"], "yes");
        }
    }

    let prune = |dir_arg: &str, extra: &[&str]| {
        let args = [
            &["-c", settings][..],
            &PRUNE_ARGS,
            &["--backup-dir", dir_arg],
            extra,
        ]
        .concat();
        json(&s3.gnbr_keyed(dir.path(), &args), 0)
    };
    // Each decision and why, the location named in a reason left out.
    let decision = |report: &Value| -> Vec<Value> {
        let at = report["backup_dir"].as_str().unwrap().to_owned();
        ["keep", "remove", "ignored"]
            .iter()
            .flat_map(|part| report[part].as_array().unwrap().clone())
            .map(|item| {
                let reason = item["reason"].as_str().map(|r| r.replace(&at, "DIR"));
                serde_json::json!([item["name"], item["rules"], reason])
            })
            .collect()
    };
    let theirs = prune(local, &["--dry-run"]);
    let dry = prune(&url, &["--dry-run"]);
    assert_eq!(decision(&dry), decision(&theirs));
    assert_eq!(s3.keys(&prefix), seeded, "a dry run removes nothing");
    assert_eq!(dry["keep"].as_array().unwrap().len(), 6, "{dry}");

    let done = prune(&url, &[]);
    assert_eq!(decision(&done), decision(&theirs));
    let mut removed = Vec::new();
    for removal in done["remove"].as_array().unwrap() {
        assert_eq!(removal["removed"], true, "{removal}");
        let files = removal["files"].as_array().unwrap();
        assert_eq!(files.len(), 3, "the archive, its .md5 and .ini: {removal}");
        for file in files {
            let file = file.as_str().unwrap();
            removed.push(file.strip_prefix(&format!("{url}/")).unwrap().to_owned());
        }
    }
    let left: Vec<String> = seeded
        .iter()
        .filter(|key| !removed.contains(key))
        .cloned()
        .collect();
    assert_eq!(s3.keys(&prefix), left);
    for untouched in FOREIGN
        .iter()
        .map(|n| (*n).to_owned())
        .chain(["nested/2025-12-20_020000.zip".to_owned()])
    {
        assert!(left.contains(&untouched), "{untouched} was removed");
    }
    assert_eq!(
        s3.keys(&format!("{prefix}-other")).len(),
        3,
        "another prefix's archives are not the prefix's"
    );
}

#[test]
fn credentials_the_bucket_refuses_or_none_are_named_before_anything_is_touched() {
    let s3 = S3::get();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("local");
    fs::create_dir(&folder).unwrap();
    gnbr_archive(&folder, "2026-01-01_000000", "2026-01-01_000000", "4.4.0");
    gnbr_archive(&folder, "2026-01-02_000000", "2026-01-02_000000", "4.4.0");
    let prefix = S3::fresh_prefix("credentials");
    s3.upload_folder(&folder, &prefix);
    let seeded = s3.keys(&prefix);
    let settings = s3.settings(dir.path());
    let url = s3.url(&prefix);
    let args = [
        "-c",
        settings.to_str().unwrap(),
        "prune",
        "--keep-last",
        "1",
        "--backup-dir",
        &url,
    ];
    let endpoint = s3.var("GNBR_TEST_S3_ENDPOINT");

    let wrong_secret = "0".repeat(64);
    for key in [
        (s3.var("AWS_ACCESS_KEY_ID"), wrong_secret.as_str()),
        ("GK000000000000000000000000", wrong_secret.as_str()),
    ] {
        let output = s3.gnbr(dir.path(), &args, Some(key));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "{endpoint} refused to list {url} with the credentials of AWS_ACCESS_KEY_ID from the environment"
            )),
            "{stderr}"
        );
        assert!(
            stderr.contains("hint: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
            "{stderr}"
        );
        assert!(
            !stderr.contains(&wrong_secret),
            "the secret is never shown: {stderr}"
        );
    }

    let output = s3.gnbr(dir.path(), &args, None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "no credentials for the bucket: AWS_ACCESS_KEY_ID is not set and there is no"
        ),
        "{stderr}"
    );

    // A profile of the shared credentials file, read as the AWS tools read it.
    fs::create_dir(dir.path().join(".aws")).unwrap();
    fs::write(
        dir.path().join(".aws/credentials"),
        format!(
            "[default]\naws_access_key_id = GK000000000000000000000000\naws_secret_access_key = {wrong_secret}\n\n[gnbr]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            s3.var("AWS_ACCESS_KEY_ID"),
            s3.var("AWS_SECRET_ACCESS_KEY")
        ),
    )
    .unwrap();
    let output = s3.gnbr(dir.path(), &args, None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("with the credentials of profile [default] of"),
        "{stderr}"
    );
    assert_eq!(s3.keys(&prefix), seeded, "nothing was touched");

    let mut command = Command::cargo_bin("gnbr").unwrap();
    let output = command
        .current_dir(dir.path())
        .args([&args[..], &["--json"]].concat())
        .env("HOME", dir.path())
        .env("AWS_PROFILE", "gnbr")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let report = json(&output, 0);
    assert_eq!(report["remove"][0]["name"], "2026-01-01_000000.zip");
    assert_eq!(
        s3.keys(&prefix).len(),
        3,
        "the older archive and its sidecars went"
    );
}

/// `program ARGS...` (the age CLI's), run in `dir`, which must succeed; its stdout.
fn run_tool(dir: &Path, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (apt-get install age)"));
    assert!(
        output.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn an_archive_encrypted_by_the_age_cli_is_listed_and_verified_with_its_identity() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path();
    let name = "2026-01-02_030405.zip.age";
    let plain = gnbr_archive(folder, "2026-01-02_030405", "2026-01-02_030405", "5.1.1");
    run_tool(folder, "age-keygen", &["-o", "key.txt"]);
    let recipient = run_tool(folder, "age-keygen", &["-y", "key.txt"]);
    run_tool(
        folder,
        "age",
        &[
            "-e",
            "-r",
            recipient.trim(),
            "-o",
            name,
            "2026-01-02_030405.zip",
        ],
    );
    for file in [
        plain.clone(),
        plain.with_extension("md5"),
        plain.with_extension("ini"),
    ] {
        fs::remove_file(file).unwrap();
    }
    let md5 = file_sums(&folder.join(name)).unwrap().md5;
    fs::write(folder.join(format!("{name}.md5")), md5).unwrap();

    let without_key = json(&gnbr(folder, &["backups", "list", "--json"]), 0);
    let row = &without_key["archives"][0];
    assert_eq!(row["name"], name);
    assert_eq!(row["encrypted"], true);
    assert_eq!(row["kind"], Value::Null);
    let problem = row["problem"].as_str().unwrap();
    assert!(problem.contains("no identity file was given"), "{problem}");

    let listed = json(
        &gnbr(
            folder,
            &[
                "backups",
                "list",
                "--json",
                "--check",
                "--identity",
                "key.txt",
            ],
        ),
        0,
    );
    let row = &listed["archives"][0];
    assert_eq!(row["encrypted"], true);
    assert_eq!(row["kind"], "gnbr");
    assert_eq!(row["geonode_version"], "5.1.1");
    assert_eq!(row["created_from"], "manifest");
    assert_eq!(row["verified"], "yes", "{row}");
    assert_eq!(row["problem"], Value::Null);

    fs::write(
        folder.join("settings.ini"),
        "[fixtures]\napps = base\ndumps = base\n",
    )
    .unwrap();
    let refused = gnbr(folder, &["-c", "settings.ini", "verify", name]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(name) && stderr.contains("--identity"),
        "{stderr}"
    );
    let verified = gnbr(
        folder,
        &[
            "-c",
            "settings.ini",
            "verify",
            name,
            "--identity",
            "key.txt",
        ],
    );
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert_eq!(
        names(folder),
        [
            name.to_owned(),
            format!("{name}.md5"),
            "key.txt".to_owned(),
            "settings.ini".to_owned()
        ],
        "nothing decrypted to disk"
    );
}

/// `len` bytes that do not compress (xorshift), so that an archive holding
/// them is uploaded in several parts.
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

/// Set in the child process [`S3::in_keyed_child`] runs a test in.
const KEYED_CHILD: &str = "GNBR_TEST_KEYED_CHILD";

impl S3 {
    /// Runs the test `name` of this binary again, in a child process with
    /// the server's key in its environment, where gnbr's own code reaches
    /// the bucket ([`S3::bucket`] reads the key from the environment as gnbr
    /// does): true in that child, false in this process once the child
    /// passed. The key is never set in this process's own environment,
    /// which other tests read while they spawn their children.
    fn in_keyed_child(&self, name: &str) -> bool {
        if std::env::var_os(KEYED_CHILD).is_some() {
            return true;
        }
        let output = self
            .keyed_test(name)
            .env(KEYED_CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("test result: ok. 1 passed"),
            "{name}, run with the key: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        false
    }

    /// The test `name` of this binary (ignored ones too), as a command
    /// with the server's key in its environment.
    fn keyed_test(&self, name: &str) -> Command {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", name, "--include-ignored", "--nocapture"])
            .env("AWS_ACCESS_KEY_ID", self.var("AWS_ACCESS_KEY_ID"))
            .env("AWS_SECRET_ACCESS_KEY", self.var("AWS_SECRET_ACCESS_KEY"));
        command
    }

    /// The test bucket as gnbr reaches it, at `endpoint` (the server's, or
    /// a proxy's in front of it), with the key of the environment: only in
    /// a test run by [`S3::in_keyed_child`].
    fn bucket(&self, endpoint: &str) -> std::sync::Arc<gnbr::storage::Bucket> {
        assert!(
            std::env::var_os(KEYED_CHILD).is_some(),
            "S3::bucket outside a keyed child process"
        );
        let settings = gnbr::config::StorageSettings {
            endpoint: Some(endpoint.to_owned()),
            region: Some(self.var("GNBR_TEST_S3_REGION").to_owned()),
            path_style: None,
        };
        gnbr::storage::Bucket::connect(self.var("GNBR_TEST_S3_BUCKET"), &settings).unwrap()
    }

    /// The bucket location `s3://BUCKET/PREFIX`.
    fn location(&self, prefix: &str) -> gnbr::storage::BucketUrl {
        gnbr::storage::BucketUrl::parse(Path::new(&self.url(prefix)))
            .unwrap()
            .unwrap()
    }

    /// Starts a backup `name` (`2026-02-01_000000.zip`...) into `prefix`
    /// through `endpoint`, holding `fixtures/base.json` and `payload` as
    /// `uploaded/noise.bin`, not finished yet.
    fn start_backup(
        &self,
        endpoint: &str,
        prefix: &str,
        name: &str,
        encryption: Option<&gnbr::archive::Encryption>,
        payload: &[u8],
    ) -> std::io::Result<BackupWriter> {
        let bucket = self.bucket(endpoint);
        let mut writer =
            BackupWriter::create_in_bucket(&bucket, &self.location(prefix), name, encryption)
                .unwrap();
        let manifest = writer.manifest_mut();
        manifest.format = 1;
        manifest.gnbr_version = "0.1.0".to_owned();
        manifest.created = name[..17].to_owned();
        manifest.geonode_version = Some("5.1.1".to_owned());
        for (entry_name, bytes) in [
            ("fixtures/base.json", &b"[]"[..]),
            ("uploaded/noise.bin", payload),
        ] {
            let mut entry = writer.entry(entry_name).unwrap();
            entry.write_all(bytes)?;
            entry.close()?;
        }
        Ok(writer)
    }
}

/// Finishes `writer` with its `.md5` and `.ini`, as `gnbr backup` does.
fn finish_backup(writer: BackupWriter) -> Result<PathBuf, gnbr::errors::Error> {
    writer.finish_with_sidecars(|finished| {
        Ok(vec![
            ("md5", finished.md5()?.into_bytes()),
            ("ini", b"[fixtures]\napps = base\n".to_vec()),
        ])
    })
}

/// `gnbr -c SETTINGS backups list --backup-dir URL --json EXTRA...` in
/// `dir`, with the server's key: its report.
fn bucket_list(s3: &S3, dir: &Path, settings: &str, url: &str, extra: &[&str]) -> Value {
    let args = [
        &[
            "-c",
            settings,
            "backups",
            "list",
            "--backup-dir",
            url,
            "--json",
        ][..],
        extra,
    ]
    .concat();
    json(&s3.gnbr_keyed(dir, &args), 0)
}

/// A settings.ini for `verify` of the archives [`S3::start_backup`] writes.
fn verify_settings(s3: &S3, dir: &Path) -> PathBuf {
    let settings = s3.settings(dir);
    let mut text = fs::read_to_string(&settings).unwrap();
    text.push_str("[fixtures]\napps = base\ndumps = base\n");
    fs::write(&settings, text).unwrap();
    settings
}

#[test]
fn a_backup_streamed_into_a_bucket_takes_its_name_whole_with_its_sidecars_and_verifies() {
    let s3 = S3::get();
    if !s3.in_keyed_child(
        "a_backup_streamed_into_a_bucket_takes_its_name_whole_with_its_sidecars_and_verifies",
    ) {
        return;
    }
    let endpoint = s3.var("GNBR_TEST_S3_ENDPOINT");
    let dir = tempfile::tempdir().unwrap();
    let prefix = S3::fresh_prefix("upload");
    let url = s3.url(&prefix);
    let payload = noise(2 * gnbr::storage::FIRST_PART_SIZE + (1 << 20));
    let name = "2026-02-01_000000.zip";

    // Two backups of the same second started before either is finished:
    // the first to finish takes the name, the other is refused and leaves nothing.
    let first = s3
        .start_backup(endpoint, &prefix, name, None, &payload)
        .unwrap();
    let second = s3
        .start_backup(endpoint, &prefix, name, None, b"second")
        .unwrap();
    assert!(s3.keys(&prefix).is_empty(), "nothing named while uploading");
    let written = finish_backup(first).unwrap();
    assert_eq!(written, PathBuf::from(format!("{url}/{name}")));
    let refused = finish_backup(second).unwrap_err();
    assert_eq!(refused.exit_code(), 6, "{refused}");
    assert!(
        refused
            .message
            .contains(&format!("{url}/{name} already exists")),
        "{refused}"
    );
    let stem = "2026-02-01_000000";
    let ours = [
        format!("{stem}.ini"),
        format!("{stem}.md5"),
        name.to_owned(),
    ];
    assert_eq!(s3.keys(&prefix), ours);

    // Started once the name is taken: the next free one.
    let third = s3
        .start_backup(endpoint, &prefix, name, None, b"third")
        .unwrap();
    assert_eq!(
        finish_backup(third).unwrap(),
        PathBuf::from(format!("{url}/{stem}_2.zip"))
    );

    let settings = verify_settings(&s3, dir.path());
    let settings = settings.to_str().unwrap();
    let listed = bucket_list(&s3, dir.path(), settings, &url, &["--check"]);
    let row = &listed["archives"][1];
    assert_eq!(row["name"], name, "{listed}");
    assert_eq!(row["kind"], "gnbr");
    assert_eq!(
        row["verified"], "yes",
        "the .md5 put is the md5 of what was uploaded"
    );
    assert!(row["bytes"].as_u64().unwrap() > payload.len() as u64);
    let verified = s3.gnbr_keyed(
        dir.path(),
        &["-c", settings, "verify", &format!("{url}/{name}"), "--json"],
    );
    assert_eq!(json(&verified, 0)["ok"], true);
}

#[test]
fn an_encrypted_backup_streamed_into_a_bucket_is_read_back_with_its_identity() {
    use age::secrecy::ExposeSecret;
    let s3 = S3::get();
    if !s3
        .in_keyed_child("an_encrypted_backup_streamed_into_a_bucket_is_read_back_with_its_identity")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let prefix = S3::fresh_prefix("encrypted");
    let url = s3.url(&prefix);
    let identity = age::x25519::Identity::generate();
    fs::write(
        dir.path().join("key.txt"),
        identity.to_string().expose_secret(),
    )
    .unwrap();
    let encryption =
        gnbr::archive::Encryption::for_backup(&[identity.to_public().to_string()], None).unwrap();
    let name = "2026-02-02_000000.zip.age";
    let payload = noise(FIRST_PART + 1);
    let writer = s3
        .start_backup(
            s3.var("GNBR_TEST_S3_ENDPOINT"),
            &prefix,
            name,
            Some(&encryption),
            &payload,
        )
        .unwrap();
    finish_backup(writer).unwrap();
    assert_eq!(
        s3.keys(&prefix),
        [
            name.to_owned(),
            format!("{name}.ini"),
            format!("{name}.md5")
        ]
    );

    let settings = verify_settings(&s3, dir.path());
    let settings = settings.to_str().unwrap();
    let list = |extra: &[&str]| bucket_list(&s3, dir.path(), settings, &url, extra);
    let without_key = list(&[]);
    let row = &without_key["archives"][0];
    assert_eq!(row["encrypted"], true);
    assert!(
        row["problem"]
            .as_str()
            .unwrap()
            .contains("no identity file was given"),
        "{row}"
    );
    let with_key = list(&["--check", "--identity", "key.txt"]);
    let row = &with_key["archives"][0];
    assert_eq!(row["kind"], "gnbr", "{row}");
    assert_eq!(row["geonode_version"], "5.1.1");
    assert_eq!(row["verified"], "yes");
    assert_eq!(row["md5_sidecar"], format!("{url}/{name}.md5"));

    let archive = format!("{url}/{name}");
    let refused = s3.gnbr_keyed(dir.path(), &["-c", settings, "verify", &archive]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&archive) && stderr.contains("--identity"),
        "{stderr}"
    );
    let verified = s3.gnbr_keyed(
        dir.path(),
        &[
            "-c",
            settings,
            "verify",
            &archive,
            "--identity",
            "key.txt",
            "--json",
        ],
    );
    assert_eq!(json(&verified, 0)["ok"], true);
    let files: Vec<String> = names(dir.path())
        .into_iter()
        .filter(|name| name != ".cache")
        .collect();
    assert_eq!(
        files,
        ["key.txt", "settings.ini"],
        "nothing decrypted to disk (.cache: the plugins' probe cache, HOME being here)"
    );
}

/// The first part's size: an archive larger is uploaded in two parts at least.
const FIRST_PART: usize = gnbr::storage::FIRST_PART_SIZE;

/// A TCP proxy on loopback in front of `upstream` that passes `limit` bytes
/// from its clients, then cuts every connection and refuses new ones: a
/// connection lost at an exact point of an upload. Returns its address.
fn cutting_proxy(upstream: &str, limit: u64) -> String {
    use std::{
        net::{Shutdown, TcpListener, TcpStream},
        sync::{
            atomic::{AtomicU64, Ordering},
            Arc,
        },
    };
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let passed = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            if passed.load(Ordering::SeqCst) >= limit {
                continue;
            }
            let server = TcpStream::connect(&upstream).unwrap();
            let (mut from_client, mut to_server) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut from_server, mut to_client) = (server, client);
            let passed = passed.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0; 64 << 10];
                loop {
                    let n = match std::io::Read::read(&mut from_client, &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let before = passed.fetch_add(n as u64, Ordering::SeqCst);
                    let allowed = usize::try_from(limit.saturating_sub(before))
                        .unwrap()
                        .min(n);
                    if to_server.write_all(&buf[..allowed]).is_err() || allowed < n {
                        break;
                    }
                }
                let _ = from_client.shutdown(Shutdown::Both);
                let _ = to_server.shutdown(Shutdown::Both);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_server, &mut to_client);
                let _ = to_client.shutdown(Shutdown::Both);
            });
        }
    });
    format!("http://{address}")
}

#[test]
fn a_connection_lost_mid_upload_leaves_nothing_under_the_archive_name() {
    let s3 = S3::get();
    if !s3.in_keyed_child("a_connection_lost_mid_upload_leaves_nothing_under_the_archive_name") {
        return;
    }
    let prefix = S3::fresh_prefix("cut");
    // The first part goes through, the second is cut part way.
    let proxy = cutting_proxy(
        s3.var("GNBR_TEST_S3_ENDPOINT"),
        (FIRST_PART + (FIRST_PART / 2)) as u64,
    );
    let payload = noise(3 * FIRST_PART);
    let name = "2026-02-03_000000.zip";
    let failed = match s3.start_backup(&proxy, &prefix, name, None, &payload) {
        Err(write) => write.to_string(),
        Ok(writer) => finish_backup(writer).unwrap_err().to_string(),
    };
    assert!(
        failed.contains(&format!(
            "s3://{}/{prefix}/{name}",
            s3.var("GNBR_TEST_S3_BUCKET")
        )),
        "{failed}"
    );
    assert!(
        !failed.contains(&format!("{name}: cannot write s3://")),
        "said once: {failed}"
    );
    assert!(s3.keys(&prefix).is_empty(), "no archive, no sidecar");
}

/// Run by [`a_backup_killed_mid_upload_leaves_nothing_under_the_archive_name`]
/// as a child process with `GNBR_FAULT` set: writes a backup of
/// `GNBR_TEST_PARTS` parts into `GNBR_TEST_PREFIX`.
#[test]
#[ignore = "the child process of another test"]
fn child_writing_a_backup_into_a_bucket() {
    let s3 = S3::get();
    let prefix = std::env::var("GNBR_TEST_PREFIX").unwrap();
    let parts: usize = std::env::var("GNBR_TEST_PARTS").unwrap().parse().unwrap();
    let writer = s3
        .start_backup(
            s3.var("GNBR_TEST_S3_ENDPOINT"),
            &prefix,
            "2026-02-04_000000.zip",
            None,
            &noise(parts * FIRST_PART),
        )
        .unwrap();
    finish_backup(writer).unwrap();
}

#[test]
fn a_backup_killed_mid_upload_leaves_nothing_under_the_archive_name() {
    use std::os::unix::process::ExitStatusExt;
    let s3 = S3::get();
    let stem = "2026-02-04_000000";
    let sidecars = [format!("{stem}.ini"), format!("{stem}.md5")];
    for (fault, killed_at, left) in [
        ("part-uploaded:1", "its first part stored", &[][..]),
        (
            "before-archive-rename",
            "its sidecars put, the upload not completed: they stay, as the README says",
            &sidecars[..],
        ),
    ] {
        let prefix = S3::fresh_prefix("killed");
        let output = s3
            .keyed_test("child_writing_a_backup_into_a_bucket")
            .env(KEYED_CHILD, "1")
            .env("GNBR_FAULT", fault)
            .env("GNBR_TEST_PREFIX", &prefix)
            .env("GNBR_TEST_PARTS", "3")
            .output()
            .unwrap();
        assert_eq!(
            output.status.signal(),
            Some(libc::SIGKILL),
            "{killed_at}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(s3.keys(&prefix), left, "{killed_at}");
    }
}

#[test]
fn a_backup_into_a_bucket_it_cannot_use_stops_before_the_geonode_is_asked_anything() {
    let s3 = S3::get();
    let dir = tempfile::tempdir().unwrap();
    let settings = s3.settings(dir.path());
    // A GeoNode gnbr cannot even start: reaching it would be the first thing a backup does.
    let mut text = fs::read_to_string(&settings).unwrap();
    text.push_str("[geonode]\npython = /nonexistent/bin/python\n");
    fs::write(&settings, text).unwrap();
    let settings = settings.to_str().unwrap();
    let prefix = S3::fresh_prefix("refused");
    let url = s3.url(&prefix);
    let endpoint = s3.var("GNBR_TEST_S3_ENDPOINT");
    let backup = |to: &str, key: Option<(&str, &str)>| {
        let output = s3.gnbr(
            dir.path(),
            &["-c", settings, "backup", "--backup-dir", to],
            key,
        );
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let wrong_secret = "0".repeat(64);
    let (code, stderr) = backup(&url, Some((s3.var("AWS_ACCESS_KEY_ID"), &wrong_secret)));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{endpoint} refused to list {url} with the credentials of AWS_ACCESS_KEY_ID from the environment"
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("python") && !stderr.contains(&wrong_secret),
        "{stderr}"
    );

    let key = (s3.var("AWS_ACCESS_KEY_ID"), s3.var("AWS_SECRET_ACCESS_KEY"));
    let (code, stderr) = backup("s3://gnbr-no-such-bucket/site-a", Some(key));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot list s3://gnbr-no-such-bucket/site-a")
            && stderr.contains("check the bucket's name (gnbr-no-such-bucket)"),
        "{stderr}"
    );
    assert!(!stderr.contains("python"), "{stderr}");

    // A bucket it can use: the upload is started, then the GeoNode is asked
    // (and fails here): the upload is aborted, nothing is left anywhere.
    let (code, stderr) = backup(&url, Some(key));
    assert_eq!(code, Some(5), "{stderr}");
    assert!(stderr.contains("/nonexistent/bin/python"), "{stderr}");
    assert!(s3.keys(&prefix).is_empty());
    assert_eq!(names(dir.path()), ["settings.ini"], "no local file written");
}
