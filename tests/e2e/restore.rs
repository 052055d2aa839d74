//! `gnbr restore` against a real GeoNode 5.1.1 on PostgreSQL + PostGIS.

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader, Write},
    os::unix::{fs::PermissionsExt, process::ExitStatusExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use assert_cmd::cargo::CommandCargoExt;
use gnbr::exit_codes::{self, INPUT, REFUSED, RUN_FAILED, TARGET, USAGE};

use crate::{
    geonode::{
        gn511_archive, load_per_object, set_lock_timeout, set_resource_field, tables_that_differ,
        Services, RESTORE_RECORD,
    },
    support::{command, expect_code, gnbr, progress_events, repo, restore, signal_at_line},
};

/// Tables where gnbr's restore and GeoNode's own restore differ on purpose,
/// and the columns compared without.
const KNOWN_DIFFERENCES: &[(&str, &[&str])] = &[
    // GeoNode's restore truncates django_migrations too, then fakes every
    // migration again: new `applied` times. gnbr never touches it.
    ("django_migrations", &["applied", "id"]),
    // GeoNode's post-restore sync recreates object permissions: new ids.
    ("guardian_userobjectpermission", &["id"]),
    ("guardian_groupobjectpermission", &["id"]),
    // Both rebuild the search index, in different orders: new ids.
    ("indexing_resourceindex", &["id"]),
];

fn no_edit(_: &str, _: &mut Vec<serde_json::Value>) {}

fn assert_spatial_ref_sys_intact(services: &Services, db: &str) {
    assert_eq!(
        services
            .psql(db, "SELECT count(*) FROM spatial_ref_sys")
            .trim(),
        "8500",
        "{db}: spatial_ref_sys was touched"
    );
}

#[test]
fn gnbr_restore_equals_geonodes_own_restore_table_by_table() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = gn511_archive(dir.path(), "gn511.zip", no_edit, &[]);
    services.fresh_db("gnbr_e2e_by_gnbr");
    services.fresh_db("gnbr_e2e_by_geonode");
    let by_gnbr = dir.path().join("gnbr");
    let by_geonode = dir.path().join("geonode");
    std::fs::create_dir_all(&by_gnbr).unwrap();
    std::fs::create_dir_all(&by_geonode).unwrap();
    let settings = services.settings(&by_gnbr, "gnbr_e2e_by_gnbr");
    let (stdout, _) = expect_code(&restore(&by_gnbr, &settings, &archive, &["--json"]), 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        report["snapshot"].as_str().unwrap().ends_with(".dump"),
        "{stdout}"
    );
    services.geonode_restore(&by_geonode, "gnbr_e2e_by_geonode", &archive);

    let ours = services.digest("gnbr_e2e_by_gnbr", KNOWN_DIFFERENCES);
    let theirs = services.digest("gnbr_e2e_by_geonode", KNOWN_DIFFERENCES);
    let differences: BTreeSet<&str> = ours
        .keys()
        .chain(theirs.keys())
        .filter(|t| ours.get(*t) != theirs.get(*t))
        .map(String::as_str)
        .collect();
    // Each restore records itself: GeoNode in br_restoredbackup, gnbr in gnbr_restore_log.
    assert_eq!(
        differences,
        BTreeSet::from(["br_restoredbackup", "gnbr_restore_log"]),
        "tables that differ"
    );
    assert_eq!(ours["br_restoredbackup"], "0:-");
    assert!(ours["gnbr_restore_log"].starts_with("1:"));
    assert_eq!(ours["base_resourcebase"], theirs["base_resourcebase"]);
    assert!(
        !ours["base_resourcebase"].starts_with("0:"),
        "the restore loaded resources"
    );
    assert_spatial_ref_sys_intact(&services, "gnbr_e2e_by_gnbr");
}

/// An edit for [`gn511_archive`]: the resources of `base.json` in up to
/// nine regions each, listed out of order and some twice, so that their
/// many-to-many rows are as many as `.set()` makes and in its order.
fn resources_in_regions(fixture: &str, objects: &mut [serde_json::Value]) {
    if fixture != "base.json" {
        return;
    }
    let regions: Vec<serde_json::Value> = objects
        .iter()
        .filter(|o| o["model"] == "base.region")
        .map(|o| o["pk"].clone())
        .collect();
    for (i, resource) in objects
        .iter_mut()
        .filter(|o| o["model"] == "base.resourcebase")
        .enumerate()
    {
        let listed: Vec<serde_json::Value> = (0..i % 10)
            .map(|k| regions[(i * 37 + k * 101) % (regions.len() - i % 3)].clone())
            .collect();
        resource["fields"]["regions"] = listed.into();
    }
}

