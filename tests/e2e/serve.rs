//! `gnbr serve` driven in headless Chromium against a real GeoNode 5.1.1:
//! log in as its superuser, add a backup, run it, see its Location, run the
//! restore from its plan, see it in the history; a wrong password and a
//! form without its CSRF token are refused.
//!
//! Screenshots of the pages go to `GNBR_SCREENSHOTS` (default
//! `target/e2e-screenshots`); the README's are made with
//! `GNBR_SCREENSHOTS=docs/screenshots`.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use assert_cmd::cargo::CommandCargoExt;

use crate::{browser::Browser, geonode::Services, support::repo};

/// How long a run against the real GeoNode may take (Django starts slowly
/// on a loaded machine).
const RUN_TIMEOUT: Duration = Duration::from_secs(900);

/// `gnbr serve` on a free loopback port; stopped on drop.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, settings: &Path) -> Self {
        let log = dir.join("serve.log");
        let mut child = Command::cargo_bin("gnbr")
            .expect("the gnbr binary is built (run the workspace's tests)")
            .current_dir(dir)
            .arg("-c")
            .arg(settings)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("GNBR_PLUGINS")
            .env_remove("GNBR_LOG")
            .env_remove("SOURCE_DATE_EPOCH")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("gnbr serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("http://127.0.0.1:"),
            "gnbr serve printed `{line}`:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Self {
            child,
            url: line.trim().trim_end_matches('/').to_owned(),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh GeoNode 5.1.1 database `db` with GeoNode's initial data and its
/// sample superuser `admin` (password `admin`), a file in MEDIA_ROOT, and
/// a settings.ini whose `[serve] state_dir` is under `dir`.
fn geonode(services: &Services, dir: &Path, db: &str) -> PathBuf {
    services.fresh_db(db);
    let seed = dir.join("seed.py");
    std::fs::write(
        &seed,
        "import django\ndjango.setup()\nfrom django.core.management import call_command\n\
         call_command('loaddata', 'initial_data', 'sample_admin', verbosity=0)\n",
    )
    .unwrap();
    services.python(dir, db, &seed);
    std::fs::create_dir_all(dir.join("media/thumbs")).unwrap();
    std::fs::write(dir.join("media/thumbs/ünïcødé.png"), b"\x89PNG\r\n").unwrap();
    let settings = services.settings(dir, db);
    let mut text = std::fs::read_to_string(&settings).unwrap();
    text.push_str("\n[serve]\nstate_dir = serve-state\n");
    std::fs::write(&settings, text).unwrap();
    settings
}

fn screenshots() -> PathBuf {
    std::env::var_os("GNBR_SCREENSHOTS").map_or_else(
        || repo().join("target/e2e-screenshots"),
        |dir| {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                repo().join(dir)
            }
        },
    )
}

fn log_in(browser: &Browser, server: &Server, password: &str) {
    browser.goto(&format!("{}/backups", server.url));
    assert!(browser.url().ends_with("/login"), "{}", browser.url());
    browser.fill("input[name=username]", "admin");
    browser.fill("input[name=password]", password);
    browser.click("form[action='/login'] button[type=submit]");
}

fn sha256sum(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(output.stdout).unwrap()[..64].to_owned()
}

