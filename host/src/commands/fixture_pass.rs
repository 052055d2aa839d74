//! One pass over a backup's fixtures: each through its mangler chain, into
//! a backup being written (migrate), a staging folder (restore), or nowhere
//! (a dry run, which still reads and checks everything).

use std::{
    collections::HashSet,
    io::{self, Write},
    time::Instant,
};

use serde::Serialize;

use crate::{
    archive::{write_in_background, BackupReader, BackupWriter, EntryWriter, MANIFEST_NAME},
    config::{FixtureEntry, Settings},
    errors::{Error, ErrorKind},
    fixtures::{self, FixtureStats, StreamError},
    plugins::ManglerRun,
    ui::Progress,
};

/// What a pass over the fixtures did.
pub struct FixturePass {
    /// One row per fixture found.
    pub fixtures: Vec<FixtureReport>,
    /// `apps` entries whose fixture the backup lacks.
    pub missing: Vec<String>,
    /// What the plugins reported, each prefixed with its fixture and object.
    pub notes: Vec<String>,
    /// The entries handled (fixtures and the manifest).
    pub handled: HashSet<String>,
    /// Bytes read.
    pub bytes: u64,
}

/// One fixture's row in the report.
#[derive(Debug, Serialize)]
pub struct FixtureReport {
    /// The `apps` entry.
    pub app: String,
    /// The entry in the backup.
    pub entry: String,
    /// The manglers applied, in order.
    pub manglers: Vec<String>,
    /// The counts.
    #[serde(flatten)]
    pub stats: FixtureStats,
    /// Wall time for this fixture.
    pub seconds: f64,
}

