//! Helpers: running gnbr, building the test plugins, temporary folders.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output},
    sync::OnceLock,
};

use assert_cmd::cargo::CommandCargoExt;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the repository")
        .to_owned()
}

/// `gnbr` with the given arguments, run in `cwd`, with a clean plugin
/// environment and a fixed `SOURCE_DATE_EPOCH`; not started yet.
pub fn command(cwd: &Path, args: &[&str]) -> Command {
    let mut command =
        Command::cargo_bin("gnbr").expect("the gnbr binary is built (run the workspace's tests)");
    command
        .current_dir(cwd)
        .args(args)
        .env_remove("GNBR_PLUGINS")
        .env_remove("GNBR_LOG")
        .env_remove("GNBR_FAULT")
        .env("SOURCE_DATE_EPOCH", "1700000000");
    command
}

/// `gnbr` with the given arguments, run in `cwd`, with a clean plugin environment.
pub fn gnbr(cwd: &Path, args: &[&str]) -> Output {
    command(cwd, args).output().expect("gnbr runs")
}

/// `gnbr -c SETTINGS restore --backup-file ARCHIVE -f EXTRA...`, run in `cwd`.
pub fn restore(
    cwd: &Path,
    settings: impl AsRef<Path>,
    archive: impl AsRef<Path>,
    extra: &[&str],
) -> Output {
    restore_command(cwd, settings, archive, extra)
        .output()
        .expect("gnbr runs")
}

/// [`restore`], not started yet.
pub fn restore_command(
    cwd: &Path,
    settings: impl AsRef<Path>,
    archive: impl AsRef<Path>,
    extra: &[&str],
) -> Command {
    let mut args = vec![
        "-c",
        settings.as_ref().to_str().unwrap(),
        "restore",
        "--backup-file",
        archive.as_ref().to_str().unwrap(),
        "-f",
    ];
    args.extend(extra);
    command(cwd, &args)
}

/// `gnbr -c SETTINGS backup --backup-dir DIR --json -f EXTRA...`, run in
/// `cwd`, which must succeed: its JSON report, and its stderr.
pub fn backup(
    cwd: &Path,
    settings: impl AsRef<Path>,
    backup_dir: impl AsRef<Path>,
    extra: &[&str],
) -> (serde_json::Value, String) {
    let output = backup_command(cwd, settings, backup_dir, extra)
        .output()
        .expect("gnbr runs");
    let (stdout, stderr) = expect_code(&output, 0);
    (serde_json::from_str(&stdout).unwrap(), stderr)
}

/// `gnbr -c SETTINGS backup --backup-dir DIR --json -f EXTRA...` in `cwd`, not started yet.
pub fn backup_command(
    cwd: &Path,
    settings: impl AsRef<Path>,
    backup_dir: impl AsRef<Path>,
    extra: &[&str],
) -> Command {
    let mut args = vec![
        "-c",
        settings.as_ref().to_str().unwrap(),
        "backup",
        "--backup-dir",
        backup_dir.as_ref().to_str().unwrap(),
        "--json",
        "-f",
    ];
    args.extend(extra);
    command(cwd, &args)
}

/// The `--json` progress events (`{"event":"progress",...}`) among stderr's lines.
pub fn progress_events(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["event"] == "progress")
        .collect()
}

/// Reads `child`'s stderr (piped) until a line `trigger` accepts, sends
/// `child` `signal` (`-TERM`, `-INT`), reads the rest and waits for it;
/// returns how it ended and every line it wrote.
pub fn signal_at_line(
    child: &mut Child,
    signal: &str,
    trigger: impl Fn(&str) -> bool,
) -> (ExitStatus, String) {
    let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if trigger(&line) {
            let sent = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
            break;
        }
    }
    seen.extend(lines.map(Result::unwrap));
    (child.wait().unwrap(), seen.join("\n"))
}

/// Text of a process's stdout and stderr.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Panics with everything about a run that did not exit as expected.
pub fn expect_code(output: &Output, code: i32) -> (String, String) {
    let (stdout, stderr) = text(output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "unexpected exit status\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    (stdout, stderr)
}

/// The folder holding the test plugins built against other interface
/// versions (tests/plugins), built once per test run.
pub fn test_plugins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = repo().join("target/test-plugins");
        cargo_build(&repo().join("tests/plugins/Cargo.toml"), &target);
        target.join("debug")
    })
}

