//! `gnbr verify`: whether a backup would restore, checked part by part
//! without touching any GeoNode: the archive's checksums, every fixture
//! through its plugin chain, every other file against its checksum, the
//! datastore tables' dumps, GeoServer's part; with `--restore-check`, a
//! whole restore of the database part into a throwaway database.
//!
//! A problem in one part does not hide the others: each is reported, and
//! the exit code is that of the first.

use std::{
    collections::{BTreeMap, HashSet},
    fs::File,
    io::Cursor,
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use serde::Serialize;

use crate::{
    archive::{hex, is_encrypted, BackupReader, BackupWriter, MANIFEST_NAME},
    config::Settings,
    errors::{Error, ErrorKind},
    exit_codes,
    fixtures::{
        count_models_in,
        pass::{fixture_coverage, mangle_fixtures, FixtureReport},
    },
    geonode::{shown_load, GeoNode, LoadFixture, LoadRequest, RestoreRecord, TargetInfo},
    geoserver::{
        br_archive::{catalog_in_memory, check_archive},
        datadir::{self, ARCHIVE_PREFIX},
        datastore::{archived_tables, ArchivedTable},
        server::CATALOG_ENTRY,
    },
    plugins::{
        choice::{choose, target_known, Plan},
        ManglerRun,
    },
    postgres::{tables::check_dump, throwaway::ThrowawayDatabase},
    requests::VerifyRequest,
    scratch::temp_dir,
    sealed::ScratchKey,
    storage::{backup_sums, open_backup},
    ui::{Progress, Ui, Unit},
    versions::{source_version, KnownVersion},
};

/// The parts a problem is found in, as the report names them.
const ARCHIVE: &str = "archive";
const FIXTURES: &str = "fixtures";
const FILES: &str = "files";
const DATASTORE: &str = "datastore";
const GEOSERVER: &str = "geoserver";
const RESTORE: &str = "restore";

/// The tables whose rows the throwaway database gets from the target: the
/// migrations applied, which a restore keeps and checks.
const ROWS_COPIED: &[&str] = &["public.django_migrations"];

/// What `gnbr verify` checked, part by part, and the problems it found.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    /// The backup checked.
    pub archive: PathBuf,
    /// Whether every part checked is sound.
    pub ok: bool,
    /// The archive's sha256 (for a folder: of its listing), when it could be read.
    pub sha256: Option<String>,
    /// GeoNode's `.md5` sidecar it matched, when it has one.
    pub md5_sidecar: Option<PathBuf>,
    /// Whether it has gnbr's manifest (every entry's sha256).
    pub manifest: bool,
    /// The GeoNode version the backup came from, when known.
    pub source_version: Option<String>,
    /// The GeoNode version the fixtures were carried to; `None`: only parsed.
    pub target_version: Option<String>,
    /// The plugins applied.
    pub plugins: Vec<String>,
    /// One row per fixture carried through its chain.
    pub fixtures: Vec<FixtureReport>,
    /// `apps` entries whose fixture the backup lacks.
    pub fixtures_missing: Vec<String>,
    /// Fixtures `apps` does not list: only their checksums were checked.
    pub fixtures_unlisted: Vec<String>,
    /// Other files read to their end and checked, by folder.
    pub files: FileCounts,
    /// The datastore tables' dumps, each read to its end.
    pub datastore: Vec<TableCheck>,
    /// Files in GeoServer's Backup & Restore archive, each read, when the backup has one.
    pub geoserver_catalog_files: Option<u64>,
    /// What the plugins reported.
    pub notes: Vec<String>,
    /// The restore into a throwaway database (`--restore-check`).
    pub restore_check: Option<RestoreCheck>,
    /// Every problem found, in the order of the parts.
    pub problems: Vec<Problem>,
    /// Wall time.
    pub seconds: f64,
}

