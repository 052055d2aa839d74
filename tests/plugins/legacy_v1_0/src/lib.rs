//! A plugin built against mangler-api 1.0.0: it must load and run in a
//! 1.1 host. Marks every resource's title so the test can see it ran.

use mangler_api::prelude::*;

/// The plugin (no state).
pub struct Legacy;

impl Plugin for Legacy {
    fn info() -> PluginInfo {
        PluginInfo::new("legacy_v1_0", "0.1.0", "~9.0", "9.1.0")
            .summary("Built against mangler-api 1.0.0.")
            .mangler("MarkMangler", &["base.resourcebase"], "Appends ` (legacy)` to titles.")
    }

    fn open(_context: &Context) -> Result<Self, ManglerError> {
        Ok(Legacy)
    }

    fn mangle(&mut self, _mangler: &str, mut object: FixtureObject, out: &mut Output) -> Result<(), ManglerError> {
        let title = object.str_field("title").unwrap_or_default().to_owned();
        object.set("title", format!("{title} (legacy)"));
        out.emit(object);
        Ok(())
    }
}

mangler_api::export_plugin!(Legacy);
