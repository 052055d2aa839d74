//! The GeoServer side of `gnbr restore`: the datastore's tables, the data
//! directory, the catalog through GeoServer's Backup & Restore module, and
//! a reload, all checked before anything is touched and undone when the
//! restore fails after them.
//!
//! Order, around the database transaction that `restore` holds open:
//! tables (each its own transaction, the previous table moved aside), the
//! data directory (swapped in by renames), the catalog (a Backup & Restore
//! job, when the archive carries GeoServer's archive but not the catalog's
//! files), a reload. A failure undoes what was done; a catalog GeoServer
//! failed to restore is put back from the recovery file given, else from
//! the catalog backup gnbr takes first.

use std::{
    collections::BTreeSet,
    fs::File,
    io::{Cursor, Read, Seek},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::{
    br_archive::{catalog_in_memory, rewrite_archive, save},
    datadir::{self, Class, Selection, StagedDataDir},
    datastore::{archived_tables, check_separate, ArchivedTable},
    rewrite::{Mapping, PathRule, RewriteReport, StoreMatch, StoreRule, StoreTarget, UrlRule},
    server::{GeoServer, CATALOG_ENTRY},
    Secret,
};
use crate::{
    archive::{is_encrypted, BackupReader, FolderReport},
    config::Settings,
    errors::{Error, ErrorKind},
    fault,
    geonode::{GeoNode, TargetInfo},
    postgres::{
        tables::{self, Datastore, Restorer},
        Database,
    },
    scratch::TempPath,
    swap::{CatalogRecord, Journal},
    ui::{copy_progress, Ui},
};

/// What the admin chose for GeoServer's side of a restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeoServerChoices {
    /// Leave GeoServer as it is: its data directory, its catalog and the datastore's tables.
    pub skip: bool,
    /// Keep the datastore's existing tables (restore only those it lacks)
    /// and GeoServer's existing catalog objects.
    pub soft_reset: bool,
    /// Archive to put GeoServer's catalog back from when GeoServer fails to
    /// restore it; `None`: a catalog backup gnbr takes first (unless no
    /// snapshot is taken).
    pub recovery_file: Option<PathBuf>,
}

/// What the GeoServer side of a restore did (or, in a dry run, would do).
#[derive(Debug, Default, Serialize)]
pub struct GeoServerReport {
    /// The GeoServer called (`GeoServer 2.27.4 at http://…/geoserver/`), if any.
    pub server: Option<String>,
    /// GeoServer's data directory, when the backup replaces parts of it.
    pub datadir: Option<PathBuf>,
    /// Datastore tables the restore replaces or adds (known before it runs).
    pub tables_planned: Vec<String>,
    /// Datastore tables restored, with their rows.
    pub tables: Vec<(String, u64)>,
    /// Datastore tables kept as they were (`--soft-reset`).
    pub tables_kept: Vec<String>,
    /// Whether GeoServer's Backup & Restore module is to restore the catalog.
    pub catalog_planned: bool,
    /// Whether the catalog was restored by GeoServer's Backup & Restore module.
    pub catalog_restored: bool,
    /// Whether GeoServer was told to re-read its data directory.
    pub reloaded: bool,
    /// Values of the data directory rewritten for the target (never a password).
    pub rewrite: RewriteReport,
    /// Where the catalog would be put back from, should GeoServer fail to restore it.
    pub recovery: Option<PathBuf>,
}

/// The GeoServer side of a restore, checked and ready.
pub struct GeoServerRestore {
    server: Option<GeoServer>,
    tables: Vec<ArchivedTable>,
    datastore: Option<Database>,
    catalog: bool,
    /// Remove the target's catalog objects before restoring GeoServer's archive.
    purge: bool,
    recovery: Option<Recovery>,
    /// GeoServer's archive, extracted (and rewritten) for its restore.
    catalog_file: Option<StagedCatalog>,
    datadir: Option<(StagedDataDir, FolderReport)>,
    /// What it did or will do.
    pub report: GeoServerReport,
}

/// Where GeoServer's previous catalog can be put back from.
struct Recovery {
    path: PathBuf,
    /// Whether `path` is GeoServer's archive itself (gnbr's own catalog
    /// backup, or one given), not a backup holding one.
    is_catalog: bool,
}

