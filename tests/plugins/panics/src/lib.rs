//! A plugin whose mangler panics on the object with pk 2: the host must
//! report it in one line naming plugin, mangler and object, and go on living.

use mangler_api::prelude::*;

/// The plugin (no state).
pub struct Panics;

impl Plugin for Panics {
    fn info() -> PluginInfo {
        PluginInfo::new("panics", "0.1.0", "~9.0", "9.1.0")
            .summary("Panics on the resource with pk 2.")
            .mangler("BoomMangler", &["base.resourcebase"], "Panics on pk 2.")
    }

    fn open(_context: &Context) -> Result<Self, ManglerError> {
        Ok(Panics)
    }

    fn mangle(&mut self, _mangler: &str, object: FixtureObject, out: &mut Output) -> Result<(), ManglerError> {
        if object.pk_i64()? == 2 {
            panic!("boom on purpose");
        }
        out.emit(object);
        Ok(())
    }
}

mangler_api::export_plugin!(Panics);
