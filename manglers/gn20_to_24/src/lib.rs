//! `gn20_to_24`: migrates GeoNode 2.0 fixtures to GeoNode 2.4's models.
//!
//! What each mangler does, and where it departs from GeoNode's original
//! `lib/gn20_to_24.py`, is in this crate's README.

use std::collections::HashMap;

use mangler_api::{
    geonode::{detail_url, upload_session, ResourceKind},
    prelude::*,
};

/// The models that share `base.resourcebase`'s pk.
const RESOURCE_MODELS: &[&str] = &[
    "base.resourcebase",
    "layers.layer",
    "maps.map",
    "documents.document",
];

/// One run of the plugin: the context and what earlier fixtures held.
pub struct Gn20To24 {
    context: Context,
    /// Resource titles by their new pk, from `base.resourcebase`.
    titles: HashMap<i64, String>,
    /// Upload sessions to add at the end of the resource fixture: (pk, user).
    upload_sessions: Vec<(i64, Value)>,
}

impl Plugin for Gn20To24 {
    fn info() -> PluginInfo {
        PluginInfo::new("gn20_to_24", env!("CARGO_PKG_VERSION"), "~2.0", "2.4.0")
            .summary("GeoNode 2.0 resources, layers and maps to GeoNode 2.4's models.")
            .mangler("DefaultMangler", &["*"], "Passes objects through unchanged.")
            .mangler(
                "ResourceBaseMangler",
                &["base.resourcebase"],
                "Offsets resources, sets 2.4's new fields and content types, adds upload sessions.",
            )
            .emitting(&["layers.uploadsession"])
            .mangler(
                "LayerMangler",
                &["layers.layer"],
                "Offsets layers, links their upload session and store, fills 2.4's translated fields.",
            )
            .mangler(
                "LayerAttributesMangler",
                &["layers.attribute"],
                "Offsets attributes and the layer each belongs to.",
            )
            .mangler("MapMangler", &["maps.map"], "Offsets maps and fills 2.4's translated fields.")
            .mangler(
                "MapLayersMangler",
                &["maps.maplayer"],
                "Offsets map layers and the map each belongs to.",
            )
    }

    fn open(context: &Context) -> Result<Self, ManglerError> {
        Ok(Self {
            context: context.clone(),
            titles: HashMap::new(),
            upload_sessions: Vec::new(),
        })
    }

    fn mangle(
        &mut self,
        mangler: &str,
        mut object: FixtureObject,
        out: &mut Output,
    ) -> Result<(), ManglerError> {
        match mangler {
            "ResourceBaseMangler" => self.resource(&mut object, out)?,
            "LayerMangler" => self.layer(&mut object, out)?,
            "LayerAttributesMangler" => {
                object.shift_pk(self.context.offset("layers.attribute"))?;
                object.shift_field("layer", self.context.basepk)?;
            }
            "MapMangler" => self.map(&mut object, out)?,
            "MapLayersMangler" => {
                object.shift_pk(self.context.offset("maps.maplayer"))?;
                object.shift_field("map", self.context.basepk)?;
            }
            _ => {}
        }
        out.emit(object);
        Ok(())
    }

    fn end_fixture(&mut self, mangler: &str, out: &mut Output) -> Result<(), ManglerError> {
        if mangler == "ResourceBaseMangler" {
            for (pk, user) in self.upload_sessions.drain(..) {
                out.emit(upload_session(pk, user, &self.context.timestamp));
            }
        }
        Ok(())
    }
}

