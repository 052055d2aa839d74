//! The fingerprint table: what a backup can show, and which GeoNode release
//! lines can show it.
//!
//! Read from each release's own source (`models.py`, migrations,
//! `translation.py`, `br/management/commands/backup.py`; 2.0 and 2.4 from
//! the fields GeoNode 2.0 and 2.4 shipped), checked at the first and last
//! patch of the lines a plugin serves. Three kinds of evidence, strongest
//! first:
//!
//! - presence: an object of a model, a field in a model's first object, a
//!   content type. A content type outlives its model (Django keeps stale
//!   ones), so it only ever says "this line or newer".
//! - absence, only where it is sure: a field missing from a *complete*
//!   object (one holding every field of [`COMPLETE`]: `dumpdata` writes all
//!   fields, nulls included), or a model without a content type when the
//!   content types were backed up (Django creates one for every installed
//!   model). A model with no objects proves nothing: its app may not have
//!   been backed up, or it was empty.
//! - the archive's layout (`fixtures/`, `static_dirs/`): how it was packed,
//!   which narrows a plan but never overrules settings.ini.
//!
//! A new release: one entry in [`super::LINES`], the rows whose newest line
//! it extends, and a row for what it adds or drops.

use std::fmt;

use super::lines::{Line, LineRange};

/// One thing a backup may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clue {
    /// Objects of the model (`layers.dataset`).
    Model(&'static str),
    /// The model's first object has the field; `title_*` is any field
    /// starting with `title_` (modeltranslation's `title_en`, `title_fr`).
    Field(&'static str, &'static str),
    /// The model's first object is complete (see [`COMPLETE`]) and has no
    /// such field.
    NoField(&'static str, &'static str),
    /// A content type for the model (`contenttypes.contenttype`).
    ContentType(&'static str),
    /// The content types were backed up (they hold `base.resourcebase`)
    /// and none is for the model.
    NoContentType(&'static str),
    /// Fixtures at the archive's root.
    RootFixtures,
    /// Fixtures under `fixtures/`.
    FixturesFolder,
    /// Something under this top folder (`static_dirs/`).
    Folder(&'static str),
}

impl Clue {
    /// Whether it is about the archive's layout rather than its fixtures.
    pub fn is_layout(&self) -> bool {
        matches!(
            self,
            Self::RootFixtures | Self::FixturesFolder | Self::Folder(_)
        )
    }
}

impl fmt::Display for Clue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Model(model) => write!(f, "`{model}` objects"),
            Self::Field(model, field) => write!(f, "`{model}` has `{field}`"),
            Self::NoField(model, field) => write!(f, "a complete `{model}` has no `{field}`"),
            Self::ContentType(model) => write!(f, "a content type for `{model}`"),
            Self::NoContentType(model) => write!(f, "no content type for `{model}`"),
            Self::RootFixtures => f.write_str("fixtures at the archive's root"),
            Self::FixturesFolder => f.write_str("fixtures under `fixtures/`"),
            Self::Folder(folder) => write!(f, "a `{folder}` folder"),
        }
    }
}

/// A row of the table: when every clue holds, the backup is one of `lines`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    /// The release lines that can show the clues.
    pub lines: LineRange,
    /// What the backup shows, all of it.
    pub clues: &'static [Clue],
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, clue) in self.clues.iter().enumerate() {
            if i > 0 {
                f.write_str(" and ")?;
            }
            write!(f, "{clue}")?;
        }
        write!(f, " (GeoNode {})", self.lines)
    }
}

const fn row(first: (u64, u64), last: (u64, u64), clues: &'static [Clue]) -> Fingerprint {
    Fingerprint {
        lines: LineRange::new(Line::new(first.0, first.1), Line::new(last.0, last.1)),
        clues,
    }
}

use Clue::{
    ContentType, Field, FixturesFolder, Folder, Model, NoContentType, NoField, RootFixtures,
};

const RB: &str = "base.resourcebase";