/// Files read and checked, by the folder they are in.
#[derive(Debug, Default, Serialize)]
pub struct FileCounts {
    /// `uploaded/` (MEDIA_ROOT).
    pub uploaded: u64,
    /// `assets/` (ASSETS_ROOT).
    pub assets: u64,
    /// `gs_data_dir/` (GeoServer's data directory), without the table dumps.
    pub geoserver_data: u64,
    /// Everything else (settings, custom-format table dumps, other files).
    pub other: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// One datastore table's dump, read to its end.
#[derive(Debug, Serialize)]
pub struct TableCheck {
    /// The table.
    pub table: String,
    /// Its entry.
    pub entry: String,
    /// Rows in its dump.
    pub rows: u64,
    /// Rows the manifest recorded at backup, when it did.
    pub recorded_rows: Option<u64>,
}

/// The database part restored into a throwaway database.
#[derive(Debug, Serialize)]
pub struct RestoreCheck {
    /// The throwaway database (dropped).
    pub database: String,
    /// Objects per model the staged fixtures hold.
    pub objects: BTreeMap<String, u64>,
    /// Rows per table after the load, each equal to its models' objects.
    pub rows: BTreeMap<String, u64>,
    /// What was not restored, and why.
    pub skipped: Vec<String>,
}

/// One problem, in the form of `--json`'s errors, with its part.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// The part it was found in (`archive`, `fixtures`, `files`, `datastore`,
    /// `geoserver`, `restore`).
    pub part: &'static str,
    /// Its kind.
    pub kind: ErrorKind,
    /// What is wrong, naming the entry.
    pub message: String,
    /// What it happened because of, the nearest first.
    pub causes: Vec<String>,
    /// What to do.
    pub hint: Option<String>,
    /// The exit code it stands for.
    pub exit_code: i32,
    #[serde(skip)]
    error: Error,
}

impl VerifyReport {
    /// 0 when every part is sound, else the exit code of the first problem.
    pub fn exit_code(&self) -> i32 {
        self.problems
            .first()
            .map_or(exit_codes::SUCCESS, |p| p.exit_code)
    }

    fn problem(&mut self, part: &'static str, error: Error) {
        self.problems.push(Problem {
            part,
            kind: error.kind,
            message: error.message.clone(),
            causes: error.causes().map(|e| e.message.clone()).collect(),
            hint: error.shown_hint().map(str::to_owned),
            exit_code: error.exit_code(),
            error,
        });
    }

    /// Notes the problem `result` holds, if any; returns its value.
    fn check<T>(&mut self, part: &'static str, result: Result<T, Error>) -> Option<T> {
        result.map_err(|e| self.problem(part, e)).ok()
    }
}

