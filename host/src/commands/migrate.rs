//! `gnbr migrate`: a backup in, every fixture through its mangler chain, a
//! migrated backup out; everything that is not a fixture copied unchanged.

use std::{
    collections::HashSet,
    io,
    path::{Path, PathBuf},
    time::Instant,
};

use mangler_api::Context;
use serde::Serialize;

use crate::{
    archive::{write_error, write_in_background, BackupReader, BackupWriter, EntrySink},
    config::Settings,
    errors::{Error, ErrorKind},
    fixtures::pass::{mangle_fixtures, FixtureReport},
    plugins::choice::{choose, target_known},
    requests::MigrateRequest,
    storage::{open_backup, Bucket, BucketUrl},
    ui::{print_table, Progress, Ui, Unit},
    versions::{source_version, KnownVersion},
};

/// What a migration did, fixture by fixture.
#[derive(Debug, Serialize)]
pub struct MigrateReport {
    /// The backup read.
    pub input: PathBuf,
    /// The backup written (`None` for a dry run).
    pub output: Option<PathBuf>,
    /// The plugins applied, `name version (from -> to)`.
    pub plugins: Vec<String>,
    /// One row per fixture found.
    pub fixtures: Vec<FixtureReport>,
    /// `apps` entries whose fixture the backup lacks.
    pub missing: Vec<String>,
    /// Other entries copied unchanged.
    pub copied: usize,
    /// What the plugins reported.
    pub notes: Vec<String>,
    /// Bytes read.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
}

