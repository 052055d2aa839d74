//! `gn33_to_41`: GeoNode 3.3 backups into what GeoNode 4.1.5's in-place upgrade leaves.

use mangler_api::prelude::*;

/// One run of the plugin.
pub struct Gn33To41;

impl Plugin for Gn33To41 {
    fn info() -> PluginInfo {
        PluginInfo::new("gn33_to_41", env!("CARGO_PKG_VERSION"), "~3.3", "4.1.5")
            .summary("GeoNode 3.3 backups into what GeoNode 4.1.5's in-place upgrade leaves.")
    }

    fn open(_context: &Context) -> Result<Self, ManglerError> {
        Ok(Gn33To41)
    }

    fn mangle(
        &mut self,
        _mangler: &str,
        object: FixtureObject,
        out: &mut Output,
    ) -> Result<(), ManglerError> {
        out.emit(object);
        Ok(())
    }
}

mangler_api::export_plugin!(Gn33To41);
