//! `gn33_to_41`: a GeoNode 3.3 backup into what GeoNode 4.1.5 holds after
//! its in-place upgrade (pointing 4.1.5 at the 3.3 database and running its
//! `migrate`), as GeoNode 4.1.5's own backup dumps it.
//!
//! One mangler per app fixture of the 3.3 backup, plus `FactsMangler`,
//! which reads the facts that 4.1's migrations copy onto resources from
//! fixtures that come after `base` in the archive (layers, documents,
//! services, uploads, MapStore data). The rules, where each is applied and
//! the settings.ini lines that enable them are in this crate's README.

mod catalog;
mod pylit;

use std::collections::{hash_map::Entry, BTreeMap, HashMap, HashSet};

use base64::Engine;
use mangler_api::{
    geonode::{ContentTypes, Permissions},
    prelude::*,
    serde_json::Map,
};

use catalog::{IMAGE_EXTENSIONS, MISSING_THUMB, REMOVED_FIELDS, THUMBNAIL_LINK};
use pylit::{literal_eval, Literal};

/// The many-to-many fields of `base.resourcebase` that GeoNode 3.3's
/// Django (2.2) also wrote on every child object (dataset, map, document,
/// service); 4.1.5's Django (3.2) writes only a model's own.
const INHERITED_M2M: [&str; 5] = [
    "tkeywords",
    "regions",
    "users_geolimits",
    "groups_geolimits",
    "metadata",
];

/// One run of the plugin: the target's facts and what earlier fixtures held.
pub struct Gn33To41 {
    /// The target's `MEDIA_ROOT`, for the absolute paths of `files`.
    media_root: Option<String>,
    /// The OWS URL 4.1 gives every dataset (`<PUBLIC_LOCATION>ows`).
    ows_url: Option<String>,
    /// The target's public URL (for indexed remote services' proxy).
    siteurl: String,
    /// `DEFAULT_MAX_PARALLEL_UPLOADS_PER_USER`.
    parallel_uploads: u64,
    /// The content types of the run.
    content_types: ContentTypes,
    /// The permissions of the run.
    permissions: Permissions,
    notice_types: NoticeTypes,
    facts: Facts,
    /// Facts of every `base.resourcebase` seen, by pk.
    resources: HashMap<i64, Resource>,
    /// Services seen in the services fixture, by pk.
    services: HashMap<i64, Service>,
    /// Datasets seen in the layers fixture, for the map layers.
    datasets: Vec<DatasetKey>,
    /// Indexes into `datasets` by alternate and by name.
    datasets_by_name: HashMap<String, Vec<usize>>,
    /// What has no home in 4.1, by `(model, what)`: how many.
    lost: BTreeMap<(String, String), u64>,
    /// Resources written without the facts of their later fixtures.
    without_facts: Vec<i64>,
    /// Map layers whose dataset more than one dataset matches.
    ambiguous_map_layers: Vec<i64>,
    /// Resources whose files were left out of `files` (no `media_root`).
    files_without_root: Vec<i64>,
    /// Datasets left without their `ows_url` (no `geoserver_public_location`).
    datasets_without_ows_url: Vec<i64>,
    /// Whether the upload fixture held the parallelism limit already.
    parallelism_present: bool,
}

/// The notice types of the run.
#[derive(Default)]
struct NoticeTypes {
    max_pk: i64,
    labels: HashSet<String>,
}

/// What 4.1's migrations copy onto a resource from fixtures that come
/// after `base`, gathered by `FactsMangler`.
#[derive(Default)]
struct Facts {
    /// `storeType` and `remote_service` of each layer.
    layers: HashMap<i64, (Option<String>, Option<i64>)>,
    /// `name` of each service.
    service_names: HashMap<i64, Option<String>>,
    /// `doc_type`, `doc_file`, `extension` of each document.
    documents: HashMap<i64, Document>,
    /// `(upload pk, date)` of each layer's oldest upload (the first of
    /// equal dates), by layer.
    uploads: HashMap<i64, (i64, String)>,
    /// The files of each upload, in fixture order.
    upload_files: HashMap<i64, Vec<String>>,
    /// The MapStore blob of each map resource (`mapstore2_adapter`).
    map_blobs: HashMap<i64, Value>,
    /// `(name, value)` of each map resource's MapStore attributes.
    map_attributes: HashMap<i64, Vec<(String, String)>>,
}

/// A 3.3 document's file facts.
struct Document {
    doc_type: Option<String>,
    doc_file: Option<String>,
    extension: Option<String>,
}

/// What later fixtures need of a resource.
struct Resource {
    alternate: Option<String>,
    /// Whether 4.1 leaves it without a thumbnail URL.
    no_thumbnail: bool,
}

