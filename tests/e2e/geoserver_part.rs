//! GeoServer's half of `gnbr backup` and `gnbr restore` against a real
//! GeoNode 5.1.1, a real PostGIS datastore and real data directories, with
//! GeoServer's REST API served by the TEST DOUBLE (`tests/geoserver-double/`:
//! GeoServer cannot run on these machines).

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use gnbr::exit_codes::TARGET;

use crate::{
    geonode::{set_lock_timeout, Services},
    geoserver::{Double, PASSWORD},
    support::{
        age_encrypted, backup, expect_code, gnbr, restore, restore_command, run_watched, text,
    },
    swap::REFUSE_COMMITS,
};

/// The source's datastore: a mixed-case table with a serial primary key, a
/// unique and a check constraint and a GiST index, and a table in a
/// second schema.
const SOURCE_TABLES: &str = r#"
CREATE TABLE "Roads" (
    id serial PRIMARY KEY,
    name text UNIQUE NOT NULL,
    lanes integer CHECK (lanes > 0),
    geom geometry(LineString, 4326)
);
CREATE INDEX "Roads_geom_idx" ON "Roads" USING gist (geom);
INSERT INTO "Roads" (name, lanes, geom) VALUES
    ('Via Ünïcødé', 2, 'SRID=4326;LINESTRING(0 0, 1 1)'),
    ('O''Connell Street', 4, 'SRID=4326;LINESTRING(1 1, 2 3)'),
    ('Ring', 1, NULL);
CREATE SCHEMA extra;
CREATE TABLE extra.parcels (pid bigint PRIMARY KEY, geom geometry(Polygon, 3857));
INSERT INTO extra.parcels VALUES (7, 'SRID=3857;POLYGON((0 0, 0 1, 1 1, 0 0))');
"#;

/// The target's datastore before the restore: an older `Roads` (replaced)
/// and a table the backup does not hold (kept).
const TARGET_TABLES: &str = r#"
CREATE TABLE "Roads" (id integer, old_column text);
INSERT INTO "Roads" VALUES (1, 'old');
CREATE TABLE keep_me (id integer PRIMARY KEY);
INSERT INTO keep_me VALUES (42);
"#;

/// Points the settings at a GeoServer (the double), a data directory (or
/// none) and a shared folder, with quick polling: their `[geoserver]`
/// section, the last one, is written anew.
fn geoserver_settings(settings: &Path, double: &Double, datadir: Option<&Path>, shared: &Path) {
    let text = std::fs::read_to_string(settings).unwrap();
    let head = &text[..text.find("[geoserver]\n").unwrap()];
    let datadir = datadir.map_or(String::new(), |d| d.display().to_string());
    let text = format!(
        "{head}[geoserver]\ndatadir = {datadir}\nurl = {}\nbr_folder = {}\npoll_interval = 0.05\njob_deadline = 60\ndatastore_schemas = public, extra\n",
        double.url,
        shared.display()
    );
    std::fs::write(settings, text).unwrap();
}

/// A target: a fresh GeoNode database `db` with the datastore `datastore`
/// holding [`TARGET_TABLES`], GeoServer's password in its env file; returns
/// its settings.
fn target(services: &Services, dir: &Path, db: &str, datastore: &str) -> PathBuf {
    services.fresh_db(db);
    services.fresh_datastore(datastore);
    services.psql_as_owner(datastore, TARGET_TABLES);
    let settings = services.settings(dir, db);
    services.add_datastore(
        dir,
        datastore,
        &[&format!("GEOSERVER_ADMIN_PASSWORD={PASSWORD}")],
    );
    settings
}

/// A [`target`] served by a GeoServer double whose data directory it
/// restores into: the double, and the settings.
fn served_target(services: &Services, dir: &Path, db: &str, datastore: &str) -> (Double, PathBuf) {
    let double = Double::start(&[]);
    let settings = target(services, dir, db, datastore);
    geoserver_settings(
        &settings,
        &double,
        Some(double.data_dir()),
        &dir.join("shared"),
    );
    (double, settings)
}

