//! `gn44_to_51`: a GeoNode 4.4 backup into what GeoNode 5.1.1 holds after
//! its documented in-place upgrade (pointing 5.1 at the 4.4 database and
//! running its migrations).
//!
//! One mangler per app fixture of the 4.4 backup; the ten rules of the
//! specification (`docs/spec/gn44-to-51.md`) and where each is applied
//! are in this crate's README, with the settings.ini lines that enable them.

mod catalog;
mod password;
mod pyjson;

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    hash::{DefaultHasher, Hash, Hasher},
};

use mangler_api::{
    geonode::{ContentTypes, Permissions},
    prelude::*,
    serde_json::Map,
};

use catalog::{
    handler_for, noun, NEW_MODELS, OWN_TRANSLATIONS, RESOURCE_CHILDREN, RESOURCE_TEXTS,
    SPARSE_VALUE_MAX,
};
use password::Wrapped;

/// One run of the plugin: the target's facts and what earlier fixtures held.
pub struct Gn44To51 {
    /// The target's `settings.MULTILANG_FIELDS`.
    multilang: BTreeSet<String>,
    /// Rule 7: the content types of the run.
    content_types: ContentTypes,
    /// Rule 7: the ids of [`NEW_MODELS`], once the contenttypes fixture ended.
    new_ids: Option<[i64; 6]>,
    /// Rule 8: the permissions of the run.
    permissions: Permissions,
    notice_types: NoticeTypes,
    /// Facts of every `base.resourcebase` seen, by pk.
    resources: HashMap<i64, Resource>,
    sparse_fields: SparseFields,
    /// License identifiers seen (stripped), for rule 4's uniqueness.
    license_identifiers: HashSet<String>,
    /// Upload handler infos to add, `(resource, handler)`, in dataset order.
    handler_infos: Vec<(i64, &'static str)>,
    /// Handler infos already written (their pks go on from here).
    handler_infos_written: i64,
    /// Datasets whose resource this run did not see.
    datasets_without_resource: Vec<i64>,
    upload: UploadFixture,
    user_messages: UserMessages,
}

/// Rule 9: the notice types of the run.
#[derive(Default)]
struct NoticeTypes {
    max_pk: i64,
    labels: HashSet<String>,
}

/// What later fixtures need of a resource.
struct Resource {
    /// Digests of its [`RESOURCE_TEXTS`] values, to tell whether a
    /// dataset's, map's or document's `*_en` value differs from them
    /// without keeping every abstract of the run in memory.
    texts: [u64; 6],
    /// Its upload handler (rule 6), from its `subtype`.
    handler: Option<&'static str>,
}

/// Rules 1 and 4: the sparse fields written so far.
struct SparseFields {
    next_pk: i64,
    /// `(resource, name)`: the first one wins.
    seen: HashSet<(String, String)>,
}

/// Rule 6: what the upload fixture being read held.
#[derive(Default)]
struct UploadFixture {
    dropped: Vec<i64>,
    size_limits: HashSet<String>,
}

/// Rule 10: what the user_messages fixture being read held.
#[derive(Default)]
struct UserMessages {
    messages: u64,
    threads: u64,
    user_threads: u64,
    group_threads: u64,
}

impl UserMessages {
    /// Counts one object of the user_messages fixture (which is dropped).
    fn count(&mut self, model: &str) {
        match model {
            "user_messages.message" => self.messages += 1,
            "user_messages.thread" => self.threads += 1,
            "user_messages.userthread" => self.user_threads += 1,
            _ => self.group_threads += 1,
        }
    }
}

impl Plugin for Gn44To51 {
    fn info() -> PluginInfo {
        PluginInfo::new("gn44_to_51", env!("CARGO_PKG_VERSION"), "~4.4", "5.1.1")
            .summary("GeoNode 4.4 backups into GeoNode 5.1, as its in-place upgrade leaves them.")
            .mangler(
                "ContentTypesMangler",
                &["contenttypes.contenttype"],
                "Keeps every content type with its id and adds 5.1's six new ones.",
            )
            .emitting(&["contenttypes.contenttype"])
            .mangler(
                "AuthMangler",
                &["auth.permission"],
                "Keeps every permission and adds those of 5.1's new models.",
            )
            .emitting(&["auth.permission"])
            .mangler(
                "PeopleMangler",
                &["people.profile"],
                "Wraps SHA1 password hashes in PBKDF2-SHA1 and adds extra_data.",
            )
            .mangler(
                "GroupsMangler",
                &["groups.groupprofile", "groups.groupcategory"],
                "Repairs the `public'` access value and drops the *_en fields.",
            )
            .mangler(
                "BaseMangler",
                &[
                    "base.resourcebase",
                    "base.extrametadata",
                    "base.license",
                    "base.region",
                    "base.topiccategory",
                    "base.spatialrepresentationtype",
                    "base.restrictioncodetype",
                ],
                "Extra metadata into sparse fields, auth_config, unique license identifiers, drops the *_en fields.",
            )
            .emitting(&["metadata.sparsefield"])
            .mangler(
                "DocumentsMangler",
                &["documents.document"],
                "Drops the *_en fields (kept as multilingual sparse fields where the target enables them).",
            )
            .emitting(&["metadata.sparsefield"])
            .mangler(
                "NotificationsMangler",
                &["pinax_notifications.noticetype"],
                "Adds the `resourcebase_created` notice type.",
            )
            .emitting(&["pinax_notifications.noticetype"])
            .mangler(
                "ServicesMangler",
                &["services.service"],
                "Drops the *_en fields (kept as multilingual sparse fields where the target enables them).",
            )
            .emitting(&["metadata.sparsefield"])
            .mangler(
                "LayersMangler",
                &["layers.dataset"],
                "Drops the *_en fields (kept as multilingual sparse fields where the target enables them); notes each dataset's upload handler.",
            )
            .emitting(&["metadata.sparsefield"])
            .mangler(
                "MapsMangler",
                &["maps.map"],
                "Drops the *_en fields (kept as multilingual sparse fields where the target enables them).",
            )
            .emitting(&["metadata.sparsefield"])
            .mangler(
                "UploadMangler",
                &["upload.upload", "upload.uploadsizelimit"],
                "Drops legacy uploads, adds the asset upload size limit and one upload handler info per local dataset.",
            )
            .emitting(&["upload.uploadsizelimit", "upload.resourcehandlerinfo"])
            .mangler(
                "UserMessagesMangler",
                &[
                    "user_messages.message",
                    "user_messages.thread",
                    "user_messages.userthread",
                    "user_messages.groupmemberthread",
                ],
                "Drops user messages (5.1 has no such app) and reports them.",
            )
    }

