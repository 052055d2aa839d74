//! settings.ini -> a typed, validated [`Settings`].
//!
//! GeoNode's br settings format (`[database]`, `[geoserver]`, `[fixtures]`)
//! plus gnbr's own sections (`[plugins]`, `[migrate]`, `[storage]`). Every error names
//! the file, the line, the section and key, and the position in a list.

mod ini_file;

use std::path::{Path, PathBuf};

pub use ini_file::IniFile;

use crate::errors::Error;

/// The settings a run uses.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file they came from.
    pub path: PathBuf,
    /// The file's text, as recorded in manifests.
    pub text: String,
    /// `[database]`: the PostgreSQL client tools.
    pub database: DatabaseSettings,
    /// `[geoserver]`: the GeoServer data directory and what of it to back up.
    pub geoserver: GeoServerSettings,
    /// `[fixtures]`: which fixtures, in which order, through which manglers.
    pub fixtures: FixtureSettings,
    /// `[geonode]`: how to reach the target GeoNode.
    pub geonode: GeoNodeSettings,
    /// `[restore]`: where snapshots go.
    pub restore: RestoreSettings,
    /// `[serve]`: the admin page's state.
    pub serve: ServeSettings,
    /// `[storage]`: the S3-compatible object storage `s3://` locations are in.
    pub storage: StorageSettings,
    /// `[plugins] dirs`: extra folders to search for plugins.
    pub plugin_dirs: Vec<PathBuf>,
    /// `[migrate]`: default run context values.
    pub run: RunDefaults,
    /// Things worth a warning that do not stop a run.
    pub warnings: Vec<String>,
}

/// `[database]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// `pgdump`.
    pub pg_dump: String,
    /// `pgrestore`.
    pub pg_restore: String,
    /// `psql`.
    pub psql: String,
}

/// `[geonode]`: the GeoNode install gnbr drives through Django.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoNodeSettings {
    /// `python`: the interpreter of the GeoNode install (its virtualenv's `bin/python`).
    pub python: Option<PathBuf>,
    /// `settings_module`: Django's settings module (default `geonode.settings`).
    pub settings_module: String,
    /// `env_file`: `KEY=VALUE` lines added to Django's environment.
    pub env_file: Option<PathBuf>,
    /// gnbr's `source_media_root`: the `MEDIA_ROOT` of the GeoNode a backup
    /// came from, for plugins that move absolute paths under it to the
    /// target's (GeoNode's own archives do not record it).
    pub source_media_root: Option<String>,
    /// gnbr's `source_siteurl`: the `SITEURL` of the GeoNode a backup came
    /// from, moved to the target's by a restore (GeoNode's own archives do
    /// not record it).
    pub source_siteurl: Option<String>,
    /// gnbr's `source_assets_root`: the source's `ASSETS_ROOT`, as
    /// `source_media_root`.
    pub source_assets_root: Option<String>,
}

/// `[restore]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSettings {
    /// `snapshot_dir`: where database snapshots are written (default `gnbr-snapshots`).
    pub snapshot_dir: PathBuf,
    /// `lock_timeout`: seconds the restore waits for a lock another session
    /// holds before it gives up, naming that session (default 30).
    pub lock_timeout: std::time::Duration,
    /// `batched_load`: a full restore inserts the fixtures' objects a batch
    /// at a time, with the rows Django's per-object save would write
    /// (default yes); no loads them object by object, as `loaddata` does.
    pub batched_load: bool,
}

