//! What each command is asked to do, as plain values: the command line
//! (`cli`) and the admin page (`web`) build these requests, and the
//! commands take nothing else.
//!
//! Where a value may come from a flag, from settings.ini or from a default,
//! the request's own method here says which wins (the flag, else
//! settings.ini, else the default), and no command decides it again. What
//! only the run can know (the backup's manifest, the target's SITEURL) is
//! handed to those methods.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use mangler_api::Context;
use serde::{Deserialize, Serialize};

use crate::{
    archive::Manifest,
    config::{Settings, StorageSettings},
    errors::{Error, ErrorKind},
    geoserver::{datadir::Selection, restore::GeoServerChoices},
    plugins::{Registry, SearchPath},
    relocate::Place,
    retention::KeepPolicy,
    ui::Ui,
};

/// The settings file used when none is given.
const DEFAULT_SETTINGS: &str = "settings.ini";

/// What every command starts from: its settings file and the plugin
/// folders given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    /// The settings file (`-c`); `None`: `./settings.ini`.
    pub settings: Option<PathBuf>,
    /// Folders searched for plugins before any other (`--plugins-dir`).
    pub plugin_dirs: Vec<PathBuf>,
}

impl Setup {
    /// The settings file: the one given, else `./settings.ini`.
    pub fn settings_path(&self) -> &Path {
        self.settings
            .as_deref()
            .unwrap_or(Path::new(DEFAULT_SETTINGS))
    }

    /// settings.ini `[storage]`, for a command that can do without
    /// settings: the file given, else `./settings.ini` when it loads, else
    /// the defaults.
    ///
    /// # Errors
    ///
    /// A settings file given that cannot be read or is invalid.
    pub fn storage_settings(&self) -> Result<StorageSettings, Error> {
        Ok(self
            .optional_settings()?
            .map(|settings| settings.storage)
            .unwrap_or_default())
    }

    /// Reads the settings file.
    ///
    /// # Errors
    ///
    /// None given and no `./settings.ini`, or it cannot be read or is invalid.
    pub fn load_settings(&self) -> Result<Settings, Error> {
        if self.settings.is_none() && !Path::new(DEFAULT_SETTINGS).exists() {
            return Err(
                Error::new(ErrorKind::Usage, "no settings.ini in the current folder")
                    .hint("pass the settings file with -c/--config (gnbr's repository ships one)"),
            );
        }
        Settings::load(self.settings_path())
    }

    /// [`Setup::load_settings`] for a run: their warnings go to `ui` first.
    ///
    /// # Errors
    ///
    /// As [`Setup::load_settings`].
    pub fn load_settings_warned(&self, ui: Ui) -> Result<Settings, Error> {
        let settings = self.load_settings()?;
        for warning in &settings.warnings {
            ui.warn(warning);
        }
        Ok(settings)
    }

    /// The settings for a command that can do without them: the file
    /// given, else `./settings.ini` when it loads.
    ///
    /// # Errors
    ///
    /// A settings file given that cannot be read or is invalid.
    pub fn optional_settings(&self) -> Result<Option<Settings>, Error> {
        match &self.settings {
            Some(_) => self.load_settings().map(Some),
            None => Ok(self.load_settings().ok()),
        }
    }

    /// The plugins on the search path: the folders given, then those of
    /// the environment and `settings`; files that are not usable plugins
    /// are warned about, one line each.
    pub fn discover_plugins(&self, settings: Option<&Settings>, ui: Ui) -> Registry {
        let settings_dirs = settings
            .map(|s| s.plugin_dirs.as_slice())
            .unwrap_or_default();
        let registry = Registry::discover(&SearchPath::new(&self.plugin_dirs, settings_dirs));
        for warning in registry.warnings() {
            ui.warn(&warning);
        }
        registry
    }

    /// `-c SETTINGS --plugins-dir DIR...`, as a command line gives them.
    fn arguments(&self) -> Vec<String> {
        let mut arguments = vec!["-c".to_owned(), shown(self.settings_path())];
        for dir in &self.plugin_dirs {
            arguments.extend(["--plugins-dir".to_owned(), shown(dir)]);
        }
        arguments
    }
}

