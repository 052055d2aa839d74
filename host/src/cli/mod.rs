//! The command line, as clap parses it, and the requests it makes
//! ([`convert`]); no logic beyond parsing.

mod convert;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Back up, restore and migrate GeoNode instances.
///
/// Exit codes: 0 success, 1 run failed, 2 usage or settings error, 3 plugin
/// problem, 4 damaged or malformed backup, 5 target not ready, 6 refused,
/// 7 golden cases failed.
#[derive(Debug, Parser)]
#[command(name = "gnbr", version, max_term_width = 100)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Settings file [default: ./settings.ini].
    ///
    /// GeoNode's br settings format: [database], [geoserver], [fixtures], plus
    /// gnbr's [plugins] and [migrate].
    #[arg(
        short = 'c',
        long = "config",
        value_name = "SETTINGS_INI",
        global = true
    )]
    pub config: Option<PathBuf>,

    /// Folder to search for plugins first (repeatable).
    ///
    /// Then GNBR_PLUGINS, settings.ini [plugins] dirs, the repository's
    /// plugins/, and the gnbr executable's folder.
    #[arg(long = "plugins-dir", value_name = "DIR", global = true)]
    pub plugins_dirs: Vec<PathBuf>,

    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "json")]
    pub quiet: bool,

    /// Print the result as JSON on stdout (errors too), for scripts.
    #[arg(long, global = true)]
    pub json: bool,

    /// The most bytes one fixture object may take: a larger one is refused,
    /// naming it (e.g. 268435456, 512MiB, 1GiB) [default: 256MiB].
    #[arg(
        long,
        value_name = "SIZE",
        env = "GNBR_MAX_OBJECT_SIZE",
        value_parser = crate::fixtures::parse_size,
        global = true
    )]
    pub max_object_size: Option<usize>,

    /// The age identity file (or unencrypted ssh private key) that opens
    /// encrypted archives (`.zip.age`) encrypted to its recipients; a
    /// passphrase-encrypted archive is opened with GNBR_PASSPHRASE instead.
    #[arg(long, value_name = "FILE", env = "GNBR_IDENTITY_FILE", global = true)]
    pub identity: Option<PathBuf>,

    /// More log output (-v info, -vv debug); GNBR_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// gnbr's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate a backup offline: every fixture through its manglers, into a new backup.
    Migrate(MigrateArgs),
    /// Back up a running GeoNode into one zip archive GeoNode's own restore can read.
    Backup(BackupArgs),
    /// Restore a backup into a running GeoNode, all or nothing.
    Restore(RestoreArgs),
    /// Report what gnbr finds: the target GeoNode, its database, the tools, the plugins.
    Check,
    /// Show the plugin chain a backup needs to reach a GeoNode version.
    Plan(PlanArgs),
    /// Check that a backup would restore: checksums, fixtures through their plugins, tables, GeoServer.
    Verify(VerifyArgs),
    /// List the backup archives of a folder: date, GeoNode version, size, checksum.
    #[command(subcommand)]
    Backups(BackupsCommand),
    /// Remove the archives of a folder that no --keep-* rule keeps, with their sidecars.
    Prune(PruneArgs),
    /// Serve the admin web page for backups and restores (loopback by default).
    Serve(ServeArgs),
    /// List, inspect and test mangler plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Loads one plugin file and prints whether it loads (internal: gnbr runs
    /// it in a child process before it loads a plugin itself).
    #[command(name = crate::plugins::probe::PROBE_COMMAND, hide = true)]
    ProbePlugin {
        /// The library file.
        path: PathBuf,
    },
}

