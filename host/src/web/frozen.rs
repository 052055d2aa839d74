//! What a restore plan freezes: everything that decides what its restore
//! does (the request, the archive's checksum, settings.ini, the target, the
//! plugins), recorded when the plan runs and read again when the admin
//! confirms, so that a confirmed restore runs exactly what was planned or
//! nothing at all. It does not run anything itself.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    archive::file_sums,
    config::Settings,
    errors::{Error, ErrorKind},
    geonode::{GeoNode, TargetInfo},
    requests::{command_line, BackupLocation, RestoreRequest},
    storage::stored_sha256,
    ui::Ui,
};

/// What decides a restore, as read at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// The restore to run, flags, settings file and archive included.
    pub request: RestoreRequest,
    /// The archive's sha256 (its `.md5` sidecar checked too).
    pub archive_sha256: String,
    /// The settings file's sha256.
    pub settings_sha256: String,
    /// The sha256 of settings.ini's `[geonode] env_file`, when it names one.
    pub env_sha256: Option<String>,
    /// The target GeoNode.
    pub target: Target,
    /// Every plugin on the search path: the chain is chosen among them.
    pub plugins: Vec<PluginFile>,
}

/// Which GeoNode a restore goes into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Its database, `name on host:port`.
    pub database: String,
    /// Its `SITEURL`.
    pub siteurl: String,
    /// Its GeoNode version.
    pub version: String,
}

/// A plugin file as found on the search path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginFile {
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The file.
    pub path: PathBuf,
    /// The file's sha256.
    pub sha256: String,
}

/// A plan's frozen record: its inputs and the plugin chain it showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frozen {
    /// What decided the plan.
    pub inputs: Inputs,
    /// The plugin chain the plan chose, as it showed it.
    pub chain: Vec<String>,
}

impl Inputs {
    /// What decides `request` as `settings` and `info` (the target's
    /// answer) say, with the archive's checksum as given.
    ///
    /// # Errors
    ///
    /// When the settings file, its `env_file` or a plugin file cannot be read.
    pub fn read(
        request: &RestoreRequest,
        settings: &Settings,
        info: &TargetInfo,
        archive_sha256: String,
    ) -> Result<Self, Error> {
        let env_sha256 = settings
            .geonode
            .env_file
            .as_deref()
            .map(|file| file_sums(file).map(|sums| sums.sha256))
            .transpose()?;
        Ok(Self {
            request: request.clone(),
            archive_sha256,
            settings_sha256: file_sums(request.setup.settings_path())?.sha256,
            env_sha256,
            target: Target::of(info),
            plugins: plugins(request, settings)?,
        })
    }

    /// What decides `request` now: the settings file read, the target
    /// asked, the archive hashed.
    ///
    /// # Errors
    ///
    /// When the settings, the archive, a plugin file or the target cannot
    /// be read.
    pub fn now(request: &RestoreRequest) -> Result<Self, Error> {
        let settings = request.setup.load_settings()?;
        let archive = archive(request);
        // A zip's own sha256 (in a folder or a bucket), as the plan's dry run computed
        // it; its `.md5` sidecar is the restore's to check, after this comparison names the change.
        let archive_sha256 = stored_sha256(archive, &settings.storage)?;
        let info = GeoNode::new(&settings.geonode)?.info()?;
        Self::read(request, &settings, &info, archive_sha256)
    }

    /// What differs in `now` from these inputs, one sentence each; empty
    /// when nothing does.
    pub fn changes(&self, now: &Inputs) -> Vec<String> {
        let mut changes = Vec::new();
        if self.request != now.request {
            changes.push(format!(
                "the restore asked changed since the plan (was the backup edited?): planned `{}`, now `{}`",
                command_line(&self.request),
                command_line(&now.request)
            ));
        }
        if self.archive_sha256 != now.archive_sha256 {
            changes.push(format!(
                "the archive {} changed since the plan: sha256 {}, now {}",
                archive(&self.request).display(),
                self.archive_sha256,
                now.archive_sha256
            ));
        }
        if self.settings_sha256 != now.settings_sha256 {
            changes.push(format!(
                "the settings file {} changed since the plan: sha256 {}, now {}",
                self.request.setup.settings_path().display(),
                self.settings_sha256,
                now.settings_sha256
            ));
        }
        if self.env_sha256 != now.env_sha256 {
            changes.push(
                "settings.ini's [geonode] env_file changed since the plan (its content is not shown: it holds secrets)"
                    .to_owned(),
            );
        }
        for (what, planned, current) in [
            ("database", &self.target.database, &now.target.database),
            ("SITEURL", &self.target.siteurl, &now.target.siteurl),
            ("GeoNode version", &self.target.version, &now.target.version),
        ] {
            if planned != current {
                changes.push(format!(
                    "the target's {what} changed since the plan: {planned}, now {current}"
                ));
            }
        }
        changes.extend(plugin_changes(&self.plugins, &now.plugins));
        changes
    }
}

impl Target {
    fn of(info: &TargetInfo) -> Self {
        Self {
            database: info.database.to_string(),
            siteurl: info.siteurl.clone(),
            version: info.geonode_version.clone(),
        }
    }
}

impl Frozen {
    /// Checks that nothing that decides the restore changed since the plan.
    ///
    /// # Errors
    ///
    /// Refused, naming every change, when anything did; or when what is
    /// there now cannot be read.
    pub fn check(&self, plan: i64, now: &Inputs) -> Result<(), Error> {
        let changes = self.inputs.changes(now);
        if changes.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Refused,
            format!(
                "the plan of run #{plan} no longer holds, so nothing was started: {}",
                changes.join("; ")
            ),
        )
        .hint(
            "plan again: “Run the Restore” on the Backups page shows the plan of what is there now",
        ))
    }
}