/// `gnbr backup`: a running GeoNode into one archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRequest {
    /// Settings and plugins.
    pub setup: Setup,
    /// Folder to write the archive into (created if missing).
    pub backup_dir: PathBuf,
    /// Accepted as GeoNode's backup accepts it; no archive is ever replaced.
    pub force: bool,
    /// Leave GeoServer out: its data directory, its catalog and the datastore's tables.
    pub skip_geoserver: bool,
    /// Let GeoServer's Backup & Restore skip what it cannot back up
    /// (`BK_BEST_EFFORT`) instead of failing.
    pub ignore_errors: bool,
    /// GeoServer's data directory; `None`: settings.ini `[geoserver] datadir`.
    pub geoserver_data_dir: Option<PathBuf>,
    /// Whether GeoServer's vector data goes in; `None`: settings.ini `dumpvectordata`.
    pub vector_data: Option<bool>,
    /// Whether GeoServer's raster data goes in; `None`: settings.ini `dumprasterdata`.
    pub raster_data: Option<bool>,
    /// Who can open the archive, when it is encrypted (`.zip.age`).
    pub encrypt: Option<EncryptTo>,
}

/// The keys an encrypted backup is written for (`--encrypt`): its age
/// recipients, else the passphrase in `GNBR_PASSPHRASE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptTo {
    /// X25519 recipients (`age1...`), `--recipient`.
    pub recipients: Vec<String>,
    /// A file of recipients, one a line, `--recipients-file`.
    pub recipients_file: Option<PathBuf>,
}

impl BackupRequest {
    /// A backup into `backup_dir`, everything else as settings.ini says.
    pub fn new(setup: Setup, backup_dir: PathBuf) -> Self {
        Self {
            setup,
            backup_dir,
            force: false,
            skip_geoserver: false,
            ignore_errors: false,
            geoserver_data_dir: None,
            vector_data: None,
            raster_data: None,
            encrypt: None,
        }
    }

    /// GeoServer's data directory to back up: the one given, else
    /// settings.ini's; none when GeoServer is skipped.
    pub fn geoserver_data_dir(&self, settings: &Settings) -> Option<PathBuf> {
        if self.skip_geoserver {
            return None;
        }
        self.geoserver_data_dir
            .clone()
            .or_else(|| settings.geoserver.datadir.clone())
    }

    /// What of the data directory goes in: settings.ini's choice, with the
    /// vector and raster data as given.
    pub fn selection(&self, settings: &Settings) -> Selection {
        let defaults = Selection::from_settings(&settings.geoserver);
        Selection {
            raster_data: self.raster_data.unwrap_or(defaults.raster_data),
            vector_data: self.vector_data.unwrap_or(defaults.vector_data),
            ..defaults
        }
    }
}

/// Which backup a restore reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupLocation {
    /// This archive (GeoNode's or gnbr's) or backup folder.
    File(PathBuf),
    /// The newest `.zip` or `.zip.age` archive in this folder or bucket prefix.
    NewestIn(PathBuf),
}

/// The source GeoNode's address and folders, as given; each moved to the
/// target's in the restored data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceGiven {
    /// Its `SITEURL`.
    pub siteurl: Option<String>,
    /// Its `MEDIA_ROOT`.
    pub media_root: Option<String>,
    /// Its `ASSETS_ROOT`.
    pub assets_root: Option<String>,
}

