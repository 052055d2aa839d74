//! Restore onto another host: the source GeoNode's address (`SITEURL`,
//! GeoServer's public URL) and folders (`MEDIA_ROOT`, `ASSETS_ROOT`) become
//! the target's in every text of the restored fixtures, the `sites.site`
//! domain and name included.
//!
//! A final stage over the staged fixtures, after the plugin chain and
//! before the load: objects holding no match are copied untouched (one
//! substring search each); the others are rewritten in their raw JSON text
//! (plain, `\/`-escaped and doubly escaped), at URL and path boundaries
//! only, and parsed before and after to name the fields changed; the
//! staged files of a restore go through it in [`staged`].

pub mod staged;

use std::{
    collections::BTreeMap,
    io::{Read, Write},
};

use memchr::memmem::Finder;
use serde::Serialize;
use serde_json::Value;

use crate::fixtures::{FixtureReader, FixtureWriter, StreamError};

/// Where a GeoNode lives: its address and folders, each when known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// Its `SITEURL`.
    pub siteurl: Option<String>,
    /// GeoServer's public URL.
    pub geoserver_url: Option<String>,
    /// Its `MEDIA_ROOT`.
    pub media_root: Option<String>,
    /// Its `ASSETS_ROOT`.
    pub assets_root: Option<String>,
}

/// One value moved: the source's and the target's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Move {
    /// What it is (`SITEURL`, `MEDIA_ROOT`, ...).
    pub what: String,
    /// The source's value.
    pub from: String,
    /// The target's value.
    pub to: String,
}

/// What the relocation changed (or, in a dry run, would change).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RelocationReport {
    /// The values moved.
    pub moves: Vec<Move>,
    /// Fields changed, `model.field` -> objects.
    pub fields: BTreeMap<String, u64>,
    /// Objects changed.
    pub objects: u64,
}

/// A replacement of the raw text: `needle` -> `with`.
struct Rule {
    needle: Vec<u8>,
    with: Vec<u8>,
}

/// The source-to-target moves of one restore, ready to apply.
pub struct Relocation {
    rules: Vec<Rule>,
    /// Quick search: an object without any of these holds no match.
    cores: Vec<Finder<'static>>,
    /// The Site's domain: the source's host and the target's.
    site: Option<(String, String)>,
    moves: Vec<Move>,
}

impl Relocation {
    /// The moves from `source` to `target`: each value known on both sides
    /// and different.
    pub fn new(source: &Place, target: &Place) -> Self {
        let mut relocation = Relocation {
            rules: Vec::new(),
            cores: Vec::new(),
            site: None,
            moves: Vec::new(),
        };
        let pairs = [
            ("SITEURL", &source.siteurl, &target.siteurl, true),
            (
                "GeoServer's public URL",
                &source.geoserver_url,
                &target.geoserver_url,
                true,
            ),
            ("MEDIA_ROOT", &source.media_root, &target.media_root, false),
            (
                "ASSETS_ROOT",
                &source.assets_root,
                &target.assets_root,
                false,
            ),
        ];
        for (what, from, to, url) in pairs {
            let (Some(from), Some(to)) = (from, to) else {
                continue;
            };
            let (from, to) = (from.trim_end_matches('/'), to.trim_end_matches('/'));
            if from.is_empty() || to.is_empty() || from == to {
                continue;
            }
            relocation.add(what, from, to, url);
        }
        relocation
            .rules
            .sort_by_key(|rule| std::cmp::Reverse(rule.needle.len()));
        relocation
    }

    fn add(&mut self, what: &str, from: &str, to: &str, url: bool) {
        self.moves.push(Move {
            what: what.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
        });
        let mut forms = vec![from.to_owned()];
        if url {
            let Some((_, rest)) = from.split_once("://") else {
                return;
            };
            forms = vec![format!("http://{rest}"), format!("https://{rest}")];
            let host = rest.split('/').next().unwrap_or(rest);
            self.add_core(host.as_bytes());
            if what == "SITEURL" {
                let to_host = to.split_once("://").map_or(to, |(_, r)| r);
                let to_host = to_host.split('/').next().unwrap_or(to_host);
                self.site = Some((host.to_owned(), to_host.to_owned()));
            }
        }
        for escape in ["/", "\\/", "\\\\/"] {
            for form in &forms {
                let needle = form.replace('/', escape);
                if !url {
                    self.add_core(needle.as_bytes());
                }
                self.rules.push(Rule {
                    needle: needle.into_bytes(),
                    with: to.replace('/', escape).into_bytes(),
                });
            }
        }
    }

