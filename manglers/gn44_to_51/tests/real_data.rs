//! A real GeoNode 4.4.5 backup through the plugin, as the host runs it (one
//! session, every fixture in `apps` order, each through the manglers that
//! `tests/data/settings.ini` pairs with it), compared object by object with
//! the backup GeoNode 5.1.1 writes after upgrading the same database in place.
//!
//! Rows both sides generate with pks of their own (sparse fields, upload
//! handler infos) are matched by content, many-to-many lists as sets. Every
//! difference is listed; those that must remain are in [`EXPLAINED`] with
//! the reason, and the test fails on any other (or on an explained one that
//! no longer occurs).

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

use mangler_api::{
    serde_json::Value,
    testing::{read_fixtures, run_backup, FixtureLists, Fixtures},
    Context,
};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

/// Models whose rows both sides generate, each numbering them its own way.
const GENERATED: [&str; 2] = ["metadata.sparsefield", "upload.resourcehandlerinfo"];

/// The many-to-many fields of GeoNode 5.1.1's backed-up models (from its
/// schema), whose lists Django writes in no fixed order.
const MANY_TO_MANY: [(&str, &str); 12] = [
    ("auth.group", "permissions"),
    ("base.resourcebase", "contacts"),
    ("base.resourcebase", "tkeywords"),
    ("base.resourcebase", "regions"),
    ("base.resourcebase", "users_geolimits"),
    ("base.resourcebase", "groups_geolimits"),
    ("groups.groupprofile", "categories"),
    ("layers.dataset", "styles"),
    ("people.profile", "groups"),
    ("people.profile", "user_permissions"),
    (
        "geonode_themes.geonodethemecustomization",
        "jumbotron_slide_show",
    ),
    ("socialaccount.socialapp", "sites"),
];

/// The differences that remain, and why.
///
/// None is a value: in this backup the lookup tables' base columns held the
/// English text already, so the values GeoNode 4.4.5's dump overwrites with
/// their `*_en` twins (spec, rule 4) are the same on both sides here.
const EXPLAINED: [(&str, &str); 2] = [
    (
        "metadata.json: in the reference, not written by this run",
        "which fixture files a backup holds is the host's settings' business (GeoNode 5.1's \
         `apps` list adds `metadata`); a plugin writes only into the fixture it is processing, \
         so its sparse fields go into base.json (and layers/maps/documents/services.json for \
         multilingual ones). The reference's metadata.json is empty: this backup has no extra \
         metadata",
    ),
    (
        "user_messages.json: written by this run, not in the reference",
        "the 4.4 settings list user_messages; UserMessagesMangler empties the fixture (and \
         reports what it held), and the host's 5.1 settings (no user_messages in `apps`) \
         leave the file out of the archive",
    ),
];

/// The run's report: nothing to tell about this backup.
const NOTES: [&str; 0] = [];

