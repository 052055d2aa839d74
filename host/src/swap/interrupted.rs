//! Before a command touches a target: a restore that a crash interrupted
//! in the middle of its folder swap, datastore tables or GeoServer catalog
//! is finished or undone (see [`super`]), on the database's word, which the
//! target GeoNode gives.

use std::path::{Path, PathBuf};

use super::{real_path, recover, CatalogRecord, Target};
use crate::{
    config::Settings,
    errors::{Error, ErrorKind},
    geonode::{GeoNode, TargetInfo},
    geoserver::{restore::put_back_catalog, server::GeoServer},
    postgres::tables::Datastore,
    ui::Ui,
};

/// Settles every restore journal left in the target's folders (`MEDIA_ROOT`,
/// `ASSETS_ROOT`, GeoServer's data directory) and in `[restore]
/// snapshot_dir`; each is said on `ui`, and returned.
///
/// # Errors
///
/// A restore in progress, a journal of another database, a database that
/// cannot say whether the interrupted run committed, or a step that cannot
/// be done (the journal then stays for the next run).
pub fn settle(
    target: &GeoNode,
    info: &TargetInfo,
    settings: &Settings,
    ui: Ui,
) -> Result<Vec<String>, Error> {
    let homes: Vec<PathBuf> = [info.media_root.as_str(), info.assets_root.as_str()]
        .into_iter()
        .filter(|root| !root.is_empty())
        .map(|root| real_path(Path::new(root)))
        .chain(settings.geoserver.datadir.clone())
        .chain([settings.restore.snapshot_dir.clone()])
        .collect();
    let mut settling = Settling {
        geonode: target,
        database: info.database.to_string(),
        datastore: info.datastore.as_ref().map(|db| Datastore {
            psql: settings.database.psql.clone(),
            db: db.clone(),
            lock_timeout: settings.restore.lock_timeout,
        }),
        settings,
        ui,
    };
    // Settling undoes or finishes another run's work: a cancel never cuts it short.
    let notes = crate::cancel::shielded(|| recover(&homes, &mut settling))?;
    for note in &notes {
        ui.warn(note);
    }
    Ok(notes)
}

/// The target GeoNode, as settling its journals asks it.
struct Settling<'a> {
    geonode: &'a GeoNode,
    database: String,
    datastore: Option<Datastore>,
    settings: &'a Settings,
    ui: Ui,
}

impl Target for Settling<'_> {
    fn database(&self) -> String {
        self.database.clone()
    }

    fn datastore(&self) -> Option<&Datastore> {
        self.datastore.as_ref()
    }

    fn committed(&mut self, run: &str) -> Result<bool, Error> {
        self.geonode.run_committed(run).map_err(|e| {
            e.context(format!(
                "an interrupted restore (run {run}) left its folders half swapped, and whether its database transaction committed cannot be read"
            ))
        })
    }

    /// Through GeoServer's REST API, then a reload.
    fn put_back_catalog(&mut self, catalog: &CatalogRecord) -> Result<String, Error> {
        let geonode = self.geonode;
        let server = GeoServer::connect(&self.settings.geoserver, &|key| {
            geonode.env_file_var(key).map(str::to_owned)
        })?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Usage,
                "settings.ini names no GeoServer to put its previous catalog back into".to_owned(),
            )
            .hint("set [geoserver] url (or GEOSERVER_LOCATION) as for the restore")
        })?;
        let note = put_back_catalog(&server, catalog, self.ui)?;
        server.reload()?;
        Ok(note)
    }
}
