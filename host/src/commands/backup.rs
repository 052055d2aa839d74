//! `gnbr backup`: a running GeoNode into one zip archive, streamed: Django's
//! `dumpdata` of every `[fixtures] apps` entry flows through a FIFO straight
//! into the archive, checked and counted on the way, never held in memory.

use std::{
    collections::BTreeMap,
    fs,
    os::unix::fs::DirBuilderExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use serde::Serialize;

use crate::{
    archive::{
        add_folder, sidecar, write_error, write_in_background, BackupWriter, DatastoreSource,
        Encryption, GeoServerSource, SiteSource, TableRecord,
    },
    cancel,
    config::Settings,
    errors::{Error, ErrorKind},
    fifo,
    fixtures::{self, FixtureStats},
    geonode::{Dumper, GeoNode, TargetInfo},
    geoserver::{
        datadir::{self, DataDir, Selection},
        datastore,
        server::{GeoServer, CATALOG_ENTRY},
    },
    postgres::Database,
    requests::BackupRequest,
    storage::{Bucket, BucketUrl},
    swap::{interrupted, real_path},
    time::run_epoch,
    ui::{Progress, Ui, Unit},
};

/// What a backup wrote.
#[derive(Debug, Serialize)]
pub struct BackupReport {
    /// The archive.
    pub archive: PathBuf,
    /// GeoNode's md5 sidecar.
    pub md5_file: PathBuf,
    /// The settings used, beside the archive.
    pub ini_file: PathBuf,
    /// The GeoNode version backed up.
    pub geonode_version: String,
    /// Objects per fixture entry.
    pub fixtures: Vec<(String, u64)>,
    /// Files of MEDIA_ROOT and ASSETS_ROOT.
    pub files: u64,
    /// What of GeoServer's data directory was written and left out.
    pub geoserver: Option<datadir::BackupReport>,
    /// The datastore's tables (`schema.table`) and their rows.
    pub datastore_tables: Vec<(String, u64)>,
    /// The size of GeoServer's Backup & Restore archive, when GeoServer was asked for one.
    pub geoserver_catalog: Option<u64>,
    /// The archive's size.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
}

/// Runs `gnbr backup`.
///
/// # Errors
///
/// Settings, an unreachable target, a failing dumpdata or write; no partial
/// archive is left.
pub fn run(request: &BackupRequest, ui: Ui) -> Result<BackupReport, Error> {
    let started = Instant::now();
    let settings = request.setup.load_settings_warned(ui)?;
    let encryption = request
        .encrypt
        .as_ref()
        .map(|to| Encryption::for_backup(&to.recipients, to.recipients_file.as_deref()))
        .transpose()?;
    let stamp = archive_stamp(run_epoch()?);
    // A bucket is checked, and its upload started, before the GeoNode is asked anything.
    let uploading = match BucketUrl::parse(&request.backup_dir) {
        Some(url) => Some(start_upload(
            &url?,
            &settings,
            &stamp,
            encryption.as_ref(),
            ui,
        )?),
        None => None,
    };
    let target = GeoNode::new(&settings.geonode)?;
    // One Django start: the helper that describes the target dumps it later.
    let mut dumper = target.start_dump()?;
    let info = dumper.info().clone();
    info.ensure_reachable()?;
    interrupted::settle(&target, &info, &settings, ui)?;
    cancel::checkpoint("target-ready")?;
    let datastore = datastore_to_dump(request, &settings, &info)?;
    let geoserver = reach_geoserver(request, &settings, &target, ui)?;
    let (bucket, mut writer) = match uploading {
        Some((bucket, writer)) => (Some(bucket), writer),
        None => {
            let archive = create_archive(&request.backup_dir, &stamp, encryption.is_some())?;
            let writer = BackupWriter::create_numbered(&archive, encryption.as_ref())?;
            (None, writer)
        }
    };
    let archive = writer.path().to_owned();

    let scratch = crate::scratch::temp_dir("gnbr-dump-")?;
    let fixtures = dump_fixtures(&settings, &mut dumper, &mut writer, scratch.path(), ui)?;
    drop(dumper);
    cancel::checkpoint("fixtures-dumped")?;
    let files = add_media(&info, &mut writer, ui)?;
    let data_dir = match request.geoserver_data_dir(&settings) {
        Some(dir) => add_data_dir(&dir, &request.selection(&settings), &mut writer, ui)?,
        None => None,
    };
    let tables = match datastore {
        Some(store) => datastore::backup_tables(&settings, store, &mut writer, ui)?,
        None => BTreeMap::new(),
    };
    cancel::checkpoint("before-catalog")?;
    let catalog = match &geoserver {
        Some(server) => Some(add_catalog(
            server,
            request.ignore_errors,
            &stamp,
            &mut writer,
            ui,
        )?),
        None => None,
    };
    let mut report = BackupReport {
        archive: archive.clone(),
        md5_file: sidecar(&archive, "md5"),
        ini_file: sidecar(&archive, "ini"),
        geonode_version: info.geonode_version.clone(),
        fixtures,
        files,
        geoserver: data_dir,
        datastore_tables: tables
            .values()
            .map(|t| (format!("{}.{}", t.schema, t.table), t.rows))
            .collect(),
        geoserver_catalog: catalog,
        bytes: 0,
        seconds: 0.0,
    };
    fill_manifest(
        &mut writer,
        request,
        &settings,
        &info,
        &stamp,
        &report,
        tables,
    );
    cancel::final_step(
        "the backup is finishing its archive (its checksum, then its name); it ends in a moment",
    )?;
    let written = writer.finish_with_geonode_sidecars(settings.geonode_ini())?;
    if written != archive {
        ui.info(&format!(
            "{} was taken: the archive is {}",
            archive.display(),
            written.display()
        ));
    }
    report.md5_file = sidecar(&written, "md5");
    report.ini_file = sidecar(&written, "ini");
    report.bytes = match &bucket {
        Some((bucket, url)) => url
            .key_of(&written)
            .and_then(|key| bucket.size(&key).ok())
            .unwrap_or(0),
        None => fs::metadata(&written).map(|m| m.len()).unwrap_or(0),
    };
    report.archive = written;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Starts the backup's upload into the bucket prefix `url`, as
/// `<stamp>.zip` (`.zip.age` with `encryption`), `<stamp>_2.zip`... when
/// taken: the bucket is listed and the upload started before anything else
/// is done, so that credentials it refuses or a bucket that is missing stop
/// the backup before it begins.
///
/// # Errors
///
/// An [`ErrorKind::Usage`] error naming the bucket and the fix.
fn start_upload(
    url: &BucketUrl,
    settings: &Settings,
    stamp: &str,
    encryption: Option<&Encryption>,
    ui: Ui,
) -> Result<((Arc<Bucket>, BucketUrl), BackupWriter), Error> {
    let bucket = Bucket::connect(&url.bucket, &settings.storage)?;
    let name = archive_name(stamp, encryption.is_some());
    let writer = BackupWriter::create_in_bucket(&bucket, url, &name, encryption)?;
    let wanted = url.url_of(&url.child(&name));
    if writer.path() != wanted {
        ui.info(&format!(
            "{} is taken: the archive is {}",
            wanted.display(),
            writer.path().display()
        ));
    }
    Ok(((bucket, url.clone()), writer))
}

/// The datastore whose tables go in, when GeoServer's vector data does;
/// it must not be Django's own database.
fn datastore_to_dump<'a>(
    request: &BackupRequest,
    settings: &Settings,
    info: &'a TargetInfo,
) -> Result<Option<&'a Database>, Error> {
    let wanted = !request.skip_geoserver && request.selection(settings).vector_data;
    let datastore = info.datastore.as_ref().filter(|_| wanted);
    if let Some(store) = datastore {
        datastore::check_separate(store, &info.database)?;
    }
    Ok(datastore)
}

