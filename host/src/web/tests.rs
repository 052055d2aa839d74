//! The page without a GeoNode: users from a stub, requests straight into
//! the router. Login, its throttle, sessions and their re-checks, Host,
//! Origin and CSRF refusals, one run at a time, a failing run's message,
//! and a running run's live log and progress.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{header, Request, Response, StatusCode},
    Router,
};
use tower::ServiceExt;

use super::{jobs::Going, password, router, store::Status, throttle::LoginLimits, App, Users};
use crate::{
    cancel::Cancel,
    config::ServeSettings,
    errors::{Error, ErrorKind},
    geonode::UserRow,
    geoserver::restore::GeoServerReport,
    requests::Setup,
    ui::{ProgressEvent, Unit},
};

/// Django hashes of `admin` (pbkdf2_sha1, 1 iteration: fast in debug builds).
const ADMIN_HASH: &str = "pbkdf2_sha1$1$salt$sLZPjmKKODn5Yach59KJEP907Es=";

/// The GeoNode's users, as the tests change them.
#[derive(Default)]
struct Stub {
    rows: Mutex<HashMap<String, UserRow>>,
    calls: AtomicUsize,
    /// The GeoNode's database does not answer.
    down: AtomicBool,
    /// How long a lookup takes.
    delay: Mutex<Duration>,
}

impl Users for Arc<Stub> {
    fn find(&self, username: &str) -> Result<Option<UserRow>, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(*self.delay.lock().unwrap());
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::new(
                ErrorKind::Target,
                "the target GeoNode's users cannot be read: connection to server at \"db.internal\" (10.9.8.7), port 54329 failed",
            ));
        }
        Ok(self.rows.lock().unwrap().get(username).cloned())
    }
}

impl Stub {
    fn set(&self, username: &str, is_superuser: bool, is_active: bool) {
        let mut rows = self.rows.lock().unwrap();
        let row = rows.get_mut(username).unwrap();
        row.is_superuser = is_superuser;
        row.is_active = is_active;
    }
}

struct Page {
    _dir: tempfile::TempDir,
    app: Arc<App>,
    router: Router,
    users: Arc<Stub>,
}

fn row(username: &str, is_superuser: bool, is_active: bool) -> (String, UserRow) {
    row_with(username, ADMIN_HASH, is_superuser, is_active)
}

fn row_with(username: &str, hash: &str, is_superuser: bool, is_active: bool) -> (String, UserRow) {
    (
        username.to_owned(),
        UserRow {
            username: username.to_owned(),
            password: hash.to_owned(),
            is_superuser,
            is_active,
        },
    )
}

/// Limits for tests: failures answered at once, the rest as shipped.
fn quick_limits() -> LoginLimits {
    LoginLimits {
        failure_floor: Duration::ZERO,
        ..LoginLimits::default()
    }
}

/// A page whose settings file is `config` (missing by default: runs fail
/// at once), served as `serve` says, logins as `limits` allow.
fn page_with(config: PathBuf, serve: impl FnOnce(&mut ServeSettings), limits: LoginLimits) -> Page {
    let dir = tempfile::tempdir().unwrap();
    let users = Arc::new(Stub {
        rows: Mutex::new(
            [
                row("admin", true, true),
                row("editor", false, true),
                row("retired", true, false),
                row_with("modern", password::tests::DJANGO[0], true, true),
                row_with(
                    "legacy",
                    "md5$salt$f7dc1ed4a01ce2dc8a8e3f9e9e0d9b31",
                    true,
                    true,
                ),
            ]
            .into_iter()
            .collect(),
        ),
        ..Stub::default()
    });
    let setup = Setup {
        settings: Some(config),
        plugin_dirs: Vec::new(),
    };
    let state = dir.path().join("state");
    let mut settings = ServeSettings::on_loopback(state.clone());
    serve(&mut settings);
    let app = App::with(
        &state,
        setup,
        Box::new(users.clone()),
        true,
        &settings,
        limits,
    )
    .unwrap();
    Page {
        router: router(app.clone()),
        app,
        users,
        _dir: dir,
    }
}

fn page() -> Page {
    page_with(
        PathBuf::from("/nonexistent/gnbr-test/settings.ini"),
        |_| {},
        quick_limits(),
    )
}

async fn send(page: &Page, request: Request<Body>) -> (StatusCode, Vec<String>, String) {
    let response: Response<Body> = page.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let cookies = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, cookies, String::from_utf8(body.to_vec()).unwrap())
}

/// A request from a browser on loopback, as `gnbr serve` hands it on.
fn from_loopback(request: axum::http::request::Builder) -> axum::http::request::Builder {
    request
        .header(header::HOST, "127.0.0.1:8080")
        .extension(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))))
}

fn get(path: &str, cookie: &str) -> Request<Body> {
    from_loopback(Request::get(path))
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

fn post(path: &str, cookie: &str, form: &[(&str, &str)]) -> Request<Body> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    from_loopback(Request::post(path))
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

/// `request` as if it came from `client`.
fn from(client: [u8; 4], mut request: Request<Body>) -> Request<Body> {
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((client, 40000))));
    request
}

/// The value of `name=` in the first Set-Cookie that sets it.
fn cookie_value(cookies: &[String], name: &str) -> String {
    cookies
        .iter()
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
        .to_owned()
}

/// The `value` of the hidden `csrf` input of a page.
fn csrf_in(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("a form with a token")
        + 19;
    html[at..at + 64].to_owned()
}

async fn login_cookie(page: &Page) -> (String, String) {
    let (status, cookies, html) = send(page, get("/login", "")).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = format!("gnbr_login={}", cookie_value(&cookies, "gnbr_login"));
    (cookie, csrf_in(&html))
}

async fn try_login(page: &Page, user: &str, password: &str) -> (StatusCode, Vec<String>, String) {
    let (cookie, token) = login_cookie(page).await;
    let form = [
        ("csrf", token.as_str()),
        ("username", user),
        ("password", password),
    ];
    send(page, post("/login", &cookie, &form)).await
}

/// Logs in as `admin`; returns the session cookie and its CSRF token.
async fn logged_in(page: &Page) -> (String, String) {
    let (status, cookies, _) = try_login(page, "admin", "admin").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = format!("gnbr_session={}", cookie_value(&cookies, "gnbr_session"));
    let (_, _, html) = send(page, get("/backups", &cookie)).await;
    let token = csrf_in(&html);
    (cookie, token)
}

