//! `gnbr serve` driven in headless Chromium against a real GeoNode 5.1.1:
//! log in as its superuser, add a backup, run it, see its Location, run the
//! restore from its plan, see it in the history; a wrong password and a
//! form without its CSRF token are refused. Superusers with argon2 and
//! GeoNode's wrapped SHA1 hashes log in; failures from one address do not
//! keep the admin out; a demoted superuser's session ends; an unknown Host
//! is refused; behind a TLS proxy cookies are Secure. A confirmed restore
//! runs exactly its plan, or is refused when the definition or the archive
//! changed since; a backup with warnings says so. A backup and a restore
//! cancelled on their page (or by stopping the server) leave no archive, no
//! temporary file and the target as it was. A definition whose base folder
//! is a prefix of the test S3 server's bucket backs up into it, lists its
//! archives there and restores one from it; an encrypted definition's
//! archive restores with gnbr serve's identity.
//!
//! Every page the tests open fits a 1280 px window. Screenshots of the
//! pages, 1280 and 1920 px wide, go to `GNBR_SCREENSHOTS` (default
//! `target/e2e-screenshots`); `scripts/readme-screenshots.sh` copies the
//! README's into `docs/screenshots`.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{IpAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use assert_cmd::cargo::CommandCargoExt;

use crate::{
    browser::Browser,
    bucket::TestBucket,
    geonode::Services,
    support::{age_tool, repo},
};

/// How long a run against the real GeoNode may take (Django starts slowly
/// on a loaded machine).
const RUN_TIMEOUT: Duration = Duration::from_secs(900);

/// How a run's page says it ended.
const RUN_ENDS: &[&str] = &["succeeded", "succeeded with warnings", "failed"];
/// How a plan's page says it ended.
const PLAN_ENDS: &[&str] = &["planned", "planned, with warnings", "failed"];
/// How a cancelled run's page may say it ended.
const CANCEL_ENDS: &[&str] = &["cancelled", "succeeded", "failed"];