#[test]
fn the_batched_load_writes_the_rows_the_per_object_load_writes() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = gn511_archive(
        dir.path(),
        "gn511.zip",
        |f, o| resources_in_regions(f, o),
        &[],
    );
    let mut digests = Vec::new();
    for (db, batched) in [("gnbr_e2e_batched", true), ("gnbr_e2e_per_object", false)] {
        services.fresh_db(db);
        let settings = services.settings(dir.path(), db);
        if !batched {
            load_per_object(&settings);
        }
        let (_, stderr) = expect_code(
            &restore(dir.path(), &settings, &archive, &["--no-snapshot"]),
            0,
        );
        let loaded = stderr
            .lines()
            .find(|l| l.contains("database: loaded: "))
            .unwrap_or_else(|| panic!("{stderr}"));
        // `N objects, M of them inserted in batches`, or `N objects, one by one`.
        let counts: Vec<u64> = loaded
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        if batched {
            assert!(loaded.ends_with("inserted in batches"), "{loaded}");
            assert!(counts[1] * 10 > counts[0] * 9, "most in batches: {loaded}");
        } else {
            assert!(loaded.ends_with("objects, one by one"), "{loaded}");
        }
        digests.push(services.digest(db, &[RESTORE_RECORD]));
    }
    let (batched, per_object) = (&digests[0], &digests[1]);
    // Unicode in several languages, many-to-many lists, the search index.
    for table in [
        "base_resourcebase",
        "base_resourcebase_regions",
        "people_profile_groups",
        "auth_group_permissions",
        "indexing_resourceindex",
    ] {
        let digest = batched.get(table).map_or("0:-", String::as_str);
        assert!(!digest.starts_with("0:"), "{table} is empty: {digest}");
    }
    assert_eq!(
        tables_that_differ(batched, per_object),
        BTreeSet::new(),
        "tables the two loads wrote differently"
    );
}

/// The 7th `model` object of a fixture's objects, given a `field` 300
/// characters long: its pk.
fn overlong(objects: &mut [serde_json::Value], model: &str, field: &str) -> serde_json::Value {
    let object = objects
        .iter_mut()
        .filter(|o| o["model"] == model)
        .nth(6)
        .unwrap();
    object["fields"][field] = "ü".repeat(300).into();
    object["pk"].clone()
}

#[test]
fn an_object_the_database_refuses_in_a_batch_is_named_and_nothing_changes() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    // A batch written when the next model comes (topic categories are
    // followed by other models in base.json), and one written when its
    // fixture ends (profiles are all of people.json).
    for (fixture, model, field, label, length) in [
        (
            "base.json",
            "base.topiccategory",
            "identifier",
            "base.TopicCategory",
            255,
        ),
        (
            "people.json",
            "people.profile",
            "first_name",
            "people.Profile",
            150,
        ),
    ] {
        let name = format!("long-{field}.zip");
        let bad = gn511_archive(
            dir.path(),
            &name,
            |f, objects| {
                if f == fixture {
                    overlong(objects, model, field);
                }
            },
            &[],
        );
        let path = repo()
            .join("tests/data/geonode-5.1.1-backup/fixtures")
            .join(fixture);
        let pk = overlong(
            &mut serde_json::from_slice::<Vec<_>>(&std::fs::read(path).unwrap()).unwrap(),
            model,
            field,
        );
        // The object by name, as the per-object load names it; refused, not
        // cut to fit (a bulk insert through casts would cut it).
        refused_load(
            &services,
            dir.path(),
            "gnbr_e2e_long_field",
            &bad,
            RUN_FAILED,
            &[
                "rolled back",
                &format!("{name}: fixtures/{fixture}"),
                &format!("Could not load {label}(pk={pk})"),
                &format!("value too long for type character varying({length})"),
            ],
        );
    }
}