    fn open(context: &Context) -> Result<Self, ManglerError> {
        let moved: Vec<String> = context
            .offsets
            .iter()
            .filter(|(_, offset)| **offset != 0)
            .map(|(model, offset)| format!("{model} +{offset}"))
            .chain((context.basepk != 0).then(|| format!("basepk {}", context.basepk)))
            .collect();
        if !moved.is_empty() {
            return Err(ManglerError::new(format!(
                "gn44_to_51 keeps every primary key as the 4.4 backup has it (content type ids \
                 included), so it can only restore into an emptied GeoNode 5.1, not merge into \
                 one that holds data; this run asks to move keys ({})",
                moved.join(", ")
            )));
        }
        let multilang = context
            .options
            .get("multilang_fields")
            .map(|fields| {
                fields
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            multilang,
            content_types: ContentTypes::default(),
            new_ids: None,
            permissions: Permissions::default(),
            notice_types: NoticeTypes::default(),
            resources: HashMap::new(),
            sparse_fields: SparseFields {
                next_pk: 1,
                seen: HashSet::new(),
            },
            license_identifiers: HashSet::new(),
            handler_infos: Vec::new(),
            handler_infos_written: 0,
            datasets_without_resource: Vec::new(),
            upload: UploadFixture::default(),
            user_messages: UserMessages::default(),
        })
    }

