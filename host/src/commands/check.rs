//! `gnbr check`: what gnbr finds, before an admin trusts it with a restore.

use serde::Serialize;

use crate::{
    config::Settings,
    errors::{Error, ErrorKind},
    exit_codes,
    geonode::{GeoNode, TargetInfo},
    geoserver::server::GeoServer,
    postgres::{self, tables},
    requests::CheckRequest,
    swap::interrupted,
    ui::Ui,
};

/// One line of the check.
#[derive(Debug, Serialize)]
struct Finding {
    what: String,
    ok: bool,
    detail: String,
}

/// The check's lines, in order.
#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    /// Adds a line; returns `ok`.
    fn add(&mut self, what: &str, ok: bool, detail: String) -> bool {
        self.0.push(Finding {
            what: what.to_owned(),
            ok,
            detail,
        });
        ok
    }
}

/// Runs `gnbr check`; returns 0 when everything is ready, else the code of
/// the first kind of problem (target 5, plugins 3).
///
/// # Errors
///
/// When settings.ini cannot be read.
pub fn run(request: &CheckRequest, ui: Ui) -> Result<i32, Error> {
    let settings = request.setup.load_settings()?;
    let mut findings = Findings::default();
    for warning in &settings.warnings {
        findings.add("settings", true, warning.clone());
    }
    let geonode = GeoNode::new(&settings.geonode);
    let mut target_ok = check_target(&mut findings, &settings, &geonode, ui);
    check_data_dir(&mut findings, &settings);
    if let Ok(geonode) = &geonode {
        target_ok &= check_geoserver(&mut findings, &settings, geonode);
    }
    target_ok &= check_tools(&mut findings, &settings);
    let plugins_ok = check_plugins(&mut findings, request, &settings, ui);
    print(&findings, target_ok && plugins_ok, ui);
    Ok(match (target_ok, plugins_ok) {
        (true, true) => exit_codes::SUCCESS,
        (false, _) => exit_codes::TARGET,
        (true, false) => exit_codes::PLUGIN,
    })
}

/// The target GeoNode: its version, database, migrations, an interrupted
/// restore (settled here), folders and datastore; returns whether it is ready.
fn check_target(
    findings: &mut Findings,
    settings: &Settings,
    geonode: &Result<GeoNode, Error>,
    ui: Ui,
) -> bool {
    let found = geonode
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|geonode| Ok((geonode, geonode.info()?)));
    let (geonode, info) = match found {
        Ok(found) => found,
        Err(e) => return findings.add("geonode", false, e.to_string()),
    };
    findings.add("geonode", true, format!("GeoNode {}", info.geonode_version));
    let reachable = info.reachable;
    let detail = match (&info.problem, reachable) {
        (_, true) => format!("{} reachable", info.database),
        (Some(problem), false) => format!("{}: {problem}", info.database),
        (None, false) => format!("{}: no answer", info.database),
    };
    let mut ok = findings.add("database", reachable, detail);
    if reachable {
        ok &= check_database(findings, settings, geonode, &info, ui);
    }
    findings.add(
        "media_root",
        !info.media_root.is_empty(),
        info.media_root.clone(),
    );
    findings.add(
        "assets_root",
        !info.assets_root.is_empty(),
        info.assets_root.clone(),
    );
    if let Some(datastore) = &info.datastore {
        let schemas = &settings.geoserver.datastore_schemas;
        let found = tables::list(&settings.database.psql, datastore, schemas);
        let detail = match &found {
            Ok(found) => format!(
                "{datastore}: {} tables in {}",
                found.len(),
                schemas.join(", ")
            ),
            Err(e) => e.to_string(),
        };
        ok &= findings.add("datastore", found.is_ok(), detail);
    }
    ok
}

