//! The pages: backup definitions, their confirmations, runs and history.

use std::{collections::HashMap, path::Path as FsPath, sync::Arc};

use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Extension, Form,
};
use serde::Deserialize;

use super::{
    archives::in_folder,
    jobs::location,
    now,
    store::{Backup, BackupFields, Run, RunKind, Session, Status},
    template_value, App,
};
use crate::{
    archive::{Encryption, PASSPHRASE_VAR},
    errors::{Error, ErrorKind},
    retention::KeepPolicy,
    schedule::Schedule,
    storage::BucketUrl,
};

/// The backup definition form's fields.
#[derive(Deserialize)]
pub struct BackupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    base_folder: String,
    /// A checkbox: present when ticked.
    skip_geoserver: Option<String>,
    /// Five cron fields, in UTC; empty: no schedule.
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    keep_last: String,
    #[serde(default)]
    keep_daily: String,
    #[serde(default)]
    keep_weekly: String,
    #[serde(default)]
    keep_monthly: String,
    /// A checkbox: present when ticked.
    encrypt: Option<String>,
    /// Age recipients, one a line; empty: the passphrase in gnbr serve's environment.
    #[serde(default)]
    recipients: String,
}

/// The largest count a retention rule takes.
const MOST_KEPT: u32 = 10_000;

impl BackupForm {
    fn fields(&self) -> Result<BackupFields, Error> {
        let schedule = match self.schedule.trim() {
            "" => None,
            text => Some(Schedule::parse(text)?.text().to_owned()),
        };
        let keep = KeepPolicy {
            last: kept("Keep last", &self.keep_last)?,
            daily: kept("Keep daily", &self.keep_daily)?,
            weekly: kept("Keep weekly", &self.keep_weekly)?,
            monthly: kept("Keep monthly", &self.keep_monthly)?,
        };
        let encrypt = self.encrypt.is_some();
        let recipients: Vec<String> = self
            .recipients
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_owned)
            .collect();
        if encrypt {
            check_encryption(&recipients)?;
        }
        let fields = BackupFields {
            name: self.name.trim().to_owned(),
            description: self.description.trim().to_owned(),
            base_folder: base_folder(self.base_folder.trim())?,
            skip_geoserver: self.skip_geoserver.is_some(),
            schedule,
            keep,
            encrypt,
            recipients: if encrypt { recipients } else { Vec::new() },
        };
        let problem = if fields.name.is_empty() || fields.name.chars().count() > 100 {
            Some("Give a name of 1 to 100 characters.")
        } else if fields.description.chars().count() > 2000 {
            Some("Keep the description under 2000 characters.")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(Error::new(ErrorKind::Usage, problem)),
            None => Ok(fields),
        }
    }
}

/// The base folder as the form gives it: an absolute local path, or a
/// bucket's prefix `s3://bucket/prefix`, kept as `s3://bucket/prefix`
/// (no trailing `/`) so that its archives' URLs start with it.
fn base_folder(text: &str) -> Result<String, Error> {
    if let Some(url) = BucketUrl::parse(FsPath::new(text)) {
        let url = url?;
        return Ok(url
            .url_of(&url.key)
            .display()
            .to_string()
            .trim_end_matches('/')
            .to_owned());
    }
    if !FsPath::new(text).is_absolute() || text.chars().any(char::is_control) {
        return Err(Error::new(
            ErrorKind::Usage,
            "Give the base folder as an absolute path, e.g. /var/backups/geonode, or a bucket's prefix, e.g. s3://geonode-backups/site-a.",
        ));
    }
    Ok(text.to_owned())
}

/// Checks that an encrypting definition's runs will have a key: its age
/// recipients are X25519 ones, or without any, gnbr serve's environment
/// holds `GNBR_PASSPHRASE` (a passphrase is never stored by the page).
fn check_encryption(recipients: &[String]) -> Result<(), Error> {
    if !recipients.is_empty() {
        return Encryption::for_backup(recipients, None).map(drop);
    }
    if std::env::var(PASSPHRASE_VAR).is_ok_and(|p| !p.is_empty()) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Usage,
        format!("“Encrypt” needs a key: give age recipients (age1..., one a line), or set {PASSPHRASE_VAR} in gnbr serve's environment and restart it; the page never stores a passphrase."),
    )
    .hint("age-keygen -o key.txt makes a key pair; age-keygen -y key.txt prints its recipient, to paste here (keep key.txt away from the backups: a restore needs it, as GNBR_IDENTITY_FILE of gnbr serve)"))
}

