//! `manifest.json`: what gnbr records about a backup it wrote.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The manifest's entry name at the archive root.
pub const MANIFEST_NAME: &str = "manifest.json";

/// gnbr's record of a backup: versions, settings, and every entry's checksum.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Manifest {
    /// The manifest format, 1.
    pub format: u32,
    /// The gnbr version that wrote the archive.
    pub gnbr_version: String,
    /// When it was written, `%Y-%m-%dT%H:%M:%SZ`.
    pub created: String,
    /// The GeoNode version the data fits, when known.
    pub geonode_version: Option<String>,
    /// The settings.ini text used.
    pub settings: Option<String>,
    /// The plugins that migrated the data, in order (`gn20_to_24 1.0.0: ~2.0 -> 2.4.0`).
    pub migrations: Vec<String>,
    /// Objects per fixture entry.
    pub fixtures: BTreeMap<String, u64>,
    /// Size and sha256 of every entry but the manifest.
    pub entries: BTreeMap<String, EntryDigest>,
}

/// Size and checksum of one entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryDigest {
    /// Bytes.
    pub size: u64,
    /// Hex sha256.
    pub sha256: String,
}
