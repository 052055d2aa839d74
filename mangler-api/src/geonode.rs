//! Helpers for facts about GeoNode's models that several plugins need.

use serde_json::{json, Map, Value};

use crate::{Context, FixtureObject, ManglerError};

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
}
