//! Mangler plugins: where they are searched, how they are loaded and
//! checked, and the registry a run picks them from.

mod chain;
pub mod choice;
mod discovery;
mod elf;
mod load;
pub mod probe;
mod run;

use std::path::PathBuf;

use mangler_api::client::PluginHandle;

pub use discovery::{SearchDir, SearchPath};
pub use run::ManglerRun;

use crate::errors::{Error, ErrorKind};

/// A plugin that loaded and described itself.
#[derive(Clone)]
pub struct LoadedPlugin {
    /// The plugin.
    pub handle: PluginHandle,
    /// The file it came from.
    pub path: PathBuf,
}

/// A file that could not be used as a plugin, in one line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoadProblem {
    /// The file.
    pub path: PathBuf,
    /// The plugin's name, when known (else guessed from the file name).
    pub plugin: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Two files claiming one plugin name; the first in search order is used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shadowed {
    /// The plugin name.
    pub plugin: String,
    /// The file used.
    pub used: PathBuf,
    /// The file ignored.
    pub ignored: PathBuf,
}

/// Every plugin found on the search path.
#[derive(Default)]
pub struct Registry {
    /// Plugins that loaded, in search order.
    pub plugins: Vec<LoadedPlugin>,
    /// Files that failed to load.
    pub problems: Vec<LoadProblem>,
    /// Names claimed by more than one file.
    pub shadowed: Vec<Shadowed>,
    /// The folders searched, in order.
    pub searched: Vec<SearchDir>,
}

impl Registry {
    /// Loads every plugin file found on `search`, each file once, each only
    /// after a child process loaded it without dying ([`probe`]).
    pub fn discover(search: &SearchPath) -> Self {
        let mut registry = Registry {
            searched: search.dirs().to_vec(),
            ..Registry::default()
        };
        let mut probes = probe::Cache::open();
        for path in search.files() {
            let verdict = probes.verdict(&path);
            match verdict
                .and_then(|v| v.problem(&path))
                .map_or_else(|| load::load(&path), Err)
            {
                Ok(plugin) => registry.add(plugin),
                Err(problem) => {
                    tracing::debug!("{}: {}", problem.path.display(), problem.message);
                    registry.problems.push(problem);
                }
            }
        }
        probes.save();
        registry
    }

    fn add(&mut self, plugin: LoadedPlugin) {
        let name = &plugin.handle.info().name;
        if let Some(first) = self.plugins.iter().find(|p| &p.handle.info().name == name) {
            self.shadowed.push(Shadowed {
                plugin: name.clone(),
                used: first.path.clone(),
                ignored: plugin.path,
            });
        } else {
            self.plugins.push(plugin);
        }
    }

    /// One line per file that could not be used and per name claimed twice.
    pub fn warnings(&self) -> Vec<String> {
        let problems = self.problems.iter().map(|p| {
            format!(
                "{}: plugin `{}` not loaded: {}",
                p.path.display(),
                p.plugin,
                p.message
            )
        });
        let shadowed = self.shadowed.iter().map(|s| {
            format!(
                "plugin `{}` is in both {} and {}; using the first (search order)",
                s.plugin,
                s.used.display(),
                s.ignored.display()
            )
        });
        problems.chain(shadowed).collect()
    }

    /// The plugin named `name`.
    ///
    /// # Errors
    ///
    /// When no plugin has that name, or its file failed to load.
    pub fn get(&self, name: &str) -> Result<&LoadedPlugin, Error> {
        if let Some(plugin) = self.plugins.iter().find(|p| p.handle.info().name == name) {
            return Ok(plugin);
        }
        if let Some(problem) = self.problems.iter().find(|p| p.plugin == name) {
            return Err(Error::new(
                ErrorKind::Plugin,
                format!(
                    "plugin `{name}` cannot be used: {}: {}",
                    problem.path.display(),
                    problem.message
                ),
            )
            .hint("fix or remove that file; `gnbr plugins list` shows every plugin found"));
        }
        let found: Vec<&str> = self
            .plugins
            .iter()
            .map(|p| p.handle.info().name.as_str())
            .collect();
        let dirs: Vec<String> = self
            .searched
            .iter()
            .map(|d| d.path.display().to_string())
            .collect();
        Err(Error::new(
            ErrorKind::Plugin,
            format!(
                "no plugin `{name}` found (found: {}; searched: {})",
                if found.is_empty() {
                    "none".to_owned()
                } else {
                    found.join(", ")
                },
                dirs.join(", ")
            ),
        )
        .hint("put the plugin's library in one of those folders, or pass --plugins-dir DIR"))
    }
}
