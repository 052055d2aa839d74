//! The running GeoServer a backup or restore talks to: which one (from
//! settings and the environment), its catalog through the Backup & Restore
//! module, and telling it to re-read its data directory.
//!
//! GeoServer reads and writes Backup & Restore archives on its own
//! filesystem. A backup downloads the archive over REST, so it needs no
//! shared folder; a restore puts the archive into `[geoserver] br_folder`,
//! which GeoServer must be able to read (as `br_folder_on_geoserver`), and
//! checks that folder before anything is touched (GeoNode #9952, #11520).

use std::{
    fs,
    io::{self, Read, Write},
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use super::{
    br::{BackupJob, Execution, RestoreJob},
    rest::{Client, Connection, Timing, PASSWORD_ENV, URL_ENV, USER_ENV},
};
use crate::{
    config::GeoServerSettings,
    errors::{Error, ErrorKind},
};

/// Numbers the archives one gnbr process shares with GeoServer.
static SHARED: AtomicUsize = AtomicUsize::new(0);

/// A Backup & Restore archive in the folder GeoServer reads from; removed when dropped.
pub struct SharedArchive {
    local: PathBuf,
    remote: String,
}

impl Drop for SharedArchive {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.local);
    }
}

/// The archive entry of GeoServer's Backup & Restore archive, as GeoNode names it.
pub const CATALOG_ENTRY: &str = "geoserver_catalog.zip";

/// A GeoServer that answered, and the folder it shares with gnbr.
pub struct GeoServer {
    client: Client,
    version: String,
    folder: Option<PathBuf>,
    folder_on_geoserver: Option<String>,
    settings: GeoServerSettings,
}