/// `[serve]`: `gnbr serve`, the admin page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeSettings {
    /// `state_dir`: the folder of the page's embedded database (default `gnbr-serve`).
    pub state_dir: PathBuf,
    /// `public_origin`: `scheme://host[:port]` the admins open the page at
    /// (through a TLS proxy: `https://...`), default port left out. Its host
    /// is allowed, forms must come from it, and `https` makes cookies `Secure`.
    /// `None`: the page is opened on loopback (`localhost`, `127.0.0.1`, `[::1]`).
    pub public_origin: Option<String>,
    /// `allowed_hosts`: more `host` or `host:port` values the Host header
    /// may have, lowercase; any other Host is refused.
    pub allowed_hosts: Vec<String>,
    /// `trusted_proxies`: addresses of proxies in front of the page, whose
    /// `X-Forwarded-For` names the client (logins are throttled per client).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl ServeSettings {
    /// The defaults: state in `state_dir`, the page opened on loopback, no proxy.
    pub fn on_loopback(state_dir: PathBuf) -> Self {
        Self {
            state_dir,
            public_origin: None,
            allowed_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[storage]`: where `s3://bucket/prefix` locations are. Never credentials:
/// they come from the environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`) or `AWS_PROFILE`'s shared credentials file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageSettings {
    /// `endpoint`: the S3 API's URL (MinIO, Garage, Ceph, a provider's);
    /// `None`: `AWS_ENDPOINT` from the environment, else Amazon S3.
    pub endpoint: Option<String>,
    /// `region`: the bucket's region; `None`: `AWS_REGION` or
    /// `AWS_DEFAULT_REGION` from the environment, else `us-east-1`.
    pub region: Option<String>,
    /// `path_style`: address buckets as `endpoint/bucket` (yes) rather than
    /// `bucket.endpoint` (no); `None`: yes with an `endpoint`, no without.
    pub path_style: Option<bool>,
}

/// `[geoserver]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoServerSettings {
    /// `datadir`: GeoServer's data directory.
    pub datadir: Option<PathBuf>,
    /// `dumpvectordata`: back up and restore vector data (default yes).
    pub dump_vector_data: bool,
    /// `dumprasterdata`: back up and restore raster data (default yes).
    pub dump_raster_data: bool,
    /// `datadir_exclude_file_path`: data-dir paths left out (comma-separated).
    pub exclude: String,
    /// gnbr's `settings`: back up and restore GeoServer's settings (default yes).
    pub settings: bool,
    /// gnbr's `security`: back up and restore GeoServer's security folder (default yes).
    pub security: bool,
    /// gnbr's `datastore_schemas`: the schemas of GeoNode's datastore whose
    /// tables are backed up with `dumpvectordata` (default `public`).
    pub datastore_schemas: Vec<String>,
    /// gnbr's `url`: GeoServer's REST base URL (else `GEOSERVER_LOCATION`
    /// from gnbr's environment). Without one, gnbr does not call GeoServer.
    pub url: Option<String>,
    /// gnbr's `user`: GeoServer's admin user. The password is never read
    /// from settings.ini: it comes from `GEOSERVER_ADMIN_PASSWORD`.
    pub user: Option<String>,
    /// gnbr's `br_folder`: a folder GeoServer can read, where a restore puts
    /// the Backup & Restore archive for it (default: the data directory's `temp/gnbr`).
    pub br_folder: Option<PathBuf>,
    /// gnbr's `br_folder_on_geoserver`: the same folder as GeoServer sees it
    /// (in Docker, inside its container; default: `br_folder`).
    pub br_folder_on_geoserver: Option<String>,
    /// gnbr's `poll_interval`: seconds between two looks at a running
    /// Backup & Restore job (default 3, GeoNode's).
    pub poll_interval: std::time::Duration,
    /// gnbr's `job_deadline`: seconds a Backup & Restore job may take
    /// before gnbr cancels it (default 3600; GeoNode waited forever).
    pub job_deadline: std::time::Duration,
    /// gnbr's `source_datadir`: the data directory's path on the host a
    /// backup came from, for archives whose manifest does not record it
    /// (GeoNode's own).
    pub source_datadir: Option<PathBuf>,
    /// gnbr's `source_datastore`: `[user@]host[:port]/database` of the
    /// datastore the backup's stores pointed at, likewise.
    pub source_datastore: Option<crate::archive::DatastoreSource>,
    /// gnbr's `source_url`: GeoServer's public URL on the host the backup
    /// came from, likewise (rewritten in `proxyBaseUrl` and service URLs).
    pub source_url: Option<String>,
}

