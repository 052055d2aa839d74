//! The fuzz targets' corpus and every crash they found, replayed on stable
//! in the normal suite: each file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` through the target's checks
//! (`fuzz/src/lib.rs`, included here by path, the very code the fuzzer runs).

#[path = "../../fuzz/src/lib.rs"]
mod checks;

/// Runs `check` on every kept input of `target`; the last file named on
/// stderr is the one that failed.
fn replay(target: &str, check: fn(&[u8])) {
    let root = crate::support::repo().join("fuzz");
    let mut replayed = 0;
    for kind in ["corpus", "regressions"] {
        let Ok(dir) = std::fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        let mut files: Vec<_> = dir.map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            eprintln!("{target}: {}", file.display());
            check(&std::fs::read(&file).unwrap());
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no corpus for {target}");
}

#[test]
fn settings_ini_corpus() {
    replay("settings_ini", checks::settings_ini);
}

#[test]
fn fixture_reader_corpus() {
    replay("fixture_reader", checks::fixture_reader);
}

#[test]
fn backup_archive_corpus() {
    replay("backup_archive", checks::backup_archive);
}

#[test]
fn geoserver_rewrite_corpus() {
    replay("geoserver_rewrite", checks::geoserver_rewrite);
}
