//! `gnbr migrate`: fidelity of what no mangler touches, archives and
//! folders in and out, clear errors on bad input, nothing half-written.

use std::{fs, io::Read, path::Path};

use crate::support::{expect_code, gnbr, repo, settings_with, tiny_backup};
use gnbr::exit_codes::{INPUT, PLUGIN, REFUSED, USAGE};

/// A fixture Django could have written, with text a re-serialiser would change.
const AWKWARD: &str = "[\n    {\n        \"model\": \"base.link\",\n        \"pk\": 1,\n        \"fields\": {\"name\": \"caf\\u00e9 \u{1f30d} \\\"q\\\"\\n\", \"size\": 1.10, \"big\": 123456789012345678901234567890, \"e\": 1E5, \"neg\": -0.0}\n    },\n    {\"model\": \"base.link\", \"pk\": 2, \"fields\": {\"z\": 1, \"a\": [], \"m\": {}}}\n]\n";

fn zip_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (entry.name().unwrap().into_owned(), bytes)
        })
        .collect()
}

fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let mut zip = zip::ZipWriter::new(fs::File::create(path).unwrap());
    for (name, bytes) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, bytes).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn what_no_mangler_touches_comes_out_byte_for_byte_zip_to_zip() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("settings.ini"), "[fixtures]\napps = base.link,base.resourcebase\ndumps = links,resourcebases\nmigrations = base.resourcebase\nmanglers = gn24_to_24.DefaultMangler\n").unwrap();
    let resources = br#"[{"model": "base.resourcebase", "pk": 5, "fields": {"title": "\u00e9t\u00e9", "x": 2.50}}]"#;
    write_zip(
        &dir.path().join("in.zip"),
        &[
            ("links.json", AWKWARD.as_bytes()),
            ("resourcebases.json", resources),
            ("uploaded/thumbs/a.png", b"\x89PNG\r\n"),
        ],
    );
    let (stdout, _) = expect_code(
        &gnbr(
            dir.path(),
            &[
                "migrate",
                "--backup-file",
                "in.zip",
                "--output",
                "out.zip",
                "--basepk",
                "10",
                "--json",
            ],
        ),
        0,
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["fixtures"][1]["changed"], 1, "{stdout}");
    let out = zip_entries(&dir.path().join("out.zip"));
    let entry = |name: &str| {
        &out.iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .1
    };
    assert_eq!(
        entry("links.json"),
        AWKWARD.as_bytes(),
        "an untouched fixture is copied byte for byte"
    );
    assert_eq!(entry("uploaded/thumbs/a.png"), b"\x89PNG\r\n");
    // The pk moved; the fields the mangler did not touch keep their exact text.
    let mangled = String::from_utf8(entry("resourcebases.json").clone()).unwrap();
    assert_eq!(
        mangled,
        r#"[{"model":"base.resourcebase","pk":15,"fields":{"title":"\u00e9t\u00e9","x":2.50}}]"#
    );
    let manifest: serde_json::Value = serde_json::from_slice(entry("manifest.json")).unwrap();
    assert_eq!(manifest["fixtures"]["resourcebases.json"], 1);
    assert_eq!(manifest["entries"]["links.json"]["size"], AWKWARD.len());
}

#[test]
fn the_example_backup_migrates_from_2_0_to_2_4() {
    let dir = tempfile::tempdir().unwrap();
    let settings = repo().join("settings.ini");
    let example = repo().join("examples/gn20-backup");
    let args = [
        "-c",
        settings.to_str().unwrap(),
        "migrate",
        "--backup-file",
        example.to_str().unwrap(),
        "--output",
        "gn24.zip",
        "--json",
    ];
    let (stdout, _) = expect_code(&gnbr(dir.path(), &args), 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let row = |entry: &str| {
        report["fixtures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["entry"] == entry)
            .unwrap()
            .clone()
    };
    let resources = row("resourcebases.json");
    assert!(resources["objects_in"].as_u64().unwrap() > 0);
    assert_eq!(
        resources["emitted"], resources["objects_in"],
        "one upload session per resource"
    );
    assert_eq!(resources["manglers"][0], "gn20_to_24.ResourceBaseMangler");
    assert!(row("layers.json")["changed"].as_u64().unwrap() > 0);
    let out = zip_entries(&dir.path().join("gn24.zip"));
    for (name, bytes) in &out {
        if name.ends_with(".json") {
            serde_json::from_slice::<serde_json::Value>(bytes)
                .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        }
    }
}

#[test]
fn a_malformed_fixture_names_file_object_pk_and_offset_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    settings_with(dir.path(), "gn24_to_24.DefaultMangler");
    let backup = tiny_backup(dir.path());
    let text = "[{\"model\": \"base.resourcebase\", \"pk\": 1, \"fields\": {}},\n {\"model\": \"base.resourcebase\", \"pk\": 2, \"fields\": {\"title\": \"x\",}}]";
    fs::write(backup.join("fixtures/resourcebases.json"), text).unwrap();
    let (_, stderr) = expect_code(
        &gnbr(
            dir.path(),
            &["migrate", "--backup-file", "backup", "--output", "out"],
        ),
        INPUT,
    );
    let offset = text.find(",}").unwrap() + 1;
    let expected = format!("fixtures/resourcebases.json: object #1 (pk 2): expected a key in double quotes (byte offset {offset})");
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!dir.path().join("out").exists());
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !leftovers.iter().any(|n| n.contains("gnbr")),
        "temporary output left behind: {leftovers:?}"
    );
}