/// The `sf` store of the CITE data directory, pointed at `database` on the test cluster.
fn point_store_at(datadir: &Path, services: &Services, database: &str) {
    let path = datadir.join("workspaces/sf/sf/datastore.xml");
    let xml = std::fs::read_to_string(&path).unwrap();
    let xml = xml
        .replace(
            r#"<entry key="database">cite</entry>"#,
            &format!(r#"<entry key="database">{database}</entry>"#),
        )
        .replace(
            r#"<entry key="host">localhost</entry>"#,
            &format!(r#"<entry key="host">{}</entry>"#, services.pg_host()),
        )
        .replace(
            r#"<entry key="port">5432</entry>"#,
            &format!(r#"<entry key="port">{}</entry>"#, services.pg_port()),
        )
        .replace(
            r#"<entry key="user">cite</entry>"#,
            r#"<entry key="user">gnbr</entry>"#,
        );
    std::fs::write(path, xml).unwrap();
}

fn store_database(datadir: &Path) -> String {
    let xml = std::fs::read_to_string(datadir.join("workspaces/sf/sf/datastore.xml")).unwrap();
    let start = xml.find(r#"<entry key="database">"#).unwrap() + 22;
    xml[start..start + xml[start..].find('<').unwrap()].to_owned()
}

fn requests(double: &Double, method: &str, suffix: &str) -> usize {
    double.log()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == method && r["path"].as_str().unwrap().ends_with(suffix))
        .count()
}

/// The source instance, backed up with its data directory, its datastore
/// and GeoServer's catalog: (archive, the backup's JSON report).
fn backup_source(
    services: &Services,
    dir: &Path,
    name: &str,
    datadir: bool,
) -> (PathBuf, serde_json::Value) {
    let (db, datastore) = (format!("gnbr_e2e_{name}"), format!("gnbr_e2e_{name}_ds"));
    services.fresh_db(&db);
    services.fresh_datastore(&datastore);
    services.psql_as_owner(&datastore, SOURCE_TABLES);
    let double = Double::start(&[]);
    point_store_at(double.data_dir(), services, &datastore);
    // GeoNode sets GeoServer's proxy base URL to its public location.
    let global = double.data_dir().join("global.xml");
    let xml = std::fs::read_to_string(&global).unwrap().replace(
        "<charset>UTF-8</charset>",
        "<charset>UTF-8</charset>\n    <proxyBaseUrl>http://127.0.0.1:9/geoserver/</proxyBaseUrl>",
    );
    std::fs::write(global, xml).unwrap();
    let settings = services.settings(dir, &db);
    services.add_datastore(
        dir,
        &datastore,
        &[&format!("GEOSERVER_ADMIN_PASSWORD={PASSWORD}")],
    );
    geoserver_settings(
        &settings,
        &double,
        datadir.then(|| double.data_dir()),
        &dir.join("shared"),
    );
    let backups = dir.join("backups");
    let (report, stderr) = backup(dir, &settings, &backups, &[]);
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert_eq!(requests(&double, "PUT", "rest/reset"), 1);
    assert_eq!(requests(&double, "PUT", "rest/reload"), 1);
    assert_eq!(requests(&double, "POST", "rest/br/backup"), 1);
    (PathBuf::from(report["archive"].as_str().unwrap()), report)
}

/// The source backed up with everything, once for the tests that share it.
fn full_backup(services: &Services) -> &'static (PathBuf, serde_json::Value) {
    static BACKUP: OnceLock<(PathBuf, serde_json::Value)> = OnceLock::new();
    BACKUP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        backup_source(services, &dir, "gs_moving", true)
    })
}

fn zip_names(path: &Path) -> Vec<String> {
    let archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    archive
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .collect()
}

