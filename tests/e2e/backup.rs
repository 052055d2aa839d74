//! `gnbr backup` from a real GeoNode 5.1.1: round trips through gnbr, and
//! archives GeoNode's own tools read and write, compared with the source
//! instance table by table.

use std::{
    collections::BTreeSet,
    os::unix::{fs::PermissionsExt, process::ExitStatusExt},
    path::{Path, PathBuf},
    process::Stdio,
    sync::OnceLock,
};

use gnbr::exit_codes;

use crate::{
    geonode::Services,
    support::{
        age_encrypted, age_tool, backup, command, expect_code, progress_events, repo, restore,
        restore_command, run_watched, run_watched_for, text,
    },
};

/// The signal a `GNBR_FAULT` point kills gnbr with.
const SIGKILL: i32 = 9;

/// The source instance: GeoNode's initial data and test content, plus
/// non-ASCII text, quotes, newlines, null fields and permissions.
pub const SOURCE_DB: &str = "gnbr_e2e_source";

/// A copy of the source for GeoNode's own backup, which switches its
/// instance to read-only while it runs.
const SOURCE_COPY_DB: &str = "gnbr_e2e_source_copy";

/// What a restore cannot give back, each for a known reason. Timestamps are
/// compared at milliseconds throughout: Django's JSON drops the rest.
const KNOWN_DIFFERENCES: &[(&str, &[&str])] = &[
    // Many-to-many link rows get new ids when loaddata recreates them.
    ("auth_group_permissions", &["id"]),
    ("people_profile_groups", &["id"]),
    // GeoNode's own restore truncates and re-fakes migrations (new times).
    ("django_migrations", &["applied", "id"]),
    // GeoNode's post-restore permission sync recreates rows (new ids).
    ("guardian_userobjectpermission", &["id"]),
    ("guardian_groupobjectpermission", &["id"]),
];

/// Tables that differ from the source on purpose.
const RESTORE_ONLY: &[&str] = &[
    // The search index is not in any backup; both restores rebuild it, the
    // seeded source never built it.
    "indexing_resourceindex",
    // `sequences` is not among the apps GeoNode backs up.
    "sequences_sequence",
    // Each restore records itself.
    "gnbr_restore_log",
    "br_restoredbackup",
];

/// The source instance's folder (`media/`, `gs_data/`), made once.
pub fn source(services: &Services) -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        services.fresh_db(SOURCE_DB);
        services.python(&dir, SOURCE_DB, &repo().join("tests/data/seed_geonode.py"));
        // Copied now, while nothing else is connected to the source.
        services.copy_db(SOURCE_DB, SOURCE_COPY_DB);
        std::fs::create_dir_all(dir.join("media/thumbs")).unwrap();
        std::fs::write(dir.join("media/thumbs/ünïcødé.png"), b"\x89PNG\r\n").unwrap();
        copy_tree(
            &repo().join("tests/geoserver-double/data_dir_minimal"),
            &dir.join("gs_data"),
        );
        std::fs::create_dir_all(dir.join("gs_data/logs")).unwrap();
        std::fs::write(dir.join("gs_data/logs/geoserver.log"), "ephemeral").unwrap();
        dir
    })
}