/// The archive a restore request names.
pub fn archive(request: &RestoreRequest) -> &Path {
    match &request.backup {
        BackupLocation::File(path) | BackupLocation::NewestIn(path) => path,
    }
}

/// The plugins on the search path, by name, each file hashed.
fn plugins(request: &RestoreRequest, settings: &Settings) -> Result<Vec<PluginFile>, Error> {
    let quiet = Ui {
        quiet: true,
        json: false,
        log: None,
    };
    let registry = request.setup.discover_plugins(Some(settings), quiet);
    let mut files: Vec<PluginFile> = registry
        .plugins
        .iter()
        .map(|plugin| {
            let info = plugin.handle.info();
            Ok(PluginFile {
                name: info.name.clone(),
                version: info.version.clone(),
                path: plugin.path.clone(),
                sha256: file_sums(&plugin.path)?.sha256,
            })
        })
        .collect::<Result<_, Error>>()?;
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Plugins added, gone or changed between two readings.
fn plugin_changes(planned: &[PluginFile], now: &[PluginFile]) -> Vec<String> {
    let by_name = |files: &[PluginFile]| -> BTreeMap<String, PluginFile> {
        files.iter().map(|f| (f.name.clone(), f.clone())).collect()
    };
    let (planned, now) = (by_name(planned), by_name(now));
    let shown = |f: &PluginFile| {
        format!(
            "{} {} at {} (sha256 {})",
            f.name,
            f.version,
            f.path.display(),
            f.sha256
        )
    };
    let mut names: Vec<&String> = planned.keys().chain(now.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| match (planned.get(name), now.get(name)) {
            (Some(p), Some(n)) if p != n => Some(format!(
                "the plugin `{name}` changed since the plan: {}, now {}",
                shown(p),
                shown(n)
            )),
            (Some(p), None) => Some(format!(
                "the plugin `{name}` is gone since the plan: it was {}",
                shown(p)
            )),
            (None, Some(n)) => Some(format!(
                "the plugin `{name}` was added since the plan: {}",
                shown(n)
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{Frozen, Inputs, PluginFile, Target};
    use crate::{
        errors::ErrorKind,
        requests::{BackupLocation, RestoreRequest, Setup},
    };

    fn inputs() -> Inputs {
        let mut request = RestoreRequest::new(
            Setup {
                settings: Some(PathBuf::from("/srv/gnbr/settings.ini")),
                plugin_dirs: Vec::new(),
            },
            BackupLocation::File(PathBuf::from("/srv/backups/a.zip")),
        );
        request.force = true;
        request.geoserver.skip = true;
        Inputs {
            request,
            archive_sha256: "a".repeat(64),
            settings_sha256: "5".repeat(64),
            env_sha256: Some("e".repeat(64)),
            target: Target {
                database: "geonode@db:5432".to_owned(),
                siteurl: "https://geonode.example/".to_owned(),
                version: "5.1.1".to_owned(),
            },
            plugins: vec![PluginFile {
                name: "gn44_to_51".to_owned(),
                version: "1.0.0".to_owned(),
                path: PathBuf::from("/srv/plugins/libgn44_to_51.so"),
                sha256: "1".repeat(64),
            }],
        }
    }

    #[test]
    fn the_same_inputs_confirm_the_plan() {
        let frozen = Frozen {
            inputs: inputs(),
            chain: Vec::new(),
        };
        assert!(frozen.check(7, &inputs()).is_ok());
    }

    #[test]
    fn every_change_is_named_and_refuses_the_confirmation() {
        let frozen = Frozen {
            inputs: inputs(),
            chain: vec!["gn44_to_51 1.0.0 (~4.4 -> 5.1.1)".to_owned()],
        };
        let mut now = inputs();
        now.request.geoserver.skip = false;
        now.archive_sha256 = "b".repeat(64);
        now.settings_sha256 = "6".repeat(64);
        now.env_sha256 = None;
        now.target.database = "other@db:5432".to_owned();
        now.plugins[0].sha256 = "2".repeat(64);
        now.plugins.push(PluginFile {
            name: "gn51_to_52".to_owned(),
            version: "0.1.0".to_owned(),
            path: PathBuf::from("/srv/plugins/libgn51_to_52.so"),
            sha256: "3".repeat(64),
        });
        let error = frozen.check(7, &now).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Refused);
        for expected in [
            "the plan of run #7 no longer holds, so nothing was started",
            "planned `gnbr -c /srv/gnbr/settings.ini restore --backup-file /srv/backups/a.zip -f --skip-geoserver`, now `gnbr -c /srv/gnbr/settings.ini restore --backup-file /srv/backups/a.zip -f`",
            &format!("the archive /srv/backups/a.zip changed since the plan: sha256 {}, now {}", "a".repeat(64), "b".repeat(64)),
            "the settings file /srv/gnbr/settings.ini changed since the plan",
            "env_file changed since the plan (its content is not shown",
            "the target's database changed since the plan: geonode@db:5432, now other@db:5432",
            "the plugin `gn44_to_51` changed since the plan",
            "the plugin `gn51_to_52` was added since the plan",
        ] {
            assert!(error.message.contains(expected), "`{expected}` not in {}", error.message);
        }
        assert!(!error.message.contains(&"e".repeat(64)));
        assert!(error.hint.as_deref().unwrap().starts_with("plan again"));
    }

    #[test]
    fn a_frozen_record_reads_back_as_written() {
        let frozen = Frozen {
            inputs: inputs(),
            chain: vec!["gn44_to_51 1.0.0 (~4.4 -> 5.1.1)".to_owned()],
        };
        let value = serde_json::to_value(&frozen).unwrap();
        assert_eq!(serde_json::from_value::<Frozen>(value).unwrap(), frozen);
    }
}