/// `[fixtures]`: `apps` paired with `dumps`, `migrations` with `manglers`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixtureSettings {
    /// The fixtures, in load order (placeholders left out).
    pub fixtures: Vec<FixtureEntry>,
    /// The manglers and the fixture each applies to, in order.
    pub migrations: Vec<MigrationEntry>,
}

/// One `apps`/`dumps` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureEntry {
    /// Position in the lists, from 1.
    pub position: usize,
    /// The Django app or model (`base`, `base.resourcebase`).
    pub app: String,
    /// The fixture's file name without `.json` (`resourcebases`).
    pub dump: String,
}

/// One `migrations`/`manglers` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationEntry {
    /// Position in the lists, from 1.
    pub position: usize,
    /// The `migrations` value: the `apps` entry it applies to.
    pub target: String,
    /// The plugin named by the `manglers` value.
    pub plugin: String,
    /// The mangler named by the `manglers` value.
    pub mangler: String,
    /// The positions of the `apps` entries it applies to.
    pub applies_to: Vec<usize>,
    /// `file:LINE: [fixtures] manglers`, for messages.
    pub location: String,
}

/// `[migrate]`: context values used when the command line gives none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunDefaults {
    /// `basepk`.
    pub basepk: Option<i64>,
    /// `owner`.
    pub owner: Option<String>,
    /// `datastore`.
    pub datastore: Option<String>,
    /// `siteurl`.
    pub siteurl: Option<String>,
    /// The target's facts a plugin may need, for `migrate`, which has no
    /// target to ask (a restore reads them from the target GeoNode):
    /// `media_root`, `assets_root`, `geoserver_public_location`, passed as
    /// the plugins' options of those names.
    pub target_options: Vec<(String, String)>,
}

/// `[migrate]` keys passed to plugins as options of the same name.
pub const TARGET_OPTION_KEYS: [&str; 3] =
    ["media_root", "assets_root", "geoserver_public_location"];