/// Runs `gnbr verify`.
///
/// # Errors
///
/// Only what stops every check: settings.ini, a backup that cannot be
/// opened, versions that cannot be told; everything else is a problem in
/// the report.
pub fn run(request: &VerifyRequest, ui: Ui) -> Result<VerifyReport, Error> {
    let started = Instant::now();
    let settings = request.setup.load_settings_warned(ui)?;
    let archive = &request.backup_file;
    let mut report = VerifyReport {
        archive: archive.clone(),
        ok: false,
        sha256: None,
        md5_sidecar: None,
        manifest: false,
        source_version: None,
        target_version: None,
        plugins: Vec::new(),
        fixtures: Vec::new(),
        fixtures_missing: Vec::new(),
        fixtures_unlisted: Vec::new(),
        files: FileCounts::default(),
        datastore: Vec::new(),
        geoserver_catalog_files: None,
        notes: Vec::new(),
        restore_check: None,
        problems: Vec::new(),
        seconds: 0.0,
    };
    if let Some(sums) = report.check(ARCHIVE, backup_sums(archive, &settings.storage)) {
        report.sha256 = Some(sums.sha256);
        report.md5_sidecar = sums.sidecar;
    }
    let mut input = open_backup(archive, &settings.storage)?;
    report.manifest = input.manifest().is_some();
    report.check(ARCHIVE, input.check_against_manifest());
    let source = source_version(&mut input, request.from_version.as_deref())?;
    report.source_version = source.as_ref().map(KnownVersion::label);
    let target = target(request, &settings)?;
    report.target_version = target.version.as_ref().map(KnownVersion::label);

    let total: u64 = input.entries().iter().map(|e| e.size).sum();
    let mut progress = ui.progress("verifying", Unit::Bytes, Some(total));
    let staging = if request.restore_check {
        Some(temp_dir("gnbr-verify-")?)
    } else {
        None
    };
    let coverage = fixture_coverage(&settings, &input);
    report.fixtures_unlisted = coverage.unlisted;
    let chosen = choose_plugins(request, &settings, source, &target, ui);
    let staged = check_fixtures(
        &settings,
        &mut input,
        chosen,
        staging.as_ref().map(|s| s.path()),
        &mut report,
        &mut progress,
    );
    let tables = archived_tables(&input);
    // The fixtures are the fixture pass's to read, even when it stopped early.
    let mut read = coverage.listed;
    read.insert(MANIFEST_NAME.to_owned());
    check_files(&mut input, &tables, &read, &mut report, &mut progress);
    progress.finish();
    check_datastore(&mut input, &tables, &mut report);
    check_catalog(&mut input, &mut report);
    if request.restore_check {
        restore_check(&settings, &target, &staged, &mut report, ui);
    }
    report.ok = report.problems.is_empty();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The version the fixtures are carried to, and the target GeoNode when
/// settings.ini names one.
struct Target {
    version: Option<KnownVersion>,
    geonode: Option<(GeoNode, TargetInfo)>,
}

/// `--to`, else the target's version (read through settings.ini
/// `[geonode]`), else none; with `--restore-check`, always the target's.
fn target(request: &VerifyRequest, settings: &Settings) -> Result<Target, Error> {
    let ask_target = request.restore_check
        || (request.to_version.is_none() && settings.geonode.python.is_some());
    let geonode = if ask_target {
        let geonode = GeoNode::new(&settings.geonode)?;
        let info = geonode.info()?;
        info.ensure_reachable()?;
        Some((geonode, info))
    } else {
        None
    };
    let given = request
        .to_version
        .as_deref()
        .map(|v| target_known(v, "given with --to"))
        .transpose()?;
    let Some((_, info)) = &geonode else {
        return Ok(Target {
            version: given,
            geonode,
        });
    };
    let theirs = target_known(&info.geonode_version, "read from the target GeoNode")?;
    if let Some(given) = given.filter(|g| g.known() != theirs.known()) {
        return Err(Error::new(
            ErrorKind::Usage,
            format!(
                "--to {} is not the target's GeoNode {}, which --restore-check restores into",
                given.label(),
                info.geonode_version
            ),
        )
        .hint("drop --to: --restore-check carries the fixtures to the target's version"));
    }
    Ok(Target {
        version: Some(theirs),
        geonode,
    })
}

/// The fixtures as the fixture pass left them.
struct Staged {
    /// Each fixture's staged file and entry, in load order (`--restore-check`).
    files: Vec<LoadFixture>,
    /// The key they are sealed with: the archive is encrypted.
    key: Option<Arc<ScratchKey>>,
    /// Whether every fixture went through.
    ok: bool,
}

/// The plugins that carry the backup's fixtures to the target version,
/// started, with the context a migration (or, with a target, a restore)
/// gives them.
fn choose_plugins(
    request: &VerifyRequest,
    settings: &Settings,
    source: Option<KnownVersion>,
    target: &Target,
    ui: Ui,
) -> Result<(ManglerRun, Plan), Error> {
    let registry = request.setup.discover_plugins(Some(settings), ui);
    let mut context = request.context(settings)?;
    context.source_version = source.as_ref().and_then(KnownVersion::known);
    context.target_version = target.version.as_ref().and_then(KnownVersion::known);
    if let Some((_, info)) = &target.geonode {
        if context.siteurl.is_empty() {
            context.siteurl = info.siteurl.trim_end_matches('/').to_owned();
        }
        info.add_to_context(&mut context);
    }
    let (manglers, plan) = choose(
        settings,
        &registry,
        &context,
        source,
        target.version.clone(),
        false,
    )?;
    for line in plan.lines() {
        ui.info(&line);
    }
    Ok((manglers, plan))
}

/// Carries every fixture through its plugin chain (written into `staging`
/// when there is one), and compares its objects with the manifest's count.
fn check_fixtures(
    settings: &Settings,
    input: &mut BackupReader,
    chosen: Result<(ManglerRun, Plan), Error>,
    staging: Option<&Path>,
    report: &mut VerifyReport,
    progress: &mut Progress,
) -> Staged {
    let mut staged = Staged {
        files: Vec::new(),
        key: is_encrypted(input.path()).then(|| Arc::new(ScratchKey::generate())),
        ok: false,
    };
    let Some((mut manglers, plan)) = report.check(FIXTURES, chosen) else {
        return staged;
    };
    report.plugins = plan.plugins;
    let writer =
        staging.map(|dir| BackupWriter::create_scratch(&dir.join("fixtures"), staged.key.clone()));
    let Some(mut writer) = report.check(FIXTURES, writer.transpose()) else {
        return staged;
    };
    let pass = mangle_fixtures(settings, input, writer.as_mut(), &mut manglers, progress);
    let Some(pass) = report.check(FIXTURES, pass) else {
        return staged;
    };
    let recorded = input.manifest().map(|m| m.fixtures.clone());
    for fixture in &pass.fixtures {
        let Some(count) = recorded.as_ref().and_then(|r| r.get(&fixture.entry)) else {
            continue;
        };
        if *count != fixture.stats.objects_in {
            report.problem(
                FIXTURES,
                Error::new(
                    ErrorKind::Input,
                    format!(
                        "{}: {} holds {} objects, its manifest.json says {count}",
                        input.path().display(),
                        fixture.entry,
                        fixture.stats.objects_in
                    ),
                )
                .hint("the archive was changed after it was written: use another backup"),
            );
        }
    }
    report.notes = pass.notes;
    if let Some(notes) = report.check(FIXTURES, manglers.finish()) {
        report.notes.extend(notes);
    }
    let dir = writer.map(BackupWriter::finish).transpose();
    if let Some(dir) = report.check(FIXTURES, dir).flatten() {
        staged.files = pass
            .fixtures
            .iter()
            .map(|f| LoadFixture {
                path: dir.join(&f.entry),
                entry: f.entry.clone(),
                objects: f.stats.objects_out,
            })
            .collect();
    }
    report.fixtures_missing = pass.missing;
    report.fixtures = pass.fixtures;
    staged.ok = !report.problems.iter().any(|p| p.part == FIXTURES);
    staged
}

/// Reads every entry but those in `read` and those the datastore and
/// GeoServer checks read, against its checksum; counts them by folder.
fn check_files(
    input: &mut BackupReader,
    tables: &[ArchivedTable],
    read: &HashSet<String>,
    report: &mut VerifyReport,
    progress: &mut Progress,
) {
    let mut skip = read.clone();
    skip.extend(
        tables
            .iter()
            .filter(|t| !t.custom_format)
            .map(|t| t.entry.clone()),
    );
    skip.insert(CATALOG_ENTRY.to_owned());
    let mut counts = FileCounts::default();
    let mut done = 0;
    let problems = input.check_entries(&skip, &mut |name, n| {
        if n > 0 {
            counts.bytes += n;
            progress.advance(n);
            return;
        }
        progress.step(name, done);
        done = counts.bytes;
        let folder = if name.starts_with("uploaded/") {
            &mut counts.uploaded
        } else if name.starts_with("assets/") {
            &mut counts.assets
        } else if name
            .strip_prefix(ARCHIVE_PREFIX)
            .is_some_and(|relative| !datadir::is_table_dump(relative))
        {
            &mut counts.geoserver_data
        } else {
            &mut counts.other
        };
        *folder += 1;
    });
    report.files = counts;
    for problem in problems {
        report.problem(FILES, problem);
    }
}

/// Reads each datastore table's plain dump to its end: its checksum, its
/// closing line, its rows against the manifest's.
fn check_datastore(input: &mut BackupReader, tables: &[ArchivedTable], report: &mut VerifyReport) {
    let backup = input.path().display().to_string();
    for table in tables.iter().filter(|t| !t.custom_format) {
        let at = format!("{backup}: {} (table {})", table.entry, table.table.plain());
        let damaged = |what: String| {
            Error::new(ErrorKind::Input, format!("{at}: {what}"))
                .hint("the backup's copy of this table is damaged: use another backup, or restore with --skip-geoserver")
        };
        let read = input
            .open_entry(&table.entry)
            .and_then(|entry| check_dump(entry).map_err(|e| damaged(e.to_string())));
        let Some(dump) = report.check(DATASTORE, read) else {
            continue;
        };
        if !dump.complete {
            report.problem(
                DATASTORE,
                damaged("the dump is cut short: it lacks pg_dump's closing line".to_owned()),
            );
            continue;
        }
        if let Some(recorded) = table.rows.filter(|r| *r != dump.rows) {
            report.problem(
                DATASTORE,
                damaged(format!(
                    "the dump holds {} rows, the manifest recorded {recorded}",
                    dump.rows
                )),
            );
            continue;
        }
        report.datastore.push(TableCheck {
            table: table.table.plain(),
            entry: table.entry.clone(),
            rows: dump.rows,
            recorded_rows: table.rows,
        });
    }
}

/// Reads GeoServer's Backup & Restore archive, when the backup has one:
/// its checksum, then every file in it; from a scratch copy, or in memory
/// from an encrypted backup (its plaintext never on disk).
fn check_catalog(input: &mut BackupReader, report: &mut VerifyReport) {
    if !input.has(CATALOG_ENTRY) {
        return;
    }
    let name = format!("{}: {CATALOG_ENTRY}", input.path().display());
    let checked = if is_encrypted(input.path()) {
        catalog_in_memory(input, &name).and_then(|bytes| check_archive(Cursor::new(bytes), &name))
    } else {
        temp_dir("gnbr-catalog-").and_then(|dir| {
            let path = dir.path().join(CATALOG_ENTRY);
            input.extract_entry(CATALOG_ENTRY, &path, &mut |_| {})?;
            let file = File::open(&path).map_err(|e| {
                Error::new(
                    ErrorKind::Run,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            check_archive(file, &name)
        })
    };
    report.geoserver_catalog_files = report.check(GEOSERVER, checked);
}

/// Restores the staged fixtures into a throwaway database beside the
/// target's, compares the rows, and drops it; the backup's folders and
/// datastore tables are not restored (they were read and checked above).
fn restore_check(
    settings: &Settings,
    target: &Target,
    staged: &Staged,
    report: &mut VerifyReport,
    ui: Ui,
) {
    let mut skipped = vec![
        "uploaded/ and assets/: not restored (every file was read and checked against its checksum)".to_owned(),
        "GeoServer's data directory, catalog and datastore tables: not restored (read and checked above)".to_owned(),
    ];
    if !staged.ok {
        skipped.insert(
            0,
            "the database: not restored, its fixtures have problems (above)".to_owned(),
        );
        report.restore_check = Some(RestoreCheck {
            database: String::new(),
            objects: BTreeMap::new(),
            rows: BTreeMap::new(),
            skipped,
        });
        return;
    }
    let Some((_, info)) = &target.geonode else {
        return;
    };
    let checked = throwaway_name().and_then(|name| {
        load_into_throwaway(settings, info, staged, &name, report, ui).map_err(|e| {
            e.context(format!(
                "the restore check in the throwaway database `{name}` failed (it was dropped; the target was not touched)"
            ))
        })
    });
    if let Some(mut check) = report.check(RESTORE, checked) {
        check.skipped = skipped;
        report.restore_check = Some(check);
    }
}

/// A new throwaway database's name: gnbr's process id and 32 random bits
/// (`gnbr_verify_1234_1a2b3c4d`), so that one left by a SIGKILL tells whose it was.
fn throwaway_name() -> Result<String, Error> {
    let mut random = [0u8; 4];
    getrandom::getrandom(&mut random).map_err(|e| {
        Error::new(
            ErrorKind::Run,
            format!("no random numbers for the throwaway database's name: {e}"),
        )
    })?;
    Ok(format!(
        "gnbr_verify_{}_{}",
        std::process::id(),
        hex(&random)
    ))
}

/// The load of a restore, into a new database holding the target's schema,
/// committed, then the database dropped.
fn load_into_throwaway(
    settings: &Settings,
    info: &TargetInfo,
    staged: &Staged,
    name: &str,
    report: &VerifyReport,
    ui: Ui,
) -> Result<RestoreCheck, Error> {
    ui.info(&format!(
        "creating the throwaway database `{name}` with the schema of the target's {}",
        info.database
    ));
    let throwaway = ThrowawayDatabase::create(
        &settings.database.pg_dump,
        &settings.database.psql,
        &info.database,
        name,
        ROWS_COPIED,
        settings.restore.lock_timeout,
    )?;
    let geonode = GeoNode::on_database(&settings.geonode, name)?;
    let there = geonode.info()?;
    there.ensure_reachable()?;
    if there.database.name != name {
        return Err(Error::new(
            ErrorKind::Refused,
            format!(
                "the target's Django settings still point at `{}`, not at the throwaway `{name}`: nothing was loaded",
                there.database.name
            ),
        )
        .hint("the settings module must build DATABASES['default'] as GeoNode's does; run verify without --restore-check"));
    }
    let paths: Vec<PathBuf> = staged.files.iter().map(|f| f.path.clone()).collect();
    let objects = count_models_in(&paths, staged.key.as_deref())?;
    let load = LoadRequest {
        archive: report.archive.display().to_string(),
        fixtures: staged.files.clone(),
        expected: objects.clone(),
        merge: false,
        batched: settings.restore.batched_load,
        lock_timeout_ms: u64::try_from(settings.restore.lock_timeout.as_millis())
            .unwrap_or(u64::MAX),
        only: None,
        record: RestoreRecord {
            archive: report
                .archive
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            sha256: report.sha256.clone().unwrap_or_default(),
            restored_at: String::new(),
            gnbr_version: env!("CARGO_PKG_VERSION").to_owned(),
            source_version: report.source_version.clone(),
            target_version: Some(info.geonode_version.clone()),
            run_id: None,
        },
        sealed: staged.key.clone(),
    };
    ui.info(&format!(
        "loading {} objects into `{name}`",
        objects.values().sum::<u64>()
    ));
    let pending = geonode.load(&load, &mut shown_load(ui, name))?;
    let rows = serde_json::from_value(pending.rows.clone()).map_err(|e| {
        Error::new(
            ErrorKind::Run,
            format!("gnbr's Django helper answered oddly: {e}"),
        )
    })?;
    pending.commit()?;
    drop(geonode);
    throwaway.finish()?;
    ui.info(&format!("dropped the throwaway database `{name}`"));
    Ok(RestoreCheck {
        database: name.to_owned(),
        objects,
        rows,
        skipped: Vec::new(),
    })
}

/// Prints the report: what each part checked, then each problem.
pub fn print_report(report: &VerifyReport, ui: Ui) {
    for problem in &report.problems {
        eprintln!("gnbr: error: {}: {}", problem.part, problem.error);
    }
    if !ui.report(report) {
        return;
    }
    let status = |part: &str| {
        if report.problems.iter().any(|p| p.part == part) {
            "FAILED"
        } else {
            "ok"
        }
    };
    let sidecar = match &report.md5_sidecar {
        Some(path) => format!("matches {}", path.display()),
        None => "no .md5 sidecar".to_owned(),
    };
    let manifest = match (report.manifest, report.archive.is_dir()) {
        (true, _) => "every entry against manifest.json's sha256",
        (false, false) => "no manifest.json: entries against the zip's CRC-32 only",
        (false, true) => "no manifest.json: a folder without checksums, its files only read",
    };
    println!(
        "archive    {}  {} ({sidecar}; {manifest})",
        status(ARCHIVE),
        report.archive.display()
    );
    println!(
        "versions   GeoNode {} -> {}",
        report.source_version.as_deref().unwrap_or("unknown"),
        report
            .target_version
            .as_deref()
            .unwrap_or("none given (only settings.ini's manglers, if any)")
    );
    if !report.plugins.is_empty() {
        println!("plugins    {}", report.plugins.join(", "));
    }
    let objects: u64 = report.fixtures.iter().map(|f| f.stats.objects_in).sum();
    println!(
        "fixtures   {}  {} fixtures, {objects} objects parsed and carried through their plugins",
        status(FIXTURES),
        report.fixtures.len()
    );
    if !report.fixtures_unlisted.is_empty() {
        println!(
            "           not in [fixtures] apps (checksums only): {}",
            report.fixtures_unlisted.join(", ")
        );
    }
    if !report.fixtures_missing.is_empty() {
        println!(
            "           not in the backup: {}",
            report.fixtures_missing.join(", ")
        );
    }
    let files = &report.files;
    println!(
        "files      {}  {} uploaded, {} assets, {} GeoServer data, {} other ({:.1} MB) read against their checksums",
        status(FILES),
        files.uploaded,
        files.assets,
        files.geoserver_data,
        files.other,
        files.bytes as f64 / 1e6
    );
    let rows: u64 = report.datastore.iter().map(|t| t.rows).sum();
    println!(
        "datastore  {}  {} table dumps complete, {rows} rows",
        status(DATASTORE),
        report.datastore.len()
    );
    match report.geoserver_catalog_files {
        Some(n) => println!(
            "geoserver  {}  {CATALOG_ENTRY}: {n} files read",
            status(GEOSERVER)
        ),
        None => println!("geoserver  {}  no {CATALOG_ENTRY}", status(GEOSERVER)),
    }
    if let Some(check) = &report.restore_check {
        let rows: u64 = check.rows.values().sum();
        if !check.database.is_empty() {
            println!(
                "restore    {}  {} objects into the throwaway `{}` ({rows} rows in {} tables, as expected); dropped",
                status(RESTORE),
                check.objects.values().sum::<u64>(),
                check.database,
                check.rows.len()
            );
        }
        for skipped in &check.skipped {
            println!("           {skipped}");
        }
    } else if report.problems.iter().any(|p| p.part == RESTORE) {
        println!("restore    FAILED");
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    if report.ok {
        println!("verified in {:.1} s", report.seconds);
    } else {
        println!(
            "{} problems found in {:.1} s",
            report.problems.len(),
            report.seconds
        );
    }
}