    fn add_core(&mut self, core: &[u8]) {
        if !self.cores.iter().any(|f| f.needle() == core) {
            self.cores.push(Finder::new(core).into_owned());
        }
    }

    /// Whether there is nothing to move.
    pub fn is_empty(&self) -> bool {
        self.moves.is_empty()
    }

    /// The values moved.
    pub fn moves(&self) -> &[Move] {
        &self.moves
    }

    /// Streams one fixture from `input` to `output`, moving every value,
    /// and counts what changed into `report`.
    ///
    /// # Errors
    ///
    /// A malformed fixture, or an I/O error.
    pub fn fixture<R: Read, W: Write>(
        &self,
        input: R,
        output: W,
        report: &mut RelocationReport,
    ) -> Result<W, StreamError> {
        let mut reader = FixtureReader::new(input);
        let mut writer = FixtureWriter::new(output);
        writer.prefix(reader.prefix()?)?;
        while let Some(element) = reader.next_element()? {
            let text = element.text.as_bytes();
            let site = element.model == "sites.site" && self.site.is_some();
            if !site && !self.cores.iter().any(|f| f.find(text).is_some()) {
                writer.element(element.gap, text)?;
                continue;
            }
            match self.object(element.model, element.text) {
                Some((new, fields)) => {
                    report.objects += 1;
                    for field in fields {
                        *report
                            .fields
                            .entry(format!("{}.{field}", element.model))
                            .or_insert(0) += 1;
                    }
                    writer.element(element.gap, new.as_bytes())?;
                }
                None => writer.element(element.gap, text)?,
            }
        }
        Ok(writer.finish(reader.suffix())?)
    }

    /// One object's text with every value moved, and the fields changed;
    /// `None` when nothing changed.
    fn object(&self, model: &str, text: &str) -> Option<(String, Vec<String>)> {
        let mut new = self.replace(text);
        if model == "sites.site" {
            if let Some(moved) = self.site_object(new.as_deref().unwrap_or(text)) {
                new = Some(moved);
            }
        }
        let new = new?;
        let before: Value = serde_json::from_str(text).ok()?;
        let after: Value = serde_json::from_str(&new).ok()?;
        let empty = serde_json::Map::new();
        let fields = |v: &Value| v.get("fields").and_then(Value::as_object).cloned();
        let (old_fields, new_fields) = (
            fields(&before).unwrap_or_else(|| empty.clone()),
            fields(&after).unwrap_or(empty),
        );
        let mut changed: Vec<String> = new_fields
            .iter()
            .filter(|(k, v)| old_fields.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        if changed.is_empty() {
            changed.push("(key)".to_owned());
        }
        Some((new, changed))
    }

    /// The Site's `domain` and `name`, when they are the source's host,
    /// set to the target's.
    fn site_object(&self, text: &str) -> Option<String> {
        let (from, to) = self.site.as_ref()?;
        let mut object: Value = serde_json::from_str(text).ok()?;
        let fields = object.get_mut("fields")?.as_object_mut()?;
        let mut changed = false;
        for key in ["domain", "name"] {
            if fields.get(key).and_then(Value::as_str) == Some(from) {
                fields.insert(key.to_owned(), Value::String(to.clone()));
                changed = true;
            }
        }
        changed.then(|| object.to_string())
    }

    /// `text` with every rule's needle replaced at a boundary (the longest
    /// needle where several start at one place); `None` when none matched.
    fn replace(&self, text: &str) -> Option<String> {
        let bytes = text.as_bytes();
        let mut hits: Vec<(usize, usize)> = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            for start in memchr::memmem::find_iter(bytes, &rule.needle) {
                let end = start + rule.needle.len();
                let before = start.checked_sub(1).map(|i| bytes[i]);
                let after = bytes.get(end).copied();
                if before.is_some_and(word_byte) || after.is_some_and(|b| word_byte(b) || b == b':')
                {
                    continue;
                }
                hits.push((start, index));
            }
        }
        if hits.is_empty() {
            return None;
        }
        // Rules are longest first: at one start, the first hit wins.
        hits.sort_by_key(|&(start, index)| (start, index));
        let mut out = Vec::with_capacity(bytes.len());
        let mut at = 0;
        for (start, index) in hits {
            if start < at {
                continue;
            }
            let rule = &self.rules[index];
            out.extend_from_slice(&bytes[at..start]);
            out.extend_from_slice(&rule.with);
            at = start + rule.needle.len();
        }
        out.extend_from_slice(&bytes[at..]);
        String::from_utf8(out).ok()
    }
}