    fn mangle(
        &mut self,
        _mangler: &str,
        mut object: FixtureObject,
        out: &mut Output,
    ) -> Result<(), ManglerError> {
        // Each model has one mangler, so the model alone decides.
        match object.model() {
            "contenttypes.contenttype" => self.content_types.record(&object)?,
            "auth.permission" => self.permissions.record(&object)?,
            "people.profile" => profile(&mut object, out),
            "groups.groupprofile" => {
                if object.str_field("access") == Some("public'") {
                    object.set("access", "public");
                }
                self.own_translations(&mut object, out)?;
            }
            "base.resourcebase" => self.resource(&mut object)?,
            "base.extrametadata" => return self.extra_metadata(&object, out),
            "base.license" => {
                self.license(&mut object, out);
                self.own_translations(&mut object, out)?;
            }
            "layers.dataset" => {
                self.dataset(&object)?;
                self.resource_translations(&mut object, out)?;
            }
            "maps.map" | "documents.document" => self.resource_translations(&mut object, out)?,
            "pinax_notifications.noticetype" => self.notice_type(&object),
            "upload.upload" => {
                self.upload.dropped.push(object.pk_i64()?);
                return Ok(());
            }
            "upload.uploadsizelimit" => {
                if let Some(slug) = object.pk().and_then(Value::as_str) {
                    self.upload.size_limits.insert(slug.to_owned());
                }
            }
            model if model.starts_with("user_messages.") => {
                self.user_messages.count(model);
                return Ok(());
            }
            _ => self.own_translations(&mut object, out)?,
        }
        out.emit(object);
        Ok(())
    }

    fn end_fixture(&mut self, mangler: &str, out: &mut Output) -> Result<(), ManglerError> {
        match mangler {
            "ContentTypesMangler" => self.add_content_types(out),
            "AuthMangler" => self.add_permissions(out),
            "NotificationsMangler" => self.add_notice_type(out),
            "UploadMangler" => self.end_upload(out),
            "UserMessagesMangler" => self.end_user_messages(out),
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Output) {
        if !self.datasets_without_resource.is_empty() {
            out.note(format!(
                "{} dataset(s) (pk {}) get no upload handler info: their resources were not in \
                 a base fixture before the layers fixture in this run, so their subtype is \
                 unknown (pair the base fixture with gn44_to_51.BaseMangler)",
                self.datasets_without_resource.len(),
                ranges(&self.datasets_without_resource)
            ));
        }
        if !self.handler_infos.is_empty() {
            let resources: Vec<i64> = self.handler_infos.iter().map(|(r, _)| *r).collect();
            out.note(format!(
                "{} dataset(s) (pk {}) get no upload handler info: no upload fixture followed \
                 the layers fixture in this run (pair the upload fixture with \
                 gn44_to_51.UploadMangler); GeoNode 5.1 needs it to replace or update a \
                 dataset's files",
                resources.len(),
                ranges(&resources)
            ));
        }
    }
}

/// Rules 2 and 5 for a user.
fn profile(object: &mut FixtureObject, out: &mut Output) {
    if let Some(password) = object.str_field("password") {
        match password::wrap(password) {
            Wrapped::Kept => {}
            Wrapped::New(wrapped) => object.set("password", wrapped),
            Wrapped::Malformed => out.note(
                "the password starts like a SHA1 hash (`sha1$`) but has no salt, so it is kept \
                 as it is: this user cannot log in until an admin sets a new password",
            ),
        }
    }
    if !object.has("extra_data") {
        object.set("extra_data", json!({}));
    }
}

impl Gn44To51 {
    /// Rule 7: the six new content types after the last one, unless present.
    fn add_content_types(&mut self, out: &mut Output) {
        let types = &mut self.content_types;
        self.new_ids = Some(NEW_MODELS.map(|new| types.add(new.app_label, new.model, out)));
    }

    /// Rule 8: add, change, delete and view for each new content type.
    fn add_permissions(&mut self, out: &mut Output) {
        let Some(new_ids) = self.new_ids else {
            out.note(
                "the permissions of GeoNode 5.1's new models (sparse fields, upload handler \
                 infos, ...) were not added: the contenttypes fixture was not read before the \
                 auth fixture (pair it with gn44_to_51.ContentTypesMangler); run the \
                 target's `manage.py migrate` after the restore to create them",
            );
            return;
        };
        for (id, new) in new_ids.into_iter().zip(&NEW_MODELS) {
            self.permissions.add_defaults(id, new, out);
        }
    }

    fn notice_type(&mut self, object: &FixtureObject) {
        if let Some(pk) = object.pk().and_then(Value::as_i64) {
            self.notice_types.max_pk = self.notice_types.max_pk.max(pk);
        }
        if let Some(label) = object.str_field("label") {
            self.notice_types.labels.insert(label.to_owned());
        }
    }