/// Copies every file under `from` to the same place under `to`.
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    for entry in walk(from) {
        let target = to.join(entry.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, target).unwrap();
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Tables of `restored` that differ from `source`, beyond the known differences.
pub fn differences(services: &Services, source: &str, restored: &str) -> BTreeSet<String> {
    let expected = services.digest_ms(source, KNOWN_DIFFERENCES);
    let actual = services.digest_ms(restored, KNOWN_DIFFERENCES);
    expected
        .keys()
        .chain(actual.keys())
        .filter(|t| expected.get(*t) != actual.get(*t) && !RESTORE_ONLY.contains(&t.as_str()))
        .cloned()
        .collect()
}

#[test]
fn a_gnbr_backup_restored_by_gnbr_equals_the_source() {
    let services = Services::get();
    let source_dir = source(&services);
    let settings = services.settings(source_dir, SOURCE_DB);
    let backups = source_dir.join("gnbr-backups");
    let (report, stderr) = backup(source_dir, &settings, &backups, &[]);
    let archive = PathBuf::from(report["archive"].as_str().unwrap());
    // With --json, the bytes dumped and copied as progress events on stderr.
    let events = progress_events(&stderr);
    for copied in ["copying uploaded files", "GeoServer data directory"] {
        let last = events
            .iter()
            .rfind(|e| e["stage"] == copied)
            .unwrap_or_else(|| panic!("no `{copied}` progress in {stderr}"));
        assert!(last["done"].as_u64().unwrap() > 0, "{last}");
    }
    let dumping: Vec<_> = events.iter().filter(|e| e["stage"] == "dumping").collect();
    assert!(!dumping.is_empty(), "no dumping progress in {stderr}");
    assert!(dumping
        .iter()
        .all(|e| e["unit"] == "bytes" && e["total"].is_null()));
    assert!(
        dumping.last().unwrap()["done"].as_u64().unwrap() > 0,
        "{stderr}"
    );
    for sidecar in ["md5", "ini"] {
        assert!(
            archive.with_extension(sidecar).exists(),
            "no .{sidecar} beside the archive"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the archive holds password hashes");
    }

    let dir = tempfile::tempdir().unwrap();
    services.fresh_db("gnbr_e2e_roundtrip");
    let target = services.settings(dir.path(), "gnbr_e2e_roundtrip");
    // The target's folders are not the source's: --keep-urls keeps the
    // asset paths as they were (relocate.rs tests their move).
    let (_, stderr) = expect_code(
        &restore(
            dir.path(),
            &target,
            &archive,
            &["--no-snapshot", "--keep-urls", "--json"],
        ),
        0,
    );
    // The folders' copies told as progress, of the bytes they hold.
    let events = progress_events(&stderr);
    let uploaded = events
        .iter()
        .rfind(|e| e["stage"] == "copying uploaded files")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(uploaded["done"], uploaded["total"], "{stderr}");
    let datadir = events
        .iter()
        .rfind(|e| e["stage"] == "GeoServer data directory")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        datadir["done"].as_u64() <= datadir["total"].as_u64(),
        "{datadir}"
    );
    assert_eq!(
        differences(&services, SOURCE_DB, "gnbr_e2e_roundtrip"),
        BTreeSet::new(),
        "tables that differ from the source"
    );
    let restored = std::fs::read(dir.path().join("media/thumbs/ünïcødé.png")).unwrap();
    assert_eq!(restored, b"\x89PNG\r\n");

    // GeoServer's data directory travelled too, without its logs.
    let geoserver = &report["geoserver"];
    assert!(
        geoserver["written"]["catalog"]["files"].as_u64().unwrap() > 10,
        "{geoserver}"
    );
    let mut source_files: Vec<PathBuf> = walk(&source_dir.join("gs_data"))
        .into_iter()
        .map(|p| {
            p.strip_prefix(source_dir.join("gs_data"))
                .unwrap()
                .to_owned()
        })
        .filter(|p| p != std::path::Path::new("logs/geoserver.log"))
        .collect();
    let mut restored_files: Vec<PathBuf> = walk(&dir.path().join("gs_data"))
        .into_iter()
        .map(|p| {
            p.strip_prefix(dir.path().join("gs_data"))
                .unwrap()
                .to_owned()
        })
        .collect();
    source_files.sort();
    restored_files.sort();
    assert_eq!(restored_files, source_files, "the restored data directory");
}

#[test]
fn a_gnbr_backup_encrypted_by_the_age_cli_restores_with_its_identity_only() {
    let services = Services::get();
    let source_dir = source(&services);
    let settings = services.settings(source_dir, SOURCE_DB);
    let dir = tempfile::tempdir().unwrap();
    let (report, _) = backup(source_dir, &settings, dir.path().join("plain"), &[]);
    let plain = PathBuf::from(report["archive"].as_str().unwrap());
    let (key, sealed) = age_encrypted(dir.path(), &plain);
    let key = key.to_str().unwrap();
    std::fs::remove_dir_all(dir.path().join("plain")).unwrap();

    services.fresh_db("gnbr_e2e_encrypted");
    let target = services.settings(dir.path(), "gnbr_e2e_encrypted");
    let (_, stderr) = expect_code(
        &restore(
            dir.path(),
            &target,
            &sealed,
            &["--no-snapshot", "--keep-urls"],
        ),
        exit_codes::INPUT,
    );
    assert!(
        stderr.contains("2026-01-02_030405.zip.age") && stderr.contains("--identity"),
        "{stderr}"
    );
    expect_code(
        &restore(
            dir.path(),
            &target,
            &sealed,
            &["--no-snapshot", "--keep-urls", "--identity", key],
        ),
        0,
    );
    assert_eq!(
        differences(&services, SOURCE_DB, "gnbr_e2e_encrypted"),
        BTreeSet::new(),
        "tables that differ from the source"
    );
    let temp_files = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()));
    let zips: Vec<PathBuf> = walk(dir.path())
        .into_iter()
        .chain(temp_files)
        .filter(|p| p.to_string_lossy().contains("2026-01-02_030405.zip") && *p != sealed)
        .collect();
    assert_eq!(zips, Vec::<PathBuf>::new(), "the archive decrypted to disk");
}

