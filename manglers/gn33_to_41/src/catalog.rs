//! What GeoNode 4.1.5's `migrate` does to a 3.3 database, as fixture facts.

/// Layer `storeType` to resource `subtype` (migration `base.0067`); any
/// other value is copied as it is.
pub fn layer_subtype(store_type: &str) -> &str {
    match store_type {
        "dataStore" => "vector",
        "coverageStore" => "raster",
        "remoteStore" => "remote",
        "vectorTimeSeries" => "vector_time",
        other => other,
    }
}

/// A remote service type to a dataset `ptype` (migration `layers.0037`,
/// `GXP_PTYPES`); `None` for types it does not list.
pub fn ptype_for(service_type: &str) -> Option<&'static str> {
    Some(match service_type {
        "AUTO" | "OWS" | "WMS" | "WFS" | "WCS" | "GN_WMS" => "gxp_wmscsource",
        "REST_MAP" | "REST_IMG" => "gxp_arcrestsource",
        "HGL" => "gxp_hglsource",
        "SOS" => "gxp_sos",
        _ => return None,
    })
}

/// The `ptype` every local dataset gets (the field's default).
pub const DEFAULT_PTYPE: &str = "gxp_wmscsource";

/// The state every resource gets (migration `base.0060`).
pub const PROCESSED: &str = "PROCESSED";

/// Extensions of image documents (4.1's `DOCUMENT_TYPE_MAP` entries of
/// type `image`): migration `documents.0036` clears the thumbnail of every
/// other document.
pub const IMAGE_EXTENSIONS: [&str; 8] = ["bm", "bmp", "fif", "gif", "jpe", "jpeg", "jpg", "png"];

/// The path part of 3.3's placeholder thumbnail (`static(MISSING_THUMB)`):
/// migration `base.0083` clears thumbnail URLs that contain it.
pub const MISSING_THUMB: &str = "/static/geonode/img/missing_thumb.png";

/// The name of the links migrations `base.0083` and `documents.0036`
/// delete for resources left without a thumbnail URL.
pub const THUMBNAIL_LINK: &str = "Thumbnail";

/// Fields 4.1 no longer has, by model, dropped by `RemoveField` with no
/// data step; `(model, fields)`.
pub const REMOVED_FIELDS: [(&str, &[&str]); 5] = [
    ("base.resourcebase", &["detail_url"]),
    ("documents.document", &["doc_file", "doc_type"]),
    ("maps.map", &["zoom", "projection", "center_x", "center_y"]),
    (
        "maps.maplayer",
        &[
            "stack_order",
            "format",
            "opacity",
            "styles",
            "transparent",
            "fixed",
            "group",
            "visibility",
            "layer_params",
            "source_params",
        ],
    ),
    (
        "services.service",
        &[
            "probe",
            "access_constraints",
            "api_key",
            "connection_params",
            "external_id",
            "fees",
            "first_noanswer",
            "noanswer_retries",
            "online_resource",
            "parent",
            "password",
            "profiles",
            "proxy_base",
            "resources_ref",
            "store_ref",
            "username",
            "workspace_ref",
        ],
    ),
];