fn zip_text(path: &Path, name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut text = String::new();
    archive
        .by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn tables_catalog_and_stores_move_to_another_host() {
    let services = Services::get();
    let (archive, report) = full_backup(&services);
    let tables = &report["datastore_tables"];
    assert_eq!(
        tables,
        &serde_json::json!([["public.Roads", 3], ["extra.parcels", 1]]),
        "{report}"
    );
    let names = zip_names(archive);
    for entry in [
        "gs_data_dir/geonode/Roads.sql",
        "gs_data_dir/geonode/extra.parcels.sql",
        "gs_data_dir/workspaces/sf/sf/datastore.xml",
        "geoserver_catalog.zip",
    ] {
        assert!(names.iter().any(|n| n == entry), "{entry} in {names:?}");
    }
    let roads = zip_text(archive, "gs_data_dir/geonode/Roads.sql");
    assert!(roads.contains("PRIMARY KEY"), "{roads}");

    // Another host: another datastore database, another data directory.
    let dir = tempfile::tempdir().unwrap();
    let double = Double::start(&[]);
    let settings = target(
        &services,
        dir.path(),
        "gnbr_e2e_gs_target",
        "gnbr_e2e_ds_target",
    );
    geoserver_settings(
        &settings,
        &double,
        Some(double.data_dir()),
        &dir.path().join("shared"),
    );
    let mut env = std::fs::read_to_string(dir.path().join("gn.env")).unwrap();
    env.push_str("GEOSERVER_PUBLIC_LOCATION=https://new.example.org/geoserver/\n");
    std::fs::write(dir.path().join("gn.env"), env).unwrap();
    let (stdout, stderr) = expect_code(&restore(dir.path(), &settings, archive, &["--json"]), 0);
    assert!(!stderr.contains(PASSWORD) && !stdout.contains(PASSWORD));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let geoserver = &report["geoserver"];
    assert_eq!(
        geoserver["tables"],
        serde_json::json!([["public.Roads", 3], ["extra.parcels", 1]]),
        "{geoserver}"
    );
    assert_eq!(geoserver["reloaded"], true, "{geoserver}");
    assert_eq!(geoserver["catalog_restored"], false, "{geoserver}");

    // The tables came back whole: rows, primary key, index, constraints, sequence.
    let ds = "gnbr_e2e_ds_target";
    assert_eq!(
        services.psql(
            ds,
            r#"SELECT string_agg(name, '|' ORDER BY id) FROM "Roads""#
        ),
        "Via Ünïcødé|O'Connell Street|Ring\n"
    );
    assert_eq!(
        services.psql(
            ds,
            r#"SELECT string_agg(contype::text, '' ORDER BY contype) FROM pg_constraint WHERE conrelid = '"Roads"'::regclass"#
        ),
        "cpu\n"
    );
    assert_eq!(
        services.psql(
            ds,
            r#"SELECT count(*) FROM pg_indexes WHERE indexname = 'Roads_geom_idx'"#
        ),
        "1\n"
    );
    services.psql_as_owner(ds, r#"INSERT INTO "Roads" (name, lanes) VALUES ('New', 1)"#);
    assert_eq!(services.psql(ds, "SELECT pid FROM extra.parcels"), "7\n");
    assert_eq!(services.psql(ds, "SELECT id FROM keep_me"), "42\n");
    assert_eq!(
        services.psql(
            ds,
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'gnbr_aside%'"
        ),
        "0\n",
        "the previous tables are dropped after the commit"
    );

    // The store now points at the target's datastore, and the report says so.
    assert_eq!(store_database(double.data_dir()), ds);
    let changes = geoserver["rewrite"]["changes"].as_array().unwrap();
    assert!(
        changes.iter().any(|c| c["field"] == "database"
            && c["new"] == ds
            && c["old"] == "gnbr_e2e_gs_moving_ds"),
        "{changes:?}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c["field"] == "proxyBaseUrl"
                && c["new"] == "https://new.example.org/geoserver/"),
        "{changes:?}"
    );
    let global = std::fs::read_to_string(double.data_dir().join("global.xml")).unwrap();
    assert!(
        global.contains("<proxyBaseUrl>https://new.example.org/geoserver/</proxyBaseUrl>"),
        "{global}"
    );
    assert!(
        changes
            .iter()
            .filter(|c| c["field"] == "passwd")
            .all(|c| c["new"] == "(not shown)" && c["old"] == "(not shown)"),
        "{changes:?}"
    );
    assert_eq!(double.log()["reloads"], 1);
}

#[test]
fn a_catalog_geoserver_fails_to_restore_is_put_back() {
    let services = Services::get();
    let source_dir = tempfile::tempdir().unwrap();
    // No data directory: the catalog travels only as GeoServer's own archive.
    let (archive, _) = backup_source(&services, source_dir.path(), "gs_catalog_only", false);
    let names = zip_names(&archive);
    assert!(names.iter().any(|n| n == "geoserver_catalog.zip"));
    assert!(!names
        .iter()
        .any(|n| n.starts_with("gs_data_dir/workspaces/")));

    let dir = tempfile::tempdir().unwrap();
    let (db, datastore) = ("gnbr_e2e_gs_recover", "gnbr_e2e_gs_recover_ds");
    let settings = target(&services, dir.path(), db, datastore);
    let before_db = services.digest(db, &[]);
    let before_datastore = services.digest(datastore, &[]);
    let run = |double: &Double, extra: &[&str]| {
        geoserver_settings(&settings, double, None, &dir.path().join("shared"));
        restore(dir.path(), &settings, &archive, extra)
    };

    // gnbr backs GeoServer's catalog up first, and puts it back from there.
    let double = Double::start(&["--fail-restores", "1"]);
    let catalog_before = catalog_files(double.data_dir());
    let output = run(&double, &[]);
    let (_, stderr) = text(&output);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("GeoServer's previous catalog was put back from"),
        "{stderr}"
    );
    assert_eq!(catalog_files(double.data_dir()), catalog_before);
    assert_eq!(requests(&double, "POST", "rest/br/restore"), 2);
    // The database and the datastore's tables, restored before, are as they were.
    assert_eq!(services.digest(db, &[]), before_db);
    assert_eq!(services.digest(datastore, &[]), before_datastore);
    assert_eq!(
        services.psql(datastore, r#"SELECT old_column FROM "Roads""#),
        "old\n"
    );

    // --recovery-file: the admin's own archive.
    let double = Double::start(&["--fail-restores", "1"]);
    let output = run(
        &double,
        &[
            "--recovery-file",
            archive.to_str().unwrap(),
            "--no-snapshot",
        ],
    );
    let (_, stderr) = text(&output);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "GeoServer's previous catalog was put back from {}",
            archive.display()
        )),
        "{stderr}"
    );
    assert_eq!(services.digest(db, &[]), before_db);
    assert_eq!(services.digest(datastore, &[]), before_datastore);

    // GeoServer restores the catalog, then refuses to reload (reload 1 is
    // the one before gnbr's catalog backup): the catalog is put back too.
    let double = Double::start(&["--refuse-reload", "2"]);
    let catalog_before = catalog_files(double.data_dir());
    let output = run(&double, &[]);
    let (_, stderr) = text(&output);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("403"), "{stderr}");
    assert!(
        stderr.contains("GeoServer's previous catalog was put back from"),
        "{stderr}"
    );
    assert_eq!(catalog_files(double.data_dir()), catalog_before);
    assert_eq!(requests(&double, "POST", "rest/br/restore"), 2);
    assert_eq!(services.digest(db, &[]), before_db);
    assert_eq!(services.digest(datastore, &[]), before_datastore);

    // gnbr is killed once GeoServer restored the catalog: the next gnbr
    // command puts the previous one back from gnbr's catalog backup.
    let double = Double::start(&[]);
    let catalog_before = catalog_files(double.data_dir());
    geoserver_settings(&settings, &double, None, &dir.path().join("shared"));
    let killed = restore_command(dir.path(), &settings, &archive, &[])
        .env("GNBR_FAULT", "catalog-restored")
        .output()
        .unwrap();
    assert_eq!(killed.status.signal(), Some(9), "{}", text(&killed).1);
    assert_ne!(catalog_files(double.data_dir()), catalog_before);
    let (_, stderr) = expect_code(
        &gnbr(dir.path(), &["-c", settings.to_str().unwrap(), "check"]),
        0,
    );
    for part in [
        "datastore tables and GeoServer catalog of an interrupted restore",
        "GeoServer's previous catalog was put back from",
    ] {
        assert!(stderr.contains(part), "`{part}` missing from: {stderr}");
    }
    assert_eq!(catalog_files(double.data_dir()), catalog_before);
    assert_eq!(requests(&double, "POST", "rest/br/restore"), 2);
    assert_eq!(services.digest(db, &[]), before_db);
    assert_eq!(services.digest(datastore, &[]), before_datastore);
}

