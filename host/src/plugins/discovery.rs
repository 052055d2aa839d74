//! The plugin search path, in order: `--plugins-dir`, `GNBR_PLUGINS`,
//! settings.ini's `[plugins] dirs`, this repository's `plugins/`, and the
//! folder of the `gnbr` executable (where cargo puts built plugins).

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

/// One folder on the search path and why it is there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SearchDir {
    /// The folder.
    pub path: PathBuf,
    /// Where it came from (`--plugins-dir`, `GNBR_PLUGINS`, ...).
    pub origin: &'static str,
}

/// The ordered folders searched for plugin libraries.
#[derive(Debug, Clone, Default)]
pub struct SearchPath {
    dirs: Vec<SearchDir>,
}

impl SearchPath {
    /// The standard search path.
    pub fn new(cli_dirs: &[PathBuf], settings_dirs: &[PathBuf]) -> Self {
        let mut path = SearchPath::default();
        for dir in cli_dirs {
            path.push(dir.clone(), "--plugins-dir");
        }
        if let Some(env) = std::env::var_os("GNBR_PLUGINS") {
            for dir in std::env::split_paths(&env) {
                path.push(dir, "GNBR_PLUGINS");
            }
        }
        for dir in settings_dirs {
            path.push(dir.clone(), "settings.ini [plugins] dirs");
        }
        path.push(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins"),
            "the gnbr repository's plugins/",
        );
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_owned))
        {
            path.push(dir, "the gnbr executable's folder");
        }
        path
    }

    fn push(&mut self, path: PathBuf, origin: &'static str) {
        if !path.as_os_str().is_empty() {
            self.dirs.push(SearchDir { path, origin });
        }
    }

    /// The folders, in order.
    pub fn dirs(&self) -> &[SearchDir] {
        &self.dirs
    }

    /// Every library file in the folders, in search order, each file once.
    /// Folders that do not exist are skipped.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut seen = HashSet::new();
        let mut files = Vec::new();
        for dir in &self.dirs {
            let mut here: Vec<PathBuf> = walkdir::WalkDir::new(&dir.path)
                .min_depth(1)
                .max_depth(1)
                .into_iter()
                .filter_map(Result::ok)
                .map(walkdir::DirEntry::into_path)
                .filter(|p| is_library(p))
                .collect();
            here.sort();
            for file in here {
                let key = file.canonicalize().unwrap_or_else(|_| file.clone());
                if seen.insert(key) {
                    files.push(file);
                }
            }
        }
        files
    }
}

/// Whether `path` is named like a shared library of this platform.
fn is_library(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e == std::env::consts::DLL_EXTENSION)
}

/// The plugin name a library file suggests: `libgn20_to_24.so` -> `gn20_to_24`.
pub fn name_from_file(path: &Path) -> String {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    stem.strip_prefix(std::env::consts::DLL_PREFIX)
        .unwrap_or(&stem)
        .to_owned()
}