/// `gnbr serve` on a free loopback port; stopped on drop.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, settings: &Path) -> Self {
        Self::start_with(dir, settings, &[])
    }

    /// A server with `env` added to its environment.
    fn start_with(dir: &Path, settings: &Path, env: &[(&str, &Path)]) -> Self {
        let log = dir.join("serve.log");
        let mut child = Command::cargo_bin("gnbr")
            .expect("the gnbr binary is built (run the workspace's tests)")
            .current_dir(dir)
            .arg("-c")
            .arg(settings)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("GNBR_PLUGINS")
            // Info: the log tells when the login helper starts.
            .env("GNBR_LOG", "info")
            .env_remove("SOURCE_DATE_EPOCH")
            .envs(env.iter().copied())
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

    /// Stops it as a service manager does (SIGTERM); returns its log once it ended.
    fn stop(mut self) -> String {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let ended = self.child.wait().unwrap();
        assert!(ended.success(), "{ended:?}\n{}", self.log());
        self.log()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh GeoNode 5.1.1 database `db` with GeoNode's initial data and its
/// sample superuser `admin` (password `admin`), a file in MEDIA_ROOT, an
/// empty ASSETS_ROOT, and a settings.ini whose `[serve] state_dir` is under `dir`.
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
    std::fs::create_dir_all(dir.join("assets")).unwrap();
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
    browser.screenshot(&shots, "login");
    // Sent, the login button says so and cannot be pressed again (this form is kept from leaving).
    browser.fill("input[name=password]", "admin");
    browser.execute(
        "document.querySelector('form[action=\"/login\"]').addEventListener('submit', e => e.preventDefault())",
    );
    browser.tick("form[action='/login'] button[type=submit]");
    browser.wait_for_text(
        "form[action='/login'] button[disabled]",
        &["Signing in…"],
        Duration::from_secs(10),
    );
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
    browser.screenshot(&shots, "backup-form");
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
    browser.screenshot(&shots, "backup-confirm");
    browser.click("form[action$='/backup'] button[type=submit]");
    assert!(browser.url().contains("/runs/"), "{}", browser.url());
    browser.wait_for_text("#status", RUN_ENDS, RUN_TIMEOUT);
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
    browser.screenshot(&shots, "backup-done");

    // The Location is on the list.
    browser.click("nav a[href='/backups']");
    assert_eq!(
        browser.text("tr[data-backup=nightly] .location"),
        archive.display().to_string()
    );
    assert!(browser
        .text("tr[data-backup=nightly] .result")
        .contains("backup succeeded"));
    // Times in UTC, with the browser's own beside them.
    let date = browser.text("tr[data-backup=nightly] .date");
    assert!(date.contains(" UTC\n(") && date.ends_with(')'), "{date}");
    browser.screenshot(&shots, "backups");

    // Run the Restore: its plan first, with what it overwrites and the checksum.
    browser.click("tr[data-backup=nightly] form[action$='/restore'] button");
    browser.wait_for_text("#status", PLAN_ENDS, RUN_TIMEOUT);
    assert_eq!(
        browser.text("#status"),
        "planned",
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
    browser.screenshot(&shots, "restore-confirm");
    browser.click("form[action$='/restore'] button.danger");
    assert!(browser.url().contains("/runs/"), "{}", browser.url());
    browser.wait_for_text("#status", RUN_ENDS, RUN_TIMEOUT);
    assert_eq!(
        browser.text("#status"),
        "succeeded",
        "{}\n{}",
        browser.text("main"),
        server.log()
    );
    assert!(browser.text("#log").contains("snapshot of"));
    browser.screenshot(&shots, "restore-done");

    // The history of restores: archive, checksum, time, result.
    browser.click("nav a[href='/restores']");
    let history = browser.text("#history tbody tr");
    assert!(
        history.contains(&archive.display().to_string()),
        "{history}"
    );
    assert!(history.contains("succeeded"), "{history}");
    assert_eq!(browser.text("#history .sha"), sha256);
    browser.screenshot(&shots, "restores");

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
    browser.screenshot(&screenshots(), "login-refused");
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

/// Superusers besides `admin`, with hashes made by Django 5.2 in GeoNode
/// 5.1.1's virtualenv (host/src/web/password.rs has them with the rest):
/// `argon2` (Django's default cost) of [`MODERN_PASSWORD`], GeoNode 5.1's
/// `pbkdf2sha1_wrapped_sha1` of `admin` (a million rounds, as its
/// migration `people.0038` and gn44_to_51 write it), and an `md5` one
/// gnbr does not check.
const MORE_SUPERUSERS: &[(&str, &str)] = &[
    ("modern", "argon2$argon2id$v=19$m=102400,t=2,p=8$WlBZU0tWSXV0Y0VjMXNka3AzYzc2ZA$iYASPT5VkYxp1n0u57g8eM2PQkG7KWTbjcT1AmPVD9k"),
    ("wrapped", "pbkdf2sha1_wrapped_sha1$1000000$gn44salt$TkJHazwix0dfMDk8Zf6pyhlK1sU="),
    ("legacy", "md5$salt$f7dc1ed4a01ce2dc8a8e3f9e9e0d9b31"),
];
const MODERN_PASSWORD: &str = "lètmein ünïcødé";

/// Adds [`MORE_SUPERUSERS`] to `db` (GeoNode's own model, the hashes as they are).
/// How many archives the Archives page lists.
fn archive_rows(browser: &Browser) -> u64 {
    browser
        .execute("return document.querySelectorAll('#archives tbody tr').length")
        .as_u64()
        .unwrap_or_default()
}

fn add_superusers(services: &Services, dir: &Path, db: &str) {
    let script = dir.join("superusers.py");
    let users: Vec<String> = MORE_SUPERUSERS
        .iter()
        .map(|(name, hash)| format!("({name:?}, {hash:?})"))
        .collect();
    std::fs::write(
        &script,
        format!(
            "import django\ndjango.setup()\nfrom django.contrib.auth import get_user_model\n\
             for name, hash in [{}]:\n    get_user_model().objects.create(username=name, password=hash, \
             email=name + '@example.org', is_superuser=True, is_staff=True, is_active=True)\n",
            users.join(", ")
        ),
    )
    .unwrap();
    services.python(dir, db, &script);
}

/// A visitor without a browser, from a loopback address of its own (Linux
/// answers all of 127.0.0.0/8): what an attacker's script would do.
struct Visitor {
    client: reqwest::blocking::Client,
    url: String,
    /// The Host it sends (as a proxy in front passes the public name on).
    host: Option<String>,
}

/// A response: status, `Set-Cookie` values, `Retry-After`, body.
struct Answer {
    status: u16,
    cookies: Vec<String>,
    retry_after: Option<String>,
    body: String,
}

impl Visitor {
    fn new(server: &Server, source: [u8; 4]) -> Self {
        Self {
            client: reqwest::blocking::Client::builder()
                .local_address(IpAddr::from(source))
                .redirect(reqwest::redirect::Policy::none())
                .timeout(RUN_TIMEOUT)
                .build()
                .unwrap(),
            url: server.url.clone(),
            host: None,
        }
    }

    /// A visitor whose requests come through a proxy in front: the proxy's
    /// address, the public name as Host.
    fn through_proxy(server: &Server, host: &str) -> Self {
        Self {
            host: Some(host.to_owned()),
            ..Self::new(server, [127, 0, 0, 1])
        }
    }

    fn get(&self, path: &str) -> reqwest::blocking::RequestBuilder {
        self.with_host(self.client.get(format!("{}{path}", self.url)))
    }

    fn post(&self, path: &str) -> reqwest::blocking::RequestBuilder {
        self.with_host(self.client.post(format!("{}{path}", self.url)))
    }

    fn with_host(
        &self,
        request: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        match &self.host {
            Some(host) => request.header(reqwest::header::HOST, host),
            None => request,
        }
    }

    fn answer(response: reqwest::blocking::Response) -> Answer {
        let header = |name| {
            response
                .headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        let cookies = header(reqwest::header::SET_COOKIE);
        let retry_after = header(reqwest::header::RETRY_AFTER).pop();
        Answer {
            status: response.status().as_u16(),
            cookies,
            retry_after,
            body: response.text().unwrap(),
        }
    }

    /// Opens the login form and sends it, with `origin` as its `Origin` when given.
    fn log_in_from(&self, user: &str, password: &str, origin: Option<&str>) -> Answer {
        let form = Self::answer(self.get("/login").send().unwrap());
        assert_eq!(form.status, 200, "{}", form.body);
        let login_cookie = form
            .cookies
            .iter()
            .find(|c| c.starts_with("gnbr_login="))
            .and_then(|c| c.split(';').next())
            .unwrap()
            .to_owned();
        let at = form.body.find(r#"name="csrf" value=""#).unwrap() + 19;
        let token = &form.body[at..at + 64];
        let mut request = self
            .post("/login")
            .header(reqwest::header::COOKIE, login_cookie)
            .form(&[("csrf", token), ("username", user), ("password", password)]);
        if let Some(origin) = origin {
            request = request.header(reqwest::header::ORIGIN, origin);
        }
        Self::answer(request.send().unwrap())
    }

    fn log_in(&self, user: &str, password: &str) -> Answer {
        self.log_in_from(user, password, None)
    }
}

impl Answer {
    fn session(&self) -> Option<&String> {
        self.cookies.iter().find(|c| c.starts_with("gnbr_session="))
    }
}

/// The status line of a GET of `path` with `host` as its Host header.
fn status_for_host(server: &Server, host: &str) -> String {
    let address = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /login HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

/// `settings` with `lines` added to its `[serve]` section, as `name` beside it.
fn with_serve_lines(settings: &Path, name: &str, lines: &str) -> PathBuf {
    let text = std::fs::read_to_string(settings)
        .unwrap()
        .replace("[serve]\n", &format!("[serve]\n{lines}"));
    let path = settings.with_file_name(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn superusers_with_every_hasher_log_in_and_unknown_hosts_are_refused() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let db = "gnbr_e2e_serve_hashers";
    let settings = geonode(&services, dir.path(), db);
    add_superusers(&services, dir.path(), db);
    let server = Server::start(dir.path(), &settings);
    let visitor = Visitor::new(&server, [127, 0, 0, 1]);

    for (user, password) in [
        ("modern", MODERN_PASSWORD),
        ("wrapped", "admin"),
        ("admin", "admin"),
    ] {
        let answer = visitor.log_in(user, password);
        assert_eq!(
            answer.status,
            303,
            "{user}: {}\n{}",
            answer.body,
            server.log()
        );
        assert!(answer.session().is_some(), "{user}");
    }
    let refused = visitor.log_in("wrapped", "Admin");
    assert_eq!(refused.status, 401, "{}", refused.body);
    // A hash gnbr does not check: the visitor sees a wrong password; the log tells the admin.
    let legacy = visitor.log_in("legacy", "admin");
    assert_eq!(legacy.status, 401, "{}", legacy.body);
    assert!(
        legacy.body.contains("Wrong username or password"),
        "{}",
        legacy.body
    );
    assert!(!legacy.body.contains("md5"), "{}", legacy.body);
    assert!(
        server
            .log()
            .contains("hashed with `md5`, which gnbr does not check"),
        "{}",
        server.log()
    );
    // One Django for all of them, started by the first.
    let starts = server
        .log()
        .matches("started gnbr's Django helper for logins")
        .count();
    assert_eq!(starts, 1, "{}", server.log());

    // A name pointed at this machine by someone else (DNS rebinding) gets 400; its own names do not.
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    assert!(status_for_host(&server, &format!("rebind.attacker.example:{port}")).contains(" 400 "));
    assert!(status_for_host(&server, &format!("localhost:{port}")).contains(" 200 "));
    assert!(
        server
            .log()
            .contains("refused a request for Host \"rebind.attacker.example"),
        "{}",
        server.log()
    );
    drop(server);

    // Behind a TLS proxy: its origin only, Secure cookies, its forms only.
    let proxied = with_serve_lines(
        &settings,
        "proxied.ini",
        "public_origin = https://gnbr.example.org\nallowed_hosts = 127.0.0.1\ntrusted_proxies = 127.0.0.1\n",
    );
    let server = Server::start(dir.path(), &proxied);
    let visitor = Visitor::through_proxy(&server, "gnbr.example.org");
    assert!(status_for_host(&server, &format!("localhost:{port}")).contains(" 400 "));
    let elsewhere = visitor.log_in_from("admin", "admin", Some("https://rebind.attacker.example"));
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.body);
    let answer = visitor.log_in_from("admin", "admin", Some("https://gnbr.example.org"));
    assert_eq!(answer.status, 303, "{}\n{}", answer.body, server.log());
    let session = answer.session().unwrap();
    assert!(session.contains("; Secure"), "{session}");
}

#[test]
fn failures_from_one_address_do_not_keep_the_admin_out() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let settings = geonode(&services, dir.path(), "gnbr_e2e_serve_throttle");
    let server = Server::start(dir.path(), &settings);

    // Someone else on the machine (127.0.0.2) guesses the admin's password.
    let attacker = Visitor::new(&server, [127, 0, 0, 2]);
    for attempt in 1..=5 {
        let started = Instant::now();
        let answer = attacker.log_in("admin", &format!("guess {attempt}"));
        assert_eq!(answer.status, 401, "{}\n{}", answer.body, server.log());
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "failures take their time"
        );
    }
    let held = attacker.log_in("admin", "admin");
    assert_eq!(held.status, 429, "{}", held.body);
    assert!(held.retry_after.is_some());
    assert!(
        held.body
            .contains("Too many failed logins from your address"),
        "{}",
        held.body
    );
    assert!(held.session().is_none(), "the right password waits too");

    // The admin, from their own browser, is not locked out.
    let browser = Browser::start();
    admin_logs_in(&browser, &server);
}

#[test]
fn an_unreachable_database_is_a_503_that_names_no_host() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let settings = geonode(&services, dir.path(), "gnbr_e2e_serve_unreachable");
    let env = dir.path().join("gn.env");
    let text = std::fs::read_to_string(&env).unwrap();
    let port = services.pg_port().to_owned();
    std::fs::write(&env, text.replace(&format!(":{port}/"), ":1/")).unwrap();
    let server = Server::start(dir.path(), &settings);
    let answer = Visitor::new(&server, [127, 0, 0, 1]).log_in("admin", "admin");
    assert_eq!(answer.status, 503, "{}\n{}", answer.body, server.log());
    assert!(
        answer.body.contains("Logins cannot be checked right now"),
        "{}",
        answer.body
    );
    for detail in [services.pg_host(), "port 1", ":1/"] {
        assert!(
            !answer.body.contains(detail),
            "`{detail}` shown:\n{}",
            answer.body
        );
    }
    assert!(
        server.log().contains("port 1"),
        "the log names it:\n{}",
        server.log()
    );
}

#[test]
fn a_demoted_superusers_session_ends() {
    let db = "gnbr_e2e_serve_demoted";
    let (services, _dir, server, browser) = logged_in_admin(db);

    services.psql(
        db,
        "UPDATE people_profile SET is_superuser = false WHERE username = 'admin'",
    );
    browser.click("a[href='/backups/new']");
    browser.fill("input[name=name]", "after demotion");
    browser.fill("input[name=base_folder]", "/var/tmp/gnbr-demoted");
    browser.click("form button[type=submit].primary");
    assert!(
        browser.url().ends_with("/login"),
        "{}\n{}",
        browser.text("body"),
        server.log()
    );
    assert!(
        server
            .log()
            .contains("`admin` is no longer an active superuser"),
        "{}",
        server.log()
    );
    browser.goto(&format!("{}/backups", server.url));
    assert!(browser.url().ends_with("/login"), "the session ended");

    // Made a superuser again, the admin logs in again; nothing was added meanwhile.
    services.psql(
        db,
        "UPDATE people_profile SET is_superuser = true WHERE username = 'admin'",
    );
    log_in(&browser, &server, "admin");
    assert!(
        browser.url().ends_with("/backups"),
        "{}",
        browser.text("body")
    );
    assert!(
        browser.text("main").contains("No backups yet"),
        "{}",
        browser.text("main")
    );
}

/// Opens the run page the browser was sent to and waits for its end among `ends`.
fn run_ends(browser: &Browser, server: &Server, ends: &[&str]) -> String {
    assert!(browser.url().contains("/runs/"), "{}", browser.url());
    let status = browser.wait_for_text("#status", ends, RUN_TIMEOUT);
    assert_ne!(
        status,
        "failed",
        "{}\n{}",
        browser.text("main"),
        server.log()
    );
    status
}

/// Logs the browser in as `admin`, which must get in.
fn admin_logs_in(browser: &Browser, server: &Server) {
    log_in(browser, server, "admin");
    assert!(
        browser.url().ends_with("/backups"),
        "{}\n{}",
        browser.text("body"),
        server.log()
    );
}

/// A fresh GeoNode `db`, its page served and the browser logged in as `admin`.
fn logged_in_admin(db: &str) -> (Services, tempfile::TempDir, Server, Browser) {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let settings = geonode(&services, dir.path(), db);
    let server = Server::start(dir.path(), &settings);
    let browser = Browser::start();
    admin_logs_in(&browser, &server);
    (services, dir, server, browser)
}

/// Adds a definition named `name` writing into `folder`.
fn add_definition(
    browser: &Browser,
    server: &Server,
    name: &str,
    folder: &Path,
    skip_geoserver: bool,
) {
    browser.goto(&format!("{}/backups/new", server.url));
    browser.fill("input[name=name]", name);
    browser.fill("input[name=base_folder]", folder.to_str().unwrap());
    save_definition(browser, skip_geoserver);
}

/// Sends the definition form open in the browser, "skip GeoServer" as `skip_geoserver`.
fn save_definition(browser: &Browser, skip_geoserver: bool) {
    let ticked =
        browser.execute("return document.querySelector('input[name=skip_geoserver]').checked");
    if ticked.as_bool() != Some(skip_geoserver) {
        browser.tick("input[name=skip_geoserver]");
    }
    browser.click("form button[type=submit].primary");
    assert!(
        browser.url().ends_with("/backups"),
        "{}",
        browser.text("body")
    );
}

/// Runs the backup of definition `name` from the list; returns its status.
fn back_up(browser: &Browser, server: &Server, name: &str) -> String {
    browser.goto(&format!("{}/backups", server.url));
    browser.click(&format!("tr[data-backup={name}] a.button[href$='/backup']"));
    browser.click("form[action$='/backup'] button[type=submit]");
    run_ends(browser, server, RUN_ENDS)
}

#[test]
fn a_backup_with_warnings_says_so_on_its_page_and_in_the_lists() {
    let (_services, dir, server, browser) = logged_in_admin("gnbr_e2e_serve_warnings");

    // settings.ini names GeoServer's data directory `gs_data`, which is not there.
    add_definition(
        &browser,
        &server,
        "warned",
        &dir.path().join("backups"),
        false,
    );
    assert_eq!(
        back_up(&browser, &server, "warned"),
        "succeeded with warnings"
    );
    assert!(
        browser
            .text("#status.succeeded_with_warnings")
            .contains("with warnings"),
        "its own colour"
    );
    let warnings = browser.text("#warnings");
    assert!(
        warnings.contains("GeoServer's data directory") && warnings.contains("is not there"),
        "{warnings}"
    );
    assert!(browser.text("#location").ends_with(".zip"));
    browser.screenshot(&screenshots(), "run-warnings");

    browser.click("nav a[href='/runs']");
    let row = browser.text("#history tbody tr");
    assert!(row.contains("succeeded with warnings"), "{row}");
    assert!(row.contains("GeoServer's data directory"), "{row}");
    assert!(browser
        .text("#history .status.succeeded_with_warnings")
        .contains("with warnings"));
    browser.click("nav a[href='/backups']");
    assert!(browser
        .text("tr[data-backup=warned] .result .status.succeeded_with_warnings")
        .contains("backup succeeded with warnings"));
}

/// Confirms the plan on `plan_url`'s page; returns the page's main text.
fn confirm(browser: &Browser, plan_url: &str) -> String {
    browser.goto(plan_url);
    browser.click("form[action$='/restore'] button.danger");
    browser.text("main")
}

#[test]
fn a_confirmed_restore_runs_exactly_its_plan_or_nothing() {
    let db = "gnbr_e2e_serve_frozen";
    let (services, dir, server, browser) = logged_in_admin(db);
    add_definition(
        &browser,
        &server,
        "frozen",
        &dir.path().join("backups"),
        true,
    );
    assert_eq!(back_up(&browser, &server, "frozen"), "succeeded");
    let archive = PathBuf::from(browser.text("#location"));

    // The plan, with GeoServer left out.
    browser.goto(&format!("{}/backups", server.url));
    browser.click("tr[data-backup=frozen] form[action$='/restore'] button");
    assert_eq!(run_ends(&browser, &server, PLAN_ENDS), "planned");
    let plan_url = browser.url();
    assert!(
        browser.text("#command").ends_with("-f --skip-geoserver"),
        "{}",
        browser.text("#command")
    );
    let restores_now = || {
        browser.goto(&format!("{}/restores", server.url));
        browser.text("main")
    };

    // The definition edited since: refused, naming the change; nothing ran.
    let edit = |tick: bool| {
        browser.goto(&format!("{}/backups", server.url));
        browser.click("tr[data-backup=frozen] a[href$='/edit']");
        save_definition(&browser, tick);
    };
    edit(false);
    let refused = confirm(&browser, &plan_url);
    for expected in [
        "no longer holds, so nothing was started",
        "the restore asked changed since the plan",
        "-f --skip-geoserver`, now `",
        "plan again",
    ] {
        assert!(
            refused.contains(expected),
            "`{expected}` not in:\n{refused}"
        );
    }
    browser.screenshot(&screenshots(), "restore-refused");
    assert!(restores_now().contains("No restores yet"), "nothing ran");

    // The archive's bytes replaced since: refused with both checksums.
    edit(true);
    let bytes = std::fs::read(&archive).unwrap();
    let planned = sha256sum(&archive);
    let mut other = bytes.clone();
    other.extend_from_slice(b"appended since the plan");
    std::fs::write(&archive, &other).unwrap();
    let refused = confirm(&browser, &plan_url);
    let now = sha256sum(&archive);
    let expected = format!(
        "the archive {} changed since the plan: sha256 {planned}, now {now}",
        archive.display()
    );
    assert!(
        refused.contains(&expected),
        "`{expected}` not in:\n{refused}"
    );
    assert!(restores_now().contains("No restores yet"), "nothing ran");

    // Unchanged: the restore runs, with the plan's flags.
    std::fs::write(&archive, &bytes).unwrap();
    confirm(&browser, &plan_url);
    assert_eq!(run_ends(&browser, &server, RUN_ENDS), "succeeded");
    let log = browser.text("#log");
    let first = log.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("running: gnbr ")
            && first.ends_with(&format!(
                "restore --backup-file {} -f --skip-geoserver",
                archive.display()
            )),
        "{log}"
    );
    let recorded = services.psql(db, "SELECT sha256 FROM gnbr_restore_log");
    assert_eq!(recorded.trim(), planned);
}

#[test]
fn any_archive_of_a_definition_is_planned_restored_downloaded_or_deleted() {
    let db = "gnbr_e2e_serve_archives";
    let (services, dir, server, browser) = logged_in_admin(db);
    let folder = dir.path().join("backups");
    add_definition(&browser, &server, "kept", &folder, true);
    assert_eq!(back_up(&browser, &server, "kept"), "succeeded");
    let older = PathBuf::from(browser.text("#location"));
    assert_eq!(back_up(&browser, &server, "kept"), "succeeded");
    let newer = PathBuf::from(browser.text("#location"));
    assert_ne!(older, newer);
    std::fs::write(folder.join("notes.txt"), "not gnbr's").unwrap();
    let name = |path: &Path| path.file_name().unwrap().to_str().unwrap().to_owned();

    // The list: both archives, with their source version and checksum state.
    browser.goto(&format!("{}/backups", server.url));
    browser.click("tr[data-backup=kept] a.archives");
    let archives_path = browser.url().replace(&server.url, "");
    assert_eq!(
        archive_rows(&browser),
        2,
        "{}",
        browser.text("#archives tbody")
    );
    let older_row = format!("tr[data-archive='{}']", name(&older));
    assert_eq!(browser.text(&format!("{older_row} .version")), "5.1.1");
    assert!(browser
        .text(&format!("{older_row} .checksum"))
        .contains(".md5 sidecar"));
    browser.screenshot(&screenshots(), "archives");

    // The older one (not the Location) planned, then restored as planned.
    browser.click(&format!(
        "{older_row} form[action$='/archives/plan'] button"
    ));
    assert_eq!(run_ends(&browser, &server, PLAN_ENDS), "planned");
    assert_eq!(browser.text("#sha256"), sha256sum(&older));
    browser.click("form[action$='/restore'] button.danger");
    assert_eq!(run_ends(&browser, &server, RUN_ENDS), "succeeded");
    let recorded = services.psql(db, "SELECT sha256 FROM gnbr_restore_log");
    assert_eq!(recorded.trim(), sha256sum(&older));

    // Downloads: the archive byte for byte, the run's log as text.
    let restore_run = browser.url().replace(&server.url, "");
    let visitor = Visitor::new(&server, [127, 0, 0, 1]);
    let login = visitor.log_in("admin", "admin");
    let cookie = login
        .session()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let fetch = |path: &str| {
        let response = visitor
            .get(path)
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let disposition = response.headers()[reqwest::header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .to_owned();
        (disposition, response.bytes().unwrap().to_vec())
    };
    let (disposition, bytes) = fetch(&format!("{archives_path}/download?name={}", name(&newer)));
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"{}\"", name(&newer))),
        "{disposition}"
    );
    assert_eq!(bytes, std::fs::read(&newer).unwrap());
    let (disposition, log) = fetch(&format!("{restore_run}/log.txt"));
    assert!(disposition.contains("-restore.log"), "{disposition}");
    let log = String::from_utf8(log).unwrap();
    assert!(log.starts_with("running: gnbr "), "{log}");
    assert!(log.contains(&name(&older)), "{log}");

    // Deleting asks first, naming exactly the archive and its sidecars; nothing else goes.
    browser.goto(&format!("{}{archives_path}", server.url));
    browser.click(&format!("tr[data-archive='{}'] a.delete", name(&newer)));
    let files = browser.text("#files");
    let sidecars = ["zip", "md5", "ini"].map(|ext| newer.with_extension(ext));
    for file in &sidecars {
        assert!(files.contains(&file.display().to_string()), "{files}");
    }
    assert_eq!(files.lines().count(), 3, "{files}");
    browser.click("form[action$='/archives/delete'] button.danger");
    assert!(
        browser.url().ends_with("/archives"),
        "{}",
        browser.text("body")
    );
    for file in &sidecars {
        assert!(!file.exists(), "{}", file.display());
    }
    assert!(older.exists() && folder.join("notes.txt").exists());
    assert_eq!(
        archive_rows(&browser),
        1,
        "{}",
        browser.text("#archives tbody")
    );
    browser.click("nav a[href='/backups']");
    assert_eq!(browser.text("tr[data-backup=kept] .location"), "none yet");
}