/// Runs `gnbr migrate`.
///
/// # Errors
///
/// Settings, plugins, the input backup, a plugin's failure, or the output;
/// the output is never left half-written.
pub fn run(request: &MigrateRequest, ui: Ui) -> Result<MigrateReport, Error> {
    let started = Instant::now();
    let settings = request.setup.load_settings_warned(ui)?;
    // The output (a bucket's credentials and the archive's name) is checked
    // before the input is read.
    let mut output = match (&request.output, request.dry_run) {
        (Some(path), false) => Some(create_output(path, request.force, &settings)?),
        _ => None,
    };
    let registry = request.setup.discover_plugins(Some(&settings), ui);
    let mut input = open_backup(&request.backup_file, &settings.storage)?;
    let source = source_version(&mut input, request.from_version.as_deref())?;
    let target = request
        .to_version
        .as_deref()
        .map(|v| target_known(v, "given with --to-version"))
        .transpose()?;
    let context = plugin_context(request, &settings, source.as_ref(), target.as_ref())?;
    let (mut manglers, plan) = choose(
        &settings,
        &registry,
        &context,
        source,
        target,
        request.force_manglers,
    )?;
    for line in plan.lines() {
        ui.info(&line);
    }
    // The GeoNode version the output fits: the last plugin's `to`, if any ran.
    let output_version = manglers
        .plugins()
        .last()
        .map(|p| p.handle.info().to.clone());

    let total: u64 = input.entries().iter().map(|e| e.size).sum();
    let mut progress = ui.progress("migrating", Unit::Bytes, Some(total));
    let pass = mangle_fixtures(
        &settings,
        &mut input,
        output.as_mut(),
        &mut manglers,
        &mut progress,
    )?;
    let (copied, copied_bytes) = copy_others(
        &mut input,
        &pass.handled,
        output.as_mut(),
        pass.bytes,
        &mut progress,
    )?;
    progress.finish();
    let mut report = MigrateReport {
        input: request.backup_file.clone(),
        output: None,
        plugins: plan.plugins,
        fixtures: pass.fixtures,
        missing: pass.missing,
        copied,
        notes: pass.notes,
        bytes: pass.bytes + copied_bytes,
        seconds: 0.0,
    };
    report.notes.extend(manglers.finish()?);
    if let Some(mut output) = output {
        fill_manifest(
            &mut output,
            &input,
            &settings,
            &report,
            &output_version,
            &context,
        );
        report.output = Some(if output.is_upload() {
            output.finish_with_geonode_sidecars(settings.geonode_ini())?
        } else {
            output.finish()?
        });
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Starts writing the migrated backup `path`: a local `.zip` or folder
/// (replaced with `force`), or an archive of a bucket
/// (`s3://BUCKET/PREFIX/NAME.zip`) streamed up as a multipart upload that
/// takes its name, with its `.md5` and `.ini`, only when complete.
fn create_output(path: &Path, force: bool, settings: &Settings) -> Result<BackupWriter, Error> {
    let Some(url) = BucketUrl::parse(path) else {
        return BackupWriter::create(path, force);
    };
    let url = url?;
    if force {
        return Err(Error::new(
            ErrorKind::Usage,
            format!(
                "--output {}: --force replaces a local output only; gnbr never replaces an object of a bucket",
                path.display()
            ),
        )
        .hint("leave out --force and choose a name that is free, or remove the archive and its .md5 and .ini from the bucket first"));
    }
    let bucket = Bucket::connect(&url.bucket, &settings.storage)?;
    BackupWriter::create_object_in_bucket(&bucket, &url)
}

/// The context the plugins get: the request's values, settings.ini's
/// options for the target, and the versions.
fn plugin_context(
    request: &MigrateRequest,
    settings: &Settings,
    source: Option<&KnownVersion>,
    target: Option<&KnownVersion>,
) -> Result<Context, Error> {
    let mut context = request.context(settings)?;
    context.source_version = source.and_then(KnownVersion::known);
    context.target_version = target.and_then(KnownVersion::known);
    Ok(context)
}

/// Copies every entry the fixture pass did not handle into `output`
/// unchanged (reads them to their end in a dry run), after `done` bytes;
/// returns how many, and their bytes.
fn copy_others(
    input: &mut BackupReader,
    handled: &HashSet<String>,
    mut output: Option<&mut BackupWriter>,
    done: u64,
    progress: &mut Progress,
) -> Result<(usize, u64), Error> {
    let others: Vec<(String, u64)> = input
        .entries()
        .iter()
        .filter(|e| !handled.contains(&e.name))
        .map(|e| (e.name.clone(), e.size))
        .collect();
    let mut bytes = 0;
    for (name, size) in &others {
        progress.step(name, done + bytes);
        let backup = input.path().to_owned();
        let mut source = input.open_entry(name)?;
        let sink = EntrySink::open(output.as_deref_mut(), name)?;
        let (copied, sink) = write_in_background(sink, |out| io::copy(&mut source, out));
        copied.map_err(|e| copy_error(&backup, name, &e))?;
        sink.and_then(EntrySink::close)
            .map_err(|e| write_error(name, &e))?;
        bytes += size;
    }
    Ok((others.len(), bytes))
}

fn fill_manifest(
    output: &mut BackupWriter,
    input: &BackupReader,
    settings: &Settings,
    report: &MigrateReport,
    target_version: &Option<String>,
    context: &Context,
) {
    let manifest = output.manifest_mut();
    manifest.format = 1;
    manifest.gnbr_version = env!("CARGO_PKG_VERSION").to_owned();
    manifest.created = format!("{}Z", context.timestamp);
    manifest.geonode_version = target_version
        .clone()
        .or_else(|| input.manifest().and_then(|m| m.geonode_version.clone()));
    manifest.settings = Some(settings.text.clone());
    manifest.migrations = input
        .manifest()
        .map(|m| m.migrations.clone())
        .unwrap_or_default();
    manifest.migrations.extend(report.plugins.iter().cloned());
    // Where the data came from stays the source's: a restore moves it.
    manifest.site = input.manifest().and_then(|m| m.site.clone());
    manifest.fixtures = report
        .fixtures
        .iter()
        .map(|f| (f.entry.clone(), f.stats.objects_out))
        .collect();
}

fn copy_error(backup: &std::path::Path, entry: &str, err: &io::Error) -> Error {
    let kind = if err.kind() == io::ErrorKind::InvalidData {
        ErrorKind::Input
    } else {
        ErrorKind::Run
    };
    Error::new(kind, format!("{}: {entry}: {err}", backup.display()))
}

/// Prints the report: one row per fixture, then notes.
pub fn print_report(report: &MigrateReport, ui: Ui) {
    if !ui.report(report) {
        return;
    }
    let rows: Vec<[String; 6]> = report
        .fixtures
        .iter()
        .map(|f| {
            [
                f.entry.clone(),
                f.stats.objects_in.to_string(),
                f.stats.objects_out.to_string(),
                f.stats.changed.to_string(),
                f.stats.emitted.to_string(),
                if f.manglers.is_empty() {
                    "-".to_owned()
                } else {
                    f.manglers.join(",")
                },
            ]
        })
        .collect();
    print_table(
        &["FIXTURE", "IN", "OUT", "CHANGED", "EMITTED", "MANGLERS"],
        &rows,
    );
    if !report.missing.is_empty() {
        println!("not in the backup (skipped): {}", report.missing.join(", "));
    }
    match report.copied {
        1 => println!("1 other entry copied unchanged"),
        n => println!("{n} other entries copied unchanged"),
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    let mb = report.bytes as f64 / 1e6;
    match &report.output {
        Some(path) => println!(
            "wrote {} ({mb:.1} MB read in {:.1} s)",
            path.display(),
            report.seconds
        ),
        None => println!(
            "dry run: nothing written ({mb:.1} MB read in {:.1} s)",
            report.seconds
        ),
    }
}