/// `gnbr restore`: a backup into a running GeoNode, all or nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRequest {
    /// Settings and plugins.
    pub setup: Setup,
    /// The backup to restore.
    pub backup: BackupLocation,
    /// Do not ask for confirmation.
    pub force: bool,
    /// Check everything and show what would happen; change nothing.
    pub dry_run: bool,
    /// Do not snapshot the database first nor keep the replaced files.
    pub no_snapshot: bool,
    /// Refuse an archive this target already restored (by its sha256).
    pub with_logs: bool,
    /// What happens to GeoServer.
    pub geoserver: GeoServerChoices,
    /// Import into the existing instance without emptying it (pks moved
    /// past the target's highest ones).
    pub merge: bool,
    /// Restore only the fixtures settings.ini's `apps` lists, and empty only
    /// the tables of their models.
    pub only_listed_fixtures: bool,
    /// Username given to what has no owner; `None`: settings.ini `[migrate]
    /// owner`, else `admin`.
    pub owner: Option<String>,
    /// The backup's GeoNode version; `None`: its manifest, else inferred.
    pub from_version: Option<String>,
    /// Run settings.ini's explicit manglers even if they do not fit the backup.
    pub force_manglers: bool,
    /// The target's public URL, for plugins that rewrite links; `None`:
    /// settings.ini `[migrate] siteurl`, else the target GeoNode's SITEURL.
    pub siteurl: Option<String>,
    /// The source's address and folders; each not given: the backup's
    /// manifest, else settings.ini `[geonode] source_*`.
    pub source: SourceGiven,
    /// Keep the source's address and folders in the restored data as they are.
    pub keep_urls: bool,
}

impl RestoreRequest {
    /// A restore of `backup` that asks for confirmation, takes a snapshot,
    /// and does everything else as settings.ini and the backup say.
    pub fn new(setup: Setup, backup: BackupLocation) -> Self {
        Self {
            setup,
            backup,
            force: false,
            dry_run: false,
            no_snapshot: false,
            with_logs: false,
            geoserver: GeoServerChoices::default(),
            merge: false,
            only_listed_fixtures: false,
            owner: None,
            from_version: None,
            force_manglers: false,
            siteurl: None,
            source: SourceGiven::default(),
            keep_urls: false,
        }
    }

    /// The context the plugins get: the owner and the site's URL as given,
    /// else settings.ini `[migrate]`'s, else `admin` and `target_siteurl`;
    /// pks are not offset.
    ///
    /// # Errors
    ///
    /// When `SOURCE_DATE_EPOCH` is not a number of seconds.
    pub fn context(&self, settings: &Settings, target_siteurl: &str) -> Result<Context, Error> {
        let mut context = run_context(
            settings,
            self.owner.as_deref(),
            self.siteurl.as_deref(),
            None,
            Some(0),
        )?;
        if context.siteurl.is_empty() {
            context.siteurl = target_siteurl.trim_end_matches('/').to_owned();
        }
        Ok(context)
    }

    /// The source's address and folders, to be moved to the target's: each
    /// as given, else as the backup's manifest records it, else settings.ini's
    /// (`[geonode] source_*`; GeoServer's `[geoserver] source_url` after the
    /// manifest's); `None` with `--keep-urls`.
    pub fn source_place(&self, settings: &Settings, manifest: Option<&Manifest>) -> Option<Place> {
        if self.keep_urls {
            return None;
        }
        let site = manifest.and_then(|m| m.site.as_ref());
        let recorded_url = manifest
            .and_then(|m| m.geoserver.as_ref())
            .and_then(|g| g.public_url.clone());
        let pick =
            |given: &Option<String>, recorded: Option<&Option<String>>, ini: &Option<String>| {
                given
                    .clone()
                    .or_else(|| recorded.cloned().flatten())
                    .or_else(|| ini.clone())
            };
        Some(Place {
            siteurl: pick(
                &self.source.siteurl,
                site.map(|s| &s.siteurl),
                &settings.geonode.source_siteurl,
            ),
            geoserver_url: recorded_url.or_else(|| settings.geoserver.source_url.clone()),
            media_root: pick(
                &self.source.media_root,
                site.map(|s| &s.media_root),
                &settings.geonode.source_media_root,
            ),
            assets_root: pick(
                &self.source.assets_root,
                site.map(|s| &s.assets_root),
                &settings.geonode.source_assets_root,
            ),
        })
    }
}