/// Sends every fixture of `settings` found in `input` through its chain,
/// in `apps` order, writing to `output` when there is one.
///
/// # Errors
///
/// A malformed fixture (naming file, object, pk and offset), a plugin's
/// failure, or a write error.
pub fn mangle_fixtures(
    settings: &Settings,
    input: &mut BackupReader,
    mut output: Option<&mut BackupWriter>,
    manglers: &mut ManglerRun,
    progress: &mut Progress,
) -> Result<FixturePass, Error> {
    let mut pass = FixturePass {
        fixtures: Vec::new(),
        missing: Vec::new(),
        notes: Vec::new(),
        handled: HashSet::from([MANIFEST_NAME.to_owned()]),
        bytes: 0,
    };
    survey(settings, input, manglers, &mut pass.notes)?;
    for fixture in &settings.fixtures.fixtures {
        let Some(entry) = fixture_entry(input, fixture) else {
            pass.missing.push(fixture.app.clone());
            continue;
        };
        pass.handled.insert(entry.clone());
        let chain = manglers.chain_for(fixture.position);
        progress.step(&entry, pass.bytes);
        let backup = input.path().to_owned();
        let source = input.open_entry(&entry)?;
        let sink = Sink::open(output.as_deref_mut(), &entry)?;
        let started = Instant::now();
        let sessions = manglers.sessions_mut();
        let notes_before = pass.notes.len();
        let notes = &mut pass.notes;
        let (result, sink) = write_in_background(sink, |out| {
            fixtures::mangle(source, out, &chain, sessions, notes, &mut |n| {
                progress.advance(n)
            })
            .map(|(stats, _)| stats)
        });
        let stats = result.map_err(|e| stream_error(e, &backup, &entry))?;
        for note in &mut pass.notes[notes_before..] {
            note.insert_str(0, &format!("{entry} "));
        }
        sink.and_then(Sink::close)
            .map_err(|e| write_error(&entry, &e))?;
        pass.bytes += stats.bytes_in;
        pass.fixtures.push(FixtureReport {
            app: fixture.app.clone(),
            entry,
            manglers: chain.stages().iter().map(|s| s.label.clone()).collect(),
            stats,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(pass)
}

/// How a backup's fixtures match settings.ini's `apps`.
#[derive(Debug, Default)]
pub struct FixtureCoverage {
    /// `apps` entries whose fixture the backup lacks: the app and its `dumps` name.
    pub missing: Vec<(String, String)>,
    /// The backup's fixture entries that no `apps` entry names.
    pub unlisted: Vec<String>,
}

/// Compares the fixtures `settings` lists with those `input` holds: its
/// `fixtures/<name>.json` entries, or `<name>.json` at the root (older
/// GeoNode); every other entry (`uploaded/`, `gs_data_dir/`, `*.ini`,
/// `geoserver_catalog.zip`, the manifest) is not a fixture.
pub fn fixture_coverage(settings: &Settings, input: &BackupReader) -> FixtureCoverage {
    let mut coverage = FixtureCoverage::default();
    let mut listed = HashSet::new();
    for fixture in &settings.fixtures.fixtures {
        match fixture_entry(input, fixture) {
            Some(entry) => {
                listed.insert(entry);
            }
            None => coverage
                .missing
                .push((fixture.app.clone(), fixture.dump.clone())),
        }
    }
    coverage.unlisted = input
        .entries()
        .iter()
        .map(|e| e.name.as_str())
        .filter(|name| is_fixture_entry(name) && !listed.contains(*name))
        .map(str::to_owned)
        .collect();
    coverage
}

/// Whether an entry is where fixtures are kept: `fixtures/<name>.json`, or
/// `<name>.json` at the root other than the manifest.
fn is_fixture_entry(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".json") else {
        return false;
    };
    match stem.strip_prefix("fixtures/") {
        Some(rest) => !rest.contains('/'),
        None => !stem.contains('/') && name != MANIFEST_NAME,
    }
}

/// Shows each survey mangler the objects of its models, fixture by fixture
/// in `apps` order, before the run; what they return is dropped.
///
/// # Errors
///
/// A malformed fixture or a plugin's failure, as in the run.
fn survey(
    settings: &Settings,
    input: &mut BackupReader,
    manglers: &mut ManglerRun,
    notes: &mut Vec<String>,
) -> Result<(), Error> {
    for fixture in &settings.fixtures.fixtures {
        let chain = manglers.survey_for(fixture.position);
        if chain.stages().is_empty() {
            continue;
        }
        let Some(entry) = fixture_entry(input, fixture) else {
            continue;
        };
        let backup = input.path().to_owned();
        let source = input.open_entry(&entry)?;
        let notes_before = notes.len();
        fixtures::mangle(
            source,
            io::sink(),
            &chain,
            manglers.sessions_mut(),
            notes,
            &mut |_| {},
        )
        .map_err(|e| stream_error(e, &backup, &entry))?;
        for note in &mut notes[notes_before..] {
            note.insert_str(0, &format!("{entry} (survey) "));
        }
    }
    Ok(())
}

/// The backup entry holding a fixture: `fixtures/<dump>.json` (GeoNode >=
/// 4.3 and gnbr) or `<dump>.json` at the root (older GeoNode).
fn fixture_entry(input: &BackupReader, fixture: &FixtureEntry) -> Option<String> {
    [
        format!("fixtures/{}.json", fixture.dump),
        format!("{}.json", fixture.dump),
    ]
    .into_iter()
    .find(|name| input.has(name))
}

/// Where an entry goes: the output backup, or nowhere in a dry run.
pub(crate) enum Sink<'a> {
    Entry(EntryWriter<'a>),
    Nowhere(io::Sink),
}

impl<'a> Sink<'a> {
    pub(crate) fn open(output: Option<&'a mut BackupWriter>, name: &str) -> Result<Self, Error> {
        Ok(match output {
            Some(output) => Sink::Entry(output.entry(name)?),
            None => Sink::Nowhere(io::sink()),
        })
    }

    pub(crate) fn close(self) -> io::Result<()> {
        match self {
            Sink::Entry(entry) => entry.close().map(drop),
            Sink::Nowhere(_) => Ok(()),
        }
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Entry(entry) => entry.write(buf),
            Sink::Nowhere(sink) => sink.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Entry(entry) => entry.flush(),
            Sink::Nowhere(sink) => sink.flush(),
        }
    }
}

fn stream_error(err: StreamError, backup: &std::path::Path, entry: &str) -> Error {
    let at = format!("{}: {entry}", backup.display());
    match err {
        StreamError::Malformed(e) => Error::new(ErrorKind::Input, format!("{at}: {e}"))
            .hint("the fixture is not valid Django JSON there; repair or re-export it (nothing was written)"),
        // GeoNode's models all have integer keys: a plugin that fails on a
        // string pk failed on a damaged or hand-edited backup.
        StreamError::Plugin { pk: Some(ref pk), .. } if pk.starts_with('"') => {
            Error::new(ErrorKind::Input, format!("{at}: {err}")).hint(
                "the object's pk is a string where GeoNode keys are integers: correct it in the fixture (nothing was written)",
            )
        }
        StreamError::Plugin { .. } => Error::new(ErrorKind::Run, format!("{at}: {err}"))
            .hint("nothing was written; fix the object or the plugin, or pass the context value it asks for"),
        StreamError::Io(e) if e.kind() == io::ErrorKind::InvalidData => {
            Error::new(ErrorKind::Input, format!("{at}: {e}"))
        }
        StreamError::Io(e) => Error::new(ErrorKind::Run, format!("{at}: {e}")),
    }
}

/// A write error on an entry of the output.
pub(crate) fn write_error(entry: &str, err: &io::Error) -> Error {
    Error::new(ErrorKind::Run, format!("cannot write {entry}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::is_fixture_entry;

    #[test]
    fn fixtures_are_json_files_under_fixtures_or_at_the_root() {
        for fixture in ["fixtures/maps.json", "base.json", "fixtures/[].json"] {
            assert!(is_fixture_entry(fixture), "{fixture}");
        }
        for other in [
            "manifest.json",
            "uploaded/thumbs/a.json",
            "fixtures/sub/x.json",
            "gs_data_dir/workspaces/x.json",
            "settings.ini",
            "geoserver_catalog.zip",
            "fixtures/maps.json.bak",
        ] {
            assert!(!is_fixture_entry(other), "{other}");
        }
    }
}
