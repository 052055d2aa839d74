use std::path::Path;

use super::{IniFile, Settings};
use crate::errors::Error;

fn parse(text: &str) -> Result<Settings, Error> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.ini");
    std::fs::write(&path, text).unwrap();
    Settings::load(&path).map_err(|mut e| {
        e.message = e.message.replace(&dir.path().display().to_string(), "DIR");
        e
    })
}

#[test]
fn the_shipped_settings_pair_24_apps_and_5_migrations() {
    let settings =
        Settings::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../settings.ini")).unwrap();
    assert_eq!(settings.fixtures.fixtures.len(), 24);
    let links = settings
        .fixtures
        .fixtures
        .iter()
        .find(|f| f.app == "base.link")
        .unwrap();
    assert_eq!(links.dump, "links");
    let maps = &settings.fixtures.migrations[3];
    assert_eq!(
        (
            maps.target.as_str(),
            maps.plugin.as_str(),
            maps.mangler.as_str()
        ),
        ("maps.map", "gn20_to_24", "MapMangler")
    );
    assert_eq!(maps.applies_to, vec![20]);
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    assert_eq!(
        settings.geoserver.datadir.as_deref(),
        Some(Path::new("/opt/gs_data_dir"))
    );
    assert!(settings.geoserver.dump_vector_data && settings.geoserver.dump_raster_data);
}

#[test]
fn empty_entries_are_placeholders_that_keep_lists_aligned() {
    let s =
        parse("[fixtures]\napps = a,,c\ndumps = x,,z\nmigrations = ,c\nmanglers = ,p.M\n").unwrap();
    let apps: Vec<_> = s
        .fixtures
        .fixtures
        .iter()
        .map(|f| (f.position, f.app.as_str()))
        .collect();
    assert_eq!(apps, [(1, "a"), (3, "c")]);
    assert_eq!(s.fixtures.migrations[0].position, 2);
    assert_eq!(s.fixtures.migrations[0].applies_to, [3]);
}

#[test]
fn errors_name_file_line_section_key_and_position() {
    let cases = [
        (
            "[fixtures]\napps = a,b,c\ndumps = x,y\n",
            "DIR/settings.ini:2: [fixtures] apps has 3 entries but `dumps` has 2: entry 3 `c` has no pair",
        ),
        (
            "[fixtures]\napps = a\ndumps = x\nmigrations = a,a\nmanglers = p.M\n",
            "DIR/settings.ini:4: [fixtures] migrations has 2 entries but `manglers` has 1: entry 2 `a` has no pair",
        ),
        (
            "[fixtures]\napps = a\ndumps = x\nmigrations = a\nmanglers = PM\n",
            "DIR/settings.ini:5: [fixtures] manglers entry 1 `PM` is not `plugin.Mangler`",
        ),
        (
            "[fixtures]\napps = a\ndumps = x\nmigrations = b.c\nmanglers = p.M\n",
            "DIR/settings.ini:4: [fixtures] migrations entry 1 `b.c` matches no `apps` entry, so its mangler would never run",
        ),
        (
            "[fixtures]\napps = a,b\ndumps = x,\n",
            "DIR/settings.ini:3: [fixtures] dumps entry 2 is empty but its pair is not (apps `b`, dumps ``)",
        ),
        (
            "[fixtures]\nmigrations = a\nmigrations = b\n",
            "DIR/settings.ini:2: [fixtures] migrations is set more than once",
        ),
        ("[migrate]\nbasepk = ten\n", "DIR/settings.ini:2: [migrate] basepk `ten` is not an integer"),
    ];
    for (text, expected) in cases {
        let err = parse(text).expect_err(text);
        assert_eq!(err.message, expected, "{text}");
        assert!(err.hint.is_some(), "{text}: no hint");
    }
}

