//! A test hook: gnbr kills itself with SIGKILL at a named point, or waits
//! there, so that tests can crash a restore, or cancel a run, at an exact
//! instant instead of racing it with sleeps.
//!
//! `GNBR_FAULT=<point>[:<n>]` kills gnbr the `n`th time (default the first)
//! it reaches `<point>`. `GNBR_FAULT=pause:<point>[:<n>]` makes it wait
//! there instead: it creates `<point>.paused` in its working folder, then
//! waits until `<point>.resume` appears there or its run is cancelled
//! ([`crate::cancel`]). The points are the stage boundaries of a restore,
//! each datastore table's commit (`table-restored`), GeoServer's catalog
//! restored (`catalog-restored`), the renames of its swap (`swap-rename`) and every step of its undo (`aborted`,
//! `undo-rename`, `undo-mkdir`, `undo-tables`, `undone`); see the README.
//! Unset, every point is a no-op.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Mutex, OnceLock},
    time::Duration,
};

/// The environment variable that names the fault.
pub const FAULT_ENV: &str = "GNBR_FAULT";

/// What `GNBR_FAULT` asks for: its point, at which hit, and whether gnbr
/// waits there instead of dying.
struct Fault {
    point: String,
    nth: u64,
    pause: bool,
}

/// The fault asked for.
fn wanted() -> Option<&'static Fault> {
    static WANTED: OnceLock<Option<Fault>> = OnceLock::new();
    WANTED
        .get_or_init(|| parse(&std::env::var(FAULT_ENV).ok()?))
        .as_ref()
}

/// `[pause:]<point>[:<n>]`.
fn parse(value: &str) -> Option<Fault> {
    let (pause, rest) = match value.strip_prefix("pause:") {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (point, nth) = match rest.split_once(':') {
        Some((point, nth)) => (point, nth.parse().ok()?),
        None => (rest, 1),
    };
    Some(Fault {
        point: point.to_owned(),
        nth,
        pause,
    })
}

/// Marks a point gnbr passes; SIGKILLs gnbr, or waits, when `GNBR_FAULT`
/// names this point and this hit.
pub fn point(name: &str) {
    let Some(Fault {
        point: wanted,
        nth,
        pause,
    }) = wanted()
    else {
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
    if hit == *nth && *pause {
        wait_at(name);
    } else if hit == *nth {
        tracing::warn!("{FAULT_ENV}={name}:{nth}: killing gnbr here");
        // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// Waits at the point `name`: `<name>.paused` is created, then the wait
/// lasts until `<name>.resume` appears or the run is cancelled.
fn wait_at(name: &str) {
    tracing::warn!("{FAULT_ENV}=pause:{name}: waiting for {name}.resume or a cancel");
    if let Err(e) = std::fs::write(format!("{name}.paused"), b"") {
        tracing::error!("cannot create {name}.paused: {e}");
    }
    let resume = PathBuf::from(format!("{name}.resume"));
    while !resume.exists() && !crate::cancel::requested() {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn a_fault_names_its_point_its_hit_and_whether_it_pauses() {
        let kill = parse("staged:3").unwrap();
        assert_eq!(
            (kill.point.as_str(), kill.nth, kill.pause),
            ("staged", 3, false)
        );
        let pause = parse("pause:before-commit").unwrap();
        assert_eq!(
            (pause.point.as_str(), pause.nth, pause.pause),
            ("before-commit", 1, true)
        );
        assert!(parse("staged:x").is_none());
    }
}