impl Settings {
    /// Reads and checks a settings file.
    ///
    /// # Errors
    ///
    /// When the file cannot be read or holds an invalid value.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let ini = IniFile::read(path)?;
        refuse_secrets(&ini)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut warnings = Vec::new();
        let database = DatabaseSettings {
            pg_dump: ini
                .get("database", "pgdump")
                .unwrap_or("pg_dump")
                .to_owned(),
            pg_restore: ini
                .get("database", "pgrestore")
                .unwrap_or("pg_restore")
                .to_owned(),
            psql: ini.get("database", "psql").unwrap_or("psql").to_owned(),
        };
        let geoserver = GeoServerSettings {
            datadir: ini
                .get("geoserver", "datadir")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
            dump_vector_data: ini.boolean("geoserver", "dumpvectordata")?.unwrap_or(true),
            dump_raster_data: ini.boolean("geoserver", "dumprasterdata")?.unwrap_or(true),
            exclude: ini
                .get("geoserver", "datadir_exclude_file_path")
                .unwrap_or_default()
                .to_owned(),
            settings: ini.boolean("geoserver", "settings")?.unwrap_or(true),
            security: ini.boolean("geoserver", "security")?.unwrap_or(true),
            datastore_schemas: match ini.list("geoserver", "datastore_schemas") {
                schemas if schemas.iter().all(|s| s.is_empty()) => vec!["public".to_owned()],
                schemas => schemas.into_iter().filter(|s| !s.is_empty()).collect(),
            },
            url: ini
                .get("geoserver", "url")
                .filter(|u| !u.is_empty())
                .map(str::to_owned),
            user: ini
                .get("geoserver", "user")
                .filter(|u| !u.is_empty())
                .map(str::to_owned),
            br_folder: ini
                .get("geoserver", "br_folder")
                .filter(|p| !p.is_empty())
                .map(|p| base.join(p)),
            br_folder_on_geoserver: ini
                .get("geoserver", "br_folder_on_geoserver")
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
            poll_interval: seconds(&ini, "geoserver", "poll_interval", 3.0)?,
            job_deadline: seconds(&ini, "geoserver", "job_deadline", 3600.0)?,
            source_datadir: ini
                .get("geoserver", "source_datadir")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            source_datastore: ini
                .get("geoserver", "source_datastore")
                .filter(|v| !v.is_empty())
                .map(|v| {
                    parse_datastore(v).ok_or_else(|| {
                        ini.error(
                            "geoserver",
                            "source_datastore",
                            format!("`{v}` is not [user@]host[:port]/database"),
                            "write the source's datastore like geonode@db.old.example:5432/geonode_data",
                        )
                    })
                })
                .transpose()?,
            source_url: ini
                .get("geoserver", "source_url")
                .filter(|u| !u.is_empty())
                .map(str::to_owned),
        };
        if let Some(url) = &geoserver.url {
            let authority = url.split("://").nth(1).unwrap_or(url).split('/').next();
            if authority.is_some_and(|a| a.contains('@')) {
                return Err(ini.error(
                    "geoserver",
                    "url",
                    "holds a user or password (settings.ini is copied into every archive's manifest)".to_owned(),
                    "write the URL without them; set [geoserver] user and GEOSERVER_ADMIN_PASSWORD",
                ));
            }
        }
        let geonode = GeoNodeSettings {
            python: ini
                .get("geonode", "python")
                .filter(|p| !p.is_empty())
                .map(|p| base.join(p)),
            settings_module: ini
                .get("geonode", "settings_module")
                .filter(|m| !m.is_empty())
                .unwrap_or("geonode.settings")
                .to_owned(),
            env_file: ini
                .get("geonode", "env_file")
                .filter(|p| !p.is_empty())
                .map(|p| base.join(p)),
            source_media_root: ini
                .get("geonode", "source_media_root")
                .map(|p| p.trim_end_matches('/'))
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
            source_siteurl: ini
                .get("geonode", "source_siteurl")
                .map(|p| p.trim_end_matches('/'))
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
            source_assets_root: ini
                .get("geonode", "source_assets_root")
                .map(|p| p.trim_end_matches('/'))
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        };
        let restore = RestoreSettings {
            snapshot_dir: base.join(
                ini.get("restore", "snapshot_dir")
                    .filter(|p| !p.is_empty())
                    .unwrap_or("gnbr-snapshots"),
            ),
            lock_timeout: seconds(&ini, "restore", "lock_timeout", 30.0)?,
            batched_load: ini.boolean("restore", "batched_load")?.unwrap_or(true),
        };
        let serve = serve_settings(&ini, base)?;
        let storage = storage_settings(&ini)?;
        let fixtures = fixture_settings(&ini, &mut warnings)?;
        let plugin_dirs = ini
            .list("plugins", "dirs")
            .into_iter()
            .filter(|d| !d.is_empty())
            .map(|d| base.join(d))
            .collect();
        let run = RunDefaults {
            basepk: ini.integer("migrate", "basepk")?,
            owner: ini.get("migrate", "owner").map(str::to_owned),
            datastore: ini.get("migrate", "datastore").map(str::to_owned),
            siteurl: ini.get("migrate", "siteurl").map(str::to_owned),
            target_options: TARGET_OPTION_KEYS
                .iter()
                .filter_map(|key| {
                    let value = ini.get("migrate", key).filter(|v| !v.is_empty())?;
                    Some(((*key).to_owned(), value.to_owned()))
                })
                .collect(),
        };
        Ok(Self {
            path: path.to_owned(),
            text: ini.text().to_owned(),
            database,
            geonode,
            restore,
            serve,
            storage,
            geoserver,
            fixtures,
            plugin_dirs,
            run,
            warnings,
        })
    }
}