/// Restores `archive` into a fresh `db`, which must fail with `code`, say
/// each of `parts` in its error (never a staging path), and leave `db` as
/// it was.
fn refused_load(
    services: &Services,
    dir: &Path,
    db: &str,
    archive: &Path,
    code: i32,
    parts: &[&str],
) {
    services.fresh_db(db);
    let settings = services.settings(dir, db);
    let before = services.digest(db, &[]);
    let (_, stderr) = expect_code(&restore(dir, &settings, archive, &["--no-snapshot"]), code);
    let error = stderr
        .lines()
        .find(|l| l.starts_with("gnbr: error:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    for part in parts {
        assert!(error.contains(part), "`{part}` missing from: {error}");
    }
    assert!(!error.contains("gnbr-restore-"), "a staging path: {error}");
    assert_eq!(services.digest(db, &[]), before, "the database changed");
}

#[test]
fn a_json_restore_tells_its_progress_on_stderr_and_only_its_report_on_stdout() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = gn511_archive(dir.path(), "gn511.zip", no_edit, &[]);
    services.fresh_db("gnbr_e2e_progress");
    let settings = services.settings(dir.path(), "gnbr_e2e_progress");
    let (stdout, stderr) = expect_code(
        &restore(
            dir.path(),
            &settings,
            &archive,
            &["--json", "--no-snapshot"],
        ),
        0,
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        !stderr.contains('\r'),
        "no carriage returns without a terminal"
    );
    let events = progress_events(&stderr);
    for event in &events {
        let keys: BTreeSet<&str> = event
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let shape = BTreeSet::from([
            "event",
            "stage",
            "done",
            "total",
            "unit",
            "rate",
            "eta_seconds",
        ]);
        assert!(
            keys.is_superset(&shape) && keys.difference(&shape).all(|k| *k == "detail"),
            "{event}"
        );
    }
    let stage = |name: &str| -> Vec<&serde_json::Value> {
        events.iter().filter(|e| e["stage"] == name).collect()
    };

    // The load: objects of all the fixtures, from none to every one.
    let objects: u64 = report["objects"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    let loading = stage("loading");
    assert!(!loading.is_empty(), "no loading progress in {stderr}");
    assert!(loading
        .iter()
        .all(|e| e["unit"] == "objects" && e["total"] == objects));
    assert_eq!(loading[0]["done"], 0);
    assert_eq!(loading.last().unwrap()["done"], objects, "{stderr}");

    // The reindex: every resource of the target.
    let resources: u64 = services
        .psql(
            "gnbr_e2e_progress",
            "SELECT count(*) FROM base_resourcebase",
        )
        .trim()
        .parse()
        .unwrap();
    let reindexing = stage("reindexing");
    assert!(!reindexing.is_empty(), "no reindexing progress in {stderr}");
    assert!(reindexing
        .iter()
        .all(|e| e["unit"] == "resources" && e["total"] == resources));
    assert_eq!(reindexing.last().unwrap()["done"], resources, "{stderr}");

    // The fixtures staged before, in bytes.
    let staging = stage("staging the fixtures");
    assert!(staging.iter().all(|e| e["unit"] == "bytes"), "{stderr}");
    assert!(!staging.is_empty(), "{stderr}");
}

#[test]
fn a_foreign_key_pointing_nowhere_changes_nothing() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let good = gn511_archive(dir.path(), "good.zip", no_edit, &[]);
    let bad = gn511_archive(
        dir.path(),
        "bad.zip",
        |fixture, objects| set_resource_field(fixture, objects, "owner", 9999.into()),
        &[
            ("uploaded/thumbs/new.png", b"new"),
            ("gs_data_dir/workspaces/new/workspace.xml", b"<workspace/>"),
        ],
    );
    services.fresh_db("gnbr_e2e_fk");
    let settings = services.settings(dir.path(), "gnbr_e2e_fk");
    let settings = settings.to_str().unwrap();
    expect_code(&restore(dir.path(), settings, &good, &["--no-snapshot"]), 0);
    std::fs::create_dir_all(dir.path().join("media")).unwrap();
    std::fs::write(dir.path().join("media/keep.txt"), "precious").unwrap();
    std::fs::create_dir_all(dir.path().join("gs_data/workspaces/old")).unwrap();
    std::fs::write(
        dir.path().join("gs_data/workspaces/old/workspace.xml"),
        "<workspace>old</workspace>",
    )
    .unwrap();
    let before = services.digest("gnbr_e2e_fk", &[]);

    let args = [
        "-c",
        settings,
        "restore",
        "--backup-file",
        bad.to_str().unwrap(),
        "-f",
        "--no-snapshot",
    ];
    let (_, stderr) = expect_code(&gnbr(dir.path(), &args), RUN_FAILED);
    let error = stderr
        .lines()
        .find(|l| l.starts_with("gnbr: error:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    for part in [
        "rolled back",
        "bad.zip: fixtures/base.json object #",
        "base.resourcebase.owner = 9999",
        "people_profile",
        "constraint",
    ] {
        assert!(error.contains(part), "`{part}` missing from: {error}");
    }
    assert!(!error.contains("gnbr-restore-"), "a staging path: {error}");
    assert_eq!(
        services.digest("gnbr_e2e_fk", &[]),
        before,
        "the database changed"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("media/keep.txt")).unwrap(),
        "precious"
    );
    assert!(
        !dir.path().join("media/thumbs").exists(),
        "the new files were swapped in"
    );
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("gnbr-"))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
    assert_spatial_ref_sys_intact(&services, "gnbr_e2e_fk");
}