/// A retention rule's count from its field: empty is 0 (off).
fn kept(field: &str, text: &str) -> Result<u32, Error> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    text.parse()
        .ok()
        .filter(|n| *n <= MOST_KEPT)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Usage,
                format!("“{field}” is `{text}`: give a whole number of archives from 0 to {MOST_KEPT} (empty or 0 turns the rule off)."),
            )
        })
}

/// `GET /backups`: the definitions with their location and last result.
pub async fn backups(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
) -> Response {
    let backups = match app.store().backups() {
        Ok(backups) => backups,
        Err(e) => return app.error_page(Some(&session), &e),
    };
    let rows: Vec<_> = backups
        .into_iter()
        .map(|backup| {
            let last = backup
                .last_run
                .and_then(|id| app.store().run(id).ok().flatten());
            let next = backup
                .schedule
                .as_deref()
                .and_then(|text| Schedule::parse(text).ok())
                .and_then(|schedule| schedule.next_after(app.schedule_now()));
            let missed = app.store().latest_missed(backup.id).ok().flatten();
            let missed_count = missed
                .as_ref()
                .and_then(|run| run.details.as_ref()?["missed"].as_u64());
            let keep = backup.keep.flags().join(" ");
            minijinja::context! {
                backup => backup, last => last, next => next, keep => keep,
                missed => missed, missed_count => missed_count,
            }
        })
        .collect();
    app.render(
        StatusCode::OK,
        "backups.html",
        Some(&session),
        minijinja::context! { rows => rows },
    )
}

fn form_page(
    app: &App,
    session: &Session,
    status: StatusCode,
    id: Option<i64>,
    fields: minijinja::Value,
    problem: Option<String>,
) -> Response {
    app.render(
        status,
        "backup_form.html",
        Some(session),
        minijinja::context! { id => id, backup => fields, problem => problem },
    )
}

fn form_values(form: &BackupForm) -> minijinja::Value {
    minijinja::context! {
        name => form.name,
        description => form.description,
        base_folder => form.base_folder,
        skip_geoserver => form.skip_geoserver.is_some(),
        schedule => form.schedule,
        keep => minijinja::context! {
            last => form.keep_last,
            daily => form.keep_daily,
            weekly => form.keep_weekly,
            monthly => form.keep_monthly,
        },
        encrypt => form.encrypt.is_some(),
        recipients => form.recipients.lines().map(str::to_owned).collect::<Vec<_>>(),
    }
}

/// `GET /backups/new`.
pub async fn new_form(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
) -> Response {
    let empty = minijinja::context! {
        name => "", description => "", base_folder => "", skip_geoserver => false, schedule => "",
        keep => minijinja::context! { last => "", daily => "", weekly => "", monthly => "" },
        encrypt => false, recipients => Vec::<String>::new(),
    };
    form_page(&app, &session, StatusCode::OK, None, empty, None)
}

/// `POST /backups/new`.
pub async fn add(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Form(form): Form<BackupForm>,
) -> Response {
    match form
        .fields()
        .and_then(|f| app.store().add_backup(&f, now(), app.schedule_now()))
    {
        Ok(_) => Redirect::to("/backups").into_response(),
        Err(e) => form_page(
            &app,
            &session,
            StatusCode::BAD_REQUEST,
            None,
            form_values(&form),
            Some(e.to_string()),
        ),
    }
}

/// The definition `id`, or the page saying it is not there.
pub(super) fn find(app: &App, session: &Session, id: i64) -> Result<Backup, Box<Response>> {
    match app.store().backup(id) {
        Ok(Some(backup)) => Ok(backup),
        Ok(None) => Err(Box::new(app.not_found(session))),
        Err(e) => Err(Box::new(app.error_page(Some(session), &e))),
    }
}

/// `GET /backups/{id}/edit`.
pub async fn edit_form(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    match find(&app, &session, id) {
        Ok(backup) => form_page(
            &app,
            &session,
            StatusCode::OK,
            Some(id),
            minijinja::Value::from_serialize(&backup),
            None,
        ),
        Err(response) => *response,
    }
}

