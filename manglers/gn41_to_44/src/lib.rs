//! `gn41_to_44`: a GeoNode 4.1 backup into what GeoNode 4.4.5 holds after
//! its in-place upgrade (pointing 4.4.5 at the 4.1.5 database and running
//! its 37 migrations), as 4.4.5's own backup dumps it.
//!
//! One mangler per app fixture that the upgrade changes; what each does,
//! the migration behind it, and the settings.ini lines that enable them are
//! in this crate's README.

mod catalog;
mod files;

use std::collections::{BTreeMap, HashMap, HashSet};

use mangler_api::{
    geonode::{ContentTypes, Permissions},
    prelude::*,
    serde_json::Map,
};

use catalog::{NEW_MODELS, PERMISSION_ORDER};
use files::{Locations, ResourceFiles};

/// One run of the plugin: the target's facts and what earlier fixtures held.
pub struct Gn41To44 {
    /// The target's public URL, for the links to new assets.
    siteurl: String,
    /// The run's time, for the assets' `created`.
    timestamp: String,
    /// The username that owns assets of resources without an owner.
    owner: String,
    locations: Locations,
    /// The content types of the run.
    content_types: ContentTypes,
    /// The ids of [`NEW_MODELS`], once the contenttypes fixture ended.
    new_ids: Option<[i64; 4]>,
    /// The permissions of the run.
    permissions: Permissions,
    /// Every `people.profile` email, lowercased, by user pk (migration `account.0008`).
    user_emails: HashMap<String, String>,
    /// Users whose email was lowercased.
    users_lowered: u64,
    accounts: Accounts,
    base: BaseFixture,
    /// Every `base.resourcebase` pk seen (migration `documents.0037`).
    resources: HashSet<i64>,
    /// Linked resources written so far (their pks go on from here).
    linked_resources: i64,
    /// Document links left behind because their target is not a resource.
    orphan_links: Vec<i64>,
}

/// What the account fixture being read held (migrations `account.0006`, `0008`).
#[derive(Default)]
struct Accounts {
    lowered: u64,
    /// Primary addresses, held back until the fixture ends, by user.
    primaries: BTreeMap<String, Vec<FixtureObject>>,
}

/// What the base fixture being read held (migration `base.0092`).
#[derive(Default)]
struct BaseFixture {
    max_link_pk: i64,
    /// Resources with files, in fixture order.
    files: Vec<ResourceFiles>,
}

