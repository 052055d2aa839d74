//! Host-specific values in GeoServer's catalog, rewritten for a target that
//! differs from the source: the database connection of PostGIS stores
//! (`host`, `port`, `database`, `user`, `schema`, `passwd`), absolute
//! `file:` URLs of stores, `proxyBaseUrl` and `onlineResource`, and the log
//! `location`.
//!
//! Every value changed is reported (file, object, field, old, new), except
//! passwords: a password is set, never shown, and never read back into a
//! report or a log. GeoNode's own restore never rewrote any of these.

use std::{
    fs,
    io::Write,
    ops::Range,
    path::{Component, Path, PathBuf},
};

use serde::Serialize;

use super::{
    xml::{self, Document},
    Secret,
};
use crate::errors::{Error, ErrorKind};

/// The `dbtype`s whose connection parameters [`StoreRule`]s apply to.
pub const POSTGIS_DBTYPES: [&str; 2] = ["postgis", "postgisng"];

/// What a report shows instead of a password.
pub const HIDDEN: &str = "(not shown)";

/// What to rewrite, and to what.
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    /// Database connections of PostGIS stores: the first rule whose `from`
    /// matches a store applies to it.
    pub stores: Vec<StoreRule>,
    /// Absolute path prefixes (`file:` URLs, the log location, external files).
    pub paths: Vec<PathRule>,
    /// URL prefixes (`proxyBaseUrl`, `onlineResource`).
    pub urls: Vec<UrlRule>,
}

/// A PostGIS store's connection, moved to the target's database.
#[derive(Debug, Clone, Default)]
pub struct StoreRule {
    /// Which stores: each field given must equal the store's parameter.
    pub from: StoreMatch,
    /// The values to set: each field given replaces (or adds) the parameter.
    pub to: StoreTarget,
}

/// The connection parameters a store must have for a rule to apply
/// (`None`: any value). `host` compares case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreMatch {
    /// `host`.
    pub host: Option<String>,
    /// `port`.
    pub port: Option<String>,
    /// `database`.
    pub database: Option<String>,
    /// `user`.
    pub user: Option<String>,
    /// `schema`.
    pub schema: Option<String>,
}

/// The connection parameters a matching store gets.
#[derive(Debug, Clone, Default)]
pub struct StoreTarget {
    /// `host`.
    pub host: Option<String>,
    /// `port`.
    pub port: Option<String>,
    /// `database`.
    pub database: Option<String>,
    /// `user`.
    pub user: Option<String>,
    /// `schema`.
    pub schema: Option<String>,
    /// `passwd`, written as `plain:<password>` (GeoServer encrypts it when it
    /// next saves the store); reported as changed, never shown.
    pub password: Option<Secret>,
}

/// An absolute path prefix and its replacement; matches whole components
/// (`/data` matches `/data/x`, not `/database`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    /// On the source.
    pub from: PathBuf,
    /// On the target.
    pub to: PathBuf,
}

/// A URL prefix and its replacement (`http://old/geoserver` ->
/// `https://new/geoserver`); matches up to a `/`, `?`, `#` or the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRule {
    /// On the source.
    pub from: String,
    /// On the target.
    pub to: String,
}

/// One value changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The file (data-dir relative, or the archive entry).
    pub file: String,
    /// The object in it (`store sf`, `settings`, `logging`).
    pub object: String,
    /// The field (`host`, `url`, `proxyBaseUrl`, `passwd`).
    pub field: String,
    /// The value before ([`HIDDEN`] for passwords; URL passwords masked).
    pub old: String,
    /// The value after (likewise).
    pub new: String,
}

/// What a rewrite changed and what it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RewriteReport {
    /// Every value changed.
    pub changes: Vec<Change>,
    /// Files written.
    pub files: u64,
    /// Things the admin should know (a store whose password cannot be read
    /// on the target, a file that could not be parsed).
    pub warnings: Vec<String>,
}

impl RewriteReport {
    /// Adds another report's changes, files and warnings.
    pub fn merge(&mut self, other: RewriteReport) {
        self.changes.extend(other.changes);
        self.files += other.files;
        self.warnings.extend(other.warnings);
    }
}