/// `gnbr migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// The backup to migrate: a zip archive, a folder, or an archive in a
    /// bucket (s3://BUCKET/PREFIX/NAME.zip, settings [storage]).
    #[arg(long, value_name = "IN")]
    pub backup_file: PathBuf,

    /// Where to write the migrated backup: a path ending in .zip, a folder,
    /// or an archive in a bucket (s3://BUCKET/PREFIX/NAME.zip, settings
    /// [storage]), streamed up with its .md5 and .ini, never replaced.
    #[arg(long, value_name = "OUT", required_unless_present = "dry_run")]
    pub output: Option<PathBuf>,

    /// Offset added to resource pks [default: settings [migrate] basepk, else 0].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub basepk: Option<i64>,

    /// Username given to what has no owner [default: settings, else admin].
    #[arg(long, value_name = "USERNAME")]
    pub owner: Option<String>,

    /// GeoServer store for vector layers [default: each layer's own name].
    #[arg(long, value_name = "STORE")]
    pub datastore: Option<String>,

    /// The target's public URL, e.g. https://geonode.example.org.
    #[arg(long, value_name = "URL")]
    pub siteurl: Option<String>,

    /// Pk offset for one model, e.g. layers.attribute=500 (repeatable).
    #[arg(long = "offset", value_name = "MODEL=N", value_parser = parse_offset)]
    pub offsets: Vec<(String, i64)>,

    /// Read, check and mangle everything, report, write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// The backup's GeoNode version [default: its manifest, else inferred].
    ///
    /// Inferred from what the archive holds (models, fields, content types,
    /// layout): one release line, or a range of lines when the evidence
    /// fits several. A range whose lines need different plugin chains is
    /// an error that asks for this flag.
    #[arg(long, value_name = "VERSION")]
    pub from_version: Option<String>,

    /// Run settings.ini's explicit manglers even if they do not fit the backup.
    ///
    /// Without it, a `[fixtures] manglers` entry whose plugin's `from`
    /// does not fit the backup's GeoNode version (given, recorded, or what
    /// its fixtures show) is refused before anything is touched.
    #[arg(long)]
    pub force_manglers: bool,

    /// Plan a plugin chain to this GeoNode version (when settings.ini names no manglers).
    #[arg(long, value_name = "VERSION")]
    pub to_version: Option<String>,

    /// Replace OUT if it exists.
    #[arg(short, long)]
    pub force: bool,
}

/// `gnbr backup`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Folder to write the archive into (created if missing), or a bucket's
    /// prefix (s3://BUCKET/PREFIX, settings [storage]: streamed up as a
    /// multipart upload); it is named by the time, `YYYY-MM-DD_HHMMSS.zip`,
    /// with `.md5` and `.ini` beside it, or `YYYY-MM-DD_HHMMSS_2.zip`
    /// (`_3`...) when that name is taken.
    #[arg(long, value_name = "DIR")]
    pub backup_dir: PathBuf,

    /// Accepted as GeoNode's backup accepts it; no archive is ever replaced
    /// (a name taken gets the next free `_2`, `_3`...).
    #[arg(short, long)]
    pub force: bool,

    /// Leave GeoServer out: its data directory, its catalog and the datastore's tables.
    #[arg(long)]
    pub skip_geoserver: bool,

    /// Let GeoServer's Backup & Restore skip what it cannot back up
    /// (BK_BEST_EFFORT) instead of failing.
    #[arg(short = 'i', long)]
    pub ignore_errors: bool,

    /// GeoServer's data directory [default: settings [geoserver] datadir].
    #[arg(long, value_name = "DIR")]
    pub geoserver_data_dir: Option<PathBuf>,

    /// Include GeoServer's vector data [default: settings dumpvectordata].
    #[arg(long, overrides_with = "no_geoserver_vector_data")]
    pub geoserver_vector_data: bool,

    /// Leave GeoServer's vector data out.
    #[arg(long, overrides_with = "geoserver_vector_data")]
    pub no_geoserver_vector_data: bool,

    /// Include GeoServer's raster data [default: settings dumprasterdata].
    #[arg(long, overrides_with = "no_geoserver_raster_data")]
    pub geoserver_raster_data: bool,

    /// Leave GeoServer's raster data out.
    #[arg(long, overrides_with = "geoserver_raster_data")]
    pub no_geoserver_raster_data: bool,

    /// Encrypt the archive with age as it is written (`YYYY-MM-DD_HHMMSS.zip.age`):
    /// to the recipients given, else with the passphrase in GNBR_PASSPHRASE.
    #[arg(long)]
    pub encrypt: bool,

    /// A recipient who can open the encrypted archive, as the age CLI takes
    /// them: age1..., or an ssh public key ("ssh-ed25519 AAAA...",
    /// "ssh-rsa AAAA..."); repeatable.
    #[arg(long, value_name = "RECIPIENT", requires = "encrypt")]
    pub recipient: Vec<String>,

    /// A file of recipients (age1... or ssh public keys), one a line (as `age -R` reads it).
    #[arg(long, value_name = "FILE", requires = "encrypt")]
    pub recipients_file: Option<PathBuf>,
}