/// Waits until the server, started with `GNBR_FAULT=pause:<point>` in
/// `dir`, waits at `point`.
fn paused_at(server: &Server, dir: &Path, point: &str) {
    let marker = dir.join(format!("{point}.paused"));
    let deadline = Instant::now() + RUN_TIMEOUT;
    while !marker.exists() {
        assert!(
            Instant::now() < deadline,
            "never reached {point}:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::remove_file(marker).unwrap();
}

/// Presses Cancel on the run page open in the browser (its screenshot as
/// `shot`) and confirms it; returns how the run ended.
fn cancel_run(browser: &Browser, server: &Server, shot: &str) -> String {
    browser.tick("#cancel summary");
    browser.screenshot(&screenshots(), shot);
    browser.click("#cancel button.danger");
    assert!(browser.url().contains("/runs/"), "{}", browser.text("body"));
    browser.wait_for_text("#status", CANCEL_ENDS, RUN_TIMEOUT);
    let status = browser.text("#status");
    assert_eq!(
        status,
        "cancelled",
        "{}\n{}",
        browser.text("main"),
        server.log()
    );
    status
}

/// The names in `dir`, sorted (none when it is not there).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// gnbr's temporary folders in `dir` (`gnbr-*`), sorted.
fn gnbr_names(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|name| name.starts_with("gnbr-"))
        .collect()
}

/// Every file and link under `dir`, by its relative path, with its content
/// (a link: its target).
fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            let relative = e.path().strip_prefix(dir).unwrap().display().to_string();
            let content = if e.file_type().is_symlink() {
                std::fs::read_link(e.path())
                    .unwrap()
                    .display()
                    .to_string()
                    .into_bytes()
            } else {
                std::fs::read(e.path()).unwrap()
            };
            (relative, content)
        })
        .collect()
}