/// The GeoServer side put in place, waiting for the database commit (the
/// datastore's tables are in the restore's journal).
pub struct AppliedGeoServer {
    /// The data directory swapped in (its renames are in the restore's journal).
    datadir: Option<FolderReport>,
    server: Option<GeoServer>,
    /// Whether GeoServer may have changed its catalog (its restore job ran).
    catalog_replaced: bool,
    recovery: Option<Recovery>,
}

impl GeoServerRestore {
    /// Checks everything the GeoServer side needs, touching nothing:
    /// GeoServer answers, the shared folder is writable, the recovery
    /// archive holds a catalog, the target has a datastore with PostGIS.
    ///
    /// # Errors
    ///
    /// Any of those fails; the message names what and the fix.
    pub fn check(
        input: &mut BackupReader,
        choices: &GeoServerChoices,
        settings: &Settings,
        info: &TargetInfo,
        geonode: &GeoNode,
        ui: Ui,
    ) -> Result<Self, Error> {
        let mut restore = Self {
            server: None,
            tables: Vec::new(),
            datastore: info.datastore.clone(),
            catalog: false,
            purge: !choices.soft_reset,
            recovery: None,
            catalog_file: None,
            datadir: None,
            report: GeoServerReport::default(),
        };
        if choices.skip {
            return Ok(restore);
        }
        restore.server = GeoServer::connect(&settings.geoserver, &|key| {
            geonode.env_file_var(key).map(str::to_owned)
        })?;
        if let Some(server) = &restore.server {
            restore.report.server = Some(format!(
                "GeoServer {} at {}",
                server.version(),
                server.url()
            ));
        }
        let has_catalog_files = input.entries().iter().any(|e| {
            e.name
                .strip_prefix(datadir::ARCHIVE_PREFIX)
                .is_some_and(|relative| datadir::classify(relative) == Class::Catalog)
        });
        // The data directory's files carry the catalog when they can be put in place.
        if input.has(CATALOG_ENTRY) && (!has_catalog_files || settings.geoserver.datadir.is_none())
        {
            match &restore.server {
                Some(server) => {
                    server.check_restore_folder()?;
                    restore.catalog = true;
                    restore.report.catalog_planned = true;
                }
                None => ui.warn(&format!(
                    "the backup's catalog is in {CATALOG_ENTRY}, which only GeoServer can restore, and settings.ini names no GeoServer: the catalog is left as it is (set [geoserver] url or GEOSERVER_LOCATION)"
                )),
            }
        }
        if let Some(file) = &choices.recovery_file {
            let recovery = BackupReader::open(file)?;
            let is_catalog = !recovery.has(CATALOG_ENTRY);
            if is_catalog && !recovery.has(BR_INDEX) {
                return Err(Error::new(
                    ErrorKind::Input,
                    format!(
                        "the recovery archive {} holds no {CATALOG_ENTRY} to put GeoServer's catalog back from, and is not one",
                        file.display()
                    ),
                )
                .hint("pass a backup made while GeoServer was reachable (gnbr backup with [geoserver] url set, or GeoNode's own), or GeoServer's own Backup & Restore archive"));
            }
            if !restore.catalog {
                ui.info(&format!(
                    "--recovery-file {}: not needed, GeoServer is not asked to restore a catalog (its data directory is swapped back on failure)",
                    file.display()
                ));
            }
            restore.recovery = Some(Recovery {
                path: file.clone(),
                is_catalog,
            });
        }
        if restore.catalog {
            restore.stage_catalog(input, &mapping(input, settings, info), ui)?;
        }
        let has_datadir = input
            .entries()
            .iter()
            .any(|e| e.name.starts_with(datadir::ARCHIVE_PREFIX));
        restore.report.datadir = settings.geoserver.datadir.clone().filter(|_| has_datadir);
        restore.check_tables(input, choices.soft_reset, settings, info, ui)?;
        Ok(restore)
    }

