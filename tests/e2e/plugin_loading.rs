//! The plugin host's promises: discovery order, each file once, name
//! conflicts, the previous minor interface loading (its built library, and
//! its source compiled against this SDK), and one clear line for every kind
//! of broken plugin while the others keep working.

use std::{fs, process::Command};

use assert_cmd::cargo::CommandCargoExt;

use crate::support::{
    command, expect_code, future_major_plugin, gnbr, legacy_plugin_built_from_source,
    settings_with, test_plugins, tiny_backup,
};
use gnbr::exit_codes::{PLUGIN, RUN_FAILED, SUCCESS};

fn copy_plugin(from: &std::path::Path, to_dir: &std::path::Path, name: &str) {
    fs::create_dir_all(to_dir).unwrap();
    fs::copy(from, to_dir.join(name)).unwrap();
}

/// Loads the legacy_v1_0 plugin `library` in gnbr: `plugins inspect`
/// shows it built against mangler-api `api`, and a migrate runs it.
fn assert_legacy_plugin_runs(library: &std::path::Path, api: &str) {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    copy_plugin(library, &plugins, "liblegacy_v1_0.so");
    let (stdout, _) = expect_code(
        &gnbr(
            dir.path(),
            &[
                "plugins",
                "inspect",
                "legacy_v1_0",
                "--plugins-dir",
                "plugins",
                "--json",
            ],
        ),
        0,
    );
    let info: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(info["api"], api);

    settings_with(dir.path(), "legacy_v1_0.MarkMangler");
    let backup = tiny_backup(dir.path());
    let args = [
        "migrate",
        "--backup-file",
        backup.to_str().unwrap(),
        "--output",
        "out",
        "--plugins-dir",
        "plugins",
    ];
    expect_code(&gnbr(dir.path(), &args), 0);
    let out = fs::read_to_string(dir.path().join("out/fixtures/resourcebases.json")).unwrap();
    assert!(out.contains(r#""title":"Rivers (legacy)""#), "{out}");
}

#[test]
fn a_plugin_built_against_the_previous_minor_interface_loads_and_runs() {
    assert_legacy_plugin_runs(&test_plugins().join("liblegacy_v1_0.so"), "1.0.0");
}

#[test]
fn plugin_source_written_against_1_0_compiles_against_this_sdk_and_runs() {
    let (library, warnings) = legacy_plugin_built_from_source();
    for warning in warnings {
        assert!(
            warning.contains("use of deprecated"),
            "only deprecations may be warned about: {warning}"
        );
    }
    for shim in ["from_value`", "fields`", "fields_mut`"] {
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(&format!("FixtureObject::{shim}"))),
            "no deprecation warning for {shim}: {warnings:?}"
        );
    }
    assert_legacy_plugin_runs(library, mangler_api::API_VERSION);
}