/// gnbr's hidden working files under `dir` (staging folders, journals, a
/// swap's previous content), two levels down.
fn hidden_gnbr_files(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .max_depth(2)
        .into_iter()
        .map(Result::unwrap)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.') && name.contains("gnbr"))
        .collect()
}

#[test]
fn a_cancelled_backup_leaves_no_archive_and_no_temporary_files() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let settings = geonode(&services, dir.path(), "gnbr_e2e_serve_cancel_backup");
    let temp = dir.path().join("tmp");
    std::fs::create_dir(&temp).unwrap();
    // Paused once the second fixture is in the archive, its dump going on.
    let pause = Path::new("pause:fixture-dumped:2");
    let env = [("GNBR_FAULT", pause), ("TMPDIR", temp.as_path())];
    let server = Server::start_with(dir.path(), &settings, &env);
    let browser = Browser::start();
    admin_logs_in(&browser, &server);
    let folder = dir.path().join("backups");
    add_definition(&browser, &server, "cancelled", &folder, true);
    // The login helper's folder, there while the server runs.
    let serving = gnbr_names(&temp);

    // Paused while the fixtures are dumped: its temporary file and the
    // dump's folder are there; Cancel removes them.
    browser.goto(&format!("{}/backups", server.url));
    browser.click("tr[data-backup=cancelled] a.button[href$='/backup']");
    browser.click("form[action$='/backup'] button[type=submit]");
    paused_at(&server, dir.path(), "fixture-dumped");
    let during = names(&folder);
    assert!(
        during.len() == 1 && during[0].ends_with(".tmp"),
        "{during:?}"
    );
    assert!(
        gnbr_names(&temp)
            .iter()
            .any(|n| n.starts_with("gnbr-dump-")),
        "{:?}",
        names(&temp)
    );
    // The page follows it live: its stage and counts, its log, and Cancel.
    let progress = browser.wait_for(
        "#progress-line",
        "the dump's stage and counts",
        |line| line.starts_with("dumping: ") && line.contains(" (auth)"),
        RUN_TIMEOUT,
    );
    assert_eq!(
        browser.execute("return document.querySelector('#live progress') !== null"),
        true,
        "no bar above {progress}"
    );
    assert!(browser
        .text("#log")
        .contains("dumping auth -> fixtures/auth.json"));
    assert_eq!(browser.text("#cancel summary"), "Cancel this backup…");
    browser.screenshot(&screenshots(), "run-progress");
    cancel_run(&browser, &server, "run-cancel");
    assert_eq!(browser.text("#error"), "cancelled by `admin`");
    assert_eq!(
        browser.text("#progress-line"),
        "",
        "no progress once it ended"
    );
    let log = browser.text("#log");
    for expected in [
        "cancel asked by `admin`",
        "cancelled by `admin`: the unfinished archive and the temporary files were removed; no archive was written",
    ] {
        assert!(log.contains(expected), "`{expected}` not in:\n{log}");
    }
    assert_eq!(names(&folder), Vec::<String>::new(), "no archive, no .tmp");
    assert_eq!(gnbr_names(&temp), serving, "no temporary folder left");
    browser.screenshot(&screenshots(), "run-cancelled");
    browser.click("nav a[href='/runs']");
    assert!(browser
        .text("#history .status.cancelled")
        .contains("cancelled"));
    browser.screenshot(&screenshots(), "runs-cancelled");
    browser.click("nav a[href='/backups']");
    assert_eq!(
        browser.text("tr[data-backup=cancelled] .location"),
        "none yet"
    );

    // Stopping the server while a backup runs cancels it the same way,
    // and the server ends once the run has.
    drop(browser);
    server.stop();
    let server = Server::start_with(dir.path(), &settings, &env);
    let browser = Browser::start();
    admin_logs_in(&browser, &server);
    browser.goto(&format!("{}/backups", server.url));
    browser.click("tr[data-backup=cancelled] a.button[href$='/backup']");
    browser.click("form[action$='/backup'] button[type=submit]");
    let run_path = browser.url().replace(&server.url, "");
    paused_at(&server, dir.path(), "fixture-dumped");
    assert_eq!(names(&folder).len(), 1, "{:?}", names(&folder));
    // The run's page stays open, polling its log, while the server stops.
    let log = server.stop();
    drop(browser);
    assert!(
        log.contains("cancelled by gnbr serve stopping (SIGTERM)"),
        "{log}"
    );
    assert_eq!(names(&folder), Vec::<String>::new(), "no archive, no .tmp");
    assert_eq!(
        gnbr_names(&temp),
        Vec::<String>::new(),
        "no temporary folder left"
    );

    let server = Server::start_with(dir.path(), &settings, &[("TMPDIR", temp.as_path())]);
    let browser = Browser::start();
    admin_logs_in(&browser, &server);
    browser.goto(&format!("{}{run_path}", server.url));
    assert_eq!(browser.text("#status"), "cancelled");
    assert_eq!(
        browser.text("#error"),
        "cancelled by gnbr serve stopping (SIGTERM)"
    );
}