#[test]
fn the_admin_page_backs_up_and_restores_a_real_geonode() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let db = "gnbr_e2e_serve";
    let settings = geonode(&services, dir.path(), db);
    let server = Server::start(dir.path(), &settings);
    let browser = Browser::start();
    let shots = screenshots();

    browser.goto(&format!("{}/login", server.url));
    browser.fill("input[name=username]", "admin");
    browser.screenshot(&shots, "login.png");
    log_in(&browser, &server, "admin");
    assert!(
        browser.url().ends_with("/backups"),
        "not logged in: {}\n{}",
        browser.text("body"),
        server.log()
    );

    // Add a backup.
    let folder = dir.path().join("backups");
    browser.click("a[href='/backups/new']");
    browser.fill("input[name=name]", "nightly");
    browser.fill(
        "textarea[name=description]",
        "Every night, before the editors start",
    );
    browser.fill("input[name=base_folder]", folder.to_str().unwrap());
    browser.tick("input[name=skip_geoserver]");
    browser.screenshot(&shots, "backup-form.png");
    browser.click("form button[type=submit].primary");
    assert!(
        browser.url().ends_with("/backups"),
        "{}",
        browser.text("body")
    );
    assert!(browser.text("#backups").contains("nightly"));
    assert_eq!(
        browser.text("tr[data-backup=nightly] .location"),
        "none yet"
    );

    // Run it: the confirmation names what is written, then the run's page follows it.
    browser.click("tr[data-backup=nightly] a.button[href$='/backup']");
    assert!(
        browser.text("main").contains("Nothing is overwritten"),
        "{}",
        browser.text("main")
    );
    browser.screenshot(&shots, "backup-confirm.png");
    browser.click("form[action$='/backup'] button[type=submit]");
    assert!(browser.url().contains("/runs/"), "{}", browser.url());
    // Live progress: the log grows while the run goes on.
    for _ in 0..240 {
        if browser.text("#status") != "running" || browser.text("#log").lines().count() >= 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    if browser.text("#status") == "running" {
        browser.screenshot(&shots, "run-progress.png");
    }
    browser.wait_for_text("#status", &["succeeded", "failed"], RUN_TIMEOUT);
    assert_eq!(
        browser.text("#status"),
        "succeeded",
        "{}\n{}",
        browser.text("main"),
        server.log()
    );
    let archive = PathBuf::from(browser.text("#location"));
    assert!(archive.starts_with(&folder), "{}", archive.display());
    assert!(archive.exists() && archive.extension().is_some_and(|e| e == "zip"));
    browser.screenshot(&shots, "backup-done.png");

    // The Location is on the list.
    browser.click("nav a[href='/backups']");
    assert_eq!(
        browser.text("tr[data-backup=nightly] .location"),
        archive.display().to_string()
    );
    assert!(browser
        .text("tr[data-backup=nightly] .result")
        .contains("backup succeeded"));
    browser.screenshot(&shots, "backups.png");

    // Run the Restore: its plan first, with what it overwrites and the checksum.
    browser.click("tr[data-backup=nightly] form[action$='/restore'] button");
    browser.wait_for_text("#status", &["succeeded", "failed"], RUN_TIMEOUT);
    assert_eq!(
        browser.text("#status"),
        "succeeded",
        "{}\n{}",
        browser.text("main"),
        server.log()
    );
    let confirm = browser.text("#confirm");
    let sha256 = sha256sum(&archive);
    assert_eq!(browser.text("#sha256"), sha256);
    for expected in [
        format!("database `{db}`"),
        format!("MEDIA_ROOT {}", dir.path().join("media").display()),
        "GeoNode 5.1.1 → 5.1.1".to_owned(),
        "none needed".to_owned(),
        "snapshot of the database".to_owned(),
    ] {
        assert!(
            confirm.contains(&expected),
            "`{expected}` not in:\n{confirm}"
        );
    }
    browser.screenshot(&shots, "restore-confirm.png");
    browser.click("form[action$='/restore'] button.danger");
    assert!(browser.url().contains("/runs/"), "{}", browser.url());
    browser.wait_for_text("#status", &["succeeded", "failed"], RUN_TIMEOUT);
    assert_eq!(
        browser.text("#status"),
        "succeeded",
        "{}\n{}",
        browser.text("main"),
        server.log()
    );
    assert!(browser.text("#log").contains("snapshot of"));
    browser.screenshot(&shots, "restore-done.png");

    // The history of restores: archive, checksum, time, result.
    browser.click("nav a[href='/restores']");
    let history = browser.text("#history tbody tr");
    assert!(
        history.contains(&archive.display().to_string()),
        "{history}"
    );
    assert!(history.contains("succeeded"), "{history}");
    assert_eq!(browser.text("#history .sha"), sha256);
    browser.screenshot(&shots, "restores.png");

    // The target recorded it too.
    let recorded = services.psql(db, "SELECT sha256 FROM gnbr_restore_log");
    assert_eq!(recorded.trim(), sha256);
    let restored = std::fs::read(dir.path().join("media/thumbs/ünïcødé.png")).unwrap();
    assert_eq!(restored, b"\x89PNG\r\n");
}

#[test]
fn wrong_passwords_and_forms_without_their_token_are_refused() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let settings = geonode(&services, dir.path(), "gnbr_e2e_serve_refusals");
    let server = Server::start(dir.path(), &settings);
    let browser = Browser::start();

    log_in(&browser, &server, "not the password");
    assert!(browser.url().ends_with("/login"), "{}", browser.url());
    assert!(
        browser
            .text(".problem")
            .contains("Wrong username or password, or not a GeoNode superuser"),
        "{}\n{}",
        browser.text("body"),
        server.log()
    );
    browser.screenshot(&screenshots(), "login-refused.png");
    browser.goto(&format!("{}/backups", server.url));
    assert!(
        browser.url().ends_with("/login"),
        "a refused login has no session"
    );

    log_in(&browser, &server, "admin");
    assert!(
        browser.url().ends_with("/backups"),
        "{}",
        browser.text("body")
    );

    // The add form without its token: 403, nothing added.
    browser.click("a[href='/backups/new']");
    browser.fill("input[name=name]", "sneaky");
    browser.fill("input[name=base_folder]", "/var/tmp/sneaky");
    browser.execute(
        "document.querySelector('form[action=\"/backups/new\"] input[name=csrf]').remove()",
    );
    browser.click("form button[type=submit].primary");
    assert_eq!(browser.text("h1"), "Forbidden", "{}", browser.text("body"));
    assert!(browser.text("main").contains("no valid security token"));
    browser.goto(&format!("{}/backups", server.url));
    assert!(
        browser.text("main").contains("No backups yet"),
        "{}",
        browser.text("main")
    );

    // Logging out without the token is refused too; with it, the session ends.
    browser.execute("document.querySelector('form.logout input[name=csrf]').value = 'x'");
    browser.click("form.logout button");
    assert_eq!(browser.text("h1"), "Forbidden");
    browser.goto(&format!("{}/backups", server.url));
    browser.click("form.logout button");
    assert!(browser.url().ends_with("/login"), "{}", browser.url());
    browser.goto(&format!("{}/backups", server.url));
    assert!(browser.url().ends_with("/login"), "logged out");
}
