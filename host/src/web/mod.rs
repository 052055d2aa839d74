//! `gnbr serve`: the admin web page for backups and restores.
//!
//! Server-rendered pages (axum, minijinja templates; two small scripts:
//! a run's live log, local times and busy buttons), for GeoNode superusers only: their password hashes are read
//! through one long-lived Django helper and checked here, logins are
//! throttled per client address and in all, and a session's user is
//! checked again against GeoNode on every POST and every few minutes.
//! Sessions and CSRF tokens are random, cookies are HttpOnly and
//! SameSite=Strict (and Secure behind https), every POST carries its
//! form's token and comes from the page's own origin or is refused with
//! 403, and a request for a Host the page is not served under gets 400.
//! Runs drive the same `backup`/`restore` code as the command line, one at
//! a time, in the background, their lines (and warnings) kept in the
//! embedded database; a restore runs only as its plan froze it.

mod archives;
mod auth;
mod client;
mod frozen;
mod jobs;
mod pages;
pub mod password;
pub mod store;
pub mod throttle;

#[cfg(test)]
mod tests;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError, Weak},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::{self, Next},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use minijinja::Environment;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use auth::Users;

use crate::{
    archive::hex,
    config::ServeSettings,
    errors::{Error, ErrorKind},
    exit_codes,
    geonode::GeoNode,
    requests::{ServeRequest, Setup},
    ui::{LogSink, ProgressEvent, Ui},
    web::{
        client::Site,
        store::{Run, Session, Store},
        throttle::{LoginLimits, Throttle},
    },
};

/// The session cookie.
const SESSION_COOKIE: &str = "gnbr_session";
/// The login form's CSRF cookie (before there is a session).
const LOGIN_COOKIE: &str = "gnbr_login";
/// Largest form accepted.
const MAX_FORM: usize = 64 * 1024;

/// The admin page: its state, templates, and how it checks logins and runs commands.
pub struct App {
    shared: Arc<Shared>,
    log: LogSink,
    templates: Environment<'static>,
    users: Box<dyn Users>,
    /// The settings and plugins the runs use.
    setup: Setup,
    quiet: bool,
    /// The names and origin it is served under (`[serve]`).
    site: Site,
    /// How fast logins may be tried.
    throttle: Throttle,
    /// The thread of the last run started, joined when `gnbr serve` stops.
    runner: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// What the page and the background run share.
struct Shared {
    store: Store,
    /// The run going on, if any: one at a time.
    current: Mutex<Option<jobs::Going>>,
    /// The latest progress of a run, while one shows it.
    progress: Mutex<Option<(i64, ProgressEvent)>>,
}

impl App {
    /// The page over the state in `state_dir`, checking logins with
    /// `users`, running commands with `setup`'s settings and plugins,
    /// served as their `[serve]` section says.
    ///
    /// # Errors
    ///
    /// When the settings cannot be read, or the state folder or its
    /// database cannot be opened.
    pub fn new(
        state_dir: &std::path::Path,
        setup: Setup,
        users: Box<dyn Users>,
        quiet: bool,
    ) -> Result<Arc<Self>, Error> {
        let serve = setup.load_settings()?.serve;
        Self::with(
            state_dir,
            setup,
            users,
            quiet,
            &serve,
            LoginLimits::default(),
        )
    }

