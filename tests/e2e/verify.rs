//! `gnbr verify`: real archives checked part by part, damaged ones named,
//! and `--restore-check` against the real GeoNode 5.1.1 database, which it
//! must leave as it was.

use std::{
    io::{Read, Write},
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::Stdio,
    sync::OnceLock,
};

use gnbr::exit_codes::{INPUT, RUN_FAILED, SUCCESS};
use serde_json::Value;

use crate::{
    geonode::{gn511_archive, set_resource_field, Services},
    support::{age_encrypted, backup, command, expect_code, gnbr, repo, signal_at_line},
};

/// The seeded instance the archives are taken from.
const SOURCE_DB: &str = "gnbr_e2e_verify_source";

const SIGINT: i32 = 2;

/// A gnbr backup (manifest, sidecars, `uploaded/`) of a seeded GeoNode
/// 5.1.1, taken once, with the settings.ini it was taken with.
fn sound_archive(services: &Services) -> &'static (PathBuf, PathBuf) {
    static ARCHIVE: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        services.fresh_db(SOURCE_DB);
        services.python(&dir, SOURCE_DB, &repo().join("tests/data/seed_geonode.py"));
        std::fs::create_dir_all(dir.join("media/thumbs")).unwrap();
        std::fs::write(dir.join("media/thumbs/river.png"), b"\x89PNG\r\nriver").unwrap();
        let settings = services.settings(&dir, SOURCE_DB);
        let (report, _) = backup(&dir, &settings, dir.join("backups"), &["--skip-geoserver"]);
        (PathBuf::from(report["archive"].as_str().unwrap()), settings)
    })
}

/// `gnbr -c SETTINGS verify ARCHIVE --json EXTRA...` in `dir`, exiting
/// with `code`: its JSON report and its stderr.
fn verify(
    dir: &Path,
    settings: &Path,
    archive: &Path,
    extra: &[&str],
    code: i32,
) -> (Value, String) {
    let mut args = vec![
        "-c",
        settings.to_str().unwrap(),
        "verify",
        archive.to_str().unwrap(),
        "--json",
    ];
    args.extend(extra);
    let (stdout, stderr) = expect_code(&gnbr(dir, &args), code);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: not a JSON report\n{stdout}\n{stderr}"));
    (report, stderr)
}