#[test]
fn a_backup_encrypted_to_a_recipient_is_never_a_plain_zip_on_disk_and_restores_with_its_identity() {
    let services = Services::get();
    let source_dir = source(&services);
    let settings = services.settings(source_dir, SOURCE_DB);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.txt");
    let key = key.to_str().unwrap();
    age_tool("age-keygen", &["-o", key]);
    let recipient = age_tool("age-keygen", &["-y", key]);
    let backups = dir.path().join("backups");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut backup = command(
        source_dir,
        &[
            "-c",
            settings.to_str().unwrap(),
            "backup",
            "--backup-dir",
            backups.to_str().unwrap(),
            "--json",
            "--encrypt",
            "--recipient",
            recipient.trim(),
        ],
    );
    backup.env("TMPDIR", &tmp);
    let (output, seen) = run_watched(backup, &[&backups, &tmp]);
    let (stdout, _) = expect_code(&output, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let archive = PathBuf::from(report["archive"].as_str().unwrap());
    let name = archive.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.ends_with(".zip.age"), "{report}");
    assert_eq!(report["md5_file"], format!("{}.md5", archive.display()));
    assert_eq!(
        names(&backups),
        [name.clone(), format!("{name}.ini"), format!("{name}.md5")]
    );
    let mode = std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the archive holds password hashes");
    assert!(
        seen.iter().any(|(p, _)| p.starts_with(&backups)),
        "the watcher saw the archive being written"
    );
    let plaintext: Vec<&PathBuf> = seen
        .iter()
        .filter(|(p, head)| {
            p.extension().is_some_and(|e| e == "zip") || head.starts_with(b"PK\x03\x04")
        })
        .map(|(p, _)| p)
        .collect();
    assert_eq!(plaintext, Vec::<&PathBuf>::new(), "a plain zip on disk");
    for (path, head) in seen.iter().filter(|(p, _)| p.starts_with(&backups)) {
        // Sidecars are written under temporary names of their own first.
        let is_sidecar = [".md5", ".ini"]
            .iter()
            .any(|ext| path.to_string_lossy().contains(ext));
        assert!(
            is_sidecar || head.is_empty() || head.starts_with(b"age-encryption.org/v1\n"),
            "{} is not an age file: {head:?}",
            path.display()
        );
    }

    // Nothing decrypted from the archive is written to the restore's
    // scratch folders: its fixtures are staged sealed, and Django and psql
    // read them (and the tables' dumps) through pipes.
    let hash = services.psql(
        SOURCE_DB,
        "SELECT password FROM people_profile WHERE password LIKE 'pbkdf2%' ORDER BY id LIMIT 1",
    );
    let title = services.psql(
        SOURCE_DB,
        "SELECT title FROM base_resourcebase WHERE title ~ '^[A-Za-z0-9 ]{13,}$' ORDER BY id LIMIT 1",
    );
    let markers = [hash.trim(), title.trim()];
    assert!(markers.iter().all(|m| m.len() > 12), "{markers:?}");
    services.fresh_db("gnbr_e2e_encrypted_backup");
    let target = services.settings(dir.path(), "gnbr_e2e_encrypted_backup");
    let mut restore = restore_command(
        dir.path(),
        &target,
        &archive,
        &["--no-snapshot", "--keep-urls", "--identity", key],
    );
    restore.env("TMPDIR", &tmp);
    let (output, seen, found) = run_watched_for(restore, &[&tmp], &markers);
    expect_code(&output, 0);
    assert_eq!(found, Vec::new(), "plaintext of the archive in scratch");
    let staged: Vec<&(PathBuf, Vec<u8>)> = seen
        .iter()
        .filter(|(p, _)| p.to_string_lossy().contains("/gnbr-restore-"))
        .collect();
    assert!(
        staged
            .iter()
            .any(|(p, _)| p.ends_with("fixtures/people.json")),
        "the watcher saw the staged fixtures: {staged:?}"
    );
    for (path, head) in staged {
        assert!(
            head.is_empty() || head.starts_with(b"age-encryption.org/v1\n"),
            "{} is not sealed: {head:?}",
            path.display()
        );
    }
    assert_eq!(
        differences(&services, SOURCE_DB, "gnbr_e2e_encrypted_backup"),
        BTreeSet::new(),
        "tables that differ from the source"
    );
    let restored = std::fs::read(dir.path().join("media/thumbs/ünïcødé.png")).unwrap();
    assert_eq!(restored, b"\x89PNG\r\n");
}

