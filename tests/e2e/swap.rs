//! A restore's folder swap against a real GeoNode 5.1.1: killed at every
//! rename and stage boundary, and at every step of the undo of a restore
//! whose commit the database refuses (the `GNBR_FAULT` hook), the next
//! gnbr command leaves the target wholly old or wholly new; and
//! deployments' folders (a mount point, a symlink, ASSETS_ROOT inside
//! MEDIA_ROOT, a 2770 folder of another user) restored in place.

use std::{
    collections::BTreeMap,
    os::unix::{fs::MetadataExt, process::ExitStatusExt},
    path::{Path, PathBuf},
    process::{Command, Output},
};

use assert_cmd::cargo::CommandCargoExt;

use gnbr::exit_codes::RUN_FAILED;

use crate::{
    geonode::{gn511_archive, Services},
    support::{expect_code, gnbr, restore},
};

/// Tables each restore fills with new serial ids (the search index,
/// permissions and many-to-many rows Django numbers as it loads them),
/// compared without them.
const RENUMBERED: &[(&str, &[&str])] = &[
    ("indexing_resourceindex", &["id"]),
    ("guardian_userobjectpermission", &["id"]),
    ("guardian_groupobjectpermission", &["id"]),
    ("auth_group_permissions", &["id"]),
    ("people_profile_groups", &["id"]),
];

/// The database (but gnbr's restore log) and the folders, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TargetState {
    tables: BTreeMap<String, String>,
    files: BTreeMap<String, String>,
}

fn state(services: &Services, db: &str, dir: &Path) -> TargetState {
    let mut tables = services.digest(db, RENUMBERED);
    tables.remove("gnbr_restore_log");
    let mut files = BTreeMap::new();
    for folder in ["media", "assets", "gs_data"] {
        let root = dir.join(folder);
        for path in walk(&root) {
            if !path.is_file() || path.is_symlink() {
                continue;
            }
            let relative = path.strip_prefix(&root).unwrap().display().to_string();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            files.insert(format!("{folder}/{relative}"), text);
        }
    }
    TargetState { tables, files }
}

/// The tables of `a` whose rows differ from `b`'s.
fn unlike<'a>(a: &'a TargetState, b: &TargetState) -> Vec<&'a str> {
    a.tables
        .iter()
        .filter(|(t, d)| b.tables.get(*t) != Some(*d))
        .map(|(t, _)| t.as_str())
        .collect()
}

/// `gnbr restore` with `GNBR_FAULT` set.
fn restore_with_fault(dir: &Path, settings: &Path, archive: &Path, fault: &str) -> Output {
    Command::cargo_bin("gnbr")
        .unwrap()
        .current_dir(dir)
        .args(["-c", settings.to_str().unwrap(), "restore", "--backup-file"])
        .arg(archive)
        .args(["-f", "--no-snapshot"])
        .env("GNBR_FAULT", fault)
        .env_remove("GNBR_PLUGINS")
        .output()
        .unwrap()
}

/// An archive of the real 5.1.1 fixtures with `tag` in a resource's title
/// and in every folder.
fn tagged_archive(dir: &Path, tag: &str) -> PathBuf {
    let title = format!("title {tag}");
    let names = [
        format!("uploaded/{tag}.txt"),
        format!("uploaded/documents/{tag}.pdf"),
        "uploaded/thumbs/shared.png".to_owned(),
        format!("assets/{tag}/file.bin"),
        format!("gs_data_dir/workspaces/{tag}/workspace.xml"),
    ];
    let extra: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), tag.as_bytes())).collect();
    gn511_archive(
        dir,
        &format!("{tag}.zip"),
        |fixture, objects| {
            if fixture == "base.json" {
                let resource = objects
                    .iter_mut()
                    .find(|o| o["model"] == "base.resourcebase")
                    .unwrap();
                resource["fields"]["title"] = title.clone().into();
            }
        },
        &extra,
    )
}

/// Every path under `root` (links not followed).
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

