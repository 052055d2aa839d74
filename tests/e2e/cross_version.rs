//! A GeoNode 4.4.5 backup restored by gnbr into GeoNode 5.1.1, compared with
//! the same 4.4.5 database upgraded in place by 5.1.1's own `migrate`.

use std::collections::BTreeSet;

use crate::{
    geonode::Services,
    support::{backup, expect_code, repo, restore},
};

/// Compared without their ids: many-to-many link rows get new ids when
/// loaddata recreates them.
const RENUMBERED: &[(&str, &[&str])] = &[
    ("auth_group_permissions", &["id"]),
    ("people_profile_groups", &["id"]),
];

/// Tables that differ on purpose, each for a named reason.
fn expected_differences(table: &str) -> bool {
    // The in-place path keeps 4.4.5's migration history; a restore keeps the target's own.
    table == "django_migrations"
        // Only the restore records itself.
        || table == "gnbr_restore_log"
        // `sequences` is not among the apps GeoNode backs up.
        || table == "sequences_sequence"
        // Apps GeoNode 5.1 no longer has: migrate leaves their (empty) tables behind.
        || table.starts_with("monitoring_")
        || table.starts_with("user_messages_")
}

#[test]
fn a_44_backup_restored_into_51_equals_the_in_place_upgrade() {
    let old = Services::get_445();
    let new = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    std::fs::create_dir_all(&source).unwrap();
    old.fresh_db("gnbr_e2e_src445");
    old.python(
        &source,
        "gnbr_e2e_src445",
        &repo().join("tests/data/seed_geonode.py"),
    );
    old.python(
        &source,
        "gnbr_e2e_src445",
        &repo().join("tests/data/seed_geonode44_extras.py"),
    );
    let apps_44 = repo().join("tests/data/geonode-4.4.5-settings.ini");
    let settings = old.settings_with_apps(&source, "gnbr_e2e_src445", &apps_44);
    let (report, _) = backup(&source, &settings, "backups", &["--skip-geoserver"]);
    let archive = report["archive"].as_str().unwrap().to_owned();

    // The reference: the very same database, upgraded in place by GeoNode 5.1.1.
    new.copy_db("gnbr_e2e_src445", "gnbr_e2e_inplace");
    new.migrate_in_place(&dir.path().join("inplace"), "gnbr_e2e_inplace");

    let target = dir.path().join("target");
    std::fs::create_dir_all(&target).unwrap();
    new.fresh_db("gnbr_e2e_to511");
    let settings = new.settings_with_apps(&target, "gnbr_e2e_to511", &apps_44);
    let archive = source.join(archive);
    let (stdout, _) = expect_code(
        &restore(&target, &settings, &archive, &["--no-snapshot", "--json"]),
        0,
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["plan"]["source"]["version"], "4.4.5", "{stdout}");
    assert_eq!(
        report["plan"]["plugins"][0].as_str().unwrap(),
        "gn44_to_51 1.0.0 (~4.4 -> 5.1.1)"
    );

    let restored = new.digest_ms("gnbr_e2e_to511", RENUMBERED);
    let in_place = new.digest_ms("gnbr_e2e_inplace", RENUMBERED);
    // The comparison means something only if the data is there.
    for table in ["base_resourcebase", "people_profile", "layers_dataset"] {
        let digest = restored.get(table).map(String::as_str).unwrap_or("0:-");
        assert!(
            !digest.starts_with("0:"),
            "{table} is empty after the restore: {digest}"
        );
    }
    let differ: BTreeSet<&str> = restored
        .keys()
        .chain(in_place.keys())
        .filter(|t| restored.get(*t) != in_place.get(*t) && !expected_differences(t))
        .map(String::as_str)
        .collect();
    assert_eq!(
        differ,
        BTreeSet::new(),
        "tables where the restore and the in-place upgrade differ"
    );

    // Every user logs in with the old password, SHA1 hashes included.
    let checked = new.python_with_args(
        &target,
        "gnbr_e2e_to511",
        &repo().join("tests/data/check_passwords.py"),
        &[
            "legacy:old-sha1-password",
            "admin:admin",
            "zoë:Ünïcødé pass",
        ],
    );
    assert_eq!(
        checked.lines().filter(|l| l.ends_with(" True")).count(),
        3,
        "{checked}"
    );

    // What the in-place path drops silently is in the report: exactly the differing translation.
    let notes: Vec<&str> = report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let dropped: Vec<&&str> = notes
        .iter()
        .filter(|n| n.contains("is not restored"))
        .collect();
    assert_eq!(dropped.len(), 1, "{notes:#?}");
    assert!(
        dropped[0].contains("title_en") && dropped[0].contains("An English title that differs"),
        "{notes:#?}"
    );
}
