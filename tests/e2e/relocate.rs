//! `gnbr restore` onto another host: an instance at `http://old.example.org/`
//! with its media and assets under one root, backed up and restored into one
//! at `https://new.example.net/` with other folders. No text or JSON column
//! of any table may keep the old address or folders afterwards.

use gnbr::exit_codes;

use crate::{
    geonode::{gn511_archive, Services},
    support::{backup, expect_code, repo, restore},
};

const SOURCE_DB: &str = "gnbr_e2e_relocate_source";
const TARGET_DB: &str = "gnbr_e2e_relocate_target";
const GEONODE_DB: &str = "gnbr_e2e_relocate_geonode";
const OLD_SITE: &str = "http://old.example.org/";
const NEW_SITE: &str = "https://new.example.net/";

/// Every text, varchar and json(b) column of every public table holding one
/// of `needles`, with how many rows hold it: `table.column` -> rows.
fn stale_values(services: &Services, db: &str, needles: &[&str]) -> Vec<(String, u64)> {
    let columns = services.psql(
        db,
        "SELECT table_name || '|' || column_name FROM information_schema.columns \
         JOIN information_schema.tables USING (table_schema, table_name) \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' \
         AND data_type IN ('text', 'character varying', 'json', 'jsonb') ORDER BY 1",
    );
    let condition = |column: &str| {
        needles
            .iter()
            .map(|n| format!("strpos(\"{column}\"::text, '{n}') > 0"))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    let query = columns
        .lines()
        .map(|line| {
            let (table, column) = line.split_once('|').unwrap();
            format!(
                "SELECT '{table}.{column}' AS field, count(*) AS n FROM \"{table}\" WHERE {}",
                condition(column)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    assert!(!query.is_empty(), "{db} has text columns");
    services
        .psql(
            db,
            &format!("SELECT field || '|' || n FROM ({query}) AS c WHERE n > 0 ORDER BY 1"),
        )
        .lines()
        .map(|line| {
            let (field, n) = line.rsplit_once('|').unwrap();
            (field.to_owned(), n.parse().unwrap())
        })
        .collect()
}

#[test]
fn a_restore_onto_another_host_leaves_no_old_address_or_folder() {
    let services = Services::get();
    let source = tempfile::tempdir().unwrap();
    let root = source.path().join("srv-old");
    let (old_media, old_assets) = (root.join("uploaded"), root.join("assets"));
    let old_env = services.site_env(source.path(), SOURCE_DB, OLD_SITE, &old_media, &old_assets);
    services.fresh_db(SOURCE_DB);
    for script in ["seed_geonode.py", "seed_relocate.py"] {
        let script = repo().join("tests/data").join(script);
        services.run_with_env("GNBR_TEST_PYTHON", &[script.to_str().unwrap()], &old_env);
    }
    let old_settings = services.settings_for_env(source.path(), &old_env);
    let backups = source.path().join("backups");
    let (report, _) = backup(
        source.path(),
        &old_settings,
        &backups,
        &["--skip-geoserver"],
    );
    let archive = report["archive"].as_str().unwrap().to_owned();
    let old_root = root.display().to_string();
    let needles = ["old.example.org", old_root.as_str()];
    let before = stale_values(&services, SOURCE_DB, &needles);
    for field in [
        "base_resourcebase.thumbnail_url",
        "base_link.url",
        "base_resourcebase.blob",
        "django_site.domain",
        "oauth2_provider_application.redirect_uris",
        "assets_localasset.location",
    ] {
        assert!(
            before.iter().any(|(f, _)| f == field),
            "the seed puts the old address or root in {field}: {before:?}"
        );
    }

    let target = tempfile::tempdir().unwrap();
    let (new_media, new_assets) = (target.path().join("media"), target.path().join("files"));
    let new_env = services.site_env(target.path(), TARGET_DB, NEW_SITE, &new_media, &new_assets);
    services.fresh_db(TARGET_DB);
    std::fs::create_dir_all(&new_media).unwrap();
    std::fs::create_dir_all(&new_assets).unwrap();
    let new_settings = services.settings_for_env(target.path(), &new_env);
    let (plan, _) = expect_code(
        &restore(
            target.path(),
            &new_settings,
            &archive,
            &["--skip-geoserver", "--dry-run"],
        ),
        exit_codes::SUCCESS,
    );
    assert!(
        plan.contains("relocate  SITEURL http://old.example.org -> https://new.example.net"),
        "{plan}"
    );
    assert!(
        plan.contains("relocate  base.resourcebase.blob: "),
        "{plan}"
    );
    assert_eq!(stale_values(&services, TARGET_DB, &needles), []);
    let (out, _) = expect_code(
        &restore(
            target.path(),
            &new_settings,
            &archive,
            &["--skip-geoserver"],
        ),
        exit_codes::SUCCESS,
    );
    for field in [
        "base.resourcebase.thumbnail_url",
        "base.link.url",
        "sites.site.domain",
        "oauth2_provider.application.redirect_uris",
        "assets.localasset.location",
    ] {
        assert!(
            out.contains(&format!("relocate  {field}: ")),
            "{field}\n{out}"
        );
    }
    let stale = stale_values(&services, TARGET_DB, &needles);
    assert_eq!(stale, [], "the old address or root is left in the target");

    let locations = services.psql(
        TARGET_DB,
        "SELECT l FROM assets_localasset, jsonb_array_elements_text(location::jsonb) AS l",
    );
    assert!(!locations.trim().is_empty(), "the seed made a local asset");
    for location in locations.lines() {
        assert!(
            location.starts_with(&new_assets.display().to_string()),
            "{location}"
        );
        assert!(
            std::fs::File::open(location).is_ok(),
            "{location} does not open"
        );
    }
    let thumbnails = services.psql(
        TARGET_DB,
        "SELECT thumbnail_url FROM base_resourcebase WHERE thumbnail_url <> '' ORDER BY id",
    );
    assert!(!thumbnails.trim().is_empty());
    for url in thumbnails.lines() {
        assert!(url.starts_with(NEW_SITE), "{url}");
    }
    // GeoNode 5.1 serves detail pages at a path of SITEURL; the page links
    // the seed stored are absolute.
    let pages = services.psql(
        TARGET_DB,
        "SELECT url FROM base_link WHERE link_type = 'html' ORDER BY id",
    );
    assert!(!pages.trim().is_empty());
    for url in pages.lines() {
        assert!(url.starts_with(NEW_SITE), "{url}");
    }
    assert_eq!(
        services.psql(TARGET_DB, "SELECT domain || ' ' || name FROM django_site"),
        "new.example.net new.example.net\n"
    );

    // GeoNode's own way: its restore, then migrate_baseurl.
    let by_geonode = tempfile::tempdir().unwrap();
    let geonode_env = services.site_env(
        by_geonode.path(),
        GEONODE_DB,
        NEW_SITE,
        &by_geonode.path().join("media"),
        &by_geonode.path().join("files"),
    );
    services.fresh_db(GEONODE_DB);
    for folder in ["media", "files"] {
        std::fs::create_dir_all(by_geonode.path().join(folder)).unwrap();
    }
    let settings_ini =
        repo().join("tests/data/geonode-5.1.1-backup/settings-as-written-by-backup.ini");
    services.run_with_env(
        "GNBR_TEST_DJANGO_ADMIN",
        &[
            "restore",
            "--backup-file",
            &archive,
            "-c",
            settings_ini.to_str().unwrap(),
            "--skip-geoserver",
            "--skip-read-only",
            "-f",
        ],
        &geonode_env,
    );
    services.run_with_env(
        "GNBR_TEST_DJANGO_ADMIN",
        &[
            "migrate_baseurl",
            "--source-address=old.example.org",
            "--target-address=new.example.net",
            "-f",
        ],
        &geonode_env,
    );
    let left = stale_values(&services, GEONODE_DB, &needles);
    eprintln!(
        "stale values after GeoNode's restore + migrate_baseurl: {} in {} fields: {left:?}; after gnbr's restore: {}",
        left.iter().map(|(_, n)| n).sum::<u64>(),
        left.len(),
        stale.len()
    );
}

#[test]
fn an_archive_from_an_unknown_address_is_named_before_the_restore_and_moved_when_given() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = gn511_archive(
        dir.path(),
        "from-elsewhere.zip",
        |_, objects| {
            for object in objects.iter_mut() {
                if object["model"] == "base.resourcebase" {
                    object["fields"]["thumbnail_url"] =
                        "http://old.example.org/uploaded/thumbs/t.png".into();
                }
            }
        },
        &[],
    );
    let db = "gnbr_e2e_relocate_unknown";
    services.fresh_db(db);
    let settings = services.settings(dir.path(), db);
    let (plan, warnings) = expect_code(
        &restore(
            dir.path(),
            &settings,
            &archive,
            &["--skip-geoserver", "--dry-run"],
        ),
        exit_codes::SUCCESS,
    );
    assert!(
        warnings.contains("thumbnail_url: http://old.example.org/uploaded/thumbs/t.png")
            && warnings.contains("--source-siteurl"),
        "{warnings}"
    );
    assert!(!plan.contains("relocate  "), "{plan}");
    let (plan, warnings) = expect_code(
        &restore(
            dir.path(),
            &settings,
            &archive,
            &[
                "--skip-geoserver",
                "--dry-run",
                "--source-siteurl",
                "http://old.example.org/",
            ],
        ),
        exit_codes::SUCCESS,
    );
    assert!(!warnings.contains("--source-siteurl"), "{warnings}");
    assert!(
        plan.contains("relocate  base.resourcebase.thumbnail_url: "),
        "{plan}"
    );
    let (plan, _) = expect_code(
        &restore(
            dir.path(),
            &settings,
            &archive,
            &[
                "--skip-geoserver",
                "--dry-run",
                "--source-siteurl",
                "http://old.example.org/",
                "--keep-urls",
            ],
        ),
        exit_codes::SUCCESS,
    );
    assert!(!plan.contains("relocate  "), "{plan}");
}