/// gnbr's own paths (staging, previous content, journals) in the folders.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for folder in ["media", "assets", "gs_data"] {
        for path in walk(&dir.join(folder)) {
            if path.display().to_string().contains(".gnbr-") {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// A deferred trigger of the target's own that makes the database refuse
/// every restore's commit, after the whole load and the swap.
pub const REFUSE_COMMITS: &str =
    "CREATE FUNCTION gnbr_e2e_refuse() RETURNS trigger LANGUAGE plpgsql AS \
     $$ BEGIN RAISE EXCEPTION 'gnbr e2e: no more restores'; END $$; \
     CREATE CONSTRAINT TRIGGER gnbr_e2e_refuse AFTER INSERT ON gnbr_restore_log \
     DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gnbr_e2e_refuse()";

/// The two states a settled target may be in.
struct Ends {
    old: TargetState,
    new: TargetState,
}

/// After a restore killed at `fault`: runs `gnbr check`, then names what
/// the target was settled to, `"old"` or `"new"`; a mixed target or
/// gnbr's paths left in the folders fail the test.
fn settle_after_kill(
    services: &Services,
    dir: &Path,
    settings: &Path,
    ends: &Ends,
    fault: &str,
    killed: &Output,
) -> &'static str {
    assert_eq!(
        killed.status.signal(),
        Some(9),
        "{fault}: not killed\n{}",
        String::from_utf8_lossy(&killed.stderr)
    );
    let (stdout, _) = expect_code(&gnbr(dir, &["-c", settings.to_str().unwrap(), "check"]), 0);
    let after = state(services, "gnbr_e2e_swap", dir);
    let settled = if after == ends.old {
        "old"
    } else if after == ends.new {
        "new"
    } else {
        panic!(
            "{fault}: a mixed target after `gnbr check`\n{stdout}\nfiles: {:?}\ntables unlike old: {:?}\ntables unlike new: {:?}",
            after.files.keys().collect::<Vec<_>>(),
            unlike(&after, &ends.old),
            unlike(&after, &ends.new),
        );
    };
    assert_eq!(leftovers(dir), Vec::<String>::new(), "{fault}");
    eprintln!("{fault}: settled {settled}");
    settled
}

#[test]
fn a_restore_killed_anywhere_is_settled_wholly_old_or_wholly_new() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archives = [
        ("old", tagged_archive(dir.path(), "old")),
        ("new", tagged_archive(dir.path(), "new")),
    ];
    // The archive that replaces what the target holds.
    let other = |current: &str| archives.iter().find(|(tag, _)| *tag != current).unwrap();
    services.fresh_db("gnbr_e2e_swap");
    let settings = services.settings(dir.path(), "gnbr_e2e_swap");
    expect_code(
        &restore(dir.path(), &settings, &archives[1].1, &["--no-snapshot"]),
        0,
    );
    let new_state = state(&services, "gnbr_e2e_swap", dir.path());
    expect_code(
        &restore(dir.path(), &settings, &archives[0].1, &["--no-snapshot"]),
        0,
    );
    let ends = Ends {
        old: state(&services, "gnbr_e2e_swap", dir.path()),
        new: new_state,
    };
    assert_ne!(ends.old.tables, ends.new.tables);
    assert!(ends.old.files.contains_key("media/old.txt"));

    let mut current = "old";
    // Restores the other archive killed at `fault`, then runs `gnbr check`
    // and checks the target; whether gnbr was killed (else it ran through).
    let mut settle = |fault: &str| -> bool {
        let (target, archive) = other(current);
        let output = restore_with_fault(dir.path(), &settings, archive, fault);
        if output.status.success() {
            current = target;
            return false;
        }
        current = settle_after_kill(&services, dir.path(), &settings, &ends, fault, &output);
        true
    };
    for fault in ["staged", "journal-write:3", "loaded"] {
        assert!(settle(fault), "{fault} was never reached");
    }
    let mut renames = 0;
    while settle(&format!("swap-rename:{}", renames + 1)) {
        renames += 1;
    }
    assert!(renames > 4, "the swap had {renames} renames");
    for fault in [
        "swapped",
        "before-commit",
        "commit-sent",
        "after-commit",
        "committed",
        "finishing",
    ] {
        assert!(settle(fault), "{fault} was never reached");
    }

    // From here the database refuses every commit: each restore fails
    // after its swap and undoes it. Killed at every step of that undo, the
    // next gnbr command finishes undoing it: the target is wholly as before.
    services.psql("gnbr_e2e_swap", REFUSE_COMMITS);
    let before = current;
    let (_, archive) = other(before);
    let undo = |fault: &str| -> bool {
        let output = restore_with_fault(dir.path(), &settings, archive, fault);
        if output.status.signal() == Some(9) {
            let settled =
                settle_after_kill(&services, dir.path(), &settings, &ends, fault, &output);
            assert_eq!(settled, before, "{fault}: the undo was not finished");
            return true;
        }
        let (_, stderr) = expect_code(&output, RUN_FAILED);
        assert!(
            stderr.contains("the database refused to commit the restore"),
            "{stderr}"
        );
        let after = state(&services, "gnbr_e2e_swap", dir.path());
        let expected = if before == "old" {
            &ends.old
        } else {
            &ends.new
        };
        assert!(
            &after == expected,
            "{fault}: the refused restore was not undone"
        );
        assert_eq!(leftovers(dir.path()), Vec::<String>::new(), "{fault}");
        false
    };
    assert!(undo("aborted"), "aborted was never reached");
    // The undo reverses every rename the swap did.
    for n in 1..=renames {
        assert!(
            undo(&format!("undo-rename:{n}")),
            "undo-rename:{n} was never reached"
        );
    }
    // The last run, not killed, checks the whole undo as well.
    let mut folders = 0;
    while undo(&format!("undo-mkdir:{}", folders + 1)) {
        folders += 1;
    }
    assert!(folders > 0, "the undo removed no folder it made");
    assert!(undo("undone"), "undone was never reached");
}

