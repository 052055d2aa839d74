//! `gnbr backup`: a running GeoNode into one zip archive, streamed: Django's
//! `dumpdata` of every `[fixtures] apps` entry flows through a FIFO straight
//! into the archive, checked and counted on the way, never held in memory.

use std::{
    ffi::CString,
    fs::{self, File},
    io,
    os::unix::{ffi::OsStrExt, fs::DirBuilderExt},
    path::{Path, PathBuf},
    time::Instant,
};

use serde::Serialize;

use crate::{
    archive::{
        add_folder, file_sums, write_error, write_in_background, BackupWriter, DatastoreSource,
        GeoServerSource, SiteSource,
    },
    errors::{Error, ErrorKind},
    fixtures,
    geonode::GeoNode,
    geoserver::{
        datadir::{self, DataDir},
        datastore,
        server::{GeoServer, CATALOG_ENTRY},
    },
    requests::BackupRequest,
    swap::{interrupted, real_path},
    time::run_epoch,
    ui::Ui,
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
pub fn run(args: &BackupRequest, ui: Ui) -> Result<BackupReport, Error> {
    let started = Instant::now();
    let settings = args.setup.load_settings_warned(ui)?;
    let target = GeoNode::new(&settings.geonode)?;
    let info = target.info()?;
    info.ensure_reachable()?;
    interrupted::settle(&target, &info, &settings, ui)?;
    let vector_tables = info
        .datastore
        .as_ref()
        .filter(|_| !args.skip_geoserver && args.selection(&settings).vector_data);
    if let Some(store) = vector_tables {
        datastore::check_separate(store, &info.database)?;
    }
    let geoserver = if args.skip_geoserver {
        None
    } else {
        GeoServer::connect(&settings.geoserver, &|key| {
            target.env_file_var(key).map(str::to_owned)
        })?
    };
    if let Some(geoserver) = &geoserver {
        geoserver.check_backup()?;
        ui.info(&format!(
            "GeoServer {} answers at {}",
            geoserver.version(),
            geoserver.url()
        ));
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&args.backup_dir)
        .map_err(|e| {
            Error::new(
                ErrorKind::Usage,
                format!("cannot create {}: {e}", args.backup_dir.display()),
            )
        })?;
    let stamp = archive_stamp(run_epoch()?);
    let archive = args.backup_dir.join(format!("{stamp}.zip"));
    let mut writer = BackupWriter::create_numbered(&archive)?;

    let fifos = crate::scratch::temp_dir("gnbr-dump-")?;
    let mut dumps = Vec::new();
    for fixture in &settings.fixtures.fixtures {
        let fifo = fifos.path().join(format!("{}.fifo", fixture.position));
        make_fifo(&fifo)?;
        dumps.push((fixture.app.clone(), fifo));
    }
    let mut report = BackupReport {
        archive: archive.clone(),
        md5_file: archive.with_extension("md5"),
        ini_file: archive.with_extension("ini"),
        geonode_version: info.geonode_version.clone(),
        fixtures: Vec::new(),
        files: 0,
        geoserver: None,
        geoserver_catalog: None,
        datastore_tables: Vec::new(),
        bytes: 0,
        seconds: 0.0,
    };
    target.dump(&dumps, &mut |app, fifo| {
        let fixture = settings
            .fixtures
            .fixtures
            .iter()
            .find(|f| f.app == app)
            .expect("gnbr asked for this app");
        let entry = format!("fixtures/{}.json", fixture.dump);
        ui.info(&format!("dumping {app} -> {entry}"));
        let source = File::open(fifo).map_err(|e| {
            Error::new(
                ErrorKind::Run,
                format!("cannot read the dump of {app}: {e}"),
            )
        })?;
        let sink = writer.entry(&entry)?;
        let no_chain = mangler_api::client::Chain::default();
        let (result, sink) = write_in_background(sink, |out| {
            fixtures::mangle(
                source,
                out,
                &no_chain,
                &mut [],
                &mut Vec::new(),
                &mut |_| {},
            )
            .map(|(stats, _)| stats)
        });
        let stats = result.map_err(|e| {
            Error::new(
                ErrorKind::Target,
                format!("the dump of `{app}` is not a valid fixture: {e}"),
            )
            .hint("GeoNode's dumpdata stopped part way; GNBR_LOG=debug shows Django's output")
        })?;
        sink.and_then(|s| s.close())
            .map_err(|e| write_error(&entry, &e))?;
        report.fixtures.push((entry, stats.objects_out));
        Ok(())
    })?;
    let roots: Vec<PathBuf> = [&info.media_root, &info.assets_root]
        .into_iter()
        .filter(|r| !r.is_empty())
        .map(|r| real_path(Path::new(r)))
        .collect();
    for (prefix, root) in [
        ("uploaded", &info.media_root),
        ("assets", &info.assets_root),
    ] {
        if root.is_empty() {
            continue;
        }
        if Path::new(root).is_dir() {
            ui.info(&format!("adding {root} as {prefix}/"));
            // A folder nested in this one is backed up as its own.
            let nested: Vec<PathBuf> = roots
                .iter()
                .filter(|r| **r != real_path(Path::new(root)))
                .cloned()
                .collect();
            report.files += add_folder(&mut writer, Path::new(root), prefix, &nested)?;
        } else {
            ui.warn(&format!(
                "{root}, the GeoNode's {} folder, is not there: the archive has no {prefix}/",
                if prefix == "uploaded" {
                    "MEDIA_ROOT"
                } else {
                    "ASSETS_ROOT"
                }
            ));
        }
    }
    if let Some(dir) = args.geoserver_data_dir(&settings) {
        if dir.is_dir() {
            ui.info(&format!(
                "adding GeoServer's data directory {} as {}",
                dir.display(),
                datadir::ARCHIVE_PREFIX
            ));
            let scanned = DataDir::scan(&dir)?;
            let done = datadir::backup(
                &scanned,
                &args.selection(&settings),
                &mut writer,
                &mut |_| {},
            )?;
            for warning in &done.warnings {
                ui.warn(warning);
            }
            report.geoserver = Some(done);
        } else {
            ui.warn(&format!(
                "GeoServer's data directory {} is not there: the archive has no GeoServer part (set [geoserver] datadir, or pass --skip-geoserver)",
                dir.display()
            ));
        }
    }
    let mut tables = std::collections::BTreeMap::new();
    if let Some(store) = vector_tables {
        tables = datastore::backup_tables(&settings, store, &mut writer, ui)?;
        report.datastore_tables = tables
            .values()
            .map(|t| (format!("{}.{}", t.schema, t.table), t.rows))
            .collect();
    }
    if let Some(geoserver) = &geoserver {
        ui.info(&format!(
            "backing up GeoServer's catalog with its Backup & Restore module -> {CATALOG_ENTRY}"
        ));
        let download = fifos.path().join(CATALOG_ENTRY);
        let bytes = geoserver.backup_catalog(
            &format!("gnbr-backup-{stamp}.zip"),
            args.ignore_errors,
            &download,
            &mut |job| ui.info(&format!("GeoServer: {job}")),
        )?;
        add_file(&mut writer, &download, CATALOG_ENTRY)?;
        report.geoserver_catalog = Some(bytes);
    }
    let manifest = writer.manifest_mut();
    manifest.format = 1;
    manifest.gnbr_version = env!("CARGO_PKG_VERSION").to_owned();
    manifest.created = stamp.clone();
    manifest.geonode_version = Some(info.geonode_version.clone());
    manifest.settings = Some(settings.text.clone());
    manifest.fixtures = report.fixtures.iter().cloned().collect();
    manifest.datastore_tables = tables;
    manifest.site = Some(SiteSource {
        siteurl: Some(info.siteurl.clone()),
        media_root: Some(info.media_root.clone()),
        assets_root: Some(info.assets_root.clone()),
    });
    if !args.skip_geoserver {
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
    let ini = settings.geonode_ini();
    let written = writer.finish_with_sidecars(|temp| {
        let md5 = file_sums(temp)
            .map_err(|e| Error {
                kind: ErrorKind::Run,
                ..e
            })?
            .md5;
        Ok(vec![("md5", md5.into_bytes()), ("ini", ini.into_bytes())])
    })?;
    if written != archive {
        ui.info(&format!(
            "{} was taken: the archive is {}",
            archive.display(),
            written.display()
        ));
    }
    report.md5_file = written.with_extension("md5");
    report.ini_file = written.with_extension("ini");
    report.bytes = fs::metadata(&written).map(|m| m.len()).unwrap_or(0);
    report.archive = written;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// GeoNode's archive name for a moment: `YYYY-MM-DD_HHMMSS` (UTC here).
fn archive_stamp(epoch: i64) -> String {
    let time = crate::time::format_utc(epoch);
    format!("{}_{}", &time[..10], time[11..].replace(':', ""))
}

fn make_fifo(path: &Path) -> Result<(), Error> {
    let c_path = CString::new(path.as_os_str().as_bytes()).expect("a temporary path has no NUL");
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } != 0 {
        return Err(Error::new(
            ErrorKind::Run,
            format!(
                "cannot create {}: {}",
                path.display(),
                io::Error::last_os_error()
            ),
        ));
    }
    Ok(())
}

/// Adds the file at `path` as the entry `name`.
fn add_file(writer: &mut BackupWriter, path: &Path, name: &str) -> Result<(), Error> {
    let mut source = File::open(path).map_err(|e| {
        Error::new(
            ErrorKind::Target,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let mut sink = writer.entry(name)?;
    io::copy(&mut source, &mut sink).map_err(|e| write_error(name, &e))?;
    sink.close().map(drop).map_err(|e| write_error(name, &e))
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
