//! Helpers for facts about GeoNode's models that several plugins need.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use crate::{Context, FixtureObject, ManglerError, Output};

/// The path part of a URL: `http://host:8080/layers/x` -> `/layers/x`.
///
/// A relative URL (`/layers/x`) is its own path; a bare one (`layers/x`)
/// gets a leading `/`.
pub fn url_path(url: &str) -> String {
    let rest = match url.find("://") {
        Some(scheme_end) => {
            let after = &url[scheme_end + 3..];
            match after.find(['/', '?', '#']) {
                Some(path_start) => &after[path_start..],
                None => "",
            }
        }
        None => url,
    };
    if rest.starts_with('/') || rest.is_empty() {
        rest.to_owned()
    } else {
        format!("/{rest}")
    }
}

/// The page of a resource on the target: `siteurl` followed by the URL's path.
pub fn detail_url(siteurl: &str, url: &str) -> String {
    format!("{}{}", siteurl.trim_end_matches('/'), url_path(url))
}

/// What kind of resource a GeoNode URL points at, from its path segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// `/layers/...`
    Layer,
    /// `/maps/...`
    Map,
    /// `/documents/...`
    Document,
}

impl ResourceKind {
    /// The kind named by the first `layers`, `maps` or `documents` segment of the URL's path.
    pub fn of_url(url: &str) -> Option<Self> {
        url_path(url).split('/').find_map(|segment| match segment {
            "layers" => Some(Self::Layer),
            "maps" => Some(Self::Map),
            "documents" => Some(Self::Document),
            _ => None,
        })
    }

    /// The content type's natural key (`["layers", "layer"]`).
    pub fn content_type(self) -> Value {
        match self {
            Self::Layer => json!(["layers", "layer"]),
            Self::Map => json!(["maps", "map"]),
            Self::Document => json!(["documents", "document"]),
        }
    }
}

/// The `layers.uploadsession` GeoNode 2.4 expects for each resource.
pub fn upload_session(pk: i64, user: Value, date: &str) -> FixtureObject {
    let mut fields = Map::new();
    fields.insert("user".into(), user);
    fields.insert("traceback".into(), Value::Null);
    fields.insert("context".into(), Value::Null);
    fields.insert("error".into(), Value::Null);
    fields.insert("processed".into(), Value::Bool(true));
    fields.insert("date".into(), Value::String(date.to_owned()));
    FixtureObject::new("layers.uploadsession", pk, fields)
}

/// The pk of the 2.4 upload session of the resource or layer `object` (read
/// before its pk moves): its backup pk moved by the upload sessions' own
/// offset, since their table has its own sequence.
///
/// # Errors
///
/// When the pk is not an integer, or the sum overflows.
pub fn upload_session_pk(context: &Context, object: &FixtureObject) -> Result<i64, ManglerError> {
    let offset = context.offset("layers.uploadsession");
    object.pk_i64()?.checked_add(offset).ok_or_else(|| {
        ManglerError::new(format!(
            "the upload session offset {offset} overflows a 64-bit key"
        ))
    })
}

/// A Django model as its content type and default permissions name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DjangoModel {
    /// The content type's `app_label`.
    pub app_label: &'static str,
    /// The content type's `model`.
    pub model: &'static str,
    /// The model's `verbose_name`, which its permissions are named after
    /// (`Can add <verbose_name>`).
    pub verbose_name: &'static str,
}

impl DjangoModel {
    /// The model `app_label.model` whose `verbose_name` is this.
    pub const fn new(
        app_label: &'static str,
        model: &'static str,
        verbose_name: &'static str,
    ) -> Self {
        Self {
            app_label,
            model,
            verbose_name,
        }
    }
}

/// Django's default permissions, in the order it creates them.
pub const DEFAULT_PERMISSIONS: [&str; 4] = ["add", "change", "delete", "view"];

/// The content types of a run: those of the backup's `contenttypes`
/// fixture, then those a plugin adds as the target's `migrate` would.
#[derive(Debug, Default)]
pub struct ContentTypes {
    max_pk: i64,
    ids: HashMap<(String, String), i64>,
    by_id: HashMap<i64, (String, String)>,
}