#[test]
fn broken_plugins_get_one_line_each_and_the_others_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    copy_plugin(future_major_plugin(), &plugins, "libfuture_major.so");
    copy_plugin(
        &test_plugins().join("libnot_a_plugin.so"),
        &plugins,
        "libnot_a_plugin.so",
    );
    fs::write(plugins.join("libnotes.so"), "not a library at all\n").unwrap();
    let legacy = fs::read(test_plugins().join("liblegacy_v1_0.so")).unwrap();
    fs::write(plugins.join("libtruncated.so"), &legacy[..legacy.len() / 2]).unwrap();
    copy_plugin(
        &test_plugins().join("liblegacy_v1_0.so"),
        &plugins,
        "liblegacy_v1_0.so",
    );

    let (stdout, stderr) = expect_code(
        &gnbr(dir.path(), &["plugins", "list", "--plugins-dir", "plugins"]),
        0,
    );
    assert!(stdout.contains("legacy_v1_0"), "{stdout}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("gnbr: warning:"))
        .collect();
    assert_eq!(warnings.len(), 4, "one line per broken file:\n{stderr}");
    assert_eq!(
        stderr.lines().count(),
        4,
        "nothing but those lines (no layout report):\n{stderr}"
    );
    let line = |file: &str| {
        *warnings
            .iter()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("no line for {file}:\n{stderr}"))
    };
    assert!(
        line("libfuture_major.so").contains("mangler-api 2.0.0")
            && line("libfuture_major.so").contains(mangler_api::API_VERSION),
        "{stderr}"
    );
    assert!(
        line("libnot_a_plugin.so").contains("not a gnbr plugin"),
        "{stderr}"
    );
    assert!(
        line("libnotes.so").contains("not a shared library"),
        "{stderr}"
    );
    assert!(line("libtruncated.so").contains("truncated"), "{stderr}");

    // A run that needs only good plugins goes on.
    settings_with(dir.path(), "legacy_v1_0.MarkMangler");
    let backup = tiny_backup(dir.path());
    let backup = backup.to_str().unwrap();
    expect_code(
        &gnbr(
            dir.path(),
            &[
                "migrate",
                "--backup-file",
                backup,
                "--output",
                "out",
                "--plugins-dir",
                "plugins",
            ],
        ),
        0,
    );

    // A run that needs a broken one is refused before anything is written.
    settings_with(dir.path(), "future_major.TitleMangler");
    let (_, stderr) = expect_code(
        &gnbr(
            dir.path(),
            &[
                "migrate",
                "--backup-file",
                backup,
                "--output",
                "out2",
                "--plugins-dir",
                "plugins",
            ],
        ),
        PLUGIN,
    );
    assert!(
        stderr.contains("plugin `future_major` cannot be used")
            && stderr.contains("mangler-api 2.0.0"),
        "{stderr}"
    );
    assert!(!dir.path().join("out2").exists());
}

/// Compiles `source` (C) with the system's `cc` into a shared library.
fn c_library(source: &str, out: &std::path::Path) {
    let c_file = out.with_extension("c");
    fs::write(&c_file, source).unwrap();
    let built = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(out)
        .arg(&c_file)
        .status()
        .expect("the system's C compiler (cc) runs");
    assert!(built.success(), "cc failed on {}", c_file.display());
}

#[test]
fn a_library_that_aborts_or_crashes_while_loading_is_named_and_the_host_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    fs::create_dir_all(&plugins).unwrap();
    for (name, body) in [
        ("libaborts.so", "abort();"),
        ("libsegfaults.so", "*(volatile int *)0 = 1;"),
        ("libexits.so", "_exit(0);"),
    ] {
        let source = format!(
            "#include <stdlib.h>\n#include <unistd.h>\n\
             __attribute__((constructor)) static void on_load(void) {{ {body} }}\n"
        );
        c_library(&source, &plugins.join(name));
    }
    copy_plugin(
        &test_plugins().join("liblegacy_v1_0.so"),
        &plugins,
        "liblegacy_v1_0.so",
    );
    let cache = dir.path().join("cache");
    // The verdicts are cached: the second run reads them, the same way.
    for run in ["probed", "cached"] {
        let listed = Command::cargo_bin("gnbr")
            .unwrap()
            .current_dir(dir.path())
            .args(["plugins", "list", "--plugins-dir", "plugins"])
            .env_remove("GNBR_PLUGINS")
            .env_remove("GNBR_LOG")
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .unwrap();
        let (stdout, stderr) = expect_code(&listed, 0);
        assert!(stdout.contains("legacy_v1_0"), "{run}: {stdout}");
        let line = |file: &str| {
            stderr
                .lines()
                .find(|l| l.starts_with("gnbr: warning:") && l.contains(file))
                .unwrap_or_else(|| panic!("{run}: no line for {file}:\n{stderr}"))
                .to_owned()
        };
        assert!(
            line("libaborts.so").contains("crashed while loading: signal 6 (SIGABRT, aborted)"),
            "{run}: {stderr}"
        );
        assert!(
            line("libsegfaults.so").contains("crashed while loading: signal 11 (SIGSEGV"),
            "{run}: {stderr}"
        );
        assert!(
            line("libexits.so").contains("ended the process while loading (exit status 0)"),
            "{run}: {stderr}"
        );
    }
    let verdicts = fs::read_to_string(cache.join("gnbr/plugin-probes.json")).unwrap();
    assert!(
        verdicts.contains("libaborts.so") && verdicts.contains("SIGABRT"),
        "{verdicts}"
    );
    settings_with(dir.path(), "legacy_v1_0.MarkMangler");
    let backup = tiny_backup(dir.path());
    expect_code(
        &gnbr(
            dir.path(),
            &[
                "migrate",
                "--backup-file",
                backup.to_str().unwrap(),
                "--output",
                "out",
                "--plugins-dir",
                "plugins",
            ],
        ),
        0,
    );
}

