//! `gn44_to_51`: GeoNode 4.4 backups into GeoNode 5.1 (being written).

use mangler_api::prelude::*;

/// One run of the plugin.
pub struct Gn44To51;

impl Plugin for Gn44To51 {
    fn info() -> PluginInfo {
        PluginInfo::new("gn44_to_51", env!("CARGO_PKG_VERSION"), "~4.4", "5.1.1")
            .summary("GeoNode 4.4 backups into GeoNode 5.1.")
            .mangler("DefaultMangler", &["*"], "Passes objects through unchanged.")
    }

    fn open(_context: &Context) -> Result<Self, ManglerError> {
        Ok(Gn44To51)
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

mangler_api::export_plugin!(Gn44To51);