fn storage_settings(ini: &IniFile) -> Result<StorageSettings, Error> {
    let endpoint = ini
        .get("storage", "endpoint")
        .filter(|v| !v.is_empty())
        .map(|v| v.trim_end_matches('/').to_owned());
    if let Some(url) = &endpoint {
        let authority = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| {
                ini.error(
                    "storage",
                    "endpoint",
                    format!("`{url}` is not an http:// or https:// URL"),
                    "write the S3 API's address, e.g. https://s3.example.org or http://127.0.0.1:9000",
                )
            })?;
        if authority.split('/').next().is_some_and(|a| a.contains('@')) {
            return Err(ini.error(
                "storage",
                "endpoint",
                "holds a user or password (settings.ini is copied into every archive's manifest)".to_owned(),
                "write the URL without them; give the keys as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
            ));
        }
    }
    Ok(StorageSettings {
        endpoint,
        region: ini
            .get("storage", "region")
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        path_style: ini.boolean("storage", "path_style")?,
    })
}

fn serve_settings(ini: &IniFile, base: &Path) -> Result<ServeSettings, Error> {
    let public_origin = ini
        .get("serve", "public_origin")
        .filter(|v| !v.is_empty())
        .map(|v| {
            parse_origin(v).ok_or_else(|| {
                ini.error(
                    "serve",
                    "public_origin",
                    format!("`{v}` is not scheme://host[:port]"),
                    "write the address the admins open, without a path, e.g. https://gnbr.example.org",
                )
            })
        })
        .transpose()?;
    let mut allowed_hosts = Vec::new();
    for (i, host) in ini.list("serve", "allowed_hosts").into_iter().enumerate() {
        if host.is_empty() {
            continue;
        }
        let Some(origin) = parse_origin(&format!("http://{host}")) else {
            return Err(ini.error(
                "serve",
                "allowed_hosts",
                format!("entry {} `{host}` is not host or host:port", i + 1),
                "list names as the browser's address bar shows them, e.g. gnbr.example.org, 192.0.2.7:8080",
            ));
        };
        allowed_hosts.push(origin.trim_start_matches("http://").to_owned());
    }
    let mut trusted_proxies = Vec::new();
    for (i, proxy) in ini.list("serve", "trusted_proxies").into_iter().enumerate() {
        if proxy.is_empty() {
            continue;
        }
        trusted_proxies.push(proxy.parse().map_err(|_| {
            ini.error(
                "serve",
                "trusted_proxies",
                format!("entry {} `{proxy}` is not an IP address", i + 1),
                "list the proxies' addresses as gnbr sees them, e.g. 127.0.0.1",
            )
        })?);
    }
    Ok(ServeSettings {
        state_dir: base.join(
            ini.get("serve", "state_dir")
                .filter(|p| !p.is_empty())
                .unwrap_or("gnbr-serve"),
        ),
        public_origin,
        allowed_hosts,
        trusted_proxies,
    })
}