    /// [`App::new`] with `[serve]` settings and login limits given.
    ///
    /// # Errors
    ///
    /// When the state folder or its database cannot be opened.
    pub fn with(
        state_dir: &std::path::Path,
        setup: Setup,
        users: Box<dyn Users>,
        quiet: bool,
        serve: &ServeSettings,
        limits: LoginLimits,
    ) -> Result<Arc<Self>, Error> {
        let shared = Arc::new(Shared {
            store: Store::open(state_dir, now())?,
            current: Mutex::new(None),
            progress: Mutex::new(None),
        });
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        // One closure per page, alive as long as the process: `Ui` is `Copy`.
        let sink: &'static (dyn Fn(&str) + Send + Sync) = Box::leak(Box::new(move |line: &str| {
            let Some(shared) = weak.upgrade() else { return };
            let current = shared
                .current
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(run) = current.as_ref().map(|going| going.id) {
                if let Err(e) = shared.store.append_log(run, line, now()) {
                    tracing::warn!("cannot keep a line of run #{run}: {e}");
                }
            }
        }));
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        let progress: &'static (dyn Fn(Option<&ProgressEvent>) + Send + Sync) =
            Box::leak(Box::new(move |event: Option<&ProgressEvent>| {
                let Some(shared) = weak.upgrade() else { return };
                let current = shared
                    .current
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                    .map(|going| going.id);
                *shared
                    .progress
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = current.zip(event.cloned());
            }));
        Ok(Arc::new(Self {
            shared,
            log: LogSink {
                line: sink,
                progress,
            },
            templates: templates(),
            users,
            setup,
            quiet,
            site: Site::new(serve),
            throttle: Throttle::new(limits),
            runner: Mutex::new(None),
        }))
    }

    fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The run going on, if any.
    fn current_run(&self) -> Option<Run> {
        self.store().run(self.current()?).ok().flatten()
    }

    /// The latest progress of run `id`, while it shows one.
    fn progress_of(&self, id: i64) -> Option<ProgressEvent> {
        let progress = self
            .shared
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        progress
            .as_ref()
            .filter(|(run, _)| *run == id)
            .map(|(_, event)| event.clone())
    }

    /// The id of the run going on, if any.
    fn current(&self) -> Option<i64> {
        self.shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|going| going.id)
    }

    /// A page from `template`, with the session's user and token and the
    /// run going on.
    fn render(
        &self,
        status: StatusCode,
        template: &str,
        session: Option<&Session>,
        context: minijinja::Value,
    ) -> Response {
        let common = minijinja::context! {
            user => session.map(|s| s.username.clone()),
            csrf => session.map(|s| s.csrf.clone()),
            current => session.and_then(|_| self.current_run()),
        };
        let html = self
            .templates
            .get_template(template)
            .and_then(|t| t.render(minijinja::context! { ..context, ..common }));
        match html {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!("template {template}: {e:#}");
                (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
            }
        }
    }

    /// A page saying what went wrong, with the error as the command line prints it.
    fn error_page(&self, session: Option<&Session>, error: &Error) -> Response {
        let status = match error.kind {
            ErrorKind::Usage | ErrorKind::Input => StatusCode::BAD_REQUEST,
            ErrorKind::Refused | ErrorKind::Cancelled => StatusCode::CONFLICT,
            ErrorKind::Target | ErrorKind::Plugin => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Run => StatusCode::INTERNAL_SERVER_ERROR,
        };
        self.render(
            status,
            "error.html",
            session,
            minijinja::context! { title => "Not done", message => error.to_string() },
        )
    }

    fn not_found(&self, session: &Session) -> Response {
        self.render(
            StatusCode::NOT_FOUND,
            "error.html",
            Some(session),
            minijinja::context! { title => "Not found", message => "There is no such page (it may have been deleted)." },
        )
    }

    fn forbidden(&self) -> Response {
        self.render(
            StatusCode::FORBIDDEN,
            "error.html",
            None,
            minijinja::context! {
                title => "Forbidden",
                message => "This form has no valid security token: it is older than your session, or did not come from this page. Nothing was done.",
            },
        )
    }
}

/// Runs `gnbr serve`: the admin page until Ctrl-C or SIGTERM.
///
/// # Errors
///
/// Invalid settings, a state folder that cannot be written, an address
/// that cannot be bound.
pub fn run(request: &ServeRequest, ui: Ui) -> Result<i32, Error> {
    let settings = request.setup.load_settings_warned(ui)?;
    let users = GeoNode::new(&settings.geonode)?;
    let app = App::new(
        &settings.serve.state_dir,
        request.setup.clone(),
        Box::new(users),
        ui.quiet,
    )?;
    let served = serve(request.listen, app.clone(), ui);
    app.wait_for_run(ui);
    served?;
    Ok(exit_codes::SUCCESS)
}