    /// Rule 9: the `resourcebase_created` notice type, unless present.
    fn add_notice_type(&mut self, out: &mut Output) {
        let types = &mut self.notice_types;
        if !types.labels.insert(catalog::RESOURCE_CREATED.to_owned()) {
            return;
        }
        types.max_pk += 1;
        let mut fields = Map::new();
        fields.insert("label".into(), catalog::RESOURCE_CREATED.into());
        fields.insert("display".into(), catalog::RESOURCE_CREATED_TEXT.into());
        fields.insert("description".into(), catalog::RESOURCE_CREATED_TEXT.into());
        fields.insert("default".into(), 2.into());
        out.emit(FixtureObject::new(
            "pinax_notifications.noticetype",
            types.max_pk,
            fields,
        ));
    }

    /// Rules 1 and 5 for a resource; keeps what later fixtures need of it.
    fn resource(&mut self, object: &mut FixtureObject) -> Result<(), ManglerError> {
        let pk = object.pk_i64()?;
        let texts = RESOURCE_TEXTS.map(|field| digest(object.field(field)));
        let handler = object.str_field("subtype").and_then(handler_for);
        self.resources.insert(pk, Resource { texts, handler });
        object.remove("metadata");
        if !object.has("auth_config") {
            object.set("auth_config", Value::Null);
        }
        Ok(())
    }

    /// Rule 1: an extra metadata object becomes a sparse field.
    fn extra_metadata(
        &mut self,
        object: &FixtureObject,
        out: &mut Output,
    ) -> Result<(), ManglerError> {
        let pk = object
            .pk()
            .filter(|pk| !pk.is_null())
            .ok_or_else(|| ManglerError::new("an extra metadata object without a pk"))?;
        let name = format!(
            "extra_{}",
            pk.as_str().map_or_else(|| pk.to_string(), str::to_owned)
        );
        let Some(resource) = object.field("resource").filter(|r| !r.is_null()).cloned() else {
            out.note(format!(
                "extra metadata {pk} belongs to no resource, so it is not restored: {}",
                object
                    .field("metadata")
                    .map_or_else(|| "{}".to_owned(), Value::to_string)
            ));
            return Ok(());
        };
        let value = pyjson::dumps(object.field("metadata").unwrap_or(&json!({})));
        if value.len() > SPARSE_VALUE_MAX {
            out.note(format!(
                "extra metadata {pk} of resource {resource} is {} characters long as JSON, more \
                 than the {SPARSE_VALUE_MAX} a GeoNode 5.1 sparse field holds (GeoNode's own \
                 upgrade skips it too), so it is not restored; its value: {value}",
                value.len()
            ));
            return Ok(());
        }
        self.add_sparse_field(resource, name, value, out);
        Ok(())
    }

    /// Writes a sparse field unless one of that resource and name was
    /// written before (the first one wins, as `get_or_create` does).
    fn add_sparse_field(&mut self, resource: Value, name: String, value: String, out: &mut Output) {
        let fields = &mut self.sparse_fields;
        if !fields.seen.insert((resource.to_string(), name.clone())) {
            out.note(format!(
                "resource {resource} already has a sparse field `{name}` from earlier in this \
                 run, so this value is not restored: {value}"
            ));
            return;
        }
        let pk = fields.next_pk;
        fields.next_pk += 1;
        let mut map = Map::new();
        map.insert("resource".into(), resource);
        map.insert("name".into(), name.into());
        map.insert("value".into(), value.into());
        out.emit(FixtureObject::new("metadata.sparsefield", pk, map));
    }

    /// GeoNode 5.1 makes `base.license.identifier` unique; migration
    /// `base.0098` renames the duplicates and blanks, in pk order.
    fn license(&mut self, object: &mut FixtureObject, out: &mut Output) {
        let current = object.str_field("identifier").unwrap_or_default().trim();
        if !current.is_empty() && self.license_identifiers.insert(current.to_owned()) {
            return;
        }
        let mut base = slugify(object.str_field("abbreviation").unwrap_or_default());
        if base.is_empty() {
            base = "license".to_owned();
        }
        let mut candidate = base.clone();
        let mut n = 2;
        while self.license_identifiers.contains(&candidate) {
            candidate = format!("{base}-{n}");
            n += 1;
        }
        out.note(format!(
            "the license identifier {} is {}, and GeoNode 5.1 needs each to be unique: it is now \
             {candidate:?}",
            object
                .field("identifier")
                .map_or_else(|| "null".to_owned(), Value::to_string),
            if current.is_empty() {
                "empty"
            } else {
                "also an earlier license's"
            },
        ));
        self.license_identifiers.insert(candidate.clone());
        object.set("identifier", candidate);
    }

