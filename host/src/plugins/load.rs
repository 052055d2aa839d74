//! Loading one plugin file: the checks, in the order that gives the
//! clearest one-line reason when a file is not a usable plugin.

use std::path::Path;

use abi_stable::library::{lib_header_from_path, LibraryError};
use mangler_api::{abi::PluginModRef, client::PluginHandle};
use semver::Version;

use super::{discovery::name_from_file, LoadProblem, LoadedPlugin};

/// Loads the plugin in `path`.
///
/// # Errors
///
/// A [`LoadProblem`] naming the file, the plugin and the versions involved.
pub fn load(path: &Path) -> Result<LoadedPlugin, LoadProblem> {
    let problem = |plugin: String, message: String| LoadProblem {
        path: path.to_owned(),
        plugin,
        message,
    };
    let guessed = name_from_file(path);
    #[cfg(target_os = "linux")]
    super::elf::check_whole(path).map_err(|m| problem(guessed.clone(), m))?;
    check_root_symbol(path).map_err(|m| problem(guessed.clone(), m))?;
    let header = lib_header_from_path(path)
        .map_err(|e| problem(guessed.clone(), library_error(&e, None)))?;
    let plugin_api = header.version_strings().version.to_string();
    check_api_version(&plugin_api).map_err(|m| problem(guessed.clone(), m))?;
    let module = header
        .init_root_module::<PluginModRef>()
        .map_err(|e| problem(guessed.clone(), library_error(&e, Some(&plugin_api))))?;
    let handle = PluginHandle::new(module).map_err(|m| problem(guessed.clone(), m))?;
    Ok(LoadedPlugin {
        handle,
        path: path.to_owned(),
    })
}

fn check_root_symbol(path: &Path) -> Result<(), String> {
    // SAFETY: opening a library runs its initialisers; a plugin is trusted
    // code by design (it runs with gnbr's rights), and the file was checked
    // to be a whole ELF library.
    let library = unsafe { libloading::Library::new(path) }
        .map_err(|e| format!("cannot be loaded as a shared library: {e}"))?;
    let symbol = format!("{}\0", mangler_api::abi::ROOT_SYMBOL);
    // SAFETY: the symbol is only looked up, never used through this handle.
    let found = unsafe { library.get::<*const u8>(symbol.as_bytes()) }.is_ok();
    if found {
        Ok(())
    } else {
        Err("not a gnbr plugin: a shared library without a gnbr root module (a plugin exports one with mangler_api::export_plugin!)".to_owned())
    }
}

/// Refuses a plugin built against an incompatible mangler-api up front,
/// with both versions in the message.
fn check_api_version(plugin_api: &str) -> Result<(), String> {
    let host =
        Version::parse(mangler_api::API_VERSION).expect("mangler-api's own version is semver");
    let plugin = Version::parse(plugin_api).map_err(|e| {
        format!("declares mangler-api version `{plugin_api}`, which is not semver: {e}")
    })?;
    if plugin.major != host.major {
        return Err(format!(
            "built against mangler-api {plugin}, incompatible with this gnbr's mangler-api {host} (hint: rebuild the plugin against mangler-api {}.{})",
            host.major, host.minor
        ));
    }
    Ok(())
}

/// One line for a loading error; the full report goes to the debug log.
fn library_error(err: &LibraryError, plugin_api: Option<&str>) -> String {
    tracing::debug!("abi_stable's full report: {err}");
    let host = mangler_api::API_VERSION;
    match err {
        LibraryError::OpenError { err, .. } => format!("cannot be loaded as a shared library: {err}"),
        LibraryError::GetSymbolError { .. } => "not a gnbr plugin: no gnbr root module".to_owned(),
        LibraryError::IncompatibleVersionNumber { expected_version, actual_version, .. } => format!(
            "built against mangler-api {actual_version}, incompatible with this gnbr's mangler-api {expected_version}"
        ),
        LibraryError::AbiInstability(_) => format!(
            "its plugin interface does not match this gnbr's (plugin built against mangler-api {}, gnbr has {host}); rebuild the plugin against mangler-api {host} (the layout report is in the debug log: GNBR_LOG=debug)",
            plugin_api.unwrap_or("?")
        ),
        LibraryError::RootModule { err, .. } => format!("the plugin failed while starting: {err}"),
        LibraryError::InvalidAbiHeader(_) | LibraryError::InvalidCAbi { .. } => {
            "built with an incompatible abi_stable; rebuild the plugin against this gnbr's mangler-api".to_owned()
        }
        other => first_line(&other.to_string()),
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unknown error")
        .to_owned()
}
