//! A GeoNode 4.4.5 backup restored by gnbr into GeoNode 5.1.1, compared with
//! the same 4.4.5 database upgraded in place by 5.1.1's own `migrate`.

use std::collections::BTreeSet;

use crate::{
    geonode::{load_per_object, tables_that_differ, Services, RESTORE_RECORD},
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
    // As the load left it: the logins below rehash the passwords they check.
    let batched = new.digest("gnbr_e2e_to511", &[RESTORE_RECORD]);
    assert_eq!(
        report["plan"]["plugins"][0].as_str().unwrap(),
        "gn44_to_51 1.0.0 (~4.4 -> 5.1.1)"
    );

    // The restore moves asset locations from the source's ASSETS_ROOT to the
    // target's, where it put the files; the in-place upgrade stays on the
    // source's: compared below, path by path.
    let ignore = [RENUMBERED, &[("assets_localasset", &["location"][..])]].concat();
    let restored = new.digest_ms("gnbr_e2e_to511", &ignore);
    let in_place = new.digest_ms("gnbr_e2e_inplace", &ignore);
    let locations = |db: &str| {
        new.psql(
            db,
            "SELECT l FROM assets_localasset, jsonb_array_elements_text(location::jsonb) AS l ORDER BY 1",
        )
    };
    let moved = locations("gnbr_e2e_inplace").replace(
        &source.join("assets").display().to_string(),
        &target.join("assets").display().to_string(),
    );
    assert_eq!(locations("gnbr_e2e_to511"), moved);
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

    // The batched load wrote, through the 4.4 -> 5.1 plugins, the very rows
    // the object-by-object load writes: every column, link rows' ids too.
    new.fresh_db("gnbr_e2e_to511_per_object");
    let settings = new.settings_with_apps(&target, "gnbr_e2e_to511_per_object", &apps_44);
    load_per_object(&settings);
    expect_code(
        &restore(&target, &settings, &archive, &["--no-snapshot"]),
        0,
    );
    let per_object = new.digest("gnbr_e2e_to511_per_object", &[RESTORE_RECORD]);
    assert_eq!(
        tables_that_differ(&batched, &per_object),
        BTreeSet::new(),
        "tables the two loads wrote differently"
    );
}

/// Columns of a GeoNode 3.3 database restored into 4.4.5 or 5.1.1 that
/// differ from the in-place upgrade on purpose, compared on their own
/// terms by [`compare_33`] (beside [`RENUMBERED`]'s).
const SET_APART_33: &[(&str, &[&str])] = &[
    // GeoNode 3.3's own backup holds no MapStore map configuration (its
    // `mapstore2_adapter` label has no models; the configurations live in
    // tables no fixture dumps), which the in-place upgrade turns into each
    // map's blob. Documents are re-saved by 4.1's documents.0036, whose
    // signals regenerate their catalogue text and time of update.
    (
        "base_resourcebase",
        &[
            "blob",
            "metadata_xml",
            "csw_wkt_geometry",
            "csw_anytext",
            "last_updated",
        ],
    ),
    // The search index's rows are numbered in the order resources were
    // indexed.
    ("indexing_resourceindex", &["id"]),
];

/// Tables compared on their own terms by [`compare_33`], or left out for
/// a named reason.
fn set_apart_33(table: &str, restored: Option<&String>) -> bool {
    expected_differences(table)
        // Apps the target GeoNode no longer has: migrate leaves their tables
        // behind, a fresh target never had them.
        || restored.is_none()
        // Numbered in the order the migration met the rows on disk, which
        // no backup records: compared by the resource they belong to.
        || matches!(table, "assets_asset" | "assets_localasset" | "base_link")
        // No GeoNode backup holds the importer app (4.4's `apps` lack it), so
        // a restore never has the handler rows importer.0007 makes in place;
        // GeoNode's own 4.4 -> 4.4 restore loses them as well.
        || table == "importer_resourcehandlerinfo"
        // Into 5.1 in place, those importer rows are carried over and 5.1's
        // migration adds one more per legacy dataset: compared without
        // the duplicates.
        || table == "upload_resourcehandlerinfo"
}

/// What [`set_apart_33`] sets apart, compared on its own terms where the
/// target has the table named: each query must give the same rows in both
/// databases once the target's `MEDIA_ROOT` (`media` under each one's
/// folder) is cut from paths.
const COMPARED_33: &[(&str, &str, &str)] = &[
    (
        "blobs of everything but maps",
        "base_resourcebase",
        "SELECT id, blob FROM base_resourcebase WHERE resource_type <> 'map' ORDER BY id",
    ),
    (
        "catalogue text and time of update of everything but documents",
        "base_resourcebase",
        "SELECT id, metadata_xml, csw_wkt_geometry, csw_anytext, \
         date_trunc('milliseconds', last_updated) FROM base_resourcebase \
         WHERE resource_type <> 'document' ORDER BY id",
    ),
    (
        "links other than uploads and documents' regenerated metadata links",
        "base_link",
        "SELECT to_jsonb(l) FROM base_link l WHERE asset_id IS NULL \
         AND NOT (link_type = 'metadata' AND resource_id IN (SELECT resourcebase_ptr_id FROM documents_document)) \
         ORDER BY id",
    ),
    (
        "assets with their uploaded links, by resource",
        "assets_localasset",
        "SELECT l.resource_id, l.link_type, l.name, l.extension, l.mime, a.title, a.description, \
         a.type, a.owner_id, la.location::text FROM base_link l JOIN assets_asset a ON a.id = l.asset_id \
         JOIN assets_localasset la ON la.asset_ptr_id = a.id ORDER BY l.resource_id",
    ),
    (
        "upload handlers of datasets, without the in-place road's duplicates",
        "upload_resourcehandlerinfo",
        "SELECT DISTINCT resource_id, handler_module_path, kwargs::text, execution_request_id \
         FROM upload_resourcehandlerinfo ORDER BY 1, 2",
    ),
];