impl Plugin for Gn41To44 {
    fn info() -> PluginInfo {
        PluginInfo::new("gn41_to_44", env!("CARGO_PKG_VERSION"), "~4.1", "4.4.5")
            .summary("GeoNode 4.1 backups into what GeoNode 4.4.5's in-place upgrade leaves.")
            .mangler(
                "ContentTypesMangler",
                &["contenttypes.contenttype"],
                "Keeps every content type with its id and adds 4.4's four new ones.",
            )
            .emitting(&["contenttypes.contenttype"])
            .mangler(
                "AuthMangler",
                &["auth.permission"],
                "Keeps every permission and adds those of 4.4's new models.",
            )
            .emitting(&["auth.permission"])
            .mangler(
                "PeopleMangler",
                &["people.profile"],
                "Lowercases users' emails (allauth's account.0006).",
            )
            .mangler(
                "AccountMangler",
                &["account.emailaddress"],
                "Lowercases email addresses and keeps one primary address per user \
                 (allauth's account.0006 and 0008).",
            )
            .mangler(
                "BaseMangler",
                &[
                    "base.resourcebase",
                    "base.link",
                    "base.thesauruskeyword",
                    "base.restrictioncodetype",
                ],
                "Moves resources' files into assets with their `uploaded` links, adds \
                 `advertised`, `link.asset`, `thesauruskeyword.image`; repairs \
                 `otherRestrictions` (base.0089-0094).",
            )
            .emitting(&["assets.asset", "assets.localasset", "base.link"])
            .mangler(
                "DocumentsMangler",
                &["documents.documentresourcelink"],
                "Turns document links into linked resources (documents.0037).",
            )
            .emitting(&["base.linkedresource"])
            .mangler(
                "MapsMangler",
                &["maps.maplayer"],
                "Adds `opacity`, `order` and `visibility` to map layers (maps.0043).",
            )
            .mangler(
                "SocialAccountMangler",
                &["socialaccount.socialapp"],
                "Adds `provider_id` and `settings` to social apps (socialaccount.0004).",
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
                "gn41_to_44 keeps every primary key as the 4.1 backup has it and numbers the \
                 rows 4.4 adds after them, so it can only restore into an emptied GeoNode 4.4, \
                 not merge into one that holds data; this run asks to move keys ({})",
                moved.join(", ")
            )));
        }
        let option = |name: &str| {
            context
                .options
                .get(name)
                .map(|v| v.trim().trim_end_matches('/').to_owned())
                .filter(|v| !v.is_empty())
        };
        Ok(Self {
            siteurl: context.siteurl.clone(),
            timestamp: context.timestamp.clone(),
            owner: context.owner.clone(),
            locations: Locations::new(option("source_media_root"), option("media_root")),
            content_types: ContentTypes::default(),
            new_ids: None,
            permissions: Permissions::default(),
            user_emails: HashMap::new(),
            users_lowered: 0,
            accounts: Accounts::default(),
            base: BaseFixture::default(),
            resources: HashSet::new(),
            linked_resources: 0,
            orphan_links: Vec::new(),
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
            "people.profile" => self.profile(&mut object),
            "account.emailaddress" => return self.email_address(object, out),
            "base.resourcebase" => self.resource(&mut object, out)?,
            "base.link" => {
                if let Some(pk) = object.pk().and_then(Value::as_i64) {
                    self.base.max_link_pk = self.base.max_link_pk.max(pk);
                }
                add_field(&mut object, "asset", Value::Null);
            }
            "base.thesauruskeyword" => add_field(&mut object, "image", Value::Null),
            "base.restrictioncodetype" => other_restrictions(&mut object),
            "documents.documentresourcelink" => return self.document_link(&object, out),
            "maps.maplayer" => {
                for (field, value) in [
                    ("opacity", json!(1.0)),
                    ("order", json!(0)),
                    ("visibility", json!(true)),
                ] {
                    add_field(&mut object, field, value);
                }
            }
            "socialaccount.socialapp" => {
                add_field(&mut object, "provider_id", "".into());
                add_field(&mut object, "settings", json!({}));
            }
            _ => {}
        }
        out.emit(object);
        Ok(())
    }

    fn end_fixture(&mut self, mangler: &str, out: &mut Output) -> Result<(), ManglerError> {
        match mangler {
            "ContentTypesMangler" => self.add_content_types(out),
            "AuthMangler" => self.add_permissions(out),
            "PeopleMangler" => {
                let lowered = std::mem::take(&mut self.users_lowered);
                if lowered > 0 {
                    out.note(format!(
                        "{lowered} user email(s) lowercased (people.profile.email), as \
                         allauth's migration account.0006 does in place"
                    ));
                }
            }
            "AccountMangler" => self.end_accounts(out),
            "BaseMangler" => return self.end_base(out),
            "DocumentsMangler" => self.end_documents(out),
            _ => {}
        }
        Ok(())
    }
}

impl Gn41To44 {
    /// The four new content types after the last one, unless present.
    fn add_content_types(&mut self, out: &mut Output) {
        let types = &mut self.content_types;
        self.new_ids = Some(NEW_MODELS.map(|new| types.add(new.app_label, new.model, out)));
    }

    /// add, change, delete and view for each new content type, in the
    /// order `post_migrate` creates them.
    fn add_permissions(&mut self, out: &mut Output) {
        let Some(new_ids) = self.new_ids else {
            out.note(
                "the permissions of GeoNode 4.4's new models (assets, linked resources, search \
                 services) were not added: the contenttypes fixture was not read before the \
                 auth fixture (pair it with gn41_to_44.ContentTypesMangler); run the target's \
                 `manage.py migrate` after the restore to create them",
            );
            return;
        };
        for index in PERMISSION_ORDER {
            self.permissions
                .add_defaults(new_ids[index], &NEW_MODELS[index], out);
        }
    }