/// `gnbr migrate`: a backup through its plugins into a new backup, offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateRequest {
    /// Settings and plugins.
    pub setup: Setup,
    /// The backup to migrate: a zip archive, a folder, or an `s3://` URL.
    pub backup_file: PathBuf,
    /// Where to write the migrated backup (a `.zip` path, a folder, or
    /// an `s3://` URL of a `.zip` in a bucket);
    /// `None` only in a dry run.
    pub output: Option<PathBuf>,
    /// Offset added to resource pks; `None`: settings.ini `[migrate]
    /// basepk`, else 0.
    pub basepk: Option<i64>,
    /// Username given to what has no owner; `None`: settings.ini `[migrate]
    /// owner`, else `admin`.
    pub owner: Option<String>,
    /// GeoServer store for vector layers; `None`: settings.ini `[migrate]
    /// datastore`, else each layer's own name.
    pub datastore: Option<String>,
    /// The target's public URL; `None`: settings.ini `[migrate] siteurl`.
    pub siteurl: Option<String>,
    /// Pk offsets of single models (`layers.attribute`, 500).
    pub offsets: Vec<(String, i64)>,
    /// Read, check and mangle everything, report, write nothing.
    pub dry_run: bool,
    /// The backup's GeoNode version; `None`: its manifest, else inferred.
    pub from_version: Option<String>,
    /// Run settings.ini's explicit manglers even if they do not fit the backup.
    pub force_manglers: bool,
    /// The GeoNode version to plan a plugin chain to (when settings.ini
    /// names no manglers).
    pub to_version: Option<String>,
    /// Replace the output if it exists.
    pub force: bool,
}

impl MigrateRequest {
    /// The context the plugins get: each value as given, else settings.ini
    /// `[migrate]`'s, else its default (owner `admin`, basepk 0), with the
    /// pk offsets given and settings.ini's facts of the target.
    ///
    /// # Errors
    ///
    /// When `SOURCE_DATE_EPOCH` is not a number of seconds.
    pub fn context(&self, settings: &Settings) -> Result<Context, Error> {
        let mut context = run_context(
            settings,
            self.owner.as_deref(),
            self.siteurl.as_deref(),
            self.datastore.as_deref(),
            self.basepk,
        )?;
        context.offsets = self.offsets.iter().cloned().collect();
        Ok(with_target_options(context, settings))
    }
}

/// `gnbr plan`: the plugin chain a backup needs, without running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRequest {
    /// Settings and plugins.
    pub setup: Setup,
    /// The backup: a zip archive or a folder.
    pub backup_file: PathBuf,
    /// The backup's GeoNode version; `None`: its manifest, else inferred.
    pub from_version: Option<String>,
    /// Run settings.ini's explicit manglers even if they do not fit the backup.
    pub force_manglers: bool,
    /// The GeoNode version to reach; `None`: the target's, read through
    /// settings.ini `[geonode]`.
    pub to_version: Option<String>,
}

impl PlanRequest {
    /// The context the plugins would get: settings.ini `[migrate]`'s
    /// values, else their defaults.
    ///
    /// # Errors
    ///
    /// When `SOURCE_DATE_EPOCH` is not a number of seconds.
    pub fn context(&self, settings: &Settings) -> Result<Context, Error> {
        run_context(settings, None, None, None, None)
    }
}

/// `gnbr verify`: whether a backup would restore, checked without touching
/// any GeoNode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRequest {
    /// Settings and plugins.
    pub setup: Setup,
    /// The backup: a zip archive or a folder.
    pub backup_file: PathBuf,
    /// The backup's GeoNode version; `None`: its manifest, else inferred.
    pub from_version: Option<String>,
    /// The GeoNode version the fixtures are carried to; `None`: the
    /// target's, read through settings.ini `[geonode]` when it names one.
    pub to_version: Option<String>,
    /// Also restore the backup into a throwaway database on the target's
    /// PostgreSQL, dropped afterwards.
    pub restore_check: bool,
}

impl VerifyRequest {
    /// The context the plugins get, as for a migration: settings.ini
    /// `[migrate]`'s values, else their defaults, and its facts of the target.
    ///
    /// # Errors
    ///
    /// When `SOURCE_DATE_EPOCH` is not a number of seconds.
    pub fn context(&self, settings: &Settings) -> Result<Context, Error> {
        Ok(with_target_options(
            run_context(settings, None, None, None, None)?,
            settings,
        ))
    }
}

/// `gnbr backups list`: the archives of a backup folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupsListRequest {
    /// Settings (`[storage]`, for a bucket), when there are.
    pub setup: Setup,
    /// The folder, or a bucket's prefix (`s3://bucket/prefix`).
    pub backup_dir: PathBuf,
    /// Also hash each archive against its `.md5` sidecar.
    pub check: bool,
}

