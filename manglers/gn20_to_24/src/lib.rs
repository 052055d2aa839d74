//! `gn20_to_24`: migrates GeoNode 2.0 fixtures to GeoNode 2.4's models.
//!
//! What each mangler does, and where it departs from GeoNode's original
//! `lib/gn20_to_24.py`, is in this crate's README.

use std::collections::HashMap;

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

/// One run of the plugin: the context and what earlier fixtures held.
pub struct Gn20To24 {
    context: Context,
    /// Resource titles by their new pk, from `base.resourcebase`: spans of
    /// `title_text`, so a run keeps about 40 bytes per resource plus the title.
    titles: HashMap<i64, (u32, u32)>,
    title_text: String,
    /// Distinct upload session owners; sessions refer to them by index.
    owners: Vec<Value>,
    owner_index: HashMap<String, u32>,
    /// Upload sessions to add at the end of the resource fixture: (pk, user).
    upload_sessions: Vec<(i64, u32)>,
    /// Whether the run was told it has no siteurl.
    told_no_siteurl: bool,
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
            title_text: String::new(),
            owners: Vec::new(),
            owner_index: HashMap::new(),
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
            let sessions = std::mem::take(&mut self.upload_sessions);
            let owners = self.owners.clone();
            let date = self.context.timestamp.clone();
            out.emit_all(
                sessions.into_iter().map(move |(pk, owner)| {
                    upload_session(pk, owners[owner as usize].clone(), &date)
                }),
            );
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
        let session = upload_session_pk(&self.context, object)?;
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
                self.tell_no_siteurl(out);
            }
            match (kind, &url) {
                (Some(_), _) => {}
                (None, None) => out.note("distribution_url is null or not text; typed as a map, as GeoNode's original did"),
                (None, Some(url)) => out.note(format!(
                    "distribution_url `{url}` is not under /layers/, /maps/ or /documents/; typed as a map"
                )),
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
            let too_many = || ManglerError::new("more than 4 GB of resource titles in one run");
            let start = u32::try_from(self.title_text.len()).map_err(|_| too_many())?;
            let len = u32::try_from(title.len()).map_err(|_| too_many())?;
            self.title_text.push_str(title);
            self.titles.insert(pk, (start, len));
        }
        let user = match object.field("owner") {
            Some(owner) if !owner.is_null() => owner.clone(),
            _ => self.owner_key(out)?,
        };
        let next = self.owners.len() as u32;
        let owner = *self.owner_index.entry(user.to_string()).or_insert(next);
        if owner == next {
            self.owners.push(user);
        }
        self.upload_sessions.push((session, owner));
        Ok(())
    }

    fn owner_key(&self, out: &mut Output) -> Result<Value, ManglerError> {
        if self.context.owner.is_empty() {
            return Err(ManglerError::new(
                "the resource has no owner and the run names none (hint: pass --owner USERNAME)",
            ));
        }
        out.note(format!(
            "no owner; its upload session belongs to `{}`",
            self.context.owner
        ));
        Ok(json!([self.context.owner]))
    }

    /// Notes once that detail URLs have no host when the run has no siteurl.
    fn tell_no_siteurl(&mut self, out: &mut Output) {
        if self.context.siteurl.is_empty() && !self.told_no_siteurl {
            self.told_no_siteurl = true;
            out.note(
                "no siteurl given: detail_url values are paths without a host (pass --siteurl URL)",
            );
        }
    }

    fn layer(&mut self, object: &mut FixtureObject, out: &mut Output) -> Result<(), ManglerError> {
        let session = upload_session_pk(&self.context, object)?;
        let pk = object.shift_pk(self.context.pk_offset(object.model(), RESOURCE_MODELS))?;
        let title = self.title(pk, object, out);
        let store = if self.context.datastore.is_empty() {
            object.field("name").cloned().unwrap_or(Value::Null)
        } else {
            Value::String(self.context.datastore.clone())
        };
        object.set("upload_session", session);
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
        if let Some(&(start, len)) = self.titles.get(&pk) {
            return self.title_text[start as usize..(start + len) as usize].to_owned();
        }
        if let Some(title) = object.str_field("title") {
            return title.to_owned();
        }
        out.note(format!(
            "no resource with pk {pk} earlier in the run and no title of its own; title_en left empty"
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
