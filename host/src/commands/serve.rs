//! `gnbr serve`: the admin web page for backups and restores (see [`crate::web`]).

use crate::{
    cli::{GlobalArgs, ServeArgs},
    commands::load_settings_warned,
    errors::Error,
    exit_codes,
    geonode::GeoNode,
    ui::Ui,
    web::{self, App},
};

/// Runs the admin web page until Ctrl-C or SIGTERM.
///
/// # Errors
///
/// Invalid settings, a state folder that cannot be written, an address
/// that cannot be bound.
pub fn run(args: &ServeArgs, global: &GlobalArgs, ui: Ui) -> Result<i32, Error> {
    let settings = load_settings_warned(global, ui)?;
    let users = GeoNode::new(&settings.geonode)?;
    let app = App::new(
        &settings.serve.state_dir,
        global.clone(),
        Box::new(users),
        ui.quiet,
    )?;
    web::serve(args.listen, app, ui)?;
    Ok(exit_codes::SUCCESS)
}