/// `gnbr prune`: the archives of a backup folder that a retention policy
/// does not keep, removed with their sidecars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneRequest {
    /// Settings (`[storage]`, for a bucket), when there are.
    pub setup: Setup,
    /// The folder, or a bucket's prefix (`s3://bucket/prefix`).
    pub backup_dir: PathBuf,
    /// What to keep.
    pub policy: KeepPolicy,
    /// Report what would be removed; remove nothing.
    pub dry_run: bool,
}

/// `gnbr check`: what gnbr finds of the target, the tools and the plugins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRequest {
    /// Settings and plugins.
    pub setup: Setup,
}

/// `gnbr plugins ...`: what is asked of the plugins found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginsRequest {
    /// Settings (when there are) and plugins.
    pub setup: Setup,
    /// What to do.
    pub action: PluginsAction,
}

/// One `gnbr plugins` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginsAction {
    /// List the plugins found.
    List,
    /// Show everything the plugin of this name declares.
    Inspect(String),
    /// Run a folder of golden cases against a plugin.
    Test {
        /// The plugin's name.
        name: String,
        /// The folder of cases (each a sub-folder holding `case.json`).
        cases: PathBuf,
        /// Write the actual output as the expected output.
        bless: bool,
    },
}

/// `gnbr serve`: the admin web page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeRequest {
    /// Settings and plugins, for the page and the runs it starts.
    pub setup: Setup,
    /// Address to listen on.
    pub listen: SocketAddr,
}

/// A request as the command line that asks for it (see [`command_line`]).
pub trait CommandLine {
    /// Its settings and plugins.
    fn setup(&self) -> &Setup;
    /// The command and its arguments, unquoted (`restore --backup-file A -f`).
    fn arguments(&self) -> Vec<String>;
}

/// The command line that asks for `request`, every argument shell-quoted:
/// `gnbr -c settings.ini backup --backup-dir '/srv/my backups'`.
pub fn command_line(request: &impl CommandLine) -> String {
    std::iter::once("gnbr".to_owned())
        .chain(request.setup().arguments())
        .chain(request.arguments())
        .map(|argument| shell_quoted(&argument))
        .collect::<Vec<_>>()
        .join(" ")
}

impl CommandLine for BackupRequest {
    fn setup(&self) -> &Setup {
        &self.setup
    }

    fn arguments(&self) -> Vec<String> {
        let mut arguments = vec![
            "backup".to_owned(),
            "--backup-dir".to_owned(),
            shown(&self.backup_dir),
        ];
        flags(
            &mut arguments,
            &[
                (self.force, "-f"),
                (self.skip_geoserver, "--skip-geoserver"),
                (self.ignore_errors, "-i"),
            ],
        );
        if let Some(dir) = &self.geoserver_data_dir {
            arguments.extend(["--geoserver-data-dir".to_owned(), shown(dir)]);
        }
        for (given, name) in [
            (self.vector_data, "geoserver-vector-data"),
            (self.raster_data, "geoserver-raster-data"),
        ] {
            match given {
                Some(true) => arguments.push(format!("--{name}")),
                Some(false) => arguments.push(format!("--no-{name}")),
                None => {}
            }
        }
        if let Some(encrypt) = &self.encrypt {
            arguments.push("--encrypt".to_owned());
            for recipient in &encrypt.recipients {
                arguments.extend(["--recipient".to_owned(), recipient.clone()]);
            }
            if let Some(file) = &encrypt.recipients_file {
                arguments.extend(["--recipients-file".to_owned(), shown(file)]);
            }
        }
        arguments
    }
}

impl CommandLine for RestoreRequest {
    fn setup(&self) -> &Setup {
        &self.setup
    }