/// The theme fields migration `geonode_themes.0012` removes.
pub const REMOVED_THEME_FIELDS: [&str; 97] = [
    "body_color",
    "body_text_color",
    "contact_administrative_area",
    "contact_city",
    "contact_country",
    "contact_delivery_point",
    "contact_email",
    "contact_facsimile",
    "contact_name",
    "contact_position",
    "contact_postal_code",
    "contact_street",
    "contact_voice",
    "contactus",
    "cookie_law_info_accept_close_reload",
    "cookie_law_info_animate_speed_hide",
    "cookie_law_info_animate_speed_show",
    "cookie_law_info_as_popup",
    "cookie_law_info_background",
    "cookie_law_info_bar_enabled",
    "cookie_law_info_bar_head",
    "cookie_law_info_bar_heading_text",
    "cookie_law_info_bar_text",
    "cookie_law_info_border",
    "cookie_law_info_border_on",
    "cookie_law_info_button_1_as_button",
    "cookie_law_info_button_1_button_colour",
    "cookie_law_info_button_1_button_hover",
    "cookie_law_info_button_1_link_colour",
    "cookie_law_info_button_1_new_win",
    "cookie_law_info_button_2_as_button",
    "cookie_law_info_button_2_button_colour",
    "cookie_law_info_button_2_button_hover",
    "cookie_law_info_button_2_hidebar",
    "cookie_law_info_button_2_link_colour",
    "cookie_law_info_button_3_as_button",
    "cookie_law_info_button_3_button_colour",
    "cookie_law_info_button_3_button_hover",
    "cookie_law_info_button_3_link_colour",
    "cookie_law_info_button_3_new_win",
    "cookie_law_info_button_4_as_button",
    "cookie_law_info_button_4_button_colour",
    "cookie_law_info_button_4_button_hover",
    "cookie_law_info_button_4_link_colour",
    "cookie_law_info_cookie_bar_as",
    "cookie_law_info_data_controller",
    "cookie_law_info_data_controller_address",
    "cookie_law_info_data_controller_email",
    "cookie_law_info_data_controller_phone",
    "cookie_law_info_font_family",
    "cookie_law_info_header_fix",
    "cookie_law_info_leave_url",
    "cookie_law_info_logging_on",
    "cookie_law_info_notify_animate_hide",
    "cookie_law_info_notify_animate_show",
    "cookie_law_info_notify_div_id",
    "cookie_law_info_notify_position_horizontal",
    "cookie_law_info_notify_position_vertical",
    "cookie_law_info_popup_overlay",
    "cookie_law_info_popup_showagain_position",
    "cookie_law_info_reject_close_reload",
    "cookie_law_info_scroll_close",
    "cookie_law_info_scroll_close_reload",
    "cookie_law_info_show_once",
    "cookie_law_info_show_once_yn",
    "cookie_law_info_showagain_background",
    "cookie_law_info_showagain_border",
    "cookie_law_info_showagain_div_id",
    "cookie_law_info_showagain_head",
    "cookie_law_info_showagain_tab",
    "cookie_law_info_showagain_x_position",
    "cookie_law_info_text",
    "cookie_law_info_widget_position",
    "copyright",
    "copyright_color",
    "footer_bg_color",
    "footer_href_color",
    "footer_text_color",
    "jumbotron_color",
    "jumbotron_cta_hide",
    "jumbotron_cta_link",
    "jumbotron_cta_text",
    "jumbotron_text_color",
    "jumbotron_title_color",
    "navbar_color",
    "navbar_dropdown_menu",
    "navbar_dropdown_menu_divider",
    "navbar_dropdown_menu_hover",
    "navbar_dropdown_menu_text",
    "navbar_text_color",
    "navbar_text_hover",
    "navbar_text_hover_focus",
    "partners",
    "partners_title",
    "search_bg_color",
    "search_link_color",
    "search_title_color",
];

/// Upload size limits: migration `upload.0035` renames this slug...
pub const OLD_TOTAL_SIZE_SLUG: &str = "total_upload_size_sum";

/// ... to this one.
pub const DATASET_SIZE_SLUG: &str = "dataset_upload_size";

/// The slug whose description `upload.0035` rewrites ...
pub const HANDLER_SIZE_SLUG: &str = "file_upload_handler";

/// ... to this text.
pub const HANDLER_SIZE_TEXT: &str =
    "Request total size, validated before the upload process. This should be greater than \"dataset_upload_size\".";

/// The parallelism limit migration `upload.0037` creates: slug, description.
pub const PARALLELISM_SLUG: &str = "default_max_parallel_uploads";

/// Its description.
pub const PARALLELISM_TEXT: &str = "The default maximum parallel uploads per user.";

/// Its number, GeoNode's `DEFAULT_MAX_PARALLEL_UPLOADS_PER_USER` default
/// (the `default_max_parallel_uploads` option overrides it).
pub const PARALLELISM_DEFAULT: u64 = 5;

/// The notice types GeoNode 4.1.5's post_migrate creates that 3.3 has not,
/// `(label, display, description)`, in the order it creates them: those of
/// `geonode.layers`, then `dataset_uploaded` of `geonode.geoserver`
/// (`NOTIFICATIONS` of their app configs; `INSTALLED_APPS` order).
pub const NEW_NOTICE_TYPES: [(&str, &str, &str); 7] = [
    (
        "dataset_created",
        "Dataset Created",
        "A Dataset was created",
    ),
    (
        "dataset_updated",
        "Dataset Updated",
        "A Dataset was updated",
    ),
    (
        "dataset_approved",
        "Dataset Approved",
        "A Dataset was approved by a Manager",
    ),
    (
        "dataset_published",
        "Dataset Published",
        "A Dataset was published",
    ),
    (
        "dataset_deleted",
        "Dataset Deleted",
        "A Dataset was deleted",
    ),
    (
        "dataset_rated",
        "Rating for Dataset",
        "A rating was given to a layer",
    ),
    (
        "dataset_uploaded",
        "Dataset Uploaded",
        "A layer was uploaded",
    ),
];

