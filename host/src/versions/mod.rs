//! Which GeoNode version a backup holds: what the admin says
//! (`--from-version`), else gnbr's manifest, else what the archive shows,
//! read against the fingerprint table ([`FINGERPRINTS`]). What the archive
//! shows gives one release line or a range of them, never a guess: when the
//! evidence fits several lines, the range says so, and planning decides
//! whether it matters (see `plugins::choice`).

mod fingerprints;
mod lines;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use mangler_api::FixtureObject;
use semver::{Version, VersionReq};

pub use fingerprints::{Clue, Fingerprint, COMPLETE, FINGERPRINTS};
pub use lines::{Line, LineRange, LINES};

use crate::{
    archive::BackupReader,
    errors::{Error, ErrorKind},
    fixtures::FixtureReader,
};

/// A GeoNode version, or a range of release lines, and how gnbr knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KnownVersion {
    /// The version when one is known: exact when given or recorded, the
    /// line's `major.minor.0` when the archive shows a single line; `None`
    /// when it shows a range.
    pub version: Option<Version>,
    /// The release lines it may be: one (`4.4`) or a range (`3.0-3.3`).
    pub lines: LineRange,
    /// How it is known: where from, and the evidence that decided it.
    pub how: String,
    /// Every fingerprint the backup matched, in words (empty when the
    /// version was given or recorded).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// Whether `version` is exact (given or recorded), not inferred.
    pub exact: bool,
    /// The lines the fixtures alone allow, the archive's layout left out:
    /// what settings.ini's explicit manglers must fit. `None` when they
    /// rule no line out, or the version is exact.
    #[serde(skip)]
    pub contents: Option<LineRange>,
}

impl KnownVersion {
    /// An exact version, `how` it is known.
    pub fn exact(version: Version, how: &str) -> Self {
        Self {
            lines: LineRange::one(Line::of(&version)),
            version: Some(version),
            how: how.to_owned(),
            evidence: Vec::new(),
            exact: true,
            contents: None,
        }
    }

    /// The version when one is known (for the plugins' context).
    pub fn known(&self) -> Option<String> {
        self.version.as_ref().map(ToString::to_string)
    }

    /// The exact version, else the line or range of lines, for a human
    /// (`4.4.5`, `3.3`, `3.0-3.3`).
    pub fn label(&self) -> String {
        match (&self.version, self.exact) {
            (Some(version), true) => version.to_string(),
            _ => self.lines.to_string(),
        }
    }

    /// Whether a plugin that migrates from `requirement` can fit it: the
    /// exact version must meet it; else some line the fixtures allow must
    /// (the layout alone never refuses: re-packed archives, gnbr's folders).
    pub fn fits(&self, requirement: &VersionReq) -> bool {
        match (&self.version, self.exact, &self.contents) {
            (Some(version), true, _) => requirement.matches(version),
            (_, _, Some(lines)) => lines.fits(requirement),
            _ => true,
        }
    }
}

/// Parses a GeoNode version as admins write it (`4.4`, `5.1.1`, `2.0`) or
/// as GeoNode reports it (`5.0.0rc1`, `4.4.5.post1`: the release's
/// `major.minor.patch` counts). `source` says where the text came from
/// (`given with --from-version`), for the error.
///
/// # Errors
///
/// When it does not start with a version.
pub fn parse_version(text: &str, source: &str) -> Result<Version, Error> {
    let mut numbers: Vec<u64> = Vec::new();
    for part in text.trim().split('.').take(3) {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        let Ok(n) = digits.parse() else { break };
        numbers.push(n);
        if digits.len() != part.len() {
            break; // `0rc1`: the version ends with its number
        }
    }
    match numbers[..] {
        [major, minor, patch] => Ok(Version::new(major, minor, patch)),
        [major, minor] => Ok(Version::new(major, minor, 0)),
        _ => Err(Error::new(
            ErrorKind::Usage,
            format!("`{text}` ({source}) is not a GeoNode version"),
        )
        .hint("pass the version with --from-version (or --to-version), written like 4.4 or 5.1.1")),
    }
}

/// The version of the backup in `input`.
///
/// # Errors
///
/// When `given` is not a version, the backup cannot be read, or its
/// fixtures contradict each other about their version.
pub fn source_version(
    input: &mut BackupReader,
    given: Option<&str>,
) -> Result<Option<KnownVersion>, Error> {
    if let Some(given) = given {
        let version = parse_version(given, "given with --from-version")?;
        return Ok(Some(KnownVersion::exact(
            version,
            "given with --from-version",
        )));
    }
    if let Some(version) = input.manifest().and_then(|m| m.geonode_version.clone()) {
        let version = parse_version(
            &version,
            &format!("recorded in {}/manifest.json", input.path().display()),
        )?;
        return Ok(Some(KnownVersion::exact(
            version,
            "recorded in the backup's manifest.json",
        )));
    }
    let seen = look(input)?;
    infer(&seen)
}