    /// Checks the datastore's tables the backup holds against the target's
    /// datastore: those `soft_reset` keeps, those restored.
    fn check_tables(
        &mut self,
        input: &BackupReader,
        soft_reset: bool,
        settings: &Settings,
        info: &TargetInfo,
        ui: Ui,
    ) -> Result<(), Error> {
        let found = archived_tables(input);
        if found.is_empty() {
            return Ok(());
        }
        if !settings.geoserver.dump_vector_data {
            ui.info(&format!(
                "{} datastore tables left out: [geoserver] dumpvectordata = no",
                found.len()
            ));
            return Ok(());
        }
        let Some(datastore) = &self.datastore else {
            return Err(Error::new(
                ErrorKind::Target,
                format!(
                    "the backup holds {} tables of GeoNode's datastore (first {}), but the target GeoNode has no datastore",
                    found.len(),
                    found[0].table
                ),
            )
            .hint("configure the target's datastore (DEFAULT_BACKEND_DATASTORE and GEODATABASE_URL), set [geoserver] dumpvectordata = no, or pass --skip-geoserver"));
        };
        check_separate(datastore, &info.database)?;
        tables::check_postgis(&settings.database.psql, datastore)?;
        let existing: BTreeSet<(String, String)> = tables::list(
            &settings.database.psql,
            datastore,
            &found
                .iter()
                .map(|t| t.table.schema.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>(),
        )?
        .into_iter()
        .map(|(table, _)| (table.schema, table.name))
        .collect();
        let names: Vec<&tables::Table> = found.iter().map(|t| &t.table).collect();
        let taken: BTreeSet<(String, String)> =
            tables::conflicts(&settings.database.psql, datastore, &names)?
                .into_iter()
                .map(|(table, what)| {
                    if !soft_reset {
                        ui.warn(&format!("datastore: {table} is {what}"));
                    }
                    (table.schema, table.name)
                })
                .collect();
        for archived in found {
            let key = (archived.table.schema.clone(), archived.table.name.clone());
            if soft_reset && (existing.contains(&key) || taken.contains(&key)) {
                self.report.tables_kept.push(archived.table.plain());
            } else if taken.contains(&key) {
                return Err(Error::new(
                    ErrorKind::Target,
                    format!(
                        "the datastore ({datastore}) holds {} names the backup's tables need (such as {}) with objects gnbr cannot move aside (listed above)",
                        taken.len(),
                        archived.table
                    ),
                )
                .hint("rename or drop them in the datastore (or restore as their owner), or pass --soft-reset to keep what the datastore has"));
            } else {
                self.report.tables_planned.push(archived.table.plain());
                self.tables.push(archived);
            }
        }
        let planned: Vec<&tables::Table> = self.tables.iter().map(|t| &t.table).collect();
        for used in tables::dependents(&settings.database.psql, datastore, &planned)? {
            ui.warn(&format!(
                "datastore: {used}, which the restore replaces: it will keep using the old table, which then stays in a gnbr_aside_* schema"
            ));
        }
        Ok(())
    }

    /// Extracts the data directory part inside GeoServer's data directory
    /// (journaled in `journal`), with the source's paths and datastore
    /// moved to the target's; takes
    /// a catalog backup to recover from when GeoServer is to restore one
    /// and no `--recovery-file` was given (unless `--no-snapshot`, which
    /// the journal keeps).
    ///
    /// # Errors
    ///
    /// A damaged entry, a data directory that cannot be written, or a
    /// failed catalog backup.
    pub fn stage(
        &mut self,
        input: &mut BackupReader,
        settings: &Settings,
        info: &TargetInfo,
        stamp: &str,
        journal: &mut Journal,
        ui: Ui,
    ) -> Result<(), Error> {
        let no_snapshot = !journal.keeps_previous();
        if self.catalog && self.recovery.is_none() && !no_snapshot {
            if let Some(server) = &self.server {
                let path = settings
                    .restore
                    .snapshot_dir
                    .join(format!("geoserver-{stamp}-{CATALOG_ENTRY}"));
                ui.info(&format!(
                    "backing up GeoServer's catalog first -> {}",
                    path.display()
                ));
                std::fs::create_dir_all(&settings.restore.snapshot_dir).map_err(|e| {
                    Error::new(
                        ErrorKind::Run,
                        format!(
                            "cannot create {}: {e}",
                            settings.restore.snapshot_dir.display()
                        ),
                    )
                })?;
                let write_failed = |e: &dyn std::fmt::Display| {
                    Error::new(
                        ErrorKind::Run,
                        format!("cannot write {}: {e}", path.display()),
                    )
                };
                // Under a temporary name beside it until it is whole.
                let mut file = tempfile::Builder::new()
                    .prefix(".gnbr-download-")
                    .tempfile_in(&settings.restore.snapshot_dir)
                    .map_err(|e| write_failed(&e))?;
                server.backup_catalog(
                    &format!("gnbr-before-restore-{stamp}.zip"),
                    false,
                    file.as_file_mut(),
                    &path.display().to_string(),
                    &mut |job| ui.info(&format!("GeoServer: {job}")),
                )?;
                file.persist(&path).map_err(|e| write_failed(&e.error))?;
                self.recovery = Some(Recovery {
                    path,
                    is_catalog: true,
                });
            }
        }
        if self.catalog && self.recovery.is_none() {
            ui.warn("GeoServer's catalog will be replaced with no catalog backup to put it back from, should GeoServer fail (--no-snapshot without --recovery-file)");
        }
        self.report.recovery = self.recovery.as_ref().map(|r| r.path.clone());
        let mapping = mapping(input, settings, info);
        let has_datadir = input
            .entries()
            .iter()
            .any(|e| e.name.starts_with(datadir::ARCHIVE_PREFIX));
        if !has_datadir {
            return Ok(());
        }
        let Some(dir) = settings.geoserver.datadir.clone() else {
            ui.warn("the backup has GeoServer's data directory but settings.ini has no [geoserver] datadir: left alone");
            return Ok(());
        };
        let selection = Selection::from_settings(&settings.geoserver);
        let Some(staged) = datadir::stage(
            input,
            &dir,
            &selection,
            &mapping,
            journal,
            &mut copy_progress(ui, "GeoServer data directory"),
        )?
        else {
            return Ok(());
        };
        let restored = &staged.report;
        for warning in restored.warnings.iter().chain(&restored.rewrite.warnings) {
            ui.warn(warning);
        }
        show_changes(&restored.rewrite, ui);
        self.report.rewrite.merge(restored.rewrite.clone());
        let tally = restored
            .restored
            .values()
            .fold((0, 0), |(f, b), t| (f + t.files, b + t.bytes));
        ui.info(&format!(
            "staged {} for GeoServer's data directory {}: {} files",
            datadir::ARCHIVE_PREFIX,
            dir.display(),
            tally.0
        ));
        let report = FolderReport {
            from: datadir::ARCHIVE_PREFIX.to_owned(),
            to: dir,
            files: tally.0,
            bytes: tally.1,
            previous: None,
        };
        self.datadir = Some((staged, report));
        Ok(())
    }

    /// Extracts GeoServer's archive for its restore, rewritten for the
    /// target: to a scratch file, or into memory from an encrypted backup
    /// (its plaintext never on disk but in the folder GeoServer reads it from).
    fn stage_catalog(
        &mut self,
        input: &mut BackupReader,
        mapping: &Mapping,
        ui: Ui,
    ) -> Result<(), Error> {
        if !self.catalog {
            return Ok(());
        }
        let name = format!("{}: {CATALOG_ENTRY}", input.path().display());
        let damaged = |why: String| {
            Error::new(ErrorKind::Input, format!("{name} {why}"))
                .hint("the archive is damaged: restore another one, or pass --skip-geoserver")
        };
        let staged = if is_encrypted(input.path()) {
            let bytes = catalog_in_memory(input, &name)?;
            check_catalog(Cursor::new(&bytes)).map_err(damaged)?;
            if mapping.is_empty() {
                StagedCatalog::Memory(bytes)
            } else {
                let mut rewritten = Cursor::new(Vec::new());
                let report = rewrite_archive(
                    Cursor::new(&bytes),
                    &name,
                    &mut rewritten,
                    "GeoServer's catalog in memory",
                    mapping,
                )?;
                self.note_rewrite(report, ui);
                StagedCatalog::Memory(rewritten.into_inner())
            }
        } else {
            let scratch = crate::scratch::temp_dir("gnbr-catalog-")?;
            let extracted = scratch.path().join(CATALOG_ENTRY);
            save(&mut input.open_entry(CATALOG_ENTRY)?, &extracted)?;
            check_catalog(open(&extracted)?).map_err(damaged)?;
            if mapping.is_empty() {
                StagedCatalog::File {
                    path: extracted,
                    _scratch: scratch,
                }
            } else {
                let rewritten = scratch.path().join(format!("rewritten-{CATALOG_ENTRY}"));
                let output = File::create(&rewritten).map_err(|e| {
                    Error::new(
                        ErrorKind::Run,
                        format!("cannot write {}: {e}", rewritten.display()),
                    )
                })?;
                let report = rewrite_archive(
                    open(&extracted)?,
                    &name,
                    output,
                    &rewritten.display().to_string(),
                    mapping,
                )?;
                self.note_rewrite(report, ui);
                StagedCatalog::File {
                    path: rewritten,
                    _scratch: scratch,
                }
            }
        };
        self.catalog_file = Some(staged);
        Ok(())
    }

    /// Tells and keeps what rewriting GeoServer's archive changed.
    fn note_rewrite(&mut self, report: RewriteReport, ui: Ui) {
        for warning in &report.warnings {
            ui.warn(warning);
        }
        show_changes(&report, ui);
        self.report.rewrite.merge(report);
    }

    /// Names what this restore replaces, for the confirmation.
    pub fn replaces(&self) -> Vec<String> {
        let mut what = Vec::new();
        if let Some(dir) = &self.report.datadir {
            what.push(format!("GeoServer's data directory {}", dir.display()));
        }
        if !self.tables.is_empty() {
            what.push(format!("{} datastore tables", self.tables.len()));
        }
        if self.catalog {
            what.push("GeoServer's catalog".to_owned());
        }
        what
    }

    /// Puts the GeoServer side in place: tables and data directory (both
    /// journaled in `journal`), catalog, reload. On failure after the
    /// journaled steps everything it did is undone (the journal aborted, a
    /// catalog GeoServer may have changed put back from the recovery
    /// archive) and the error says what happened; a failure in them is the
    /// caller's to undo, by aborting the journal.
    ///
    /// # Errors
    ///
    /// A table, the swap, GeoServer's job or its reload failed.
    pub fn apply(
        &mut self,
        input: &mut BackupReader,
        settings: &Settings,
        journal: &mut Journal,
        ui: Ui,
    ) -> Result<AppliedGeoServer, Error> {
        self.restore_tables(input, settings, journal, ui)?;
        let swapped = self
            .datadir
            .take()
            .map(|(staged, r)| staged.swap_in(journal).map(|()| r))
            .transpose()?;
        let mut applied = AppliedGeoServer {
            datadir: swapped,
            server: self.server.take(),
            catalog_replaced: false,
            recovery: self.recovery.take(),
        };
        let done = self
            .restore_catalog(&mut applied, journal, ui)
            .and_then(|()| match &applied.server {
                Some(server) if applied.datadir.is_some() || applied.catalog_replaced => {
                    ui.info("GeoServer: reloading its catalog and configuration");
                    server.reload()?;
                    self.report.reloaded = true;
                    Ok(())
                }
                _ => Ok(()),
            });
        match done {
            Ok(()) => Ok(applied),
            Err(e) => Err(applied.undo(journal, ui, e)),
        }
    }

    /// Restores the archive's tables into the datastore, each journaled
    /// before its transaction.
    fn restore_tables(
        &mut self,
        input: &mut BackupReader,
        settings: &Settings,
        journal: &mut Journal,
        ui: Ui,
    ) -> Result<(), Error> {
        let Some(db) = self.datastore.as_ref().filter(|_| !self.tables.is_empty()) else {
            return Ok(());
        };
        let datastore = Datastore {
            psql: settings.database.psql.clone(),
            db: db.clone(),
            lock_timeout: settings.restore.lock_timeout,
        };
        let mut restorer = Restorer::new(&datastore);
        for archived in &self.tables {
            crate::cancel::check()?;
            let mut dump = input.open_entry(&archived.entry)?;
            let mut restore = |sql: &mut dyn std::io::Read| {
                restorer.restore(&archived.table, sql, |replaced| {
                    journal.replacing(&datastore, replaced)
                })
            };
            let restored = if archived.custom_format {
                tables::with_custom_dump_sql(
                    &settings.database.pg_restore,
                    &archived.entry,
                    dump,
                    restore,
                )?
            } else {
                restore(&mut dump)
            };
            let result = restored.and_then(|rows| match archived.rows {
                Some(expected) if expected != rows => Err(Error::new(
                    ErrorKind::Input,
                    format!(
                        "{}: the datastore table {} has {rows} rows after its restore, the backup had {expected}",
                        archived.entry, archived.table
                    ),
                )
                .hint("the archive is damaged: restore another one")),
                _ => Ok(rows),
            });
            let rows = result?;
            ui.info(&format!("datastore table {}: {rows} rows", archived.table));
            self.report.tables.push((archived.table.plain(), rows));
        }
        Ok(())
    }

    /// Restores the catalog with GeoServer's Backup & Restore module,
    /// journaled first with the archive that puts the previous one back.
    fn restore_catalog(
        &mut self,
        applied: &mut AppliedGeoServer,
        journal: &mut Journal,
        ui: Ui,
    ) -> Result<(), Error> {
        let Some(server) = applied.server.as_ref().filter(|_| self.catalog) else {
            return Ok(());
        };
        let staged = self.catalog_file.as_ref().expect("extracted when checked");
        ui.info(&format!(
            "GeoServer: restoring the catalog from {CATALOG_ENTRY} with its Backup & Restore module"
        ));
        journal.replacing_catalog(CatalogRecord {
            recovery: applied.recovery.as_ref().map(|r| r.path.clone()),
            is_catalog: applied.recovery.as_ref().is_some_and(|r| r.is_catalog),
        })?;
        applied.catalog_replaced = true;
        let shared = match staged {
            StagedCatalog::File { path, .. } => server.share(&mut open(path)?)?,
            StagedCatalog::Memory(bytes) => server.share(&mut bytes.as_slice())?,
        };
        server.restore_catalog(&shared, self.purge, &mut |job| {
            ui.info(&format!("GeoServer: {job}"));
        })?;
        fault::point("catalog-restored");
        self.report.catalog_restored = true;
        Ok(())
    }
}

impl AppliedGeoServer {
    /// Undoes it after `error` (a later step or the database commit
    /// failed): the journal aborted (every folder swapped back, the data
    /// directory's included, and the datastore's tables put back), a
    /// catalog GeoServer may have changed put back from the recovery
    /// archive (then the journal closed), GeoServer reloaded.
    /// Returns `error`, or when the admin must know what became of the
    /// folders and GeoServer's catalog, that, caused by `error` (and ending
    /// as `error` does).
    pub fn undo(self, journal: &mut Journal, ui: Ui, error: Error) -> Error {
        crate::cancel::shielded(|| self.undo_shielded(journal, ui, error))
    }