/// What the datasets and map layers need of a service.
struct Service {
    type_: Option<String>,
    base_url: Option<String>,
    method: Option<String>,
    proxy_base: Option<String>,
}

/// What a map layer's dataset is matched by (migration `maps.0037`).
struct DatasetKey {
    pk: i64,
    name: Option<String>,
    alternate: Option<String>,
    store: Option<String>,
    remote_service: Option<i64>,
}

impl Plugin for Gn33To41 {
    fn info() -> PluginInfo {
        PluginInfo::new("gn33_to_41", env!("CARGO_PKG_VERSION"), "~3.3", "4.1.5")
            .summary("GeoNode 3.3 backups into what GeoNode 4.1.5's in-place upgrade leaves.")
            .mangler(
                "FactsMangler",
                &[
                    "layers.layer",
                    "documents.document",
                    "services.service",
                    "upload.upload",
                    "upload.uploadfile",
                    "mapstore2_adapter.mapstoredata",
                    "mapstore2_adapter.mapstoreattribute",
                ],
                "A survey: reads what 4.1 copies onto resources from later fixtures, before the run (run as an ordinary mangler by hosts older than mangler-api 1.2, it passes every object on unchanged).",
            )
            .surveying()
            .mangler(
                "ContentTypesMangler",
                &["contenttypes.contenttype"],
                "Renames the layers.layer content type to layers.dataset in place and adds 4.1's new ones.",
            )
            .emitting(&["contenttypes.contenttype"])
            .mangler(
                "AuthMangler",
                &["auth.permission"],
                "Keeps every permission and adds those 4.1's migrate creates.",
            )
            .emitting(&["auth.permission"])
            .mangler(
                "ActstreamMangler",
                &["actstream.action"],
                "Drops the actions about comments (migration base.0084).",
            )
            .mangler(
                "BaseMangler",
                &["base.resourcebase", "base.link", "base.curatedthumbnail"],
                "Resources get 4.1's fields (state, subtype, files, blob, ...), lose detail_url; thumbnail links of resources without a thumbnail go.",
            )
            .mangler(
                "DialogosMangler",
                &["dialogos.comment"],
                "Drops comments (4.1 has no dialogos app) and reports them.",
            )
            .mangler(
                "DocumentsMangler",
                &["documents.document"],
                "Drops doc_file and doc_type (moved onto the resource).",
            )
            .mangler(
                "NotificationsMangler",
                &["pinax_notifications.noticetype"],
                "Adds the dataset_* notice types 4.1's post_migrate creates.",
            )
            .emitting(&["pinax_notifications.noticetype"])
            .mangler(
                "ServicesMangler",
                &["services.service", "services.harvestjob"],
                "Drops the service fields 4.1 removed, adds harvester; drops harvest jobs.",
            )
            .mangler(
                "LayersMangler",
                &[
                    "layers.layer",
                    "layers.attribute",
                    "layers.layerfile",
                    "layers.uploadsession",
                ],
                "layers.layer becomes layers.dataset, attribute.layer becomes dataset; layer files and upload sessions go.",
            )
            .emitting(&["layers.dataset"])
            .mangler(
                "MapsMangler",
                &["maps.map", "maps.maplayer"],
                "Maps lose centre, zoom and projection; map layers are reshaped and matched to their dataset.",
            )
            .mangler(
                "MapStoreMangler",
                &[
                    "mapstore2_adapter.mapstoreresource",
                    "mapstore2_adapter.mapstoredata",
                    "mapstore2_adapter.mapstoreattribute",
                ],
                "Drops MapStore resources (their blobs and attributes went onto the maps' resources) and reports them.",
            )
            .mangler(
                "UploadMangler",
                &["upload.upload", "upload.uploadfile", "upload.uploadsizelimit"],
                "upload.layer becomes resource, upload files go (moved into the resources' files), size limits renamed, the parallelism limit added.",
            )
            .emitting(&["upload.uploadparallelismlimit"])
            .mangler(
                "ThemesMangler",
                &[
                    "geonode_themes.geonodethemecustomization",
                    "geonode_themes.partner",
                ],
                "Drops the theme fields and partners 4.1 removed, adds extra_css.",
            )
    }

