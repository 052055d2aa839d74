//! `gnbr restore`: a backup into a running GeoNode, all or nothing.
//!
//! Everything is checked before anything is touched; the database part is
//! one transaction; the folders are staged and swapped in by journaled
//! renames around the commit. A failure at any step leaves the target as it
//! was; a crash leaves a journal the next gnbr run settles.

use std::{
    collections::BTreeMap,
    io::{self, BufRead, IsTerminal, Write},
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use mangler_api::Context;
use serde::Serialize;

use crate::{
    archive::{
        hex, is_encrypted, stage_folder,
        targets::{plan_folders, FolderPlan},
        BackupReader, BackupWriter, FolderReport, StagedFolder,
    },
    cancel,
    config::Settings,
    errors::{Error, ErrorKind},
    fault,
    fixtures::{
        self,
        pass::{fixture_coverage, mangle_fixtures, FixtureReport},
    },
    geonode::{
        shown_load, GeoNode, LoadFixture, LoadRequest, PendingLoad, RestoreRecord, TargetInfo,
    },
    geoserver::restore::{AppliedGeoServer, GeoServerReport, GeoServerRestore},
    plugins::{
        choice::{choose, target_known, Plan},
        ManglerRun,
    },
    postgres,
    relocate::{staged::relocate_staged, RelocationReport},
    requests::{BackupLocation, RestoreRequest},
    sealed::ScratchKey,
    storage::{backup_sums, open_backup, BackupDir},
    swap::{interrupted, Finished, Journal},
    ui::{copy_progress, Ui, Unit},
    versions::{source_version, KnownVersion},
};

/// What a restore did (or, in a dry run, would do).
#[derive(Debug, Serialize)]
pub struct RestoreReport {
    /// The archive restored.
    pub archive: PathBuf,
    /// Its sha256.
    pub sha256: String,
    /// The target database.
    pub database: String,
    /// The target's GeoNode version.
    pub target_version: String,
    /// The GeoNode version the backup came from, when known (a range of
    /// release lines, `3.0-3.3`, when only that is).
    pub source_version: Option<String>,
    /// The plugins applied.
    pub plugins: Vec<String>,
    /// How they were chosen: versions and chain.
    pub plan: Plan,
    /// One row per fixture.
    pub fixtures: Vec<FixtureReport>,
    /// Objects per model loaded.
    pub objects: BTreeMap<String, u64>,
    /// The database snapshot taken first.
    pub snapshot: Option<PathBuf>,
    /// Folders replaced: destination, files, bytes, where the previous content was kept.
    pub folders: Vec<FolderReport>,
    /// What the plugins reported.
    pub notes: Vec<String>,
    /// GeoServer's side: datastore tables, catalog, reload, values rewritten.
    pub geoserver: GeoServerReport,
    /// The source's address and folders moved to the target's: values and
    /// fields changed.
    pub relocation: RelocationReport,
    /// Whether nothing was changed on purpose.
    pub dry_run: bool,
    /// Wall time.
    pub seconds: f64,
}

/// Runs `gnbr restore`.
///
/// # Errors
///
/// Any check or step that fails; the target is then as it was.
pub fn run(request: &RestoreRequest, ui: Ui) -> Result<RestoreReport, Error> {
    let started = Instant::now();
    let settings = request.setup.load_settings_warned(ui)?;
    let archive = archive_path(&request.backup, &settings)?;
    let sha256 = backup_sums(&archive, &settings.storage)?.sha256;
    let target = GeoNode::new(&settings.geonode)?;
    let info = ready_target(&target, &settings, ui)?;
    cancel::checkpoint("target-ready")?;
    refuse_if_restored(request, &info, &archive, &sha256)?;
    let mut input = open_backup(&archive, &settings.storage)?;
    input.check_against_manifest()?;
    let skipped = check_fixtures(&settings, &input, request.only_listed_fixtures)?;
    let source = source_version(&mut input, request.from_version.as_deref())?;
    let source_label = source.as_ref().map(KnownVersion::label);
    let context = plugin_context(request, &settings, &target, &info, source.as_ref())?;
    let (manglers, plan) = choose_plugins(request, &settings, &context, source, &info, ui)?;
    let mut geoserver = GeoServerRestore::check(
        &mut input,
        &request.geoserver,
        &settings,
        &info,
        &target,
        ui,
    )?;
    cancel::checkpoint("checked")?;

    let staging = crate::scratch::temp_dir("gnbr-restore-")?;
    let mut fixtures = stage_fixtures(
        &settings,
        &mut input,
        manglers,
        &skipped,
        staging.path(),
        ui,
    )?;
    let source_place = request.source_place(&settings, input.manifest());
    let relocation = relocate_staged(
        source_place.as_ref(),
        &info,
        &context.siteurl,
        &fixtures.files,
        fixtures.key.as_deref(),
        ui,
    )?;
    let objects = fixtures::count_models_in(&fixtures.files, fixtures.key.as_deref())?;
    let mut report = RestoreReport {
        archive: archive.clone(),
        sha256: sha256.clone(),
        database: info.database.to_string(),
        target_version: info.geonode_version.clone(),
        source_version: source_label.clone(),
        plugins: plan.plugins.clone(),
        plan,
        fixtures: std::mem::take(&mut fixtures.reports),
        objects,
        snapshot: None,
        folders: Vec::new(),
        notes: std::mem::take(&mut fixtures.notes),
        geoserver: GeoServerReport::default(),
        relocation,
        dry_run: request.dry_run,
        seconds: 0.0,
    };
    let folders = plan_folders(&input, &info.media_root, &info.assets_root)?;
    if request.dry_run {
        report.geoserver = geoserver.report;
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    confirm(request, &info, &replaced(&folders, &geoserver), &archive)?;
    cancel::checkpoint("confirmed")?;

    let stamp = context.timestamp.replace(':', "");
    report.snapshot = take_snapshot(request, &settings, &info, &stamp, ui)?;
    cancel::checkpoint("snapshot-taken")?;
    let run = run_id(&stamp)?;
    let mut journal = begin_journal(
        request,
        &info,
        &run,
        &folders,
        &geoserver,
        &settings.restore.snapshot_dir,
    )?;
    let staged = stage_folders(&mut input, &folders, &mut journal, ui)?;
    geoserver.stage(&mut input, &settings, &info, &stamp, &mut journal, ui)?;
    cancel::checkpoint("staged")?;

    let record = restore_record(&archive, sha256, source_label, &info, &run);
    let load = load_request(request, &settings, &archive, &report, &fixtures, record);
    let pending = load_fixtures(&target, &load, &info, ui)?;
    fault::point("loaded");
    let (swapped, applied) = match swap_in(
        &staged,
        &mut geoserver,
        &mut input,
        &settings,
        &mut journal,
        ui,
    ) {
        Ok(done) => done,
        Err(e) => return Err(put_back(e, Some(pending), None, &mut journal, ui)),
    };
    fault::point("before-commit");
    if let Err(e) = cancel::final_step(COMMITTING) {
        return Err(put_back(e, Some(pending), Some(applied), &mut journal, ui));
    }
    let applied = commit(pending, &target, &run, applied, &mut journal, ui)?;
    report.folders = finish(journal, swapped, applied, geoserver.report.reloaded, ui)?;
    report.geoserver = geoserver.report;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Why a restore past its commit can no longer be cancelled.
const COMMITTING: &str = "the restore is committing: the database and the folders swapped in become the GeoNode's; cancelling now would leave it half restored, so it ends as it is";

/// The target's facts, once it is reachable and migrated and any restore a
/// crash interrupted is settled.
fn ready_target(target: &GeoNode, settings: &Settings, ui: Ui) -> Result<TargetInfo, Error> {
    let info = target.info()?;
    check_target(&info)?;
    interrupted::settle(target, &info, settings, ui)?;
    Ok(info)
}

/// With `-l/--with-logs`, refuses an archive the target restored already.
fn refuse_if_restored(
    request: &RestoreRequest,
    info: &TargetInfo,
    archive: &Path,
    sha256: &str,
) -> Result<(), Error> {
    let done = info.restores.iter().find(|r| r.sha256 == sha256);
    match done.filter(|_| request.with_logs) {
        None => Ok(()),
        Some(done) => Err(Error::new(
            ErrorKind::Refused,
            format!(
                "{} was already restored into this target on {} (gnbr {})",
                archive.display(),
                done.restored_at,
                done.gnbr_version
            ),
        )
        .hint("drop -l/--with-logs to restore it again")),
    }
}

/// The context the plugins get: the request's values, the versions, the
/// target's folders and addresses, and with `--merge` the target's highest
/// pks as offsets.
fn plugin_context(
    request: &RestoreRequest,
    settings: &Settings,
    target: &GeoNode,
    info: &TargetInfo,
    source: Option<&KnownVersion>,
) -> Result<Context, Error> {
    let mut context = request.context(settings, &info.siteurl)?;
    context.source_version = source.and_then(KnownVersion::known);
    info.add_to_context(&mut context);
    if let Some(root) = &settings.geonode.source_media_root {
        context
            .options
            .insert("source_media_root".to_owned(), root.clone());
    }
    if request.merge {
        context.offsets = target.max_pks()?;
        context.basepk = context
            .offsets
            .get("base.resourcebase")
            .copied()
            .unwrap_or(0);
    }
    Ok(context)
}

/// The plugins that take the backup to the target's version, started, and
/// how they were chosen (said on `ui`).
fn choose_plugins(
    request: &RestoreRequest,
    settings: &Settings,
    context: &Context,
    source: Option<KnownVersion>,
    info: &TargetInfo,
    ui: Ui,
) -> Result<(ManglerRun, Plan), Error> {
    let registry = request.setup.discover_plugins(Some(settings), ui);
    let target_version = target_known(&info.geonode_version, "read from the target GeoNode")?;
    let (manglers, plan) = choose(
        settings,
        &registry,
        context,
        source,
        Some(target_version),
        request.force_manglers,
    )?;
    for line in plan.lines() {
        ui.info(&line);
    }
    Ok((manglers, plan))
}

/// The fixtures staged for the load.
struct StagedFixtures {
    /// One row per fixture.
    reports: Vec<FixtureReport>,
    /// Their staged files, in load order.
    files: Vec<PathBuf>,
    /// The key they are sealed with: the archive's is encrypted.
    key: Option<Arc<ScratchKey>>,
    /// What the plugins reported, and the fixtures left out.
    notes: Vec<String>,
}

/// Sends every fixture through its plugins into `staging` (sealed with a
/// key of the run's when the archive is encrypted: no plaintext of it on
/// disk), and reads every other entry to its end: a damaged file in
/// `uploaded/` or a datastore table's dump is found before anything is
/// changed (and in a dry run), not half way through the run.
fn stage_fixtures(
    settings: &Settings,
    input: &mut BackupReader,
    mut manglers: ManglerRun,
    skipped: &[String],
    staging: &Path,
    ui: Ui,
) -> Result<StagedFixtures, Error> {
    ui.info(&format!("staging the fixtures in {}", staging.display()));
    let total: u64 = input.entries().iter().map(|e| e.size).sum();
    let mut progress = ui.progress("staging the fixtures", Unit::Bytes, Some(total));
    let key = is_encrypted(input.path()).then(|| Arc::new(ScratchKey::generate()));
    let mut writer = BackupWriter::create_scratch(&staging.join("fixtures"), key.clone())?;
    let pass = mangle_fixtures(
        settings,
        input,
        Some(&mut writer),
        &mut manglers,
        &mut progress,
    )?;
    let (mut done, mut in_entry) = (pass.bytes, 0);
    input.verify_entries(&pass.handled, &mut |name, n| {
        if n == 0 {
            done += in_entry;
            in_entry = 0;
            progress.step(name, done);
        } else {
            in_entry += n;
            progress.advance(in_entry);
        }
    })?;
    progress.finish();
    let mut notes = pass.notes;
    notes.extend(skipped.iter().map(|entry| {
        format!("{entry} not restored (--only-listed-fixtures: [fixtures] apps does not list it)")
    }));
    notes.extend(manglers.finish()?);
    let dir = writer.finish()?;
    Ok(StagedFixtures {
        files: pass.fixtures.iter().map(|f| dir.join(&f.entry)).collect(),
        reports: pass.fixtures,
        key,
        notes,
    })
}

/// What the restore replaces, for the confirmation.
fn replaced(folders: &[FolderPlan], geoserver: &GeoServerRestore) -> Vec<String> {
    folders
        .iter()
        .map(FolderPlan::describe)
        .chain(geoserver.replaces())
        .collect()
}

/// The snapshot of the database taken first (`pg_dump -Fc`), unless
/// `--no-snapshot`.
fn take_snapshot(
    request: &RestoreRequest,
    settings: &Settings,
    info: &TargetInfo,
    stamp: &str,
    ui: Ui,
) -> Result<Option<PathBuf>, Error> {
    if request.no_snapshot {
        return Ok(None);
    }
    let name = format!("{}-{stamp}.dump", info.database.name);
    let path = settings.restore.snapshot_dir.join(name);
    ui.info(&format!(
        "snapshot of {} -> {}",
        info.database,
        path.display()
    ));
    postgres::snapshot(
        &settings.database.pg_dump,
        &info.database,
        &path,
        settings.restore.lock_timeout,
    )
    .map(Some)
}

/// Extracts each folder of the backup beside the target folder it replaces
/// (journaled in `journal`); returns each with its backup folder.
fn stage_folders(
    input: &mut BackupReader,
    folders: &[FolderPlan],
    journal: &mut Journal,
    ui: Ui,
) -> Result<Vec<(StagedFolder, String)>, Error> {
    let mut staged = Vec::new();
    for plan in folders {
        let stage = format!("copying {} files", plan.prefix.trim_end_matches('/'));
        let Some(folder) = stage_folder(
            input,
            &plan.prefix,
            &plan.skip,
            &plan.folder,
            journal,
            &mut copy_progress(ui, &stage),
        )?
        else {
            continue;
        };
        ui.info(&format!(
            "staged {} for {}: {} files, {} links, {} bytes",
            plan.prefix,
            plan.describe(),
            folder.files,
            folder.links,
            folder.bytes
        ));
        staged.push((folder, plan.prefix.clone()));
    }
    Ok(staged)
}

/// The run's journal, beside the first folder swapped, else in GeoServer's
/// data directory, else in `[restore] snapshot_dir` (the datastore's tables
/// and GeoServer's catalog are journaled too): where the next run looks.
fn begin_journal(
    request: &RestoreRequest,
    info: &TargetInfo,
    run: &str,
    folders: &[FolderPlan],
    geoserver: &GeoServerRestore,
    snapshot_dir: &Path,
) -> Result<Journal, Error> {
    let home = folders
        .first()
        .map(|f| f.folder.real.clone())
        .or_else(|| geoserver.report.datadir.clone())
        .unwrap_or_else(|| snapshot_dir.to_owned());
    Journal::begin(&home, run, &info.database.to_string(), !request.no_snapshot)
}

/// The row the load adds to the target's restore log: the run's id, which
/// decides an interrupted run, and what was restored.
fn restore_record(
    archive: &Path,
    sha256: String,
    source_version: Option<String>,
    info: &TargetInfo,
    run: &str,
) -> RestoreRecord {
    RestoreRecord {
        archive: archive
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        sha256,
        restored_at: String::new(),
        gnbr_version: env!("CARGO_PKG_VERSION").to_owned(),
        source_version,
        target_version: Some(info.geonode_version.clone()),
        run_id: Some(run.to_owned()),
    }
}

/// What the load is given: each staged fixture with its archive entry, the
/// objects it must find, and how it empties the tables.
fn load_request(
    request: &RestoreRequest,
    settings: &Settings,
    archive: &Path,
    report: &RestoreReport,
    staged: &StagedFixtures,
    record: RestoreRecord,
) -> LoadRequest {
    LoadRequest {
        archive: archive.display().to_string(),
        fixtures: report
            .fixtures
            .iter()
            .zip(&staged.files)
            .map(|(fixture, path)| LoadFixture {
                path: path.clone(),
                entry: fixture.entry.clone(),
                objects: fixture.stats.objects_out,
            })
            .collect(),
        expected: report.objects.clone(),
        merge: request.merge,
        batched: settings.restore.batched_load,
        lock_timeout_ms: u64::try_from(settings.restore.lock_timeout.as_millis())
            .unwrap_or(u64::MAX),
        only: request.only_listed_fixtures.then(|| {
            settings
                .fixtures
                .fixtures
                .iter()
                .map(|f| f.app.clone())
                .collect()
        }),
        record,
        sealed: staged.key.clone(),
    }
}

/// Loads the staged fixtures in one transaction, left open for the commit.
fn load_fixtures(
    target: &GeoNode,
    load: &LoadRequest,
    info: &TargetInfo,
    ui: Ui,
) -> Result<PendingLoad, Error> {
    ui.info(&format!(
        "loading {} objects into {} in one transaction",
        load.expected.values().sum::<u64>(),
        info.database
    ));
    target.load(load, &mut shown_load(ui, "database"))
}

/// Swaps the staged folders in and puts GeoServer's side in place, while
/// the database transaction is open; returns each folder's report with
/// the folder it went into, and GeoServer's side to commit or undo.
fn swap_in(
    staged: &[(StagedFolder, String)],
    geoserver: &mut GeoServerRestore,
    input: &mut BackupReader,
    settings: &Settings,
    journal: &mut Journal,
    ui: Ui,
) -> Result<(Vec<(FolderReport, PathBuf)>, AppliedGeoServer), Error> {
    let mut swapped = Vec::new();
    for (folder, prefix) in staged {
        cancel::check()?;
        folder.swap_in(journal)?;
        let report = FolderReport {
            from: prefix.clone(),
            to: folder.dest().to_owned(),
            files: folder.files,
            bytes: folder.bytes,
            previous: None,
        };
        swapped.push((report, folder.folder().real.clone()));
    }
    cancel::checkpoint("swapped")?;
    let applied = geoserver.apply(input, settings, journal, ui)?;
    Ok((swapped, applied))
}

/// Puts the target back as it was after `error`, which a cancel does not
/// cut short: the database transaction rolled back when it is still open,
/// GeoServer's side undone when it was put in place, every folder swapped
/// back by the journal; says each on `ui`. Returns `error`, or what the
/// undo must tell, caused by it.
fn put_back(
    error: Error,
    pending: Option<PendingLoad>,
    geoserver: Option<AppliedGeoServer>,
    journal: &mut Journal,
    ui: Ui,
) -> Error {
    cancel::shielded(|| {
        if let Some(pending) = pending {
            pending.rollback();
            ui.info("undone: the database transaction was rolled back");
        }
        let failed = error.clone();
        let error = match geoserver {
            Some(applied) => applied.undo(journal, ui, error),
            None => match journal.abort() {
                Ok(()) => error,
                Err(undo) => Error {
                    kind: error.kind,
                    ..undo.caused_by(error)
                },
            },
        };
        if error == failed {
            ui.info("undone: what the restore had put in place (folders, datastore tables, GeoServer's side) is back as it was, from its journal");
        }
        error
    })
}

/// Commits the database transaction, and with it the restore. The commit's
/// answer can be lost after the COMMIT: the run's restore record then
/// decides; when it cannot be read, the folders stay swapped with their
/// journal for the next gnbr command to settle.
fn commit(
    pending: PendingLoad,
    target: &GeoNode,
    run: &str,
    applied: AppliedGeoServer,
    journal: &mut Journal,
    ui: Ui,
) -> Result<AppliedGeoServer, Error> {
    let Err(e) = pending.commit() else {
        return Ok(applied);
    };
    match target.run_committed(run) {
        Ok(true) => {
            ui.warn(&format!(
                "{}; but the database holds this run's restore record: it committed",
                e.message
            ));
            Ok(applied)
        }
        Ok(false) => Err(put_back(e, None, Some(applied), journal, ui)),
        Err(unknown) => Err(Error {
            kind: e.kind,
            ..unknown
                .context("whether the database committed cannot be read: the folders are left swapped, with their journal")
                .hint("the next gnbr command on this target (e.g. gnbr check) finishes or undoes the swap, as the database says")
                .caused_by(e)
        }),
    }
}

/// Ends a committed restore: the journal committed and finished (the
/// replaced content kept or removed), GeoServer's previous tables dropped;
/// returns the folders replaced, each with where its previous content was
/// kept.
fn finish(
    mut journal: Journal,
    swapped: Vec<(FolderReport, PathBuf)>,
    applied: AppliedGeoServer,
    reloaded: bool,
    ui: Ui,
) -> Result<Vec<FolderReport>, Error> {
    if let Err(e) = journal.commit() {
        ui.warn(&format!(
            "{}: the database's restore record stands for it",
            e.message
        ));
    }
    let Finished { kept, warnings } = journal.finish().map_err(|e| {
        e.context("the restore committed, but finishing the swap of its folders failed")
    })?;
    for warning in &warnings {
        ui.warn(warning);
    }
    let kept_in = |dir: &Path| kept.iter().find(|k| k.parent() == Some(dir)).cloned();
    let mut folders = Vec::new();
    for (mut report, real) in swapped {
        report.previous = kept_in(&real);
        folders.push(report);
    }
    if let Some(mut report) = applied.finish() {
        report.previous = kept_in(&report.to);
        folders.push(report);
        if !reloaded {
            ui.info(
                "GeoServer's data directory replaced: reload GeoServer (or restart it) to serve it",
            );
        }
    }
    Ok(folders)
}

/// A new run's id: its time and 32 random bits (`2026-11-27T134037Z-1a2b3c4d`).
fn run_id(stamp: &str) -> Result<String, Error> {
    let mut random = [0u8; 4];
    getrandom::getrandom(&mut random).map_err(|e| {
        Error::new(
            ErrorKind::Run,
            format!("no random numbers for the run's id: {e}"),
        )
    })?;
    Ok(format!("{stamp}-{}", hex(&random)))
}

/// The archive named, or the newest `.zip` or `.zip.age` in the folder (or
/// bucket prefix) named.
fn archive_path(backup: &BackupLocation, settings: &Settings) -> Result<PathBuf, Error> {
    let dir = match backup {
        BackupLocation::File(file) => return Ok(file.clone()),
        BackupLocation::NewestIn(dir) => dir,
    };
    let newest = BackupDir::open(dir, || Ok(settings.storage.clone()))?.newest()?;
    newest.ok_or_else(|| {
        Error::new(
            ErrorKind::Usage,
            format!("no .zip or .zip.age archive in {}", dir.display()),
        )
        .hint("pass --backup-file, or the folder that holds the backups")
    })
}

/// Refuses a backup whose fixtures differ from settings.ini's `apps`, since
/// a restore empties every table first: an `apps` entry without its
/// fixture, or (unless `only_listed`) a fixture that `apps` does not list,
/// would leave tables empty. Returns the fixtures `only_listed` skips.
fn check_fixtures(
    settings: &Settings,
    input: &BackupReader,
    only_listed: bool,
) -> Result<Vec<String>, Error> {
    let coverage = fixture_coverage(settings, input);
    let archive = input.path().display();
    let own_list =
        "the backup's own list is in its manifest.json (gnbr) or in the .ini beside it (GeoNode)";
    if !coverage.missing.is_empty() {
        let missing: Vec<String> = coverage
            .missing
            .iter()
            .map(|(app, dump)| format!("`{app}` (fixtures/{dump}.json)"))
            .collect();
        return Err(Error::new(
            ErrorKind::Usage,
            format!(
                "{archive} has no fixture for {} of {} [fixtures] apps: {}; nothing was touched",
                if missing.len() == 1 { "this entry" } else { "these entries" },
                settings.path.display(),
                missing.join(", ")
            ),
        )
        .hint(format!(
            "restore with the settings the backup was made with ({own_list}); or take the entries out of apps and dumps and pass --only-listed-fixtures, which keeps their tables as they are"
        )));
    }
    if coverage.unlisted.is_empty() || only_listed {
        return Ok(coverage.unlisted);
    }
    Err(Error::new(
        ErrorKind::Usage,
        format!(
            "{archive} holds {} that {} [fixtures] apps does not list: {}; a restore empties every table, so theirs would be left empty; nothing was touched",
            if coverage.unlisted.len() == 1 { "a fixture" } else { "fixtures" },
            settings.path.display(),
            coverage.unlisted.join(", ")
        ),
    )
    .hint(format!(
        "add them to [fixtures] apps and dumps ({own_list}); or pass --only-listed-fixtures to restore only the listed fixtures and empty only their tables"
    )))
}

fn check_target(info: &TargetInfo) -> Result<(), Error> {
    info.ensure_reachable()?;
    if let Some(first) = info.unapplied_migrations.first() {
        return Err(Error::new(
            ErrorKind::Target,
            format!(
                "the target's {} is not migrated: {} migrations not applied (first {first})",
                info.database,
                info.unapplied_migrations.len()
            ),
        )
        .hint("run GeoNode's `manage.py migrate` on the target first"));
    }
    Ok(())
}

/// Asks the admin, naming exactly what will be replaced; refuses without a terminal.
fn confirm(
    args: &RestoreRequest,
    info: &TargetInfo,
    replaced: &[String],
    archive: &Path,
) -> Result<(), Error> {
    if args.force {
        return Ok(());
    }
    let what = if args.merge {
        "add to"
    } else {
        "replace everything in"
    };
    let mut question = format!(
        "This will {what} the GeoNode {} {} ({} tables)",
        info.geonode_version, info.database, info.tables
    );
    for folder in replaced {
        question.push_str(&format!(", and replace {folder}"));
    }
    question.push_str(&format!(" with {}.", archive.display()));
    if !io::stdin().is_terminal() {
        return Err(Error::new(
            ErrorKind::Refused,
            format!("{question} No terminal to confirm on."),
        )
        .hint("pass -f/--force to restore without a confirmation"));
    }
    eprint!("{question}\nType `yes` to continue: ");
    let _ = io::stderr().flush();
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::new(ErrorKind::Refused, e.to_string()))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Refused,
            "restore cancelled; nothing was changed",
        ))
    }
}

