//! Logging in as a GeoNode superuser (the hash read through Django,
//! checked here, at the pace the throttle allows) and logging out.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Extension, Form,
};
use serde::Deserialize;

use super::{
    client::ClientAddr,
    cookie, now, random_token, sha256_hex,
    store::Session,
    throttle::{Admission, BUSY_RETRY},
    App, LOGIN_COOKIE, SESSION_COOKIE,
};
use crate::{
    errors::{Error, ErrorKind},
    geonode::{GeoNode, UserRow},
    web::password,
};

/// How long a session lasts.
const SESSION_SECONDS: i64 = 12 * 3600;

/// Where the page finds the users allowed in: the target GeoNode's.
pub trait Users: Send + Sync {
    /// The login row of `username`, if the user exists.
    ///
    /// # Errors
    ///
    /// When the users cannot be read.
    fn find(&self, username: &str) -> Result<Option<UserRow>, Error>;
}

impl Users for GeoNode {
    fn find(&self, username: &str) -> Result<Option<UserRow>, Error> {
        self.user(username)
    }
}

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `GET /login`.
pub async fn login_form(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let logged_in = cookie(&headers, SESSION_COOKIE)
        .and_then(|t| app.store().session(&sha256_hex(&t), now()).ok().flatten())
        .is_some();
    if logged_in {
        return Redirect::to("/backups").into_response();
    }
    login_page(&app, &headers, StatusCode::OK, "", None)
}

fn login_page(
    app: &App,
    headers: &HeaderMap,
    status: StatusCode,
    username: &str,
    problem: Option<String>,
) -> Response {
    let token = match cookie(headers, LOGIN_COOKIE)
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        Some(token) => token,
        None => match random_token() {
            Ok(token) => token,
            Err(e) => return app.error_page(None, &e),
        },
    };
    let mut response = app.render(
        status,
        "login.html",
        None,
        minijinja::context! { login_csrf => token, username => username, problem => problem },
    );
    response.headers_mut().insert(
        header::SET_COOKIE,
        app.set_cookie(LOGIN_COOKIE, &token, 3600),
    );
    response
}

/// `POST /login`: superusers of the target GeoNode only, one attempt at
/// a time per client address, at the pace the throttle allows it.
pub async fn login(
    State(app): State<Arc<App>>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let username = form.username.trim().to_owned();
    if username.is_empty() || username.len() > 150 || username.chars().any(char::is_control) {
        return login_page(
            &app,
            &headers,
            StatusCode::BAD_REQUEST,
            "",
            Some("Give a GeoNode username.".to_owned()),
        );
    }
    let ticket = match app.throttle.admit(client.0) {
        Admission::Go(ticket) => ticket,
        Admission::Wait(wait) => {
            let reason = "Too many failed logins from your address";
            return too_many(&app, &headers, &username, client, wait, reason);
        }
    };
    let Some(slot) = app.throttle.check_slot().await else {
        let reason = "Many logins are being checked";
        return too_many(&app, &headers, &username, client, BUSY_RETRY, reason);
    };
    let started = Instant::now();
    let checker = app.clone();
    let name = username.clone();
    let password = form.password;
    let verdict = tokio::task::spawn_blocking(move || check(&checker, &name, &password)).await;
    drop(slot);
    let verdict = verdict.unwrap_or_else(|e| {
        Err(Error::new(
            ErrorKind::Run,
            format!("the login check failed: {e}"),
        ))
    });
    match verdict {
        Ok(Some(user)) => {
            ticket.succeeded();
            tracing::info!("`{user}` logged in from {}", client.0);
            match start_session(&app, user) {
                Ok(response) => response,
                Err(e) => app.error_page(None, &e),
            }
        }
        Ok(None) => {
            tracing::warn!("login of `{username}` from {} refused", client.0);
            // Its address stays busy until it is answered.
            app.throttle.hold_failure(started).await;
            ticket.failed();
            login_page(
                &app,
                &headers,
                StatusCode::UNAUTHORIZED,
                &username,
                Some("Wrong username or password, or not a GeoNode superuser.".to_owned()),
            )
        }
        Err(e) => {
            // The cause (which names the database's host) is for the admin's log only.
            tracing::error!("cannot check the login of `{username}`: {e}");
            app.throttle.hold_failure(started).await;
            drop(ticket);
            login_page(
                &app,
                &headers,
                StatusCode::SERVICE_UNAVAILABLE,
                &username,
                Some("Logins cannot be checked right now: the GeoNode does not answer. Try again later; gnbr serve's log says why.".to_owned()),
            )
        }
    }
}

/// A 429 login page that says why and when to try again, in words and
/// in `Retry-After`.
fn too_many(
    app: &App,
    headers: &HeaderMap,
    username: &str,
    client: ClientAddr,
    wait: Duration,
    reason: &str,
) -> Response {
    tracing::warn!(
        "login of `{username}` from {} refused for {wait:?}: {reason}",
        client.0
    );
    let message = format!("{reason}: try again in {}.", in_words(wait));
    let mut response = login_page(
        app,
        headers,
        StatusCode::TOO_MANY_REQUESTS,
        username,
        Some(message),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(whole_seconds(wait)),
    );
    response
}

/// Whole seconds to wait, rounded up.
fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// "N seconds" (or minutes, past two), rounded up.
fn in_words(wait: Duration) -> String {
    match whole_seconds(wait) {
        1 => "1 second".to_owned(),
        seconds @ 0..=120 => format!("{seconds} seconds"),
        seconds => format!("{} minutes", seconds.div_ceil(60)),
    }
}

/// The GeoNode username when `password` is right and the user is an
/// active superuser; `None` otherwise. An unknown user, and a hash gnbr
/// cannot check (logged for the admin), cost the same work and get the
/// same answer as a wrong password.
///
/// # Errors
///
/// When the users cannot be read.
fn check(app: &App, username: &str, password: &str) -> Result<Option<String>, Error> {
    let row = app.users.find(username)?;
    let hashing = Instant::now();
    let verdict = verify(row, password);
    app.throttle.checked_in(hashing.elapsed());
    Ok(verdict)
}

/// The username of `row` when `password` is its user's and it is an
/// active superuser.
fn verify(row: Option<UserRow>, password: &str) -> Option<String> {
    let Some(row) = row else {
        password::dummy_check(password);
        return None;
    };
    match password::verify(password, &row.password) {
        Ok(right) => (right && row.is_superuser && row.is_active).then_some(row.username),
        Err(e) => {
            tracing::warn!(
                "the login of GeoNode user `{}` cannot be checked: {e}",
                row.username
            );
            password::dummy_check(password);
            None
        }
    }
}

fn start_session(app: &App, username: String) -> Result<Response, Error> {
    let token = random_token()?;
    let at = now();
    let session = Session {
        username,
        csrf: random_token()?,
        checked: at,
    };
    app.store()
        .add_session(&sha256_hex(&token), &session, at + SESSION_SECONDS)?;
    let mut response = Redirect::to("/backups").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        app.set_cookie(SESSION_COOKIE, &token, SESSION_SECONDS),
    );
    headers.append(header::SET_COOKIE, app.set_cookie(LOGIN_COOKIE, "", 0));
    Ok(response)
}

/// `POST /logout`.
pub async fn logout(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if let Err(e) = app.store().remove_session(&sha256_hex(&token)) {
            return app.error_page(Some(&session), &e);
        }
    }
    tracing::info!("`{}` logged out", session.username);
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, app.set_cookie(SESSION_COOKIE, "", 0));
    response
}