/// The problems of a report, as `(part, message)`.
fn problems(report: &Value) -> Vec<(String, String)> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["part"].as_str().unwrap().to_owned(),
                p["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A copy of the zip `archive` named `name`, with `change` applied to the
/// content of its entry `entry` (CRC-32 recomputed: only a checksum of
/// gnbr's own can tell), and its old `.md5` sidecar unless `new_md5`.
fn changed_copy(
    archive: &Path,
    name: &str,
    entry: &str,
    change: impl Fn(&mut Vec<u8>),
    new_md5: bool,
) -> PathBuf {
    let copy = archive.with_file_name(name);
    let mut input = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut output = zip::ZipWriter::new(std::fs::File::create(&copy).unwrap());
    for index in 0..input.len() {
        let raw = input.by_index_raw(index).unwrap();
        if raw.name().unwrap() != entry {
            output.raw_copy_file(raw).unwrap();
            continue;
        }
        drop(raw);
        let mut bytes = Vec::new();
        input
            .by_index(index)
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        change(&mut bytes);
        output
            .start_file(entry, zip::write::SimpleFileOptions::default())
            .unwrap();
        output.write_all(&bytes).unwrap();
    }
    output.finish().unwrap();
    let sidecar = if new_md5 {
        copy.clone()
    } else {
        archive.to_owned()
    };
    let md5 = std::process::Command::new("md5sum")
        .arg(&sidecar)
        .output()
        .unwrap();
    let sum = String::from_utf8(md5.stdout).unwrap();
    std::fs::write(
        copy.with_extension("md5"),
        sum.split_whitespace().next().unwrap(),
    )
    .unwrap();
    copy
}

/// The databases of the test cluster whose names start with `prefix`
/// (other tests create and drop theirs meanwhile).
fn databases(services: &Services, prefix: &str) -> String {
    services.psql(
        "postgres",
        &format!(
            "SELECT datname FROM pg_database WHERE starts_with(datname, '{prefix}') ORDER BY 1"
        ),
    )
}

#[test]
fn a_sound_archive_verifies_part_by_part() {
    let services = Services::get();
    let (archive, settings) = sound_archive(&services);
    let dir = tempfile::tempdir().unwrap();
    let (report, _) = verify(dir.path(), settings, archive, &[], SUCCESS);
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["problems"], serde_json::json!([]));
    assert_eq!(report["manifest"], true);
    assert!(report["md5_sidecar"].as_str().unwrap().ends_with(".md5"));
    assert_eq!(report["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(report["target_version"], "5.1.1", "read from the target");
    assert_eq!(report["restore_check"], Value::Null);
    let fixtures = report["fixtures"].as_array().unwrap();
    assert!(fixtures.len() > 5, "{report:#}");
    assert!(fixtures
        .iter()
        .all(|f| f["entry"].as_str().unwrap().starts_with("fixtures/")));
    let objects: u64 = fixtures
        .iter()
        .map(|f| f["objects_in"].as_u64().unwrap())
        .sum();
    assert!(objects > 100, "{report:#}");
    assert_eq!(report["files"]["uploaded"], 1, "{report:#}");

    let args = [
        "-c",
        settings.to_str().unwrap(),
        "verify",
        archive.to_str().unwrap(),
        "--to",
        "5.1",
    ];
    let (stdout, _) = expect_code(&gnbr(dir.path(), &args), SUCCESS);
    for line in [
        "archive    ok",
        "fixtures   ok",
        "files      ok",
        "datastore  ok",
        "verified in",
    ] {
        assert!(stdout.contains(line), "`{line}` missing from:\n{stdout}");
    }
}

#[test]
fn a_flipped_byte_in_an_upload_or_a_fixture_is_named() {
    let services = Services::get();
    let (archive, settings) = sound_archive(&services);
    let dir = tempfile::tempdir().unwrap();
    let copy = |name: &str, entry: &str, change: &dyn Fn(&mut Vec<u8>), new_md5: bool| {
        let copy = dir.path().join(name);
        std::fs::copy(archive, &copy).unwrap();
        changed_copy(&copy, &format!("flipped-{name}"), entry, change, new_md5)
    };

    // The upload's byte, with the archive's old .md5: both are reported.
    let upload = copy(
        "upload.zip",
        "uploaded/thumbs/river.png",
        &|b| b[9] ^= 1,
        false,
    );
    let (report, stderr) = verify(dir.path(), settings, &upload, &[], INPUT);
    let found = problems(&report);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, "archive");
    assert!(found[0].1.contains("does not match its"), "{found:?}");
    assert_eq!(found[1].0, "files");
    assert!(
        found[1]
            .1
            .contains("entry uploaded/thumbs/river.png does not match the manifest's sha256"),
        "{found:?}"
    );
    assert!(stderr.contains("gnbr: error: files: "), "{stderr}");
    assert_eq!(report["ok"], false);
    assert!(
        !report["fixtures"].as_array().unwrap().is_empty(),
        "the fixtures were still checked"
    );

    // A title's letter in a fixture, the .md5 taken of the changed archive.
    let fixture = "fixtures/base.json";
    let flip_title = |bytes: &mut Vec<u8>| {
        let at = bytes
            .windows(10)
            .position(|w| w == b"\"title\": \"")
            .unwrap()
            + 10;
        bytes[at] ^= 0x20;
    };
    let changed = copy("fixture.zip", fixture, &flip_title, true);
    let (report, _) = verify(dir.path(), settings, &changed, &[], INPUT);
    let found = problems(&report);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "fixtures");
    for part in [
        format!("flipped-fixture.zip: {fixture}: "),
        format!("entry {fixture} does not match the manifest's sha256"),
    ] {
        assert!(
            found[0].1.contains(&part),
            "`{part}` missing from {found:?}"
        );
    }
    assert_eq!(report["problems"][0]["exit_code"], INPUT);
}

