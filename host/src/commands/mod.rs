//! The commands, each written as the steps an admin would follow.

pub mod backup;
pub mod check;
pub mod datastore;
pub mod fixture_pass;
pub mod migrate;
pub mod plan;
pub mod planning;
pub mod plugins;
pub mod recovery;
pub mod restore;
pub mod restore_folders;
pub mod restore_geoserver;
pub mod restore_relocate;
pub mod serve;

use std::path::{Path, PathBuf};

use crate::{
    cli::GlobalArgs,
    config::Settings,
    errors::{Error, ErrorKind},
    plugins::{Registry, SearchPath},
    ui::Ui,
};

/// The settings file a command uses: `-c`, else `./settings.ini`.
///
/// # Errors
///
/// When it cannot be read or is invalid.
pub fn load_settings(global: &GlobalArgs) -> Result<Settings, Error> {
    let path = global
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("settings.ini"));
    if global.config.is_none() && !Path::new("settings.ini").exists() {
        return Err(
            Error::new(ErrorKind::Usage, "no settings.ini in the current folder")
                .hint("pass the settings file with -c/--config (gnbr's repository ships one)"),
        );
    }
    Settings::load(&path)
}

/// [`load_settings`] for a run: their warnings go to `ui` first.
///
/// # Errors
///
/// As [`load_settings`].
pub fn load_settings_warned(global: &GlobalArgs, ui: Ui) -> Result<Settings, Error> {
    let settings = load_settings(global)?;
    for warning in &settings.warnings {
        ui.warn(warning);
    }
    Ok(settings)
}

/// The plugins on the search path of these options and settings; files
/// that are not usable plugins are warned about, one line each.
pub fn discover_plugins(global: &GlobalArgs, settings: Option<&Settings>, ui: Ui) -> Registry {
    let settings_dirs = settings
        .map(|s| s.plugin_dirs.as_slice())
        .unwrap_or_default();
    let registry = Registry::discover(&SearchPath::new(&global.plugins_dirs, settings_dirs));
    for warning in registry.warnings() {
        ui.warn(&warning);
    }
    registry
}