    /// Migration `account.0006` for a user: the email lowercased.
    fn profile(&mut self, object: &mut FixtureObject) {
        let Some(email) = object.str_field("email") else {
            return;
        };
        let lowered = pg_lower(email);
        if let Some(pk) = object.pk() {
            self.user_emails.insert(pk.to_string(), lowered.clone());
        }
        if lowered != email {
            self.users_lowered += 1;
            object.set("email", lowered);
        }
    }

    /// Migration `account.0006` for an email address; primary addresses
    /// wait for the fixture's end (migration `account.0008`).
    fn email_address(
        &mut self,
        mut object: FixtureObject,
        out: &mut Output,
    ) -> Result<(), ManglerError> {
        if let Some(email) = object.str_field("email") {
            let lowered = pg_lower(email);
            if lowered != email {
                self.accounts.lowered += 1;
                object.set("email", lowered);
            }
        }
        if object.field("primary") == Some(&Value::Bool(true)) {
            object.pk_i64()?;
            let user = object
                .field("user")
                .map(Value::to_string)
                .unwrap_or_default();
            self.accounts
                .primaries
                .entry(user)
                .or_default()
                .push(object);
        } else {
            out.emit(object);
        }
        Ok(())
    }

    /// Migration `account.0008`: a user with several primary addresses
    /// keeps the one equal to the user's email, else the first.
    fn end_accounts(&mut self, out: &mut Output) {
        let accounts = std::mem::take(&mut self.accounts);
        if accounts.lowered > 0 {
            out.note(format!(
                "{} email address(es) lowercased (account.emailaddress.email), as allauth's \
                 migration account.0006 does in place",
                accounts.lowered
            ));
        }
        let mut held = Vec::new();
        for (user, mut addresses) in accounts.primaries {
            addresses.sort_by_key(|a| a.pk_i64().unwrap_or_default());
            if addresses.len() > 1 {
                let email = self.user_emails.get(&user);
                let kept = addresses
                    .iter()
                    .position(|a| email.is_some_and(|e| a.str_field("email") == Some(e.as_str())))
                    .unwrap_or(0);
                let mut unset = Vec::new();
                for (i, address) in addresses.iter_mut().enumerate() {
                    if i != kept {
                        address.set("primary", false);
                        unset.push(address.pk_i64().unwrap_or_default());
                    }
                }
                out.note(format!(
                    "user {user} had {} primary email addresses; GeoNode 4.4 allows one \
                     (allauth's migration account.0008): {} stays primary, {} no longer is",
                    addresses.len(),
                    addresses[kept].str_field("email").unwrap_or_default(),
                    ranges(&unset)
                ));
            }
            held.extend(addresses);
        }
        held.sort_by_key(|a| a.pk_i64().unwrap_or_default());
        for address in held {
            out.emit(address);
        }
    }