/// Unmounts a test mount when the test ends, however it ends.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    let id = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&id.stdout).trim() == "0"
}

/// Points the env file's MEDIA_ROOT and ASSETS_ROOT at other folders.
fn set_roots(dir: &Path, media: &Path, assets: &Path) {
    let env = std::fs::read_to_string(dir.join("gn.env")).unwrap();
    let env: String = env
        .lines()
        .map(|l| {
            if l.starts_with("MEDIA_ROOT=") {
                format!("MEDIA_ROOT={}\n", media.display())
            } else if l.starts_with("ASSETS_ROOT=") {
                format!("ASSETS_ROOT={}\n", assets.display())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(dir.join("gn.env"), env).unwrap();
}

#[test]
fn a_mounted_2770_media_root_with_assets_inside_is_restored_in_place() {
    // The suite runs as root (CI does); a run that cannot mount must fail, not pass silently.
    assert!(
        is_root(),
        "mounting a tmpfs needs root: run the suite as root"
    );
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = tagged_archive(dir.path(), "new");
    services.fresh_db("gnbr_e2e_mount");
    let settings = services.settings(dir.path(), "gnbr_e2e_mount");
    let media = dir.path().join("volume");
    std::fs::create_dir_all(&media).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(&media)
        .status()
        .unwrap();
    assert!(status.success(), "mount failed");
    let _mounted = Mounted(media.clone());
    let assets = media.join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    std::fs::write(media.join("old.txt"), "old").unwrap();
    std::fs::write(assets.join("old.bin"), "old").unwrap();
    for folder in [&media, &assets] {
        std::os::unix::fs::chown(folder, Some(33), Some(33)).unwrap();
        std::fs::set_permissions(folder, std::os::unix::fs::PermissionsExt::from_mode(0o2770))
            .unwrap();
    }
    set_roots(dir.path(), &media, &assets);
    let device = std::fs::metadata(&media).unwrap().dev();

    let (stdout, stderr) = expect_code(&restore(dir.path(), &settings, &archive, &["--json"]), 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let meta = std::fs::metadata(&media).unwrap();
    assert_eq!(meta.dev(), device, "still the mount: {stderr}");
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (33, 33, 0o2770)
    );
    let meta = std::fs::metadata(&assets).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (33, 33, 0o2770)
    );
    assert_eq!(
        std::fs::read_to_string(media.join("new.txt")).unwrap(),
        "new"
    );
    assert!(!media.join("old.txt").exists());
    assert_eq!(
        std::fs::read_to_string(assets.join("new/file.bin")).unwrap(),
        "new"
    );
    assert!(!assets.join("old.bin").exists());
    let document = std::fs::metadata(media.join("documents/new.pdf")).unwrap();
    assert_eq!(
        (document.uid(), document.gid(), document.mode() & 0o777),
        (33, 33, 0o660)
    );
    // What was replaced is kept inside each folder (no --no-snapshot).
    let kept: Vec<&str> = report["folders"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["previous"].as_str())
        .collect();
    assert!(
        kept.iter().any(|k| Path::new(k).join("old.txt").exists()),
        "{kept:?}"
    );
    assert!(
        kept.iter().any(|k| Path::new(k).join("old.bin").exists()),
        "{kept:?}"
    );
}

#[test]
fn a_symlinked_media_root_stays_a_link() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let archive = tagged_archive(dir.path(), "new");
    services.fresh_db("gnbr_e2e_link");
    let settings = services.settings(dir.path(), "gnbr_e2e_link");
    let real = dir.path().join("real-media");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::write(real.join("old.txt"), "old").unwrap();
    std::os::unix::fs::symlink(&real, dir.path().join("media")).unwrap();

    expect_code(
        &restore(dir.path(), &settings, &archive, &["--no-snapshot"]),
        0,
    );
    assert!(std::fs::symlink_metadata(dir.path().join("media"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(real.join("new.txt")).unwrap(),
        "new"
    );
    assert!(!real.join("old.txt").exists());
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}