    /// [`AppliedGeoServer::undo`], which a cancel must not cut short.
    fn undo_shielded(self, journal: &mut Journal, ui: Ui, error: Error) -> Error {
        let mut notes = Vec::new();
        let mut hint = None;
        let swapped = self.datadir.is_some();
        if let Err(e) = journal.abort() {
            notes.push(e.message);
            hint = e.hint;
        }
        if let (true, Some(server)) = (self.catalog_replaced, &self.server) {
            let catalog = CatalogRecord {
                recovery: self.recovery.as_ref().map(|r| r.path.clone()),
                is_catalog: self.recovery.as_ref().is_some_and(|r| r.is_catalog),
            };
            notes.push(match put_back_catalog(server, &catalog, ui) {
                Ok(note) => note,
                Err(e) => e.message,
            });
            if let Err(e) = journal.catalog_settled() {
                notes.push(e.message);
            }
        }
        if let (true, Some(server)) = (swapped || self.catalog_replaced, &self.server) {
            if let Err(e) = server.reload() {
                notes.push(format!(
                    "reloading GeoServer afterwards failed: {}",
                    e.message
                ));
            }
        }
        if notes.is_empty() {
            return error;
        }
        Error {
            hint,
            ..Error::new(error.kind, notes.join("; "))
        }
        .caused_by(error)
    }