/// A plugin built against mangler-api 2.0.0: a copy of the current SDK with
/// its major version bumped, generated under target/ so no second copy of
/// the SDK is kept in the repository.
pub fn future_major_plugin() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let root = repo().join("target/test-plugins/future-major");
        let api = root.join("mangler-api");
        copy_folder(&repo().join("mangler-api/src"), &api.join("src"));
        std::fs::write(
            api.join("Cargo.toml"),
            r#"[package]
name = "mangler-api"
version = "2.0.0"
edition = "2021"
[dependencies]
abi_stable = "=0.11.3"
serde = { version = "1", features = ["derive"] }
serde_json = { version = "1", features = ["preserve_order", "float_roundtrip", "arbitrary_precision"] }
semver = { version = "1", features = ["serde"] }
"#,
        )
        .unwrap();
        let plugin = root.join("future_major");
        std::fs::create_dir_all(plugin.join("src")).unwrap();
        write_plugin_manifest(&plugin, "future_major", "../mangler-api");
        let template = std::fs::read_to_string(repo().join("manglers/template/src/lib.rs")).unwrap();
        std::fs::write(
            plugin.join("src/lib.rs"),
            template.replace("\"template\"", "\"future_major\""),
        )
        .unwrap();
        let target = repo().join("target/test-plugins");
        cargo_build(&write_plugin_workspace(&root, "future_major"), &target);
        target.join("debug/libfuture_major.so")
    })
}

/// The plugin source written against mangler-api 1.0 (tests/plugins/legacy_v1_0)
/// built against this workspace's mangler-api, generated under target/ as
/// `legacy_v1_0_source`: the library, and the compiler's warnings, one line
/// each.
pub fn legacy_plugin_built_from_source() -> &'static (PathBuf, Vec<String>) {
    static BUILT: OnceLock<(PathBuf, Vec<String>)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = repo().join("target/test-plugins/legacy-source");
        let plugin = root.join("legacy_v1_0_source");
        copy_folder(
            &repo().join("tests/plugins/legacy_v1_0/src"),
            &plugin.join("src"),
        );
        let api = repo().join("mangler-api");
        write_plugin_manifest(&plugin, "legacy_v1_0_source", api.to_str().unwrap());
        let target = repo().join("target/test-plugins");
        let manifest = write_plugin_workspace(&root, "legacy_v1_0_source");
        let warnings = cargo_build_with(&manifest, &target, &["--message-format=short"])
            .lines()
            .filter(|line| line.contains(": warning: "))
            .map(str::to_owned)
            .collect();
        (target.join("debug/liblegacy_v1_0_source.so"), warnings)
    })
}

/// Copies the files of folder `from` into `to`, sub-folders included.
fn copy_folder(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let into = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(into).unwrap();
        } else {
            std::fs::copy(entry.path(), into).unwrap();
        }
    }
}

/// Writes the Cargo.toml of the plugin crate `name` in `folder`, depending
/// on the mangler-api at `api`.
fn write_plugin_manifest(folder: &Path, name: &str, api: &str) {
    std::fs::write(
        folder.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[lib]\ncrate-type = [\"cdylib\"]\n[dependencies]\nmangler-api = {{ path = \"{api}\" }}\n"
        ),
    )
    .unwrap();
}

/// Makes `root` a workspace of the one plugin crate `member`, locked and
/// built as tests/plugins is (so they share built dependencies); returns
/// its manifest.
fn write_plugin_workspace(root: &Path, member: &str) -> PathBuf {
    let manifest = root.join("Cargo.toml");
    std::fs::write(
        &manifest,
        format!(
            "[workspace]\nresolver = \"2\"\nmembers = [\"{member}\"]\n[profile.dev]\ndebug = false\n"
        ),
    )
    .unwrap();
    std::fs::copy(
        repo().join("tests/plugins/Cargo.lock"),
        root.join("Cargo.lock"),
    )
    .unwrap();
    manifest
}

fn cargo_build(manifest: &Path, target: &Path) {
    cargo_build_with(manifest, target, &[]);
}

/// Builds the workspace of `manifest` into `target`; its stderr.
fn cargo_build_with(manifest: &Path, target: &Path, args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["build", "--quiet", "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target)
        .args(args)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "building {} failed:\n{stderr}",
        manifest.display(),
    );
    stderr
}

/// A settings.ini whose only mangler is `plugin.mangler` on `base.resourcebase`.
pub fn settings_with(dir: &Path, mangler: &str) -> PathBuf {
    let path = dir.join("settings.ini");
    std::fs::write(
        &path,
        format!(
            "[fixtures]\napps = people,base.resourcebase\ndumps = people,resourcebases\nmigrations = base.resourcebase\nmanglers = {mangler}\n"
        ),
    )
    .unwrap();
    path
}