/// The fingerprints, by model; every row is a presence or a sure absence
/// (see the module's docs).
pub const FINGERPRINTS: &[Fingerprint] = &[
    // base.resourcebase, the richest: fields come and go with every line.
    row((2, 0), (2, 4), &[Field(RB, "distribution_url")]),
    row((2, 0), (2, 0), &[Field(RB, "thumbnail")]),
    row((2, 0), (2, 0), &[NoField(RB, "thumbnail_url")]),
    row((2, 4), (5, 1), &[Field(RB, "thumbnail_url")]),
    row((2, 4), (5, 1), &[Field(RB, "polymorphic_ctype")]),
    row((2, 4), (3, 3), &[Field(RB, "detail_url")]),
    row((2, 5), (5, 1), &[Field(RB, "metadata_uploaded_preserve")]),
    row((2, 7), (5, 1), &[Field(RB, "alternate")]),
    row((2, 0), (2, 6), &[NoField(RB, "alternate")]),
    row((2, 8), (5, 1), &[Field(RB, "is_approved")]),
    row((2, 0), (2, 7), &[NoField(RB, "is_approved")]),
    row((2, 0), (3, 1), &[Field(RB, "bbox_x0")]),
    row((3, 0), (5, 1), &[Field(RB, "dirty_state")]),
    row((2, 0), (2, 10), &[NoField(RB, "dirty_state")]),
    row((3, 1), (5, 1), &[Field(RB, "attribution")]),
    row((2, 0), (3, 0), &[NoField(RB, "attribution")]),
    row((3, 2), (5, 1), &[Field(RB, "ll_bbox_polygon")]),
    row((2, 0), (3, 1), &[NoField(RB, "ll_bbox_polygon")]),
    row((3, 3), (5, 1), &[Field(RB, "was_approved")]),
    row((2, 0), (3, 2), &[NoField(RB, "was_approved")]),
    row((3, 3), (5, 0), &[Field(RB, "metadata")]),
    row((4, 0), (5, 1), &[Field(RB, "blob")]),
    row((2, 0), (3, 3), &[NoField(RB, "blob")]),
    row((4, 0), (4, 3), &[Field(RB, "files")]),
    row((4, 4), (5, 1), &[Field(RB, "blob"), NoField(RB, "files")]),
    row((4, 3), (5, 1), &[Field(RB, "advertised")]),
    row((2, 0), (4, 2), &[NoField(RB, "advertised")]),
    row((5, 1), (5, 1), &[Field(RB, "auth_config")]),
    row((2, 0), (5, 0), &[NoField(RB, "auth_config")]),
    row(
        (5, 1),
        (5, 1),
        &[Field(RB, "blob"), NoField(RB, "metadata")],
    ),
    // Layers: `layers.layer` until 3.3, `layers.dataset` from 4.0.
    row((2, 0), (3, 3), &[Model("layers.layer")]),
    row((4, 0), (5, 1), &[Model("layers.dataset")]),
    row((2, 0), (2, 0), &[Field("layers.layer", "popular_count")]),
    row((2, 4), (2, 5), &[Field("layers.layer", "service")]),
    row((2, 8), (3, 3), &[Field("layers.layer", "remote_service")]),
    row(
        (3, 1),
        (3, 3),
        &[Field("layers.layer", "featureinfo_custom_template")],
    ),
    row((2, 4), (3, 3), &[Field("layers.layer", "title_*")]),
    row((4, 0), (5, 0), &[Field("layers.dataset", "title_*")]),
    // Maps: the map's own viewport until 3.3; map layers reshaped in 4.0 and 4.2.
    row((2, 0), (2, 0), &[Field("maps.map", "popular_count")]),
    row((2, 0), (3, 3), &[Field("maps.map", "zoom")]),
    row((2, 4), (5, 0), &[Field("maps.map", "title_*")]),
    row((2, 0), (3, 3), &[Field("maps.maplayer", "layer_params")]),
    row((3, 0), (5, 1), &[Field("maps.maplayer", "store")]),
    row(
        (2, 0),
        (2, 10),
        &[
            Field("maps.maplayer", "layer_params"),
            NoField("maps.maplayer", "store"),
        ],
    ),
    row((4, 0), (5, 1), &[Field("maps.maplayer", "dataset")]),
    row(
        (4, 0),
        (4, 1),
        &[
            Field("maps.maplayer", "dataset"),
            NoField("maps.maplayer", "opacity"),
        ],
    ),
    row(
        (4, 2),
        (5, 1),
        &[
            Field("maps.maplayer", "dataset"),
            Field("maps.maplayer", "opacity"),
        ],
    ),
    // Documents: generic links until 2.6, a file of their own until 3.3.
    row(
        (2, 0),
        (2, 0),
        &[Field("documents.document", "popular_count")],
    ),
    row((2, 0), (2, 6), &[Field("documents.document", "object_id")]),
    row((2, 0), (3, 3), &[Field("documents.document", "doc_file")]),
    row((2, 4), (3, 3), &[Field("documents.document", "doc_type")]),
    row((2, 4), (5, 0), &[Field("documents.document", "title_*")]),
    row((2, 7), (4, 1), &[Model("documents.documentresourcelink")]),
    // People: a profile beside auth.user in 2.0, the user model itself from 2.4.
    row((2, 0), (2, 0), &[Field("people.profile", "user")]),
    row((2, 4), (5, 1), &[Field("people.profile", "username")]),
    row((2, 8), (5, 1), &[Field("people.profile", "timezone")]),
    row((5, 1), (5, 1), &[Field("people.profile", "extra_data")]),
    row((2, 4), (5, 0), &[NoField("people.profile", "extra_data")]),
    // Models that came or went.
    row((3, 0), (3, 3), &[Model("base.curatedthumbnail")]),
    row((3, 0), (5, 1), &[Model("base.configuration")]),
    row((3, 2), (3, 3), &[Model("geoapps.geoappdata")]),
    row((3, 2), (5, 1), &[Model("geoapps.geoapp")]),
    row((3, 3), (5, 0), &[Model("base.extrametadata")]),
    row((3, 3), (5, 1), &[Model("upload.uploadsizelimit")]),
    row((4, 0), (5, 1), &[Model("upload.uploadparallelismlimit")]),
    row((4, 0), (5, 1), &[Model("harvesting.harvester")]),
    row(
        (4, 0),
        (4, 4),
        &[Field("resource.executionrequest", "source")],
    ),
    row(
        (5, 0),
        (5, 1),
        &[Field("resource.executionrequest", "tasks")],
    ),
    row((4, 2), (5, 1), &[Model("base.linkedresource")]),
    row((4, 2), (5, 1), &[Field("base.thesauruskeyword", "image")]),
    row((4, 4), (5, 1), &[Model("assets.asset")]),
    row((4, 4), (5, 1), &[Model("assets.localasset")]),
    row((4, 4), (5, 1), &[Field("base.link", "asset")]),
    row((2, 0), (4, 3), &[NoField("base.link", "asset")]),
    row((2, 8), (4, 4), &[Model("monitoring.service")]),
    row((5, 0), (5, 0), &[Field("services.service", "username")]),
    row((5, 0), (5, 1), &[Model("metadata.sparsefield")]),
    row((5, 1), (5, 1), &[Model("security.authconfig")]),
    // Content types: present means "this line or newer" (stale ones stay).
    row((3, 0), (5, 1), &[ContentType("base.configuration")]),
    row((3, 2), (5, 1), &[ContentType("geoapps.geoapp")]),
    row((4, 0), (5, 1), &[ContentType("layers.dataset")]),
    row((4, 2), (5, 1), &[ContentType("base.linkedresource")]),
    row((4, 4), (5, 1), &[ContentType("assets.asset")]),
    row((5, 0), (5, 1), &[ContentType("metadata.sparsefield")]),
    row((5, 1), (5, 1), &[ContentType("security.authconfig")]),
    row((2, 0), (2, 10), &[NoContentType("base.configuration")]),
    row((2, 0), (3, 1), &[NoContentType("geoapps.geoapp")]),
    row((2, 0), (3, 3), &[NoContentType("layers.dataset")]),
    row((2, 0), (4, 1), &[NoContentType("base.linkedresource")]),
    row((2, 0), (4, 3), &[NoContentType("assets.asset")]),
    row((2, 0), (4, 4), &[NoContentType("metadata.sparsefield")]),
    row((2, 0), (5, 0), &[NoContentType("security.authconfig")]),
    // Layout: GeoNode's `backup` wrote fixtures at the root (with the
    // static, template and locale folders) until 4.1.4 and 4.2.2, under
    // `fixtures/` from 4.1.5 and 4.2.3.
    row((2, 0), (4, 2), &[RootFixtures]),
    row((4, 1), (5, 1), &[FixturesFolder]),
    row((2, 5), (4, 2), &[Folder("static_dirs/")]),
    row((2, 5), (4, 2), &[Folder("template_dirs/")]),
    row((2, 5), (4, 2), &[Folder("locale_dirs/")]),
];

/// Fields a model's objects hold in every line that has the model; an
/// object with all of them is complete, and only then does a missing field
/// count (see [`Clue::NoField`]). Many-to-many fields through a model of
/// their own (`contacts`, `keywords`) are not dumped, so none is here.
pub const COMPLETE: &[(&str, &[&str])] = &[
    (
        RB,
        &[
            "uuid",
            "owner",
            "title",
            "abstract",
            "date",
            "date_type",
            "edition",
            "purpose",
            "language",
            "srid",
            "supplemental_information",
            "data_quality_statement",
            "metadata_uploaded",
            "metadata_xml",
            "csw_type",
        ],
    ),
    ("maps.maplayer", &["map", "name", "ows_url", "local"]),
    (
        "people.profile",
        &[
            "username",
            "email",
            "password",
            "first_name",
            "last_name",
            "is_active",
            "date_joined",
            "organization",
        ],
    ),
    (
        "base.link",
        &["resource", "extension", "link_type", "name", "mime", "url"],
    ),
];