/// Serves the admin page on `listen` until Ctrl-C or SIGTERM, which
/// cancel the run going on; prints its URL on stdout.
///
/// # Errors
///
/// When the address cannot be bound or the server fails.
fn serve(listen: SocketAddr, app: Arc<App>, ui: Ui) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorKind::Run, format!("cannot start the web server: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            Error::new(ErrorKind::Usage, format!("cannot listen on {listen}: {e}"))
                .hint("pass another address with --listen, e.g. --listen 127.0.0.1:8081")
        })?;
        let bound = listener.local_addr().unwrap_or(listen);
        if !bound.ip().is_loopback() {
            ui.warn(&format!(
                "listening on {bound}, not on loopback: put a proxy with TLS in front of it, and name the page's address in settings.ini [serve] public_origin (or allowed_hosts): other Host names are refused"
            ));
        }
        if ui.json {
            println!(
                "{}",
                serde_json::json!({ "url": format!("http://{bound}/") })
            );
        } else {
            println!("http://{bound}/");
        }
        ui.info(&format!(
            "serving the admin page on http://{bound}/ (Ctrl-C stops it)"
        ));
        axum::serve(
            listener,
            router(app.clone()).into_make_service_with_connect_info::<SocketAddr>(),
        )
            .with_graceful_shutdown(shutdown(app, ui))
            .await
            .map_err(|e| Error::new(ErrorKind::Run, format!("the web server failed: {e}")))
    })
}

/// Ends when gnbr serve is asked to stop (SIGINT or SIGTERM), having
/// cancelled the run going on.
async fn shutdown(app: Arc<App>, ui: Ui) {
    let signal = stop_signal().await;
    ui.info(&format!("stopping on {signal}"));
    app.cancel_for_stop(&format!("gnbr serve stopping ({signal})"), ui);
}

/// The signal that stops gnbr serve, once it comes.
async fn stop_signal() -> &'static str {
    let interrupt = tokio::signal::ctrl_c();
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = interrupt.await;
        return "SIGINT";
    };
    tokio::select! {
        _ = interrupt => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// The page's routes, behind the login and CSRF guard and the security headers.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/backups") }))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/backups", get(pages::backups))
        .route("/backups/new", get(pages::new_form).post(pages::add))
        .route(
            "/backups/{id}/edit",
            get(pages::edit_form).post(pages::edit),
        )
        .route(
            "/backups/{id}/delete",
            get(pages::delete_form).post(pages::delete),
        )
        .route(
            "/backups/{id}/backup",
            get(pages::backup_confirm).post(pages::backup_start),
        )
        .route("/backups/{id}/restore", post(pages::plan_start))
        .route("/backups/{id}/archives", get(archives::archives))
        .route("/backups/{id}/archives/plan", post(archives::plan))
        .route("/backups/{id}/archives/download", get(archives::download))
        .route(
            "/backups/{id}/archives/delete",
            get(archives::delete_form).post(archives::delete),
        )
        .route("/runs/{id}/log.txt", get(archives::log_file))
        .route("/runs", get(pages::runs))
        .route("/restores", get(pages::restores))
        .route("/runs/{id}", get(pages::run))
        .route("/runs/{id}/log", get(pages::run_log))
        .route("/runs/{id}/restore", post(pages::restore_start))
        .route("/runs/{id}/cancel", post(pages::cancel))
        .route("/static/style.css", get(|| async { css() }))
        .route(
            "/static/live.js",
            get(|| async { script(include_str!("static/live.js")) }),
        )
        .route(
            "/static/page.js",
            get(|| async { script(include_str!("static/page.js")) }),
        )
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .layer(middleware::from_fn_with_state(app.clone(), site_check))
        .layer(middleware::from_fn(security_headers))
        .with_state(app)
}

/// Requests for the page's own names only (else 400), POSTs from its own
/// origin only (else 403); the client's address noted for the login throttle.
async fn site_check(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let host = match app.site.host(request.headers()) {
        Ok(host) => host,
        Err(sent) => {
            tracing::warn!(
                "refused a request for Host {:?}: not [serve] public_origin's nor in allowed_hosts",
                sent.unwrap_or("(none)")
            );
            return (
                StatusCode::BAD_REQUEST,
                "This page is not served under that name. Its admin lists the names it answers to in settings.ini [serve] public_origin and allowed_hosts.",
            )
                .into_response();
        }
    };
    if request.method() == Method::POST && !app.site.same_origin(request.headers(), &host) {
        tracing::warn!(
            "refused a POST to {} from another origin",
            request.uri().path()
        );
        return app.forbidden();
    }
    let client = app.site.client(&request);
    request.extensions_mut().insert(client);
    next.run(request).await
}