    /// Rule 6: which handler a dataset's resource gets.
    fn dataset(&mut self, object: &FixtureObject) -> Result<(), ManglerError> {
        let pk = object.pk_i64()?;
        match self.resources.get(&pk) {
            Some(resource) => {
                if let Some(handler) = resource.handler {
                    self.handler_infos.push((pk, handler));
                }
            }
            None => self.datasets_without_resource.push(pk),
        }
        Ok(())
    }

    /// Rule 4 for a dataset, map or document: its `*_en` values are
    /// compared with the texts of its `base.resourcebase`.
    fn resource_translations(
        &mut self,
        object: &mut FixtureObject,
        out: &mut Output,
    ) -> Result<(), ManglerError> {
        let pk = object.pk_i64()?;
        let model = object.model().to_owned();
        let texts = self.resources.get(&pk).map(|r| r.texts);
        for (i, field) in RESOURCE_TEXTS.iter().enumerate() {
            let Some(english) = object.remove(&format!("{field}_en")) else {
                continue;
            };
            let Some(text) = english.as_str().filter(|t| !t.is_empty()) else {
                continue;
            };
            let unknown = match texts {
                Some(texts) if digest(Some(&english)) == texts[i] => continue,
                Some(_) => false,
                None => true,
            };
            self.keep_translation(&model, Some(pk), field, text, unknown, out);
        }
        Ok(())
    }

    /// Rule 4 for the models whose own fields were translated: each
    /// `*_en` value is compared with the field beside it.
    fn own_translations(
        &mut self,
        object: &mut FixtureObject,
        out: &mut Output,
    ) -> Result<(), ManglerError> {
        let model = object.model().to_owned();
        let Some((_, fields)) = OWN_TRANSLATIONS.iter().find(|(m, _)| *m == model) else {
            return Ok(());
        };
        let resource = if RESOURCE_CHILDREN.contains(&model.as_str()) {
            Some(object.pk_i64()?)
        } else {
            None
        };
        for field in fields.iter() {
            let Some(english) = object.remove(&format!("{field}_en")) else {
                continue;
            };
            let Some(text) = english.as_str().filter(|t| !t.is_empty()) else {
                continue;
            };
            if object.field(field) != Some(&english) {
                self.keep_translation(&model, resource, field, text, false, out);
            }
        }
        Ok(())
    }

    /// A `*_en` value that differs from its field (or whose field this run
    /// did not see): a multilingual sparse field where the target enables
    /// that field and the value fits, else a note with the value.
    fn keep_translation(
        &mut self,
        model: &str,
        resource: Option<i64>,
        field: &str,
        text: &str,
        unknown: bool,
        out: &mut Output,
    ) {
        let noun = noun(model);
        let why = if unknown {
            format!(
                "{field}_en cannot be compared with the {noun}'s {field}: its resource was not in \
                 a base fixture before this one in the run"
            )
        } else {
            format!("{field}_en differs from the {noun}'s {field}")
        };
        let shown = Value::from(text).to_string();
        let name = format!("{field}_multilang_en");
        let length = text.chars().count();
        match resource {
            None => out.note(format!(
                "{why}, and GeoNode 5.1 keeps no translations of a {noun}, so it is not \
                 restored: {shown}"
            )),
            Some(_) if !self.multilang.contains(field) => out.note(format!(
                "{why}, and GeoNode 5.1 has no column for it, so it is not restored (list \
                 \"{field}\" in the target's MULTILANG_FIELDS to keep it as the multilingual \
                 field {name}): {shown}"
            )),
            Some(_) if length > SPARSE_VALUE_MAX => out.note(format!(
                "{why}, and at {length} characters it is longer than the \
                     {SPARSE_VALUE_MAX} a GeoNode 5.1 multilingual field holds, so it is not \
                     restored: {shown}"
            )),
            Some(pk) => self.add_sparse_field(pk.into(), name, text.to_owned(), out),
        }
    }