/// `gnbr restore`.
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// The backup to restore: a zip archive (GeoNode's or gnbr's), a folder,
    /// or an archive in a bucket (s3://BUCKET/PREFIX/NAME.zip, settings [storage]).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "backup_files_dir",
        conflicts_with = "backup_files_dir"
    )]
    pub backup_file: Option<PathBuf>,

    /// Restore the newest .zip (or encrypted .zip.age) archive in this
    /// folder, or in this bucket prefix (s3://BUCKET/PREFIX): the last
    /// modified, not looking into sub-folders.
    #[arg(long, value_name = "DIR")]
    pub backup_files_dir: Option<PathBuf>,

    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,

    /// Check everything and show what would happen; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not snapshot the database first (pg_dump -Fc) nor keep the replaced files.
    #[arg(long)]
    pub no_snapshot: bool,

    /// Refuse an archive this target already restored (by its sha256).
    #[arg(short = 'l', long)]
    pub with_logs: bool,

    /// Leave GeoServer as it is: its data directory, its catalog and the datastore's tables.
    #[arg(long)]
    pub skip_geoserver: bool,

    /// Keep the datastore's existing tables (restore only those it lacks)
    /// and GeoServer's existing catalog objects (no BK_PURGE_RESOURCES).
    #[arg(long)]
    pub soft_reset: bool,

    /// Archive (gnbr's or GeoNode's) to put GeoServer's catalog back from
    /// when GeoServer fails to restore it [default: a catalog backup gnbr
    /// takes first, unless --no-snapshot].
    #[arg(long, value_name = "ARCHIVE")]
    pub recovery_file: Option<PathBuf>,

    /// Import into the existing instance without emptying it: pks are moved
    /// past the target's highest ones, and the load is refused if any row would be overwritten.
    #[arg(long)]
    pub merge: bool,

    /// Restore only the fixtures settings.ini's `apps` lists, and empty only
    /// the tables of their models; every other table is kept.
    ///
    /// Without it, a restore replaces the whole database, so an archive
    /// holding a fixture that `apps` does not list is refused. With it, such
    /// fixtures are skipped, and the load is refused if a kept row would
    /// point at a row that the restored fixtures no longer hold.
    #[arg(long, conflicts_with = "merge")]
    pub only_listed_fixtures: bool,

    /// Username given to what has no owner [default: settings, else admin].
    #[arg(long, value_name = "USERNAME")]
    pub owner: Option<String>,

    /// The backup's GeoNode version [default: its manifest, else inferred].
    ///
    /// Inferred from what the archive holds (models, fields, content types,
    /// layout): one release line, or a range of lines when the evidence
    /// fits several. A range whose lines need different plugin chains is
    /// an error that asks for this flag.
    #[arg(long, value_name = "VERSION")]
    pub from_version: Option<String>,

    /// Run settings.ini's explicit manglers even if they do not fit the backup.
    ///
    /// Without it, a `[fixtures] manglers` entry whose plugin's `from`
    /// does not fit the backup's GeoNode version (given, recorded, or what
    /// its fixtures show) is refused before anything is touched.
    #[arg(long)]
    pub force_manglers: bool,

    /// The target's public URL, for plugins that rewrite links (default:
    /// settings.ini `[migrate] siteurl`, else the target GeoNode's SITEURL).
    #[arg(long, value_name = "URL")]
    pub siteurl: Option<String>,

    /// The source GeoNode's SITEURL, moved to the target's in the restored
    /// data [default: the manifest, else settings.ini `[geonode] source_siteurl`].
    #[arg(long, value_name = "URL")]
    pub source_siteurl: Option<String>,

    /// The source's MEDIA_ROOT, moved to the target's [default: the
    /// manifest, else settings.ini `[geonode] source_media_root`].
    #[arg(long, value_name = "DIR")]
    pub source_media_root: Option<String>,

    /// The source's ASSETS_ROOT, moved to the target's [default: the
    /// manifest, else settings.ini `[geonode] source_assets_root`].
    #[arg(long, value_name = "DIR")]
    pub source_assets_root: Option<String>,

    /// Keep the source's address and folders in the restored data as they
    /// are (no move to the target's SITEURL, MEDIA_ROOT, ASSETS_ROOT).
    #[arg(long)]
    pub keep_urls: bool,
}