    fn arguments(&self) -> Vec<String> {
        let mut arguments = vec!["restore".to_owned()];
        match &self.backup {
            BackupLocation::File(file) => {
                arguments.extend(["--backup-file".to_owned(), shown(file)]);
            }
            BackupLocation::NewestIn(dir) => {
                arguments.extend(["--backup-files-dir".to_owned(), shown(dir)]);
            }
        }
        flags(
            &mut arguments,
            &[
                (self.force, "-f"),
                (self.dry_run, "--dry-run"),
                (self.no_snapshot, "--no-snapshot"),
                (self.with_logs, "-l"),
                (self.geoserver.skip, "--skip-geoserver"),
                (self.geoserver.soft_reset, "--soft-reset"),
            ],
        );
        let recovery = self.geoserver.recovery_file.as_deref().map(shown);
        options(&mut arguments, &[("--recovery-file", &recovery)]);
        flags(
            &mut arguments,
            &[
                (self.merge, "--merge"),
                (self.only_listed_fixtures, "--only-listed-fixtures"),
            ],
        );
        options(
            &mut arguments,
            &[
                ("--owner", &self.owner),
                ("--from-version", &self.from_version),
            ],
        );
        flags(&mut arguments, &[(self.force_manglers, "--force-manglers")]);
        options(
            &mut arguments,
            &[
                ("--siteurl", &self.siteurl),
                ("--source-siteurl", &self.source.siteurl),
                ("--source-media-root", &self.source.media_root),
                ("--source-assets-root", &self.source.assets_root),
            ],
        );
        flags(&mut arguments, &[(self.keep_urls, "--keep-urls")]);
        arguments
    }
}

/// Adds each flag that is on.
fn flags(arguments: &mut Vec<String>, flags: &[(bool, &str)]) {
    arguments.extend(
        flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, flag)| (*flag).to_owned()),
    );
}

/// Adds each option given, with its value.
fn options(arguments: &mut Vec<String>, options: &[(&str, &Option<String>)]) {
    for (option, value) in options {
        if let Some(value) = value {
            arguments.extend([(*option).to_owned(), value.clone()]);
        }
    }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// `argument` as a POSIX shell reads it back: as it is when it holds only
/// characters no shell treats specially, else in single quotes.
fn shell_quoted(argument: &str) -> String {
    let plain = !argument.is_empty()
        && argument
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        argument.to_owned()
    } else {
        format!("'{}'", argument.replace('\'', r"'\''"))
    }
}

/// The context every run starts from: each value given, else settings.ini
/// `[migrate]`'s, else its default (owner `admin`, basepk 0).
fn run_context(
    settings: &Settings,
    owner: Option<&str>,
    siteurl: Option<&str>,
    datastore: Option<&str>,
    basepk: Option<i64>,
) -> Result<Context, Error> {
    let run = &settings.run;
    let pick = |given: Option<&str>, set: &Option<String>| {
        given.map(str::to_owned).or_else(|| set.clone())
    };
    Ok(Context {
        basepk: basepk.or(run.basepk).unwrap_or(0),
        owner: pick(owner, &run.owner).unwrap_or_else(|| "admin".to_owned()),
        datastore: pick(datastore, &run.datastore).unwrap_or_default(),
        siteurl: pick(siteurl, &run.siteurl)
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned(),
        timestamp: crate::time::format_utc(crate::time::run_epoch()?),
        ..Context::default()
    })
}