/// The outcome of rewriting one file's text.
#[derive(Debug, Default)]
pub struct Rewritten {
    /// The new text, when something changed.
    pub text: Option<String>,
    /// The values changed.
    pub changes: Vec<Change>,
    /// Warnings about the file.
    pub warnings: Vec<String>,
}

impl Mapping {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.stores.is_empty() && self.paths.is_empty() && self.urls.is_empty()
    }

    /// `path` moved by the longest matching [`PathRule`], if one matches.
    pub fn map_path(&self, path: &Path) -> Option<PathBuf> {
        self.paths
            .iter()
            .filter(|r| path.starts_with(&r.from))
            .max_by_key(|r| r.from.components().count())
            .map(|r| {
                let rest = path.strip_prefix(&r.from).expect("starts_with was checked");
                if rest.as_os_str().is_empty() {
                    r.to.clone()
                } else {
                    r.to.join(rest)
                }
            })
    }

    /// `url` moved by the longest matching [`UrlRule`], if one matches.
    pub fn map_url(&self, url: &str) -> Option<String> {
        self.urls
            .iter()
            .filter(|r| {
                let from = r.from.trim_end_matches('/');
                !from.is_empty()
                    && url
                        .strip_prefix(from)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
            })
            .max_by_key(|r| r.from.trim_end_matches('/').len())
            .map(|r| {
                let from = r.from.trim_end_matches('/');
                format!("{}{}", r.to.trim_end_matches('/'), &url[from.len()..])
            })
    }

    /// A `file:` URL with its absolute path moved; relative URLs (resolved
    /// against the data directory by GeoServer) move with it and are left alone.
    fn map_file_url(&self, value: &str) -> Option<String> {
        let (scheme, path) = split_file_url(value)?;
        let path = Path::new(path);
        if !path.is_absolute() {
            return None;
        }
        let mapped = self.map_path(path)?;
        Some(format!("{scheme}{}", mapped.display()))
    }
}

/// Splits `file:/x`, `file:///x` and `file:x` into the scheme part kept as
/// written and the path.
pub(crate) fn split_file_url(value: &str) -> Option<(&str, &str)> {
    let rest = value.strip_prefix("file:")?;
    if let Some(path) = rest.strip_prefix("//") {
        // `file:///x` has an empty authority; `file://x` is read as a relative path by GeoServer.
        return Some(if path.starts_with('/') {
            (&value[..7], path)
        } else {
            (&value[..5], rest)
        });
    }
    Some((&value[..5], rest))
}

/// Which kinds of values a file can hold, by its name (data-dir relative,
/// or an entry of a Backup & Restore archive such as `store.dat.3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Stores,
    Service,
    Logging,
    Style,
}

fn file_kind(name: &str) -> Option<FileKind> {
    let base = name.rsplit('/').next().unwrap_or(name);
    let dat = |prefix: &str| {
        base.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if base == "datastore.xml" || base == "coveragestore.xml" || dat("store.dat.") {
        return Some(FileKind::Stores);
    }
    if base == "logging.xml" {
        return Some(FileKind::Logging);
    }
    if matches!(
        base,
        "global.xml"
            | "settings.xml"
            | "wms.xml"
            | "wfs.xml"
            | "wcs.xml"
            | "wps.xml"
            | "wmts.xml"
            | "csw.xml"
    ) {
        return Some(FileKind::Service);
    }
    let in_styles = name.starts_with("styles/") || name.contains("/styles/");
    if (in_styles && base.ends_with(".xml")) || dat("style.dat.") {
        return Some(FileKind::Style);
    }
    None
}

/// Whether [`rewrite_text`] may change a file of this name.
pub fn is_rewritable(name: &str) -> bool {
    file_kind(name).is_some()
}

/// Rewrites one file's text. `name` is its data-dir relative path (or its
/// archive entry name), which decides what is looked at.
///
/// # Errors
///
/// When the file is not well-formed XML (the message says where).
pub fn rewrite_text(name: &str, text: &str, mapping: &Mapping) -> Result<Rewritten, String> {
    let Some(kind) = file_kind(name) else {
        return Ok(Rewritten::default());
    };
    let doc = Document::parse(text)?;
    let mut out = Edits {
        file: name,
        edits: Vec::new(),
        rewritten: Rewritten::default(),
    };
    match kind {
        FileKind::Stores => {
            for store in doc.named("dataStore").chain(doc.named("coverageStore")) {
                rewrite_store(&doc, store, mapping, &mut out);
            }
        }
        FileKind::Service => {
            for (tag, object) in [("proxyBaseUrl", "settings"), ("onlineResource", "service")] {
                for i in doc.named(tag) {
                    let old = doc.text(i);
                    if let Some(new) = mapping.map_url(old.trim()) {
                        out.set(&doc, i, object, tag, &new, false);
                    }
                }
            }
        }
        FileKind::Logging => {
            for i in doc.named("location") {
                let old = doc.text(i);
                if let Some(new) = mapping.map_path(Path::new(old.trim())) {
                    out.set(
                        &doc,
                        i,
                        "logging",
                        "location",
                        &new.to_string_lossy(),
                        false,
                    );
                }
            }
        }
        FileKind::Style => {
            for style in doc.named("style") {
                let Some(i) = doc.child(style, "filename") else {
                    continue;
                };
                let old = doc.text(i);
                let object = format!(
                    "style {}",
                    doc.child_text(style, "name").unwrap_or_default()
                );
                if let Some(new) = mapping.map_path(Path::new(old.trim())) {
                    out.set(&doc, i, &object, "filename", &new.to_string_lossy(), false);
                }
            }
        }
    }
    let Edits {
        edits,
        mut rewritten,
        ..
    } = out;
    if !edits.is_empty() {
        rewritten.text = Some(xml::apply(text, edits)?);
    }
    Ok(rewritten)
}

/// Edits being collected for one file.
struct Edits<'a> {
    file: &'a str,
    edits: Vec<(Range<usize>, String)>,
    rewritten: Rewritten,
}

