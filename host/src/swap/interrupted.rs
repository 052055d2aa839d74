//! Before a command touches a target: a restore that a crash interrupted
//! in the middle of its folder swap or datastore tables is finished or
//! undone (see [`super`]), on the database's word, which the target
//! GeoNode gives.

use std::path::{Path, PathBuf};

use super::{real_path, recover};
use crate::{
    config::Settings,
    errors::Error,
    geonode::{GeoNode, TargetInfo},
    postgres::tables::Datastore,
    ui::Ui,
};

/// Settles every restore journal left in the target's folders (`MEDIA_ROOT`,
/// `ASSETS_ROOT`, GeoServer's data directory); each is said on `ui`, and
/// returned.
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
        .collect();
    let datastore = info.datastore.as_ref().map(|db| Datastore {
        psql: settings.database.psql.clone(),
        db: db.clone(),
        lock_timeout: settings.restore.lock_timeout,
    });
    let notes = recover(
        &homes,
        &info.database.to_string(),
        datastore.as_ref(),
        &mut |run| {
            target.run_committed(run).map_err(|e| {
            e.context(format!(
                "an interrupted restore (run {run}) left its folders half swapped, and whether its database transaction committed cannot be read"
            ))
        })
        },
    )?;
    for note in &notes {
        ui.warn(note);
    }
    Ok(notes)
}
