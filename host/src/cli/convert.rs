//! The parsed command line turned into the requests the commands take
//! ([`crate::requests`]): clap stops here.

use super::{
    BackupArgs, BackupsListArgs, GlobalArgs, MigrateArgs, PlanArgs, PluginsCommand, PruneArgs,
    RestoreArgs, ServeArgs, VerifyArgs,
};
use crate::{
    geoserver::restore::GeoServerChoices,
    requests::{
        BackupLocation, BackupRequest, BackupsListRequest, CheckRequest, EncryptTo, MigrateRequest,
        PlanRequest, PluginsAction, PluginsRequest, PruneRequest, RestoreRequest, ServeRequest,
        Setup, SourceGiven, VerifyRequest,
    },
    retention::KeepPolicy,
};

impl GlobalArgs {
    /// The settings file and plugin folders given.
    pub fn setup(&self) -> Setup {
        Setup {
            settings: self.config.clone(),
            plugin_dirs: self.plugins_dirs.clone(),
        }
    }

    /// `gnbr check`.
    pub fn check_request(&self) -> CheckRequest {
        CheckRequest {
            setup: self.setup(),
        }
    }
}

/// A flag and its `--no-` twin (the last given wins): `None` when neither is given.
fn either(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (_, true) => Some(false),
        (true, false) => Some(true),
        (false, false) => None,
    }
}

impl BackupArgs {
    /// The request these arguments make.
    pub fn request(&self, setup: Setup) -> BackupRequest {
        BackupRequest {
            setup,
            backup_dir: self.backup_dir.clone(),
            force: self.force,
            skip_geoserver: self.skip_geoserver,
            ignore_errors: self.ignore_errors,
            geoserver_data_dir: self.geoserver_data_dir.clone(),
            vector_data: either(self.geoserver_vector_data, self.no_geoserver_vector_data),
            raster_data: either(self.geoserver_raster_data, self.no_geoserver_raster_data),
            encrypt: self.encrypt.then(|| EncryptTo {
                recipients: self.recipient.clone(),
                recipients_file: self.recipients_file.clone(),
            }),
        }
    }
}

impl RestoreArgs {
    /// The request these arguments make.
    pub fn request(&self, setup: Setup) -> RestoreRequest {
        let backup = match &self.backup_file {
            Some(file) => BackupLocation::File(file.clone()),
            None => BackupLocation::NewestIn(
                self.backup_files_dir
                    .clone()
                    .expect("clap requires one of the two"),
            ),
        };
        RestoreRequest {
            setup,
            backup,
            force: self.force,
            dry_run: self.dry_run,
            no_snapshot: self.no_snapshot,
            with_logs: self.with_logs,
            geoserver: GeoServerChoices {
                skip: self.skip_geoserver,
                soft_reset: self.soft_reset,
                recovery_file: self.recovery_file.clone(),
            },
            merge: self.merge,
            only_listed_fixtures: self.only_listed_fixtures,
            owner: self.owner.clone(),
            from_version: self.from_version.clone(),
            force_manglers: self.force_manglers,
            siteurl: self.siteurl.clone(),
            source: SourceGiven {
                siteurl: self.source_siteurl.clone(),
                media_root: self.source_media_root.clone(),
                assets_root: self.source_assets_root.clone(),
            },
            keep_urls: self.keep_urls,
        }
    }
}

impl MigrateArgs {
    /// The request these arguments make.
    pub fn request(&self, setup: Setup) -> MigrateRequest {
        MigrateRequest {
            setup,
            backup_file: self.backup_file.clone(),
            output: self.output.clone(),
            basepk: self.basepk,
            owner: self.owner.clone(),
            datastore: self.datastore.clone(),
            siteurl: self.siteurl.clone(),
            offsets: self.offsets.clone(),
            dry_run: self.dry_run,
            from_version: self.from_version.clone(),
            force_manglers: self.force_manglers,
            to_version: self.to_version.clone(),
            force: self.force,
        }
    }
}

impl PlanArgs {
    /// The request these arguments make.
    pub fn request(&self, setup: Setup) -> PlanRequest {
        PlanRequest {
            setup,
            backup_file: self.backup_file.clone(),
            from_version: self.from_version.clone(),
            force_manglers: self.force_manglers,
            to_version: self.to_version.clone(),
        }
    }
}

impl VerifyArgs {
    /// The request these arguments make.
    pub fn request(&self, setup: Setup) -> VerifyRequest {
        VerifyRequest {
            setup,
            backup_file: self.backup_file.clone(),
            from_version: self.from_version.clone(),
            to_version: self.to_version.clone(),
            restore_check: self.restore_check,
        }
    }
}

impl BackupsListArgs {
    /// The request these arguments make.
    pub fn request(&self, setup: Setup) -> BackupsListRequest {
        BackupsListRequest {
            setup,
            backup_dir: self.backup_dir.clone(),
            check: self.check,
        }
    }
}