#[test]
fn gnbr_killed_in_the_middle_of_the_load_changes_nothing() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = gn511_archive(dir.path(), "gn511.zip", no_edit, &[]);
    services.fresh_db("gnbr_e2e_kill");
    let settings = services.settings(dir.path(), "gnbr_e2e_kill");
    expect_code(
        &restore(dir.path(), &settings, &archive, &["--no-snapshot"]),
        0,
    );
    let before = services.digest("gnbr_e2e_kill", &[]);

    let mut child = std::process::Command::cargo_bin("gnbr")
        .unwrap()
        .current_dir(dir.path())
        .args([
            "-c",
            settings.to_str().unwrap(),
            "restore",
            "--backup-file",
            archive.to_str().unwrap(),
            "-f",
            "--no-snapshot",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("database: truncated") {
            child.kill().unwrap();
            break;
        }
    }
    child.wait().unwrap();
    assert!(
        seen.iter().any(|l| l.contains("database: truncated")),
        "never reached the load:\n{}",
        seen.join("\n")
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    while services
        .psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'gnbr_e2e_kill'",
        )
        .trim()
        != "0"
    {
        assert!(
            Instant::now() < deadline,
            "the killed restore's connection stayed open"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        services.digest("gnbr_e2e_kill", &[]),
        before,
        "the database changed"
    );
    assert_spatial_ref_sys_intact(&services, "gnbr_e2e_kill");
}

#[test]
fn safety_checks_refuse_before_anything_changes() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = gn511_archive(dir.path(), "gn511.zip", no_edit, &[]);
    services.fresh_db("gnbr_e2e_checks");
    let settings = services.settings(dir.path(), "gnbr_e2e_checks");
    let (settings, archive) = (settings.to_str().unwrap(), archive.to_str().unwrap());
    let (stdout, _) = expect_code(&gnbr(dir.path(), &["-c", settings, "check"]), 0);
    assert!(
        stdout.contains("GeoNode 5.1.1") && stdout.contains("migrated"),
        "{stdout}"
    );
    let before = services.digest("gnbr_e2e_checks", &[]);

    let (stdout, _) = expect_code(
        &gnbr(
            dir.path(),
            &[
                "-c",
                settings,
                "restore",
                "--backup-file",
                archive,
                "--dry-run",
            ],
        ),
        0,
    );
    assert!(
        stdout.contains("dry run: everything checked, nothing changed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("chain     same GeoNode release line (5.1): no plugin needed"),
        "the dry run shows the plan: {stdout}"
    );
    let (_, stderr) = expect_code(
        &gnbr(
            dir.path(),
            &["-c", settings, "restore", "--backup-file", archive],
        ),
        REFUSED,
    );
    assert!(
        stderr.contains("gnbr_e2e_checks") && stderr.contains("-f/--force"),
        "the prompt names the target: {stderr}"
    );
    assert_eq!(
        services.digest("gnbr_e2e_checks", &[]),
        before,
        "a refused restore changed the database"
    );

    expect_code(
        &restore(dir.path(), settings, archive, &["-l", "--no-snapshot"]),
        0,
    );
    let (_, stderr) = expect_code(&restore(dir.path(), settings, archive, &["-l"]), REFUSED);
    assert!(
        stderr.contains("was already restored into this target"),
        "{stderr}"
    );

    // A merge of the same archive, with no plugin to move its pks, would
    // overwrite rows: the row counts catch it and the load is rolled back.
    let restored = services.digest("gnbr_e2e_checks", &[]);
    let (_, stderr) = expect_code(
        &restore(dir.path(), settings, archive, &["--merge", "--no-snapshot"]),
        RUN_FAILED,
    );
    assert!(stderr.contains("overwrote existing rows"), "{stderr}");
    assert_eq!(
        services.digest("gnbr_e2e_checks", &[]),
        restored,
        "a refused merge changed the database"
    );
}

/// A copy of `archive` called `name` without the entry `drop`, with a
/// GeoNode `.md5` sidecar of its own.
fn archive_without(archive: &Path, name: &str, drop: &str) -> PathBuf {
    let copy = archive.with_file_name(name);
    let mut input = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut output = zip::ZipWriter::new(std::fs::File::create(&copy).unwrap());
    for index in 0..input.len() {
        let entry = input.by_index_raw(index).unwrap();
        if entry.name().unwrap() != drop {
            output.raw_copy_file(entry).unwrap();
        }
    }
    output.finish().unwrap();
    write_md5(&copy);
    copy
}

fn write_md5(archive: &Path) {
    let md5 = Command::new("md5sum").arg(archive).output().unwrap();
    let sum = String::from_utf8(md5.stdout).unwrap();
    std::fs::write(
        archive.with_extension("md5"),
        sum.split_whitespace().next().unwrap(),
    )
    .unwrap();
}

/// settings.ini with `[fixtures] apps` and `dumps` set to `apps`.
fn settings_listing(services: &Services, dir: &Path, db: &str, apps: &str) -> PathBuf {
    let settings = services.settings(dir, db);
    let text = std::fs::read_to_string(&settings).unwrap();
    let text: String = text
        .lines()
        .map(|line| match line.split_once(" = ") {
            Some(("apps" | "dumps", _)) => {
                format!("{} = {apps}\n", line.split_once(' ').unwrap().0)
            }
            _ => format!("{line}\n"),
        })
        .collect();
    std::fs::write(&settings, text).unwrap();
    settings
}

#[test]
fn missing_and_unlisted_fixtures_are_refused_before_anything_changes() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = gn511_archive(dir.path(), "gn511.zip", no_edit, &[]);
    let db = "gnbr_e2e_fixtures";
    services.fresh_db(db);
    let settings = services.settings(dir.path(), db);
    expect_code(
        &restore(dir.path(), &settings, &archive, &["--no-snapshot"]),
        0,
    );
    let before = services.digest(db, &[]);

    // The archive lacks maps.json, which settings.ini lists: maps_map
    // would have been emptied and left so.
    let no_maps = archive_without(&archive, "no-maps.zip", "fixtures/maps.json");
    for extra in [&["--dry-run"][..], &["--no-snapshot"]] {
        let (_, stderr) = expect_code(&restore(dir.path(), &settings, &no_maps, extra), USAGE);
        for part in [
            "no-maps.zip has no fixture for this entry of",
            "`maps` (fixtures/maps.json)",
            "nothing was touched",
            "hint: restore with the settings the backup was made with",
        ] {
            assert!(stderr.contains(part), "`{part}` missing from: {stderr}");
        }
    }

    // settings.ini lists only `sites`: the 30 other fixtures would have
    // been skipped after every table was emptied.
    let only_sites = settings_listing(&services, dir.path(), db, "sites");
    let (_, stderr) = expect_code(
        &restore(dir.path(), &only_sites, &archive, &["--no-snapshot"]),
        USAGE,
    );
    for part in [
        "gn511.zip holds fixtures that",
        "fixtures/people.json",
        "fixtures/base.json",
        "--only-listed-fixtures",
    ] {
        assert!(stderr.contains(part), "`{part}` missing from: {stderr}");
    }
    assert_eq!(
        services.digest(db, &[]),
        before,
        "a refused restore changed the database"
    );
}