/// A copy of the GeoNode 2.0 example backup folder in `dir`.
fn gn20_copy(dir: &Path) -> PathBuf {
    let backup = dir.join("gn20");
    let example = repo().join("examples/gn20-backup");
    for entry in walkdir::WalkDir::new(&example) {
        let entry = entry.unwrap();
        let copy = backup.join(entry.path().strip_prefix(&example).unwrap());
        if entry.file_type().is_file() {
            std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
            std::fs::copy(entry.path(), copy).unwrap();
        }
    }
    backup
}

#[test]
fn a_fixture_a_plugin_refuses_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let backup = gn20_copy(dir.path());
    let attributes = backup.join("attributes.json");
    let mut objects: Vec<Value> =
        serde_json::from_slice(&std::fs::read(&attributes).unwrap()).unwrap();
    objects[1]["pk"] = "second".into();
    std::fs::write(&attributes, serde_json::to_vec(&objects).unwrap()).unwrap();

    let settings = repo().join("settings.ini");
    let (report, stderr) = verify(dir.path(), &settings, &backup, &["--to", "2.4"], INPUT);
    let found = problems(&report);
    assert_eq!(found.len(), 1, "{found:?}\n{stderr}");
    assert_eq!(found[0].0, "fixtures");
    for part in [
        "attributes.json",
        "object #1",
        "\"second\"",
        "gn20_to_24.LayerAttributesMangler",
    ] {
        assert!(found[0].1.contains(part), "`{part}` missing from {found:?}");
    }
    assert!(report["problems"][0]["hint"]
        .as_str()
        .unwrap()
        .contains("pk is a string"));
    assert_eq!(
        report["files"]["uploaded"], 1,
        "the files were still checked: {report:#}"
    );
}

#[test]
fn a_table_dump_cut_short_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let backup = gn20_copy(dir.path());
    let tables = backup.join("gs_data_dir/geonode");
    std::fs::create_dir_all(&tables).unwrap();
    let dump = "CREATE TABLE public.lakes (id integer);\nCOPY public.lakes (id) FROM stdin;\n1\n2\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n";
    std::fs::write(tables.join("lakes.sql"), dump).unwrap();
    std::fs::write(tables.join("roads.sql"), &dump[..dump.find("\\.").unwrap()]).unwrap();

    let settings = repo().join("settings.ini");
    let (report, _) = verify(dir.path(), &settings, &backup, &["--to", "2.4"], INPUT);
    let found = problems(&report);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "datastore");
    assert!(
        found[0]
            .1
            .contains("gs_data_dir/geonode/roads.sql (table public.roads): the dump is cut short"),
        "{found:?}"
    );
    assert_eq!(
        report["datastore"][0]["table"], "public.lakes",
        "{report:#}"
    );
    assert_eq!(report["datastore"][0]["rows"], 2, "{report:#}");
}