impl PruneArgs {
    /// The request these arguments make.
    pub fn request(&self, setup: Setup) -> PruneRequest {
        PruneRequest {
            setup,
            backup_dir: self.backup_dir.clone(),
            policy: KeepPolicy {
                last: self.keep_last,
                daily: self.keep_daily,
                weekly: self.keep_weekly,
                monthly: self.keep_monthly,
            },
            dry_run: self.dry_run,
        }
    }
}

impl ServeArgs {
    /// The request these arguments make.
    pub fn request(&self, setup: Setup) -> ServeRequest {
        ServeRequest {
            setup,
            listen: self.listen,
        }
    }
}

impl PluginsCommand {
    /// The request this subcommand makes.
    pub fn request(&self, setup: Setup) -> PluginsRequest {
        let action = match self {
            PluginsCommand::List => PluginsAction::List,
            PluginsCommand::Inspect { name } => PluginsAction::Inspect(name.clone()),
            PluginsCommand::Test { name, cases, bless } => PluginsAction::Test {
                name: name.clone(),
                cases: cases.clone(),
                bless: *bless,
            },
        };
        PluginsRequest { setup, action }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::Parser;

    use crate::{
        cli::{Cli, Command},
        geoserver::restore::GeoServerChoices,
        requests::{
            command_line, BackupLocation, BackupRequest, EncryptTo, RestoreRequest, Setup,
            SourceGiven,
        },
    };

    fn parsed(line: &str) -> Cli {
        let words = shlex::split(line).unwrap_or_else(|| panic!("not shell words: {line}"));
        Cli::try_parse_from(words).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn setup() -> Setup {
        Setup {
            settings: Some(PathBuf::from("/etc/gnbr/my settings.ini")),
            plugin_dirs: vec![PathBuf::from("/opt/plugins"), PathBuf::from("it's here")],
        }
    }

    /// Every field is set (a struct literal, so that a new field must be
    /// set here too): its command line must parse back into it.
    #[test]
    fn a_backup_request_is_the_command_line_it_shows() {
        let to_recipients = EncryptTo {
            recipients: vec!["age1a".to_owned(), "age1b".to_owned()],
            recipients_file: Some(PathBuf::from("/etc/gnbr/backup recipients.txt")),
        };
        for (vector_data, raster_data, encrypt) in [
            (Some(true), Some(false), Some(to_recipients)),
            (None, None, None),
            (None, None, Some(EncryptTo::default())),
        ] {
            let request = BackupRequest {
                setup: setup(),
                backup_dir: PathBuf::from("/srv/my backups"),
                force: true,
                skip_geoserver: true,
                ignore_errors: true,
                geoserver_data_dir: Some(PathBuf::from("/srv/gs data")),
                vector_data,
                raster_data,
                encrypt,
            };
            let cli = parsed(&command_line(&request));
            let Command::Backup(args) = &cli.command else {
                panic!("{cli:?}")
            };
            assert_eq!(args.request(cli.global.setup()), request);
        }
    }

    /// As for backup: every field set, and parsed back.
    #[test]
    fn a_restore_request_is_the_command_line_it_shows() {
        for backup in [
            BackupLocation::File(PathBuf::from("/srv/backups/a b.zip")),
            BackupLocation::NewestIn(PathBuf::from("/srv/backups")),
        ] {
            let request = RestoreRequest {
                setup: setup(),
                backup,
                force: true,
                dry_run: true,
                no_snapshot: true,
                with_logs: true,
                geoserver: GeoServerChoices {
                    skip: true,
                    soft_reset: true,
                    recovery_file: Some(PathBuf::from("/srv/catalog $1.zip")),
                },
                merge: true,
                only_listed_fixtures: false,
                owner: Some("o'brien".to_owned()),
                from_version: Some("4.4".to_owned()),
                force_manglers: true,
                siteurl: Some("https://new.example.org/".to_owned()),
                source: SourceGiven {
                    siteurl: Some("http://old.example.org".to_owned()),
                    media_root: Some("/old/media".to_owned()),
                    assets_root: Some("/old/assets".to_owned()),
                },
                keep_urls: true,
            };
            let cli = parsed(&command_line(&request));
            let Command::Restore(args) = &cli.command else {
                panic!("{cli:?}")
            };
            assert_eq!(args.request(cli.global.setup()), request);
        }
        let only_listed = RestoreRequest {
            only_listed_fixtures: true,
            ..RestoreRequest::new(
                Setup::default(),
                BackupLocation::File(PathBuf::from("a.zip")),
            )
        };
        let line = command_line(&only_listed);
        assert_eq!(
            line,
            "gnbr -c settings.ini restore --backup-file a.zip --only-listed-fixtures"
        );
        let cli = parsed(&line);
        let Command::Restore(args) = &cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(args.request(Setup::default()), only_listed);
    }
}