#[test]
fn a_restore_cancelled_before_its_commit_leaves_the_target_as_it_was() {
    let db = "gnbr_e2e_serve_cancel_restore";
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let settings = geonode(&services, dir.path(), db);
    // Paused with the database loaded in its open transaction and the
    // folders swapped in: the last moment before the commit.
    let env = [("GNBR_FAULT", Path::new("pause:before-commit"))];
    let server = Server::start_with(dir.path(), &settings, &env);
    let browser = Browser::start();
    admin_logs_in(&browser, &server);
    add_definition(
        &browser,
        &server,
        "undone",
        &dir.path().join("backups"),
        true,
    );
    assert_eq!(back_up(&browser, &server, "undone"), "succeeded");

    // The target changes after the backup: the restore would undo that.
    let media = dir.path().join("media");
    std::fs::write(media.join("thumbs/after-the-backup.png"), b"new").unwrap();
    services.psql(
        db,
        "UPDATE people_profile SET first_name = 'Changed' WHERE username = 'admin'",
    );
    let database = services.digest(db, &[]);
    let folders = (tree(&media), tree(&dir.path().join("assets")));

    browser.goto(&format!("{}/backups", server.url));
    browser.click("tr[data-backup=undone] form[action$='/restore'] button");
    assert_eq!(run_ends(&browser, &server, PLAN_ENDS), "planned");
    browser.click("form[action$='/restore'] button.danger");
    paused_at(&server, dir.path(), "before-commit");
    assert!(
        !media.join("thumbs/after-the-backup.png").exists(),
        "the backup's MEDIA_ROOT is swapped in"
    );
    cancel_run(&browser, &server, "restore-cancel");
    assert_eq!(browser.text("#error"), "cancelled by `admin`");
    let log = browser.text("#log");
    for expected in [
        "cancel asked by `admin`",
        "undone: the database transaction was rolled back",
        "undone: what the restore had put in place",
        "cancelled by `admin`: nothing was committed, the target is as it was before the restore",
    ] {
        assert!(log.contains(expected), "`{expected}` not in:\n{log}");
    }

    assert_eq!(services.digest(db, &[]), database, "the database changed");
    assert_eq!(
        (tree(&media), tree(&dir.path().join("assets"))),
        folders,
        "the folders changed"
    );
    assert_eq!(
        hidden_gnbr_files(dir.path()),
        Vec::<String>::new(),
        "staging folders or journals left"
    );
    browser.click("nav a[href='/restores']");
    assert!(browser
        .text("#history .status.cancelled")
        .contains("cancelled"));
}

