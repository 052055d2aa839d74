//! Golden cases: fixtures in, a run context, the fixtures expected out.
//!
//! A case is a folder holding `case.json`:
//!
//! ```json
//! {
//!   "summary": "a 2.0 layer resource with a port in its URL",
//!   "context": {"basepk": 100, "siteurl": "http://new.example", "owner": "admin"},
//!   "fixtures": [
//!     {"mangler": "ResourceBaseMangler", "input": "resourcebase.json",
//!      "expected": "resourcebase.expected.json"}
//!   ],
//!   "notes": ["optional: the exact report lines, as `object #0 (pk 1): plugin.Mangler: ...`"]
//! }
//! ```
//!
//! Fixtures run in order through one session, as in a real run. Outputs are
//! compared object by object as compact JSON text, so number text and key
//! order count. `gnbr plugins test PLUGIN --cases DIR` and
//! [`assert_cases`] (for `cargo test` in a plugin crate) run the same code;
//! set `GNBR_BLESS=1` (or pass `--bless`) to write the actual output as the
//! expected one.
//!
//! For a whole real backup, [`run_backup`] runs its fixture files through a
//! plugin as gnbr does (surveys first), to compare with what GeoNode's own
//! upgrade of the same database gives ([`read_fixtures`]).

mod backup;

pub use backup::{read_fixtures, run_backup, FixtureLists, Fixtures};

use std::{
    fs,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use serde_json::Value;

use crate::{
    abi::PluginModRef,
    client::{Chain, ChainError, PluginHandle, Session, Stage},
    Context,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[serde(default)]
    summary: String,
    #[serde(default)]
    context: Context,
    fixtures: Vec<CaseFixture>,
    #[serde(default)]
    notes: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFixture {
    mangler: String,
    input: PathBuf,
    expected: PathBuf,
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case folder's name.
    pub name: String,
    /// What the case is about.
    pub summary: String,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

/// Runs every case under `dir` (each sub-folder with a `case.json`), in name order.
///
/// # Errors
///
/// When `dir` cannot be read or holds no case.
pub fn run_cases(
    plugin: &PluginHandle,
    dir: &Path,
    bless: bool,
) -> Result<Vec<CaseResult>, String> {
    let entries = fs::read_dir(dir)
        .map_err(|e| format!("cannot read cases folder {}: {e}", dir.display()))?;
    let mut cases: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("case.json").is_file())
        .collect();
    cases.sort();
    if cases.is_empty() {
        return Err(format!(
            "no case in {} (hint: a case is a folder holding a case.json)",
            dir.display()
        ));
    }
    Ok(cases
        .iter()
        .map(|case| run_case(plugin, case, bless))
        .collect())
}

/// Runs the cases under `dir` against a plugin in this process and panics
/// with every failure: the test of a plugin crate.
///
/// # Panics
///
/// When a case fails or none can be run.
pub fn assert_cases(module: PluginModRef, dir: impl AsRef<Path>) {
    let plugin = PluginHandle::new(module).unwrap_or_else(|e| panic!("{e}"));
    let bless = std::env::var_os("GNBR_BLESS").is_some_and(|v| v == "1");
    let results = run_cases(&plugin, dir.as_ref(), bless).unwrap_or_else(|e| panic!("{e}"));
    let failures: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.failure
                .as_ref()
                .map(|f| format!("case `{}`: {f}", r.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
}

fn run_case(plugin: &PluginHandle, dir: &Path, bless: bool) -> CaseResult {
    let name = dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let mut summary = String::new();
    let failure = (|| {
        let case: CaseFile = read_json(&dir.join("case.json"))?;
        summary.clone_from(&case.summary);
        let mut sessions = vec![plugin.open(&case.context)?];
        let mut notes = Vec::new();
        for fixture in &case.fixtures {
            check_fixture(plugin, &mut sessions, dir, fixture, &mut notes, bless)?;
        }
        notes.extend(sessions[0].finish()?);
        match &case.notes {
            Some(expected) if *expected != notes => Err(format!(
                "report notes differ:\n  expected: {expected:?}\n  actual:   {notes:?}"
            )),
            _ => Ok(()),
        }
    })()
    .err();
    CaseResult {
        name,
        summary,
        failure,
    }
}

fn check_fixture(
    plugin: &PluginHandle,
    sessions: &mut [Session],
    dir: &Path,
    fixture: &CaseFixture,
    notes: &mut Vec<String>,
    bless: bool,
) -> Result<(), String> {
    let info = plugin.info();
    let mangler = info.find_mangler(&fixture.mangler).ok_or_else(|| {
        format!(
            "the plugin `{}` has no mangler `{}`",
            info.name, fixture.mangler
        )
    })?;
    let chain = Chain::new(vec![Stage {
        session: 0,
        label: format!("{}.{}", info.name, mangler.name),
        mangler: mangler.clone(),
    }]);
    let input: Vec<Value> = read_json(&dir.join(&fixture.input))?;
    let mut actual = Vec::new();
    let mut write = |text: &str| {
        actual.push(text.to_owned());
        Ok(())
    };
    let mut object_notes = Vec::new();
    for (index, object) in input.iter().enumerate() {
        let model = object
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default();
        chain
            .mangle(
                sessions,
                model,
                &object.to_string(),
                &mut object_notes,
                &mut write,
            )
            .map_err(|e| chain_message(e, &fixture.input, index))?;
        let pk = object
            .get("pk")
            .map_or_else(|| "none".to_owned(), Value::to_string);
        notes.extend(
            object_notes
                .drain(..)
                .map(|n| format!("object #{index} (pk {pk}): {n}")),
        );
    }
    chain
        .end_fixture(sessions, notes, &mut write)
        .map_err(|e| chain_message(e, &fixture.input, input.len()))?;
    let actual: Vec<Value> = actual
        .iter()
        .map(|t| serde_json::from_str(t).map_err(|e| format!("output is not JSON: {e}: {t}")))
        .collect::<Result<_, _>>()?;
    let expected_path = dir.join(&fixture.expected);
    if bless {
        let text = serde_json::to_string_pretty(&actual).map_err(|e| e.to_string())? + "\n";
        return fs::write(&expected_path, text)
            .map_err(|e| format!("cannot write {}: {e}", expected_path.display()));
    }
    let expected: Vec<Value> = read_json(&expected_path)?;
    compare(&fixture.input, &expected, &actual)
}

fn chain_message(err: ChainError, fixture: &Path, index: usize) -> String {
    match err {
        ChainError::Plugin(message) => format!("{} object #{index}: {message}", fixture.display()),
        ChainError::Output(e) => e.to_string(),
    }
}

fn compare(fixture: &Path, expected: &[Value], actual: &[Value]) -> Result<(), String> {
    for (index, (e, a)) in expected.iter().zip(actual).enumerate() {
        let (e, a) = (e.to_string(), a.to_string());
        if e != a {
            return Err(format!(
                "{}: output object #{index} differs\n  expected: {e}\n  actual:   {a}",
                fixture.display()
            ));
        }
    }
    if expected.len() != actual.len() {
        return Err(format!(
            "{}: expected {} objects, got {}",
            fixture.display(),
            expected.len(),
            actual.len()
        ));
    }
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}