/// How long a session's user is trusted without asking GeoNode again (reads only).
const RECHECK_SECONDS: i64 = 120;
/// How long reads go on while GeoNode cannot be asked (a restore holds its
/// users' table, the database restarts); POSTs wait for an answer.
const READ_GRACE_SECONDS: i64 = 30 * 60;

/// Logged-in pages only; every POST must carry its form's CSRF token
/// (the session's, or the login cookie's for the login form), else 403.
/// A session's user is checked again against GeoNode on every POST, every
/// archive download and every few minutes: gone, inactive or no longer a superuser, every
/// session of the user ends. A run's Cancel, which only stops and undoes,
/// goes through while GeoNode cannot answer (the restore it cancels may
/// hold the users' table), as reads do.
async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let public = path == "/login" || path.starts_with("/static/");
    let token = cookie(request.headers(), SESSION_COOKIE).map(|t| sha256_hex(&t));
    let session = token
        .as_ref()
        .and_then(|token| app.store().session(token, now()).ok().flatten());
    let post = request.method() == Method::POST;
    let mut request = if post {
        let expected = if path == "/login" {
            cookie(request.headers(), LOGIN_COOKIE)
        } else {
            session.as_ref().map(|s| s.csrf.clone())
        };
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response();
        };
        let sent = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned());
        if !tokens_match(sent.as_deref(), expected.as_deref()) {
            tracing::warn!("refused a POST to {path} without a valid CSRF token");
            return app.forbidden();
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        request
    };
    if !public {
        let (Some(session), Some(token)) = (session, token) else {
            return Redirect::to("/login").into_response();
        };
        // An archive holds every user's password hash: its download waits for GeoNode's word, as a POST does.
        let download = path.ends_with("/archives/download");
        let cancel = post && path.starts_with("/runs/") && path.ends_with("/cancel");
        // Logging out never waits for GeoNode.
        let due =
            path != "/logout" && (post || download || now() - session.checked >= RECHECK_SECONDS);
        if due {
            let strict = (post && !cancel) || download;
            if let Err(response) = recheck(&app, &session, &token, strict).await {
                return response;
            }
        }
        request.extensions_mut().insert(session);
    }
    next.run(request).await
}

/// Asks GeoNode whether a session's user is still an active superuser.
/// `Err`: the response instead of the page (the login page when the
/// session ended, 503 when GeoNode cannot say and the request, being
/// `strict`, must wait for its word).
async fn recheck(
    app: &Arc<App>,
    session: &Session,
    token: &str,
    strict: bool,
) -> Result<(), Response> {
    let checker = app.clone();
    let username = session.username.clone();
    let found = tokio::task::spawn_blocking(move || checker.users.find(&username))
        .await
        .unwrap_or_else(|e| {
            Err(Error::new(
                ErrorKind::Run,
                format!("the session check failed: {e}"),
            ))
        });
    match found {
        Ok(Some(row)) if row.is_active && row.is_superuser && row.username == session.username => {
            if let Err(e) = app.store().session_checked(token, now()) {
                tracing::warn!(
                    "cannot note the check of `{}`'s session: {e}",
                    session.username
                );
            }
            Ok(())
        }
        Ok(_) => {
            tracing::warn!(
                "`{}` is no longer an active superuser of the GeoNode: their sessions end",
                session.username
            );
            if let Err(e) = app.store().remove_sessions_of(&session.username) {
                return Err(app.error_page(None, &e));
            }
            let mut response = Redirect::to("/login").into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, app.set_cookie(SESSION_COOKIE, "", 0));
            Err(response)
        }
        Err(e) if !strict && now() - session.checked < READ_GRACE_SECONDS => {
            tracing::warn!(
                "cannot check `{}`'s session again yet: {e}",
                session.username
            );
            Ok(())
        }
        Err(e) => {
            tracing::error!("cannot check `{}`'s session: {e}", session.username);
            let error = Error::new(
                e.kind,
                format!("The GeoNode cannot confirm that you are still one of its superusers, so nothing was done: {}", e.message),
            )
            .hint("try again in a moment; if it lasts, check that the GeoNode's database is up");
            Err(app.error_page(Some(session), &error))
        }
    }
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("static/style.css"),
    )
        .into_response()
}