#[test]
fn a_string_pk_a_plugin_cannot_offset_is_a_backup_problem() {
    let dir = tempfile::tempdir().unwrap();
    settings_with(dir.path(), "gn24_to_24.DefaultMangler");
    let backup = tiny_backup(dir.path());
    fs::write(
        backup.join("fixtures/resourcebases.json"),
        r#"[{"model": "base.resourcebase", "pk": "abc", "fields": {"title": "x"}}]"#,
    )
    .unwrap();
    let (_, stderr) = expect_code(
        &gnbr(
            dir.path(),
            &[
                "migrate",
                "--backup-file",
                "backup",
                "--output",
                "out",
                "--basepk",
                "10",
            ],
        ),
        INPUT,
    );
    for part in [
        "fixtures/resourcebases.json: object #0 (pk \"abc\")",
        "is not an integer",
        "correct it in the fixture",
    ] {
        assert!(stderr.contains(part), "`{part}` missing from: {stderr}");
    }
    assert!(!dir.path().join("out").exists());
}

#[test]
fn dry_run_reports_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    settings_with(dir.path(), "gn24_to_24.DefaultMangler");
    tiny_backup(dir.path());
    let (stdout, _) = expect_code(
        &gnbr(
            dir.path(),
            &[
                "migrate",
                "--backup-file",
                "backup",
                "--output",
                "out",
                "--dry-run",
                "--basepk",
                "7",
            ],
        ),
        0,
    );
    assert!(stdout.contains("dry run: nothing written"), "{stdout}");
    assert!(
        stdout.contains("fixtures/resourcebases.json  3   3    3"),
        "{stdout}"
    );
    assert!(!dir.path().join("out").exists());
}

#[test]
fn an_existing_output_is_never_replaced_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    settings_with(dir.path(), "gn24_to_24.DefaultMangler");
    tiny_backup(dir.path());
    fs::write(dir.path().join("out.zip"), "precious").unwrap();
    let (_, stderr) = expect_code(
        &gnbr(
            dir.path(),
            &["migrate", "--backup-file", "backup", "--output", "out.zip"],
        ),
        REFUSED,
    );
    assert!(
        stderr.contains("out.zip already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(fs::read(dir.path().join("out.zip")).unwrap(), b"precious");
    expect_code(
        &gnbr(
            dir.path(),
            &[
                "migrate",
                "--backup-file",
                "backup",
                "--output",
                "out.zip",
                "--force",
            ],
        ),
        0,
    );
    assert!(zip_entries(&dir.path().join("out.zip"))
        .iter()
        .any(|(n, _)| n == "fixtures/resourcebases.json"));
}

#[test]
fn a_damaged_archive_is_caught_by_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    settings_with(dir.path(), "gn24_to_24.DefaultMangler");
    tiny_backup(dir.path());
    expect_code(
        &gnbr(
            dir.path(),
            &["migrate", "--backup-file", "backup", "--output", "once"],
        ),
        0,
    );
    fs::write(
        dir.path().join("once/fixtures/people.json"),
        r#"[{"model": "people.profile", "pk": 1, "fields": {"username": "eve"}}]"#,
    )
    .unwrap();
    let (_, stderr) = expect_code(
        &gnbr(
            dir.path(),
            &["migrate", "--backup-file", "once", "--output", "twice"],
        ),
        INPUT,
    );
    assert!(
        stderr.contains("fixtures/people.json does not match the manifest's sha256"),
        "{stderr}"
    );
}