/// `POST /backups/{id}/edit`.
pub async fn edit(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Form(form): Form<BackupForm>,
) -> Response {
    if let Err(response) = find(&app, &session, id) {
        return *response;
    }
    match form
        .fields()
        .and_then(|f| app.store().update_backup(id, &f, now(), app.schedule_now()))
    {
        Ok(()) => Redirect::to("/backups").into_response(),
        Err(e) => form_page(
            &app,
            &session,
            StatusCode::BAD_REQUEST,
            Some(id),
            form_values(&form),
            Some(e.to_string()),
        ),
    }
}

/// `GET /backups/{id}/delete`: asks first; the archives are never deleted.
pub async fn delete_form(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    match find(&app, &session, id) {
        Ok(backup) => app.render(
            StatusCode::OK,
            "delete.html",
            Some(&session),
            minijinja::context! { backup => backup },
        ),
        Err(response) => *response,
    }
}

/// `POST /backups/{id}/delete`.
pub async fn delete(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    if let Err(response) = find(&app, &session, id) {
        return *response;
    }
    match app.store().delete_backup(id) {
        Ok(()) => Redirect::to("/backups").into_response(),
        Err(e) => app.error_page(Some(&session), &e),
    }
}

/// `GET /backups/{id}/backup`: what a backup writes, before it runs.
pub async fn backup_confirm(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    let backup = match find(&app, &session, id) {
        Ok(backup) => backup,
        Err(response) => return *response,
    };
    // A bucket is listed (its archives counted, none of them read): off the async threads.
    let worker = app.clone();
    let counted = backup.clone();
    let archives = tokio::task::spawn_blocking(move || {
        let local = !counted.in_bucket();
        if local && !FsPath::new(&counted.base_folder).exists() {
            return Ok(None);
        }
        let dir = worker.backup_dir(&counted)?;
        dir.files()
            .map(|files| Some(files.len()))
            .map_err(|e| in_folder(&counted, e))
    })
    .await
    .unwrap_or_else(|e| {
        Err(Error::new(
            ErrorKind::Run,
            format!("the listing failed: {e}"),
        ))
    });
    let (archives, problem) = match archives {
        Ok(count) => (count, None),
        Err(e) => (None, Some(e.to_string())),
    };
    app.render(
        StatusCode::OK,
        "backup_confirm.html",
        Some(&session),
        minijinja::context! {
            keep => backup.keep.flags().join(" "), archives => archives, problem => problem,
            bucket => backup.in_bucket(), backup => backup,
        },
    )
}

/// `POST /backups/{id}/backup`: starts it.
pub async fn backup_start(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    let backup = match find(&app, &session, id) {
        Ok(backup) => backup,
        Err(response) => return *response,
    };
    started(
        &app,
        &session,
        app.start_backup(&backup, &session.username, None),
    )
}

/// `POST /backups/{id}/restore`: "Run the Restore" starts its dry run,
/// whose page is the confirmation.
pub async fn plan_start(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    let backup = match find(&app, &session, id) {
        Ok(backup) => backup,
        Err(response) => return *response,
    };
    // An encrypted archive's key is checked first (a bucket's asked): off the async threads.
    let worker = app.clone();
    let user = session.username.clone();
    let run = tokio::task::spawn_blocking(move || {
        location(&backup).and_then(|archive| worker.start_plan(&backup, &archive, &user))
    })
    .await
    .unwrap_or_else(|e| Err(Error::new(ErrorKind::Run, format!("the plan failed: {e}"))));
    started(&app, &session, run)
}

/// `POST /runs/{id}/restore`: the admin confirmed the plan of run `id`.
pub async fn restore_start(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    let plan = match app.store().run(id) {
        Ok(Some(plan)) if plan.kind == RunKind::Plan && plan.status.succeeded() => plan,
        Ok(_) => return app.not_found(&session),
        Err(e) => return app.error_page(Some(&session), &e),
    };
    let Some(backup_id) = plan.backup_id else {
        return app.not_found(&session);
    };
    let backup = match find(&app, &session, backup_id) {
        Ok(backup) => backup,
        Err(response) => return *response,
    };
    // The confirmation asks the target and hashes the archive: off the async threads.
    let worker = app.clone();
    let user = session.username.clone();
    let run = tokio::task::spawn_blocking(move || worker.start_restore(&plan, &backup, &user))
        .await
        .unwrap_or_else(|e| {
            Err(Error::new(
                ErrorKind::Run,
                format!("the confirmation failed: {e}"),
            ))
        });
    started(&app, &session, run)
}