/// `gnbr serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; keep it on loopback unless a proxy with TLS is in front.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
}

/// `gnbr plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// The backup: a zip archive, a folder, or an archive in a bucket
    /// (s3://BUCKET/PREFIX/NAME.zip, settings [storage]).
    #[arg(long, value_name = "FILE")]
    pub backup_file: PathBuf,

    /// The backup's GeoNode version [default: its manifest, else inferred].
    ///
    /// Inferred from what the archive holds (models, fields, content types,
    /// layout): one release line, or a range of lines when the evidence
    /// fits several. A range whose lines need different plugin chains is
    /// an error that asks for this flag.
    #[arg(long, value_name = "VERSION")]
    pub from_version: Option<String>,

    /// Run settings.ini's explicit manglers even if they do not fit the backup.
    ///
    /// Without it, a `[fixtures] manglers` entry whose plugin's `from`
    /// does not fit the backup's GeoNode version (given, recorded, or what
    /// its fixtures show) is refused before anything is touched.
    #[arg(long)]
    pub force_manglers: bool,

    /// The GeoNode version to reach [default: the target's, from settings [geonode]].
    #[arg(long, value_name = "VERSION")]
    pub to_version: Option<String>,
}

/// `gnbr verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The backup: a zip archive (with its .md5 beside it, when there is one),
    /// a folder, or an archive in a bucket (s3://BUCKET/PREFIX/NAME.zip, settings [storage]).
    #[arg(value_name = "ARCHIVE")]
    pub backup_file: PathBuf,

    /// The GeoNode version to carry the fixtures to [default: the target's,
    /// from settings [geonode]; else none: the fixtures are only parsed].
    #[arg(long = "to", visible_alias = "to-version", value_name = "VERSION")]
    pub to_version: Option<String>,

    /// The backup's GeoNode version [default: its manifest, else inferred].
    #[arg(long, value_name = "VERSION")]
    pub from_version: Option<String>,

    /// Also restore the backup into a throwaway database on the target's
    /// PostgreSQL and compare its row counts, then drop it.
    ///
    /// The database is new (`gnbr_verify_*`, the target's schema copied into
    /// it) and dropped at the end, also on failure or SIGINT; the target's
    /// database, folders, datastore and GeoServer are not touched, and the
    /// backup's folders and datastore tables are checked without being restored.
    #[arg(long)]
    pub restore_check: bool,
}

/// `gnbr backups ...`.
#[derive(Debug, Subcommand)]
pub enum BackupsCommand {
    /// One row per `.zip` file of the folder: its date (UTC), source GeoNode
    /// version, size, encryption, checksum, and why it cannot be read, if not.
    List(BackupsListArgs),
}

/// `gnbr backups list`.
#[derive(Debug, Clone, Args)]
pub struct BackupsListArgs {
    /// The folder `gnbr backup` (or GeoNode's backup) writes into, or a
    /// bucket's prefix (s3://BUCKET/PREFIX, settings [storage]).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub backup_dir: PathBuf,

    /// Also read every archive whole and compare it with its `.md5`
    /// sidecar (exit code 4 when one does not match).
    #[arg(long)]
    pub check: bool,
}