#[test]
fn settings_that_name_an_unknown_plugin_or_mangler_are_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    tiny_backup(dir.path());
    settings_with(dir.path(), "gn99_to_100.ResourceBaseMangler");
    let (_, stderr) = expect_code(
        &gnbr(
            dir.path(),
            &["migrate", "--backup-file", "backup", "--output", "out"],
        ),
        PLUGIN,
    );
    assert!(stderr.contains("settings.ini:5: [fixtures] manglers entry 1 `gn99_to_100.ResourceBaseMangler`: no plugin `gn99_to_100` found (found: gn20_to_24, gn24_to_24"), "{stderr}");
    settings_with(dir.path(), "gn20_to_24.NoSuchMangler");
    let (_, stderr) = expect_code(
        &gnbr(
            dir.path(),
            &["migrate", "--backup-file", "backup", "--output", "out"],
        ),
        PLUGIN,
    );
    assert!(
        stderr.contains("has no mangler `NoSuchMangler`")
            && stderr.contains("its manglers are: DefaultMangler, ResourceBaseMangler"),
        "{stderr}"
    );
    fs::write(
        dir.path().join("settings.ini"),
        "[fixtures]\napps = a,b\ndumps = a\n",
    )
    .unwrap();
    let (_, stderr) = expect_code(
        &gnbr(
            dir.path(),
            &["migrate", "--backup-file", "backup", "--output", "out"],
        ),
        USAGE,
    );
    assert!(
        stderr.contains("[fixtures] apps has 2 entries but `dumps` has 1"),
        "{stderr}"
    );
    assert!(!dir.path().join("out").exists());
}

#[test]
fn plugins_test_runs_a_folder_of_golden_cases_against_a_built_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let cases = repo().join("manglers/gn20_to_24/tests/cases");
    let (stdout, _) = expect_code(
        &gnbr(
            dir.path(),
            &[
                "plugins",
                "test",
                "gn20_to_24",
                "--cases",
                cases.to_str().unwrap(),
            ],
        ),
        0,
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    let broken = dir.path().join("cases/wrong");
    fs::create_dir_all(&broken).unwrap();
    fs::write(broken.join("case.json"), r#"{"fixtures": [{"mangler": "DefaultMangler", "input": "in.json", "expected": "out.json"}]}"#).unwrap();
    fs::write(
        broken.join("in.json"),
        r#"[{"model": "a.b", "pk": 1, "fields": {"x": 1}}]"#,
    )
    .unwrap();
    fs::write(
        broken.join("out.json"),
        r#"[{"model": "a.b", "pk": 1, "fields": {"x": 2}}]"#,
    )
    .unwrap();
    let (stdout, _) = expect_code(
        &gnbr(
            dir.path(),
            &["plugins", "test", "gn20_to_24", "--cases", "cases"],
        ),
        7,
    );
    assert!(
        stdout.contains("FAIL  wrong")
            && stdout.contains(r#"expected: {"model":"a.b","pk":1,"fields":{"x":2}}"#),
        "{stdout}"
    );
}

#[test]
fn plan_infers_the_version_and_chains_the_plugins() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("settings.ini"), "[fixtures]\napps = people,base.resourcebase,layers.layer\ndumps = people,resourcebases,layers\n").unwrap();
    let example = repo().join("examples/gn20-backup");
    let example = example.to_str().unwrap();
    let (stdout, _) = expect_code(
        &gnbr(
            dir.path(),
            &[
                "plan",
                "--backup-file",
                example,
                "--to-version",
                "2.4",
                "--json",
            ],
        ),
        0,
    );
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(plan["source"]["version"], "2.0.0", "{stdout}");
    assert!(
        plan["source"]["how"]
            .as_str()
            .unwrap()
            .contains("distribution_url"),
        "{stdout}"
    );
    assert_eq!(
        plan["plugins"][0].as_str().unwrap(),
        "gn20_to_24 1.0.0 (~2.0 -> 2.4.0)"
    );

    let (_, stderr) = expect_code(
        &gnbr(
            dir.path(),
            &["plan", "--backup-file", example, "--to-version", "3.3"],
        ),
        PLUGIN,
    );
    assert!(stderr.contains("no plugin chain migrates GeoNode 2.0.0 to 3.3.0: the missing step starts from GeoNode 2.0 or 2.4"), "{stderr}");

    // migrate follows the plan when settings.ini names no manglers.
    let (stdout, _) = expect_code(
        &gnbr(
            dir.path(),
            &[
                "migrate",
                "--backup-file",
                example,
                "--output",
                "out",
                "--to-version",
                "2.4",
                "--json",
            ],
        ),
        0,
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let resources = report["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["entry"] == "resourcebases.json")
        .unwrap();
    assert_eq!(
        resources["manglers"],
        serde_json::json!(["gn20_to_24.ResourceBaseMangler"]),
        "each planned mangler runs on the fixtures of its models"
    );
    assert_eq!(resources["emitted"], resources["objects_in"]);
}