/// The GeoServer to back the catalog up with, when settings.ini names one
/// and GeoServer is not skipped; checked to answer.
fn reach_geoserver(
    request: &BackupRequest,
    settings: &Settings,
    target: &GeoNode,
    ui: Ui,
) -> Result<Option<GeoServer>, Error> {
    if request.skip_geoserver {
        return Ok(None);
    }
    let geoserver = GeoServer::connect(&settings.geoserver, &|key| {
        target.env_file_var(key).map(str::to_owned)
    })?;
    if let Some(geoserver) = &geoserver {
        geoserver.check_backup()?;
        ui.info(&format!(
            "GeoServer {} answers at {}",
            geoserver.version(),
            geoserver.url()
        ));
    }
    Ok(geoserver)
}

/// The archive's path in `backup_dir` (created 0700 if missing), named by
/// the run's time: `<stamp>.zip`, `<stamp>.zip.age` when `encrypted`.
fn create_archive(backup_dir: &Path, stamp: &str, encrypted: bool) -> Result<PathBuf, Error> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(backup_dir)
        .map_err(|e| {
            Error::new(
                ErrorKind::Usage,
                format!("cannot create {}: {e}", backup_dir.display()),
            )
        })?;
    Ok(backup_dir.join(archive_name(stamp, encrypted)))
}