#[test]
fn a_lock_held_on_a_datastore_table_times_out_naming_its_holder() {
    let services = Services::get();
    let (archive, _) = full_backup(&services);
    let dir = tempfile::tempdir().unwrap();
    let (db, datastore) = ("gnbr_e2e_gs_locked", "gnbr_e2e_gs_locked_ds");
    let (double, settings) = served_target(&services, dir.path(), db, datastore);
    set_lock_timeout(&settings, 1);
    let before_db = services.digest(db, &[]);
    let before_datastore = services.digest(datastore, &[]);
    let before_datadir = catalog_files(double.data_dir());

    // GeoServer (or an admin's psql) reading the table the restore replaces, in an open transaction.
    let holder = services.hold_locks(
        datastore,
        "gnbr-e2e-datastore-reader",
        r#"SELECT count(*) FROM "Roads" WHERE old_column <> 'secret-in-the-query'"#,
    );
    let (_, stderr) = expect_code(
        &restore(dir.path(), &settings, archive, &["--no-snapshot"]),
        TARGET,
    );
    drop(holder);
    for part in [
        r#"restoring table "public"."Roads" into the datastore"#,
        "waited 1 s ([restore] lock_timeout)",
        "the table was left as it was",
        "application `gnbr-e2e-datastore-reader`",
        "idle in transaction",
        r#"on public."Roads""#,
        "pg_terminate_backend",
    ] {
        assert!(stderr.contains(part), "`{part}` missing from: {stderr}");
    }
    assert!(
        !stderr.contains("secret-in-the-query"),
        "the query was shown: {stderr}"
    );
    assert_eq!(services.digest(db, &[]), before_db);
    assert_eq!(services.digest(datastore, &[]), before_datastore);
    assert_eq!(catalog_files(double.data_dir()), before_datadir);
}

