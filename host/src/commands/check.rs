//! `gnbr check`: what gnbr finds, before an admin trusts it with a restore.

use serde::Serialize;

use crate::{
    errors::Error,
    exit_codes,
    geonode::GeoNode,
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

/// Runs `gnbr check`; returns 0 when everything is ready, else the code of
/// the first kind of problem (target 5, plugins 3).
///
/// # Errors
///
/// When settings.ini cannot be read.
pub fn run(request: &CheckRequest, ui: Ui) -> Result<i32, Error> {
    let settings = request.setup.load_settings()?;
    let mut findings = Vec::new();
    let mut add = |what: &str, ok: bool, detail: String| {
        findings.push(Finding {
            what: what.to_owned(),
            ok,
            detail,
        })
    };
    for warning in &settings.warnings {
        add("settings", true, warning.clone());
    }
    let mut target_ok = true;
    let geonode = GeoNode::new(&settings.geonode);
    match geonode
        .as_ref()
        .map_err(Clone::clone)
        .and_then(GeoNode::info)
    {
        Ok(info) => {
            add("geonode", true, format!("GeoNode {}", info.geonode_version));
            let reachable = info.reachable;
            target_ok &= reachable;
            let detail = match (&info.problem, reachable) {
                (_, true) => format!("{} reachable", info.database),
                (Some(problem), false) => format!("{}: {problem}", info.database),
                (None, false) => format!("{}: no answer", info.database),
            };
            add("database", reachable, detail);
            if reachable {
                let migrated = info.unapplied_migrations.is_empty();
                target_ok &= migrated;
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
                add("migrations", migrated, detail);
                // A crash in a restore's swap is settled before anything else looks at the target.
                let settled = geonode
                    .as_ref()
                    .map_err(Clone::clone)
                    .and_then(|g| interrupted::settle(g, &info, &settings, ui));
                match settled {
                    Ok(notes) => notes
                        .into_iter()
                        .for_each(|note| add("interrupted restore", true, note)),
                    Err(e) => {
                        target_ok = false;
                        add("interrupted restore", false, e.to_string());
                    }
                }
            }
            add(
                "media_root",
                !info.media_root.is_empty(),
                info.media_root.clone(),
            );
            add(
                "assets_root",
                !info.assets_root.is_empty(),
                info.assets_root.clone(),
            );
            if let Some(datastore) = &info.datastore {
                let found = tables::list(
                    &settings.database.psql,
                    datastore,
                    &settings.geoserver.datastore_schemas,
                );
                target_ok &= found.is_ok();
                add(
                    "datastore",
                    found.is_ok(),
                    match found {
                        Ok(found) => format!(
                            "{datastore}: {} tables in {}",
                            found.len(),
                            settings.geoserver.datastore_schemas.join(", ")
                        ),
                        Err(e) => e.to_string(),
                    },
                );
            }
        }
        Err(e) => {
            target_ok = false;
            add("geonode", false, e.to_string());
        }
    }
    if let Some(dir) = &settings.geoserver.datadir {
        let detail = if dir.is_dir() {
            dir.display().to_string()
        } else {
            format!(
                "{} is not there: backups leave GeoServer's files out",
                dir.display()
            )
        };
        add("gs_datadir", true, detail);
    }
    if let Ok(geonode) = &geonode {
        let server = GeoServer::connect(&settings.geoserver, &|key| {
            geonode.env_file_var(key).map(str::to_owned)
        });
        let ok = server.is_ok();
        target_ok &= ok;
        let detail = match server {
            Ok(Some(server)) => format!("GeoServer {} at {}", server.version(), server.url()),
            Ok(None) => "not called: no [geoserver] url or GEOSERVER_LOCATION".to_owned(),
            Err(e) => e.to_string(),
        };
        add("geoserver", ok, detail);
    }
    let database = &settings.database;
    for (name, tool) in [
        ("pg_dump", &database.pg_dump),
        ("pg_restore", &database.pg_restore),
        ("psql", &database.psql),
    ] {
        match postgres::tool_version(tool) {
            Some(version) => add(name, true, version),
            None => {
                target_ok = false;
                add(
                    name,
                    false,
                    format!("`{tool}` does not run (set [database] in settings.ini)"),
                );
            }
        }
    }
    let registry = request
        .setup
        .discover_plugins(Some(&settings), Ui { quiet: true, ..ui });
    let mut plugins_ok = true;
    for entry in &settings.fixtures.migrations {
        let label = format!("{}.{}", entry.plugin, entry.mangler);
        let found = registry.get(&entry.plugin).and_then(|p| {
            p.handle
                .info()
                .find_mangler(&entry.mangler)
                .map(|_| p.path.display().to_string())
                .ok_or_else(|| {
                    Error::new(
                        crate::errors::ErrorKind::Plugin,
                        format!(
                            "plugin `{}` has no mangler `{}`",
                            entry.plugin, entry.mangler
                        ),
                    )
                })
        });
        plugins_ok &= found.is_ok();
        add(
            "mangler",
            found.is_ok(),
            format!("{label}: {}", found.unwrap_or_else(|e| e.message)),
        );
    }
    for warning in registry.warnings() {
        add("plugin file", false, warning);
    }
    if ui.json {
        println!(
            "{}",
            serde_json::json!({ "ready": target_ok && plugins_ok, "findings": findings })
        );
    } else if !ui.quiet {
        for f in &findings {
            println!(
                "{} {:<12} {}",
                if f.ok { "ok  " } else { "FAIL" },
                f.what,
                f.detail
            );
        }
    }
    Ok(match (target_ok, plugins_ok) {
        (true, true) => exit_codes::SUCCESS,
        (false, _) => exit_codes::TARGET,
        (true, false) => exit_codes::PLUGIN,
    })
}