impl GeoServer {
    /// The GeoServer of `[geoserver] url` (else `GEOSERVER_LOCATION` in
    /// gnbr's environment); `None` when neither names one. The user and
    /// password come from the environment, then from `env_file` (the
    /// `[geonode] env_file`, which a GeoNode install already has).
    ///
    /// # Errors
    ///
    /// A bad URL, no password, or a GeoServer that does not answer its
    /// version: checked before a run touches anything.
    pub fn connect(
        settings: &GeoServerSettings,
        env_file: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, Error> {
        let from_env = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
        if settings.url.is_none() && from_env(URL_ENV).is_none() {
            return Ok(None);
        }
        let lookup = |key: &str| from_env(key).or_else(|| env_file(key));
        let user = settings.user.clone().or_else(|| lookup(USER_ENV));
        let password = lookup(PASSWORD_ENV);
        let connection = Connection::resolve(
            settings.url.as_deref(),
            user.as_deref(),
            password.as_deref(),
            &|key| from_env(key),
        )?;
        let timing = Timing {
            poll_interval: settings.poll_interval,
            deadline: settings.job_deadline,
            ..Timing::default()
        };
        let client = Client::new(&connection, timing)?;
        let version = client.version()?.version;
        let folder = settings.br_folder.clone().or_else(|| {
            settings
                .datadir
                .as_ref()
                .map(|d| d.join("temp").join("gnbr"))
        });
        let folder_on_geoserver = settings
            .br_folder_on_geoserver
            .clone()
            .or_else(|| folder.as_ref().map(|f| f.display().to_string()));
        Ok(Some(Self {
            client,
            version,
            folder,
            folder_on_geoserver,
            settings: settings.clone(),
        }))
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        self.client.base_url()
    }

    /// Its version, as it reported it.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Backs its catalog up with the Backup & Restore module (after a reset
    /// and a reload, as GeoNode does) and downloads the archive into `dest`
    /// (`dest_name` in messages).
    /// Settings and security go in as `[geoserver] settings`/`security` say.
    /// Returns the archive's size.
    ///
    /// # Errors
    ///
    /// No folder on GeoServer's side to write to, or the job fails.
    pub fn backup_catalog(
        &self,
        name: &str,
        best_effort: bool,
        dest: &mut dyn Write,
        dest_name: &str,
        progress: &mut dyn FnMut(&Execution),
    ) -> Result<u64, Error> {
        let remote = self.remote_path(name)?;
        if let Some(folder) = &self.folder {
            // Where GeoServer writes, when it shares gnbr's filesystem.
            let _ = fs::create_dir_all(folder);
        }
        self.client.reset()?;
        self.client.reload()?;
        let job = BackupJob {
            best_effort,
            skip_settings: !self.settings.settings,
            skip_security: !self.settings.security,
            exclude: super::datadir::Selection::parse_exclusions(&self.settings.exclude),
            ..BackupJob::new(remote)
        };
        let done = self.client.run_backup(&job, progress)?;
        let bytes = self.client.download_backup(done.id, dest, dest_name)?;
        if let Some(folder) = &self.folder {
            // GeoServer's copy, when gnbr can see it: the download is the backup.
            let _ = fs::remove_file(folder.join(name));
        }
        Ok(bytes)
    }

    /// Checks that gnbr can write to the folder GeoServer reads restore
    /// archives from.
    ///
    /// # Errors
    ///
    /// No such folder configured, or it cannot be created or written.
    pub fn check_restore_folder(&self) -> Result<(), Error> {
        let folder = self.local_folder()?;
        let probe = folder.join(".gnbr-write-check");
        fs::create_dir_all(folder)
            .and_then(|()| fs::write(&probe, b""))
            .and_then(|()| fs::remove_file(&probe))
            .map_err(|e| {
                Error::new(
                    ErrorKind::Target,
                    format!(
                        "cannot write to {}, the folder GeoServer reads restore archives from: {e}",
                        folder.display()
                    ),
                )
                .hint("set [geoserver] br_folder to a folder gnbr can write and GeoServer can read (and br_folder_on_geoserver to its path inside GeoServer's container)")
            })
    }

    /// Checks, before a backup starts, that GeoServer has somewhere to
    /// write its archive and that its Backup & Restore module answers.
    ///
    /// # Errors
    ///
    /// No folder on GeoServer's side, or no Backup & Restore module.
    pub fn check_backup(&self) -> Result<(), Error> {
        self.remote_path("probe")?;
        self.client.check_backup_restore()
    }

    /// Writes the Backup & Restore archive `source` into the shared
    /// folder under a name of its own, for [`GeoServer::restore_catalog`];
    /// the copy is removed when dropped. It must stay readable by GeoServer
    /// (which may run as another user), so it takes the folder's default
    /// permissions while the job runs.
    ///
    /// # Errors
    ///
    /// The folder cannot be written, or `source` read.
    pub fn share(&self, source: &mut dyn Read) -> Result<SharedArchive, Error> {
        let folder = self.local_folder()?;
        let name = format!(
            "gnbr-{}-{}-{CATALOG_ENTRY}",
            std::process::id(),
            SHARED.fetch_add(1, Ordering::Relaxed)
        );
        let local = folder.join(&name);
        let copied = fs::File::create(&local).and_then(|mut file| io::copy(source, &mut file));
        if let Err(e) = copied {
            let _ = fs::remove_file(&local);
            return Err(Error::new(
                ErrorKind::Target,
                format!("cannot write {}: {e}", local.display()),
            )
            .hint("set [geoserver] br_folder to a folder gnbr can write and GeoServer can read"));
        }
        Ok(SharedArchive {
            local,
            remote: self.remote_path(&name)?,
        })
    }

    /// Restores its catalog from a shared Backup & Restore archive, as
    /// GeoNode does: the catalog only (GeoServer's settings and security
    /// stay the target's), its existing catalog objects removed first
    /// unless `purge` is false (`--soft-reset`).
    ///
    /// # Errors
    ///
    /// The job fails; GeoServer's catalog may then be partly replaced.
    pub fn restore_catalog(
        &self,
        archive: &SharedArchive,
        purge: bool,
        progress: &mut dyn FnMut(&Execution),
    ) -> Result<(), Error> {
        let job = RestoreJob {
            purge_resources: purge,
            ..RestoreJob::new(archive.remote.clone())
        };
        self.client.run_restore(&job, progress).map(drop)
    }

    /// Tells it to re-read its catalog and configuration from the data directory.
    ///
    /// # Errors
    ///
    /// GeoServer cannot be reached or refuses.
    pub fn reload(&self) -> Result<(), Error> {
        self.client.reload()
    }

    fn local_folder(&self) -> Result<&Path, Error> {
        self.folder.as_deref().ok_or_else(|| {
            Error::new(
                ErrorKind::Usage,
                "no folder shared with GeoServer for its Backup & Restore archives",
            )
            .hint("set [geoserver] br_folder (or datadir, whose temp/gnbr is the default)")
        })
    }

    fn remote_path(&self, name: &str) -> Result<String, Error> {
        let folder = self.folder_on_geoserver.as_deref().ok_or_else(|| {
            Error::new(
                ErrorKind::Usage,
                "no folder on GeoServer's side for its Backup & Restore archives",
            )
            .hint("set [geoserver] br_folder_on_geoserver (or br_folder, or datadir)")
        })?;
        Ok(format!("{}/{name}", folder.trim_end_matches('/')))
    }
}