/// A byte that continues a host name or a path segment.
fn word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')
}

/// Models and fields whose URLs show where a backup came from, when they
/// point at its uploaded files (a thumbnail or link elsewhere may be a
/// remote service's).
const EVIDENCE: &[(&str, &str)] = &[("base.resourcebase", "thumbnail_url"), ("base.link", "url")];

/// A value that shows where a backup came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The address it shows, `scheme://host[:port]/`.
    pub siteurl: String,
    /// Where it was seen: `model pk field: value`.
    pub seen: String,
}

/// The first URL of `input` to a file uploaded to a GeoNode (a thumbnail,
/// a link: `/uploaded/` in its path) whose host is not `target_siteurl`'s;
/// `None` when there is none.
///
/// # Errors
///
/// A malformed fixture, or an I/O error.
pub fn other_address<R: Read>(
    input: R,
    target_siteurl: &str,
) -> Result<Option<Evidence>, StreamError> {
    let target_host = host_of(target_siteurl).unwrap_or(target_siteurl);
    let mut reader = FixtureReader::new(input);
    reader.prefix()?;
    while let Some(element) = reader.next_element()? {
        let Some((_, field)) = EVIDENCE.iter().find(|(m, _)| *m == element.model) else {
            continue;
        };
        let Ok(object) = serde_json::from_str::<Value>(element.text) else {
            continue;
        };
        let Some(value) = object
            .get("fields")
            .and_then(|f| f.get(*field))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let Some(host) = host_of(value) else {
            continue;
        };
        if !host.is_empty() && host != target_host && value.contains("/uploaded/") {
            let scheme = value.split("://").next().unwrap_or("http");
            return Ok(Some(Evidence {
                siteurl: format!("{scheme}://{host}/"),
                seen: format!(
                    "{} pk {} {field}: {value}",
                    element.model,
                    element.pk.unwrap_or("?")
                ),
            }));
        }
    }
    Ok(None)
}