/// `gnbr prune`.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// The folder `gnbr backup` writes into, or a bucket's prefix
    /// (s3://BUCKET/PREFIX, settings [storage]).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub backup_dir: PathBuf,

    /// Keep the newest N archives.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_last: u32,

    /// Keep the newest archive of each of the last N days that have one (UTC).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_daily: u32,

    /// Keep the newest archive of each of the last N ISO weeks that have one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_weekly: u32,

    /// Keep the newest archive of each of the last N months that have one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_monthly: u32,

    /// Show what would be kept and removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `gnbr plugins ...`.
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List the plugins found: name, version, from -> to, manglers, file.
    List,
    /// Show everything a plugin declares.
    Inspect {
        /// The plugin's name.
        name: String,
    },
    /// Run a folder of golden cases against a plugin.
    Test {
        /// The plugin's name.
        name: String,
        /// The folder of cases (each a sub-folder holding case.json).
        #[arg(long, value_name = "DIR")]
        cases: PathBuf,
        /// Write the actual output as the expected output.
        #[arg(long)]
        bless: bool,
    },
}

fn parse_offset(value: &str) -> Result<(String, i64), String> {
    let (model, offset) = value
        .split_once('=')
        .ok_or_else(|| format!("`{value}` is not MODEL=N"))?;
    if !model.contains('.') {
        return Err(format!("`{model}` is not app_label.model_name"));
    }
    let offset = offset
        .parse()
        .map_err(|_| format!("`{offset}` is not an integer"))?;
    Ok((model.to_owned(), offset))
}

#[cfg(test)]
mod tests {
    use clap::{error::ErrorKind, Parser};

    use super::Cli;

    #[test]
    fn valid_command_lines_parse() {
        for line in [
            "gnbr migrate --backup-file a.zip --output b.zip",
            "gnbr migrate --backup-file a --dry-run",
            "gnbr -c s.ini migrate --backup-file a --output b --basepk -1 --offset layers.attribute=5 --offset maps.maplayer=0",
            "gnbr plugins list --json",
            "gnbr plugins inspect gn20_to_24 --plugins-dir x --plugins-dir y",
            "gnbr plugins test gn20_to_24 --cases dir --bless",
            "gnbr restore --backup-file a.zip -f --no-snapshot -l",
            "gnbr restore --backup-files-dir dir --dry-run --merge",
            "gnbr -c s.ini check --json",
            "gnbr backup --backup-dir out -f --skip-geoserver --no-geoserver-vector-data",
            "gnbr plan --backup-file a.zip --from-version 4.4 --to-version 5.1",
            "gnbr serve --listen 127.0.0.1:9000",
            "gnbr verify a.zip",
            "gnbr -c s.ini verify a.zip --to 5.1 --restore-check --json",
            "gnbr verify dir --to-version 4.4 --from-version 3.3",
            "gnbr backups list",
            "gnbr backups list --backup-dir dir --check --json",
            "gnbr prune --keep-last 3 --keep-daily 7 --keep-weekly 4 --keep-monthly 12",
            "gnbr prune --backup-dir dir --keep-daily 7 --dry-run --json",
        ] {
            Cli::try_parse_from(line.split(' ')).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }

    #[test]
    fn invalid_command_lines_fail() {
        for (line, kind) in [
            (
                "gnbr migrate --backup-file a",
                ErrorKind::MissingRequiredArgument,
            ),
            (
                "gnbr migrate --backup-file a --output b --offset x=1",
                ErrorKind::ValueValidation,
            ),
            (
                "gnbr migrate --backup-file a --output b --offset a.b=x",
                ErrorKind::ValueValidation,
            ),
            (
                "gnbr --quiet --json plugins list",
                ErrorKind::ArgumentConflict,
            ),
            ("gnbr plugins test x", ErrorKind::MissingRequiredArgument),
            ("gnbr restore", ErrorKind::MissingRequiredArgument),
            ("gnbr verify", ErrorKind::MissingRequiredArgument),
            ("gnbr prune --keep-last=-1", ErrorKind::ValueValidation),
            ("gnbr prune --keep-daily x", ErrorKind::ValueValidation),
            (
                "gnbr backups",
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand,
            ),
            (
                "gnbr restore --backup-file a --backup-files-dir b",
                ErrorKind::ArgumentConflict,
            ),
        ] {
            let err = Cli::try_parse_from(line.split(' ')).expect_err(line);
            assert_eq!(err.kind(), kind, "{line}");
        }
    }
}