#[test]
fn archives_cross_between_gnbr_and_geonodes_own_tools() {
    let services = Services::get();
    let source_dir = source(&services);
    let settings = services.settings(source_dir, SOURCE_DB);

    // gnbr's archive, restored by GeoNode's own restore.
    let backups = source_dir.join("gnbr-backups-for-geonode");
    let (report, _) = backup(source_dir, &settings, &backups, &["--skip-geoserver"]);
    let ours = PathBuf::from(report["archive"].as_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    services.fresh_db("gnbr_e2e_by_geonode_restore");
    services.geonode_restore(dir.path(), "gnbr_e2e_by_geonode_restore", &ours);
    assert_eq!(
        differences(&services, SOURCE_DB, "gnbr_e2e_by_geonode_restore"),
        BTreeSet::new(),
        "GeoNode's restore of gnbr's archive"
    );

    // GeoNode's own archive, restored by gnbr.
    // GeoNode's own backup switches its instance to read-only while it runs
    // (and creates base_configuration for it): it works on the copy made with
    // the source, which is then the reference for its archive, and the other
    // tests' comparisons with the source hold.
    let theirs = services.geonode_backup(
        source_dir,
        SOURCE_COPY_DB,
        &source_dir.join("geonode-backups"),
    );
    services.fresh_db("gnbr_e2e_of_geonode_backup");
    let target = services.settings(dir.path(), "gnbr_e2e_of_geonode_backup");
    expect_code(
        &restore(dir.path(), &target, &theirs, &["--no-snapshot"]),
        0,
    );
    assert_eq!(
        differences(&services, SOURCE_COPY_DB, "gnbr_e2e_of_geonode_backup"),
        BTreeSet::new(),
        "gnbr's restore of GeoNode's archive"
    );
}

/// gnbr's fixtures are what Django's `dumpdata` (GeoNode's own backup)
/// writes, byte for byte, although gnbr reads many-to-many values a chunk
/// of objects at a time and encodes objects its own way: here with every
/// resource in several regions (an ordered relation, its links inserted out
/// of order) and users in several groups (an unordered one).
#[test]
fn a_gnbr_backups_fixtures_are_what_dumpdata_writes_byte_for_byte() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let db = "gnbr_e2e_dumpdata_bytes";
    services.fresh_db(db);
    services.python(dir.path(), db, &repo().join("tests/data/seed_geonode.py"));
    services.psql(
        db,
        "INSERT INTO base_resourcebase_regions (resourcebase_id, region_id) \
         SELECT r.id, g.id FROM base_resourcebase r JOIN base_region g ON g.id % 37 = r.id % 37 \
         ORDER BY md5(r.id::text || g.id::text)",
    );
    let settings = services.settings(dir.path(), db);
    let (report, _) = backup(
        dir.path(),
        &settings,
        dir.path().join("backups"),
        &["--skip-geoserver"],
    );
    let written = std::fs::read_to_string(&settings).unwrap();
    let list = |key: &str| {
        written
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .expect("settings.ini has [fixtures] apps and dumps")
            .to_owned()
    };
    let (apps, dumps) = (list("apps = "), list("dumps = "));
    let reference = dir.path().join("dumpdata");
    std::fs::create_dir_all(&reference).unwrap();
    services.python_with_args(
        dir.path(),
        db,
        &repo().join("tests/data/dumpdata_apps.py"),
        &[reference.to_str().unwrap(), &apps],
    );
    let archive = std::fs::File::open(report["archive"].as_str().unwrap()).unwrap();
    let mut archive = zip::ZipArchive::new(archive).unwrap();
    let regions = services.psql(db, "SELECT count(*) FROM base_resourcebase_regions");
    assert!(regions.trim().parse::<u32>().unwrap() > 100, "{regions}");
    for (app, dump) in apps.split(',').zip(dumps.split(',')) {
        let mut ours = Vec::new();
        std::io::Read::read_to_end(
            &mut archive.by_name(&format!("fixtures/{dump}.json")).unwrap(),
            &mut ours,
        )
        .unwrap();
        let theirs = std::fs::read(reference.join(format!("{app}.json"))).unwrap();
        assert!(
            ours == theirs,
            "fixtures/{dump}.json differs from dumpdata's of {app} ({} bytes, dumpdata {})",
            ours.len(),
            theirs.len()
        );
    }
}

