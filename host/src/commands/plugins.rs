//! `gnbr plugins list | inspect | test`.

use serde_json::json;

use crate::{
    errors::{Error, ErrorKind},
    exit_codes,
    plugins::{LoadedPlugin, Registry},
    requests::{PluginsAction, PluginsRequest},
    ui::{print_table, Ui},
};

/// Runs a `plugins` subcommand; returns the exit code.
///
/// # Errors
///
/// An unknown plugin, or cases that cannot be read.
pub fn run(request: &PluginsRequest, ui: Ui) -> Result<i32, Error> {
    let settings = request.setup.optional_settings()?;
    let registry = request.setup.discover_plugins(settings.as_ref(), ui);
    match &request.action {
        PluginsAction::List => {
            list(&registry, ui);
            Ok(exit_codes::SUCCESS)
        }
        PluginsAction::Inspect(name) => {
            inspect(registry.get(name)?, ui);
            Ok(exit_codes::SUCCESS)
        }
        PluginsAction::Test { name, cases, bless } => {
            let plugin = registry.get(name)?;
            let results = mangler_api::testing::run_cases(&plugin.handle, cases, *bless)
                .map_err(|m| Error::new(ErrorKind::Usage, m))?;
            let failed = results.iter().filter(|r| r.failure.is_some()).count();
            if ui.json {
                let cases: Vec<_> = results
                    .iter()
                    .map(|r| json!({"case": r.name, "summary": r.summary, "passed": r.failure.is_none(), "failure": r.failure}))
                    .collect();
                println!(
                    "{}",
                    json!({"plugin": name, "passed": results.len() - failed, "failed": failed, "cases": cases})
                );
            } else if !ui.quiet {
                for r in &results {
                    match &r.failure {
                        None => println!("ok    {} {}", r.name, dim(&r.summary)),
                        Some(f) => println!("FAIL  {}\n{}", r.name, indent(f)),
                    }
                }
                println!("{} passed, {failed} failed", results.len() - failed);
            }
            Ok(if failed == 0 {
                exit_codes::SUCCESS
            } else {
                exit_codes::CASES_FAILED
            })
        }
    }
}

fn list(registry: &Registry, ui: Ui) {
    if ui.json {
        let plugins: Vec<_> = registry.plugins.iter().map(plugin_json).collect();
        println!(
            "{}",
            json!({
                "plugins": plugins,
                "problems": registry.problems,
                "shadowed": registry.shadowed,
                "searched": registry.searched,
            })
        );
        return;
    }
    if registry.plugins.is_empty() {
        println!("no plugins found");
    }
    let rows: Vec<[String; 5]> = registry
        .plugins
        .iter()
        .map(|p| {
            let info = p.handle.info();
            [
                info.name.clone(),
                info.version.clone(),
                format!("{} -> {}", info.from, info.to),
                info.manglers
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                p.path.display().to_string(),
            ]
        })
        .collect();
    print_table(
        &["NAME", "VERSION", "FROM -> TO", "MANGLERS", "FILE"],
        &rows,
    );
}

fn inspect(plugin: &LoadedPlugin, ui: Ui) {
    let info = plugin.handle.info();
    if ui.json {
        println!("{}", plugin_json(plugin));
        return;
    }
    println!("{} {}", info.name, info.version);
    if !info.summary.is_empty() {
        println!("  {}", info.summary);
    }
    println!("  migrates GeoNode {} -> {}", info.from, info.to);
    println!("  built against mangler-api {}", info.api);
    println!("  file {}", plugin.path.display());
    println!("  manglers:");
    for m in &info.manglers {
        println!("    {}  ({})", m.name, m.models.join(", "));
        if !m.summary.is_empty() {
            println!("      {}", m.summary);
        }
        if !m.emits.is_empty() {
            println!("      adds: {}", m.emits.join(", "));
        }
    }
}

fn plugin_json(plugin: &LoadedPlugin) -> serde_json::Value {
    let mut value = serde_json::to_value(plugin.handle.info()).expect("plugin info serialises");
    value["file"] = json!(plugin.path);
    value
}

fn dim(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("({text})")
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("      {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
