//! A definition's archives: the `.zip` and `.zip.age` archives of its
//! base folder (a local folder or a bucket's prefix) with what their
//! manifests say, each planned, downloaded (streamed) or deleted behind a
//! confirmation, with the sidecars gnbr wrote for it and never any other
//! file; and a run's log as a text file.

use std::{io::Read, path::Path as FsPath, sync::Arc};

use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Extension, Form,
};
use serde::{Deserialize, Serialize};

use super::{
    pages::{find, run_with_log, started},
    store::{Backup, RunKind, Session},
    App,
};
use crate::{
    archive::ArchiveFile,
    errors::{Error, ErrorKind},
    storage::BackupDir,
};

/// How much of an archive a download reads at a time.
const CHUNK: usize = 256 * 1024;
/// How many chunks a download reads ahead of the client.
const CHUNKS_AHEAD: usize = 4;

/// One archive of a definition's folder, as the list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveRow {
    /// Its file name.
    pub name: String,
    /// Its path, or its URL in a bucket.
    pub path: String,
    /// When it was last written (seconds since the epoch).
    pub modified: i64,
    /// Its size in bytes.
    pub bytes: u64,
    /// Whether it is encrypted (`.zip.age`).
    pub encrypted: bool,
    /// The source GeoNode's version its manifest records.
    pub geonode_version: Option<String>,
    /// Why it cannot be read as a backup, if it cannot.
    pub problem: Option<String>,
    /// Whether GeoNode's `.md5` sidecar is beside it.
    pub md5_sidecar: bool,
    /// The sha256 a plan of it found, and that plan's run.
    pub planned: Option<(i64, String)>,
}

/// The form and query naming one archive.
#[derive(Deserialize)]
pub struct Named {
    #[serde(default)]
    name: String,
}

impl App {
    /// The definition's base folder: a local folder, or a bucket's prefix
    /// reached with settings.ini `[storage]` and the credentials of gnbr
    /// serve's environment (never stored or shown by the page). Blocking,
    /// and for a bucket to be dropped off the async threads.
    ///
    /// # Errors
    ///
    /// A bucket without credentials, or settings that cannot be read: the
    /// error says it is the definition's folder.
    pub(super) fn backup_dir(&self, backup: &Backup) -> Result<BackupDir, Error> {
        BackupDir::open(FsPath::new(&backup.base_folder), || {
            self.setup.storage_settings()
        })
        .map_err(|e| in_folder(backup, e))
    }
}

/// `error`, met reaching `backup`'s base folder, as the page says it.
pub(super) fn in_folder(backup: &Backup, error: Error) -> Error {
    let bucket = backup.in_bucket();
    let hint = match (&error.hint, bucket) {
        (Some(hint), true) => Some(format!(
            "{hint} (gnbr serve takes the credentials from its own environment: set them where it runs, e.g. its systemd unit's EnvironmentFile, and restart it)"
        )),
        (hint, _) => hint.clone(),
    };
    Error {
        message: format!(
            "cannot read the archives of “{}” in {}: {}",
            backup.name, backup.base_folder, error.message
        ),
        hint,
        ..error
    }
}

/// The archives of `backup`'s folder, newest first; none when a local
/// folder is not there yet (its first backup makes it).
fn list(app: &App, backup: &Backup) -> Result<Vec<ArchiveRow>, Error> {
    if !backup.in_bucket() && !FsPath::new(&backup.base_folder).exists() {
        return Ok(Vec::new());
    }
    let archives = app
        .backup_dir(backup)?
        .list()
        .map_err(|e| in_folder(backup, e))?;
    let plans = app
        .store()
        .runs(Some(RunKind::Plan), 500)
        .unwrap_or_default();
    Ok(archives
        .into_iter()
        .map(|archive| {
            let shown = archive.path.display().to_string();
            let planned = plans
                .iter()
                .find(|run| run.status.succeeded() && run.archive.as_deref() == Some(&shown))
                .and_then(|run| Some((run.id, run.sha256.clone()?)));
            ArchiveRow {
                md5_sidecar: archive.md5_sidecar.is_some(),
                modified: archive.modified,
                bytes: archive.bytes,
                encrypted: archive.encrypted,
                name: archive.name,
                path: shown,
                geonode_version: archive.geonode_version,
                problem: archive.problem,
                planned,
            }
        })
        .collect())
}