/// The archive's name: `<stamp>.zip`, `<stamp>.zip.age` when `encrypted`.
fn archive_name(stamp: &str, encrypted: bool) -> String {
    if encrypted {
        format!("{stamp}.zip.age")
    } else {
        format!("{stamp}.zip")
    }
}

/// Django's `dumpdata` of every `apps` entry, streamed through a FIFO in
/// `scratch` into its `fixtures/<dump>.json` entry, checked on the way;
/// returns each entry with its objects. Shows the bytes dumped as progress
/// from the first dump on.
fn dump_fixtures(
    settings: &Settings,
    dumper: &mut Dumper<'_>,
    writer: &mut BackupWriter,
    scratch: &Path,
    ui: Ui,
) -> Result<Vec<(String, u64)>, Error> {
    let mut dumps = Vec::new();
    for fixture in &settings.fixtures.fixtures {
        let fifo = scratch.join(format!("{}.fifo", fixture.position));
        fifo::make(&fifo)?;
        dumps.push((fixture.app.clone(), fifo));
    }
    let mut written = Vec::new();
    let mut progress: Option<Progress> = None;
    let mut dumped = 0;
    dumper.dump(&dumps, &mut |app, fifo, writer_exited| {
        let fixture = settings
            .fixtures
            .fixtures
            .iter()
            .find(|f| f.app == app)
            .expect("gnbr asked for this app");
        let entry = format!("fixtures/{}.json", fixture.dump);
        cancel::check()?;
        let progress = progress.get_or_insert_with(|| ui.progress("dumping", Unit::Bytes, None));
        progress.info(&format!("dumping {app} -> {entry}"));
        progress.detail(app);
        let stats = add_dump(writer, app, fifo, writer_exited, &entry, &mut |n| {
            progress.update(dumped + n);
        })?;
        dumped += stats.bytes_in;
        written.push((entry, stats.objects_out));
        cancel::checkpoint("fixture-dumped")
    })?;
    Ok(written)
}

