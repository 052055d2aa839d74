//! `gnbr serve`: the admin web page for backups and restores (see [`crate::web`]).

use crate::{
    errors::Error,
    exit_codes,
    geonode::GeoNode,
    requests::ServeRequest,
    ui::Ui,
    web::{self, App},
};

/// Runs the admin web page until Ctrl-C or SIGTERM.
///
/// # Errors
///
/// Invalid settings, a state folder that cannot be written, an address
/// that cannot be bound.
pub fn run(request: &ServeRequest, ui: Ui) -> Result<i32, Error> {
    let settings = request.setup.load_settings_warned(ui)?;
    let users = GeoNode::new(&settings.geonode)?;
    let app = App::new(
        &settings.serve.state_dir,
        request.setup.clone(),
        Box::new(users),
        ui.quiet,
    )?;
    web::serve(request.listen, app, ui)?;
    Ok(exit_codes::SUCCESS)
}
