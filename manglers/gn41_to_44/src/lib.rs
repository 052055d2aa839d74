//! `gn41_to_44`: GeoNode 4.1 backups into what GeoNode 4.4.5's in-place upgrade leaves.

use mangler_api::prelude::*;

/// One run of the plugin.
pub struct Gn41To44;

impl Plugin for Gn41To44 {
    fn info() -> PluginInfo {
        PluginInfo::new("gn41_to_44", env!("CARGO_PKG_VERSION"), "~4.1", "4.4.5")
            .summary("GeoNode 4.1 backups into what GeoNode 4.4.5's in-place upgrade leaves.")
    }

    fn open(_context: &Context) -> Result<Self, ManglerError> {
        Ok(Gn41To44)
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

mangler_api::export_plugin!(Gn41To44);