/// Reads one app's dump from `fifo` (written by a process for which
/// `writer_exited` tells whether it is gone) into `entry`, checking that it
/// is a valid fixture; `progress` gets the bytes read so far. Returns its
/// counts.
fn add_dump(
    writer: &mut BackupWriter,
    app: &str,
    fifo: &Path,
    writer_exited: &dyn Fn() -> bool,
    entry: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<FixtureStats, Error> {
    let source = fifo::open_for_reading(fifo, writer_exited).map_err(|e| {
        let message = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            format!("GeoNode's dump helper exited before it wrote the dump of {app}")
        } else {
            format!("cannot read the dump of {app}: {e}")
        };
        cancel::or_cancelled(Error::new(ErrorKind::Run, message))
    })?;
    let sink = writer.entry(entry)?;
    let no_chain = mangler_api::client::Chain::default();
    let (result, sink) = write_in_background(sink, |out| {
        fixtures::mangle(source, out, &no_chain, &mut [], &mut Vec::new(), progress)
            .map(|(stats, _)| stats)
    });
    let stats = result.map_err(|e| {
        cancel::or_cancelled(
            Error::new(
                ErrorKind::Target,
                format!("the dump of `{app}` is not a valid fixture: {e}"),
            )
            .hint("GeoNode's dumpdata stopped part way; GNBR_LOG=debug shows Django's output"),
        )
    })?;
    sink.and_then(|s| s.close())
        .map_err(|e| write_error(entry, &e))?;
    Ok(stats)
}

/// `MEDIA_ROOT` as `uploaded/` and `ASSETS_ROOT` as `assets/`, a folder
/// nested in the other backed up as its own; returns the files added.
fn add_media(info: &TargetInfo, writer: &mut BackupWriter, ui: Ui) -> Result<u64, Error> {
    let roots: Vec<PathBuf> = [&info.media_root, &info.assets_root]
        .into_iter()
        .filter(|r| !r.is_empty())
        .map(|r| real_path(Path::new(r)))
        .collect();
    let mut files = 0;
    for (prefix, root, name) in [
        ("uploaded", &info.media_root, "MEDIA_ROOT"),
        ("assets", &info.assets_root, "ASSETS_ROOT"),
    ] {
        if root.is_empty() {
            continue;
        }
        if !Path::new(root).is_dir() {
            ui.warn(&format!(
                "{root}, the GeoNode's {name} folder, is not there: the archive has no {prefix}/"
            ));
            continue;
        }
        ui.info(&format!("adding {root} as {prefix}/"));
        let nested: Vec<PathBuf> = roots
            .iter()
            .filter(|r| **r != real_path(Path::new(root)))
            .cloned()
            .collect();
        let mut progress = ui.progress(&format!("copying {prefix} files"), Unit::Bytes, None);
        files += add_folder(writer, Path::new(root), prefix, &nested, &mut |bytes| {
            progress.update(bytes);
        })?;
    }
    Ok(files)
}

/// What of GeoServer's data directory `dir` the selection takes; none,
/// with a warning, when it is not there.
fn add_data_dir(
    dir: &Path,
    selection: &Selection,
    writer: &mut BackupWriter,
    ui: Ui,
) -> Result<Option<datadir::BackupReport>, Error> {
    if !dir.is_dir() {
        ui.warn(&format!(
            "GeoServer's data directory {} is not there: the archive has no GeoServer part (set [geoserver] datadir, or pass --skip-geoserver)",
            dir.display()
        ));
        return Ok(None);
    }
    ui.info(&format!(
        "adding GeoServer's data directory {} as {}",
        dir.display(),
        datadir::ARCHIVE_PREFIX
    ));
    let scanned = DataDir::scan(dir)?;
    let mut progress = ui.progress("GeoServer data directory", Unit::Bytes, None);
    let done = datadir::backup(&scanned, selection, writer, &mut |bytes| {
        progress.update(bytes);
    })?;
    drop(progress);
    for warning in &done.warnings {
        ui.warn(warning);
    }
    Ok(Some(done))
}