/// What a backup shows, as far as the fingerprints ask.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The field names of each telling model's first object, by model.
    pub first_objects: BTreeMap<String, Vec<String>>,
    /// The models of the backed-up content types (`base.resourcebase`);
    /// `None` when no content type was backed up.
    pub content_types: Option<BTreeSet<String>>,
    /// Whether fixtures were found at the archive's root.
    pub root_fixtures: bool,
    /// Whether fixtures were found under `fixtures/`.
    pub fixtures_folder: bool,
    /// The archive's top folders, with their `/` (`static_dirs/`).
    pub folders: BTreeSet<String>,
}

impl Seen {
    /// Whether the backup shows `clue`.
    pub fn shows(&self, clue: &Clue) -> bool {
        let has_field = |model: &str, field: &str| {
            self.first_objects.get(model).is_some_and(|fields| {
                fields.iter().any(|f| match field.strip_suffix('*') {
                    Some(prefix) => f.starts_with(prefix),
                    None => f == field,
                })
            })
        };
        let complete = |model: &str| {
            COMPLETE
                .iter()
                .find(|(m, _)| *m == model)
                .is_some_and(|(_, anchors)| anchors.iter().all(|a| has_field(model, a)))
        };
        let types = self
            .content_types
            .as_ref()
            .filter(|t| t.contains("base.resourcebase"));
        match *clue {
            Clue::Model(model) => self.first_objects.contains_key(model),
            Clue::Field(model, field) => has_field(model, field),
            Clue::NoField(model, field) => complete(model) && !has_field(model, field),
            Clue::ContentType(model) => self
                .content_types
                .as_ref()
                .is_some_and(|t| t.contains(model)),
            Clue::NoContentType(model) => types.is_some_and(|t| !t.contains(model)),
            Clue::RootFixtures => self.root_fixtures,
            Clue::FixturesFolder => self.fixtures_folder,
            Clue::Folder(folder) => self.folders.contains(folder),
        }
    }
}

/// The models whose first object the fingerprints read.
fn telling(model: &str) -> bool {
    FINGERPRINTS.iter().flat_map(|f| f.clues).any(
        |c| matches!(c, Clue::Model(m) | Clue::Field(m, _) | Clue::NoField(m, _) if *m == model),
    )
}

const CONTENT_TYPE: &str = "contenttypes.contenttype";

/// Reads what the fingerprints ask: the archive's entries, the first
/// object of each telling model and the content types. A fixture is read
/// only until its app's telling models have all shown up.
fn look(input: &mut BackupReader) -> Result<Seen, Error> {
    let mut seen = Seen::default();
    let mut names = Vec::new();
    for entry in input.entries() {
        let name = entry.name.as_str();
        if let Some((top, _)) = name.split_once('/') {
            seen.folders.insert(format!("{top}/"));
        }
        let fixture = name.ends_with(".json")
            && name != "manifest.json"
            && (!name.contains('/')
                || name
                    .strip_prefix("fixtures/")
                    .is_some_and(|n| !n.contains('/')));
        if fixture {
            names.push(name.to_owned());
        }
    }
    for name in names {
        let mut reader = FixtureReader::new(input.open_entry(&name)?);
        let mut any = false;
        // A malformed fixture is reported by the run itself; here it only ends the look.
        while let Ok(Some(element)) = reader.next_element() {
            any = true;
            if element.model == CONTENT_TYPE {
                if let Ok(object) = FixtureObject::parse(element.text) {
                    let (Some(app), Some(model)) =
                        (object.str_field("app_label"), object.str_field("model"))
                    else {
                        continue;
                    };
                    seen.content_types
                        .get_or_insert_with(BTreeSet::new)
                        .insert(format!("{app}.{model}"));
                }
                continue;
            }
            if telling(element.model) && !seen.first_objects.contains_key(element.model) {
                let fields = FixtureObject::parse(element.text)
                    .map(|o| o.field_names().map(str::to_owned).collect())
                    .unwrap_or_default();
                seen.first_objects.insert(element.model.to_owned(), fields);
            }
            let app = element.model.split('.').next().unwrap_or_default();
            if read_all_of(&seen, app) {
                break;
            }
        }
        if any {
            if name.starts_with("fixtures/") {
                seen.fixtures_folder = true;
            } else {
                seen.root_fixtures = true;
            }
        }
    }
    Ok(seen)
}

