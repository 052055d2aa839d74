//! The real services the restore tests run against: the throwaway
//! PostgreSQL + PostGIS cluster and the GeoNode 5.1.1 virtualenv that
//! `scripts/test-services.sh up` installs and starts. A test that needs them
//! fails, never skips, when they are missing.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
};

use crate::support::repo;

/// The `KEY=VALUE` lines of the env file `$var` names, else `default`.
///
/// # Panics
///
/// When it is missing: the services were not set up; `needs` says which
/// and how to set them up.
pub fn env_file(var: &str, default: &str, needs: &str) -> BTreeMap<String, String> {
    let path = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}: these tests need {needs} (scripts/test.sh does)"));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The services' environment file, `KEY=VALUE` lines (gn511.env).
pub struct Services {
    env: BTreeMap<String, String>,
}

impl Services {
    /// GeoNode 5.1.1: `GNBR_TEST_ENV` (default `/var/tmp/gnbr-test/gn511.env`).
    ///
    /// # Panics
    ///
    /// When the file is missing: the services were not set up.
    pub fn get() -> Self {
        Self::load("GNBR_TEST_ENV", "/var/tmp/gnbr-test/gn511.env")
    }

    /// GeoNode 4.4.5: `GNBR_TEST_ENV_445` (default `/var/tmp/gnbr-test/gn445.env`).
    ///
    /// # Panics
    ///
    /// When the file is missing: the services were not set up.
    pub fn get_445() -> Self {
        Self::load("GNBR_TEST_ENV_445", "/var/tmp/gnbr-test/gn445.env")
    }

    /// GeoNode 4.1.5, the 3.x road's middle hop: `GNBR_TEST_ENV_415`
    /// (default `/var/tmp/gnbr-test/gn415.env`).
    ///
    /// # Panics
    ///
    /// When the file is missing: the services were not set up.
    pub fn get_415() -> Self {
        Self::load("GNBR_TEST_ENV_415", "/var/tmp/gnbr-test/gn415.env")
    }

    /// GeoNode 3.3.3: `GNBR_TEST_ENV_333` (default `/var/tmp/gnbr-test/gn333.env`).
    ///
    /// # Panics
    ///
    /// When the file is missing: the services were not set up.
    pub fn get_333() -> Self {
        Self::load("GNBR_TEST_ENV_333", "/var/tmp/gnbr-test/gn333.env")
    }

    fn load(var: &str, default: &str) -> Self {
        let env = env_file(
            var,
            default,
            "PostgreSQL and GeoNodes 5.1.1, 4.4.5, 4.1.5 and 3.3.3; run `scripts/test-services.sh up --with-4.4.5 --with-3.3.3`",
        );
        Self { env }
    }

    fn var(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from the services' env file"))
    }

    /// The test cluster's host.
    pub fn pg_host(&self) -> &str {
        self.var("GNBR_TEST_PGHOST")
    }

    /// The test cluster's port.
    pub fn pg_port(&self) -> &str {
        self.var("GNBR_TEST_PGPORT")
    }

    /// The full path of PostgreSQL tool `tool` (`pg_dump`, `psql`) of the test cluster.
    pub fn pg_tool(&self, tool: &str) -> String {
        format!("{}/{tool}", self.var("GNBR_TEST_PGBIN"))
    }

    /// Database `name` on the test cluster, as the GeoNode user (with its password).
    pub fn database(&self, name: &str) -> gnbr::postgres::Database {
        gnbr::postgres::Database {
            engine: "django.contrib.gis.db.backends.postgis".to_owned(),
            name: name.to_owned(),
            host: self.var("GNBR_TEST_PGHOST").to_owned(),
            port: self.var("GNBR_TEST_PGPORT").to_owned(),
            user: self.var("GNBR_TEST_PGUSER").to_owned(),
            password: self.var("GNBR_TEST_PGPASSWORD").to_owned(),
        }
    }

