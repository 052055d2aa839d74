//! `gn24_to_24`: imports a GeoNode 2.4 backup into an existing 2.4 instance.
//!
//! Every object moves once, by its model's offset, and every reference moves
//! by the offset of the object it points to. What each mangler does, and
//! where it departs from GeoNode's original `lib/gn24_to_24.py`, is in this
//! crate's README.

use mangler_api::{
    geonode::{detail_url, upload_session, upload_session_pk, ResourceKind},
    prelude::*,
};

/// The models that share `base.resourcebase`'s pk.
const RESOURCE_MODELS: &[&str] = &[
    "base.resourcebase",
    "layers.layer",
    "maps.map",
    "documents.document",
];

/// One run of the plugin.
pub struct Gn24To24 {
    context: Context,
    /// Upload sessions to add at the end of the resource fixture.
    upload_sessions: Vec<i64>,
    /// Whether the run was told it has no siteurl.
    told_no_siteurl: bool,
}

impl Plugin for Gn24To24 {
    fn info() -> PluginInfo {
        PluginInfo::new("gn24_to_24", env!("CARGO_PKG_VERSION"), "~2.4", "2.4.0")
            .summary("A GeoNode 2.4 backup into an existing 2.4 instance, every pk offset once.")
            .mangler(
                "DefaultMangler",
                &["*"],
                "Offsets every object's pk by its model's offset.",
            )
            .mangler(
                "ResourceBaseMangler",
                &["base.resourcebase"],
                "Offsets resources, gives them the run's owner, adds upload sessions.",
            )
            .emitting(&["layers.uploadsession"])
            .mangler(
                "LayerMangler",
                &["layers.layer"],
                "Offsets layers, links their upload session and store.",
            )
            .mangler(
                "LayerAttributesMangler",
                &["layers.attribute"],
                "Offsets attributes and the layer each belongs to.",
            )
            .mangler(
                "MapLayersMangler",
                &["maps.maplayer"],
                "Offsets map layers and the map each belongs to.",
            )
    }

    fn open(context: &Context) -> Result<Self, ManglerError> {
        if context.owner.is_empty() {
            return Err(ManglerError::new(
                "gn24_to_24 gives every resource the run's owner, and the run names none (hint: pass --owner USERNAME)",
            ));
        }
        Ok(Self {
            context: context.clone(),
            upload_sessions: Vec::new(),
            told_no_siteurl: false,
        })
    }

    fn mangle(
        &mut self,
        mangler: &str,
        mut object: FixtureObject,
        out: &mut Output,
    ) -> Result<(), ManglerError> {
        let offset = self.context.pk_offset(object.model(), RESOURCE_MODELS);
        match mangler {
            "ResourceBaseMangler" => {
                self.upload_sessions
                    .push(upload_session_pk(&self.context, &object)?);
                object.offset_pk(offset)?;
                object.set("owner", json!([self.context.owner]));
                if let Some(url) = object.str_field("distribution_url").map(str::to_owned) {
                    if ResourceKind::of_url(&url) == Some(ResourceKind::Layer) {
                        object.set("detail_url", detail_url(&self.context.siteurl, &url));
                        if self.context.siteurl.is_empty() && !self.told_no_siteurl {
                            self.told_no_siteurl = true;
                            out.note("no siteurl given: detail_url values are paths without a host (pass --siteurl URL)");
                        }
                    }
                }
            }
            "LayerMangler" => {
                let session = upload_session_pk(&self.context, &object)?;
                object.offset_pk(offset)?;
                let store = if self.context.datastore.is_empty() {
                    object.field("name").cloned().unwrap_or(Value::Null)
                } else {
                    Value::String(self.context.datastore.clone())
                };
                object.set("upload_session", session);
                object.set("service", Value::Null);
                object.set("store", store);
            }
            "LayerAttributesMangler" => {
                object.offset_pk(offset)?;
                object.shift_field("layer", self.context.basepk)?;
            }
            "MapLayersMangler" => {
                object.offset_pk(offset)?;
                object.shift_field("map", self.context.basepk)?;
            }
            _ => object.offset_pk(offset)?,
        }
        out.emit(object);
        Ok(())
    }

    fn end_fixture(&mut self, mangler: &str, out: &mut Output) -> Result<(), ManglerError> {
        if mangler == "ResourceBaseMangler" {
            let user = json!([self.context.owner]);
            let date = self.context.timestamp.clone();
            let sessions = std::mem::take(&mut self.upload_sessions);
            out.emit_all(
                sessions
                    .into_iter()
                    .map(move |pk| upload_session(pk, user.clone(), &date)),
            );
        }
        Ok(())
    }
}

mangler_api::export_plugin!(Gn24To24);

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