#[test]
fn a_panicking_mangler_is_an_error_naming_plugin_mangler_and_object() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    copy_plugin(
        &test_plugins().join("libpanics.so"),
        &plugins,
        "libpanics.so",
    );
    settings_with(dir.path(), "panics.BoomMangler");
    let backup = tiny_backup(dir.path());
    let args = [
        "migrate",
        "--backup-file",
        backup.to_str().unwrap(),
        "--output",
        "out.zip",
        "--plugins-dir",
        "plugins",
    ];
    let (_, stderr) = expect_code(&gnbr(dir.path(), &args), RUN_FAILED);
    let error: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("gnbr: error:"))
        .collect();
    assert_eq!(error.len(), 1, "{stderr}");
    for part in [
        "fixtures/resourcebases.json",
        "object #1 (pk 2)",
        "panics.BoomMangler panicked",
        "boom on purpose",
        "src/lib.rs",
    ] {
        assert!(
            error[0].contains(part),
            "`{part}` missing from: {}",
            error[0]
        );
    }
    assert!(
        !stderr.contains("thread '"),
        "the panic hook printed:\n{stderr}"
    );
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !leftovers
            .iter()
            .any(|n| n.to_string_lossy().contains("out.zip")),
        "{leftovers:?}"
    );
}

#[test]
fn search_order_each_file_once_and_name_conflicts_reported_with_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = test_plugins().join("liblegacy_v1_0.so");
    copy_plugin(&legacy, &dir.path().join("first"), "liblegacy_v1_0.so");
    copy_plugin(&legacy, &dir.path().join("second"), "libcopy_of_legacy.so");
    let output = gnbr(
        dir.path(),
        &[
            "plugins",
            "list",
            "--json",
            "--plugins-dir",
            "first",
            "--plugins-dir",
            "first",
            "--plugins-dir",
            "second",
        ],
    );
    let (stdout, stderr) = expect_code(&output, 0);
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let legacy_rows: Vec<_> = list["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "legacy_v1_0")
        .collect();
    assert_eq!(legacy_rows.len(), 1, "loaded once: {stdout}");
    assert!(
        legacy_rows[0]["file"]
            .as_str()
            .unwrap()
            .starts_with("first"),
        "{stdout}"
    );
    let shadowed = &list["shadowed"][0];
    assert!(
        shadowed["used"].as_str().unwrap().contains("first")
            && shadowed["ignored"].as_str().unwrap().contains("second"),
        "{stdout}"
    );
    assert!(
        stderr.contains("first/liblegacy_v1_0.so")
            && stderr.contains("second/libcopy_of_legacy.so"),
        "{stderr}"
    );
    let searched: Vec<&str> = list["searched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["origin"].as_str().unwrap())
        .collect();
    assert_eq!(
        searched[..3],
        ["--plugins-dir", "--plugins-dir", "--plugins-dir"]
    );
    assert_eq!(
        searched[searched.len() - 2..],
        [
            "the gnbr repository's plugins/",
            "the gnbr executable's folder"
        ]
    );
}

#[test]
fn the_shipped_plugins_are_found_next_to_the_executable() {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, _) = expect_code(&gnbr(dir.path(), &["plugins", "list"]), 0);
    assert!(
        stdout.contains("gn20_to_24") && stdout.contains("gn24_to_24"),
        "{stdout}"
    );
}

#[test]
fn a_reader_that_has_gone_ends_gnbr_quietly() {
    let dir = tempfile::tempdir().unwrap();
    // `gnbr plugins list | head -0`: the reading end is closed before gnbr writes.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = command(dir.path(), &["plugins", "list"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(SUCCESS), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