#[test]
fn only_listed_fixtures_empties_only_their_tables() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = gn511_archive(dir.path(), "gn511.zip", no_edit, &[]);
    let db = "gnbr_e2e_only_listed";
    services.fresh_db(db);
    let settings = services.settings(dir.path(), db);
    expect_code(
        &restore(dir.path(), &settings, &archive, &["--no-snapshot"]),
        0,
    );
    let restored = services.digest(db, &[]);
    services.psql(
        db,
        "UPDATE django_site SET name = 'changed since the backup'",
    );
    services.psql(
        db,
        "UPDATE base_resourcebase SET title = 'changed since the backup'",
    );
    let changed = services.digest(db, &[]);

    let only_sites = settings_listing(&services, dir.path(), db, "sites");
    let (stdout, _) = expect_code(
        &restore(
            dir.path(),
            &only_sites,
            &archive,
            &["--no-snapshot", "--only-listed-fixtures", "--json"],
        ),
        0,
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        report["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .starts_with("fixtures/base.json not restored")),
        "{stdout}"
    );
    let after = services.digest(db, &[]);
    assert_eq!(
        after["django_site"], restored["django_site"],
        "sites restored"
    );
    for table in ["base_resourcebase", "people_profile", "maps_map"] {
        assert_eq!(after[table], changed[table], "{table} was touched");
    }

    // A user removed from the backup still owns resources the target keeps:
    // the load is refused, and nothing changes.
    let orphaning = gn511_archive(
        dir.path(),
        "orphaning.zip",
        |fixture, objects| {
            if fixture == "people.json" {
                objects.retain(|o| !(o["model"] == "people.profile" && o["pk"] == 1000));
            }
        },
        &[],
    );
    let owner = services.psql(
        db,
        "SELECT count(*) FROM base_resourcebase WHERE owner_id = 1000",
    );
    assert_ne!(
        owner.trim(),
        "0",
        "the test needs resources owned by user 1000"
    );
    let only_people = settings_listing(&services, dir.path(), db, "people");
    let (_, stderr) = expect_code(
        &restore(
            dir.path(),
            &only_people,
            &orphaning,
            &["--no-snapshot", "--only-listed-fixtures"],
        ),
        RUN_FAILED,
    );
    assert!(
        stderr.contains("would leave kept rows pointing at rows the fixtures do not hold"),
        "{stderr}"
    );
    assert_eq!(
        services.digest(db, &[]),
        after,
        "a refused load changed the database"
    );
}