/// `http(s)://host[:port]` (a trailing `/` allowed), lowercase, its
/// scheme's default port left out, as browsers write an `Origin`.
fn parse_origin(value: &str) -> Option<String> {
    let value = value.trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = value.split_once("://")?;
    let default_port = match scheme {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port))
            if !host.ends_with(':') && (host.starts_with('[') || !host.contains(':')) =>
        {
            (host, Some(port))
        }
        _ => (authority, None),
    };
    let host_ok = if let Some(ip) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        ip.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if !host_ok || !port_ok {
        return None;
    }
    Some(match port {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

fn fixture_settings(ini: &IniFile, warnings: &mut Vec<String>) -> Result<FixtureSettings, Error> {
    let apps = ini.list("fixtures", "apps");
    let dumps = ini.list("fixtures", "dumps");
    ini.same_length("fixtures", ("apps", &apps), ("dumps", &dumps))?;
    let mut fixtures = Vec::new();
    for (i, (app, dump)) in apps.iter().zip(&dumps).enumerate() {
        let position = i + 1;
        match (app.is_empty(), dump.is_empty()) {
            (true, true) => {}
            (false, false) => fixtures.push(FixtureEntry {
                position,
                app: app.clone(),
                dump: dump.clone(),
            }),
            _ => {
                return Err(ini.error(
                    "fixtures",
                    if app.is_empty() { "apps" } else { "dumps" },
                    format!(
                        "entry {position} is empty but its pair is not (apps `{app}`, dumps `{dump}`)"
                    ),
                    "an empty entry is a placeholder only when both lists leave it empty",
                ));
            }
        }
    }
    let targets = ini.list("fixtures", "migrations");
    let manglers = ini.list("fixtures", "manglers");
    ini.same_length(
        "fixtures",
        ("migrations", &targets),
        ("manglers", &manglers),
    )?;
    let mut migrations = Vec::new();
    for (i, (target, mangler)) in targets.iter().zip(&manglers).enumerate() {
        let position = i + 1;
        if target.is_empty() && mangler.is_empty() {
            continue;
        }
        let Some((plugin, name)) = mangler
            .split_once('.')
            .filter(|(p, m)| !p.is_empty() && !m.is_empty())
        else {
            return Err(ini.error(
                "fixtures",
                "manglers",
                format!("entry {position} `{mangler}` is not `plugin.Mangler`"),
                "name a mangler as its plugin and its name, e.g. `gn20_to_24.ResourceBaseMangler`",
            ));
        };
        let applies_to = match_fixtures(ini, target, position, &fixtures, warnings)?;
        migrations.push(MigrationEntry {
            position,
            target: target.clone(),
            plugin: plugin.to_owned(),
            mangler: name.to_owned(),
            applies_to,
            location: ini.location("fixtures", "manglers"),
        });
    }
    Ok(FixtureSettings {
        fixtures,
        migrations,
    })
}

/// The fixtures a `migrations` entry applies to: the `apps` entry equal to
/// it, else (with a warning) the app that holds the model it names, or the
/// models of the app it names.
fn match_fixtures(
    ini: &IniFile,
    target: &str,
    position: usize,
    fixtures: &[FixtureEntry],
    warnings: &mut Vec<String>,
) -> Result<Vec<usize>, Error> {
    if let Some(exact) = fixtures.iter().find(|f| f.app == target) {
        return Ok(vec![exact.position]);
    }
    let app_of_model = target.split_once('.').map(|(app, _)| app);
    let wider: Vec<&FixtureEntry> = fixtures
        .iter()
        .filter(|f| {
            Some(f.app.as_str()) == app_of_model
                || f.app
                    .strip_prefix(target)
                    .is_some_and(|r| r.starts_with('.'))
        })
        .collect();
    let at = ini.location("fixtures", "migrations");
    if wider.is_empty() {
        return Err(ini.error(
            "fixtures",
            "migrations",
            format!("entry {position} `{target}` matches no `apps` entry, so its mangler would never run"),
            "a mangler applies to the fixture whose `apps` entry equals its `migrations` entry; add the app to `apps` or fix the name",
        ));
    }
    let names: Vec<&str> = wider.iter().map(|f| f.app.as_str()).collect();
    warnings.push(format!(
        "{at}: migrations entry {position} `{target}` matches no `apps` entry exactly; applying its mangler to the objects it handles in the `{}` fixture(s) (GeoNode's own restore would have skipped it: app-level vs model-level names)",
        names.join("`, `")
    ));
    Ok(wider.iter().map(|f| f.position).collect())
}

impl Settings {
    /// The effective settings in GeoNode's own format (`[database]`,
    /// `[geoserver]`, `[fixtures]`, every key its Config reads), for the
    /// `<name>.ini` beside an archive: GeoNode's restore reads that file
    /// instead of its `-c` settings.
    pub fn geonode_ini(&self) -> String {
        let yes_no = |b: bool| if b { "True" } else { "False" };
        let join = |f: fn(&FixtureEntry) -> &str| {
            self.fixtures
                .fixtures
                .iter()
                .map(f)
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            "[database]\npgdump = {}\npgrestore = {}\npsql = {}\n\n[geoserver]\ndatadir = {}\ndumpvectordata = {}\ndumprasterdata = {}\n\n[fixtures]\napps = {}\ndumps = {}\n",
            self.database.pg_dump,
            self.database.pg_restore,
            self.database.psql,
            self.geoserver.datadir.as_deref().map(|d| d.display().to_string()).unwrap_or_default(),
            yes_no(self.geoserver.dump_vector_data),
            yes_no(self.geoserver.dump_raster_data),
            join(|f| &f.app),
            join(|f| &f.dump),
        )
    }
}

/// Parts of a key name that mark it as a secret wherever they appear in it
/// (`GeoServerPassword`, `db_passwd`, `SECRET_KEY`, `access_token`).
const SECRET_PARTS: [&str; 6] = [
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
];

/// Words of a key name (split at anything but a letter or digit) that mark
/// it as a secret (`pwd`, `api_key`, `ssh-key`, `AccessKey` is one word and
/// is listed).
const SECRET_WORDS: [&str; 6] = ["pwd", "pass", "key", "apikey", "accesskey", "privatekey"];

/// Whether a settings.ini key looks like it holds a secret: its name, in
/// any case, contains one of [`SECRET_PARTS`] or has one of
/// [`SECRET_WORDS`] as a word. No key gnbr or GeoNode reads matches.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_PARTS.iter().any(|part| key.contains(part))
        || key
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| SECRET_WORDS.contains(&word))
}