/// The archive `name` of `backup`'s folder, unread, and the folder.
fn checked(app: &App, backup: &Backup, name: &str) -> Result<(BackupDir, ArchiveFile), Error> {
    let dir = app.backup_dir(backup)?;
    match dir.archive(name).map_err(|e| in_folder(backup, e))? {
        Some(file) => Ok((dir, file)),
        None => Err(Error::new(
            ErrorKind::Usage,
            format!("{} holds no archive named `{name}`", backup.base_folder),
        )
        .hint("pick an archive from the definition's list of archives")),
    }
}

/// The definition `id`, its folder and its archive `name` (off the async
/// threads: a bucket is asked), or the page saying what is wrong.
async fn archive_of(
    app: &Arc<App>,
    session: &Session,
    id: i64,
    name: &str,
) -> Result<(Backup, BackupDir, ArchiveFile), Box<Response>> {
    let backup = find(app, session, id)?;
    let worker = app.clone();
    let name = name.to_owned();
    let found = tokio::task::spawn_blocking(move || {
        checked(&worker, &backup, &name).map(|(dir, file)| (backup, dir, file))
    })
    .await
    .unwrap_or_else(|e| {
        Err(Error::new(
            ErrorKind::Run,
            format!("the lookup failed: {e}"),
        ))
    });
    found.map_err(|e| Box::new(app.error_page(Some(session), &e)))
}

/// Drops `dir` off the async threads (a bucket's client has a runtime of its own).
fn drop_off_async(dir: BackupDir) {
    tokio::task::spawn_blocking(move || drop(dir));
}

/// `GET /backups/{id}/archives`: the folder's archives, or why they cannot be listed.
pub async fn archives(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    let backup = match find(&app, &session, id) {
        Ok(backup) => backup,
        Err(response) => return *response,
    };
    let worker = app.clone();
    let listed = backup.clone();
    let rows = tokio::task::spawn_blocking(move || list(&worker, &listed))
        .await
        .unwrap_or_else(|e| {
            Err(Error::new(
                ErrorKind::Run,
                format!("the listing failed: {e}"),
            ))
        });
    let (rows, problem) = match rows {
        Ok(rows) => (rows, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    app.render(
        StatusCode::OK,
        "archives.html",
        Some(&session),
        minijinja::context! {
            backup => backup, archives => rows, problem => problem,
            bucket => backup.in_bucket(),
        },
    )
}

/// `POST /backups/{id}/archives/plan`: plans the restore of one archive
/// (an encrypted one only when gnbr serve holds its key).
pub async fn plan(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Form(form): Form<Named>,
) -> Response {
    let (backup, dir, file) = match archive_of(&app, &session, id, &form.name).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    drop_off_async(dir);
    let worker = app.clone();
    let user = session.username.clone();
    let run = tokio::task::spawn_blocking(move || worker.start_plan(&backup, &file.path, &user))
        .await
        .unwrap_or_else(|e| Err(Error::new(ErrorKind::Run, format!("the plan failed: {e}"))));
    started(&app, &session, run)
}

/// `GET /backups/{id}/archives/download?name=`: the archive as stored
/// (an encrypted one stays encrypted), streamed.
pub async fn download(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Query(query): Query<Named>,
) -> Response {
    let (_, dir, file) = match archive_of(&app, &session, id, &query.name).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let length = file.bytes;
    let (opened, open_result) = tokio::sync::oneshot::channel();
    let (sender, receiver) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
    // Its own thread opens and reads (and drops the folder or bucket), a few chunks ahead of the client.
    let reader = std::thread::Builder::new()
        .name("gnbr-download".to_owned())
        .spawn(move || {
            let mut input = match dir.stored_bytes(&file) {
                Ok(input) => {
                    let _ = opened.send(Ok(()));
                    input
                }
                Err(e) => {
                    let _ = opened.send(Err(e));
                    return;
                }
            };
            loop {
                let mut buf = vec![0; CHUNK];
                let read = input.read(&mut buf);
                let chunk = match read {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        Ok(buf)
                    }
                    Err(e) => {
                        tracing::error!("a download stopped: {e}");
                        Err(e)
                    }
                };
                let failed = chunk.is_err();
                if sender.blocking_send(chunk).is_err() || failed {
                    return;
                }
            }
        });
    let started = match reader {
        Ok(_) => open_result.await.unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Run,
                "the download's reader ended unexpectedly",
            ))
        }),
        Err(e) => Err(Error::new(
            ErrorKind::Run,
            format!("cannot start the download: {e}"),
        )),
    };
    if let Err(e) = started {
        return app.error_page(Some(&session), &e);
    }
    let chunks = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::CONTENT_DISPOSITION, attachment(&query.name));
    response
}