    fn open(context: &Context) -> Result<Self, ManglerError> {
        let option = |name: &str| {
            context
                .options
                .get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let parallel_uploads = match option("default_max_parallel_uploads") {
            Some(text) => text.parse().map_err(|_| {
                ManglerError::new(format!(
                    "option default_max_parallel_uploads is `{text}`, not a whole number"
                ))
            })?,
            None => catalog::PARALLELISM_DEFAULT,
        };
        Ok(Self {
            media_root: option("media_root"),
            ows_url: option("geoserver_public_location").map(|l| url_join(&l, "ows")),
            siteurl: context.siteurl.clone(),
            parallel_uploads,
            content_types: ContentTypes::default(),
            permissions: Permissions::default(),
            notice_types: NoticeTypes::default(),
            facts: Facts::default(),
            resources: HashMap::new(),
            services: HashMap::new(),
            datasets: Vec::new(),
            datasets_by_name: HashMap::new(),
            lost: BTreeMap::new(),
            without_facts: Vec::new(),
            files_without_root: Vec::new(),
            datasets_without_ows_url: Vec::new(),
            ambiguous_map_layers: Vec::new(),
            parallelism_present: false,
        })
    }

    fn mangle(
        &mut self,
        mangler: &str,
        mut object: FixtureObject,
        out: &mut Output,
    ) -> Result<(), ManglerError> {
        if mangler == "FactsMangler" {
            self.facts(&object)?;
            out.emit(object);
            return Ok(());
        }
        match object.model() {
            "contenttypes.contenttype" => self.content_type(&mut object)?,
            "auth.permission" => self.permissions.record(&object)?,
            "pinax_notifications.noticetype" => self.notice_type(&mut object),
            "actstream.action" => {
                if self.is_comment_action(&object) {
                    self.lose("actstream.action", "about a comment");
                    return Ok(());
                }
            }
            "base.resourcebase" => self.resource(&mut object, out)?,
            "base.link" => {
                if self.is_dropped_thumbnail_link(&object) {
                    self.lose(
                        "base.link",
                        "`Thumbnail` link of a resource without thumbnail",
                    );
                    return Ok(());
                }
            }
            "documents.document" => {
                remove_fields(&mut object);
            }
            "services.service" => {
                self.service(&mut object)?;
            }
            "layers.layer" => {
                out.emit(self.dataset(&object)?);
                return Ok(());
            }
            "layers.attribute" => {
                out.emit(rename(&object, "layers.attribute", &[("layer", "dataset")]));
                return Ok(());
            }
            "maps.map" => remove_fields(&mut object),
            "maps.maplayer" => self.map_layer(&mut object)?,
            "upload.upload" => {
                out.emit(rename(&object, "upload.upload", &[("layer", "resource")]));
                return Ok(());
            }
            "upload.uploadsizelimit" => upload_size_limit(&mut object),
            "upload.uploadparallelismlimit" => self.parallelism_present = true,
            "geonode_themes.geonodethemecustomization" => {
                for field in catalog::REMOVED_THEME_FIELDS {
                    object.remove(field);
                }
                if !object.has("extra_css") {
                    object.set("extra_css", Value::Null);
                }
            }
            model => {
                let what = match model {
                    "dialogos.comment" => "comment (4.1 has no dialogos app)",
                    "base.curatedthumbnail" => {
                        "curated thumbnail (4.1 renders it as the resource's thumbnail)"
                    }
                    "services.harvestjob" => "harvest job",
                    "layers.layerfile" => "layer file",
                    "layers.uploadsession" => "upload session",
                    "upload.uploadfile" => "upload file (its path is in the resource's files)",
                    "geonode_themes.partner" => "theme partner",
                    m if m.starts_with("mapstore2_adapter.") => {
                        "MapStore object (blob and attributes are on the map's resource)"
                    }
                    _ => {
                        out.emit(object);
                        return Ok(());
                    }
                };
                self.lose(model, what);
                return Ok(());
            }
        }
        out.emit(object);
        Ok(())
    }

    fn end_fixture(&mut self, mangler: &str, out: &mut Output) -> Result<(), ManglerError> {
        match mangler {
            "ContentTypesMangler" => self.add_content_types(out),
            "AuthMangler" => self.add_permissions(out),
            "NotificationsMangler" => self.add_notice_types(out),
            "UploadMangler" => self.add_parallelism_limit(out),
            _ => {}
        }
        let lost = std::mem::take(&mut self.lost);
        for ((model, what), count) in lost {
            out.note(format!(
                "{count} {model} object(s), {what}, not restored: GeoNode 4.1 has no place for \
                 them and its own upgrade drops them too"
            ));
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Output) {
        if !self.without_facts.is_empty() {
            out.note(format!(
                "{} resource(s) (pk {}) were written before the layers, documents, services, \
                 upload and mapstore2_adapter fixtures were read, so their subtype, files, blob, \
                 source type and remote typename are 4.1's defaults, not what its upgrade \
                 copies: the host did not survey them first (it needs mangler-api 1.2 or \
                 later)",
                self.without_facts.len(),
                ranges(&self.without_facts)
            ));
        }
        if !self.files_without_root.is_empty() {
            out.note(format!(
                "the files of {} resource(s) (pk {}) are left out of `files`, so GeoNode 4.1 \
                 finds none for them (nor do later versions make assets of them): 4.1 keeps \
                 them as absolute paths under its MEDIA_ROOT, which this run does not know \
                 (as in an offline `gnbr migrate`): set `[migrate] media_root` in settings.ini, or \
                 restore the 3.3 archive itself with gnbr, which knows the target's",
                self.files_without_root.len(),
                ranges(&self.files_without_root)
            ));
        }
        if !self.datasets_without_ows_url.is_empty() {
            out.note(format!(
                "{} dataset(s) (pk {}) get ows_url null, where GeoNode 4.1 gives its GeoServer \
                 public location + `ows` (migration layers.0040): this run does not know the \
                 target's (as in an offline `gnbr migrate`): set `[migrate] geoserver_public_location` \
                 in settings.ini, or restore the 3.3 archive itself with gnbr, which knows it",
                self.datasets_without_ows_url.len(),
                ranges(&self.datasets_without_ows_url)
            ));
        }
        if !self.ambiguous_map_layers.is_empty() {
            out.note(format!(
                "map layer(s) {} match more than one dataset by name and store, so they are \
                 left without one (GeoNode 4.1's own upgrade stops with an error there)",
                ranges(&self.ambiguous_map_layers)
            ));
        }
    }
}

impl Gn33To41 {
    fn lose(&mut self, model: &str, what: &str) {
        *self
            .lost
            .entry((model.to_owned(), what.to_owned()))
            .or_default() += 1;
    }

    /// `FactsMangler`: what base needs from later fixtures.
    fn facts(&mut self, object: &FixtureObject) -> Result<(), ManglerError> {
        let pk = object.pk_i64()?;
        let text = |name: &str| object.str_field(name).map(str::to_owned);
        let key = |name: &str| object.field(name).and_then(Value::as_i64);
        let facts = &mut self.facts;
        match object.model() {
            "layers.layer" => {
                facts
                    .layers
                    .insert(pk, (text("storeType"), key("remote_service")));
            }
            "services.service" => {
                facts.service_names.insert(pk, text("name"));
            }
            "documents.document" => {
                facts.documents.insert(
                    pk,
                    Document {
                        doc_type: text("doc_type"),
                        doc_file: text("doc_file"),
                        extension: text("extension"),
                    },
                );
            }
            "upload.upload" => {
                if let Some(layer) = key("layer") {
                    let date = text("date").unwrap_or_default();
                    match facts.uploads.entry(layer) {
                        Entry::Occupied(mut oldest) => {
                            if date < oldest.get().1 {
                                oldest.insert((pk, date));
                            }
                        }
                        Entry::Vacant(slot) => {
                            slot.insert((pk, date));
                        }
                    }
                }
            }
            "upload.uploadfile" => {
                if let (Some(upload), Some(file)) = (key("upload"), text("file")) {
                    facts.upload_files.entry(upload).or_default().push(file);
                }
            }
            "mapstore2_adapter.mapstoredata" => {
                let resource = key("resource").unwrap_or(pk);
                let blob = match object.field("blob") {
                    Some(Value::String(text)) => mangler_api::serde_json::from_str(text)
                        .unwrap_or_else(|_| Value::from(text.as_str())),
                    Some(other) => other.clone(),
                    None => Value::Null,
                };
                facts.map_blobs.entry(resource).or_insert(blob);
            }
            "mapstore2_adapter.mapstoreattribute" => {
                if let (Some(resource), Some(name)) = (key("resource"), text("name")) {
                    facts
                        .map_attributes
                        .entry(resource)
                        .or_default()
                        .push((name, text("value").unwrap_or_default()));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn content_type(&mut self, object: &mut FixtureObject) -> Result<(), ManglerError> {
        // Django's RenameModel renames the content type row in place.
        if object.str_field("app_label") == Some("layers")
            && object.str_field("model") == Some("layer")
        {
            object.set("model", "dataset");
        }
        self.content_types.record(object)
    }

    fn add_content_types(&mut self, out: &mut Output) {
        for (app, model) in catalog::NEW_CONTENT_TYPES {
            self.content_types.add(app, model, out);
        }
    }

    fn add_permissions(&mut self, out: &mut Output) {
        let mut missing = Vec::new();
        for (app, model, codename, name) in catalog::NEW_PERMISSIONS {
            match self.content_types.id(app, model) {
                Some(ct) => {
                    self.permissions.add(ct, (app, model), codename, name, out);
                }
                None => missing.push(format!("{app}.{model}")),
            }
        }
        missing.dedup();
        if !missing.is_empty() {
            out.note(format!(
                "the permissions of {} are not added: their content types are unknown (pair \
                 the contenttypes fixture with gn33_to_41.ContentTypesMangler, before auth)",
                missing.join(", ")
            ));
        }
    }

    /// Pinax's `NoticeType.create`, which 4.1's post_migrate calls for each
    /// of [`catalog::NEW_NOTICE_TYPES`], rewrites the display, description
    /// and default of a label that is already there.
    fn notice_type(&mut self, object: &mut FixtureObject) {
        let types = &mut self.notice_types;
        if let Some(pk) = object.pk().and_then(Value::as_i64) {
            types.max_pk = types.max_pk.max(pk);
        }
        let Some(label) = object.str_field("label").map(str::to_owned) else {
            return;
        };
        if let Some((_, display, description)) = catalog::NEW_NOTICE_TYPES
            .iter()
            .find(|(new, _, _)| *new == label)
        {
            object.set("display", *display);
            object.set("description", *description);
            object.set("default", catalog::NOTICE_DEFAULT);
        }
        types.labels.insert(label);
    }

    /// 4.1's post_migrate: the notice types of [`catalog::NEW_NOTICE_TYPES`]
    /// not there yet, from the highest pk + 1.
    fn add_notice_types(&mut self, out: &mut Output) {
        let types = &mut self.notice_types;
        for (label, display, description) in catalog::NEW_NOTICE_TYPES {
            if !types.labels.insert((*label).to_owned()) {
                continue;
            }
            types.max_pk += 1;
            let mut fields = Map::new();
            fields.insert("label".into(), (*label).into());
            fields.insert("display".into(), (*display).into());
            fields.insert("description".into(), (*description).into());
            fields.insert("default".into(), catalog::NOTICE_DEFAULT.into());
            out.emit(FixtureObject::new(
                "pinax_notifications.noticetype",
                types.max_pk,
                fields,
            ));
        }
    }

    /// Migration `base.0084` deletes the actions whose object is a comment.
    fn is_comment_action(&self, object: &FixtureObject) -> bool {
        object
            .field("action_object_content_type")
            .and_then(Value::as_i64)
            .and_then(|ct| self.content_types.natural_key(ct))
            .is_some_and(|(_, model)| model == "comment")
    }

    /// Migrations `base.0083` and `documents.0036` delete the `Thumbnail`
    /// links of resources left without a thumbnail URL.
    fn is_dropped_thumbnail_link(&self, object: &FixtureObject) -> bool {
        object.str_field("name") == Some(THUMBNAIL_LINK)
            && object
                .field("resource")
                .and_then(Value::as_i64)
                .and_then(|r| self.resources.get(&r))
                .is_some_and(|r| r.no_thumbnail)
    }

    /// A resource as 4.1's migrations leave it.
    fn resource(
        &mut self,
        object: &mut FixtureObject,
        out: &mut Output,
    ) -> Result<(), ManglerError> {
        let pk = object.pk_i64()?;
        remove_fields(object);
        let resource_type = object.str_field("resource_type").map(str::to_owned);
        if resource_type.as_deref() == Some("layer") {
            object.set("resource_type", "dataset");
        }
        let layer = self.facts.layers.get(&pk);
        let document = self.facts.documents.get(&pk);
        let needs_facts = matches!(resource_type.as_deref(), Some("layer" | "document"));
        if needs_facts && layer.is_none() && document.is_none() {
            self.without_facts.push(pk);
        }
        let remote = layer.and_then(|(_, service)| *service);
        let subtype = match (layer, document) {
            (Some((store_type, _)), _) => store_type
                .as_deref()
                .map(|s| Value::from(catalog::layer_subtype(s))),
            (None, Some(document)) => document.doc_type.clone().map(Value::from),
            (None, None) => None,
        };
        let (files, rootless) = files_of(&self.facts, self.media_root.as_deref(), pk);
        if rootless {
            self.files_without_root.push(pk);
        }
        let mut blob = json!({});
        if resource_type.as_deref() == Some("map") {
            if let Some(stored) = self.facts.map_blobs.get(&pk) {
                blob = stored.clone();
            }
            self.map_attributes(pk, object, out);
        }
        if matches!(resource_type.as_deref(), Some("dashboard" | "geostory")) {
            if let Some(ct) = self.content_types.id("geoapps", "geoapp") {
                object.set("polymorphic_ctype", ct);
            }
        }
        let missing_thumb = object
            .str_field("thumbnail_url")
            .is_some_and(|url| url.to_lowercase().contains(MISSING_THUMB));
        let not_image = document.is_some_and(|d| {
            files.is_empty()
                || !d
                    .extension
                    .as_deref()
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_lowercase().as_str()))
        });
        if missing_thumb || not_image {
            object.set("thumbnail_url", Value::Null);
        }
        // Migration documents.0036 saves these documents with the live
        // model, whose save() fills an empty resource_type from the
        // polymorphic content type.
        if not_image && resource_type.is_none() {
            let model = object
                .field("polymorphic_ctype")
                .and_then(Value::as_i64)
                .and_then(|ct| self.content_types.natural_key(ct))
                .map(|(_, model)| model.to_owned());
            if let Some(model) = model {
                object.set("resource_type", model);
            }
        }
        let no_thumbnail = object.field("thumbnail_url").is_none_or(Value::is_null);
        object.set("thumbnail_path", Value::Null);
        object.set("state", catalog::PROCESSED);
        object.set(
            "sourcetype",
            if remote.is_some() { "REMOTE" } else { "LOCAL" },
        );
        object.set(
            "remote_typename",
            remote
                .and_then(|s| self.facts.service_names.get(&s).cloned().flatten())
                .map_or(Value::Null, Value::from),
        );
        object.set(
            "files",
            Value::Array(files.into_iter().map(Value::from).collect()),
        );
        object.set("blob", blob);
        object.set("subtype", subtype.unwrap_or(Value::Null));
        self.resources.insert(
            pk,
            Resource {
                alternate: object.str_field("alternate").map(str::to_owned),
                no_thumbnail,
            },
        );
        Ok(())
    }

    /// Migration `geonode_mapstore_client.0002`: each MapStore attribute of
    /// a map becomes the resource field of its name (`thumbnail` the
    /// thumbnail URL unless it is a data URL).
    fn map_attributes(&self, pk: i64, object: &mut FixtureObject, out: &mut Output) {
        let Some(attributes) = self.facts.map_attributes.get(&pk) else {
            return;
        };
        for (name, value) in attributes {
            let value = decode_attribute(value);
            if name == "thumbnail" {
                if !value.contains("data:image/") && !value.is_empty() {
                    object.set("thumbnail_url", value);
                }
            } else if object.has(name) {
                object.set(name, value);
            } else {
                out.note(format!(
                    "the MapStore attribute `{name}` of this map is no resource field, so it is \
                     not restored: {}",
                    Value::from(value)
                ));
            }
        }
    }

    fn service(&mut self, object: &mut FixtureObject) -> Result<(), ManglerError> {
        let pk = object.pk_i64()?;
        let text = |name: &str| object.str_field(name).map(str::to_owned);
        self.services.insert(
            pk,
            Service {
                type_: text("type"),
                base_url: text("base_url"),
                method: text("method"),
                proxy_base: text("proxy_base"),
            },
        );
        remove_fields(object);
        if !object.has("harvester") {
            object.set("harvester", Value::Null);
        }
        Ok(())
    }

    /// A 3.3 layer as the 4.1 dataset it becomes (migrations `layers.0035`
    /// to `0044`).
    fn dataset(&mut self, object: &FixtureObject) -> Result<FixtureObject, ManglerError> {
        let pk = object.pk_i64()?;
        let remote = object.field("remote_service").and_then(Value::as_i64);
        let service = remote.and_then(|s| self.services.get(&s));
        let ptype = match service {
            Some(service) => service
                .type_
                .as_deref()
                .and_then(catalog::ptype_for)
                .map_or(Value::Null, Value::from),
            None => Value::from(catalog::DEFAULT_PTYPE),
        };
        let ows_url = match (remote, service) {
            (Some(id), Some(service)) if service.method.as_deref() == Some("I") => {
                match service.proxy_base.as_deref().filter(|p| !p.is_empty()) {
                    Some(_) => Value::from(format!("{}/services/{id}/proxy", self.siteurl)),
                    None => service.base_url.clone().map_or(Value::Null, Value::from),
                }
            }
            _ => match &self.ows_url {
                Some(url) => Value::from(url.as_str()),
                None => {
                    self.datasets_without_ows_url.push(pk);
                    Value::Null
                }
            },
        };
        let key = DatasetKey {
            pk,
            name: object.str_field("name").map(str::to_owned),
            alternate: self.resources.get(&pk).and_then(|r| r.alternate.clone()),
            store: object.str_field("store").map(str::to_owned),
            remote_service: remote,
        };
        let index = self.datasets.len();
        for name in [&key.alternate, &key.name].into_iter().flatten() {
            let slots = self.datasets_by_name.entry(name.clone()).or_default();
            if slots.last() != Some(&index) {
                slots.push(index);
            }
        }
        self.datasets.push(key);
        let mut fields = Map::new();
        for name in object.field_names() {
            if matches!(name, "storeType" | "upload_session") || INHERITED_M2M.contains(&name) {
                continue;
            }
            if name == "is_mosaic" {
                fields.insert("ows_url".into(), ows_url.clone());
            }
            if name == "default_style" {
                fields.insert("ptype".into(), ptype.clone());
            }
            fields.insert(
                name.to_owned(),
                object.field(name).cloned().unwrap_or(Value::Null),
            );
        }
        fields.entry("ows_url").or_insert(ows_url);
        fields.entry("ptype").or_insert(ptype);
        Ok(FixtureObject::new(
            "layers.dataset",
            object.pk().cloned().unwrap_or(Value::Null),
            fields,
        ))
    }

    /// A map layer as migrations `maps.0032` to `0042` leave it.
    fn map_layer(&mut self, object: &mut FixtureObject) -> Result<(), ManglerError> {
        let pk = object.pk_i64()?;
        let current_style = match object.field("styles") {
            Some(Value::String(styles)) => match literal_eval(styles) {
                Some(Literal::List(items)) => items.first().map(Literal::to_python_str),
                _ => None,
            },
            _ => None,
        };
        let dataset = self.dataset_of(object);
        if let Err(()) = dataset {
            self.ambiguous_map_layers.push(pk);
        }
        remove_fields(object);
        let map = object.remove("map");
        let mut fields = Map::new();
        fields.insert("map".into(), map.unwrap_or(Value::Null));
        fields.insert(
            "dataset".into(),
            dataset.ok().flatten().map_or(Value::Null, Value::from),
        );
        fields.insert("extra_params".into(), json!({}));
        let rest: Vec<String> = object.field_names().map(str::to_owned).collect();
        for name in rest {
            if name == "ows_url" {
                fields.insert(
                    "current_style".into(),
                    current_style.clone().map_or(Value::Null, Value::from),
                );
            }
            fields.insert(
                name.clone(),
                object.field(&name).cloned().unwrap_or(Value::Null),
            );
        }
        fields
            .entry("current_style")
            .or_insert_with(|| current_style.map_or(Value::Null, Value::from));
        *object = FixtureObject::new(
            "maps.maplayer",
            object.pk().cloned().unwrap_or(Value::Null),
            fields,
        );
        Ok(())
    }

    /// Migration `maps.0037`: the one dataset whose alternate or name is
    /// the map layer's name (and, for a local layer with a store, whose
    /// store is its store; for another with an OWS URL, whose remote
    /// service has that URL). `Err` when several match.
    fn dataset_of(&self, object: &FixtureObject) -> Result<Option<i64>, ()> {
        let name = object.str_field("name");
        let store = object.str_field("store").filter(|s| !s.is_empty());
        let local = object.field("local").and_then(Value::as_bool) == Some(true);
        let ows_url = object.str_field("ows_url").filter(|s| !s.is_empty());
        // A layer without a name matches the datasets without an alternate
        // (the migration's `alternate=None`): rare, so not indexed.
        let candidates: Vec<&DatasetKey> = match name {
            Some(name) => self
                .datasets_by_name
                .get(name)
                .map(|slots| slots.iter().map(|&i| &self.datasets[i]).collect())
                .unwrap_or_default(),
            None => self
                .datasets
                .iter()
                .filter(|d| d.alternate.is_none())
                .collect(),
        };
        let matches: Vec<i64> = candidates
            .into_iter()
            .filter(|d| match (local, store, ows_url) {
                (true, Some(store), _) => d.store.as_deref() == Some(store),
                (_, _, Some(url)) => d
                    .remote_service
                    .and_then(|s| self.services.get(&s))
                    .is_some_and(|s| s.base_url.as_deref() == Some(url)),
                _ => true,
            })
            .map(|d| d.pk)
            .collect();
        match matches.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            _ => Err(()),
        }
    }

    fn add_parallelism_limit(&mut self, out: &mut Output) {
        if std::mem::replace(&mut self.parallelism_present, true) {
            return;
        }
        let mut fields = Map::new();
        fields.insert("description".into(), catalog::PARALLELISM_TEXT.into());
        fields.insert("max_number".into(), self.parallel_uploads.into());
        out.emit(FixtureObject::new(
            "upload.uploadparallelismlimit",
            catalog::PARALLELISM_SLUG,
            fields,
        ));
    }
}

/// Drops the fields 4.1 removed from the object's model, and the
/// inherited many-to-many fields 3.3's Django wrote on resource children.
fn remove_fields(object: &mut FixtureObject) {
    let model = object.model().to_owned();
    if let Some((_, fields)) = REMOVED_FIELDS.iter().find(|(m, _)| *m == model) {
        for field in fields.iter() {
            object.remove(field);
        }
    }
    if model != "base.resourcebase" {
        for field in INHERITED_M2M {
            object.remove(field);
        }
    }
}

/// Migration `upload.0035`.
fn upload_size_limit(object: &mut FixtureObject) {
    match object.pk().and_then(Value::as_str) {
        Some(catalog::OLD_TOTAL_SIZE_SLUG) => object.set_pk(catalog::DATASET_SIZE_SLUG),
        Some(catalog::HANDLER_SIZE_SLUG) => object.set("description", catalog::HANDLER_SIZE_TEXT),
        _ => {}
    }
}

/// The object as `model`, its fields renamed by `renames` in place.
fn rename(object: &FixtureObject, model: &str, renames: &[(&str, &str)]) -> FixtureObject {
    let mut fields = Map::new();
    for name in object.field_names() {
        let new = renames
            .iter()
            .find(|(old, _)| *old == name)
            .map_or(name, |(_, new)| *new);
        fields.insert(
            new.to_owned(),
            object.field(name).cloned().unwrap_or(Value::Null),
        );
    }
    FixtureObject::new(model, object.pk().cloned().unwrap_or(Value::Null), fields)
}

/// A MapStore attribute's value as migration `geonode_mapstore_client.0002`
/// reads it: a Python bytes or string literal holding base64 is decoded,
/// anything else is kept as it is.
fn decode_attribute(value: &str) -> String {
    let inner = match literal_eval(value) {
        Some(Literal::Str(text) | Literal::Bytes(text)) => text,
        _ => return value.to_owned(),
    };
    // Python's b64decode (not validating) skips characters outside the alphabet.
    let kept: String = inner
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(kept)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| value.to_owned())
}

/// Python's `urljoin(base, name)` for a relative name without slashes.
fn url_join(base: &str, name: &str) -> String {
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    match base[scheme_end..].rfind('/') {
        Some(slash) => format!("{}{name}", &base[..scheme_end + slash + 1]),
        None => format!("{base}/{name}"),
    }
}

/// Integers as `1-3, 7`, for the report.
fn ranges(values: &[i64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        parts.push(if sorted[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", sorted[i])
        });
        i += 1;
    }
    parts.join(", ")
}

mangler_api::export_plugin!(Gn33To41);

/// `files` of a resource: a document's file (migration `documents.0032`)
/// or the files of a layer's oldest upload (`upload.0033`), as absolute
/// paths under the target's MEDIA_ROOT; and whether it had files that
/// could not be placed (no `media_root`).
fn files_of(facts: &Facts, media_root: Option<&str>, pk: i64) -> (Vec<String>, bool) {
    let names: Vec<&str> = match facts.documents.get(&pk) {
        Some(document) => document
            .doc_file
            .as_deref()
            .filter(|f| !f.is_empty())
            .into_iter()
            .collect(),
        // Uploads are read newest first and each overwrites the files, so
        // the oldest upload of the layer wins.
        None => facts
            .uploads
            .get(&pk)
            .and_then(|(upload, _)| facts.upload_files.get(upload))
            .map(|files| files.iter().map(String::as_str).collect())
            .unwrap_or_default(),
    };
    match media_root {
        _ if names.is_empty() => (Vec::new(), false),
        Some(root) => (
            names
                .iter()
                .map(|name| {
                    format!(
                        "{}/{}",
                        root.trim_end_matches('/'),
                        name.trim_start_matches('/')
                    )
                })
                .collect(),
            false,
        ),
        None => (Vec::new(), true),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn golden_cases() {
        mangler_api::testing::assert_cases(
            super::gnbr_plugin(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases"),
        );
    }

    #[test]
    fn urls_join_as_python_does() {
        assert_eq!(
            super::url_join("http://localhost:8080/geoserver/", "ows"),
            "http://localhost:8080/geoserver/ows"
        );
        assert_eq!(
            super::url_join("http://localhost:8080/geoserver", "ows"),
            "http://localhost:8080/ows"
        );
    }

    #[test]
    fn mapstore_attributes_decode_base64_literals_only() {
        assert_eq!(super::decode_attribute("b'aGVsbG8='"), "hello");
        assert_eq!(super::decode_attribute("My map"), "My map");
        assert_eq!(super::decode_attribute("'abc'"), "'abc'");
    }

    #[test]
    fn ranges_are_compact() {
        assert_eq!(super::ranges(&[7, 1, 2, 3, 9, 3]), "1-3, 7, 9");
    }
}