/// Refuses a settings file with a secret-looking key in any section: its
/// text is copied into every archive's manifest. Names every such key (never
/// its value).
fn refuse_secrets(ini: &IniFile) -> Result<(), Error> {
    let found: Vec<(String, String)> = ini.keys().filter(|(_, key)| is_secret_key(key)).collect();
    let Some((section, key)) = found.first() else {
        return Ok(());
    };
    let mut message = "looks like a secret: gnbr reads no secret from settings.ini (its text is copied into every archive's manifest)".to_owned();
    if found.len() > 1 {
        let others: Vec<String> = found[1..]
            .iter()
            .map(|(section, key)| match ini.line_of(section, key) {
                Some(line) => format!("line {line} [{section}] {key}"),
                None => format!("[{section}] {key}"),
            })
            .collect();
        message.push_str(&format!("; so do {}", others.join(", ")));
    }
    Err(ini.error(
        section,
        key,
        message,
        "remove the line: gnbr takes secrets from its environment or the [geonode] env_file only (GEOSERVER_ADMIN_PASSWORD for GeoServer, DATABASE_URL for Django's database, PGPASSWORD or ~/.pgpass for the PostgreSQL tools, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE for object storage)",
    ))
}

/// `[user@]host[:port]/database`.
fn parse_datastore(value: &str) -> Option<crate::archive::DatastoreSource> {
    let (address, database) = value.split_once('/')?;
    let (user, host_port) = match address.rsplit_once('@') {
        // `user:password@` is refused: the password would go into manifests.
        Some((user, _)) if user.contains(':') => return None,
        Some((user, rest)) => (user, rest),
        None => ("", address),
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() => {
            (host, port)
        }
        _ => (host_port, ""),
    };
    (!database.is_empty() && !database.contains('/')).then(|| crate::archive::DatastoreSource {
        host: host.to_owned(),
        port: port.to_owned(),
        database: database.to_owned(),
        user: user.to_owned(),
    })
}

/// A duration in seconds (decimals allowed).
fn seconds(
    ini: &IniFile,
    section: &str,
    key: &str,
    default: f64,
) -> Result<std::time::Duration, Error> {
    let value = ini.get(section, key).filter(|v| !v.is_empty());
    let seconds = match value {
        None => default,
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
            .ok_or_else(|| {
                ini.error(
                    section,
                    key,
                    format!("`{v}` is not a number of seconds"),
                    "write a positive number of seconds, such as 3 or 0.5",
                )
            })?,
    };
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// Parses a settings boolean the way Python's ConfigParser does.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
