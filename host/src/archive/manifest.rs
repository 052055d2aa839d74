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
    /// Where the source's GeoServer kept things, for moving them to the target.
    pub geoserver: Option<GeoServerSource>,
    /// Where the source GeoNode lived: its address and folders, for moving
    /// them to the target's (absent from older manifests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteSource>,
    /// The datastore's tables, by entry (`gs_data_dir/geonode/<table>.sql`).
    pub datastore_tables: BTreeMap<String, TableRecord>,
    /// Symbolic links of the backed-up folders, by entry name
    /// (`uploaded/<path>`), each with its target relative to the link's
    /// folder, never leaving the backed-up folder.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub links: BTreeMap<String, String>,
}

/// The source's GeoServer paths and datastore, as recorded at backup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeoServerSource {
    /// GeoServer's data directory on the source.
    pub datadir: Option<String>,
    /// GeoNode's datastore on the source (never its password).
    pub datastore: Option<DatastoreSource>,
    /// GeoServer's public URL on the source (its `proxyBaseUrl`, as GeoNode sets it).
    pub public_url: Option<String>,
}

/// The source GeoNode's address and folders, as recorded at backup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SiteSource {
    /// Its `SITEURL`.
    pub siteurl: Option<String>,
    /// Its `MEDIA_ROOT`.
    pub media_root: Option<String>,
    /// Its `ASSETS_ROOT`.
    pub assets_root: Option<String>,
}

/// A datastore's connection, without its password.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatastoreSource {
    /// Host (empty: the local socket).
    pub host: String,
    /// Port (empty: the default).
    pub port: String,
    /// Database name.
    pub database: String,
    /// User.
    pub user: String,
}

/// One datastore table in the archive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TableRecord {
    /// Its schema.
    pub schema: String,
    /// Its name, as PostgreSQL spells it.
    pub table: String,
    /// Rows at backup.
    pub rows: u64,
}

/// Size and checksum of one entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryDigest {
    /// Bytes.
    pub size: u64,
    /// Hex sha256.
    pub sha256: String,
}

#[cfg(test)]
mod tests {
    use super::Manifest;

    #[test]
    fn a_manifest_without_the_site_section_reads_and_writes_none() {
        let manifest: Manifest =
            serde_json::from_str(r#"{"format": 1, "gnbr_version": "0.1.0"}"#).unwrap();
        assert_eq!(manifest.site, None);
        assert!(!serde_json::to_string(&manifest).unwrap().contains("site"));
    }
}