impl ContentTypes {
    /// Notes a `contenttypes.contenttype` object of the fixture: its pk,
    /// and its `app_label` and `model` when it has both.
    ///
    /// # Errors
    ///
    /// When its pk is not an integer.
    pub fn record(&mut self, object: &FixtureObject) -> Result<(), ManglerError> {
        let pk = object.pk_i64()?;
        self.max_pk = self.max_pk.max(pk);
        if let (Some(app), Some(model)) = (object.str_field("app_label"), object.str_field("model"))
        {
            let key = (app.to_owned(), model.to_owned());
            self.ids.insert(key.clone(), pk);
            self.by_id.insert(pk, key);
        }
        Ok(())
    }

    /// The id of the content type `app_label.model`, if the run has it.
    pub fn id(&self, app_label: &str, model: &str) -> Option<i64> {
        self.ids
            .get(&(app_label.to_owned(), model.to_owned()))
            .copied()
    }

    /// The `(app_label, model)` of the content type with this id.
    pub fn natural_key(&self, id: i64) -> Option<(&str, &str)> {
        self.by_id
            .get(&id)
            .map(|(app, model)| (app.as_str(), model.as_str()))
    }

    /// The id of the content type `app_label.model`: the run's when it has
    /// it, else a new one after the highest so far (as Django's `migrate`
    /// numbers them), whose object goes to `out`.
    pub fn add(&mut self, app_label: &str, model: &str, out: &mut Output) -> i64 {
        if let Some(id) = self.id(app_label, model) {
            return id;
        }
        self.max_pk += 1;
        let key = (app_label.to_owned(), model.to_owned());
        self.ids.insert(key.clone(), self.max_pk);
        self.by_id.insert(self.max_pk, key);
        let mut fields = Map::new();
        fields.insert("app_label".into(), app_label.into());
        fields.insert("model".into(), model.into());
        out.emit(FixtureObject::new(
            "contenttypes.contenttype",
            self.max_pk,
            fields,
        ));
        self.max_pk
    }
}

/// The permissions of a run: those of the backup's `auth` fixture, then
/// those a plugin adds as the target's `migrate` would.
#[derive(Debug, Default)]
pub struct Permissions {
    max_pk: i64,
    /// `(content type, codename)`; the content type as its id, or as
    /// `app_label.model` where the fixture has natural keys.
    seen: HashSet<(String, String)>,
}