impl Edits<'_> {
    /// Replaces element `i`'s text by `new`, recording the change (hidden
    /// when `secret`).
    fn set(
        &mut self,
        doc: &Document<'_>,
        i: usize,
        object: &str,
        field: &str,
        new: &str,
        secret: bool,
    ) {
        let old = doc.text(i);
        if old == new {
            return;
        }
        self.edits.push(doc.set_text(i, new));
        self.record(object, field, &old, new, secret);
    }

    fn record(&mut self, object: &str, field: &str, old: &str, new: &str, secret: bool) {
        let show = |v: &str| {
            if secret {
                HIDDEN.to_owned()
            } else {
                mask_url_password(v)
            }
        };
        self.rewritten.changes.push(Change {
            file: self.file.to_owned(),
            object: object.to_owned(),
            field: field.to_owned(),
            old: show(old),
            new: show(new),
        });
    }
}

fn rewrite_store(doc: &Document<'_>, store: usize, mapping: &Mapping, out: &mut Edits<'_>) {
    let name = doc.child_text(store, "name").unwrap_or_default();
    let object = format!("store {name}");
    if let Some(url) = doc.child(store, "url") {
        let old = doc.text(url);
        if let Some(new) = mapping.map_file_url(old.trim()) {
            out.set(doc, url, &object, "url", &new, false);
        }
    }
    let Some(params) = doc.child(store, "connectionParameters") else {
        return;
    };
    let entries: Vec<(String, usize)> = doc
        .children(params, "entry")
        .filter_map(|i| Some((doc.attr(i, "key")?.to_owned(), i)))
        .collect();
    let value = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, i)| doc.text(*i))
    };
    for (key, i) in &entries {
        let old = doc.text(*i);
        if let Some(new) = mapping.map_file_url(old.trim()) {
            out.set(doc, *i, &object, key, &new, false);
        }
    }
    let dbtype = value("dbtype").unwrap_or_default();
    if !POSTGIS_DBTYPES.contains(&dbtype.trim().to_ascii_lowercase().as_str()) {
        return;
    }
    let Some(rule) = mapping.stores.iter().find(|r| r.from.matches(&value)) else {
        return;
    };
    let to = &rule.to;
    let password = to
        .password
        .as_ref()
        .map(|p| format!("plain:{}", p.expose()));
    let wanted = [
        ("host", to.host.as_deref(), false),
        ("port", to.port.as_deref(), false),
        ("database", to.database.as_deref(), false),
        ("user", to.user.as_deref(), false),
        ("schema", to.schema.as_deref(), false),
        ("passwd", password.as_deref(), true),
    ];
    let indent = doc.closing_indent(params).to_owned();
    let mut inserts = String::new();
    for (key, new, secret) in wanted {
        let Some(new) = new else { continue };
        match entries.iter().find(|(k, _)| k == key) {
            Some((_, i)) => out.set(doc, *i, &object, key, new, secret),
            None => {
                inserts.push_str(&format!(
                    "  <entry key=\"{key}\">{}</entry>\n{indent}",
                    xml::escape(new)
                ));
                out.record(&object, key, "", new, secret);
            }
        }
    }
    if let Some(end) = doc.content_end(params).filter(|_| !inserts.is_empty()) {
        out.edits.push((end..end, inserts));
    }
    if to.password.is_none()
        && value("passwd").is_some_and(|p| p.trim_start().starts_with("crypt2:"))
    {
        out.rewritten.warnings.push(format!(
            "{}: {object} now points at another database, but its password is encrypted with the source GeoServer's keystore (crypt2:); unless security (security/geoserver.jceks and the master password) is restored with it, the target cannot read it: give the target's password",
            out.file
        ));
    }
}

