//! The context of one run, handed to every session.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a run knows about its target, the values the manglers need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Context {
    /// Offset added to resource pks (`base.resourcebase` and the models that share its pk).
    pub basepk: i64,
    /// The username that owns what has no owner.
    pub owner: String,
    /// The GeoServer/PostGIS store for vector layers (empty: each layer's own name).
    pub datastore: String,
    /// The target's public URL, without a trailing slash.
    pub siteurl: String,
    /// Per-model pk offsets (`layers.attribute` -> highest pk in the target).
    pub offsets: BTreeMap<String, i64>,
    /// The run's time, `%Y-%m-%dT%H:%M:%S` UTC (from `SOURCE_DATE_EPOCH` when set).
    pub timestamp: String,
    /// The GeoNode version the backup was made with, when known.
    pub source_version: Option<String>,
    /// The GeoNode version of the target, when known.
    pub target_version: Option<String>,
    /// Facts about the target a plugin may need, by name (since mangler-api
    /// 1.1; empty from older hosts): `multilang_fields`, the target's
    /// comma-separated `MULTILANG_FIELDS`; `media_root` and `assets_root`,
    /// the target's absolute `MEDIA_ROOT` and `ASSETS_ROOT`;
    /// `geoserver_public_location`, the target's GeoServer public URL
    /// (restores only); `source_media_root`, the source's `MEDIA_ROOT`
    /// (settings.ini `[geonode] source_media_root`).
    pub options: BTreeMap<String, String>,
    /// The mangler-api version of the host (set by [`crate::client`] since
    /// 1.1; `None` from 1.0 hosts, which take a fixture's end in one call).
    pub host_api: Option<String>,
}

impl Context {
    /// The pk offset for objects of `model`: its own entry in `offsets`, else 0.
    pub fn offset(&self, model: &str) -> i64 {
        self.offsets.get(model).copied().unwrap_or(0)
    }

    /// The pk offset for `model`, where the models in `resource_models`
    /// share `base.resourcebase`'s pk and so move by `basepk`.
    pub fn pk_offset(&self, model: &str, resource_models: &[&str]) -> i64 {
        if resource_models.contains(&model) {
            self.basepk
        } else {
            self.offset(model)
        }
    }
}