#[test]
fn a_real_445_backup_becomes_what_511_upgrades_it_to() {
    let settings = FixtureLists::read(&Path::new(DATA).join("settings.ini"));
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for line in [&settings.migrations_line, &settings.manglers_line] {
        assert!(
            readme.lines().any(|l| l.trim() == line),
            "README.md does not show the settings line `{line}`"
        );
    }
    let (actual, notes) = run(&settings);
    let reference =
        read_fixtures(&Path::new(DATA).join("geonode-4.4.5-upgraded-to-5.1.1/fixtures"));
    let found = differences(&actual, &reference);

    let explained: BTreeMap<&str, &str> = EXPLAINED.into_iter().collect();
    let unexplained: Vec<&String> = found
        .iter()
        .filter(|d| !explained.contains_key(d.as_str()))
        .collect();
    let gone: Vec<&&str> = explained
        .keys()
        .filter(|e| !found.iter().any(|d| d == **e))
        .collect();
    for difference in &found {
        let why = explained.get(difference.as_str()).unwrap_or(&"UNEXPLAINED");
        println!("{difference}\n    why: {why}");
    }
    assert!(
        unexplained.is_empty() && gone.is_empty(),
        "{} unexplained difference(s):\n{}\nexplained differences that no longer occur:\n{}",
        unexplained.len(),
        unexplained
            .iter()
            .map(|d| format!("  {d}"))
            .collect::<Vec<_>>()
            .join("\n"),
        gone.iter()
            .map(|d| format!("  {d}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(notes, NOTES, "the run's report");
}

/// Runs the backup through the plugin as gnbr does; returns the fixtures
/// written (by file name) and the report.
fn run(lists: &FixtureLists) -> (Fixtures, Vec<String>) {
    let mut context = Context::default();
    context
        .options
        .insert("multilang_fields".to_owned(), String::new());
    let input = Path::new(DATA).join("geonode-4.4.5-backup/fixtures");
    run_backup(gn44_to_51::gnbr_plugin(), &context, &input, lists)
}

/// Every difference between the run's fixtures and the reference's.
fn differences(
    actual: &BTreeMap<String, Vec<Value>>,
    reference: &BTreeMap<String, Vec<Value>>,
) -> Vec<String> {
    let mut found = Vec::new();
    for file in actual.keys().filter(|f| !reference.contains_key(*f)) {
        found.push(format!("{file}: written by this run, not in the reference"));
    }
    for file in reference.keys().filter(|f| !actual.contains_key(*f)) {
        found.push(format!("{file}: in the reference, not written by this run"));
    }
    let (ours, ours_generated) = index(actual, "this run", &mut found);
    let (theirs, mut theirs_generated) = index(reference, "the reference", &mut found);
    for (key, (file, object)) in &ours {
        let (model, pk) = key;
        match theirs.get(key) {
            None => found.push(format!(
                "{file}: {model} {pk} is written by this run only: {object}"
            )),
            Some((their_file, their_object)) => {
                if file != their_file {
                    found.push(format!(
                        "{model} {pk} is in {file} here, in {their_file} in the reference"
                    ));
                }
                compare_fields(
                    &format!("{file}: {model} {pk}"),
                    model,
                    object,
                    their_object,
                    &mut found,
                );
            }
        }
    }
    for ((model, pk), (file, object)) in &theirs {
        if !ours.contains_key(&(model.clone(), pk.clone())) {
            found.push(format!(
                "{file}: {model} {pk} is in the reference only: {object}"
            ));
        }
    }
    for (model, fields) in ours_generated {
        match theirs_generated
            .iter()
            .position(|t| *t == (model.clone(), fields.clone()))
        {
            Some(at) => {
                theirs_generated.remove(at);
            }
            None => found.push(format!(
                "generated {model} {fields} is written by this run only"
            )),
        }
    }
    for (model, fields) in theirs_generated {
        found.push(format!(
            "generated {model} {fields} is in the reference only"
        ));
    }
    found
}

type Index<'a> = BTreeMap<(String, String), (&'a str, &'a Value)>;

/// Objects by (model, pk), and the generated rows' (model, fields).
fn index<'a>(
    fixtures: &'a BTreeMap<String, Vec<Value>>,
    side: &str,
    found: &mut Vec<String>,
) -> (Index<'a>, Vec<(String, Value)>) {
    let mut objects = Index::new();
    let mut generated = Vec::new();
    for (file, list) in fixtures {
        for object in list {
            let model = object["model"].as_str().unwrap().to_owned();
            if GENERATED.contains(&model.as_str()) {
                generated.push((model, object["fields"].clone()));
                continue;
            }
            let key = (model, object["pk"].to_string());
            if let Some((other, _)) = objects.insert(key.clone(), (file, object)) {
                found.push(format!(
                    "{} {} is twice in {side} ({other} and {file})",
                    key.0, key.1
                ));
            }
        }
    }
    (objects, generated)
}

fn compare_fields(at: &str, model: &str, ours: &Value, theirs: &Value, found: &mut Vec<String>) {
    let (ours, theirs) = (&ours["fields"], &theirs["fields"]);
    let names: BTreeSet<&String> = ours
        .as_object()
        .unwrap()
        .keys()
        .chain(theirs.as_object().unwrap().keys())
        .collect();
    for name in names {
        match (ours.get(name), theirs.get(name)) {
            (Some(a), Some(b)) if same(model, name, a, b) => {}
            (Some(a), Some(b)) => {
                found.push(format!("{at}: {name} is {a} here, {b} in the reference"))
            }
            (Some(a), None) => {
                found.push(format!("{at}: {name} ({a}) is written by this run only"))
            }
            (None, Some(b)) => found.push(format!("{at}: {name} ({b}) is in the reference only")),
            (None, None) => unreachable!(),
        }
    }
}

/// Equal values; many-to-many lists compared as sets.
fn same(model: &str, field: &str, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(a), Value::Array(b)) if MANY_TO_MANY.contains(&(model, field)) => {
            let set = |list: &Vec<Value>| -> BTreeSet<String> {
                list.iter().map(Value::to_string).collect()
            };
            a.len() == b.len() && set(a) == set(b)
        }
        _ => a == b,
    }
}