#[test]
fn a_restore_check_leaves_the_target_and_the_database_list_as_they_were() {
    let services = Services::get();
    let (archive, _) = sound_archive(&services);
    let dir = tempfile::tempdir().unwrap();
    let target = "gnbr_e2e_verify_target";
    services.fresh_db(target);
    let settings = services.settings(dir.path(), target);
    let tables = services.digest(target, &[]);
    assert_eq!(databases(&services, target), format!("{target}\n"));

    let (report, stderr) = verify(
        dir.path(),
        &settings,
        archive,
        &["--restore-check"],
        SUCCESS,
    );
    let check = &report["restore_check"];
    let throwaway = check["database"].as_str().unwrap();
    assert!(throwaway.starts_with("gnbr_verify_"), "{report:#}");
    assert!(
        stderr.contains(&format!("dropped the throwaway database `{throwaway}`")),
        "{stderr}"
    );
    let resources = check["objects"]["base.resourcebase"].as_u64().unwrap();
    assert!(resources > 0, "{report:#}");
    assert_eq!(check["rows"]["base_resourcebase"], resources, "{report:#}");
    assert!(check["skipped"][0]
        .as_str()
        .unwrap()
        .starts_with("uploaded/ and assets/: not restored"));
    assert!(
        databases(&services, throwaway).is_empty(),
        "the throwaway was left"
    );
    assert_eq!(databases(&services, target), format!("{target}\n"));
    assert_eq!(
        services.digest(target, &[]),
        tables,
        "the target's tables changed"
    );
    assert!(!dir.path().join("media").exists(), "media was touched");

    // A load the database refuses: reported, the throwaway dropped all the same.
    let bad = gn511_archive(
        dir.path(),
        "dangling.zip",
        |fixture, objects| set_resource_field(fixture, objects, "owner", 9999.into()),
        &[],
    );
    let (report, _) = verify(
        dir.path(),
        &settings,
        &bad,
        &["--restore-check"],
        RUN_FAILED,
    );
    let found = problems(&report);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "restore");
    assert!(found[0].1.contains("gnbr_verify_"), "{found:?}");
    let causes = report["problems"][0]["causes"].to_string();
    assert!(
        causes.contains("base.resourcebase.owner = 9999"),
        "{causes}"
    );
    let named = found[0].1.split('`').nth(1).unwrap();
    assert!(named.starts_with("gnbr_verify_"), "{found:?}");
    assert!(
        databases(&services, named).is_empty(),
        "the throwaway was left"
    );
    assert_eq!(
        services.digest(target, &[]),
        tables,
        "the target's tables changed"
    );
}

#[test]
fn an_encrypted_archives_restore_check_reads_its_sealed_fixtures_again_to_name_a_refused_object() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let target = "gnbr_e2e_verify_sealed";
    services.fresh_db(target);
    let settings = services.settings(dir.path(), target);
    let bad = gn511_archive(
        dir.path(),
        "dangling.zip",
        |fixture, objects| set_resource_field(fixture, objects, "owner", 9999.into()),
        &[],
    );
    let (key, sealed) = age_encrypted(dir.path(), &bad);
    // Django reads the fixtures through FIFOs gnbr serves them decrypted
    // into, and once more after the refused load to name the object.
    let (report, _) = verify(
        dir.path(),
        &settings,
        &sealed,
        &["--restore-check", "--identity", key.to_str().unwrap()],
        RUN_FAILED,
    );
    let found = problems(&report);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "restore");
    let causes = report["problems"][0]["causes"].to_string();
    assert!(
        causes.contains("2026-01-02_030405.zip.age: fixtures/base.json object #")
            && causes.contains("base.resourcebase.owner = 9999"),
        "{causes}"
    );
}

#[test]
fn sigint_during_a_restore_check_drops_the_throwaway() {
    let services = Services::get();
    let (archive, _) = sound_archive(&services);
    let dir = tempfile::tempdir().unwrap();
    let target = "gnbr_e2e_verify_sigint";
    services.fresh_db(target);
    let settings = services.settings(dir.path(), target);
    let mut child = command(
        dir.path(),
        &[
            "-c",
            settings.to_str().unwrap(),
            "verify",
            archive.to_str().unwrap(),
            "--restore-check",
        ],
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    // The throwaway exists once the load into it has started.
    let pid = child.id();
    let (status, seen) = signal_at_line(&mut child, "-INT", |line| {
        line.contains("loading ") && line.contains("objects into `gnbr_verify_")
    });
    assert_eq!(status.signal(), Some(SIGINT), "{seen}");
    assert!(seen.contains("stopped by SIGINT"), "{seen}");
    assert_eq!(
        databases(&services, &format!("gnbr_verify_{pid}_")),
        "",
        "the throwaway was left:\n{seen}"
    );
}