    /// Migrations `base.0089` and `base.0092` for a resource: `advertised`
    /// is added, `files` goes (its content becomes an asset at the
    /// fixture's end).
    fn resource(
        &mut self,
        object: &mut FixtureObject,
        out: &mut Output,
    ) -> Result<(), ManglerError> {
        let pk = object.pk_i64()?;
        self.resources.insert(pk);
        add_field(object, "advertised", true.into());
        let Some(files) = object.remove("files") else {
            return Ok(());
        };
        let files: Vec<String> = match files {
            Value::Null => return Ok(()),
            Value::Array(list) => list
                .into_iter()
                .map(|f| match f {
                    Value::String(path) => Ok(path),
                    other => Err(ManglerError::new(format!(
                        "`files` holds {other}, not a path"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            other => {
                return Err(ManglerError::new(format!(
                    "`files` is {other}, not a list of paths"
                )))
            }
        };
        if files.is_empty() {
            return Ok(());
        }
        let kind = object.str_field("resource_type").unwrap_or_default();
        if !matches!(kind, "dataset" | "document") {
            out.note(format!(
                "this {} resource has {} file(s); GeoNode 4.4's own upgrade stops on it \
                 (migration base.0092 handles datasets and documents only), here its files \
                 become an asset with an `uploaded` link as a document's do",
                if kind.is_empty() { "untyped" } else { kind },
                files.len()
            ));
        }
        let owner = match object.field("owner") {
            Some(owner) if !owner.is_null() => owner.clone(),
            _ if !self.owner.is_empty() => json!([self.owner]),
            _ => {
                return Err(ManglerError::new(
                    "the resource has files but no owner, and a GeoNode 4.4 asset needs one \
                     (hint: give the run an owner, `[migrate] owner` or --owner)",
                ))
            }
        };
        self.base.files.push(ResourceFiles { pk, owner, files });
        Ok(())
    }

    /// Migration `base.0092` at the end of the base fixture: one asset per
    /// resource with files, and its `uploaded` link.
    fn end_base(&mut self, out: &mut Output) -> Result<(), ManglerError> {
        let base = std::mem::take(&mut self.base);
        if base.files.is_empty() {
            return Ok(());
        }
        if self.siteurl.is_empty() {
            return Err(ManglerError::new(format!(
                "{} resource(s) have files, which GeoNode 4.4 keeps as assets reached through \
                 links on the site's URL, and this run has no site URL (hint: set `[migrate] \
                 siteurl` in settings.ini, or --siteurl)",
                base.files.len()
            )));
        }
        if self.timestamp.is_empty() {
            return Err(ManglerError::new(
                "GeoNode 4.4 dates each new asset, and this run has no timestamp",
            ));
        }
        let Some(ctype) = self.new_ids.map(|ids| ids[0]) else {
            return Err(ManglerError::new(
                "the resources' files become assets, whose content type comes from the \
                 contenttypes fixture, and it was not read before the base fixture (pair it \
                 with gn41_to_44.ContentTypesMangler)",
            ));
        };
        let moved = self.locations.apply(&base.files, out);
        let created = format!("{}Z", self.timestamp);
        let site = site_root(&self.siteurl);
        let first_link = base.max_link_pk + 1;
        let assets: Vec<FixtureObject> = moved
            .iter()
            .zip(1..)
            .map(|(resource, pk)| {
                let mut fields = Map::new();
                fields.insert("polymorphic_ctype".into(), ctype.into());
                fields.insert("title".into(), catalog::ASSET_TITLE.into());
                fields.insert("description".into(), catalog::ASSET_DESCRIPTION.into());
                fields.insert("type".into(), "".into());
                fields.insert("owner".into(), resource.owner.clone());
                fields.insert("created".into(), created.clone().into());
                FixtureObject::new("assets.asset", pk, fields)
            })
            .collect();
        let local: Vec<FixtureObject> = moved
            .iter()
            .zip(1..)
            .map(|(resource, pk)| {
                let mut fields = Map::new();
                fields.insert("location".into(), json!(resource.files));
                FixtureObject::new("assets.localasset", pk, fields)
            })
            .collect();
        let links: Vec<FixtureObject> = moved
            .iter()
            .zip(1i64..)
            .zip(first_link..)
            .map(|((resource, asset), pk)| {
                let mut fields = Map::new();
                fields.insert("resource".into(), resource.pk.into());
                fields.insert(
                    "extension".into(),
                    catalog::link_extension(&resource.files).into(),
                );
                fields.insert("link_type".into(), catalog::ASSET_LINK_TYPE.into());
                fields.insert("name".into(), catalog::ASSET_LINK_NAME.into());
                fields.insert("mime".into(), "".into());
                fields.insert(
                    "url".into(),
                    format!("{site}/api/v2/assets/{asset}/link").into(),
                );
                fields.insert("asset".into(), asset.into());
                FixtureObject::new("base.link", pk, fields)
            })
            .collect();
        out.emit_all(assets.into_iter().chain(local).chain(links));
        Ok(())
    }

    /// Migration `documents.0037`: a document's link to a resource becomes
    /// a `base.linkedresource`, when its target is a resource.
    fn document_link(
        &mut self,
        object: &FixtureObject,
        out: &mut Output,
    ) -> Result<(), ManglerError> {
        if self.resources.is_empty() {
            return Err(ManglerError::new(
                "a document link needs the resources of the base fixture, and none was read \
                 before the documents fixture (pair the base fixture with \
                 gn41_to_44.BaseMangler, before documents in `apps`)",
            ));
        }
        let target = object.field("object_id").and_then(Value::as_i64);
        match target {
            Some(target) if self.resources.contains(&target) => {
                self.linked_resources += 1;
                let mut fields = Map::new();
                fields.insert(
                    "source".into(),
                    object.field("document").cloned().unwrap_or(Value::Null),
                );
                fields.insert("target".into(), target.into());
                fields.insert("internal".into(), false.into());
                out.emit(FixtureObject::new(
                    "base.linkedresource",
                    self.linked_resources,
                    fields,
                ));
            }
            _ => self.orphan_links.push(object.pk_i64()?),
        }
        Ok(())
    }

    fn end_documents(&mut self, out: &mut Output) {
        let orphans = std::mem::take(&mut self.orphan_links);
        if !orphans.is_empty() {
            out.note(format!(
                "{} document link(s) (documents.documentresourcelink {}) point to no resource \
                 of the base fixture, and GeoNode 4.4's linked resources need one: they are \
                 not restored (its own upgrade drops them too)",
                orphans.len(),
                ranges(&orphans)
            ));
        }
    }
}

/// `scheme://host[:port]` of a URL: GeoNode's `build_absolute_uri` joins
/// an absolute path onto `SITEURL`, which drops the site's own path.
fn site_root(siteurl: &str) -> &str {
    let after_scheme = siteurl.find("://").map_or(0, |i| i + 3);
    match siteurl[after_scheme..].find('/') {
        Some(slash) => &siteurl[..after_scheme + slash],
        None => siteurl,
    }
}

/// Adds a field the migrations add with a default, unless the object has it.
fn add_field(object: &mut FixtureObject, field: &str, value: Value) {
    if !object.has(field) {
        object.set(field, value);
    }
}

/// Migration `base.0094`: the restriction code type `limitation not
/// listed` becomes `otherRestrictions`, its texts `limitation not listed`
/// (the model's translation descriptors write the `_en` twins too).
fn other_restrictions(object: &mut FixtureObject) {
    if object.str_field("identifier") != Some(catalog::OTHER_RESTRICTIONS_OLD) {
        return;
    }
    object.set("identifier", catalog::OTHER_RESTRICTIONS);
    for field in [
        "description",
        "description_en",
        "gn_description",
        "gn_description_en",
    ] {
        object.set(field, catalog::OTHER_RESTRICTIONS_OLD);
    }
}

/// PostgreSQL's `LOWER()` on a UTF-8 database, character by character:
/// ASCII and every character whose lowercase is one character (a
/// character whose lowercase is longer, such as `İ`, stays).
fn pg_lower(text: &str) -> String {
    text.chars()
        .map(|c| {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(one), None) => one,
                _ => c,
            }
        })
        .collect()
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

mangler_api::export_plugin!(Gn41To44);

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
        let context = mangler_api::Context {
            basepk: 100,
            ..Default::default()
        };
        let refused = plugin.open(&context).err().unwrap();
        assert!(refused.contains("(basepk 100)"), "{refused}");
    }

    #[test]
    fn lowercase_as_postgresql() {
        assert_eq!(
            super::pg_lower("Ann.ÉLISE@Example.ORG"),
            "ann.élise@example.org"
        );
        assert_eq!(super::pg_lower("İ"), "İ");
    }

    #[test]
    fn site_roots_drop_the_path() {
        assert_eq!(
            super::site_root("https://h:8000/geonode/"),
            "https://h:8000"
        );
        assert_eq!(super::site_root("http://h"), "http://h");
    }

    #[test]
    fn ranges_are_compact() {
        assert_eq!(super::ranges(&[7, 1, 2, 3, 9, 3]), "1-3, 7, 9");
    }
}