impl Gn20To24 {
    fn resource(
        &mut self,
        object: &mut FixtureObject,
        out: &mut Output,
    ) -> Result<(), ManglerError> {
        let pk = object.shift_pk(self.context.pk_offset(object.model(), RESOURCE_MODELS))?;
        object.set("featured", false);
        object.set("rating", 0);
        object.set("popular_count", 0);
        object.set("share_count", 0);
        object.set("is_published", true);
        object.set("thumbnail_url", "");
        if object.has("distribution_url") {
            let url = object.str_field("distribution_url").map(str::to_owned);
            let kind = url.as_deref().and_then(ResourceKind::of_url);
            if kind == Some(ResourceKind::Layer) {
                let url = url.as_deref().unwrap_or_default();
                object.set("detail_url", detail_url(&self.context.siteurl, url));
            }
            if kind.is_none() {
                out.note(format!(
                    "resource {pk}: distribution_url {} is not under /layers/, /maps/ or /documents/; typed as a map, as GeoNode's original did",
                    url.map_or("null".to_owned(), |u| format!("`{u}`"))
                ));
            }
            object.set(
                "polymorphic_ctype",
                kind.unwrap_or(ResourceKind::Map).content_type(),
            );
        }
        object.remove("distribution_description");
        object.remove("distribution_url");
        object.remove("thumbnail");
        if let Some(title) = object.str_field("title") {
            self.titles.insert(pk, title.to_owned());
        }
        let user = match object.field("owner") {
            Some(owner) if !owner.is_null() => owner.clone(),
            _ => self.owner_key(pk, out)?,
        };
        self.upload_sessions.push((pk, user));
        Ok(())
    }

    fn owner_key(&self, pk: i64, out: &mut Output) -> Result<Value, ManglerError> {
        if self.context.owner.is_empty() {
            return Err(ManglerError::new(
                "the resource has no owner and the run names none (hint: pass --owner USERNAME)",
            ));
        }
        out.note(format!(
            "resource {pk}: no owner; its upload session belongs to `{}`",
            self.context.owner
        ));
        Ok(json!([self.context.owner]))
    }

    fn layer(&mut self, object: &mut FixtureObject, out: &mut Output) -> Result<(), ManglerError> {
        let pk = object.shift_pk(self.context.pk_offset(object.model(), RESOURCE_MODELS))?;
        let title = self.title(pk, object, out);
        let store = if self.context.datastore.is_empty() {
            object.field("name").cloned().unwrap_or(Value::Null)
        } else {
            Value::String(self.context.datastore.clone())
        };
        object.set("upload_session", pk);
        object.set("service", Value::Null);
        object.set("charset", "UTF-8");
        object.set("title_en", title);
        object.set("data_quality_statement_en", "");
        object.set("regions", json!([]));
        object.set("supplemental_information_en", "No information provided");
        object.set("abstract_en", "No abstract provided");
        object.set("purpose_en", "");
        object.set("constraints_other_en", "");
        object.set("default_style", Value::Null);
        object.set("store", store);
        object.remove("popular_count");
        object.remove("share_count");
        object.remove("title");
        Ok(())
    }

    fn map(&mut self, object: &mut FixtureObject, out: &mut Output) -> Result<(), ManglerError> {
        let pk = object.shift_pk(self.context.pk_offset(object.model(), RESOURCE_MODELS))?;
        let title = self.title(pk, object, out);
        object.set("urlsuffix", "");
        object.set("title_en", title);
        object.set("featuredurl", "");
        object.set("data_quality_statement_en", Value::Null);
        object.set("supplemental_information_en", "No information provided");
        object.set("abstract_en", "");
        object.set("purpose_en", Value::Null);
        object.set("constraints_other_en", Value::Null);
        object.remove("popular_count");
        object.remove("share_count");
        object.remove("title");
        Ok(())
    }

    /// The title of resource `pk`: from the run's resources, else the
    /// object's own `title`, else empty (and reported).
    fn title(&self, pk: i64, object: &FixtureObject, out: &mut Output) -> String {
        if let Some(title) = self.titles.get(&pk) {
            return title.clone();
        }
        if let Some(title) = object.str_field("title") {
            return title.to_owned();
        }
        out.note(format!(
            "{} {pk}: no resource with this pk earlier in the run and no title of its own; title_en left empty",
            object.model()
        ));
        String::new()
    }
}

mangler_api::export_plugin!(Gn20To24);

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