/// A gnbr archive `stem.zip` in `dir` with its `.md5` and `.ini`, dated
/// by its name (as `gnbr backup` names archives).
fn seeded_archive(dir: &Path, stem: &str) {
    let mut writer =
        gnbr::archive::BackupWriter::create(&dir.join(format!("{stem}.zip")), false).unwrap();
    let manifest = writer.manifest_mut();
    manifest.format = 1;
    manifest.gnbr_version = "0.1.0".to_owned();
    manifest.created = format!(
        "{}Z",
        gnbr::time::format_utc(gnbr::time::parse_utc(stem).unwrap())
    );
    manifest.geonode_version = Some("5.1.1".to_owned());
    let mut entry = writer.entry("fixtures/base.json").unwrap();
    entry.write_all(b"[]").unwrap();
    entry.close().unwrap();
    writer
        .finish_with_sidecars(|finished| {
            Ok(vec![
                ("md5", finished.md5()?.into_bytes()),
                ("ini", b"[fixtures]\napps = base\n".to_vec()),
            ])
        })
        .unwrap();
}

#[test]
fn an_overdue_schedule_reports_its_missed_runs_and_runs_one_catch_up_backup_that_prunes() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let settings = geonode(&services, dir.path(), "gnbr_e2e_serve_schedule");
    let folder = dir.path().join("backups");
    std::fs::create_dir_all(&folder).unwrap();
    let seeded = [
        "2020-01-01_023000",
        "2020-01-02_023000",
        "2020-01-03_023000",
    ];
    for stem in seeded {
        seeded_archive(&folder, stem);
    }
    std::fs::write(folder.join("holiday.zip"), b"not gnbr's").unwrap();

    // A nightly schedule and "keep the last 2", a wrong schedule refused first.
    let server = Server::start(dir.path(), &settings);
    let browser = Browser::start();
    admin_logs_in(&browser, &server);
    browser.goto(&format!("{}/backups/new", server.url));
    browser.fill("input[name=name]", "nightly");
    browser.fill("input[name=base_folder]", folder.to_str().unwrap());
    browser.fill("input[name=schedule]", "30 2 * *");
    browser.fill("input[name=keep_last]", "2");
    browser.tick("input[name=skip_geoserver]");
    browser.click("form button[type=submit].primary");
    let problem = browser.text(".problem");
    assert!(
        problem.contains("the schedule `30 2 * *` is not a cron schedule")
            && problem.contains("e.g. `30 2 * * *` for 02:30 UTC every day"),
        "{problem}"
    );
    browser.fill("input[name=schedule]", "30 2 * * *");
    browser.click("form button[type=submit].primary");
    assert!(
        browser.url().ends_with("/backups"),
        "{}",
        browser.text("body")
    );
    let schedule = browser.text("tr[data-backup=nightly] .schedule");
    assert!(
        schedule.contains("30 2 * * *")
            && schedule.contains("next: ")
            && schedule.contains("02:30:00 UTC"),
        "{schedule}"
    );
    assert!(schedule.contains("keeps: --keep-last 2"), "{schedule}");
    server.stop();

    // gnbr serve comes back three days later (its scheduler's clock set there).
    let state = dir.path().join("serve-state");
    let store = gnbr::web::store::Store::open(&state, 0).unwrap();
    let checked = store.backups().unwrap()[0].schedule_checked.unwrap();
    let back = gnbr::time::format_utc(checked + 3 * 86_400) + "Z";
    let server = Server::start_with(
        dir.path(),
        &settings,
        &[("GNBR_TEST_NOW", Path::new(&back))],
    );
    // The session may outlive the restart (cookies do not care for ports).
    browser.goto(&format!("{}/backups", server.url));
    if browser.url().ends_with("/login") {
        admin_logs_in(&browser, &server);
    }
    let first = gnbr::schedule::Schedule::parse("30 2 * * *")
        .unwrap()
        .next_after(checked)
        .unwrap();
    // The scheduler looks as soon as the page listens: the list soon shows what it did.
    let deadline = Instant::now() + RUN_TIMEOUT;
    while !browser
        .text("tr[data-backup=nightly] .result")
        .starts_with("backup ")
    {
        assert!(
            Instant::now() < deadline,
            "no catch-up run:
{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
        browser.goto(&format!("{}/backups", server.url));
    }
    let missed = browser.text("tr[data-backup=nightly] .missed");
    assert!(
        missed.starts_with(&format!(
            "missed 3 runs since {} UTC",
            gnbr::time::format_utc(first).replace('T', " ")
        )),
        "{missed}\n{}",
        server.log()
    );
    browser.screenshot(&screenshots(), "backups-schedule");

    // One catch-up backup, started by the schedule; it prunes the folder.
    browser.click("tr[data-backup=nightly] .result a");
    assert!(
        browser.text("main").contains("by (schedule)"),
        "{}",
        browser.text("main")
    );
    run_ends(&browser, &server, RUN_ENDS);
    assert_eq!(
        browser.text("#status"),
        "succeeded",
        "{}",
        browser.text("main")
    );
    let log = browser.text("#log");
    assert!(
        log.starts_with("scheduled run (schedule `30 2 * * *`, UTC) for "),
        "{log}"
    );
    let archive = PathBuf::from(browser.text("#location"));
    let written = archive.file_stem().unwrap().to_str().unwrap().to_owned();
    for stem in &seeded[..2] {
        assert!(
            log.contains(&format!(
                "removed {}",
                folder.join(format!("{stem}.zip")).display()
            )),
            "{log}"
        );
    }
    assert!(
        log.contains("retention: 2 archives kept, 2 removed"),
        "{log}"
    );
    let retention = browser.text("#retention");
    assert!(
        retention.contains("2 archives kept, 2 removed, 1 left alone (not gnbr's)"),
        "{retention}"
    );
    let mut expected: Vec<String> = ["holiday.zip".to_owned()]
        .into_iter()
        .chain(
            [seeded[2], written.as_str()]
                .iter()
                .flat_map(|stem| ["ini", "md5", "zip"].map(|ext| format!("{stem}.{ext}"))),
        )
        .collect();
    expected.sort();
    assert_eq!(names(&folder), expected);

    // The runs list: the missed entry and exactly one backup.
    browser.click("nav a[href='/runs']");
    let history = browser.text("#history tbody");
    assert_eq!(
        history
            .lines()
            .filter(|l| l.contains("missed 3 scheduled runs since"))
            .count(),
        1,
        "{history}"
    );
    server.stop();
    let runs = store.runs(None, 10).unwrap();
    let kinds: Vec<(&str, &str)> = runs
        .iter()
        .map(|run| (run.label.as_str(), run.by_user.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [("succeeded", "(schedule)"), ("missed", "(schedule)")]
    );
}

/// Puts different bytes into the seeded MEDIA_ROOT file, which a restore
/// must put back.
fn change_media(dir: &Path) -> PathBuf {
    let file = dir.join("media/thumbs/ünïcødé.png");
    std::fs::write(&file, b"changed since the backup").unwrap();
    file
}

/// Plans the restore of `name` from its definition's Archives page, then
/// confirms it; returns the plan's sha256 once the restore succeeded.
fn restore_from_archives_page(browser: &Browser, server: &Server, name: &str) -> String {
    browser.click(&format!(
        "tr[data-archive='{name}'] form[action$='/archives/plan'] button"
    ));
    assert_eq!(run_ends(browser, server, PLAN_ENDS), "planned");
    let sha256 = browser.text("#sha256");
    browser.click("form[action$='/restore'] button.danger");
    assert_eq!(run_ends(browser, server, RUN_ENDS), "succeeded");
    sha256
}

#[test]
fn a_page_backup_into_a_bucket_is_listed_and_restored_from_it() {
    let services = Services::get();
    let bucket = TestBucket::get();
    let dir = tempfile::tempdir().unwrap();
    let db = "gnbr_e2e_serve_bucket";
    let settings = geonode(&services, dir.path(), db);
    bucket.add_storage(&settings);
    let secret = bucket.var("AWS_SECRET_ACCESS_KEY");
    let key_of = |value: &str| Path::new(value).to_owned();
    let keys = [
        ("AWS_ACCESS_KEY_ID", key_of(bucket.var("AWS_ACCESS_KEY_ID"))),
        ("AWS_SECRET_ACCESS_KEY", key_of(secret)),
    ];
    let env: Vec<(&str, &Path)> = keys.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let server = Server::start_with(dir.path(), &settings, &env);
    let browser = Browser::start();
    admin_logs_in(&browser, &server);

    // A definition into a fresh prefix, backed up from the page: streamed into the bucket.
    let url = format!(
        "s3://{}/{}",
        bucket.var("GNBR_TEST_S3_BUCKET"),
        TestBucket::fresh_prefix()
    );
    browser.goto(&format!("{}/backups/new", server.url));
    browser.fill("input[name=name]", "offsite");
    browser.fill("input[name=base_folder]", &format!("{url}/"));
    save_definition(&browser, true);
    browser.click("tr[data-backup=offsite] a.button[href$='/backup']");
    assert!(
        browser
            .text("#bucket")
            .contains("streamed up into the bucket"),
        "{}",
        browser.text("main")
    );
    browser.click("form[action$='/backup'] button[type=submit]");
    assert_eq!(run_ends(&browser, &server, RUN_ENDS), "succeeded");
    let archive = browser.text("#location");
    let name = archive.rsplit('/').next().unwrap().to_owned();
    assert_eq!(archive, format!("{url}/{name}"));
    let stem = name.strip_suffix(".zip").expect("a plain archive");
    assert_eq!(
        bucket.names(&url),
        [format!("{stem}.ini"), format!("{stem}.md5"), name.clone()]
    );

    // Listed from the bucket as `backups list` lists it, the credentials nowhere on the page.
    browser.goto(&format!("{}/backups", server.url));
    assert_eq!(browser.text("tr[data-backup=offsite] .location"), archive);
    browser.click("tr[data-backup=offsite] a.archives");
    let row = format!("tr[data-archive='{name}']");
    assert!(browser
        .text(&format!("{row} .name"))
        .contains("(the Location)"));
    assert_eq!(browser.text(&format!("{row} .encrypted")), "no");
    assert_eq!(browser.text(&format!("{row} .version")), "5.1.1");
    assert!(
        browser
            .text(&format!("{row} .checksum"))
            .contains(".md5 sidecar beside it"),
        "{}",
        browser.text("main")
    );
    assert!(!browser.text("body").contains(secret));
    browser.screenshot(&screenshots(), "archives-bucket");

    // Planned and restored from the bucket: the media file comes back.
    let media = change_media(dir.path());
    let sha256 = restore_from_archives_page(&browser, &server, &name);
    assert_eq!(std::fs::read(&media).unwrap(), b"\x89PNG\r\n");
    let recorded = services.psql(db, "SELECT sha256 FROM gnbr_restore_log");
    assert_eq!(recorded.trim(), sha256);
    assert!(browser
        .text("#log")
        .contains(&format!("--backup-file {archive}")));

    // Its retention policy prunes the prefix after the next backup: only that one is kept.
    browser.goto(&format!("{}/backups", server.url));
    browser.click("tr[data-backup=offsite] a[href$='/edit']");
    browser.fill("input[name=keep_last]", "1");
    save_definition(&browser, true);
    assert_eq!(back_up(&browser, &server, "offsite"), "succeeded");
    let newer = browser.text("#location");
    assert_ne!(newer, archive);
    let log = browser.text("#log");
    assert!(log.contains(&format!("removed {archive}")), "{log}");
    assert!(
        log.contains("retention: 1 archive kept, 1 removed"),
        "{log}"
    );
    let newer_stem = newer
        .rsplit('/')
        .next()
        .unwrap()
        .strip_suffix(".zip")
        .unwrap();
    assert_eq!(
        bucket.names(&url),
        [
            format!("{newer_stem}.ini"),
            format!("{newer_stem}.md5"),
            format!("{newer_stem}.zip")
        ]
    );
    server.stop();

    // Credentials the bucket refuses: the page says so, naming the bucket and the fix.
    let wrong = [
        ("AWS_ACCESS_KEY_ID", key_of(bucket.var("AWS_ACCESS_KEY_ID"))),
        ("AWS_SECRET_ACCESS_KEY", key_of("not-the-secret")),
    ];
    let env: Vec<(&str, &Path)> = wrong.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let server = Server::start_with(dir.path(), &settings, &env);
    // The session lives in the page's state folder: still logged in.
    browser.goto(&format!("{}/backups", server.url));
    browser.click("tr[data-backup=offsite] a.archives");
    let problem = browser.text("#folder-problem");
    for expected in [
        format!("cannot read the archives of “offsite” in {url}: "),
        "refused to list".to_owned(),
        "AWS_ACCESS_KEY_ID".to_owned(),
        "restart it".to_owned(),
    ] {
        assert!(problem.contains(&expected), "`{expected}` not in {problem}");
    }
    browser.assert_fits();
}

#[test]
fn an_encrypted_page_backup_restores_with_the_servers_identity() {
    let services = Services::get();
    let dir = tempfile::tempdir().unwrap();
    let db = "gnbr_e2e_serve_encrypted";
    let settings = geonode(&services, dir.path(), db);
    let key = dir.path().join("key.txt");
    age_tool("age-keygen", &["-o", key.to_str().unwrap()]);
    let recipient = age_tool("age-keygen", &["-y", key.to_str().unwrap()]);
    let server = Server::start_with(dir.path(), &settings, &[("GNBR_IDENTITY_FILE", &key)]);
    let browser = Browser::start();
    admin_logs_in(&browser, &server);

    let folder = dir.path().join("backups");
    browser.goto(&format!("{}/backups/new", server.url));
    browser.fill("input[name=name]", "sealed");
    browser.fill("input[name=base_folder]", folder.to_str().unwrap());
    browser.tick("input[name=encrypt]");
    browser.fill("textarea[name=recipients]", recipient.trim());
    save_definition(&browser, true);
    assert!(browser
        .text("tr[data-backup=sealed] .folder")
        .contains("encrypted to 1 recipient"));
    assert_eq!(back_up(&browser, &server, "sealed"), "succeeded");
    let archive = PathBuf::from(browser.text("#location"));
    let name = archive.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.ends_with(".zip.age"), "{name}");
    let bytes = std::fs::read(&archive).unwrap();
    assert!(
        bytes.starts_with(b"age-encryption.org/v1\n"),
        "written encrypted"
    );
    let decrypted = age_tool(
        "sh",
        &[
            "-c",
            &format!(
                "age -d -i {} -o {} {} && unzip -tq {} >/dev/null && echo readable",
                key.display(),
                dir.path().join("plain.zip").display(),
                archive.display(),
                dir.path().join("plain.zip").display()
            ),
        ],
    );
    assert_eq!(decrypted.trim(), "readable", "the age CLI opens it");

    browser.click("nav a[href='/backups']");
    browser.click("tr[data-backup=sealed] a.archives");
    let row = format!("tr[data-archive='{name}']");
    assert_eq!(browser.text(&format!("{row} .encrypted")), "yes");
    assert_eq!(browser.text(&format!("{row} .version")), "5.1.1");

    let media = change_media(dir.path());
    let sha256 = restore_from_archives_page(&browser, &server, &name);
    assert_eq!(sha256, sha256sum(&archive));
    assert_eq!(std::fs::read(&media).unwrap(), b"\x89PNG\r\n");
    let recorded = services.psql(db, "SELECT sha256 FROM gnbr_restore_log");
    assert_eq!(recorded.trim(), sha256);
}