#[test]
fn a_damaged_upload_is_caught_before_anything_changes_even_in_a_dry_run() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = gn511_archive(dir.path(), "gn511.zip", no_edit, &[]);
    let mut output = zip::ZipWriter::new_append(
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&archive)
            .unwrap(),
    )
    .unwrap();
    output
        .start_file(
            "uploaded/thumbs/marker.png",
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored),
        )
        .unwrap();
    output.write_all(b"gnbr-e2e-marker-AAAA").unwrap();
    output.finish().unwrap();
    // A byte changed inside the stored file: its CRC-32 no longer matches;
    // the archive's .md5 is taken of the damaged file.
    let mut bytes = std::fs::read(&archive).unwrap();
    let at = bytes
        .windows(20)
        .position(|w| w == b"gnbr-e2e-marker-AAAA")
        .expect("the entry is stored uncompressed");
    bytes[at + 19] = b'B';
    std::fs::write(&archive, bytes).unwrap();
    write_md5(&archive);
    let db = "gnbr_e2e_damaged";
    services.fresh_db(db);
    let settings = services.settings(dir.path(), db);
    let before = services.digest(db, &[]);
    for extra in [&["--dry-run"][..], &["--no-snapshot"]] {
        let (stdout, stderr) = expect_code(&restore(dir.path(), &settings, &archive, extra), INPUT);
        assert!(!stdout.contains("everything checked"), "{stdout}");
        assert!(
            stderr.contains("gn511.zip: entry uploaded/thumbs/marker.png:"),
            "{stderr}"
        );
    }
    assert_eq!(services.digest(db, &[]), before);
    assert!(!dir.path().join("media").exists(), "media was staged");
}

#[test]
fn a_lock_held_elsewhere_times_out_naming_its_holder() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = gn511_archive(dir.path(), "gn511.zip", no_edit, &[]);
    let db = "gnbr_e2e_locked";
    services.fresh_db(db);
    let settings = services.settings(dir.path(), db);
    set_lock_timeout(&settings, 1);
    let before = services.digest(db, &[]);

    // The live site, as the GeoNode user: a transaction that read a table and stays open.
    let owner = services.database(db);
    let holder = services.hold_locks(
        db,
        "gnbr-e2e-lock-holder",
        "SELECT count(*) FROM base_resourcebase WHERE title <> 'secret-in-the-query'",
    );
    assert_eq!(
        services
            .psql(
                db,
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
                 WHERE a.application_name = 'gnbr-e2e-lock-holder' AND l.granted \
                 AND l.relation = 'base_resourcebase'::regclass",
            )
            .trim(),
        "1"
    );

    let (_, stderr) = expect_code(
        &restore(dir.path(), &settings, &archive, &["--no-snapshot"]),
        TARGET,
    );
    drop(holder);
    for part in [
        "waited 1 s ([restore] lock_timeout)",
        "nothing was changed",
        "application `gnbr-e2e-lock-holder`",
        &format!("user `{}`", owner.user),
        "idle in transaction",
        "base_resourcebase",
        "pg_terminate_backend",
    ] {
        assert!(stderr.contains(part), "`{part}` missing from: {stderr}");
    }
    assert!(
        !stderr.contains("secret-in-the-query"),
        "the query was shown: {stderr}"
    );
    assert_eq!(
        services.digest(db, &[]),
        before,
        "a timed-out restore changed the database"
    );
}