    /// Ends it after the commit: the data directory's report (the
    /// journal's finish keeps or removes the replaced files and drops the
    /// previous tables).
    pub fn finish(self) -> Option<FolderReport> {
        self.datadir
    }
}

/// The index every Backup & Restore archive holds.
const BR_INDEX: &str = "br_index.xml";

/// Why a file is not a Backup & Restore archive, if it is not.
fn check_catalog(file: impl Read + Seek) -> Result<(), String> {
    let archive = zip::ZipArchive::new(file).map_err(|e| format!("is not a zip archive: {e}"))?;
    if archive.index_for_name(BR_INDEX).is_none() {
        return Err(format!(
            "is not a GeoServer Backup & Restore archive (no {BR_INDEX})"
        ));
    }
    Ok(())
}

/// GeoServer's archive staged for its restore.
enum StagedCatalog {
    /// A file in a scratch folder, removed with it when dropped.
    File { path: PathBuf, _scratch: TempPath },
    /// In memory: from an encrypted backup, whose plaintext stays off the disk.
    Memory(Vec<u8>),
}

/// Puts GeoServer's previous catalog back from `catalog`'s recovery
/// archive; says how it went.
///
/// # Errors
///
/// When there is an archive and GeoServer fails to restore it: the message
/// says the catalog may be partly replaced.
pub fn put_back_catalog(
    server: &GeoServer,
    catalog: &CatalogRecord,
    ui: Ui,
) -> Result<String, Error> {
    let Some(path) = &catalog.recovery else {
        return Ok("GeoServer's catalog may be partly replaced and there is no catalog backup to put it back from (--no-snapshot without --recovery-file)".to_owned());
    };
    ui.warn(&format!(
        "putting GeoServer's previous catalog back from {}",
        path.display()
    ));
    let result = crate::scratch::temp_dir("gnbr-recovery-").and_then(|scratch| {
        let archive = if catalog.is_catalog {
            path.clone()
        } else {
            let extracted = scratch.path().join(CATALOG_ENTRY);
            save(
                &mut BackupReader::open(path)?.open_entry(CATALOG_ENTRY)?,
                &extracted,
            )?;
            extracted
        };
        let shared = server.share(&mut open(&archive)?)?;
        server.restore_catalog(&shared, true, &mut |job| {
            ui.info(&format!("GeoServer: {job}"));
        })
    });
    match result {
        Ok(()) => Ok(format!(
            "GeoServer's previous catalog was put back from {}",
            path.display()
        )),
        Err(e) => Err(Error {
            message: format!(
                "putting GeoServer's previous catalog back from {} failed too: {}; GeoServer's catalog may be partly replaced",
                path.display(),
                e.message
            ),
            ..e
        }),
    }
}

/// Says every value rewritten for the target.
fn show_changes(report: &RewriteReport, ui: Ui) {
    for change in &report.changes {
        ui.info(&format!(
            "GeoServer {} {}: {} {} -> {}",
            change.file, change.object, change.field, change.old, change.new
        ));
    }
}

fn open(path: &Path) -> Result<File, Error> {
    File::open(path).map_err(|e| {
        Error::new(
            ErrorKind::Run,
            format!("cannot read {}: {e}", path.display()),
        )
    })
}

/// The source's data directory path, GeoServer URL and datastore, moved to
/// the target's. The source's come from settings.ini (`source_datadir`,
/// `source_url`, `source_datastore`), else the archive's manifest
/// (GeoNode's archives record none); the target's from `[geoserver]
/// datadir` and the target GeoNode's settings.
fn mapping(input: &BackupReader, settings: &Settings, info: &TargetInfo) -> Mapping {
    let mut mapping = Mapping::default();
    let recorded = input.manifest().and_then(|m| m.geoserver.as_ref());
    let source_datadir = settings
        .geoserver
        .source_datadir
        .clone()
        .or_else(|| recorded.and_then(|r| r.datadir.as_deref().map(PathBuf::from)));
    if let (Some(from), Some(to)) = (source_datadir, &settings.geoserver.datadir) {
        if &from != to {
            mapping.paths.push(PathRule {
                from,
                to: to.clone(),
            });
        }
    }
    let source_url = settings
        .geoserver
        .source_url
        .clone()
        .or_else(|| recorded.and_then(|r| r.public_url.clone()));
    if let (Some(from), Some(to)) = (source_url, &info.geoserver_public_url) {
        let (from, to) = (from.trim_end_matches('/'), to.trim_end_matches('/'));
        if from != to {
            mapping.urls.push(UrlRule {
                from: from.to_owned(),
                to: to.to_owned(),
            });
        }
    }
    let source_datastore = settings
        .geoserver
        .source_datastore
        .as_ref()
        .or_else(|| recorded.and_then(|r| r.datastore.as_ref()));
    if let (Some(from), Some(to)) = (source_datastore, &info.datastore) {
        let same = (&from.host, &from.port, &from.database, &from.user)
            == (&to.host, &to.port, &to.name, &to.user);
        if !same {
            mapping.stores.push(StoreRule {
                from: StoreMatch {
                    host: Some(from.host.clone()).filter(|h| !h.is_empty()),
                    port: Some(from.port.clone()).filter(|p| !p.is_empty()),
                    database: Some(from.database.clone()),
                    ..StoreMatch::default()
                },
                to: StoreTarget {
                    host: Some(to.host.clone()).filter(|h| !h.is_empty()),
                    port: Some(to.port.clone()).filter(|p| !p.is_empty()),
                    database: Some(to.name.clone()),
                    user: Some(to.user.clone()),
                    password: Some(Secret::new(to.password.clone())),
                    ..StoreTarget::default()
                },
            });
        }
    }
    mapping
}
