//! A plugin written against mangler-api 1.0.0: built against that frozen
//! SDK it must load and run in every 1.x host, and its source must compile
//! against every 1.x SDK. Marks every resource's title so the test can see
//! it ran, through the 1.0 calls that 1.1 removed and 1.3 brought back.

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

    fn mangle(&mut self, _mangler: &str, object: FixtureObject, out: &mut Output) -> Result<(), ManglerError> {
        let value = object.into_value();
        let mut object = FixtureObject::from_value(value.clone())?;
        if object != FixtureObject::from_value(value)? {
            return Err(ManglerError::new("two objects of one JSON value differ"));
        }
        let title = object.fields().get("title").and_then(Value::as_str).unwrap_or_default().to_owned();
        object.fields_mut().insert("title".into(), format!("{title} (legacy)").into());
        out.emit(object);
        Ok(())
    }
}

mangler_api::export_plugin!(Legacy);