#[test]
fn a_refused_commit_is_reported_as_one() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = gn511_archive(dir.path(), "gn511.zip", no_edit, &[]);
    let db = "gnbr_e2e_commit";
    services.fresh_db(db);
    let settings = services.settings(dir.path(), db);
    expect_code(
        &restore(dir.path(), &settings, &archive, &["--no-snapshot"]),
        0,
    );
    // A deferred check of the target's own: it refuses at COMMIT, after the whole load.
    services.psql(
        db,
        "CREATE FUNCTION gnbr_e2e_refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'gnbr e2e: no more restores'; END $$; \
         CREATE CONSTRAINT TRIGGER gnbr_e2e_refuse AFTER INSERT ON gnbr_restore_log \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gnbr_e2e_refuse()",
    );
    let before = services.digest(db, &[]);
    let (_, stderr) = expect_code(
        &restore(dir.path(), &settings, &archive, &["--no-snapshot"]),
        RUN_FAILED,
    );
    assert!(
        stderr.contains("the database refused to commit the restore, and rolled it back")
            && stderr.contains("gnbr e2e: no more restores"),
        "{stderr}"
    );
    assert!(!stderr.contains("fix the object named above"), "{stderr}");
    assert_eq!(
        services.digest(db, &[]),
        before,
        "the refused commit changed the database"
    );
}

#[test]
fn a_pk_the_target_cannot_read_is_a_backup_problem() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let bad = gn511_archive(
        dir.path(),
        "string-pk.zip",
        |fixture, objects| {
            if fixture == "base.json" {
                let resource = objects
                    .iter_mut()
                    .find(|o| o["model"] == "base.resourcebase")
                    .unwrap();
                resource["pk"] = "abc".into();
            }
        },
        &[],
    );
    refused_load(
        &services,
        dir.path(),
        "gnbr_e2e_string_pk",
        &bad,
        gnbr::exit_codes::INPUT,
        &[
            "the backup holds a value the target cannot read",
            "rolled back",
            "abc",
            // Django names the file it loads: the loader calls it by its archive and entry.
            "string-pk.zip: fixtures/base.json",
        ],
    );
}

/// The signal the SIGTERM test sends.
const SIGTERM: i32 = 15;

#[test]
fn staged_fixtures_and_snapshots_are_private() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = gn511_archive(dir.path(), "gn511.zip", no_edit, &[]);
    services.fresh_db("gnbr_e2e_private");
    let settings = services.settings(dir.path(), "gnbr_e2e_private");
    // pg_dump runs once the fixtures are staged: a stand-in lists the
    // staging folder and the snapshot's file as gnbr made them, then dumps.
    let listing = dir.path().join("listing");
    let spy = dir.path().join("pg_dump_spy.sh");
    std::fs::write(
        &spy,
        format!(
            "#!/bin/sh\nfind \"$TMPDIR\" -path \"$TMPDIR/gnbr-restore-*\" -printf '%m %y %P\\n' > '{listing}'\nfor a; do [ \"$prev\" = --file ] && stat -c '%a f snapshot' \"$a\" >> '{listing}'; prev=$a; done\nexec '{pg_dump}' \"$@\"\n",
            listing = listing.display(),
            pg_dump = services.pg_tool("pg_dump"),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&spy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut text = std::fs::read_to_string(&settings).unwrap();
    text.push_str(&format!("\n[database]\npgdump = {}\n", spy.display()));
    std::fs::write(&settings, text).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();

    let output = command(
        dir.path(),
        &[
            "-c",
            settings.to_str().unwrap(),
            "restore",
            "--backup-file",
            archive.to_str().unwrap(),
            "-f",
            "--json",
        ],
    )
    .env("TMPDIR", &tmp)
    .output()
    .unwrap();
    let (stdout, _) = expect_code(&output, exit_codes::SUCCESS);
    let listing = std::fs::read_to_string(&listing).unwrap();
    assert!(
        listing.contains("/fixtures/people.json\n") && listing.contains(" f snapshot\n"),
        "{listing}"
    );
    for line in listing.lines() {
        let private = line.starts_with("700 d ") || line.starts_with("600 f ");
        assert!(private, "not private: {line}\n{listing}");
    }
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let snapshot = std::path::PathBuf::from(report["snapshot"].as_str().unwrap());
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&snapshot), 0o600);
    assert_eq!(mode(snapshot.parent().unwrap()), 0o700);
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "staging left");

    // A second snapshot in the same second never overwrites the first.
    let output = command(
        dir.path(),
        &[
            "-c",
            settings.to_str().unwrap(),
            "restore",
            "--backup-file",
            archive.to_str().unwrap(),
            "-f",
            "--json",
        ],
    )
    .env("TMPDIR", &tmp)
    .output()
    .unwrap();
    let (stdout, _) = expect_code(&output, exit_codes::SUCCESS);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let second = report["snapshot"].as_str().unwrap();
    assert_eq!(
        second,
        snapshot
            .to_str()
            .unwrap()
            .replace(".dump", "_2.dump")
            .as_str()
    );
}