/// A tiny backup folder: one user and three resources.
pub fn tiny_backup(dir: &Path) -> PathBuf {
    let backup = dir.join("backup");
    std::fs::create_dir_all(backup.join("fixtures")).unwrap();
    std::fs::write(
        backup.join("fixtures/people.json"),
        r#"[{"model": "people.profile", "pk": 1, "fields": {"username": "admin"}}]"#,
    )
    .unwrap();
    std::fs::write(
        backup.join("fixtures/resourcebases.json"),
        "[\n{\"model\": \"base.resourcebase\", \"pk\": 1, \"fields\": {\"title\": \"Rivers\"}},\n{\"model\": \"base.resourcebase\", \"pk\": 2, \"fields\": {\"title\": \"Lakes\"}},\n{\"model\": \"base.resourcebase\", \"pk\": 3, \"fields\": {\"title\": \"Roads\"}}\n]\n",
    )
    .unwrap();
    backup
}

/// The files under `dir` at this moment: folders that go while they are
/// read are skipped.
fn files_now(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for path in entries.filter_map(|e| Some(e.ok()?.path())) {
        if path.is_dir() {
            files.extend(files_now(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Runs `command` to its end while every regular file under `dirs` is
/// looked at every few milliseconds: its output, and each file seen with
/// its first bytes.
pub fn run_watched(command: Command, dirs: &[&Path]) -> (Output, Seen) {
    let (output, seen, _) = run_watched_for(command, dirs, &[]);
    (output, seen)
}

/// Each file a watch saw, with its first bytes.
pub type Seen = Vec<(PathBuf, Vec<u8>)>;

/// [`run_watched`], each file also read whole whenever its size or time
/// changed and searched for each of `markers`: also every file in which
/// one was found, with the marker.
pub fn run_watched_for(
    mut command: Command,
    dirs: &[&Path],
    markers: &[&str],
) -> (Output, Seen, Vec<(PathBuf, String)>) {
    use std::{
        io::Read,
        sync::{
            atomic::{AtomicBool, Ordering},
            Arc,
        },
    };
    let dirs: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    let markers: Vec<String> = markers.iter().map(|m| m.to_string()).collect();
    let done = Arc::new(AtomicBool::new(false));
    let watching = done.clone();
    let watcher = std::thread::spawn(move || {
        let mut seen: Seen = Vec::new();
        let mut found: Vec<(PathBuf, String)> = Vec::new();
        let mut searched = Vec::new();
        let mut look = || {
            for path in dirs.iter().flat_map(|d| files_now(d)) {
                // FIFOs (the dumps) are not opened: reading one would steal its data.
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let mut head = Vec::new();
                if let Ok(file) = std::fs::File::open(&path) {
                    let _ = file.take(32).read_to_end(&mut head);
                }
                if !seen.iter().any(|(p, h)| *p == path && *h == head) {
                    seen.push((path.clone(), head));
                }
                let version = (path.clone(), meta.len(), meta.modified().ok());
                if markers.is_empty() || searched.contains(&version) {
                    continue;
                }
                searched.push(version);
                let Ok(content) = std::fs::read(&path) else {
                    continue;
                };
                for marker in &markers {
                    let hit = content
                        .windows(marker.len())
                        .any(|w| w == marker.as_bytes());
                    if hit && !found.iter().any(|(p, m)| *p == path && m == marker) {
                        found.push((path.clone(), marker.clone()));
                    }
                }
            }
        };
        while !watching.load(Ordering::Relaxed) {
            look();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        look();
        (seen, found)
    });
    let output = command.output().expect("gnbr runs");
    done.store(true, Ordering::Relaxed);
    let (seen, found) = watcher.join().unwrap();
    (output, seen, found)
}

/// `program ARGS...` (the age CLI's), which must succeed; its stdout.
pub fn age_tool(program: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (apt-get install age)"));
    assert!(output.status.success(), "{program}: {}", text(&output).1);
    String::from_utf8(output.stdout).unwrap()
}

/// A new age key pair in `dir` (`key.txt`), and `archive` encrypted by the
/// age CLI to its recipient as `dir/2026-01-02_030405.zip.age`: the key
/// file and the encrypted archive.
pub fn age_encrypted(dir: &Path, archive: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("key.txt");
    age_tool("age-keygen", &["-o", key.to_str().unwrap()]);
    let recipient = age_tool("age-keygen", &["-y", key.to_str().unwrap()]);
    let sealed = dir.join("2026-01-02_030405.zip.age");
    age_tool(
        "age",
        &[
            "-e",
            "-r",
            recipient.trim(),
            "-o",
            sealed.to_str().unwrap(),
            archive.to_str().unwrap(),
        ],
    );
    (key, sealed)
}
