//! gnbr's search-index rebuild against GeoNode 5.1.1's own `reindex`, on
//! the real 5.1.1 backup with unicode titles and abstracts and titles and
//! abstracts in several languages: each test rebuilds one copy of a database
//! with gnbr and another with GeoNode's `manage.py reindex`, and compares
//! `indexing_resourceindex` row by row (id, resource, language, index name,
//! vector as text).

use std::{io::Write, path::Path};

use crate::{
    geonode::{gn511_archive, Services},
    support::{expect_code, repo, restore},
};

/// The search index, one line a row, in id order.
const INDEX_ROWS: &str = "SELECT id, resource_id, coalesce(lang, '-'), name, vector::text \
                          FROM indexing_resourceindex ORDER BY id";

/// The real backup holds 28 resources, GeoNode 5.1.1 three indexes.
const RESOURCES: usize = 28;
const INDEXES: usize = 3;

/// The languages of [`MULTILANG_SETTINGS`], the default (`en`) among them;
/// `ja` has no text search configuration of its own (`simple`).
const LANGUAGES: usize = 5;

/// A settings module over GeoNode's own: titles and abstracts in five
/// languages.
const MULTILANG_SETTINGS: &str = "from geonode.settings import *  # noqa: F401,F403\n\
     MULTILANG_FIELDS = (\"title\", \"abstract\")\n\
     LANGUAGES = ((\"de\", \"Deutsch\"), (\"en\", \"English\"), (\"it\", \"Italiano\"), \
     (\"ja\", \"日本語\"), (\"el\", \"Ελληνικά\"))\n";

/// A settings module over GeoNode's own whose index reads the keywords,
/// which only their own metadata handler knows how to read.
const KEYWORD_INDEX_SETTINGS: &str = "from geonode.settings import *  # noqa: F401,F403\n\
     METADATA_INDEXES = {\"title\": [\"title\"], \"keywords\": [\"title\", \"hkeywords\"]}\n";

/// Unicode titles and abstracts, and titles and abstracts per language
/// (GeoNode's sparse fields): complete for resource 2, only Italian for 3
/// (the other languages get every title GeoNode has for it), an empty
/// English one for 5, a null Italian one for 6.
fn multilingual(fixture: &str, objects: &mut Vec<serde_json::Value>) {
    match fixture {
        "base.json" => {
            for object in objects.iter_mut() {
                let edit = match (&object["model"], object["pk"].as_i64()) {
                    (m, Some(2)) if m == "base.resourcebase" => {
                        ("title", "Café Müller – Straße 東京 Ελλάδα")
                    }
                    (m, Some(3)) if m == "base.resourcebase" => {
                        ("abstract", "Привет мир, naïve façade")
                    }
                    (m, Some(4)) if m == "base.resourcebase" => ("title", "Fjäll ✓ ölstuga"),
                    _ => continue,
                };
                object["fields"][edit.0] = edit.1.into();
            }
        }
        "metadata.json" => {
            let sparse = [
                (2, "title_multilang_it", Some("Caffè città")),
                (2, "title_multilang_de", Some("Kaffee Straße")),
                (2, "title_multilang_ja", Some("東京の地図")),
                (2, "title_multilang_el", Some("Χάρτης της πόλης")),
                (2, "title_multilang_en", Some("Coffee map")),
                (3, "title_multilang_it", Some("mappa dei fiumi")),
                (
                    4,
                    "abstract_multilang_de",
                    Some("Zusammenfassung über Flüsse"),
                ),
                (5, "title_multilang_en", Some("")),
                (5, "title_multilang_de", Some("Karte")),
                (6, "title_multilang_it", None),
            ];
            for (pk, (resource, name, value)) in (1..).zip(sparse) {
                objects.push(serde_json::json!({
                    "model": "metadata.sparsefield",
                    "pk": pk,
                    "fields": {"resource": resource, "name": name, "value": value},
                }));
            }
        }
        _ => {}
    }
}

/// Points `dir/settings.ini` and `dir/gn.env`, written by
/// [`Services::settings`], at the settings module `module` written into `dir`.
fn use_settings_module(dir: &Path, module: &str) {
    std::fs::write(dir.join("gnbr_test_settings.py"), module).unwrap();
    let settings = std::fs::read_to_string(dir.join("settings.ini")).unwrap();
    let settings = settings.replace(
        "[geonode]\n",
        "[geonode]\nsettings_module = gnbr_test_settings\n",
    );
    std::fs::write(dir.join("settings.ini"), settings).unwrap();
    let mut env = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("gn.env"))
        .unwrap();
    writeln!(env, "PYTHONPATH={}", dir.display()).unwrap();
}

/// GeoNode's environment for `db`, with the settings module of `dir` if
/// [`use_settings_module`] wrote one.
fn django_env(services: &Services, dir: &Path, db: &str) -> Vec<(String, String)> {
    let mut env = services.django_env(dir, db);
    if dir.join("gnbr_test_settings.py").exists() {
        for (key, value) in &mut env {
            if key == "DJANGO_SETTINGS_MODULE" {
                *value = "gnbr_test_settings".to_owned();
            }
        }
        env.push(("PYTHONPATH".to_owned(), dir.display().to_string()));
    }
    env
}

/// GeoNode's own `reindex` of `db` after emptying its index, as a restore
/// leaves it before rebuilding it.
fn geonode_reindex_from_empty(services: &Services, dir: &Path, db: &str) {
    services.psql(db, "TRUNCATE indexing_resourceindex RESTART IDENTITY");
    services.run_with_env(
        "GNBR_TEST_DJANGO_ADMIN",
        &["reindex"],
        &django_env(services, dir, db),
    );
}