impl StoreMatch {
    /// Whether a store with these parameters matches.
    fn matches(&self, value: &dyn Fn(&str) -> Option<String>) -> bool {
        let same = |want: &Option<String>, key: &str, fold: bool| match want {
            None => true,
            Some(want) => value(key).is_some_and(|have| {
                let (have, want) = (have.trim(), want.trim());
                if fold {
                    have.eq_ignore_ascii_case(want)
                } else {
                    have == want
                }
            }),
        };
        same(&self.host, "host", true)
            && same(&self.port, "port", false)
            && same(&self.database, "database", false)
            && same(&self.user, "user", false)
            && same(&self.schema, "schema", false)
    }
}

/// `scheme://user:password@host` -> `scheme://user:***@host`.
fn mask_url_password(value: &str) -> String {
    let Some(scheme_end) = value.find("://") else {
        return value.to_owned();
    };
    let authority_start = scheme_end + 3;
    let authority_end = value[authority_start..]
        .find(['/', '?', '#'])
        .map_or(value.len(), |i| authority_start + i);
    let authority = &value[authority_start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return value.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return value.to_owned();
    };
    format!(
        "{}{}:***{}",
        &value[..authority_start],
        &authority[..colon],
        &value[authority_start + at..]
    )
}

/// Rewrites the files of a data directory in place; each changed file is
/// written to a temporary file beside it and renamed over it.
///
/// # Errors
///
/// When a file cannot be read or written. Files that are not well-formed
/// XML are left alone, with a warning.
pub fn rewrite_dir(root: &Path, mapping: &Mapping) -> Result<RewriteReport, Error> {
    let mut report = RewriteReport::default();
    if mapping.is_empty() {
        return Ok(report);
    }
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(|e| {
            Error::new(
                ErrorKind::Run,
                format!("cannot read the data directory {}: {e}", root.display()),
            )
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let Some(name) = relative_name(root, entry.path()) else {
            continue;
        };
        if !is_rewritable(&name) {
            continue;
        }
        let path = entry.path();
        let bytes = fs::read(path).map_err(|e| {
            Error::new(
                ErrorKind::Run,
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let rewritten = std::str::from_utf8(&bytes)
            .map_err(|e| format!("not UTF-8: {e}"))
            .and_then(|text| rewrite_text(&name, text, mapping));
        match rewritten {
            Ok(rewritten) => {
                if let Some(new) = &rewritten.text {
                    replace_file(path, new.as_bytes())?;
                    report.files += 1;
                }
                report.changes.extend(rewritten.changes);
                report.warnings.extend(rewritten.warnings);
            }
            Err(e) => report.warnings.push(format!(
                "{name} cannot be read as XML ({e}); left as it was"
            )),
        }
    }
    Ok(report)
}

/// `path` relative to `root`, `/`-separated, when it is valid UTF-8.
pub(crate) fn relative_name(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// Writes `bytes` to a temporary file next to `path`, with its permissions,
/// and renames it over `path`.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let write_error = |e: &dyn std::fmt::Display| {
        Error::new(
            ErrorKind::Run,
            format!("cannot write {}: {e}", path.display()),
        )
        .hint("the data directory must be writable by the user running gnbr")
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".gnbr-rewrite-")
        .tempfile_in(dir)
        .map_err(|e| write_error(&e))?;
    file.write_all(bytes).map_err(|e| write_error(&e))?;
    if let Ok(meta) = fs::metadata(path) {
        let _ = fs::set_permissions(file.path(), meta.permissions());
    }
    file.persist(path).map_err(|e| write_error(&e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{
        mask_url_password, rewrite_dir, rewrite_text, Mapping, PathRule, StoreMatch, StoreRule,
        StoreTarget, UrlRule, HIDDEN,
    };
    use crate::geoserver::Secret;

    const MINIMAL: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/geoserver-double/data_dir_minimal"
    );

    fn to_target_db() -> Mapping {
        Mapping {
            stores: vec![StoreRule {
                from: StoreMatch {
                    host: Some("LOCALHOST".into()),
                    database: Some("cite".into()),
                    ..StoreMatch::default()
                },
                to: StoreTarget {
                    host: Some("db.example.org".into()),
                    port: Some("6432".into()),
                    database: Some("geonode_data".into()),
                    user: Some("geonode".into()),
                    schema: Some("public".into()),
                    password: Some(Secret::new("n3w-s3cret&<")),
                },
            }],
            ..Mapping::default()
        }
    }

    #[test]
    fn moves_a_postgis_store_and_never_shows_the_password() {
        let name = "workspaces/sf/sf/datastore.xml";
        let text = std::fs::read_to_string(Path::new(MINIMAL).join(name)).unwrap();
        let out = rewrite_text(name, &text, &to_target_db()).unwrap();
        let new = out.text.unwrap();
        assert!(new.contains(r#"<entry key="host">db.example.org</entry>"#));
        assert!(new.contains(r#"<entry key="port">6432</entry>"#));
        assert!(new.contains(r#"<entry key="database">geonode_data</entry>"#));
        assert!(new.contains(r#"<entry key="user">geonode</entry>"#));
        assert!(new.contains(r#"<entry key="passwd">plain:n3w-s3cret&amp;&lt;</entry>"#));
        // `schema` was missing: added inside connectionParameters, indented like its siblings.
        assert!(new.contains("    <entry key=\"schema\">public</entry>\n  </connectionParameters>"));
        // Untouched parameters keep their bytes.
        assert!(
            new.contains(r#"<entry key="namespace">http://cite.opengeospatial.org/gmlsf</entry>"#)
        );
        let fields: Vec<(&str, &str, &str)> = out
            .changes
            .iter()
            .map(|c| (c.field.as_str(), c.old.as_str(), c.new.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("host", "localhost", "db.example.org"),
                ("port", "5432", "6432"),
                ("database", "cite", "geonode_data"),
                ("user", "cite", "geonode"),
                ("schema", "", "public"),
                ("passwd", HIDDEN, HIDDEN),
            ]
        );
        assert!(out
            .changes
            .iter()
            .all(|c| c.object == "store sf" && c.file == name));
        let report = serde_json::to_string(&out.changes).unwrap();
        let debug = format!("{:?} {:?}", out.changes, to_target_db());
        for shown in [report, debug] {
            assert!(!shown.contains("n3w-s3cret"), "{shown}");
            assert!(!shown.contains("plain:cite"), "{shown}");
        }
    }

    #[test]
    fn leaves_stores_that_do_not_match() {
        let name = "workspaces/sf/sf/datastore.xml";
        let text = std::fs::read_to_string(Path::new(MINIMAL).join(name)).unwrap();
        let mut mapping = to_target_db();
        mapping.stores[0].from.port = Some("5433".into());
        let out = rewrite_text(name, &text, &mapping).unwrap();
        assert!(out.text.is_none() && out.changes.is_empty());
    }

    #[test]
    fn warns_about_keystore_passwords_it_cannot_carry() {
        let text = r#"<dataStore><name>gn</name><connectionParameters>
<entry key="dbtype">postgis</entry><entry key="host">old</entry>
<entry key="passwd">crypt2:AbCdEf==</entry></connectionParameters></dataStore>"#;
        let mapping = Mapping {
            stores: vec![StoreRule {
                from: StoreMatch::default(),
                to: StoreTarget {
                    host: Some("new".into()),
                    ..StoreTarget::default()
                },
            }],
            ..Mapping::default()
        };
        let out = rewrite_text("store.dat.1", text, &mapping).unwrap();
        assert_eq!(out.changes.len(), 1);
        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        assert!(out.warnings[0].contains("crypt2:") && !out.warnings[0].contains("AbCdEf"));
    }

    #[test]
    fn moves_absolute_file_urls_only() {
        let text = r#"<coverageStore><name>dem</name>
  <url>file:///mnt/rasters/dem.tif</url></coverageStore>
<dataStore><name>shp</name><connectionParameters>
  <entry key="url">file:/mnt/rasters2/roads</entry>
  <entry key="dbtype">shapefile</entry></connectionParameters></dataStore>
<dataStore><name>rel</name><connectionParameters>
  <entry key="url">file:data/mnt/rasters</entry></connectionParameters></dataStore>"#;
        let mapping = Mapping {
            paths: vec![PathRule {
                from: PathBuf::from("/mnt/rasters"),
                to: PathBuf::from("/srv/gs/rasters"),
            }],
            ..Mapping::default()
        };
        let out = rewrite_text("store.dat.2", text, &mapping).unwrap();
        let new = out.text.unwrap();
        assert!(new.contains("<url>file:///srv/gs/rasters/dem.tif</url>"));
        assert!(
            new.contains("file:/mnt/rasters2/roads"),
            "not a whole component"
        );
        assert!(
            new.contains("file:data/mnt/rasters"),
            "relative: moves with the data dir"
        );
        assert_eq!(out.changes.len(), 1);
    }

    #[test]
    fn moves_service_urls_and_log_location() {
        let global =
            "<global><settings><proxyBaseUrl>http://old.example.org/geoserver</proxyBaseUrl>\
<onlineResource>http://old.example.org/geoserver/web?x=1</onlineResource></settings></global>";
        let mapping = Mapping {
            urls: vec![UrlRule {
                from: "http://old.example.org/geoserver/".into(),
                to: "https://new.example.org/gs".into(),
            }],
            paths: vec![PathRule {
                from: "/var/log/old".into(),
                to: "/var/log/new".into(),
            }],
            ..Mapping::default()
        };
        let out = rewrite_text("global.xml", global, &mapping).unwrap();
        assert_eq!(
            out.text.unwrap(),
            "<global><settings><proxyBaseUrl>https://new.example.org/gs</proxyBaseUrl>\
<onlineResource>https://new.example.org/gs/web?x=1</onlineResource></settings></global>"
        );
        let logging = "<logging><location>/var/log/old/geoserver.log</location></logging>";
        let out = rewrite_text("logging.xml", logging, &mapping).unwrap();
        assert!(out.text.unwrap().contains("/var/log/new/geoserver.log"));
        // Not a file these values live in: untouched.
        let out = rewrite_text("workspaces/sf/sf/x/featuretype.xml", global, &mapping).unwrap();
        assert!(out.text.is_none());
    }

    #[test]
    fn masks_url_passwords() {
        assert_eq!(
            mask_url_password("jdbc:postgresql://u:pw@h:5432/db"),
            "jdbc:postgresql://u:***@h:5432/db"
        );
        assert_eq!(mask_url_password("http://h/x@y"), "http://h/x@y");
        assert_eq!(mask_url_password("file:/a"), "file:/a");
    }

    #[test]
    fn rewrites_a_data_dir_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("workspaces/sf/sf");
        std::fs::create_dir_all(&store).unwrap();
        let original =
            std::fs::read_to_string(Path::new(MINIMAL).join("workspaces/sf/sf/datastore.xml"))
                .unwrap();
        std::fs::write(store.join("datastore.xml"), &original).unwrap();
        std::fs::write(dir.path().join("global.xml"), "<global>").unwrap();
        let report = rewrite_dir(dir.path(), &to_target_db()).unwrap();
        assert_eq!(report.files, 1);
        assert_eq!(report.changes.len(), 6);
        assert_eq!(
            report.warnings.len(),
            1,
            "the broken global.xml: {:?}",
            report.warnings
        );
        let written = std::fs::read_to_string(store.join("datastore.xml")).unwrap();
        assert!(written.contains("db.example.org"));
        let names: Vec<_> = std::fs::read_dir(&store).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }
}