/// The `host[:port]` of an absolute http(s) URL.
fn host_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    rest.split(['/', '?', '#']).next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relocation() -> Relocation {
        Relocation::new(
            &Place {
                siteurl: Some("http://old.example.org/".to_owned()),
                geoserver_url: Some("http://old.example.org/geoserver/".to_owned()),
                media_root: Some("/srv/old/data".to_owned()),
                assets_root: Some("/srv/old/data/assets/".to_owned()),
            },
            &Place {
                siteurl: Some("https://new.example.net/".to_owned()),
                geoserver_url: Some("https://gs.example.net/geoserver/".to_owned()),
                media_root: Some("/mnt/media".to_owned()),
                assets_root: Some("/mnt/assets".to_owned()),
            },
        )
    }

    fn run(fixture: &str) -> (String, RelocationReport) {
        let mut report = RelocationReport::default();
        let out = relocation()
            .fixture(fixture.as_bytes(), Vec::new(), &mut report)
            .unwrap();
        (String::from_utf8(out).unwrap(), report)
    }

    #[test]
    fn urls_move_at_boundaries_in_every_escaping() {
        let (out, report) = run(
            r#"[{"model": "base.link", "pk": 1, "fields": {"url": "http://old.example.org/x", "name": "https://old.example.org", "extension": "http:\/\/old.example.org\/y", "mime": "http://old.example.org.evil/z http://old.example.org:8000/ xhttp://old.example.org/"}},
{"model": "base.link", "pk": 2, "fields": {"url": "http://old.example.org/geoserver/wms", "name": "{\"u\": \"http:\\/\\/old.example.org\\/p\"}"}}]"#,
        );
        assert!(
            out.contains(r#""url": "https://new.example.net/x""#),
            "{out}"
        );
        assert!(
            out.contains(r#""name": "https://new.example.net""#),
            "{out}"
        );
        assert!(out.contains(r#"https:\/\/new.example.net\/y"#), "{out}");
        assert!(out.contains("http://old.example.org.evil/z"), "{out}");
        assert!(out.contains("http://old.example.org:8000/"), "{out}");
        assert!(out.contains("xhttp://old.example.org/"), "{out}");
        assert!(
            out.contains("https://gs.example.net/geoserver/wms"),
            "{out}"
        );
        assert!(out.contains(r#"https:\\/\\/new.example.net\\/p"#), "{out}");
        assert_eq!(report.objects, 2);
        assert_eq!(report.fields["base.link.url"], 2);
        assert_eq!(report.fields["base.link.name"], 2);
        assert_eq!(report.fields["base.link.extension"], 1);
        assert!(!report.fields.contains_key("base.link.mime"));
    }

    #[test]
    fn paths_move_the_longest_root_first_and_untouched_objects_stay_byte_for_byte() {
        let fixture = "[\n  {\"model\": \"assets.localasset\", \"pk\": 3, \"fields\": {\"location\": [\"/srv/old/data/assets/d/a.pdf\", \"/srv/old/data/thumbs/t.png\", \"/srv/old/database\", \"/x/srv/old/data\"]}},\n  {\"model\": \"base.link\",  \"pk\": 4,   \"fields\": {\"url\": \"uploaded/x\"}}\n]\n";
        let (out, report) = run(fixture);
        assert!(out.contains(r#""/mnt/assets/d/a.pdf", "/mnt/media/thumbs/t.png", "/srv/old/database", "/x/srv/old/data""#), "{out}");
        assert!(out.ends_with("  {\"model\": \"base.link\",  \"pk\": 4,   \"fields\": {\"url\": \"uploaded/x\"}}\n]\n"), "{out}");
        assert_eq!(report.fields["assets.localasset.location"], 1);
    }

    #[test]
    fn the_site_takes_the_targets_host() {
        let (out, report) = run(
            r#"[{"model": "sites.site", "pk": 1, "fields": {"domain": "old.example.org", "name": "old.example.org"}}]"#,
        );
        assert!(out.contains(r#""domain":"new.example.net""#), "{out}");
        assert!(out.contains(r#""name":"new.example.net""#), "{out}");
        assert_eq!(report.fields["sites.site.domain"], 1);
    }

    #[test]
    fn nothing_moves_between_equal_places() {
        let place = Place {
            siteurl: Some("http://a.org/".to_owned()),
            ..Place::default()
        };
        assert!(Relocation::new(&place, &place).is_empty());
    }

    #[test]
    fn another_address_is_found_in_thumbnails() {
        let fixture = r#"[{"model": "base.resourcebase", "pk": 7, "fields": {"thumbnail_url": "http://old.example.org/uploaded/thumbs/a.png", "detail_url": "/catalogue/#/dataset/7"}}]"#;
        let found = other_address(fixture.as_bytes(), "https://new.example.net")
            .unwrap()
            .unwrap();
        assert!(found.seen.contains("thumbnail_url"), "{found:?}");
        assert_eq!(found.siteurl, "http://old.example.org/");
        let remote = r#"[{"model": "base.link", "pk": 1, "fields": {"url": "https://remote.example.com/wms?x=1"}}]"#;
        assert!(other_address(remote.as_bytes(), "https://new.example.net")
            .unwrap()
            .is_none());
        assert!(other_address(fixture.as_bytes(), "http://old.example.org/")
            .unwrap()
            .is_none());
    }
}