/// Whether `app` has telling models and all of them were read: `dumpdata`
/// writes one app per fixture, so the rest of its fixture can be skipped.
fn read_all_of(seen: &Seen, app: &str) -> bool {
    let prefix = format!("{app}.");
    let mut models = FINGERPRINTS
        .iter()
        .flat_map(|f| f.clues)
        .filter_map(|c| match c {
            Clue::Model(m) | Clue::Field(m, _) | Clue::NoField(m, _) if m.starts_with(&prefix) => {
                Some(*m)
            }
            _ => None,
        })
        .peekable();
    models.peek().is_some() && models.all(|m| seen.first_objects.contains_key(m))
}

/// The lines some rows allow, and those rows, in table order.
type Narrowed<'t> = (LineRange, Vec<&'t Fingerprint>);

/// A contradiction: the rows that set the bounds so far, and the row that
/// fits none of their lines.
type Contradiction<'t> = (Vec<&'t Fingerprint>, &'t Fingerprint);

/// The lines every matching row allows, and the rows, in table order.
fn narrow<'t>(
    rows: impl Iterator<Item = &'t Fingerprint>,
) -> Result<Option<Narrowed<'t>>, Contradiction<'t>> {
    let mut found: Option<Narrowed<'t>> = None;
    for row in rows {
        found = Some(match found {
            None => (row.lines, vec![row]),
            Some((lines, mut rows)) => {
                let Some(both) = lines.and(&row.lines) else {
                    let deciding = rows
                        .into_iter()
                        .filter(|r| r.lines.first == lines.first || r.lines.last == lines.last)
                        .collect();
                    return Err((deciding, row));
                };
                rows.push(row);
                (both, rows)
            }
        });
    }
    Ok(found)
}

/// How many rows that decided a bound `how` shows.
const DECIDING_SHOWN: usize = 4;
/// How many rows that did not decide a bound `how` still shows.
const AGREEING_SHOWN: usize = 2;

fn words(rows: &[&Fingerprint]) -> String {
    rows.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The version `seen` shows: one line or a range, with the evidence in
/// words (in `how` the rows that decided the bounds and a few more, in
/// `evidence` all of them); `None` when it shows nothing. The layout narrows what the fixtures allow, unless it fits none
/// of it (a re-packed archive): it is then left out, and the words say so.
///
/// # Errors
///
/// When the fixtures contradict each other (a mixed or hand-edited backup).
pub fn infer(seen: &Seen) -> Result<Option<KnownVersion>, Error> {
    let matching = FINGERPRINTS
        .iter()
        .filter(|f| f.clues.iter().all(|c| seen.shows(c)));
    let contents = narrow(matching.clone().filter(|f| !f.clues.iter().any(Clue::is_layout)))
        .map_err(|(before, row)| {
            Error::new(
                ErrorKind::Input,
                format!(
                    "the backup's fixtures contradict each other about their GeoNode version: {}, but {}",
                    words(&before),
                    row
                ),
            )
            .hint("pass --from-version with the version of the GeoNode that made the backup")
        })?;
    let layout = narrow(matching.filter(|f| f.clues.iter().any(Clue::is_layout)))
        .ok()
        .flatten();
    let (lines, mut rows, note) = match (&contents, layout) {
        (None, None) => return Ok(None),
        (None, Some((lines, rows))) => (lines, rows, None),
        (Some((lines, rows)), None) => (*lines, rows.clone(), None),
        (Some((lines, rows)), Some((shape, shaped))) => match lines.and(&shape) {
            Some(both) => (both, [rows.clone(), shaped].concat(), None),
            None => (
                *lines,
                rows.clone(),
                Some(format!(
                    "the archive's layout ({}) fits none of these and was left out",
                    words(&shaped)
                )),
            ),
        },
    };
    let (deciding, agreeing): (Vec<&Fingerprint>, Vec<&Fingerprint>) = rows.iter().partition(|r| {
        r.lines.first == lines.first && lines.first != LineRange::ALL.first
            || r.lines.last == lines.last && lines.last != LineRange::ALL.last
    });
    let (decided, agreed) = (
        DECIDING_SHOWN.min(deciding.len()),
        AGREEING_SHOWN.min(agreeing.len()),
    );
    let mut how = format!(
        "inferred from the backup: {}",
        words(&[&deciding[..decided], &agreeing[..agreed]].concat())
    );
    let hidden = rows.len() - decided - agreed;
    if hidden > 0 {
        how.push_str(&format!("; {hidden} more clues agree"));
    }
    if let Some(note) = note {
        how.push_str("; ");
        how.push_str(&note);
    }
    rows = [deciding, agreeing].concat();
    Ok(Some(KnownVersion {
        version: lines.is_one().then(|| lines.first.first_release()),
        lines,
        how,
        evidence: rows.iter().map(ToString::to_string).collect(),
        exact: false,
        contents: contents
            .map(|(lines, _)| lines)
            .filter(|l| *l != LineRange::ALL),
    }))
}
