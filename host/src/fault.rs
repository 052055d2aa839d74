//! A test hook: gnbr kills itself with SIGKILL at a named point, so that
//! tests can crash a restore at an exact instant instead of racing it with
//! sleeps.
//!
//! `GNBR_FAULT=<point>[:<n>]` kills gnbr the `n`th time (default the first)
//! it reaches `<point>`. The points are the stage boundaries of a restore,
//! each datastore table's commit (`table-restored`), GeoServer's catalog
//! restored (`catalog-restored`), the renames of its swap (`swap-rename`) and every step of its undo (`aborted`,
//! `undo-rename`, `undo-mkdir`, `undo-tables`, `undone`); see the README.
//! Unset, every point is a no-op.

use std::{
    collections::BTreeMap,
    sync::{Mutex, OnceLock},
};

/// The environment variable that names the fault.
pub const FAULT_ENV: &str = "GNBR_FAULT";

/// The fault asked for: its point and at which hit.
fn wanted() -> Option<&'static (String, u64)> {
    static WANTED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    WANTED
        .get_or_init(|| {
            let value = std::env::var(FAULT_ENV).ok()?;
            let (name, nth) = match value.split_once(':') {
                Some((name, nth)) => (name, nth.parse().ok()?),
                None => (value.as_str(), 1),
            };
            Some((name.to_owned(), nth))
        })
        .as_ref()
}

/// Marks a point gnbr passes; SIGKILLs gnbr when `GNBR_FAULT` names this
/// point and this hit.
pub fn point(name: &str) {
    let Some((wanted, nth)) = wanted() else {
        return;
    };
    if wanted != name {
        return;
    }
    static HITS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    let hit = {
        let mut hits = HITS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let hit = hits.entry(name.to_owned()).or_insert(0);
        *hit += 1;
        *hit
    };
    if hit == *nth {
        tracing::warn!("{FAULT_ENV}={name}:{nth}: killing gnbr here");
        // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