    /// Runs SQL as the superuser in `db`; returns the unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let output = Command::new(format!("{}/psql", self.var("GNBR_TEST_PGBIN")))
            .args([
                "-h",
                self.var("GNBR_TEST_PGHOST"),
                "-p",
                self.var("GNBR_TEST_PGPORT"),
                "-U",
                "postgres",
            ])
            .args(["-qAt", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql])
            .output()
            .expect("psql runs");
        assert!(
            output.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// A fresh, migrated GeoNode 5.1.1 database called `name`, owned by the GeoNode user.
    pub fn fresh_db(&self, name: &str) {
        self.psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        self.psql(
            "postgres",
            &format!(
                "CREATE DATABASE {name} TEMPLATE {} OWNER {}",
                self.var("GNBR_TEST_TEMPLATE_DB"),
                self.var("GNBR_TEST_PGUSER")
            ),
        );
    }

    /// Count and md5 of every public table's rows, as text; for the tables
    /// in `ignore`, without the columns named there.
    pub fn digest(&self, db: &str, ignore: &[(&str, &[&str])]) -> BTreeMap<String, String> {
        self.digest_of(db, ignore, "format('%I', column_name)")
    }

    /// [`Services::digest`] with timestamps cut to milliseconds, the
    /// precision Django's JSON serialisation keeps.
    pub fn digest_ms(&self, db: &str, ignore: &[(&str, &[&str])]) -> BTreeMap<String, String> {
        let column = "CASE WHEN data_type LIKE 'timestamp%' \
                      THEN format('date_trunc(''milliseconds'', %I) AS %I', column_name, column_name) \
                      ELSE format('%I', column_name) END";
        self.digest_of(db, ignore, column)
    }

    fn digest_of(
        &self,
        db: &str,
        ignore: &[(&str, &[&str])],
        column: &str,
    ) -> BTreeMap<String, String> {
        let tables = self.psql(
            db,
            &format!(
                "SELECT c.table_name || ' ' || string_agg({column}, ', ' ORDER BY ordinal_position) \
                 FROM information_schema.columns c \
                 JOIN pg_tables t ON t.tablename = c.table_name AND t.schemaname = 'public' \
                 WHERE c.table_schema = 'public' GROUP BY c.table_name ORDER BY 1"
            ),
        );
        let selects: Vec<String> = tables
            .lines()
            .map(|line| {
                let (table, columns) = line.split_once(' ').unwrap();
                let dropped: String = ignore
                    .iter()
                    .find(|(t, _)| *t == table)
                    .map(|(_, columns)| columns.iter().map(|c| format!(" - '{c}'")).collect())
                    .unwrap_or_default();
                format!(
                    "SELECT '{table}' || ' ' || count(*) || ':' || coalesce(md5(string_agg(r, '|' ORDER BY r)), '-') \
                     FROM (SELECT (to_jsonb(t){dropped})::text r FROM (SELECT {columns} FROM \"{table}\") t) s"
                )
            })
            .collect();
        self.psql(db, &selects.join(" UNION ALL "))
            .lines()
            .map(|l| {
                let (table, digest) = l.split_once(' ').unwrap();
                (table.to_owned(), digest.to_owned())
            })
            .collect()
    }

    /// Runs a Python script with the GeoNode install's Python, pointed at `db`.
    pub fn python(&self, dir: &Path, db: &str, script: &Path) {
        self.python_with_args(dir, db, script, &[]);
    }

    /// [`Services::python`] with arguments; returns the standard output.
    pub fn python_with_args(&self, dir: &Path, db: &str, script: &Path, args: &[&str]) -> String {
        let args: Vec<&std::ffi::OsStr> = std::iter::once(script.as_os_str())
            .chain(args.iter().map(std::ffi::OsStr::new))
            .collect();
        self.run_in_django(
            "GNBR_TEST_PYTHON",
            &args,
            dir,
            db,
            &script.display().to_string(),
        )
    }

    /// Runs `program args` in GeoNode's environment pointed at `db`, which
    /// must succeed (`what` names it in the failure); returns its stdout.
    fn run_in_django(
        &self,
        program: &str,
        args: &[&std::ffi::OsStr],
        dir: &Path,
        db: &str,
        what: &str,
    ) -> String {
        let output = Command::new(self.var(program))
            .args(args)
            .envs(self.django_env(dir, db))
            .output()
            .unwrap_or_else(|e| panic!("{what} does not run: {e}"));
        assert!(
            output.status.success(),
            "{what} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs GeoNode's own `backup` of `db` into `backup_dir`; returns the archive.
    pub fn geonode_backup(&self, dir: &Path, db: &str, backup_dir: &Path) -> PathBuf {
        self.geonode_backup_with(
            dir,
            db,
            backup_dir,
            &repo().join("tests/data/geonode-5.1.1-backup/settings-as-written-by-backup.ini"),
        )
    }

    /// [`Services::geonode_backup`] with another settings.ini (another
    /// GeoNode version's apps).
    pub fn geonode_backup_with(
        &self,
        dir: &Path,
        db: &str,
        backup_dir: &Path,
        settings: &Path,
    ) -> PathBuf {
        std::fs::create_dir_all(backup_dir).unwrap();
        self.run_in_django(
            "GNBR_TEST_DJANGO_ADMIN",
            &[
                "backup".as_ref(),
                "--backup-dir".as_ref(),
                backup_dir.as_os_str(),
                "-c".as_ref(),
                settings.as_os_str(),
                "--skip-geoserver".as_ref(),
                "-f".as_ref(),
            ],
            dir,
            db,
            "GeoNode's backup",
        );
        std::fs::read_dir(backup_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "zip"))
            .expect("GeoNode's backup wrote a zip")
    }

    /// Writes `dir/gn.env` and `dir/settings.ini` pointing gnbr at `db`,
    /// with MEDIA_ROOT and ASSETS_ROOT under `dir`.
    pub fn settings(&self, dir: &Path, db: &str) -> PathBuf {
        self.settings_with_apps(
            dir,
            db,
            &repo().join("tests/data/geonode-5.1.1-backup/settings-as-written-by-backup.ini"),
        )
    }

    /// [`Services::settings`] with the `apps`/`dumps` of another settings file.
    pub fn settings_with_apps(&self, dir: &Path, db: &str, apps_from: &Path) -> PathBuf {
        std::fs::write(
            dir.join("gn.env"),
            self.django_env(dir, db)
                .iter()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect::<String>(),
        )
        .unwrap();
        let written = std::fs::read_to_string(apps_from).unwrap();
        let line = |key: &str| {
            written
                .lines()
                .find(|l| l.starts_with(key))
                .unwrap()
                .to_owned()
        };
        let path = dir.join("settings.ini");
        std::fs::write(
            &path,
            format!(
                "[geonode]\npython = {}\nenv_file = gn.env\n\n[fixtures]\n{}\n{}\n\n[restore]\nsnapshot_dir = snapshots\n\n[geoserver]\ndatadir = gs_data\n",
                self.var("GNBR_TEST_PYTHON"),
                line("apps"),
                line("dumps")
            ),
        )
        .unwrap();
        path
    }

    /// [`Services::django_env`] for an instance at `siteurl` with its
    /// `MEDIA_ROOT` and `ASSETS_ROOT` at `media` and `assets`.
    pub fn site_env(
        &self,
        dir: &Path,
        db: &str,
        siteurl: &str,
        media: &Path,
        assets: &Path,
    ) -> Vec<(String, String)> {
        self.django_env(dir, db)
            .into_iter()
            .map(|(k, v)| {
                let v = match k.as_str() {
                    "SITEURL" => siteurl.to_owned(),
                    "MEDIA_ROOT" => media.display().to_string(),
                    "ASSETS_ROOT" => assets.display().to_string(),
                    _ => v,
                };
                (k, v)
            })
            .collect()
    }

    /// Writes `dir/gn.env` holding `env` and `dir/settings.ini` pointing gnbr
    /// at it, with GeoNode 5.1.1's apps.
    pub fn settings_for_env(&self, dir: &Path, env: &[(String, String)]) -> PathBuf {
        let path = self.settings(dir, "unused");
        std::fs::write(
            dir.join("gn.env"),
            env.iter()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect::<String>(),
        )
        .unwrap();
        path
    }

    /// Runs `program args` (`GNBR_TEST_PYTHON` or `GNBR_TEST_DJANGO_ADMIN`)
    /// in the environment `env`, which must succeed; returns its stdout.
    pub fn run_with_env(&self, program: &str, args: &[&str], env: &[(String, String)]) -> String {
        let output = Command::new(self.var(program))
            .args(args)
            .envs(env.iter().cloned())
            .output()
            .unwrap_or_else(|e| panic!("{program} {args:?} does not run: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The environment that points GeoNode at `db`, with folders under `dir`.
    pub fn django_env(&self, dir: &Path, db: &str) -> Vec<(String, String)> {
        let url = format!(
            "postgis://{}:{}@{}:{}/{db}",
            self.var("GNBR_TEST_PGUSER"),
            self.var("GNBR_TEST_PGPASSWORD"),
            self.var("GNBR_TEST_PGHOST"),
            self.var("GNBR_TEST_PGPORT")
        );
        self.env
            .iter()
            .filter(|(k, _)| !k.starts_with("GNBR_TEST_"))
            .map(|(k, v)| {
                let v = match k.as_str() {
                    "DATABASE_URL" => url.clone(),
                    "MEDIA_ROOT" => dir.join("media").display().to_string(),
                    "ASSETS_ROOT" => dir.join("assets").display().to_string(),
                    _ => v.clone(),
                };
                (k.clone(), v)
            })
            .collect()
    }

    /// An empty PostGIS database called `name`, owned by the GeoNode user:
    /// a datastore.
    pub fn fresh_datastore(&self, name: &str) {
        self.psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        );
        self.psql(
            "postgres",
            &format!(
                "CREATE DATABASE \"{name}\" OWNER {}",
                self.var("GNBR_TEST_PGUSER")
            ),
        );
        self.psql(name, "CREATE EXTENSION postgis");
    }

    /// Runs SQL in `db` as the GeoNode user, so that what it creates is that user's.
    pub fn psql_as_owner(&self, db: &str, sql: &str) -> String {
        self.psql(
            db,
            &format!("SET ROLE {}; {sql}", self.var("GNBR_TEST_PGUSER")),
        )
    }

    /// Adds GeoNode's datastore `db` (`DEFAULT_BACKEND_DATASTORE`,
    /// `GEODATABASE_URL`) and `extra` lines to `dir/gn.env`, written by
    /// [`Services::settings`].
    pub fn add_datastore(&self, dir: &Path, db: &str, extra: &[&str]) {
        let mut env = std::fs::read_to_string(dir.join("gn.env")).unwrap();
        env.push_str(&format!(
            "DEFAULT_BACKEND_DATASTORE=datastore\nGEODATABASE_URL=postgis://{}:{}@{}:{}/{db}\n",
            self.var("GNBR_TEST_PGUSER"),
            self.var("GNBR_TEST_PGPASSWORD"),
            self.var("GNBR_TEST_PGHOST"),
            self.var("GNBR_TEST_PGPORT")
        ));
        for line in extra {
            env.push_str(line);
            env.push('\n');
        }
        std::fs::write(dir.join("gn.env"), env).unwrap();
    }

    /// Runs GeoNode's own `migrate` on `db`: the in-place upgrade path.
    pub fn migrate_in_place(&self, dir: &Path, db: &str) {
        self.run_in_django(
            "GNBR_TEST_DJANGO_ADMIN",
            &["migrate".as_ref(), "--noinput".as_ref()],
            dir,
            db,
            "GeoNode's migrate",
        );
    }

    /// A copy of database `from` called `name`.
    pub fn copy_db(&self, from: &str, name: &str) {
        self.psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        self.psql(
            "postgres",
            &format!(
                "CREATE DATABASE {name} TEMPLATE {from} OWNER {}",
                self.var("GNBR_TEST_PGUSER")
            ),
        );
    }

    /// Runs GeoNode's own `restore` of `archive` into `db`.
    pub fn geonode_restore(&self, dir: &Path, db: &str, archive: &Path) {
        let settings =
            repo().join("tests/data/geonode-5.1.1-backup/settings-as-written-by-backup.ini");
        self.run_in_django(
            "GNBR_TEST_DJANGO_ADMIN",
            &[
                "restore".as_ref(),
                "--backup-file".as_ref(),
                archive.as_os_str(),
                "-c".as_ref(),
                settings.as_os_str(),
                "--skip-geoserver".as_ref(),
                "--skip-read-only".as_ref(),
                "-f".as_ref(),
            ],
            dir,
            db,
            "GeoNode's restore",
        );
    }
}

/// Sets `[restore] lock_timeout` in settings written by [`Services::settings`].
pub fn set_lock_timeout(settings: &Path, seconds: u32) {
    let text = std::fs::read_to_string(settings).unwrap();
    let text = text.replace(
        "snapshot_dir = snapshots",
        &format!("snapshot_dir = snapshots\nlock_timeout = {seconds}"),
    );
    std::fs::write(settings, text).unwrap();
}

/// Sets `[restore] batched_load = no` in settings written by
/// [`Services::settings`]: the load goes object by object, as `loaddata`.
pub fn load_per_object(settings: &Path) {
    let text = std::fs::read_to_string(settings).unwrap();
    let text = text.replace(
        "snapshot_dir = snapshots",
        "snapshot_dir = snapshots\nbatched_load = no",
    );
    std::fs::write(settings, text).unwrap();
}

/// What two restores of one archive may differ in: the restore record's
/// time and run.
pub const RESTORE_RECORD: (&str, &[&str]) = ("gnbr_restore_log", &["restored_at", "run_id"]);

/// The tables whose digests ([`Services::digest`]) differ between `a` and
/// `b`, or that only one of them has.
pub fn tables_that_differ<'a>(
    a: &'a BTreeMap<String, String>,
    b: &'a BTreeMap<String, String>,
) -> BTreeSet<&'a str> {
    a.keys()
        .chain(b.keys())
        .filter(|t| a.get(*t) != b.get(*t))
        .map(String::as_str)
        .collect()
}

/// A session holding the locks one statement took, in a transaction left
/// open until it is dropped (then it rolls back).
pub struct LockHolder {
    session: Child,
    input: Option<ChildStdin>,
}

impl Services {
    /// Opens a session on `db` as the GeoNode user, as application
    /// `application`, that runs `sql` in a transaction it leaves open, as
    /// the live site or a forgotten `psql` would; returns once `sql` ran.
    pub fn hold_locks(&self, db: &str, application: &str, sql: &str) -> LockHolder {
        let owner = self.database(db);
        let mut session = Command::new(self.pg_tool("psql"))
            .args([
                "-qAt",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                &owner.host,
                "-p",
                &owner.port,
            ])
            .args(["-U", &owner.user, "-d", db])
            .env("PGPASSWORD", &owner.password)
            .env("PGAPPNAME", application)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = session.stdin.take().unwrap();
        writeln!(input, "BEGIN;\n{sql};\n\\echo locked").unwrap();
        input.flush().unwrap();
        let mut output = BufReader::new(session.stdout.take().unwrap()).lines();
        while output.next().unwrap().unwrap() != "locked" {}
        LockHolder {
            session,
            input: Some(input),
        }
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        drop(self.input.take());
        let _ = self.session.wait();
    }
}

/// An edit for [`gn511_archive`]: `field` of the first `base.resourcebase`
/// of `base.json` set to `value`.
pub fn set_resource_field(
    fixture: &str,
    objects: &mut [serde_json::Value],
    field: &str,
    value: serde_json::Value,
) {
    if fixture == "base.json" {
        let resource = objects
            .iter_mut()
            .find(|o| o["model"] == "base.resourcebase")
            .unwrap();
        resource["fields"][field] = value;
    }
}

/// The real GeoNode 5.1.1 backup's fixtures packed as GeoNode's `backup`
/// packs them (`fixtures/` in the zip, `<name>.md5` beside it), with
/// `edit` applied to each fixture's parsed objects first and `extra`
/// entries added.
pub fn gn511_archive(
    dir: &Path,
    name: &str,
    edit: impl Fn(&str, &mut Vec<serde_json::Value>),
    extra: &[(&str, &[u8])],
) -> PathBuf {
    let path = dir.join(name);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let fixtures = repo().join("tests/data/geonode-5.1.1-backup/fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let fixture = file.file_name().unwrap().to_string_lossy().into_owned();
        let mut objects: Vec<serde_json::Value> =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        edit(&fixture, &mut objects);
        zip.start_file(
            format!("fixtures/{fixture}"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        std::io::Write::write_all(&mut zip, &serde_json::to_vec_pretty(&objects).unwrap()).unwrap();
    }
    for (entry, bytes) in extra {
        zip.start_file(*entry, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, bytes).unwrap();
    }
    zip.finish().unwrap();
    let md5 = Command::new("md5sum").arg(&path).output().unwrap();
    let sum = String::from_utf8(md5.stdout).unwrap();
    std::fs::write(
        path.with_extension("md5"),
        sum.split_whitespace().next().unwrap(),
    )
    .unwrap();
    path
}