impl Permissions {
    /// Notes an `auth.permission` object of the fixture: its pk, and its
    /// content type and codename.
    ///
    /// # Errors
    ///
    /// When its pk is not an integer.
    pub fn record(&mut self, object: &FixtureObject) -> Result<(), ManglerError> {
        let pk = object.pk_i64()?;
        self.max_pk = self.max_pk.max(pk);
        let content_type = match object.field("content_type") {
            Some(Value::Array(natural)) => natural
                .iter()
                .map(|part| part.as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("."),
            Some(id) => id.to_string(),
            None => String::new(),
        };
        if let Some(codename) = object.str_field("codename") {
            self.seen.insert((content_type, codename.to_owned()));
        }
        Ok(())
    }

    /// Adds the permission `codename` named `name` of the content type
    /// `content_type` (`natural_key` is its `(app_label, model)`), after
    /// the highest pk so far, unless the run has it (by id or natural
    /// key); its object goes to `out`. Whether it was added.
    pub fn add(
        &mut self,
        content_type: i64,
        natural_key: (&str, &str),
        codename: &str,
        name: &str,
        out: &mut Output,
    ) -> bool {
        let by_id = (content_type.to_string(), codename.to_owned());
        let (app_label, model) = natural_key;
        let by_name = (format!("{app_label}.{model}"), codename.to_owned());
        if self.seen.contains(&by_id) || self.seen.contains(&by_name) {
            return false;
        }
        self.max_pk += 1;
        let mut fields = Map::new();
        fields.insert("name".into(), name.into());
        fields.insert("content_type".into(), content_type.into());
        fields.insert("codename".into(), codename.into());
        out.emit(FixtureObject::new("auth.permission", self.max_pk, fields));
        self.seen.insert(by_id);
        true
    }

    /// Adds Django's [`DEFAULT_PERMISSIONS`] of `model`, whose content type
    /// is `content_type`: `add_<model>` named `Can add <verbose_name>`, and
    /// so on, each unless the run has it.
    pub fn add_defaults(&mut self, content_type: i64, model: &DjangoModel, out: &mut Output) {
        for action in DEFAULT_PERMISSIONS {
            self.add(
                content_type,
                (model.app_label, model.model),
                &format!("{action}_{}", model.model),
                &format!("Can {action} {}", model.verbose_name),
                out,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_keep_their_leading_slash() {
        assert_eq!(
            url_path("http://host:8080/layers/geonode:x"),
            "/layers/geonode:x"
        );
        assert_eq!(url_path("http://hostlayers.org/layers/x"), "/layers/x");
        assert_eq!(url_path("https://host"), "");
        assert_eq!(url_path("/maps/3"), "/maps/3");
        assert_eq!(url_path("documents/4"), "/documents/4");
    }

    #[test]
    fn kinds_come_from_path_segments_not_substrings() {
        assert_eq!(
            ResourceKind::of_url("http://layers.host/documents/7"),
            Some(ResourceKind::Document)
        );
        assert_eq!(
            ResourceKind::of_url("/maps/2/view"),
            Some(ResourceKind::Map)
        );
        assert_eq!(ResourceKind::of_url("http://h/data/x"), None);
    }

    /// The objects written to `out`, as JSON text.
    fn emitted(out: &Output) -> Vec<String> {
        out.objects
            .iter()
            .map(|emitted| match emitted {
                crate::abi::Emitted::Json(text) => text.to_string(),
                crate::abi::Emitted::Input => "input".to_owned(),
            })
            .collect()
    }

    fn object(text: &str) -> FixtureObject {
        FixtureObject::parse(text).unwrap()
    }

    #[test]
    fn content_types_are_added_after_the_highest_unless_present() {
        let mut types = ContentTypes::default();
        for text in [
            r#"{"model":"contenttypes.contenttype","pk":7,"fields":{"app_label":"maps","model":"map"}}"#,
            r#"{"model":"contenttypes.contenttype","pk":3,"fields":{"app_label":"base","model":"link"}}"#,
            r#"{"model":"contenttypes.contenttype","pk":9,"fields":{}}"#,
        ] {
            types.record(&object(text)).unwrap();
        }
        assert_eq!(types.id("maps", "map"), Some(7));
        assert_eq!(types.natural_key(3), Some(("base", "link")));
        assert_eq!(types.natural_key(9), None);
        let mut out = Output::default();
        assert_eq!(types.add("base", "link", &mut out), 3);
        assert_eq!(types.add("assets", "asset", &mut out), 10);
        assert_eq!(types.add("assets", "asset", &mut out), 10);
        assert_eq!(types.add("assets", "localasset", &mut out), 11);
        assert_eq!(types.natural_key(11), Some(("assets", "localasset")));
        assert_eq!(
            emitted(&out),
            [
                r#"{"model":"contenttypes.contenttype","pk":10,"fields":{"app_label":"assets","model":"asset"}}"#,
                r#"{"model":"contenttypes.contenttype","pk":11,"fields":{"app_label":"assets","model":"localasset"}}"#,
            ]
        );
        let refused = types
            .record(&object(
                r#"{"model":"contenttypes.contenttype","pk":"x","fields":{}}"#,
            ))
            .unwrap_err();
        assert!(refused.message().contains("not an integer"), "{refused}");
    }

    #[test]
    fn default_permissions_skip_those_present_by_id_or_natural_key() {
        let mut permissions = Permissions::default();
        for text in [
            r#"{"model":"auth.permission","pk":40,"fields":{"name":"x","content_type":12,"codename":"add_asset"}}"#,
            r#"{"model":"auth.permission","pk":41,"fields":{"name":"x","content_type":["assets","asset"],"codename":"view_asset"}}"#,
            r#"{"model":"auth.permission","pk":5,"fields":{"content_type":12}}"#,
        ] {
            permissions.record(&object(text)).unwrap();
        }
        let mut out = Output::default();
        let asset = DjangoModel::new("assets", "asset", "asset");
        permissions.add_defaults(12, &asset, &mut out);
        permissions.add_defaults(12, &asset, &mut out);
        assert!(permissions.add(13, ("a", "b"), "do_b", "Can do b", &mut out));
        assert!(!permissions.add(13, ("a", "b"), "do_b", "Can do b", &mut out));
        assert_eq!(
            emitted(&out),
            [
                r#"{"model":"auth.permission","pk":42,"fields":{"name":"Can change asset","content_type":12,"codename":"change_asset"}}"#,
                r#"{"model":"auth.permission","pk":43,"fields":{"name":"Can delete asset","content_type":12,"codename":"delete_asset"}}"#,
                r#"{"model":"auth.permission","pk":44,"fields":{"name":"Can do b","content_type":13,"codename":"do_b"}}"#,
            ]
        );
    }
}