/// Prints the report.
pub fn print_report(report: &RestoreReport, ui: Ui) {
    if !ui.report(report) {
        return;
    }
    let objects: u64 = report.objects.values().sum();
    let plugins = if report.plugins.is_empty() {
        "none".to_owned()
    } else {
        report.plugins.join(", ")
    };
    println!(
        "archive   {} (sha256 {})",
        report.archive.display(),
        report.sha256
    );
    println!(
        "versions  GeoNode {} -> {}",
        report.source_version.as_deref().unwrap_or("unknown"),
        report.target_version
    );
    println!("plugins   {plugins}");
    println!("target    {}", report.database);
    println!(
        "objects   {objects} in {} fixtures, {} models",
        report.fixtures.len(),
        report.objects.len()
    );
    for note in &report.notes {
        println!("note: {note}");
    }
    let verb = if report.dry_run { "moves" } else { "moved" };
    for moved in &report.relocation.moves {
        println!("relocate  {} {} -> {}", moved.what, moved.from, moved.to);
    }
    for (field, objects) in &report.relocation.fields {
        println!("relocate  {field}: {objects} objects {verb}");
    }
    if report.dry_run {
        for line in report.plan.lines() {
            println!("{line}");
        }
        let geoserver = &report.geoserver;
        if let Some(server) = &geoserver.server {
            println!("geoserver {server}");
        }
        for table in &geoserver.tables_planned {
            println!("table     {table}: to restore");
        }
        for table in &geoserver.tables_kept {
            println!("table     {table}: kept (--soft-reset)");
        }
        if geoserver.catalog_planned {
            println!("catalog   to restore by GeoServer's Backup & Restore module");
        }
        println!("dry run: everything checked, nothing changed");
        return;
    }
    if let Some(snapshot) = &report.snapshot {
        println!(
            "snapshot  {} (pg_restore it to go back)",
            snapshot.display()
        );
    }
    for f in &report.folders {
        println!(
            "folder    {} -> {}: {} files, {} bytes",
            f.from,
            f.to.display(),
            f.files,
            f.bytes
        );
        if let Some(previous) = &f.previous {
            println!("          previous content kept in {}", previous.display());
        }
    }
    let geoserver = &report.geoserver;
    if let Some(server) = &geoserver.server {
        println!("geoserver {server}");
    }
    for (table, rows) in &geoserver.tables {
        println!("table     {table}: {rows} rows");
    }
    for table in &geoserver.tables_kept {
        println!("table     {table}: kept (--soft-reset)");
    }
    for change in &geoserver.rewrite.changes {
        println!(
            "rewrote   {} {} {}: {} -> {}",
            change.file, change.object, change.field, change.old, change.new
        );
    }
    if geoserver.catalog_restored {
        println!("catalog   restored by GeoServer's Backup & Restore module");
    }
    if geoserver.reloaded {
        println!("geoserver reloaded");
    }
    println!("restored in {:.1} s", report.seconds);
}