/// gnbr's restore of the multilingual archive into a fresh `db`, with the
/// settings module `module` (GeoNode's own settings if `None`): the work
/// folder, and gnbr's stderr.
fn restore_multilingual(
    services: &Services,
    db: &str,
    module: Option<&str>,
) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let archive = gn511_archive(dir.path(), "gn511.zip", multilingual, &[]);
    services.fresh_db(db);
    let settings = services.settings(dir.path(), db);
    if let Some(module) = module {
        use_settings_module(dir.path(), module);
    }
    let (_, stderr) = expect_code(&restore(dir.path(), &settings, &archive, &[]), 0);
    (dir, stderr)
}

/// gnbr restores the multilingual archive into `gnbr_e2e_reindex_{name}`
/// ([`restore_multilingual`]); GeoNode's `reindex` rebuilds a copy's index.
/// Both indexes must be the same, row by row; returns gnbr's stderr and the
/// rows.
fn restore_and_compare(name: &str, module: Option<&str>) -> (String, Vec<String>) {
    let services = Services::get();
    let ours = format!("gnbr_e2e_reindex_{name}");
    let theirs = format!("gnbr_e2e_reindex_{name}_geonode");
    let (dir, stderr) = restore_multilingual(&services, &ours, module);
    services.copy_db(&ours, &theirs);
    geonode_reindex_from_empty(&services, dir.path(), &theirs);
    let rows = services.psql(&ours, INDEX_ROWS);
    assert_eq!(
        rows,
        services.psql(&theirs, INDEX_ROWS),
        "gnbr's index (left) differs from GeoNode's reindex (right)"
    );
    (stderr, rows.lines().map(str::to_owned).collect())
}

#[test]
fn restore_rebuilds_the_index_geonodes_reindex_gives() {
    let (stderr, rows) = restore_and_compare("plain", None);
    assert!(!stderr.contains("reindex_fallback"), "{stderr}");
    assert_eq!(rows.len(), RESOURCES * INDEXES);
    // Unicode titles survive into the vectors, stemmed by `simple` alone.
    assert!(
        rows.iter()
            .any(|r| r.contains("|2|-|title|") && r.contains("'東京'") && r.contains("'straße'")),
        "{rows:#?}"
    );
}

#[test]
fn restore_rebuilds_the_index_geonodes_reindex_gives_in_several_languages() {
    let (stderr, rows) = restore_and_compare("multilang", Some(MULTILANG_SETTINGS));
    assert!(!stderr.contains("reindex_fallback"), "{stderr}");
    assert_eq!(rows.len(), RESOURCES * INDEXES * LANGUAGES);
    let row = |resource: u32, lang: &str, index: &str| {
        rows.iter()
            .find(|r| {
                r.split('|')
                    .skip(1)
                    .take(3)
                    .eq([&*resource.to_string(), lang, index])
            })
            .unwrap_or_else(|| panic!("no row {resource} {lang} {index}: {rows:#?}"))
            .clone()
    };
    // Each language with its own stemmer.
    assert!(row(2, "it", "title").ends_with("|'caff':1 'citt':2"));
    assert!(row(2, "ja", "title").ends_with("|'東京の地図':1"));
    // Only Italian: the other languages get the Italian title and the base one.
    assert!(
        row(3, "de", "title").contains("'mappa'") && row(3, "de", "title").contains("'lorem1'")
    );
}

#[test]
fn rebuild_over_an_index_with_rows_replays_geonodes_updates() {
    let services = Services::get();
    let ours = "gnbr_e2e_reindex_merge";
    let theirs = "gnbr_e2e_reindex_merge_geonode";
    let (dir, _) = restore_multilingual(&services, ours, None);
    // Rows a rebuild must keep (another index, another language), rewrite
    // and add, as GeoNode's update_or_create does, in their places (ids).
    services.psql(
        ours,
        "INSERT INTO indexing_resourceindex (resource_id, lang, name, vector) VALUES \
         (1, NULL, 'retired', to_tsvector('simple', 'old index')), \
         (1, 'xx', 'title', to_tsvector('simple', 'unknown language')), \
         (4, 'de', 'title', to_tsvector('simple', 'stale german')); \
         UPDATE indexing_resourceindex SET vector = to_tsvector('simple', 'wrong') WHERE resource_id = 5; \
         DELETE FROM indexing_resourceindex WHERE resource_id = 8",
    );
    services.copy_db(ours, theirs);
    use_settings_module(dir.path(), MULTILANG_SETTINGS);
    let script = repo().join("tests/data/rebuild_search_index.py");
    let helper = repo().join("host/src/geonode");
    let events = services.run_with_env(
        "GNBR_TEST_PYTHON",
        &[script.to_str().unwrap(), helper.to_str().unwrap()],
        &django_env(&services, dir.path(), ours),
    );
    assert!(
        events.contains("\"reindexed\"") && !events.contains("reindex_fallback"),
        "{events}"
    );
    services.run_with_env(
        "GNBR_TEST_DJANGO_ADMIN",
        &["reindex"],
        &django_env(&services, dir.path(), theirs),
    );
    let rows = services.psql(ours, INDEX_ROWS);
    assert_eq!(rows, services.psql(theirs, INDEX_ROWS));
    assert!(
        rows.contains("|1|-|retired|") && rows.contains("|1|xx|title|"),
        "{rows}"
    );
}

#[test]
fn an_index_of_fields_gnbr_cannot_read_falls_back_to_geonodes_reindex() {
    let (stderr, rows) = restore_and_compare("keywords", Some(KEYWORD_INDEX_SETTINGS));
    assert!(
        stderr.contains("reindex_fallback: the search index reads `hkeywords` through metadata handler `hkeyword`"),
        "{stderr}"
    );
    assert_eq!(rows.len(), RESOURCES * 2);
}