/// A reachable target's migrations, and a restore a crash interrupted in
/// its swap, settled before anything else looks at the target.
fn check_database(
    findings: &mut Findings,
    settings: &Settings,
    geonode: &GeoNode,
    info: &TargetInfo,
    ui: Ui,
) -> bool {
    let migrated = info.unapplied_migrations.is_empty();
    let detail = if migrated {
        format!(
            "migrated, {} tables, {} restores recorded",
            info.tables,
            info.restores.len()
        )
    } else {
        format!(
            "{} migrations not applied (run manage.py migrate)",
            info.unapplied_migrations.len()
        )
    };
    let ok = findings.add("migrations", migrated, detail);
    match interrupted::settle(geonode, info, settings, ui) {
        Ok(notes) => {
            for note in notes {
                findings.add("interrupted restore", true, note);
            }
            ok
        }
        Err(e) => findings.add("interrupted restore", false, e.to_string()),
    }
}

/// GeoServer's data directory, when settings.ini names one.
fn check_data_dir(findings: &mut Findings, settings: &Settings) {
    if let Some(dir) = &settings.geoserver.datadir {
        let detail = if dir.is_dir() {
            dir.display().to_string()
        } else {
            format!(
                "{} is not there: backups leave GeoServer's files out",
                dir.display()
            )
        };
        findings.add("gs_datadir", true, detail);
    }
}

/// GeoServer, when settings.ini or the env file names one; returns whether
/// it answers (or none is named).
fn check_geoserver(findings: &mut Findings, settings: &Settings, geonode: &GeoNode) -> bool {
    let server = GeoServer::connect(&settings.geoserver, &|key| {
        geonode.env_file_var(key).map(str::to_owned)
    });
    let ok = server.is_ok();
    let detail = match server {
        Ok(Some(server)) => format!("GeoServer {} at {}", server.version(), server.url()),
        Ok(None) => "not called: no [geoserver] url or GEOSERVER_LOCATION".to_owned(),
        Err(e) => e.to_string(),
    };
    findings.add("geoserver", ok, detail)
}

/// PostgreSQL's tools; returns whether they all run.
fn check_tools(findings: &mut Findings, settings: &Settings) -> bool {
    let database = &settings.database;
    let mut ok = true;
    for (name, tool) in [
        ("pg_dump", &database.pg_dump),
        ("pg_restore", &database.pg_restore),
        ("psql", &database.psql),
    ] {
        ok &= match postgres::tool_version(tool) {
            Some(version) => findings.add(name, true, version),
            None => findings.add(
                name,
                false,
                format!("`{tool}` does not run (set [database] in settings.ini)"),
            ),
        };
    }
    ok
}

/// Each mangler settings.ini names, and the plugin files that did not
/// load; returns whether every mangler named is found.
fn check_plugins(
    findings: &mut Findings,
    request: &CheckRequest,
    settings: &Settings,
    ui: Ui,
) -> bool {
    let registry = request
        .setup
        .discover_plugins(Some(settings), Ui { quiet: true, ..ui });
    let mut ok = true;
    for entry in &settings.fixtures.migrations {
        let label = format!("{}.{}", entry.plugin, entry.mangler);
        let found = registry.get(&entry.plugin).and_then(|p| {
            p.handle
                .info()
                .find_mangler(&entry.mangler)
                .map(|_| p.path.display().to_string())
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Plugin,
                        format!(
                            "plugin `{}` has no mangler `{}`",
                            entry.plugin, entry.mangler
                        ),
                    )
                })
        });
        ok &= findings.add(
            "mangler",
            found.is_ok(),
            format!("{label}: {}", found.unwrap_or_else(|e| e.message)),
        );
    }
    for warning in registry.warnings() {
        findings.add("plugin file", false, warning);
    }
    ok
}

/// Prints the findings: one line each, or JSON with `--json`.
fn print(findings: &Findings, ready: bool, ui: Ui) {
    if ui.json {
        println!(
            "{}",
            serde_json::json!({ "ready": ready, "findings": findings.0 })
        );
    } else if !ui.quiet {
        for f in &findings.0 {
            println!(
                "{} {:<12} {}",
                if f.ok { "ok  " } else { "FAIL" },
                f.what,
                f.detail
            );
        }
    }
}