/// The `default` of each (pinax's `NoticeType.create` default).
pub const NOTICE_DEFAULT: i64 = 2;

/// The content types GeoNode 4.1.5's `migrate` adds to a 3.3 database,
/// `(app_label, model)`, in the order it adds them.
pub const NEW_CONTENT_TYPES: &[(&str, &str)] = &[
    ("sequences", "sequence"),
    ("harvesting", "harvester"),
    ("harvesting", "harvestableresource"),
    ("harvesting", "asynchronousharvestingsession"),
    ("resource", "executionrequest"),
    ("geonode_resource_processing", "abstractprocessingtask"),
    ("geonode_resource_processing", "processingworkflow"),
    ("geonode_resource_processing", "sampleprocessingtask"),
    ("geonode_resource_processing", "processingworkflowtasks"),
    ("processing", "samplegeoserverprocessingtask"),
    ("upload", "uploadparallelismlimit"),
    ("dynamic_models", "modelschema"),
    ("dynamic_models", "fieldschema"),
    ("importer", "resourcehandlerinfo"),
];

/// The permissions it adds, `(app_label, model, codename, name)`, in order.
pub const NEW_PERMISSIONS: &[(&str, &str, &str, &str)] = &[
    ("sequences", "sequence", "add_sequence", "Can add sequence"),
    (
        "sequences",
        "sequence",
        "change_sequence",
        "Can change sequence",
    ),
    (
        "sequences",
        "sequence",
        "delete_sequence",
        "Can delete sequence",
    ),
    (
        "sequences",
        "sequence",
        "view_sequence",
        "Can view sequence",
    ),
    ("layers", "dataset", "add_dataset", "Can add dataset"),
    ("layers", "dataset", "change_dataset", "Can change dataset"),
    ("layers", "dataset", "delete_dataset", "Can delete dataset"),
    ("layers", "dataset", "view_dataset", "Can view dataset"),
    (
        "layers",
        "dataset",
        "change_dataset_data",
        "Can edit layer data",
    ),
    (
        "layers",
        "dataset",
        "change_dataset_style",
        "Can change layer style",
    ),
    (
        "harvesting",
        "harvester",
        "add_harvester",
        "Can add harvester",
    ),
    (
        "harvesting",
        "harvester",
        "change_harvester",
        "Can change harvester",
    ),
    (
        "harvesting",
        "harvester",
        "delete_harvester",
        "Can delete harvester",
    ),
    (
        "harvesting",
        "harvester",
        "view_harvester",
        "Can view harvester",
    ),
    (
        "harvesting",
        "harvestableresource",
        "add_harvestableresource",
        "Can add harvestable resource",
    ),
    (
        "harvesting",
        "harvestableresource",
        "change_harvestableresource",
        "Can change harvestable resource",
    ),
    (
        "harvesting",
        "harvestableresource",
        "delete_harvestableresource",
        "Can delete harvestable resource",
    ),
    (
        "harvesting",
        "harvestableresource",
        "view_harvestableresource",
        "Can view harvestable resource",
    ),
    (
        "harvesting",
        "asynchronousharvestingsession",
        "add_asynchronousharvestingsession",
        "Can add asynchronous harvesting session",
    ),
    (
        "harvesting",
        "asynchronousharvestingsession",
        "change_asynchronousharvestingsession",
        "Can change asynchronous harvesting session",
    ),
    (
        "harvesting",
        "asynchronousharvestingsession",
        "delete_asynchronousharvestingsession",
        "Can delete asynchronous harvesting session",
    ),
    (
        "harvesting",
        "asynchronousharvestingsession",
        "view_asynchronousharvestingsession",
        "Can view asynchronous harvesting session",
    ),
    (
        "resource",
        "executionrequest",
        "add_executionrequest",
        "Can add execution request",
    ),
    (
        "resource",
        "executionrequest",
        "change_executionrequest",
        "Can change execution request",
    ),
    (
        "resource",
        "executionrequest",
        "delete_executionrequest",
        "Can delete execution request",
    ),
    (
        "resource",
        "executionrequest",
        "view_executionrequest",
        "Can view execution request",
    ),
    (
        "geonode_resource_processing",
        "abstractprocessingtask",
        "add_abstractprocessingtask",
        "Can add abstract processing task",
    ),
    (
        "geonode_resource_processing",
        "abstractprocessingtask",
        "change_abstractprocessingtask",
        "Can change abstract processing task",
    ),
    (
        "geonode_resource_processing",
        "abstractprocessingtask",
        "delete_abstractprocessingtask",
        "Can delete abstract processing task",
    ),
    (
        "geonode_resource_processing",
        "abstractprocessingtask",
        "view_abstractprocessingtask",
        "Can view abstract processing task",
    ),
    (
        "geonode_resource_processing",
        "processingworkflow",
        "add_processingworkflow",
        "Can add processing workflow",
    ),
    (
        "geonode_resource_processing",
        "processingworkflow",
        "change_processingworkflow",
        "Can change processing workflow",
    ),
    (
        "geonode_resource_processing",
        "processingworkflow",
        "delete_processingworkflow",
        "Can delete processing workflow",
    ),
    (
        "geonode_resource_processing",
        "processingworkflow",
        "view_processingworkflow",
        "Can view processing workflow",
    ),
    (
        "geonode_resource_processing",
        "sampleprocessingtask",
        "add_sampleprocessingtask",
        "Can add sample processing task",
    ),
    (
        "geonode_resource_processing",
        "sampleprocessingtask",
        "change_sampleprocessingtask",
        "Can change sample processing task",
    ),
    (
        "geonode_resource_processing",
        "sampleprocessingtask",
        "delete_sampleprocessingtask",
        "Can delete sample processing task",
    ),
    (
        "geonode_resource_processing",
        "sampleprocessingtask",
        "view_sampleprocessingtask",
        "Can view sample processing task",
    ),
    (
        "geonode_resource_processing",
        "processingworkflowtasks",
        "add_processingworkflowtasks",
        "Can add processing workflow tasks",
    ),
    (
        "geonode_resource_processing",
        "processingworkflowtasks",
        "change_processingworkflowtasks",
        "Can change processing workflow tasks",
    ),
    (
        "geonode_resource_processing",
        "processingworkflowtasks",
        "delete_processingworkflowtasks",
        "Can delete processing workflow tasks",
    ),
    (
        "geonode_resource_processing",
        "processingworkflowtasks",
        "view_processingworkflowtasks",
        "Can view processing workflow tasks",
    ),
    (
        "processing",
        "samplegeoserverprocessingtask",
        "add_samplegeoserverprocessingtask",
        "Can add sample geo server processing task",
    ),
    (
        "processing",
        "samplegeoserverprocessingtask",
        "change_samplegeoserverprocessingtask",
        "Can change sample geo server processing task",
    ),
    (
        "processing",
        "samplegeoserverprocessingtask",
        "delete_samplegeoserverprocessingtask",
        "Can delete sample geo server processing task",
    ),
    (
        "processing",
        "samplegeoserverprocessingtask",
        "view_samplegeoserverprocessingtask",
        "Can view sample geo server processing task",
    ),
    (
        "upload",
        "uploadparallelismlimit",
        "add_uploadparallelismlimit",
        "Can add upload parallelism limit",
    ),
    (
        "upload",
        "uploadparallelismlimit",
        "change_uploadparallelismlimit",
        "Can change upload parallelism limit",
    ),
    (
        "upload",
        "uploadparallelismlimit",
        "delete_uploadparallelismlimit",
        "Can delete upload parallelism limit",
    ),
    (
        "upload",
        "uploadparallelismlimit",
        "view_uploadparallelismlimit",
        "Can view upload parallelism limit",
    ),
    (
        "dynamic_models",
        "modelschema",
        "add_modelschema",
        "Can add model schema",
    ),
    (
        "dynamic_models",
        "modelschema",
        "change_modelschema",
        "Can change model schema",
    ),
    (
        "dynamic_models",
        "modelschema",
        "delete_modelschema",
        "Can delete model schema",
    ),
    (
        "dynamic_models",
        "modelschema",
        "view_modelschema",
        "Can view model schema",
    ),
    (
        "dynamic_models",
        "fieldschema",
        "add_fieldschema",
        "Can add field schema",
    ),
    (
        "dynamic_models",
        "fieldschema",
        "change_fieldschema",
        "Can change field schema",
    ),
    (
        "dynamic_models",
        "fieldschema",
        "delete_fieldschema",
        "Can delete field schema",
    ),
    (
        "dynamic_models",
        "fieldschema",
        "view_fieldschema",
        "Can view field schema",
    ),
    (
        "importer",
        "resourcehandlerinfo",
        "add_resourcehandlerinfo",
        "Can add resource handler info",
    ),
    (
        "importer",
        "resourcehandlerinfo",
        "change_resourcehandlerinfo",
        "Can change resource handler info",
    ),
    (
        "importer",
        "resourcehandlerinfo",
        "delete_resourcehandlerinfo",
        "Can delete resource handler info",
    ),
    (
        "importer",
        "resourcehandlerinfo",
        "view_resourcehandlerinfo",
        "Can view resource handler info",
    ),
];