    /// Rule 6 at the end of the upload fixture.
    fn end_upload(&mut self, out: &mut Output) {
        let upload = std::mem::take(&mut self.upload);
        if !upload.dropped.is_empty() {
            out.note(format!(
                "{} legacy upload record(s) (upload.upload {}) are not restored: GeoNode 5.1 has \
                 no such table and its own upgrade drops them too; the datasets and documents \
                 they created are kept",
                upload.dropped.len(),
                ranges(&upload.dropped)
            ));
        }
        if !upload.size_limits.contains(catalog::ASSET_UPLOAD_SIZE) {
            let mut fields = Map::new();
            fields.insert("description".into(), catalog::ASSET_UPLOAD_SIZE_TEXT.into());
            fields.insert("max_size".into(), catalog::ASSET_UPLOAD_SIZE_BYTES.into());
            out.emit(FixtureObject::new(
                "upload.uploadsizelimit",
                catalog::ASSET_UPLOAD_SIZE,
                fields,
            ));
        }
        let first = self.handler_infos_written + 1;
        let infos = std::mem::take(&mut self.handler_infos);
        self.handler_infos_written += infos.len() as i64;
        out.emit_all(
            infos
                .into_iter()
                .zip(first..)
                .map(|((resource, handler), pk)| {
                    let mut fields = Map::new();
                    fields.insert("resource".into(), resource.into());
                    fields.insert("handler_module_path".into(), handler.into());
                    fields.insert("execution_request".into(), Value::Null);
                    fields.insert("kwargs".into(), json!({"is_legacy": true}));
                    FixtureObject::new("upload.resourcehandlerinfo", pk, fields)
                }),
        );
    }

    fn end_user_messages(&mut self, out: &mut Output) {
        let m = std::mem::take(&mut self.user_messages);
        if m.messages + m.threads + m.user_threads + m.group_threads > 0 {
            out.note(format!(
                "{} user message(s) in {} thread(s) ({} user and {} group memberships of \
                 threads) are not restored: GeoNode 5.1 has no user messages app; they stay \
                 readable in the 4.4 backup's user_messages fixture",
                m.messages, m.threads, m.user_threads, m.group_threads
            ));
        }
    }
}

/// A digest of a text field's value (null and absent alike), to compare
/// values without keeping them. SipHash-1-3 with fixed keys: a collision
/// between two different texts is a 1 in 2^64 chance.
fn digest(value: Option<&Value>) -> u64 {
    let mut hasher = DefaultHasher::new();
    match value {
        None | Some(Value::Null) => 0u8.hash(&mut hasher),
        Some(Value::String(text)) => {
            1u8.hash(&mut hasher);
            text.hash(&mut hasher);
        }
        Some(other) => {
            2u8.hash(&mut hasher);
            other.to_string().hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// Django's `slugify` for ASCII text (other characters are left out).
fn slugify(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-') || c.is_ascii_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut slug = String::with_capacity(kept.len());
    let mut in_gap = false;
    for c in kept.trim().chars() {
        if c == '-' || c.is_ascii_whitespace() {
            in_gap = true;
        } else {
            if in_gap {
                slug.push('-');
                in_gap = false;
            }
            slug.push(c);
        }
    }
    if in_gap {
        slug.push('-');
    }
    slug.trim_matches(['-', '_']).to_owned()
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

mangler_api::export_plugin!(Gn44To51);

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
    fn a_run_that_moves_keys_is_refused() {
        let plugin = mangler_api::client::PluginHandle::new(super::gnbr_plugin()).unwrap();
        let mut context = mangler_api::Context {
            basepk: 100,
            ..Default::default()
        };
        context.offsets.insert("layers.attribute".into(), 5);
        context.offsets.insert("maps.maplayer".into(), 0);
        let refused = plugin.open(&context).err().unwrap();
        assert!(
            refused.contains("(layers.attribute +5, basepk 100)"),
            "{refused}"
        );
        context.basepk = 0;
        context.offsets.clear();
        assert!(plugin.open(&context).is_ok());
    }

    #[test]
    fn slugs_follow_django() {
        // Expected values of Django 5.2's slugify (its three lines, run in CPython).
        assert_eq!(super::slugify("CC BY-SA 4.0"), "cc-by-sa-40");
        assert_eq!(
            super::slugify("  --Open_Data  Commons-- "),
            "open_data-commons"
        );
        assert_eq!(super::slugify("..."), "");
    }

    #[test]
    fn ranges_are_compact() {
        assert_eq!(super::ranges(&[7, 1, 2, 3, 9, 3]), "1-3, 7, 9");
        assert_eq!(super::ranges(&[]), "");
    }
}
