//! A real backup through a plugin, as gnbr runs it: for a plugin's tests
//! against the fixtures of a real GeoNode backup and what GeoNode's own
//! in-place upgrade of the same database gives.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

use serde_json::Value;

use crate::{
    abi::PluginModRef,
    client::{Chain, PluginHandle, Stage},
    Context,
};

/// Fixtures by file name, each its objects.
pub type Fixtures = BTreeMap<String, Vec<Value>>;

/// The `[fixtures]` section of a settings.ini: what a backup holds and
/// which mangler each app goes through.
pub struct FixtureLists {
    /// `(app, dump)` in `apps` order.
    pub fixtures: Vec<(String, String)>,
    /// `(migrations entry, manglers entry)`, e.g. `("base", "gn44_to_51.BaseMangler")`.
    pub pairs: Vec<(String, String)>,
    /// The `migrations = ...` line as written.
    pub migrations_line: String,
    /// The `manglers = ...` line as written.
    pub manglers_line: String,
}

impl FixtureLists {
    /// Reads the lists of the settings.ini at `path`.
    ///
    /// # Panics
    ///
    /// When the file or one of its four lists is missing (a test's setup error).
    pub fn read(path: &Path) -> Self {
        let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let line = |key: &str| {
            text.lines()
                .map(str::trim)
                .find(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == key))
                .unwrap_or_else(|| panic!("{} has no `{key}`", path.display()))
                .to_owned()
        };
        let list = |line: &str| -> Vec<String> {
            let (_, value) = line.split_once('=').expect("a `key = value` line");
            value.split(',').map(|v| v.trim().to_owned()).collect()
        };
        let (migrations_line, manglers_line) = (line("migrations"), line("manglers"));
        Self {
            fixtures: list(&line("apps"))
                .into_iter()
                .zip(list(&line("dumps")))
                .collect(),
            pairs: list(&migrations_line)
                .into_iter()
                .zip(list(&manglers_line))
                .collect(),
            migrations_line,
            manglers_line,
        }
    }
}

/// Every `*.json` fixture file in `dir`, parsed.
///
/// # Panics
///
/// When the folder or a file cannot be read or parsed.
pub fn read_fixtures(dir: &Path) -> Fixtures {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let objects = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, objects)
        })
        .collect()
}

/// Runs the fixture files of `dir` (`<dump>.json`, in `apps` order)
/// through the plugin in one session, as gnbr does: first every survey
/// mangler sees its models' objects (what it returns dropped), then each
/// fixture goes through the manglers `lists` pairs with its app. Returns
/// the fixtures written, by file name, and the run's report, each line
/// prefixed with its fixture and object as gnbr prints them.
///
/// # Panics
///
/// When the plugin fails, a fixture is missing, or a mangler of the plugin
/// (other than a survey) is not paired in `lists`: the test's settings
/// must use every mangler.
pub fn run_backup(
    module: PluginModRef,
    context: &Context,
    dir: &Path,
    lists: &FixtureLists,
) -> (Fixtures, Vec<String>) {
    let plugin = PluginHandle::new(module).expect("the plugin describes itself");
    let info = plugin.info().clone();
    let used: BTreeSet<&str> = lists.pairs.iter().map(|(_, m)| m.as_str()).collect();
    for mangler in info.manglers.iter().filter(|m| !m.survey) {
        let name = format!("{}.{}", info.name, mangler.name);
        assert!(
            used.contains(name.as_str()),
            "settings.ini does not use {name}"
        );
    }
    let mut sessions = vec![plugin.open(context).expect("the plugin opens")];
    let read = |dump: &str| -> (String, Vec<Value>) {
        let file = format!("{dump}.json");
        let text = fs::read_to_string(dir.join(&file))
            .unwrap_or_else(|e| panic!("{file}, named by the test's settings.ini: {e}"));
        let objects = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        (file, objects)
    };
    let stage = |mangler: &crate::ManglerInfo| Stage {
        session: 0,
        label: format!("{}.{}", info.name, mangler.name),
        mangler: mangler.clone(),
    };
    let surveys = Chain::new(
        info.manglers
            .iter()
            .filter(|m| m.survey)
            .map(stage)
            .collect(),
    );
    let mut notes = Vec::new();
    if !surveys.stages().is_empty() {
        for (_, dump) in &lists.fixtures {
            let (file, objects) = read(dump);
            run_fixture(
                &surveys,
                &mut sessions,
                &file,
                &objects,
                &mut notes,
                &mut |_| {},
            );
        }
    }
    let mut outputs = Fixtures::new();
    for (app, dump) in &lists.fixtures {
        let (file, objects) = read(dump);
        let stages = lists
            .pairs
            .iter()
            .filter(|(target, _)| target == app)
            .map(|(_, entry)| {
                let name = entry.rsplit('.').next().unwrap_or(entry);
                let mangler = info.find_mangler(name).unwrap_or_else(|| {
                    panic!("settings.ini names `{entry}`, which the plugin lacks")
                });
                stage(mangler)
            })
            .collect();
        let mut written = Vec::new();
        run_fixture(
            &Chain::new(stages),
            &mut sessions,
            &file,
            &objects,
            &mut notes,
            &mut |text| written.push(serde_json::from_str(text).expect("the plugin writes JSON")),
        );
        outputs.insert(file, written);
    }
    notes.extend(sessions[0].finish().expect("the plugin finishes"));
    (outputs, notes)
}

/// One fixture's objects through `chain`, then its end; notes prefixed as
/// gnbr prints them.
fn run_fixture(
    chain: &Chain,
    sessions: &mut [crate::client::Session],
    file: &str,
    objects: &[Value],
    notes: &mut Vec<String>,
    keep: &mut dyn FnMut(&str),
) {
    let mut write = |text: &str| {
        keep(text);
        Ok(())
    };
    for (index, object) in objects.iter().enumerate() {
        let model = object["model"].as_str().unwrap_or_default();
        let mut object_notes = Vec::new();
        chain
            .mangle(
                sessions,
                model,
                &object.to_string(),
                &mut object_notes,
                &mut write,
            )
            .unwrap_or_else(|e| panic!("{file} object #{index}: {e:?}"));
        notes.extend(
            object_notes
                .into_iter()
                .map(|n| format!("{file} object #{index} (pk {}): {n}", object["pk"])),
        );
    }
    let mut end_notes = Vec::new();
    chain
        .end_fixture(sessions, &mut end_notes, &mut write)
        .unwrap_or_else(|e| panic!("{file} at its end: {e:?}"));
    notes.extend(end_notes.into_iter().map(|n| format!("{file} {n}")));
}
