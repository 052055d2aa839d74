//! What GeoNode 5.1's `migrate` adds to a 4.4 database, as fixture facts.

use mangler_api::geonode::DjangoModel;

/// Rule 7: the six content types `migrate` adds, in the order it adds them,
/// with the verbose names their permissions are named after (rule 8).
pub const NEW_MODELS: [DjangoModel; 6] = [
    DjangoModel::new("security", "authconfig", "Authentication Configuration"),
    DjangoModel::new(
        "security",
        "urlpatternauthconfig",
        "URL Pattern Authentication Configuration",
    ),
    DjangoModel::new("metadata", "sparsefield", "sparse field"),
    DjangoModel::new("upload", "resourcehandlerinfo", "resource handler info"),
    DjangoModel::new("geonode_mapstore_client", "extension", "MapStore Extension"),
    DjangoModel::new("indexing", "resourceindex", "resource index"),
];

/// Rule 9: the notice type GeoNode 5.1 adds.
pub const RESOURCE_CREATED: &str = "resourcebase_created";

/// Rule 9: the display text and description of [`RESOURCE_CREATED`].
pub const RESOURCE_CREATED_TEXT: &str = "Resource is created";

/// Rule 6: the upload size limit GeoNode 5.1 adds (migration `upload.0052`).
pub const ASSET_UPLOAD_SIZE: &str = "asset_upload_size";

/// Rule 6: its description.
pub const ASSET_UPLOAD_SIZE_TEXT: &str = "Max size for the uploaded assets file via API";

/// Rule 6: its size, 100 MiB.
pub const ASSET_UPLOAD_SIZE_BYTES: u64 = 104_857_600;

/// Rule 6: the upload handler of a dataset with this resource `subtype`;
/// `None` for `remote` and every subtype GeoNode 5.1's migrations skip.
pub fn handler_for(subtype: &str) -> Option<&'static str> {
    Some(match subtype {
        "vector" => "geonode.upload.handlers.shapefile.handler.ShapeFileHandler",
        "raster" => "geonode.upload.handlers.geotiff.handler.GeoTiffFileHandler",
        "3dtiles" => "geonode.upload.handlers.tiles3d.handler.Tiles3DFileHandler",
        "tabular" => "geonode.upload.handlers.csv.handler.CSVFileHandler",
        "flatgeobuf" => "geonode.upload.handlers.remote.flatgeobuf.RemoteFlatGeobufResourceHandler",
        "cog" => "geonode.upload.handlers.remote.cog.RemoteCOGResourceHandler",
        _ => return None,
    })
}

/// Rule 1: the longest sparse field value GeoNode 5.1 holds (`CharField(max_length=1024)`).
pub const SPARSE_VALUE_MAX: usize = 1024;

/// The text fields of a resource that 4.4 translated on its dataset, map
/// and document rows (`<field>_en`), while the text itself lives on
/// `base.resourcebase`.
pub const RESOURCE_TEXTS: [&str; 6] = [
    "title",
    "abstract",
    "purpose",
    "constraints_other",
    "supplemental_information",
    "data_quality_statement",
];

/// Rule 4: the models whose own fields 4.4 translated (`<field>_en` on the
/// same object), with those fields.
pub const OWN_TRANSLATIONS: [(&str, &[&str]); 8] = [
    ("groups.groupprofile", &["title", "description"]),
    ("groups.groupcategory", &["name"]),
    ("services.service", &["name", "description"]),
    ("base.topiccategory", &["description", "gn_description"]),
    (
        "base.spatialrepresentationtype",
        &["description", "gn_description"],
    ),
    (
        "base.restrictioncodetype",
        &["description", "gn_description"],
    ),
    ("base.license", &["name", "description", "license_text"]),
    ("base.region", &["name"]),
];

/// The models that share `base.resourcebase`'s pk and whose `*_en` values
/// a sparse field can keep.
pub const RESOURCE_CHILDREN: [&str; 4] = [
    "layers.dataset",
    "maps.map",
    "documents.document",
    "services.service",
];

/// Words for a model in the report.
pub fn noun(model: &str) -> &str {
    match model {
        "layers.dataset" => "dataset",
        "maps.map" => "map",
        "documents.document" => "document",
        "services.service" => "service",
        "groups.groupprofile" => "group",
        "groups.groupcategory" => "group category",
        "base.topiccategory" => "topic category",
        "base.spatialrepresentationtype" => "spatial representation type",
        "base.restrictioncodetype" => "restriction code type",
        "base.license" => "license",
        "base.region" => "region",
        other => other,
    }
}