#[test]
fn a_model_level_migration_on_app_level_apps_warns_and_applies_to_the_app() {
    let s = parse("[fixtures]\napps = people,base,layers\ndumps = people,base,layers\nmigrations = base.resourcebase\nmanglers = p.M\n").unwrap();
    assert_eq!(s.fixtures.migrations[0].applies_to, [2]);
    assert_eq!(s.warnings.len(), 1);
    assert!(
        s.warnings[0].contains("settings.ini:4: [fixtures] migrations"),
        "{}",
        s.warnings[0]
    );
    assert!(
        s.warnings[0].contains("app-level vs model-level"),
        "{}",
        s.warnings[0]
    );
}

#[test]
fn booleans_read_like_pythons_configparser() {
    let ini = IniFile::parse(
        Path::new("s.ini"),
        "[g]\na = Yes\nb = off\nc = maybe\n".to_owned(),
    )
    .unwrap();
    assert_eq!(ini.boolean("g", "a").unwrap(), Some(true));
    assert_eq!(ini.boolean("g", "b").unwrap(), Some(false));
    assert_eq!(ini.boolean("g", "missing").unwrap(), None);
    assert!(ini.boolean("g", "c").is_err());
}

#[test]
fn a_full_restore_loads_in_batches_unless_told_not_to() {
    assert!(parse("[restore]\n").unwrap().restore.batched_load);
    assert!(
        !parse("[restore]\nbatched_load = no\n")
            .unwrap()
            .restore
            .batched_load
    );
    assert!(parse("[restore]\nbatched_load = sometimes\n").is_err());
}

#[test]
fn the_admin_pages_state_dir_is_relative_to_the_settings_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.ini");
    std::fs::write(&path, "[serve]\nstate_dir = state\n").unwrap();
    let settings = Settings::load(&path).unwrap();
    assert_eq!(settings.serve.state_dir, dir.path().join("state"));
    std::fs::write(&path, "[serve]\n").unwrap();
    let settings = Settings::load(&path).unwrap();
    assert_eq!(
        settings.serve,
        super::ServeSettings::on_loopback(dir.path().join("gnbr-serve"))
    );
}