fn script(source: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        source,
    )
        .into_response()
}

fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("backups.html", include_str!("templates/backups.html")),
        (
            "backup_form.html",
            include_str!("templates/backup_form.html"),
        ),
        ("delete.html", include_str!("templates/delete.html")),
        (
            "backup_confirm.html",
            include_str!("templates/backup_confirm.html"),
        ),
        ("run.html", include_str!("templates/run.html")),
        ("archives.html", include_str!("templates/archives.html")),
        (
            "archive_delete.html",
            include_str!("templates/archive_delete.html"),
        ),
        ("runs.html", include_str!("templates/runs.html")),
        ("error.html", include_str!("templates/error.html")),
    ] {
        env.add_template(name, source)
            .expect("the page's templates are valid");
    }
    env.add_global(
        "kinds",
        minijinja::context! { backup => "backup", plan => "restore plan", restore => "restore" },
    );
    env.add_filter("utc", |epoch: i64| {
        minijinja::Value::from_safe_string(time_element(epoch))
    });
    env.add_filter("size", |bytes: u64| crate::ui::size(bytes));
    env.add_filter("plural", |count: u64, noun: String| {
        crate::ui::plural(count, &noun)
    });
    env.add_filter("first_line", |text: String| {
        text.lines().next().unwrap_or_default().to_owned()
    });
    env
}

/// A time as HTML: `<time datetime="…Z">YYYY-MM-DD HH:MM:SS UTC</time>`; the
/// page's script adds the browser's local time beside it.
fn time_element(epoch: i64) -> String {
    let utc = crate::time::format_utc(epoch);
    format!(
        "<time datetime=\"{utc}Z\">{} UTC</time>",
        utc.replace('T', " ")
    )
}

/// Seconds since the epoch, now (not `SOURCE_DATE_EPOCH`: sessions and lock-outs need the clock).
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// 32 random bytes in hex.
fn random_token() -> Result<String, Error> {
    let mut bytes = [0; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| {
        Error::new(
            ErrorKind::Run,
            format!("the system's random source failed: {e}"),
        )
    })?;
    Ok(hex(&bytes))
}

fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// Whether a form's token is the expected one (constant time; nothing matches a missing token).
fn tokens_match(sent: Option<&str>, expected: Option<&str>) -> bool {
    match (sent, expected) {
        (Some(sent), Some(expected)) if !expected.is_empty() => {
            bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
        }
        _ => false,
    }
}

/// A cookie's value.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

impl App {
    /// A `Set-Cookie` value: HttpOnly, SameSite=Strict, for the whole page;
    /// Secure when the page is served over https.
    fn set_cookie(&self, name: &str, value: &str, max_age: i64) -> HeaderValue {
        let secure = if self.site.secure() { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        ))
        .expect("cookie values are hex")
    }
}

/// serde_json's `arbitrary_precision` numbers as plain template numbers.
fn template_value(value: &serde_json::Value) -> minijinja::Value {
    use serde_json::Value as J;
    match value {
        J::Null => minijinja::Value::from(()),
        J::Bool(b) => minijinja::Value::from(*b),
        J::Number(n) => n
            .as_i64()
            .map(minijinja::Value::from)
            .or_else(|| n.as_u64().map(minijinja::Value::from))
            .or_else(|| n.as_f64().map(minijinja::Value::from))
            .unwrap_or_else(|| minijinja::Value::from(n.to_string())),
        J::String(s) => minijinja::Value::from(s.as_str()),
        J::Array(items) => items.iter().map(template_value).collect(),
        J::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), template_value(v)))
            .collect::<std::collections::BTreeMap<_, _>>()
            .into(),
    }
}
