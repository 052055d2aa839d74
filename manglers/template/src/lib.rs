//! A minimal gnbr mangler plugin: trims spaces around resource titles.
//!
//! Copy this crate to start a plugin; see README.md.

use mangler_api::prelude::*;

/// The plugin's state for one run (this one keeps none).
pub struct Template;

impl Plugin for Template {
    fn info() -> PluginInfo {
        PluginInfo::new("template", env!("CARGO_PKG_VERSION"), "~5.1", "5.1.0")
            .summary("Example plugin: trims spaces around resource titles.")
            .mangler(
                "TitleMangler",
                &["base.resourcebase"],
                "Trims spaces around `title`.",
            )
    }

    fn open(_context: &Context) -> Result<Self, ManglerError> {
        Ok(Template)
    }

    fn mangle(
        &mut self,
        _mangler: &str,
        mut object: FixtureObject,
        out: &mut Output,
    ) -> Result<(), ManglerError> {
        if let Some(title) = object.str_field("title") {
            let trimmed = title.trim();
            if trimmed.len() != title.len() {
                let trimmed = trimmed.to_owned();
                object.set("title", trimmed);
            }
        }
        out.emit(object);
        Ok(())
    }
}

mangler_api::export_plugin!(Template);

#[cfg(test)]
mod tests {
    #[test]
    fn golden_cases() {
        mangler_api::testing::assert_cases(
            super::gnbr_plugin(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases"),
        );
    }
}