#[tokio::test]
async fn pages_need_a_login_and_a_superuser_gets_one() {
    let page = page();
    let (status, _, _) = send(&page, get("/backups", "")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, cookies, _) = try_login(&page, "admin", "admin").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("gnbr_session="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    let cookie = format!("gnbr_session={}", cookie_value(&cookies, "gnbr_session"));
    let (status, _, html) = send(&page, get("/backups", &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No backups yet"), "{html}");
}

#[tokio::test]
async fn wrong_passwords_other_users_and_inactive_superusers_are_refused() {
    let page = page();
    for (user, password) in [
        ("admin", "Admin"),
        ("admin", ""),
        ("editor", "admin"),
        ("retired", "admin"),
    ] {
        let (status, cookies, html) = try_login(&page, user, password).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{user}/{password}");
        assert!(
            !cookies.iter().any(|c| c.starts_with("gnbr_session=")),
            "{user}"
        );
        assert!(html.contains("Wrong username or password, or not a GeoNode superuser"));
    }
}

#[tokio::test]
async fn argon2_hashes_log_in_and_unsupported_ones_are_refused_as_a_wrong_password() {
    let page = page();
    let (status, cookies, _) = try_login(&page, "modern", password::tests::PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "an argon2 hash logs in");
    assert!(cookies.iter().any(|c| c.starts_with("gnbr_session=")));
    let (status, _, wrong) = try_login(&page, "admin", "not it").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for (user, password) in [("legacy", "admin"), ("nobody", "admin")] {
        let (status, cookies, html) = try_login(&page, user, password).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{user}: {html}");
        assert!(!cookies.iter().any(|c| c.starts_with("gnbr_session=")));
        let same = |page: &str, name: &str| page.replace(&csrf_in(page), "").replace(name, "admin");
        assert_eq!(
            same(&html, user),
            same(&wrong, "admin"),
            "the same page as a wrong password"
        );
        assert!(!html.contains("md5"), "{html}");
    }
}

#[tokio::test]
async fn a_post_without_its_csrf_token_is_refused_with_403() {
    let page = page();
    // The login form: no token, a wrong one, a token without its cookie.
    let (cookie, token) = login_cookie(&page).await;
    let login = |t: &'static str| [("csrf", t), ("username", "admin"), ("password", "admin")];
    let (status, _, _) = send(&page, post("/login", &cookie, &login("")[1..])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(&page, post("/login", &cookie, &login("0000"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let form = [
        ("csrf", token.as_str()),
        ("username", "admin"),
        ("password", "admin"),
    ];
    let (status, _, _) = send(&page, post("/login", "", &form)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        page.users.calls.load(Ordering::SeqCst),
        0,
        "no user was looked up"
    );

    // A logged-in form: refused without the session's token, nothing added.
    let (cookie, token) = logged_in(&page).await;
    let add = [
        ("name", "nightly"),
        ("description", "d"),
        ("base_folder", "/var/backups/gn"),
    ];
    let (status, _, html) = send(&page, post("/backups/new", &cookie, &add)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("no valid security token"), "{html}");
    let mut with_other = vec![("csrf", "f".repeat(64))];
    with_other.extend(add.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let other: Vec<(&str, &str)> = with_other.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, _) = send(&page, post("/backups/new", &cookie, &other)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.app.store().backups().unwrap().is_empty());

    let mut with_token = vec![("csrf", token.as_str())];
    with_token.extend(add);
    let (status, _, _) = send(&page, post("/backups/new", &cookie, &with_token)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(page.app.store().backups().unwrap().len(), 1);

    // Logging out needs the token too, and ends the session.
    let (status, _, _) = send(&page, post("/logout", &cookie, &[])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(&page, post("/logout", &cookie, &[("csrf", &token)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = send(&page, get("/backups", &cookie)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the session ended");
}

async fn try_login_from(
    page: &Page,
    client: [u8; 4],
    user: &str,
    password: &str,
) -> (StatusCode, Vec<String>, String) {
    let (cookie, token) = login_cookie(page).await;
    let form = [
        ("csrf", token.as_str()),
        ("username", user),
        ("password", password),
    ];
    send(page, from(client, post("/login", &cookie, &form))).await
}

#[tokio::test]
async fn failures_make_their_address_wait_but_the_right_password_from_another_gets_in() {
    let page = page();
    let attacker = [192, 0, 2, 66];
    for attempt in 1..=5 {
        let (status, _, _) = try_login_from(&page, attacker, "admin", "wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let looked_up = page.users.calls.load(Ordering::SeqCst);
    let (cookie, token) = login_cookie(&page).await;
    let form = [
        ("csrf", token.as_str()),
        ("username", "admin"),
        ("password", "admin"),
    ];
    let response = page
        .router
        .clone()
        .oneshot(from(attacker, post("/login", &cookie, &form)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let html = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        html.contains("Too many failed logins from your address: try again in 1 second."),
        "{html}"
    );
    assert_eq!(
        page.users.calls.load(Ordering::SeqCst),
        looked_up,
        "a waiting address is not even checked"
    );

    // No username is locked: the admin gets in from another address at once.
    let (status, cookies, _) = try_login_from(&page, [198, 51, 100, 7], "admin", "admin").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(cookies.iter().any(|c| c.starts_with("gnbr_session=")));

    // The attacker's waits grow with each failure after the wait.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, _) = try_login_from(&page, attacker, "admin", "wrong").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, html) = try_login_from(&page, attacker, "admin", "admin").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(html.contains("try again in 2 seconds"), "{html}");
}

#[test]
fn waits_double_up_to_the_longest_and_an_ipv6_host_is_one_address() {
    use super::throttle::{Admission, Throttle};
    let limits = LoginLimits {
        free_failures: 2,
        first_delay: Duration::from_secs(10),
        max_delay: Duration::from_secs(35),
        ..LoginLimits::default()
    };
    let throttle = Throttle::new(limits);
    let waits = |address: &str| match throttle.admit(address.parse().unwrap()) {
        Admission::Go(ticket) => {
            ticket.failed();
            None
        }
        Admission::Wait(wait) => Some(wait.as_secs_f64().ceil() as u64),
    };
    // One host of 2001:db8:1:2::/64 with ever new addresses, failing: the
    // wait of the /64 grows as one address's would (failures are counted
    // at once here: a real client waits between them).
    assert_eq!(waits("2001:db8:1:2::1"), None);
    assert_eq!(waits("2001:db8:1:2::2"), None);
    assert_eq!(waits("2001:db8:1:2::3"), Some(10));
    assert_eq!(waits("2001:db8:1:2:ffff::9"), Some(10));
    // Another /64 and an IPv4 address are not held up.
    assert_eq!(waits("2001:db8:1:3::1"), None);
    assert_eq!(waits("192.0.2.1"), None);
    assert_eq!(
        waits("::ffff:192.0.2.1"),
        None,
        "the same IPv4 address, mapped"
    );
    assert_eq!(waits("192.0.2.1"), Some(10));
}

#[tokio::test]
async fn one_attempt_at_a_time_per_address_and_a_short_queue_in_all() {
    let page = page_with(
        PathBuf::from("/nonexistent/gnbr-test/settings.ini"),
        |_| {},
        LoginLimits {
            concurrent_checks: 1,
            max_waiting: 1,
            ..quick_limits()
        },
    );
    *page.users.delay.lock().unwrap() = Duration::from_millis(400);
    let attempt = |after: u64, client: [u8; 4]| {
        let page = &page;
        async move {
            tokio::time::sleep(Duration::from_millis(after)).await;
            try_login_from(page, client, "admin", "wrong").await.0
        }
    };
    let statuses = tokio::join!(
        attempt(0, [10, 0, 0, 1]),
        attempt(50, [10, 0, 0, 1]),
        attempt(100, [10, 0, 0, 2]),
        attempt(150, [10, 0, 0, 3]),
    );
    assert_eq!(
        statuses,
        (
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS, // its address has one under way
            StatusCode::UNAUTHORIZED,      // waited for the check
            StatusCode::TOO_MANY_REQUESTS, // the queue was full
        )
    );
}

#[tokio::test]
async fn a_proxys_clients_are_told_apart_by_the_address_it_forwards() {
    let page = page_with(
        PathBuf::from("/nonexistent/gnbr-test/settings.ini"),
        |serve| serve.trusted_proxies = vec!["127.0.0.1".parse().unwrap()],
        quick_limits(),
    );
    let forwarded = |client: &str| {
        let (page, client) = (&page, client.to_owned());
        async move {
            let (cookie, token) = login_cookie(page).await;
            let form = [
                ("csrf", token.as_str()),
                ("username", "admin"),
                ("password", "wrong"),
            ];
            let mut request = post("/login", &cookie, &form);
            // A client's own X-Forwarded-For comes first; the proxy adds the address it saw.
            request.headers_mut().insert(
                "x-forwarded-for",
                format!("203.0.113.250, {client}").parse().unwrap(),
            );
            send(page, request).await.0
        }
    };
    for _ in 0..5 {
        assert_eq!(forwarded("203.0.113.1").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        forwarded("203.0.113.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(forwarded("203.0.113.2").await, StatusCode::UNAUTHORIZED);
    // An untrusted peer's X-Forwarded-For is ignored: its own address counts.
    let (cookie, token) = login_cookie(&page).await;
    let form = [
        ("csrf", token.as_str()),
        ("username", "admin"),
        ("password", "admin"),
    ];
    let mut request = from([192, 0, 2, 9], post("/login", &cookie, &form));
    request
        .headers_mut()
        .insert("x-forwarded-for", "203.0.113.1".parse().unwrap());
    assert_eq!(send(&page, request).await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn unknown_users_wrong_passwords_and_unsupported_hashes_take_as_long() {
    let floor = Duration::from_millis(600);
    let page = page_with(
        PathBuf::from("/nonexistent/gnbr-test/settings.ini"),
        |_| {},
        LoginLimits {
            failure_floor: floor,
            ..LoginLimits::default()
        },
    );
    for (i, (user, password)) in [
        ("admin", "wrong"),
        ("nobody", "admin"),
        ("legacy", "admin"),
        ("editor", "admin"),
    ]
    .into_iter()
    .enumerate()
    {
        let started = Instant::now();
        let (status, _, _) = try_login_from(&page, [10, 1, 1, i as u8], user, password).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            started.elapsed() >= floor,
            "{user}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn an_unreachable_geonode_is_a_503_that_names_no_host() {
    let page = page();
    page.users.down.store(true, Ordering::SeqCst);
    let (status, cookies, html) = try_login(&page, "admin", "admin").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!cookies.iter().any(|c| c.starts_with("gnbr_session=")));
    assert!(
        html.contains("Logins cannot be checked right now"),
        "{html}"
    );
    for detail in ["db.internal", "10.9.8.7", "54329"] {
        assert!(!html.contains(detail), "{detail} in {html}");
    }
    // Not counted as a failure: the admin logs in as soon as it answers.
    page.users.down.store(false, Ordering::SeqCst);
    for _ in 0..5 {
        page.users.down.store(true, Ordering::SeqCst);
        try_login(&page, "admin", "admin").await;
    }
    page.users.down.store(false, Ordering::SeqCst);
    let (status, _, _) = try_login(&page, "admin", "admin").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

/// The sha256 of the session in `cookie`, as the store keys it.
fn session_key(cookie: &str) -> String {
    super::sha256_hex(cookie.trim_start_matches("gnbr_session="))
}

/// Whether the session in `cookie` is alive.
fn has_session(page: &Page, cookie: &str) -> bool {
    let key = session_key(cookie);
    page.app
        .store()
        .session(&key, super::now())
        .unwrap()
        .is_some()
}

/// Reads a page with a session that GeoNode confirmed `seconds` ago.
async fn read_checked_ago(page: &Page, cookie: &str, seconds: i64) -> StatusCode {
    let key = session_key(cookie);
    page.app
        .store()
        .session_checked(&key, super::now() - seconds)
        .unwrap();
    send(page, get("/backups", cookie)).await.0
}

/// Posts a new backup definition with the session's `cookie` and `token`.
async fn add_backup(page: &Page, cookie: &str, token: &str) -> (StatusCode, Vec<String>, String) {
    let add = [
        ("csrf", token),
        ("name", "n"),
        ("base_folder", "/var/tmp/x"),
    ];
    send(page, post("/backups/new", cookie, &add)).await
}

#[tokio::test]
async fn a_demoted_or_deactivated_superuser_loses_every_session() {
    for (is_superuser, is_active) in [(false, true), (true, false)] {
        let page = page();
        let (cookie, token) = logged_in(&page).await;
        let (other, _) = logged_in(&page).await;
        page.users.set("admin", is_superuser, is_active);

        // A POST asks GeoNode first: refused, and every session of the user ends.
        let (status, cookies, _) = add_backup(&page, &cookie, &token).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(
            cookies.iter().any(|c| c.starts_with("gnbr_session=;")),
            "{cookies:?}"
        );
        assert!(page.app.store().backups().unwrap().is_empty());
        for session in [&cookie, &other] {
            let (status, _, _) = send(&page, get("/backups", session)).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "the session ended");
        }
        let (status, _, _) = try_login(&page, "admin", "admin").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn reads_ask_geonode_again_every_few_minutes() {
    let page = page();
    let (cookie, _) = logged_in(&page).await;
    let calls = page.users.calls.load(Ordering::SeqCst);
    let (status, _, _) = send(&page, get("/backups", &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        page.users.calls.load(Ordering::SeqCst),
        calls,
        "checked a moment ago"
    );

    page.users.set("admin", false, true);
    let (status, _, _) = send(&page, get("/backups", &cookie)).await;
    assert_eq!(status, StatusCode::OK, "not due yet");
    let status = read_checked_ago(&page, &cookie, super::RECHECK_SECONDS).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "demoted: logged out");
    assert!(!has_session(&page, &cookie));
}

#[tokio::test]
async fn while_geonode_cannot_be_asked_posts_wait_and_reads_go_on() {
    let page = page();
    let (cookie, token) = logged_in(&page).await;
    page.users.down.store(true, Ordering::SeqCst);
    let (status, _, html) = add_backup(&page, &cookie, &token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        html.contains(
            "cannot confirm that you are still one of its superusers, so nothing was done"
        ),
        "{html}"
    );
    assert!(page.app.store().backups().unwrap().is_empty());
    let status = read_checked_ago(&page, &cookie, super::RECHECK_SECONDS).await;
    assert_eq!(status, StatusCode::OK, "reads go on for a while");
    let status = read_checked_ago(&page, &cookie, super::READ_GRACE_SECONDS).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "not for ever");
    // Logging out never needs GeoNode.
    let (status, _, _) = send(&page, post("/logout", &cookie, &[("csrf", &token)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(!has_session(&page, &cookie));
}

fn with_headers(mut request: Request<Body>, headers: &[(&str, &str)]) -> Request<Body> {
    for (name, value) in headers {
        request.headers_mut().insert(
            header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    request
}

#[tokio::test]
async fn unknown_hosts_get_400_and_forms_from_other_origins_403() {
    let page = page();
    for host in ["localhost:8080", "LOCALHOST", "127.0.0.1", "[::1]:9000"] {
        let (status, _, _) = send(&page, with_headers(get("/login", ""), &[("host", host)])).await;
        assert_eq!(status, StatusCode::OK, "{host}");
    }
    // A name pointed at this machine by someone else (DNS rebinding), or none.
    for host in [
        "rebind.attacker.example:8080",
        "127.0.0.1.nip.io",
        "localhost.attacker.example",
    ] {
        let (status, _, body) =
            send(&page, with_headers(get("/login", ""), &[("host", host)])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{host}");
        assert!(
            body.contains("[serve] public_origin and allowed_hosts"),
            "{body}"
        );
    }
    let mut request = get("/login", "");
    request.headers_mut().remove(header::HOST);
    assert_eq!(send(&page, request).await.0, StatusCode::BAD_REQUEST);

    let (cookie, token) = login_cookie(&page).await;
    let form = [
        ("csrf", token.as_str()),
        ("username", "admin"),
        ("password", "admin"),
    ];
    for origin in [
        "http://rebind.attacker.example:8080",
        "null",
        "https://127.0.0.1:8080",
    ] {
        let request = with_headers(post("/login", &cookie, &form), &[("origin", origin)]);
        let (status, _, _) = send(&page, request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin}");
    }
    let request = with_headers(
        post("/login", &cookie, &form),
        &[("origin", "http://127.0.0.1:8080")],
    );
    assert_eq!(send(&page, request).await.0, StatusCode::SEE_OTHER);
    assert_eq!(
        page.users.calls.load(Ordering::SeqCst),
        1,
        "refused before any check"
    );
}

/// `admin` logs in with the form of `/login` under `host` (default
/// loopback's), sent with `origin`: the status and cookies.
async fn admin_logs_in(page: &Page, host: Option<&str>, origin: &str) -> (StatusCode, Vec<String>) {
    let under = |request: Request<Body>| match host {
        Some(host) => with_headers(request, &[("host", host)]),
        None => request,
    };
    let (_, cookies, html) = send(page, under(get("/login", ""))).await;
    let cookie = format!("gnbr_login={}", cookie_value(&cookies, "gnbr_login"));
    let token = csrf_in(&html);
    let form = [
        ("csrf", token.as_str()),
        ("username", "admin"),
        ("password", "admin"),
    ];
    let request = with_headers(under(post("/login", &cookie, &form)), &[("origin", origin)]);
    let (status, cookies, _) = send(page, request).await;
    (status, cookies)
}

#[tokio::test]
async fn behind_a_tls_proxy_cookies_are_secure_and_only_its_origin_is_served() {
    let page = page_with(
        PathBuf::from("/nonexistent/gnbr-test/settings.ini"),
        |serve| {
            serve.public_origin = Some("https://gnbr.example.org".to_owned());
            serve.allowed_hosts = vec!["127.0.0.1:8080".to_owned()];
        },
        quick_limits(),
    );
    let (status, cookies, _) = send(
        &page,
        with_headers(get("/login", ""), &[("host", "gnbr.example.org")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        cookies.iter().all(|c| c.ends_with("; Secure")),
        "{cookies:?}"
    );
    let public = Some("gnbr.example.org");
    let (status, _) = admin_logs_in(&page, public, "http://gnbr.example.org").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, cookies) = admin_logs_in(&page, public, "https://gnbr.example.org").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("gnbr_session="))
        .unwrap();
    assert!(session.ends_with("; Secure"), "{session}");

    // The proxy's own Host (allowed_hosts) is served, its forms from its
    // own origin only; loopback names no longer are.
    let (status, _) = admin_logs_in(&page, None, "https://gnbr.example.org").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not the origin of this Host");
    let (status, _) = admin_logs_in(&page, None, "http://127.0.0.1:8080").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let localhost = with_headers(get("/login", ""), &[("host", "localhost:8080")]);
    assert_eq!(send(&page, localhost).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_failed_run_shows_the_command_lines_message_and_runs_go_one_at_a_time() {
    let page = page();
    let (cookie, token) = logged_in(&page).await;
    let add = [
        ("csrf", token.as_str()),
        ("name", "nightly"),
        ("description", "every night"),
        ("base_folder", "/var/tmp/gnbr-web-test"),
    ];
    send(&page, post("/backups/new", &cookie, &add)).await;
    let id = page.app.store().backups().unwrap()[0].id;

    // One at a time: while a run goes on, another is refused.
    *page.app.shared.current.lock().unwrap() = Some(Going {
        id: 999,
        cancel: Cancel::new(),
    });
    let (status, _, html) = send(
        &page,
        post(
            &format!("/backups/{id}/backup"),
            &cookie,
            &[("csrf", &token)],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("run #999 is going on"), "{html}");
    *page.app.shared.current.lock().unwrap() = None;

    let (status, _, _) = send(
        &page,
        post(
            &format!("/backups/{id}/backup"),
            &cookie,
            &[("csrf", &token)],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let run = wait_for_end(&page.app).await;
    assert_eq!(run.status, Status::Failed);
    let expected = page.app.setup.load_settings().unwrap_err();
    assert_eq!(run.message.as_deref(), Some(expected.to_string().as_str()));
    let (_, _, html) = send(&page, get(&format!("/runs/{}", run.id), &cookie)).await;
    let shown = format!("gnbr: error: {expected}");
    assert!(unescape(&html).contains(&shown), "{shown} not in {html}");
    let log = page.app.store().log(run.id, 0).unwrap();
    assert_eq!(
        log,
        [
            "running: gnbr -c /nonexistent/gnbr-test/settings.ini backup --backup-dir /var/tmp/gnbr-web-test".to_owned(),
            format!("error: {expected}")
        ]
    );
    assert_eq!(page.app.store().backups().unwrap()[0].location, None);

    // Without an archive there is nothing to restore.
    let (status, _, html) = send(
        &page,
        post(
            &format!("/backups/{id}/restore"),
            &cookie,
            &[("csrf", &token)],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("has no archive yet"), "{html}");
}

fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

async fn wait_for_end(app: &App) -> super::store::Run {
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let runs = app.store().runs(None, 1).unwrap();
        if runs[0].status != Status::Running && app.current_run().is_none() {
            return runs[0].clone();
        }
    }
    panic!("the run did not end");
}

#[tokio::test]
async fn definitions_are_validated_edited_and_deleted_but_never_their_archives() {
    let page = page();
    let (cookie, token) = logged_in(&page).await;
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("2024-01-01_000000.zip"), b"zip").unwrap();
    let base = folder.path().to_str().unwrap();
    for (name, base_folder, problem) in [
        ("", base, "Give a name"),
        ("n", "relative/folder", "absolute path"),
    ] {
        let form = [
            ("csrf", token.as_str()),
            ("name", name),
            ("base_folder", base_folder),
        ];
        let (status, _, html) = send(&page, post("/backups/new", &cookie, &form)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains(problem), "{html}");
    }
    let form = [
        ("csrf", token.as_str()),
        ("name", "weekly"),
        ("base_folder", base),
    ];
    send(&page, post("/backups/new", &cookie, &form)).await;
    let (status, _, html) = send(&page, post("/backups/new", &cookie, &form)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("exists already"), "{html}");
    let id = page.app.store().backups().unwrap()[0].id;

    let (_, _, html) = send(&page, get(&format!("/backups/{id}/backup"), &cookie)).await;
    assert!(html.contains("holds 1 archive now"), "{html}");

    let edit = [
        ("csrf", token.as_str()),
        ("name", "weekly <b>"),
        ("description", "Sundays"),
        ("base_folder", base),
        ("skip_geoserver", "on"),
    ];
    let (status, _, _) = send(&page, post(&format!("/backups/{id}/edit"), &cookie, &edit)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let backup = page.app.store().backup(id).unwrap().unwrap();
    assert_eq!(
        (
            backup.name.as_str(),
            backup.description.as_str(),
            backup.skip_geoserver
        ),
        ("weekly <b>", "Sundays", true)
    );
    let (_, _, html) = send(&page, get("/backups", &cookie)).await;
    assert!(
        html.contains("weekly &lt;b&gt;"),
        "names are escaped: {html}"
    );

    let (status, _, _) = send(
        &page,
        post(
            &format!("/backups/{id}/delete"),
            &cookie,
            &[("csrf", &token)],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(page.app.store().backups().unwrap().is_empty());
    assert!(folder.path().join("2024-01-01_000000.zip").exists());
    let (status, _, _) = send(&page, get(&format!("/backups/{id}/edit"), &cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn responses_carry_security_headers() {
    let page = page();
    let response = page
        .router
        .clone()
        .oneshot(get("/login", ""))
        .await
        .unwrap();
    let headers = response.headers();
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
}

/// Records a finished run of `kind` with `details`, as a job would.
fn finished_run(
    app: &App,
    kind: super::store::RunKind,
    backup_id: i64,
    details: serde_json::Value,
) -> i64 {
    finished_run_of(
        app,
        kind,
        backup_id,
        "/srv/backups/2024-05-01_020000.zip",
        details,
    )
}

fn finished_run_of(
    app: &App,
    kind: super::store::RunKind,
    backup_id: i64,
    archive: &str,
    details: serde_json::Value,
) -> i64 {
    let run = super::store::NewRun {
        kind,
        backup_id,
        backup_name: "nightly".to_owned(),
        by_user: "admin".to_owned(),
        archive: Some(archive.to_owned()),
        sha256: None,
        plan_run: None,
    };
    let outcome = super::store::Outcome {
        archive: run.archive.clone(),
        sha256: Some("ab".repeat(32)),
        details: Some(details),
        ..super::store::Outcome::default()
    };
    finished(app, &run, &outcome)
}

/// Records `run` as started and ended with `outcome`.
fn finished(app: &App, run: &super::store::NewRun, outcome: &super::store::Outcome) -> i64 {
    let id = app.store().start_run(run, 1_714_528_800).unwrap();
    app.store().finish_run(id, outcome, 1_714_528_860).unwrap();
    id
}

#[tokio::test]
async fn run_pages_show_reports_and_a_plan_is_the_restores_confirmation() {
    use super::store::RunKind;
    let page = page();
    let (cookie, token) = logged_in(&page).await;
    let form = [
        ("csrf", token.as_str()),
        ("name", "nightly"),
        ("base_folder", "/srv/backups"),
    ];
    send(&page, post("/backups/new", &cookie, &form)).await;
    let backup = page.app.store().backups().unwrap()[0].id;

    let done = finished_run(
        &page.app,
        RunKind::Backup,
        backup,
        serde_json::json!({
            "archive": "/srv/backups/2024-05-01_020000.zip", "geonode_version": "5.1.1",
            "fixtures": [["fixtures/people.json", 3]], "files": 2, "bytes": 123_456_789_u64,
            "seconds": 12.5,
        }),
    );
    let (status, _, html) = send(&page, get(&format!("/runs/{done}"), &cookie)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let text = unescape(&html);
    assert!(
        text.contains("/srv/backups/2024-05-01_020000.zip"),
        "{text}"
    );
    assert!(text.contains("1 fixture, 2 files, 123 MB"), "{text}");
    assert!(
        html.contains(r#"<time datetime="2024-05-01T02:01:00Z">2024-05-01 02:01:00 UTC</time>"#),
        "{html}"
    );
    let (_, _, html) = send(&page, get("/backups", &cookie)).await;
    assert!(unescape(&html).contains("<code>/srv/backups/2024-05-01_020000.zip</code>"));

    let plan = finished_run(
        &page.app,
        RunKind::Plan,
        backup,
        serde_json::json!({
            "report": {
                "database": "database `geonode` on db:5432 as `geonode`",
                "target_version": "5.1.1", "source_version": "4.4.5",
                "plugins": ["gn44_to_51 1.0.0 (4.4 -> 5.1)"],
                "fixtures": [{"entry": "fixtures/people.json", "manglers": ["gn44_to_51.ProfileMangler"], "objects_out": 3}],
                "notes": ["2 thumbnails were dropped"],
                "geoserver": GeoServerReport {
                    datadir: Some("/srv/gs_data".into()),
                    tables_planned: vec!["public.roads".to_owned()],
                    catalog_planned: true,
                    ..GeoServerReport::default()
                },
            },
            "plan": ["source    GeoNode 4.4.5 (recorded in the backup's manifest.json)"],
            "objects": 3, "tables": 102,
            "folders": [{"from": "uploaded/", "name": "MEDIA_ROOT", "path": "/srv/media", "aside": "/srv/.media.gnbr-previous-…"}],
            "snapshot_dir": "/srv/snapshots", "md5_sidecar": true,
        }),
    );
    let (status, _, html) = send(&page, get(&format!("/runs/{plan}"), &cookie)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let text = unescape(&html);
    for expected in [
        "everything in the GeoNode 5.1.1 database `geonode` on db:5432 as `geonode` (102 tables)",
        "<code>MEDIA_ROOT</code> <code>/srv/media</code>",
        "/srv/.media.gnbr-previous-…",
        "<code>/srv/snapshots</code>",
        "GeoNode 4.4.5 → 5.1.1",
        "gn44_to_51 1.0.0 (4.4 -> 5.1)",
        "2 thumbnails were dropped",
        "GeoServer's data directory <code>/srv/gs_data</code>",
        "1 table of GeoNode's datastore: <code>public.roads</code>",
        "GeoServer's catalog, restored by its Backup & Restore module",
        &"ab".repeat(32),
        &format!("action=\"/runs/{plan}/restore\""),
    ] {
        assert!(text.contains(expected), "`{expected}` not in {text}");
    }

    assert!(
        text.contains("<span class=\"status big succeeded\" id=\"status\">planned</span>"),
        "{text}"
    );

    // A plan that froze nothing (an older gnbr's) is not confirmed: nothing starts.
    let confirm = post(
        &format!("/runs/{plan}/restore"),
        &cookie,
        &[("csrf", &token)],
    );
    let (status, _, html) = send(&page, confirm).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let text = unescape(&html);
    assert!(
        text.contains(&format!(
            "run #{plan} holds no record of what its restore would run"
        )) && text.contains("plan again"),
        "{text}"
    );
    assert_eq!(
        page.app
            .store()
            .runs(Some(RunKind::Restore), 10)
            .unwrap()
            .len(),
        0
    );

    // A plan confirmed once is not confirmed again.
    let restore = finished(
        &page.app,
        &super::store::NewRun {
            kind: RunKind::Restore,
            backup_id: backup,
            backup_name: "nightly".to_owned(),
            by_user: "admin".to_owned(),
            archive: Some("/srv/backups/2024-05-01_020000.zip".to_owned()),
            sha256: Some("ab".repeat(32)),
            plan_run: Some(plan),
        },
        &super::store::Outcome::default(),
    );
    let (_, _, html) = send(&page, get(&format!("/runs/{plan}"), &cookie)).await;
    assert!(html.contains(&format!("restore run #{restore}")), "{html}");
    let again = post(
        &format!("/runs/{plan}/restore"),
        &cookie,
        &[("csrf", &token)],
    );
    let (status, _, html) = send(&page, again).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("confirmed already"), "{html}");
    let (_, _, html) = send(&page, get("/restores", &cookie)).await;
    assert!(unescape(&html).contains(&format!("<a href=\"/runs/{restore}\">")));

    let restored = finished_run(
        &page.app,
        RunKind::Restore,
        backup,
        serde_json::json!({
            "database": "database `geonode` on db:5432 as `geonode`", "target_version": "5.1.1",
            "plugins": [], "snapshot": "/srv/snapshots/geonode.dump",
            "folders": [{"from": "uploaded/", "to": "/srv/media", "files": 4, "bytes": 10, "previous": "/srv/.media.gnbr-previous-x"}],
        }),
    );
    let (status, _, html) = send(&page, get(&format!("/runs/{restored}"), &cookie)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let text = unescape(&html);
    for expected in [
        "/srv/snapshots/geonode.dump",
        "<code>uploaded/</code> → <code>/srv/media</code>: 4 files",
        "/srv/.media.gnbr-previous-x",
    ] {
        assert!(text.contains(expected), "`{expected}` not in {text}");
    }
}

/// A run of `kind` of the definition `nightly` by `admin`, its archive not known yet.
fn new_run(kind: super::store::RunKind) -> super::store::NewRun {
    super::store::NewRun {
        kind,
        backup_id: 1,
        backup_name: "nightly".to_owned(),
        by_user: "admin".to_owned(),
        archive: None,
        sha256: None,
        plan_run: None,
    }
}

#[tokio::test]
async fn warnings_are_part_of_a_runs_result() {
    use super::store::{Outcome, RunKind};
    let page = page();
    let (cookie, _) = logged_in(&page).await;
    let new = new_run(RunKind::Backup);
    let warned =
        "GeoServer's data directory /srv/gs_data is not there: the archive has no GeoServer part";
    let id = finished(
        &page.app,
        &new,
        &Outcome {
            archive: Some("/srv/backups/a.zip".to_owned()),
            details: Some(
                serde_json::json!({"fixtures": [], "files": 1, "bytes": 1, "seconds": 1.0}),
            ),
            warnings: vec![warned.to_owned(), "and another".to_owned()],
            ..Outcome::default()
        },
    );
    let run = page.app.store().run(id).unwrap().unwrap();
    assert_eq!(
        (run.status, run.label.as_str()),
        (Status::SucceededWithWarnings, "succeeded with warnings")
    );
    let (_, _, html) = send(&page, get(&format!("/runs/{id}"), &cookie)).await;
    let text = unescape(&html);
    for expected in [
        "<span class=\"status big succeeded_with_warnings\" id=\"status\">succeeded with warnings</span>",
        "<h2>2 warnings</h2>",
        &format!("<li>{warned}</li>"),
        "<li>and another</li>",
        "Archive written",
    ] {
        assert!(text.contains(expected), "`{expected}` not in {text}");
    }
    let (_, _, html) = send(&page, get("/runs", &cookie)).await;
    let text = unescape(&html);
    assert!(
        text.contains(
            "<span class=\"status succeeded_with_warnings\">succeeded with warnings</span>"
        ) && text.contains("(and 1 more)"),
        "{text}"
    );
    // Without warnings it is a plain success; a failure stays a failure.
    let plain = finished(&page.app, &new, &Outcome::default());
    let failed = finished(
        &page.app,
        &new,
        &Outcome {
            error: Some("it broke".to_owned()),
            warnings: vec![warned.to_owned()],
            ..Outcome::default()
        },
    );
    let status = |id| page.app.store().run(id).unwrap().unwrap().status;
    assert_eq!(
        (status(plain), status(failed)),
        (Status::Succeeded, Status::Failed)
    );
}

#[tokio::test]
async fn a_running_run_is_cancelled_from_its_page_until_its_point_of_no_return() {
    use super::store::{Outcome, RunKind};
    let page = page();
    let (cookie, token) = logged_in(&page).await;
    let new = new_run(RunKind::Restore);
    let id = page.app.store().start_run(&new, 1_714_528_800).unwrap();
    let cancel = Cancel::new();
    *page.app.shared.current.lock().unwrap() = Some(Going {
        id,
        cancel: cancel.clone(),
    });

    // Its page offers Cancel, behind a confirmation, with the page's token.
    let (_, _, html) = send(&page, get(&format!("/runs/{id}"), &cookie)).await;
    let text = unescape(&html);
    for expected in [
        "<summary>Cancel this restore…</summary>",
        &format!("<form method=\"post\" action=\"/runs/{id}/cancel\">"),
        &format!("name=\"csrf\" value=\"{token}\""),
        "Once it commits it can no longer be cancelled.",
    ] {
        assert!(text.contains(expected), "`{expected}` not in {text}");
    }

    // Without its token: refused. With it: cancelled, the log saying by whom.
    let cancel_form = |csrf: &str| post(&format!("/runs/{id}/cancel"), &cookie, &[("csrf", csrf)]);
    let (status, _, _) = send(&page, cancel_form("forged")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(cancel.cancelled_by(), None);
    let (status, _, _) = send(&page, cancel_form(&token)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(cancel.cancelled_by().as_deref(), Some("`admin`"));
    assert_eq!(
        page.app.store().log(id, 0).unwrap(),
        ["cancel asked by `admin`: the run stops at its next step and undoes what it began"]
    );
    let (status, _, _) = send(&page, cancel_form(&token)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "pressed twice: once");
    assert_eq!(page.app.store().log(id, 0).unwrap().len(), 1);

    // Past its point of no return, Cancel is refused, saying why.
    let committing = Cancel::new();
    committing.run(|| crate::cancel::final_step("the restore is committing").unwrap());
    *page.app.shared.current.lock().unwrap() = Some(Going {
        id,
        cancel: committing,
    });
    let (status, _, html) = send(&page, cancel_form(&token)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        unescape(&html).contains(&format!(
            "run #{id} can no longer be cancelled: the restore is committing"
        )),
        "{html}"
    );

    // A run that is not going on has nothing to cancel.
    *page.app.shared.current.lock().unwrap() = None;
    let (status, _, html) = send(&page, cancel_form(&token)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("is not going on"), "{html}");

    // Cancelled: its own status and colour, on its page and in the lists.
    page.app
        .store()
        .finish_run(
            id,
            &Outcome {
                error: Some("cancelled by `admin`".to_owned()),
                cancelled: true,
                ..Outcome::default()
            },
            1_714_528_860,
        )
        .unwrap();
    let run = page.app.store().run(id).unwrap().unwrap();
    assert_eq!(
        (run.status, run.label.as_str()),
        (Status::Cancelled, "cancelled")
    );
    let (_, _, html) = send(&page, get(&format!("/runs/{id}"), &cookie)).await;
    let text = unescape(&html);
    for expected in [
        "<span class=\"status big cancelled\" id=\"status\">cancelled</span>",
        "<h2>It was cancelled</h2>",
        "cancelled by `admin`",
    ] {
        assert!(text.contains(expected), "`{expected}` not in {text}");
    }
    assert!(!text.contains("Cancel this restore"), "{text}");
    for list in ["/runs", "/restores"] {
        let (_, _, html) = send(&page, get(list, &cookie)).await;
        assert!(
            html.contains("<span class=\"status cancelled\">cancelled</span>"),
            "{html}"
        );
    }
}

/// Adds the definition `name` backing up into `folder`; returns its id and
/// its Archives page's text.
async fn archives_of_new(
    page: &Page,
    (cookie, token): (&str, &str),
    name: &str,
    folder: &std::path::Path,
) -> (i64, String) {
    let form = [
        ("csrf", token),
        ("name", name),
        ("base_folder", folder.to_str().unwrap()),
    ];
    send(page, post("/backups/new", cookie, &form)).await;
    let id = page.app.store().backups().unwrap()[0].id;
    let (status, _, html) = send(page, get(&format!("/backups/{id}/archives"), cookie)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    (id, unescape(&html))
}

#[tokio::test]
async fn a_definitions_archives_are_listed_downloaded_and_deleted_with_their_sidecars_only() {
    let page = page();
    let (cookie, token) = logged_in(&page).await;
    let folder = tempfile::tempdir().unwrap();
    let archive = folder.path().join("2024-05-01_020000.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&archive).unwrap());
    zip.start_file(
        "fixtures/base.json",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    std::io::Write::write_all(&mut zip, b"[]").unwrap();
    zip.finish().unwrap();
    let bytes = std::fs::read(&archive).unwrap();
    let kept = [
        "2024-05-01_020000.txt",
        ".2024-05-01_020000.zip.gnbr-1.tmp",
        "notes.ini",
    ];
    for (name, text) in [
        ("2024-05-01_020000.md5", "x"),
        ("2024-05-01_020000.ini", "x"),
        ("junk.zip", "not a zip"),
    ]
    .into_iter()
    .chain(kept.iter().map(|k| (*k, "keep")))
    {
        std::fs::write(folder.path().join(name), text).unwrap();
    }
    let (id, text) = archives_of_new(&page, (&cookie, &token), "nightly", folder.path()).await;
    for expected in [
        "<tr data-archive=\"2024-05-01_020000.zip\">",
        ".md5 sidecar beside it",
        "not recorded (inferred when planned)",
        "<tr data-archive=\"junk.zip\">",
        "not readable: ",
        &format!("{} bytes", bytes.len()),
    ] {
        assert!(text.contains(expected), "`{expected}` not in {text}");
    }
    assert!(
        !text.contains("gnbr-1.tmp") && !text.contains("notes.ini"),
        "{text}"
    );

    // Downloaded whole, as an attachment; nothing outside the folder's archives.
    let response = page
        .router
        .clone()
        .oneshot(get(
            &format!("/backups/{id}/archives/download?name=2024-05-01_020000.zip"),
            &cookie,
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_DISPOSITION],
        "attachment; filename=\"2024-05-01_020000.zip\"; filename*=UTF-8''2024-05-01_020000.zip"
    );
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(body.to_vec(), bytes);
    for name in ["..%2F..%2Fetc%2Fpasswd", "notes.ini", "missing.zip"] {
        let (status, _, html) = send(
            &page,
            get(
                &format!("/backups/{id}/archives/download?name={name}"),
                &cookie,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {html}");
    }

    // Deleting asks first, naming the files; without the form's token nothing goes.
    let (status, _, html) = send(
        &page,
        get(
            &format!("/backups/{id}/archives/delete?name=2024-05-01_020000.zip"),
            &cookie,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let text = unescape(&html);
    for ext in ["zip", "md5", "ini"] {
        let file = folder.path().join(format!("2024-05-01_020000.{ext}"));
        assert!(
            text.contains(&format!("<li><code>{}</code></li>", file.display())),
            "{text}"
        );
    }
    let delete = format!("/backups/{id}/archives/delete");
    let (status, _, _) = send(
        &page,
        post(
            &delete,
            &cookie,
            &[("csrf", "x"), ("name", "2024-05-01_020000.zip")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(archive.exists());
    let (status, _, _) = send(
        &page,
        post(
            &delete,
            &cookie,
            &[("csrf", &token), ("name", "2024-05-01_020000.zip")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    for ext in ["zip", "md5", "ini"] {
        assert!(!folder
            .path()
            .join(format!("2024-05-01_020000.{ext}"))
            .exists());
    }
    for name in kept.iter().chain(&["junk.zip"]) {
        assert!(folder.path().join(name).exists(), "{name} kept");
    }

    // A run's log as a text file.
    let run = finished_run(
        &page.app,
        super::store::RunKind::Backup,
        id,
        serde_json::json!({}),
    );
    page.app.store().append_log(run, "first line", 0).unwrap();
    page.app
        .store()
        .append_log(run, "warning: second", 0)
        .unwrap();
    let response = page
        .router
        .clone()
        .oneshot(get(&format!("/runs/{run}/log.txt"), &cookie))
        .await
        .unwrap();
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert_eq!(
        response.headers()[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"gnbr-run-{run}-backup.log\"; filename*=UTF-8''gnbr-run-{run}-backup.log")
    );
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(body.to_vec(), b"first line\nwarning: second\n");
}

/// `GET /runs/{id}/log?from=N` as the page's script reads it.
async fn run_log(page: &Page, cookie: &str, id: i64, from: usize) -> serde_json::Value {
    let (status, _, body) = send(page, get(&format!("/runs/{id}/log?from={from}"), cookie)).await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn a_running_runs_log_carries_its_latest_progress_and_not_as_lines() {
    let page = page();
    let (cookie, _) = logged_in(&page).await;
    let run = super::store::NewRun {
        kind: super::store::RunKind::Restore,
        backup_id: 1,
        backup_name: "nightly".to_owned(),
        by_user: "admin".to_owned(),
        archive: Some("/srv/backups/2024-05-01_020000.zip".to_owned()),
        sha256: None,
        plan_run: None,
    };
    let id = page.app.store().start_run(&run, super::now()).unwrap();
    *page.app.shared.current.lock().unwrap() = Some(Going {
        id,
        cancel: Cancel::new(),
    });
    assert_eq!(
        run_log(&page, &cookie, id, 0).await["progress"],
        serde_json::Value::Null
    );

    // What a run's Ui hands its sink: a line, then the load's counts.
    (page.app.log.line)("loading 10000 objects");
    let loading = ProgressEvent {
        stage: "loading".to_owned(),
        done: 1_234,
        total: Some(10_000),
        unit: Unit::Objects,
        rate: Some(250.0),
        eta_seconds: Some(36),
        detail: None,
    };
    (page.app.log.progress)(Some(&loading));
    let log = run_log(&page, &cookie, id, 0).await;
    assert_eq!(log["lines"], serde_json::json!(["loading 10000 objects"]));
    assert_eq!(
        log["progress"],
        serde_json::json!({
            "stage": "loading", "done": 1234, "total": 10000, "unit": "objects",
            "rate": 250.0, "eta_seconds": 36,
            "text": "loading: 1,234 of 10,000 objects, 250/s, about 36 s left"
        })
    );
    // The page shows it above the log (and its script renews it).
    let (_, _, html) = send(&page, get(&format!("/runs/{id}"), &cookie)).await;
    assert!(
        html.contains(r#"<progress id="progress" aria-labelledby="progress-line" max="10000" value="1234"></progress>"#),
        "{html}"
    );
    assert!(
        unescape(&html).contains(
            r#"<p id="progress-line">loading: 1,234 of 10,000 objects, 250/s, about 36 s left</p>"#
        ),
        "{html}"
    );

    // A progress that ended is taken away; so is one of a run that ended.
    (page.app.log.progress)(None);
    assert_eq!(
        run_log(&page, &cookie, id, 1).await["progress"],
        serde_json::Value::Null
    );
    let (_, _, html) = send(&page, get(&format!("/runs/{id}"), &cookie)).await;
    assert!(
        html.contains(r#"<progress id="progress" aria-labelledby="progress-line"></progress>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<p id="progress-line" hidden></p>"#),
        "{html}"
    );
    (page.app.log.progress)(Some(&loading));
    let outcome = super::store::Outcome::default();
    page.app
        .store()
        .finish_run(id, &outcome, super::now())
        .unwrap();
    *page.app.shared.current.lock().unwrap() = None;
    let log = run_log(&page, &cookie, id, 1).await;
    assert_eq!(log["running"], false);
    assert_eq!(log["progress"], serde_json::Value::Null);
}

#[test]
fn sizes_read_as_people_read_them() {
    for (bytes, shown) in [
        (0, "0 bytes"),
        (1, "1 byte"),
        (999, "999 bytes"),
        (1_000, "1.00 KB"),
        (1_536, "1.54 KB"),
        (12_345, "12.3 KB"),
        (999_499, "999 KB"),
        (1_000_000, "1.00 MB"),
        (123_456_789, "123 MB"),
        (4_200_000_000, "4.20 GB"),
        (56_700_000_000, "56.7 GB"),
        (2_000_000_000_000, "2.00 TB"),
    ] {
        assert_eq!(crate::ui::size(bytes), shown, "{bytes} bytes");
    }
}

#[test]
fn counts_take_the_plural_unless_one() {
    assert_eq!(crate::ui::plural(0, "file"), "0 files");
    assert_eq!(crate::ui::plural(1, "file"), "1 file");
    assert_eq!(crate::ui::plural(2, "fixture"), "2 fixtures");
    let env = super::templates();
    let shown = env
        .render_str(
            r#"{{ 1 | plural("table") }}, {{ 3 | plural("object") }}, {{ 1000 | size }}"#,
            (),
        )
        .unwrap();
    assert_eq!(shown, "1 table, 3 objects, 1.00 KB");
}

#[test]
fn times_are_time_elements_in_utc() {
    let env = super::templates();
    let shown = env.render_str("{{ 1714528860 | utc }}", ()).unwrap();
    assert_eq!(
        shown,
        r#"<time datetime="2024-05-01T02:01:00Z">2024-05-01 02:01:00 UTC</time>"#
    );
}

#[tokio::test]
async fn schedules_and_retention_are_validated_on_save_and_shown_with_the_next_run() {
    let page = page();
    let (cookie, token) = logged_in(&page).await;
    let folder = tempfile::tempdir().unwrap();
    let base = folder.path().to_str().unwrap();
    for (schedule, keep_daily, problem) in [
        ("61 2 * * *", "", "the schedule `61 2 * * *` is not a cron schedule"),
        ("30 2 * *", "", "give five fields, minute hour day-of-month month day-of-week, in UTC: e.g. `30 2 * * *`"),
        ("", "-1", "“Keep daily” is `-1`: give a whole number of archives from 0 to 10000"),
        ("", "seven", "“Keep daily” is `seven`"),
    ] {
        let form = [
            ("csrf", token.as_str()),
            ("name", "nightly"),
            ("base_folder", base),
            ("schedule", schedule),
            ("keep_daily", keep_daily),
        ];
        let (status, _, html) = send(&page, post("/backups/new", &cookie, &form)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(unescape(&html).contains(problem), "{problem} not in {html}");
        assert!(html.contains(&format!("value=\"{keep_daily}\"")), "the form keeps what was typed: {html}");
    }
    let form = [
        ("csrf", token.as_str()),
        ("name", "nightly"),
        ("base_folder", base),
        ("schedule", " 30  2 * * * "),
        ("keep_daily", "7"),
        ("keep_monthly", "0"),
    ];
    let (status, _, _) = send(&page, post("/backups/new", &cookie, &form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let backup = page.app.store().backups().unwrap().remove(0);
    assert_eq!(backup.schedule.as_deref(), Some("30 2 * * *"));
    assert_eq!(
        backup.keep,
        crate::retention::KeepPolicy {
            daily: 7,
            ..Default::default()
        }
    );
    let (_, _, html) = send(&page, get("/backups", &cookie)).await;
    let html = unescape(&html);
    assert!(html.contains("<code>30 2 * * *</code>"), "{html}");
    assert!(html.contains("next: <time"), "{html}");
    assert!(html.contains("02:30:00 UTC</time>"), "{html}");
    assert!(html.contains("<code>--keep-daily 7</code>"), "{html}");
    let (_, _, html) = send(
        &page,
        get(&format!("/backups/{}/backup", backup.id), &cookie),
    )
    .await;
    assert!(
        unescape(&html).contains("the retention policy</strong> (<code>--keep-daily 7</code>)"),
        "{html}"
    );
    let (_, _, html) = send(&page, get(&format!("/backups/{}/edit", backup.id), &cookie)).await;
    assert!(
        html.contains("name=\"keep_daily\" min=\"0\" max=\"10000\" value=\"7\""),
        "{html}"
    );
    assert!(
        html.contains("name=\"keep_monthly\" min=\"0\" max=\"10000\" value=\"\""),
        "{html}"
    );
}

/// A definition scheduled `schedule`, its due times counted from `checked`.
fn scheduled(page: &Page, schedule: &str, checked: i64) -> super::store::Backup {
    let fields = super::store::BackupFields {
        name: "nightly".to_owned(),
        description: String::new(),
        base_folder: "/var/tmp/gnbr-web-test".to_owned(),
        skip_geoserver: false,
        schedule: Some(schedule.to_owned()),
        keep: crate::retention::KeepPolicy::default(),
        encrypt: false,
        recipients: Vec::new(),
    };
    let id = page
        .app
        .store()
        .add_backup(&fields, checked, checked)
        .unwrap();
    page.app.store().backup(id).unwrap().unwrap()
}

fn utc(text: &str) -> i64 {
    crate::time::parse_utc(text).unwrap()
}

#[tokio::test]
async fn missed_runs_are_reported_and_one_catch_up_run_starts_through_the_job_path() {
    let page = page();
    let (cookie, _) = logged_in(&page).await;
    let backup = scheduled(&page, "30 2 * * *", utc("2026-11-30T20:00:00"));

    // gnbr serve comes back on Thursday morning: three nights were missed.
    page.app.look(utc("2026-12-03T08:00:00"));
    let run = wait_for_end(&page.app).await;
    let runs = page.app.store().runs(None, 10).unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let missed = &runs[1];
    assert_eq!(
        (missed.status, missed.label.as_str()),
        (Status::Missed, "missed")
    );
    assert_eq!(missed.started, utc("2026-12-01T02:30:00"));
    assert_eq!(missed.by_user, "(schedule)");
    assert_eq!(
        missed.message.as_deref(),
        Some("missed 3 scheduled runs since 2026-12-01 02:30:00 UTC (schedule `30 2 * * *`, UTC): gnbr serve was not running at those times (or the machine slept); one catch-up run replaces them")
    );
    assert_eq!(
        (run.id, run.by_user.as_str(), run.status),
        (runs[0].id, "(schedule)", Status::Failed)
    );
    assert_eq!(
        page.app.store().log(run.id, 0).unwrap()[0],
        "scheduled run (schedule `30 2 * * *`, UTC) for 2026-12-03 02:30:00 UTC"
    );
    let (_, _, html) = send(&page, get("/backups", &cookie)).await;
    assert!(
        html.contains("missed 3 runs since <time datetime=\"2026-12-01T02:30:00Z\">"),
        "{html}"
    );
    let (_, _, html) = send(&page, get("/runs", &cookie)).await;
    assert!(
        html.contains("<span class=\"status missed\">missed</span>"),
        "{html}"
    );
    let (_, _, html) = send(&page, get(&format!("/runs/{}", missed.id), &cookie)).await;
    assert!(html.contains("Scheduled runs missed"), "{html}");

    // Looking again finds nothing more.
    page.app.look(utc("2026-12-03T08:00:15"));
    assert_eq!(page.app.store().runs(None, 10).unwrap().len(), 2);

    // Due while another run goes on: it waits, then starts when that run ended.
    page.app.look(utc("2026-12-04T02:29:50"));
    *page.app.shared.current.lock().unwrap() = Some(Going {
        id: 999,
        cancel: Cancel::new(),
    });
    page.app.look(utc("2026-12-04T02:30:05"));
    let waiting = page.app.store().backup(backup.id).unwrap().unwrap();
    assert_eq!(waiting.schedule_pending, Some(utc("2026-12-04T02:30:00")));
    assert_eq!(page.app.store().runs(None, 10).unwrap().len(), 2);
    let (_, _, html) = send(&page, get("/backups", &cookie)).await;
    assert!(html.contains("waits for the run going on"), "{html}");
    *page.app.shared.current.lock().unwrap() = None;
    page.app.look(utc("2026-12-04T02:30:20"));
    let run = wait_for_end(&page.app).await;
    assert_eq!(run.by_user, "(schedule)");
    assert_eq!(
        page.app.store().runs(None, 10).unwrap().len(),
        3,
        "no missed entry"
    );
    assert_eq!(
        page.app
            .store()
            .backup(backup.id)
            .unwrap()
            .unwrap()
            .schedule_pending,
        None
    );
}

#[tokio::test]
async fn a_bucket_prefix_is_a_base_folder_and_an_unreachable_bucket_is_said_on_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("settings.ini");
    // Nothing listens on port 9 of loopback: the bucket cannot be reached.
    std::fs::write(
        &settings,
        "[storage]\nendpoint = http://127.0.0.1:9\nregion = garage\n",
    )
    .unwrap();
    let page = page_with(settings, |_| {}, quick_limits());
    let (cookie, token) = logged_in(&page).await;
    for bad in ["s3://Bad_Bucket/x", "s3://gnbr-page-test//x"] {
        let form = [
            ("csrf", token.as_str()),
            ("name", "offsite"),
            ("base_folder", bad),
        ];
        let (status, _, html) = send(&page, post("/backups/new", &cookie, &form)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        let text = unescape(&html);
        assert!(
            text.contains("is not a bucket location s3://BUCKET/PREFIX"),
            "{text}"
        );
    }
    let form = [
        ("csrf", token.as_str()),
        ("name", "offsite"),
        ("base_folder", "s3://gnbr-page-test/site-a/"),
    ];
    let (status, _, _) = send(&page, post("/backups/new", &cookie, &form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let backup = page.app.store().backups().unwrap().remove(0);
    assert_eq!(
        backup.base_folder, "s3://gnbr-page-test/site-a",
        "kept without its trailing /"
    );
    assert!(backup.in_bucket());

    // The archives page and the backup's confirmation say what is wrong, naming the bucket.
    for path in [
        format!("/backups/{}/archives", backup.id),
        format!("/backups/{}/backup", backup.id),
    ] {
        let (status, _, html) = send(&page, get(&path, &cookie)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
        let text = unescape(&html);
        assert!(
            text.contains("cannot read the archives of “offsite” in s3://gnbr-page-test/site-a: "),
            "{path}: {text}"
        );
        assert!(text.contains("hint: "), "{path}: {text}");
        assert!(text.contains("gnbr serve"), "{path}: {text}");
    }
    // Nothing to plan, download or delete there: the same error, no run.
    let (status, _, html) = send(
        &page,
        post(
            &format!("/backups/{}/archives/plan", backup.id),
            &cookie,
            &[("csrf", &token), ("name", "2026-01-02_030405.zip")],
        ),
    )
    .await;
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{html}");
    assert!(
        unescape(&html).contains("s3://gnbr-page-test/site-a"),
        "{html}"
    );
    assert!(page.app.store().runs(None, 10).unwrap().is_empty());
}

/// An age key pair: the identity file's text and its recipient.
fn age_key() -> (age::x25519::Identity, String) {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    (identity, recipient)
}

#[tokio::test]
async fn encrypted_archives_are_listed_and_not_planned_without_the_servers_key() {
    let page = page();
    let (cookie, token) = logged_in(&page).await;
    let folder = tempfile::tempdir().unwrap();
    let (_, recipient) = age_key();
    let encryption = crate::archive::Encryption::for_backup(&[recipient], None).unwrap();
    let mut writer = crate::archive::BackupWriter::create_numbered(
        &folder.path().join("2024-05-01_020000.zip.age"),
        Some(&encryption),
    )
    .unwrap();
    let mut entry = writer.entry("fixtures/base.json").unwrap();
    std::io::Write::write_all(&mut entry, b"[]").unwrap();
    entry.close().unwrap();
    let sealed = writer.finish().unwrap();
    assert!(sealed.exists(), "{}", sealed.display());
    let (id, text) = archives_of_new(&page, (&cookie, &token), "sealed", folder.path()).await;
    for expected in [
        "<tr data-archive=\"2024-05-01_020000.zip.age\">",
        "<td class=\"encrypted\">yes</td>",
        "no identity file was given",
        "GNBR_IDENTITY_FILE",
        "GNBR_PASSPHRASE",
    ] {
        assert!(text.contains(expected), "`{expected}` not in {text}");
    }
    // gnbr serve holds no key for it: planning is refused, saying what to set, and nothing starts.
    let (status, _, html) = send(
        &page,
        post(
            &format!("/backups/{id}/archives/plan"),
            &cookie,
            &[("csrf", &token), ("name", "2024-05-01_020000.zip.age")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    let text = unescape(&html);
    for expected in [
        "cannot decrypt",
        "2024-05-01_020000.zip.age",
        "nothing was started",
        "GNBR_IDENTITY_FILE",
        "restart it",
    ] {
        assert!(text.contains(expected), "`{expected}` not in {text}");
    }
    assert!(page.app.store().runs(None, 10).unwrap().is_empty());
}

#[tokio::test]
async fn a_definition_encrypts_to_the_recipients_it_stores_and_never_a_passphrase() {
    let page = page();
    let (cookie, token) = logged_in(&page).await;
    let folder = tempfile::tempdir().unwrap();
    let base = folder.path().to_str().unwrap();
    let (_, recipient) = age_key();
    let bad = [
        ("csrf", token.as_str()),
        ("name", "sealed"),
        ("base_folder", base),
        ("encrypt", "on"),
        ("recipients", "age1nope"),
    ];
    let (status, _, html) = send(&page, post("/backups/new", &cookie, &bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        unescape(&html).contains("`age1nope` is not an age recipient"),
        "{html}"
    );
    assert!(page.app.store().backups().unwrap().is_empty());

    let recipients = format!("# the vault's key\n{recipient}\n\n");
    let form = [
        ("csrf", token.as_str()),
        ("name", "sealed"),
        ("base_folder", base),
        ("encrypt", "on"),
        ("recipients", recipients.as_str()),
    ];
    let (status, _, _) = send(&page, post("/backups/new", &cookie, &form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let backup = page.app.store().backups().unwrap().remove(0);
    assert!(backup.encrypt);
    assert_eq!(backup.recipients, std::slice::from_ref(&recipient));
    let (_, _, html) = send(&page, get("/backups", &cookie)).await;
    assert!(html.contains("encrypted to 1 recipient"), "{html}");
    let (_, _, html) = send(&page, get(&format!("/backups/{}/edit", backup.id), &cookie)).await;
    assert!(
        html.contains(&recipient) && html.contains("name=\"encrypt\" value=\"on\" checked"),
        "{html}"
    );
    let (_, _, html) = send(
        &page,
        get(&format!("/backups/{}/backup", backup.id), &cookie),
    )
    .await;
    let text = unescape(&html);
    assert!(text.contains("YYYY-MM-DD_HHMMSS.zip.age"), "{text}");
    assert!(text.contains("to 1 recipient"), "{text}");

    // Its run is `gnbr backup --encrypt --recipient ...` (it fails here: no settings file).
    let (status, _, _) = send(
        &page,
        post(
            &format!("/backups/{}/backup", backup.id),
            &cookie,
            &[("csrf", &token)],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let run = wait_for_end(&page.app).await;
    let log = page.app.store().log(run.id, 0).unwrap();
    assert!(
        log[0].contains(&format!("--encrypt --recipient {recipient}")),
        "{log:?}"
    );
}