#[test]
fn an_app_the_geonode_lacks_is_refused_before_anything_is_written() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    services.fresh_db("gnbr_e2e_unknown_app");
    let settings = services.settings(dir.path(), "gnbr_e2e_unknown_app");
    let text = std::fs::read_to_string(&settings).unwrap();
    let text = text.replacen("apps = ", "apps = nosuchapp,", 1).replacen(
        "dumps = ",
        "dumps = nosuchapp,",
        1,
    );
    std::fs::write(&settings, text).unwrap();
    let backups = dir.path().join("backups");
    let output = crate::support::gnbr(
        dir.path(),
        &[
            "-c",
            settings.to_str().unwrap(),
            "backup",
            "--backup-dir",
            backups.to_str().unwrap(),
        ],
    );
    let (_, stderr) = expect_code(&output, 5);
    assert!(
        stderr.contains("[fixtures] apps names `nosuchapp`, which this GeoNode does not have"),
        "{stderr}"
    );
    let written: Vec<_> = std::fs::read_dir(&backups)
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "{written:?}");
}

/// The archive name every run gets from the tests' `SOURCE_DATE_EPOCH`.
const STAMP: &str = "2023-11-14_221320";

/// `backup --skip-geoserver --json` of `settings` into `backups`.
fn backup_args<'a>(settings: &'a Path, backups: &'a Path) -> [&'a str; 7] {
    [
        "-c",
        settings.to_str().unwrap(),
        "backup",
        "--backup-dir",
        backups.to_str().unwrap(),
        "--skip-geoserver",
        "--json",
    ]
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Checks that `archive`'s `.md5` sidecar is the md5 of `content` and its
/// `.ini` sidecar is complete.
fn assert_sidecars_describe(archive: &Path, content: &Path) {
    let md5 = std::fs::read_to_string(archive.with_extension("md5")).unwrap();
    assert_eq!(
        md5,
        gnbr::archive::file_sums(content).unwrap().md5,
        "{}",
        archive.display()
    );
    let ini = std::fs::read_to_string(archive.with_extension("ini")).unwrap();
    assert!(
        ini.starts_with("[database]") && ini.contains("dumps = "),
        "{ini}"
    );
}

#[test]
fn concurrent_backups_into_one_folder_each_keep_their_archive() {
    let services = Services::get();
    let source_dir = source(&services);
    let settings = services.settings(source_dir, SOURCE_DB);
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    // Both started before either ends, at the same SOURCE_DATE_EPOCH: both
    // want the same name, whatever order they finish in.
    let runs: Vec<_> = (0..2)
        .map(|_| {
            command(source_dir, &backup_args(&settings, &backups))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut archives = BTreeSet::new();
    for run in runs {
        let (stdout, _) = expect_code(&run.wait_with_output().unwrap(), exit_codes::SUCCESS);
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        archives.insert(PathBuf::from(report["archive"].as_str().unwrap()));
    }
    let first = backups.join(format!("{STAMP}.zip"));
    let second = backups.join(format!("{STAMP}_2.zip"));
    assert_eq!(archives, BTreeSet::from([first.clone(), second.clone()]));
    let mode = std::fs::metadata(&backups).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the folder gnbr created for them");
    for archive in [&first, &second] {
        assert_sidecars_describe(archive, archive);
        let mode = std::fs::metadata(archive).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", archive.display());
    }
    assert_eq!(
        names(&backups),
        [
            format!("{STAMP}.ini"),
            format!("{STAMP}.md5"),
            format!("{STAMP}.zip"),
            format!("{STAMP}_2.ini"),
            format!("{STAMP}_2.md5"),
            format!("{STAMP}_2.zip"),
        ],
        "nothing else left in the folder"
    );
}

#[test]
fn an_archive_never_has_its_name_without_complete_sidecars() {
    let services = Services::get();
    let source_dir = source(&services);
    let settings = services.settings(source_dir, SOURCE_DB);
    let dir = tempfile::tempdir().unwrap();
    for (fault, named) in [
        ("before-archive-rename", false),
        ("after-archive-rename", true),
    ] {
        let backups = dir.path().join(fault);
        let output = command(source_dir, &backup_args(&settings, &backups))
            .env("GNBR_FAULT", fault)
            .output()
            .unwrap();
        let (_, stderr) = text(&output);
        assert_eq!(output.status.signal(), Some(SIGKILL), "{fault}: {stderr}");
        let archive = backups.join(format!("{STAMP}.zip"));
        assert_eq!(archive.exists(), named, "{fault}: {:?}", names(&backups));
        // Killed before its temporary name was removed: the same content.
        let temp: Vec<PathBuf> = names(&backups)
            .into_iter()
            .filter(|n| n.starts_with(&format!(".{STAMP}.zip.gnbr-")))
            .map(|n| backups.join(n))
            .collect();
        assert_eq!(temp.len(), 1, "{fault}: {:?}", names(&backups));
        assert_sidecars_describe(&archive, &temp[0]);
        if named {
            assert_sidecars_describe(&archive, &archive);
        }
    }
}
