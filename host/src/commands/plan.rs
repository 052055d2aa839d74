//! `gnbr plan`: the plugin chain a backup needs, without running it.

use crate::{
    errors::{Error, ErrorKind},
    geonode::GeoNode,
    plugins::choice::{choose, target_known, Plan},
    requests::PlanRequest,
    storage::open_backup,
    ui::Ui,
    versions::{source_version, KnownVersion},
};

/// Runs `gnbr plan`; prints the plan.
///
/// # Errors
///
/// When a version is unknown or no chain exists (naming the missing step).
pub fn run(request: &PlanRequest, ui: Ui) -> Result<Plan, Error> {
    let settings = request.setup.load_settings()?;
    let registry = request.setup.discover_plugins(Some(&settings), ui);
    let mut input = open_backup(&request.backup_file, &settings.storage)?;
    let source = source_version(&mut input, request.from_version.as_deref())?;
    let target = match &request.to_version {
        Some(version) => target_known(version, "given with --to-version")?,
        None if settings.geonode.python.is_some() => {
            let info = GeoNode::new(&settings.geonode)?.info()?;
            target_known(&info.geonode_version, "read from the target GeoNode")?
        }
        None => {
            return Err(Error::new(ErrorKind::Usage, "no target version")
                .hint("pass --to-version, or set [geonode] python in settings.ini to read it from the target"));
        }
    };
    let mut context = request.context(&settings)?;
    context.source_version = source.as_ref().and_then(KnownVersion::known);
    context.target_version = target.known();
    let (_, plan) = choose(
        &settings,
        &registry,
        &context,
        source,
        Some(target),
        request.force_manglers,
    )?;
    Ok(plan)
}

/// Prints a plan.
pub fn print(plan: &Plan, ui: Ui) {
    if ui.json {
        println!(
            "{}",
            serde_json::to_string(plan).expect("a plan serialises")
        );
    } else if !ui.quiet {
        for line in plan.lines() {
            println!("{line}");
        }
    }
}