#[test]
fn the_admin_pages_origin_hosts_and_proxies_are_checked_and_normalised() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.ini");
    std::fs::write(
        &path,
        "[serve]\npublic_origin = HTTPS://Gnbr.Example.org:443/\nallowed_hosts = localhost:8080, Backup.example.org:80,[::1]:8080\ntrusted_proxies = 127.0.0.1, ::1\n",
    )
    .unwrap();
    let serve = Settings::load(&path).unwrap().serve;
    assert_eq!(
        serve.public_origin.as_deref(),
        Some("https://gnbr.example.org")
    );
    assert_eq!(
        serve.allowed_hosts,
        ["localhost:8080", "backup.example.org", "[::1]:8080"]
    );
    assert_eq!(
        serve.trusted_proxies,
        [
            "127.0.0.1".parse::<std::net::IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
    for (line, problem) in [
        (
            "public_origin = gnbr.example.org",
            "`gnbr.example.org` is not scheme://host[:port]",
        ),
        (
            "public_origin = https://gnbr.example.org/admin",
            "is not scheme://host[:port]",
        ),
        (
            "public_origin = ftp://gnbr.example.org",
            "is not scheme://host[:port]",
        ),
        (
            "public_origin = https://user@gnbr.example.org",
            "is not scheme://host[:port]",
        ),
        (
            "allowed_hosts = ok.example.org, bad/host",
            "entry 2 `bad/host` is not host or host:port",
        ),
        (
            "allowed_hosts = host:port",
            "entry 1 `host:port` is not host or host:port",
        ),
        (
            "trusted_proxies = proxy.example.org",
            "entry 1 `proxy.example.org` is not an IP address",
        ),
    ] {
        std::fs::write(&path, format!("[serve]\n{line}\n")).unwrap();
        let error = Settings::load(&path).unwrap_err();
        assert!(error.message.contains(problem), "{line}: {}", error.message);
        assert!(error.message.contains("[serve]"), "{}", error.message);
    }
}

#[test]
fn geoserver_rest_settings_have_defaults_and_never_a_password() {
    let settings = parse("[geoserver]\ndatadir = /gs\n").unwrap();
    let geoserver = &settings.geoserver;
    assert_eq!(geoserver.datastore_schemas, vec!["public".to_owned()]);
    assert_eq!(geoserver.url, None);
    assert_eq!(geoserver.poll_interval, std::time::Duration::from_secs(3));
    assert_eq!(geoserver.job_deadline, std::time::Duration::from_secs(3600));

    let settings = parse(
        "[geoserver]\nurl = http://gs/geoserver/\nuser = root\ndatastore_schemas = public, extra\nbr_folder = shared\npoll_interval = 0.5\n",
    )
    .unwrap();
    let geoserver = &settings.geoserver;
    assert_eq!(geoserver.url.as_deref(), Some("http://gs/geoserver/"));
    assert_eq!(geoserver.user.as_deref(), Some("root"));
    assert_eq!(geoserver.datastore_schemas, vec!["public", "extra"]);
    assert!(geoserver.br_folder.as_ref().unwrap().ends_with("shared"));
    assert_eq!(
        geoserver.poll_interval,
        std::time::Duration::from_millis(500)
    );

    let error = parse("[geoserver]\nurl = http://gs/\npassword = s3cret\n").unwrap_err();
    assert!(
        error
            .message
            .starts_with("DIR/settings.ini:3: [geoserver] password"),
        "{error}"
    );
    assert!(!error.to_string().contains("s3cret"));
    let settings =
        parse("[geoserver]\nsource_datastore = geonode@db.old:5433/geonode_data\n").unwrap();
    let source = settings.geoserver.source_datastore.unwrap();
    assert_eq!(
        (
            source.user.as_str(),
            source.host.as_str(),
            source.port.as_str(),
            source.database.as_str()
        ),
        ("geonode", "db.old", "5433", "geonode_data")
    );
    let error = parse("[geoserver]\nsource_datastore = db.old\n").unwrap_err();
    assert!(
        error.message.contains("is not [user@]host[:port]/database"),
        "{error}"
    );
    let error = parse("[geoserver]\nurl = http://admin:pw@gs/geoserver/\n").unwrap_err();
    assert!(
        error.message.contains("url holds a user or password"),
        "{error}"
    );
    let error = parse("[geoserver]\nsource_datastore = u:pw@db/gis\n").unwrap_err();
    assert!(error.message.contains("source_datastore"), "{error}");
    let error = parse("[geoserver]\njob_deadline = soon\n").unwrap_err();
    assert!(
        error.message.contains("`soon` is not a number of seconds"),
        "{error}"
    );
}

#[test]
fn migrate_passes_the_target_facts_it_is_given_and_the_source_media_root() {
    let settings = parse(
        "[geonode]\nsource_media_root = /srv/old/uploaded/\n\n[migrate]\nmedia_root = /mnt/volumes/statics/uploaded\nassets_root =\ngeoserver_public_location = https://new.example.net/geoserver/\n",
    )
    .unwrap();
    assert_eq!(
        settings.run.target_options,
        vec![
            (
                "media_root".to_owned(),
                "/mnt/volumes/statics/uploaded".to_owned()
            ),
            (
                "geoserver_public_location".to_owned(),
                "https://new.example.net/geoserver/".to_owned()
            ),
        ]
    );
    assert_eq!(
        settings.geonode.source_media_root.as_deref(),
        Some("/srv/old/uploaded")
    );
}

#[test]
fn secret_looking_keys_are_refused_in_every_section_whatever_their_case() {
    for (text, at) in [
        (
            "[geoserver]\nurl = http://gs/\nPassword = s3cret\n",
            "DIR/settings.ini:3: [geoserver] Password",
        ),
        (
            "[database]\npgdump = pg_dump\npassword = s3cret\n",
            "DIR/settings.ini:3: [database] password",
        ),
        (
            "[geonode]\nDB_PASSWD = s3cret\n",
            "DIR/settings.ini:2: [geonode] DB_PASSWD",
        ),
        (
            "[fixtures]\napps = people\ndumps = people\n\n[extra]\nSecret_Key = s3cret\n",
            "DIR/settings.ini:6: [extra] Secret_Key",
        ),
        (
            "[geoserver]\napi-key = s3cret\n",
            "DIR/settings.ini:2: [geoserver] api-key",
        ),
        (
            "[serve]\naccess_token = s3cret\n",
            "DIR/settings.ini:2: [serve] access_token",
        ),
        (
            "[database]\npwd = s3cret\n",
            "DIR/settings.ini:2: [database] pwd",
        ),
        (
            "[storage]\nendpoint = http://127.0.0.1:9000\naws_secret_access_key = s3cret\n",
            "DIR/settings.ini:3: [storage] aws_secret_access_key",
        ),
        (
            "[storage]\naws_access_key_id = s3cret\n",
            "DIR/settings.ini:2: [storage] aws_access_key_id",
        ),
    ] {
        let error = parse(text).unwrap_err();
        assert_eq!(error.exit_code(), crate::exit_codes::USAGE, "{text}");
        assert!(
            error
                .message
                .starts_with(&format!("{at} looks like a secret")),
            "{text}: {error}"
        );
        assert!(!error.to_string().contains("s3cret"), "{error}");
        assert!(
            error
                .hint
                .as_deref()
                .unwrap()
                .contains("GEOSERVER_ADMIN_PASSWORD"),
            "{error}"
        );
    }
    let error =
        parse("[geoserver]\npassword = a\n[database]\nPASSWORD = b\ntoken = c\n").unwrap_err();
    assert!(
        error
            .message
            .ends_with("; so do line 4 [database] PASSWORD, line 5 [database] token"),
        "{error}"
    );
}

#[test]
fn no_key_gnbr_or_geonode_reads_looks_like_a_secret() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../settings.ini");
    assert!(Settings::load(&shipped).is_ok());
    for key in [
        "pgdump",
        "pgrestore",
        "psql",
        "datadir",
        "datadir_exclude_file_path",
        "dumpvectordata",
        "dumprasterdata",
        "data_dt_filter",
        "data_layername_filter",
        "data_layername_exclude_filter",
        "settings",
        "security",
        "datastore_schemas",
        "url",
        "user",
        "br_folder",
        "br_folder_on_geoserver",
        "poll_interval",
        "job_deadline",
        "source_datadir",
        "source_datastore",
        "source_url",
        "python",
        "settings_module",
        "env_file",
        "source_media_root",
        "source_siteurl",
        "source_assets_root",
        "snapshot_dir",
        "state_dir",
        "public_origin",
        "allowed_hosts",
        "trusted_proxies",
        "apps",
        "dumps",
        "migrations",
        "manglers",
        "dirs",
        "basepk",
        "owner",
        "datastore",
        "siteurl",
        "media_root",
        "assets_root",
        "geoserver_public_location",
        "keywords",
        "monkey_bypass",
        "endpoint",
        "region",
        "path_style",
    ] {
        assert!(!super::is_secret_key(key), "{key}");
    }
}

#[test]
fn storage_gives_the_endpoint_region_and_addressing_never_a_secret() {
    let s =
        parse("[storage]\nendpoint = http://127.0.0.1:39900/\nregion = garage\npath_style = no\n")
            .unwrap();
    assert_eq!(
        s.storage.endpoint.as_deref(),
        Some("http://127.0.0.1:39900")
    );
    assert_eq!(s.storage.region.as_deref(), Some("garage"));
    assert_eq!(s.storage.path_style, Some(false));
    let none = parse("[fixtures]\napps = people\ndumps = people\n").unwrap();
    assert_eq!(none.storage, super::StorageSettings::default());
    for (text, says) in [
        (
            "[storage]\nendpoint = s3.example.org\n",
            "`s3.example.org` is not an http:// or https:// URL",
        ),
        (
            "[storage]\nendpoint = https://me:pw@s3.example.org\n",
            "holds a user or password",
        ),
        ("[storage]\npath_style = maybe\n", "[storage] path_style"),
    ] {
        let error = parse(text).unwrap_err();
        assert_eq!(error.exit_code(), crate::exit_codes::USAGE, "{text}");
        assert!(error.message.contains(says), "{text}: {error}");
        assert!(!error.to_string().contains("pw@"), "{error}");
    }
}