/// The differences between a restored database and its in-place reference:
/// tables (less [`SET_APART_33`]'s columns) and [`COMPARED_33`]'s queries.
fn compare_33(
    target: &Services,
    (db, db_dir): (&str, &std::path::Path),
    (reference, reference_dir): (&str, &std::path::Path),
) -> Vec<String> {
    let ignored: Vec<(&str, &[&str])> = RENUMBERED.iter().chain(SET_APART_33).copied().collect();
    let restored = target.digest_ms(db, &ignored);
    let in_place = target.digest_ms(reference, &ignored);
    let mut differ: Vec<String> = restored
        .keys()
        .chain(in_place.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|t| restored.get(*t) != in_place.get(*t) && !set_apart_33(t, restored.get(*t)))
        .map(|t| format!("{db}: table {t}"))
        .collect();
    for (what, table, sql) in COMPARED_33 {
        if !restored.contains_key(*table) {
            continue;
        }
        let rows = |db: &str, dir: &std::path::Path| {
            target
                .psql(db, sql)
                .replace(&dir.join("media").display().to_string(), "MEDIA_ROOT")
        };
        if rows(db, db_dir) != rows(reference, reference_dir) {
            differ.push(format!("{db}: {what}"));
        }
    }
    differ
}

/// A GeoNode 3.3.3 backup, written by 3.3.3's own `backup`, restored by gnbr
/// into GeoNode 4.4.5 (`gn33_to_41`, `gn41_to_44`) and into 5.1.1 (and
/// `gn44_to_51`), each compared table by table with the same 3.3.3 database
/// upgraded in place (3.3.3 -> 4.1.5 -> 4.4.5 -> 5.1.1 by each one's
/// `migrate`), and every old password checked.
#[test]
fn a_33_backup_restored_into_44_and_51_equals_the_in_place_upgrade() {
    let gn33 = Services::get_333();
    let gn41 = Services::get_415();
    let gn44 = Services::get_445();
    let gn51 = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    std::fs::create_dir_all(&source).unwrap();
    gn33.fresh_db("gnbr_e2e_src333");
    gn33.python(
        &source,
        "gnbr_e2e_src333",
        &repo().join("tests/data/seed_geonode33.py"),
    );
    let apps_33 = repo().join("tests/data/geonode-3.3.3-settings.ini");
    let archive = gn33.geonode_backup_with(
        &source,
        "gnbr_e2e_src333",
        &source.join("backups"),
        &apps_33,
    );

    // The references: the very same database, upgraded in place hop by hop.
    let inplace = dir.path().join("inplace");
    std::fs::create_dir_all(&inplace).unwrap();
    gn41.copy_db("gnbr_e2e_src333", "gnbr_e2e_inplace33to44");
    gn41.migrate_in_place(&inplace, "gnbr_e2e_inplace33to44");
    gn44.migrate_in_place(&inplace, "gnbr_e2e_inplace33to44");
    gn51.copy_db("gnbr_e2e_inplace33to44", "gnbr_e2e_inplace33to51");
    gn51.migrate_in_place(&inplace, "gnbr_e2e_inplace33to51");

    let users = [
        "legacy:old-sha1-password",
        "admin:admin",
        "zoë:Ünïcødé pass",
    ];
    let mut differ = Vec::new();
    for (target_gn, db, reference, chain) in [
        (
            &gn44,
            "gnbr_e2e_33to445",
            "gnbr_e2e_inplace33to44",
            &["gn33_to_41", "gn41_to_44"][..],
        ),
        (
            &gn51,
            "gnbr_e2e_33to511",
            "gnbr_e2e_inplace33to51",
            &["gn33_to_41", "gn41_to_44", "gn44_to_51"][..],
        ),
    ] {
        let target = dir.path().join(db);
        std::fs::create_dir_all(&target).unwrap();
        target_gn.fresh_db(db);
        let settings = target_gn.settings_with_apps(&target, db, &apps_33);
        let (stdout, _) = expect_code(
            &restore(&target, &settings, &archive, &["--no-snapshot", "--json"]),
            0,
        );
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["plan"]["source"]["lines"], "3.3", "{stdout}");
        let planned: Vec<&str> = report["plan"]["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().split(' ').next().unwrap())
            .collect();
        assert_eq!(planned, chain, "{stdout}");

        for table in [
            "base_resourcebase",
            "people_profile",
            "layers_dataset",
            "maps_maplayer",
            "assets_localasset",
        ] {
            let rows = target_gn.psql(db, &format!("SELECT count(*) FROM {table}"));
            assert_ne!(
                rows.trim(),
                "0",
                "{table} is empty after the restore into {db}"
            );
        }
        differ.extend(compare_33(target_gn, (db, &target), (reference, &inplace)));

        // Every user logs in as after the in-place upgrade.
        let check = |dir: &std::path::Path, db: &str| {
            target_gn.python_with_args(
                dir,
                db,
                &repo().join("tests/data/check_passwords.py"),
                &users,
            )
        };
        let after_restore = check(&target, db);
        assert_eq!(after_restore, check(&inplace, reference), "{db}");
        assert!(
            after_restore.contains("admin True") && after_restore.contains("zoë True"),
            "{after_restore}"
        );
    }
    assert_eq!(
        differ,
        Vec::<String>::new(),
        "where the restores and the in-place upgrades differ"
    );
}