#[test]
fn sigterm_while_a_restore_stages_its_fixtures_leaves_nothing_behind() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = gn511_archive(dir.path(), "gn511.zip", no_edit, &[]);
    services.fresh_db("gnbr_e2e_sigterm");
    let settings = services.settings(dir.path(), "gnbr_e2e_sigterm");
    let before = services.digest("gnbr_e2e_sigterm", &[]);
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();

    let mut child = command(
        dir.path(),
        &[
            "-c",
            settings.to_str().unwrap(),
            "restore",
            "--backup-file",
            archive.to_str().unwrap(),
            "-f",
            "--no-snapshot",
        ],
    )
    .env("TMPDIR", &tmp)
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let (status, seen) = signal_at_line(&mut child, "-TERM", |line| {
        line.contains("staging the fixtures in")
    });
    assert!(seen.contains("staging the fixtures in"), "{seen}");
    assert_eq!(status.signal(), Some(SIGTERM), "{seen}");
    assert!(seen.contains("stopped by SIGTERM"), "{seen}");
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // No child (the Django helper runs from gnbr's temporary folder) outlives gnbr.
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(pid) = process_mentioning(&tmp) {
        assert!(Instant::now() < deadline, "process {pid} outlived gnbr");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        services.digest("gnbr_e2e_sigterm", &[]),
        before,
        "the database changed"
    );
}

/// A live process whose command line mentions `path`.
fn process_mentioning(path: &std::path::Path) -> Option<String> {
    let needle = path.to_str().unwrap().as_bytes();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .find(|entry| {
            std::fs::read(entry.path().join("cmdline"))
                .is_ok_and(|c| c.windows(needle.len()).any(|w| w == needle))
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
}

#[test]
fn sigterm_during_the_snapshot_leaves_no_partial_snapshot_and_no_pg_dump() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = gn511_archive(dir.path(), "gn511.zip", no_edit, &[]);
    services.fresh_db("gnbr_e2e_sigterm_dump");
    let settings = services.settings(dir.path(), "gnbr_e2e_sigterm_dump");
    // A pg_dump that says it started (through a FIFO the test reads) and
    // then never ends on its own: it waits to open a FIFO nobody writes to,
    // with its output away from gnbr's pipes (as pg_dump --file's is).
    let started = dir.path().join("started");
    let never = dir.path().join("never");
    assert!(Command::new("mkfifo")
        .arg(&started)
        .arg(&never)
        .status()
        .unwrap()
        .success());
    let spy = dir.path().join("pg_dump_spy.sh");
    std::fs::write(
        &spy,
        format!(
            "#!/bin/sh\nexec >/dev/null 2>&1\necho $$ > '{}'\nexec cat < '{}'\n",
            started.display(),
            never.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&spy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut text = std::fs::read_to_string(&settings).unwrap();
    text.push_str(&format!("\n[database]\npgdump = {}\n", spy.display()));
    std::fs::write(&settings, text).unwrap();

    let mut child = command(
        dir.path(),
        &[
            "-c",
            settings.to_str().unwrap(),
            "restore",
            "--backup-file",
            archive.to_str().unwrap(),
            "-f",
        ],
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join("\n")
    });
    // Blocks until the stand-in runs.
    let pid = std::fs::read_to_string(&started).unwrap().trim().to_owned();
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    let seen = reader.join().unwrap();
    assert_eq!(status.signal(), Some(SIGTERM), "{seen}");
    let alive = || {
        std::fs::read_to_string(Path::new("/proc").join(&pid).join("status"))
            .is_ok_and(|status| !status.contains("State:\tZ"))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while alive() {
        if Instant::now() > deadline {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("pg_dump {pid} outlived gnbr");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let snapshots: Vec<_> = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        snapshots.is_empty(),
        "left in the snapshot folder: {snapshots:?}"
    );
}
