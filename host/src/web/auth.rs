//! Logging in as a GeoNode superuser (the hash read through Django,
//! checked here), logging out, and the lock-out after repeated failures.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Extension, Form,
};
use serde::Deserialize;

use super::{
    cookie, now, random_token, set_cookie, sha256_hex,
    store::{Attempt, Session},
    App, LOGIN_COOKIE, SESSION_COOKIE,
};
use crate::{
    errors::{Error, ErrorKind},
    geonode::{GeoNode, UserRow},
    web::password,
};

/// Failed logins of one username that lock it out.
pub const MAX_FAILURES: i64 = 5;
/// How long failures count, and so how long a lock-out lasts.
pub const LOCK_SECONDS: i64 = 15 * 60;
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
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, &token, 3600));
    response
}

/// `POST /login`: superusers of the target GeoNode only; five failures
/// within 15 minutes lock the username out for the rest of them.
pub async fn login(
    State(app): State<Arc<App>>,
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
    let key = username.to_lowercase();
    let at = now();
    let attempt = match app
        .store()
        .attempt(&key, at, at - LOCK_SECONDS, MAX_FAILURES)
    {
        Ok(Attempt::Counted(attempt)) => attempt,
        Ok(Attempt::Locked { oldest }) => {
            tracing::warn!("login of `{username}` refused: locked out");
            return locked(&app, &headers, &username, oldest, at);
        }
        Err(e) => return app.error_page(None, &e),
    };
    let checker = app.clone();
    let name = username.clone();
    let password = form.password;
    let verdict =
        tokio::task::spawn_blocking(move || check(checker.users.as_ref(), &name, &password)).await;
    let verdict = verdict.unwrap_or_else(|e| {
        Err(Error::new(
            ErrorKind::Run,
            format!("the login check failed: {e}"),
        ))
    });
    match verdict {
        Ok(Some(user)) => {
            if let Err(e) = app.store().clear_failures(&key) {
                return app.error_page(None, &e);
            }
            tracing::info!("`{user}` logged in");
            match start_session(&app, user) {
                Ok(response) => response,
                Err(e) => app.error_page(None, &e),
            }
        }
        Ok(None) => {
            tracing::warn!("login of `{username}` refused");
            if let Ok((count, Some(oldest))) = app.store().failures(&key, at - LOCK_SECONDS) {
                if count >= MAX_FAILURES {
                    return locked(&app, &headers, &username, oldest, at);
                }
            }
            login_page(
                &app,
                &headers,
                StatusCode::UNAUTHORIZED,
                &username,
                Some("Wrong username or password, or not a GeoNode superuser.".to_owned()),
            )
        }
        Err(e) => {
            let _ = app.store().cancel_attempt(attempt);
            tracing::warn!("cannot check the login of `{username}`: {e}");
            login_page(
                &app,
                &headers,
                StatusCode::SERVICE_UNAVAILABLE,
                &username,
                Some(format!("Cannot check the login against the GeoNode: {e}")),
            )
        }
    }
}

fn locked(app: &App, headers: &HeaderMap, username: &str, oldest: i64, now: i64) -> Response {
    let minutes = ((oldest + LOCK_SECONDS - now).max(1) + 59) / 60;
    login_page(
        app,
        headers,
        StatusCode::TOO_MANY_REQUESTS,
        username,
        Some(format!(
            "Too many failed logins for `{username}`: it is locked out; try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        )),
    )
}

/// The GeoNode username when `password` is right and the user is an
/// active superuser; `None` otherwise. An unknown user, and a hash gnbr
/// cannot check (logged for the admin), cost the same work and get the
/// same answer as a wrong password.
///
/// # Errors
///
/// When the users cannot be read.
fn check(users: &dyn Users, username: &str, password: &str) -> Result<Option<String>, Error> {
    let Some(row) = users.find(username)? else {
        password::dummy_check(password);
        return Ok(None);
    };
    match password::verify(password, &row.password) {
        Ok(right) => Ok((right && row.is_superuser && row.is_active).then_some(row.username)),
        Err(e) => {
            tracing::warn!(
                "the login of GeoNode user `{}` cannot be checked: {e}",
                row.username
            );
            password::dummy_check(password);
            Ok(None)
        }
    }
}

fn start_session(app: &App, username: String) -> Result<Response, Error> {
    let token = random_token()?;
    let session = Session {
        username,
        csrf: random_token()?,
    };
    app.store()
        .add_session(&sha256_hex(&token), &session, now() + SESSION_SECONDS)?;
    let mut response = Redirect::to("/backups").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &token, SESSION_SECONDS),
    );
    headers.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", 0));
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
        .insert(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0));
    response
}