/// `POST /runs/{id}/cancel`: the admin confirmed Cancel on run `id`'s page.
pub async fn cancel(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    match app.cancel_run(id, &session.username) {
        Ok(()) => Redirect::to(&format!("/runs/{id}")).into_response(),
        Err(e) => app.error_page(Some(&session), &e),
    }
}

/// The run's page once started, else the page saying why not.
pub(super) fn started(app: &App, session: &Session, run: Result<i64, Error>) -> Response {
    match run {
        Ok(id) => Redirect::to(&format!("/runs/{id}")).into_response(),
        Err(e) => app.error_page(Some(session), &e),
    }
}

/// `GET /runs`: every run, newest first.
pub async fn runs(State(app): State<Arc<App>>, Extension(session): Extension<Session>) -> Response {
    history(&app, &session, None)
}

/// `GET /restores`: the restores, newest first.
pub async fn restores(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
) -> Response {
    history(&app, &session, Some(RunKind::Restore))
}

fn history(app: &App, session: &Session, kind: Option<RunKind>) -> Response {
    match app.store().runs(kind, 500) {
        Ok(runs) => app.render(
            StatusCode::OK,
            "runs.html",
            Some(session),
            minijinja::context! { runs => runs, restores => kind.is_some() },
        ),
        Err(e) => app.error_page(Some(session), &e),
    }
}

/// `GET /runs/{id}`: a run's progress and log; a finished plan is the
/// restore's confirmation page.
pub async fn run(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    let run = match app.store().run(id) {
        Ok(Some(run)) => run,
        Ok(None) => return app.not_found(&session),
        Err(e) => return app.error_page(Some(&session), &e),
    };
    let log = match app.store().log(id, 0) {
        Ok(log) => log,
        Err(e) => return app.error_page(Some(&session), &e),
    };
    let details = run.details.as_ref().map(template_value).unwrap_or_default();
    let elapsed = run.finished.unwrap_or_else(now) - run.started;
    let progress = progress_shown(&app, &run).as_ref().map(template_value);
    app.render(
        StatusCode::OK,
        "run.html",
        Some(&session),
        minijinja::context! { run => run, details => details, log => log, elapsed => elapsed, progress => progress },
    )
}

/// Run `id` and its log lines after the first `from`, or the page saying
/// it is not there.
pub(super) fn run_with_log(
    app: &App,
    session: &Session,
    id: i64,
    from: i64,
) -> Result<(Run, Vec<String>), Box<Response>> {
    match (app.store().run(id), app.store().log(id, from)) {
        (Ok(Some(run)), Ok(lines)) => Ok((run, lines)),
        (Ok(None), _) => Err(Box::new(app.not_found(session))),
        (Err(e), _) | (_, Err(e)) => Err(Box::new(app.error_page(Some(session), &e))),
    }
}

/// The latest progress of `run` while it runs, with the line that says it
/// as `text`; `None` when it shows none.
fn progress_shown(app: &App, run: &Run) -> Option<serde_json::Value> {
    let event = app
        .progress_of(run.id)
        .filter(|_| run.status == Status::Running)?;
    let mut shown = serde_json::to_value(&event).expect("a progress event serialises");
    shown["text"] = event.to_string().into();
    Some(shown)
}

/// `GET /runs/{id}/log?from=N`: the lines after the first N, whether the
/// run goes on, and its latest progress (`null` when it shows none) with
/// the line that says it as `text` (the page's polling script).
pub async fn run_log(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let from: i64 = query
        .get("from")
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
        .max(0);
    let (run, lines) = match run_with_log(&app, &session, id, from) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let body = serde_json::json!({
        "next": from + lines.len() as i64,
        "lines": lines,
        "running": run.status == Status::Running,
        "progress": progress_shown(&app, &run),
        "elapsed": run.finished.unwrap_or_else(now) - run.started,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