/// `GET /backups/{id}/archives/delete?name=`: asks first, naming every file.
pub async fn delete_form(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Query(query): Query<Named>,
) -> Response {
    match archive_of(&app, &session, id, &query.name).await {
        Ok((backup, dir, file)) => {
            drop_off_async(dir);
            let files: Vec<String> = std::iter::once(&file.path)
                .chain(&file.sidecars)
                .map(|p| p.display().to_string())
                .collect();
            app.render(
                StatusCode::OK,
                "archive_delete.html",
                Some(&session),
                minijinja::context! { backup => backup, name => query.name, files => files },
            )
        }
        Err(response) => *response,
    }
}

/// `POST /backups/{id}/archives/delete`: deletes the archive and its sidecars.
pub async fn delete(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Form(form): Form<Named>,
) -> Response {
    let (backup, dir, file) = match archive_of(&app, &session, id, &form.name).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let shown = file.path.display().to_string();
    if let Some(run) = app
        .current_run()
        .filter(|run| run.archive.as_deref() == Some(&shown))
    {
        drop_off_async(dir);
        let error = Error::new(
            ErrorKind::Refused,
            format!("run #{} is using {shown}; nothing was deleted", run.id),
        )
        .hint("wait for it to end, then delete the archive");
        return app.error_page(Some(&session), &error);
    }
    let user = session.username.clone();
    let removed = tokio::task::spawn_blocking(move || {
        for path in std::iter::once(&file.path).chain(&file.sidecars) {
            dir.remove(path).map_err(|why| {
                Error::new(ErrorKind::Run, why)
                    .hint("check that gnbr serve may write the backup's folder (or delete objects under the bucket's prefix)")
            })?;
            tracing::info!("`{user}` deleted {}", path.display());
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|e| Err(Error::new(ErrorKind::Run, format!("the deletion failed: {e}"))));
    if let Err(e) = removed {
        return app.error_page(Some(&session), &e);
    }
    if backup.location.as_deref() == Some(&shown) {
        if let Err(e) = app.store().forget_location(backup.id) {
            return app.error_page(Some(&session), &e);
        }
    }
    Redirect::to(&format!("/backups/{id}/archives")).into_response()
}

/// `GET /runs/{id}/log.txt`: a run's whole log as a text file.
pub async fn log_file(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    let (run, lines) = match run_with_log(&app, &session, id, 0) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let mut text = lines.join("\n");
    text.push('\n');
    let name = format!("gnbr-run-{}-{}.log", run.id, run.kind.name());
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, attachment(&name)),
        ],
        text,
    )
        .into_response()
}

/// `Content-Disposition: attachment` with `name` as the file's name
/// (RFC 6266: an ASCII fallback and the exact name percent-encoded).
fn attachment(name: &str) -> HeaderValue {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    ))
    .expect("the value is ASCII without control characters")
}

#[cfg(test)]
mod tests {
    use super::attachment;
    use crate::archive::archive_path;

    #[test]
    fn only_plain_zip_files_of_the_folder_are_archives() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.zip"), b"zip").unwrap();
        std::fs::write(dir.path().join("a.md5"), b"md5").unwrap();
        std::fs::write(dir.path().join(".a.zip.gnbr-1.tmp"), b"tmp").unwrap();
        std::fs::create_dir(dir.path().join("d.zip")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link.zip")).unwrap();
        assert!(archive_path(dir.path(), "a.zip").is_some());
        for name in [
            "a.md5",
            ".a.zip.gnbr-1.tmp",
            "d.zip",
            "link.zip",
            "../a.zip",
            "/etc/a.zip",
            "",
            "missing.zip",
        ] {
            assert!(archive_path(dir.path(), name).is_none(), "{name}");
        }
    }

    #[test]
    fn an_attachments_name_is_quoted_safely() {
        assert_eq!(
            attachment("2026-01-02_030405.zip"),
            "attachment; filename=\"2026-01-02_030405.zip\"; filename*=UTF-8''2026-01-02_030405.zip"
        );
        assert_eq!(
            attachment("a \"b\"ü.zip"),
            "attachment; filename=\"a__b__.zip\"; filename*=UTF-8''a%20%22b%22%C3%BC.zip"
        );
    }
}