/// How many `gnbr_aside_*` schemas `datastore` holds.
fn aside_schemas(services: &Services, datastore: &str) -> String {
    services.psql(
        datastore,
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'gnbr_aside%'",
    )
}

#[test]
fn a_restore_killed_among_its_datastore_tables_is_settled_by_the_next_run() {
    let services = Services::get();
    let (archive, _) = full_backup(&services);
    let dir = tempfile::tempdir().unwrap();
    let (db, datastore) = ("gnbr_e2e_gs_killed", "gnbr_e2e_gs_killed_ds");
    let (double, settings) = served_target(&services, dir.path(), db, datastore);
    let restore_killed_at = |fault: &str| {
        let output = restore_command(dir.path(), &settings, archive, &["--no-snapshot"])
            .env("GNBR_FAULT", fault)
            .output()
            .unwrap();
        assert_eq!(
            output.status.signal(),
            Some(9),
            "{fault}: not killed\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let (_, stderr) = expect_code(
            &gnbr(dir.path(), &["-c", settings.to_str().unwrap(), "check"]),
            0,
        );
        stderr
    };

    // Killed after the first table's transaction, then after the second's:
    // the next run puts every table back, and the data directory with them.
    // What the target held before a restore: database, datastore, data directory.
    type Before = (
        BTreeMap<String, String>,
        BTreeMap<String, String>,
        Vec<(String, Vec<u8>)>,
    );
    let before = || -> Before {
        (
            services.digest(db, &[]),
            services.digest(datastore, &[]),
            catalog_files(double.data_dir()),
        )
    };
    let undone = |fault: &str, (db_before, datastore_before, datadir_before): &Before| {
        let stderr = restore_killed_at(fault);
        // Killed among the tables, before any folder was swapped, the
        // journal holds only them; in the undo, the data directory's swap too.
        let undid = if fault.starts_with("table-restored") {
            "undid the datastore tables of an interrupted restore"
        } else {
            "undid the folder swap and datastore tables of an interrupted restore"
        };
        assert!(stderr.contains(undid), "{fault}: {stderr}");
        assert_eq!(
            &services.digest(datastore, &[]),
            datastore_before,
            "{fault}"
        );
        assert_eq!(aside_schemas(&services, datastore), "0\n", "{fault}");
        assert_eq!(&catalog_files(double.data_dir()), datadir_before, "{fault}");
        assert_eq!(&services.digest(db, &[]), db_before, "{fault}");
    };
    let original = before();
    for fault in ["table-restored:1", "table-restored:2"] {
        undone(fault, &original);
    }

    // Killed once the database committed: the next run finishes it, the
    // old tables dropped.
    let stderr = restore_killed_at("committed");
    assert!(
        stderr.contains("finished the folder swap and datastore tables of an interrupted restore"),
        "{stderr}"
    );
    assert_eq!(aside_schemas(&services, datastore), "0\n");
    assert_eq!(
        services.psql(
            datastore,
            r#"SELECT string_agg(name, '|' ORDER BY id) FROM "Roads""#
        ),
        "Via Ünïcødé|O'Connell Street|Ring\n"
    );
    assert_eq!(services.psql(datastore, "SELECT id FROM keep_me"), "42\n");

    // The database refuses the next restore's commit, and gnbr is killed
    // as it puts the tables back: the next run ends the undo.
    services.psql_as_owner(
        datastore,
        r#"INSERT INTO "Roads" (name, lanes) VALUES ('since', 3)"#,
    );
    services.psql(db, REFUSE_COMMITS);
    undone("undo-tables", &before());
    assert!(services
        .psql(datastore, r#"SELECT name FROM "Roads""#)
        .contains("since"));
}

/// The catalog's files of a data directory and their contents.
fn catalog_files(datadir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in walkdir(datadir) {
        let relative = entry
            .strip_prefix(datadir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if relative.starts_with("workspaces/") || relative.starts_with("styles/") {
            files.push((relative, std::fs::read(&entry).unwrap()));
        }
    }
    files.sort();
    files
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walkdir(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn a_geonode_archives_catalog_is_rewritten_for_the_target() {
    let services = Services::get();
    let (archive, _) = full_backup(&services);
    // What GeoNode's own backup holds: fixtures, GeoServer's archive, the
    // public tables as `gs_data_dir/geonode/<table>.sql`; no manifest.
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("geonode-backup.zip");
    let mut input = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut output = zip::ZipWriter::new(std::fs::File::create(&foreign).unwrap());
    for index in 0..input.len() {
        let mut entry = input.by_index(index).unwrap();
        let name = entry.name().unwrap().into_owned();
        let keep = name.starts_with("fixtures/")
            || name == "geoserver_catalog.zip"
            || name == "gs_data_dir/geonode/Roads.sql";
        if keep {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            output
                .start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            output.write_all(&bytes).unwrap();
        }
    }
    // GeoNode before 4.2 wrote tables in PostgreSQL's custom format.
    services.fresh_datastore("gnbr_e2e_gs_legacy");
    services.psql_as_owner(
        "gnbr_e2e_gs_legacy",
        "CREATE TABLE legacy (id integer PRIMARY KEY, geom geometry(Point, 4326)); \
         INSERT INTO legacy VALUES (1, 'SRID=4326;POINT(1 2)'), (2, NULL)",
    );
    let dump = dir.path().join("legacy.dump");
    let status = std::process::Command::new(services.pg_tool("pg_dump"))
        .args(["-Fc", "-t", "legacy", "-U", "postgres", "-h"])
        .args([services.pg_host(), "-p", services.pg_port(), "-f"])
        .arg(&dump)
        .arg("gnbr_e2e_gs_legacy")
        .status()
        .unwrap();
    assert!(status.success());
    output
        .start_file(
            "gs_data_dir/geonode/legacy.dump",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
    output.write_all(&std::fs::read(&dump).unwrap()).unwrap();
    output.finish().unwrap();

    let (db, datastore) = ("gnbr_e2e_gs_foreign", "gnbr_e2e_gs_foreign_ds");
    let double = Double::start(&[]);
    let settings = target(&services, dir.path(), db, datastore);
    geoserver_settings(&settings, &double, None, &dir.path().join("shared"));
    // The source's datastore, which GeoNode's archives do not record.
    let mut text = std::fs::read_to_string(&settings).unwrap();
    text.push_str(&format!(
        "source_datastore = gnbr@{}:{}/gnbr_e2e_gs_moving_ds\n",
        services.pg_host(),
        services.pg_port()
    ));
    std::fs::write(&settings, text).unwrap();
    // A name the backup needs, held by a view: refused before anything is touched.
    services.psql_as_owner(datastore, "CREATE VIEW legacy AS SELECT 1 AS one");
    let extra = ["--from-version", "5.1.1", "--dry-run"];
    let (_, stderr) = expect_code(&restore(dir.path(), &settings, &foreign, &extra), 5);
    assert!(
        stderr.contains(r#""public"."legacy" is a view owned by gnbr"#),
        "{stderr}"
    );
    services.psql_as_owner(datastore, "DROP VIEW legacy");

    // A dry run says what will happen, and changes nothing.
    let extra = ["--from-version", "5.1.1", "--json", "--dry-run"];
    let (stdout, _) = expect_code(&restore(dir.path(), &settings, &foreign, &extra), 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let planned = &report["geoserver"];
    assert_eq!(
        planned["tables_planned"],
        serde_json::json!(["public.Roads", "public.legacy"]),
        "{planned}"
    );
    assert_eq!(planned["catalog_planned"], true, "{planned}");
    assert_eq!(requests(&double, "POST", "rest/br/restore"), 0);
    assert_eq!(
        services.psql(datastore, r#"SELECT old_column FROM "Roads""#),
        "old\n"
    );

    // A view of the admin's on a table the restore replaces: said up front,
    // and neither it nor the old table it uses is dropped.
    services.psql_as_owner(
        datastore,
        r#"CREATE VIEW roads_view AS SELECT * FROM "Roads""#,
    );
    let extra = ["--from-version", "5.1.1", "--json"];
    let (stdout, stderr) = expect_code(&restore(dir.path(), &settings, &foreign, &extra), 0);
    assert!(
        stderr.contains(r#"view roads_view uses "Roads", which the restore replaces"#),
        "{stderr}"
    );
    assert_eq!(
        services.psql(datastore, "SELECT old_column FROM roads_view"),
        "old\n"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let geoserver = &report["geoserver"];
    assert_eq!(geoserver["catalog_restored"], true, "{geoserver}");
    assert_eq!(
        geoserver["tables"],
        serde_json::json!([["public.Roads", 3], ["public.legacy", 2]]),
        "{geoserver}"
    );
    // GeoNode's choices: the catalog replaced, the target's settings and security kept.
    let options = double.options("restore", 0);
    for option in [
        "BK_PURGE_RESOURCES=true",
        "BK_SKIP_SETTINGS=true",
        "BK_SKIP_SECURITY=true",
    ] {
        assert!(options.iter().any(|o| o == option), "{options:?}");
    }
    // GeoServer received its archive with the store moved to the target's datastore.
    assert_eq!(store_database(double.data_dir()), datastore);
    let changes = geoserver["rewrite"]["changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c["field"] == "database" && c["new"] == datastore),
        "{changes:?}"
    );
    assert_eq!(
        services.psql(datastore, r#"SELECT count(*) FROM "Roads""#),
        "3\n"
    );
}

#[test]
fn an_encrypted_backups_catalog_reaches_geoserver_rewritten_and_never_on_disk_in_scratch() {
    let services = Services::get();
    let (archive, _) = full_backup(&services);
    let dir = tempfile::tempdir().unwrap();
    let (key, sealed) = age_encrypted(dir.path(), archive);
    let (db, datastore) = ("gnbr_e2e_gs_sealed", "gnbr_e2e_gs_sealed_ds");
    let double = Double::start(&[]);
    let settings = target(&services, dir.path(), db, datastore);
    // No data directory: the catalog goes through GeoServer's Backup & Restore.
    let shared = dir.path().join("shared");
    geoserver_settings(&settings, &double, None, &shared);
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut restore = restore_command(
        dir.path(),
        &settings,
        &sealed,
        &[
            "--json",
            "--no-snapshot",
            "--identity",
            key.to_str().unwrap(),
        ],
    );
    restore.env("TMPDIR", &tmp);
    let (output, seen) = run_watched(restore, &[&tmp, dir.path()]);
    let (stdout, _) = expect_code(&output, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let geoserver = &report["geoserver"];
    assert_eq!(geoserver["catalog_restored"], true, "{geoserver}");
    // GeoServer received its archive with the store moved to the target's datastore.
    assert_eq!(store_database(double.data_dir()), datastore);
    // The catalog's plaintext was only ever in the folder GeoServer reads it from.
    let plaintext: Vec<&PathBuf> = seen
        .iter()
        .filter(|(p, head)| !p.starts_with(&shared) && head.starts_with(b"PK\x03\x04"))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        plaintext,
        Vec::<&PathBuf>::new(),
        "a zip in the clear on disk"
    );
    assert!(
        seen.iter()
            .any(|(p, head)| p.starts_with(&shared) && head.starts_with(b"PK\x03\x04")),
        "the watcher saw the catalog shared with GeoServer"
    );
}