/// GeoServer's catalog, backed up by its Backup & Restore module and
/// downloaded straight into its entry; returns its size.
fn add_catalog(
    geoserver: &GeoServer,
    ignore_errors: bool,
    stamp: &str,
    writer: &mut BackupWriter,
    ui: Ui,
) -> Result<u64, Error> {
    cancel::check()?;
    ui.info(&format!(
        "backing up GeoServer's catalog with its Backup & Restore module -> {CATALOG_ENTRY}"
    ));
    // Straight into the archive: an encrypted backup's catalog is never on disk in the clear.
    let mut entry = writer.entry(CATALOG_ENTRY)?;
    let bytes = geoserver.backup_catalog(
        &format!("gnbr-backup-{stamp}.zip"),
        ignore_errors,
        &mut entry,
        CATALOG_ENTRY,
        &mut |job| ui.info(&format!("GeoServer: {job}")),
    )?;
    entry.close().map_err(|e| write_error(CATALOG_ENTRY, &e))?;
    Ok(bytes)
}

/// gnbr's manifest: what the archive holds and where it came from.
fn fill_manifest(
    writer: &mut BackupWriter,
    request: &BackupRequest,
    settings: &Settings,
    info: &TargetInfo,
    stamp: &str,
    report: &BackupReport,
    tables: BTreeMap<String, TableRecord>,
) {
    let manifest = writer.manifest_mut();
    manifest.format = 1;
    manifest.gnbr_version = env!("CARGO_PKG_VERSION").to_owned();
    manifest.created = stamp.to_owned();
    manifest.geonode_version = Some(info.geonode_version.clone());
    manifest.settings = Some(settings.text.clone());
    manifest.fixtures = report.fixtures.iter().cloned().collect();
    manifest.datastore_tables = tables;
    manifest.site = Some(SiteSource {
        siteurl: Some(info.siteurl.clone()),
        media_root: Some(info.media_root.clone()),
        assets_root: Some(info.assets_root.clone()),
    });
    if !request.skip_geoserver {
        manifest.geoserver = Some(GeoServerSource {
            datadir: report
                .geoserver
                .as_ref()
                .map(|g| g.datadir.display().to_string()),
            datastore: info.datastore.as_ref().map(|d| DatastoreSource {
                host: d.host.clone(),
                port: d.port.clone(),
                database: d.name.clone(),
                user: d.user.clone(),
            }),
            public_url: info.geoserver_public_url.clone(),
        });
    }
}

/// GeoNode's archive name for a moment: `YYYY-MM-DD_HHMMSS` (UTC here).
fn archive_stamp(epoch: i64) -> String {
    let time = crate::time::format_utc(epoch);
    format!("{}_{}", &time[..10], time[11..].replace(':', ""))
}

/// Prints the report.
pub fn print_report(report: &BackupReport, ui: Ui) {
    if !ui.report(report) {
        return;
    }
    let objects: u64 = report.fixtures.iter().map(|(_, n)| n).sum();
    println!(
        "GeoNode {}: {objects} objects in {} fixtures, {} files",
        report.geonode_version,
        report.fixtures.len(),
        report.files
    );
    println!(
        "wrote {} ({:.1} MB in {:.1} s)",
        report.archive.display(),
        report.bytes as f64 / 1e6,
        report.seconds
    );
    println!("      {}", report.md5_file.display());
    println!("      {}", report.ini_file.display());
    if let Some(geoserver) = &report.geoserver {
        let written: u64 = geoserver.written.values().map(|t| t.files).sum();
        let skipped: u64 = geoserver.skipped.values().map(|t| t.files).sum();
        println!(
            "GeoServer data directory {}: {written} files, {} outside it, {skipped} left out (logs, caches, excluded)",
            geoserver.datadir.display(),
            geoserver.externals.files
        );
    }
    if !report.datastore_tables.is_empty() {
        let rows: u64 = report.datastore_tables.iter().map(|(_, n)| n).sum();
        println!(
            "datastore: {} tables, {rows} rows",
            report.datastore_tables.len()
        );
    }
    if let Some(bytes) = report.geoserver_catalog {
        println!("GeoServer catalog (Backup & Restore): {CATALOG_ENTRY}, {bytes} bytes");
    }
}