/// `context` with what settings.ini says of the target for runs that have
/// no target to ask (`[migrate]`'s target options, `[geonode]
/// source_media_root`).
fn with_target_options(mut context: Context, settings: &Settings) -> Context {
    context
        .options
        .extend(settings.run.target_options.iter().cloned());
    if let Some(root) = &settings.geonode.source_media_root {
        context
            .options
            .insert("source_media_root".to_owned(), root.clone());
    }
    context
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{shell_quoted, BackupLocation, BackupRequest, RestoreRequest, Setup};
    use crate::{
        archive::{GeoServerSource, Manifest, SiteSource},
        config::Settings,
    };

    fn settings(text: &str) -> Settings {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.ini");
        std::fs::write(
            &path,
            format!("[fixtures]\napps = base\ndumps = base\n{text}"),
        )
        .unwrap();
        Settings::load(&path).unwrap()
    }

    fn restore() -> RestoreRequest {
        RestoreRequest::new(
            Setup::default(),
            BackupLocation::File(PathBuf::from("a.zip")),
        )
    }

    #[test]
    fn the_source_is_as_given_else_as_recorded_else_as_settings_say() {
        let settings = settings(
            "[geonode]\nsource_siteurl = http://ini.example\nsource_media_root = /ini/media\nsource_assets_root = /ini/assets\n[geoserver]\nsource_url = http://ini.example/geoserver\n",
        );
        let manifest = Manifest {
            site: Some(SiteSource {
                siteurl: Some("http://recorded.example".to_owned()),
                media_root: None,
                assets_root: Some("/recorded/assets".to_owned()),
            }),
            geoserver: Some(GeoServerSource {
                public_url: Some("http://recorded.example/geoserver".to_owned()),
                ..GeoServerSource::default()
            }),
            ..Manifest::default()
        };
        let mut request = restore();
        request.source.assets_root = Some("/given/assets".to_owned());
        let place = request.source_place(&settings, Some(&manifest)).unwrap();
        assert_eq!(place.siteurl.as_deref(), Some("http://recorded.example"));
        assert_eq!(place.media_root.as_deref(), Some("/ini/media"));
        assert_eq!(place.assets_root.as_deref(), Some("/given/assets"));
        assert_eq!(
            place.geoserver_url.as_deref(),
            Some("http://recorded.example/geoserver")
        );
        let place = request.source_place(&settings, None).unwrap();
        assert_eq!(place.siteurl.as_deref(), Some("http://ini.example"));
        assert_eq!(
            place.geoserver_url.as_deref(),
            Some("http://ini.example/geoserver")
        );
        request.keep_urls = true;
        assert_eq!(request.source_place(&settings, Some(&manifest)), None);
    }

    #[test]
    fn the_owner_and_siteurl_are_as_given_else_as_settings_say_else_the_targets() {
        let plain = settings("");
        let set = settings("[migrate]\nowner = keeper\nsiteurl = https://ini.example/\n");
        let mut request = restore();
        let context = request.context(&plain, "https://target.example/").unwrap();
        assert_eq!(
            (context.owner.as_str(), context.siteurl.as_str()),
            ("admin", "https://target.example")
        );
        let context = request.context(&set, "https://target.example/").unwrap();
        assert_eq!(
            (context.owner.as_str(), context.siteurl.as_str()),
            ("keeper", "https://ini.example")
        );
        request.owner = Some("given".to_owned());
        request.siteurl = Some("https://given.example".to_owned());
        let context = request.context(&set, "https://target.example/").unwrap();
        assert_eq!(
            (context.owner.as_str(), context.siteurl.as_str()),
            ("given", "https://given.example")
        );
    }

    #[test]
    fn geoserver_data_is_as_given_else_as_settings_say() {
        let settings =
            settings("[geoserver]\ndatadir = /ini/gs\ndumpvectordata = no\ndumprasterdata = yes\n");
        let mut request = BackupRequest::new(Setup::default(), PathBuf::from("out"));
        let selection = request.selection(&settings);
        assert!(!selection.vector_data && selection.raster_data);
        assert_eq!(
            request.geoserver_data_dir(&settings),
            Some(PathBuf::from("/ini/gs"))
        );
        request.vector_data = Some(true);
        request.raster_data = Some(false);
        request.geoserver_data_dir = Some(PathBuf::from("/given/gs"));
        let selection = request.selection(&settings);
        assert!(selection.vector_data && !selection.raster_data);
        assert_eq!(
            request.geoserver_data_dir(&settings),
            Some(PathBuf::from("/given/gs"))
        );
        request.skip_geoserver = true;
        assert_eq!(request.geoserver_data_dir(&settings), None);
    }

    #[test]
    fn arguments_are_quoted_only_when_a_shell_would_split_or_expand_them() {
        for (argument, quoted) in [
            (
                "/srv/backups/2026-01-02_030405.zip",
                "/srv/backups/2026-01-02_030405.zip",
            ),
            ("/srv/my backups", "'/srv/my backups'"),
            ("it's", r"'it'\''s'"),
            ("$HOME", "'$HOME'"),
            ("", "''"),
        ] {
            assert_eq!(shell_quoted(argument), quoted);
        }
    }
}
