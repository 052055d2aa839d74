//! A definition's archives: the `.zip` files in its base folder with what
//! their manifests say, each planned, downloaded (streamed) or deleted
//! behind a confirmation, with the sidecars gnbr wrote for it and never
//! any other file; and a run's log as a text file.

use std::{
    fs::File,
    io::Read,
    path::{Path as FsPath, PathBuf},
    sync::Arc,
};

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
    archive::{archive_path, list_archives, with_sidecars},
    errors::{Error, ErrorKind},
};

/// How much of a file a download reads at a time.
const CHUNK: usize = 256 * 1024;

/// One archive of a definition's folder, as the list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveRow {
    /// Its file name.
    pub name: String,
    /// When it was last written (seconds since the epoch).
    pub modified: i64,
    /// Its size in bytes.
    pub bytes: u64,
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

/// The archives of `folder`, newest first; none when it cannot be read.
fn list(app: &App, folder: &FsPath) -> Vec<ArchiveRow> {
    let Ok(archives) = list_archives(folder) else {
        return Vec::new();
    };
    let plans = app
        .store()
        .runs(Some(RunKind::Plan), 500)
        .unwrap_or_default();
    archives
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
                name: archive.name,
                geonode_version: archive.geonode_version,
                problem: archive.problem,
                planned,
            }
        })
        .collect()
}

/// The archive `name` in `folder`: a plain `.zip` file name (no folder, not
/// hidden) of a regular file, not a link.
fn checked(folder: &FsPath, name: &str) -> Result<PathBuf, Error> {
    archive_path(folder, name).ok_or_else(|| {
        Error::new(
            ErrorKind::Usage,
            format!("{} holds no archive named `{name}`", folder.display()),
        )
        .hint("pick an archive from the definition's list of archives")
    })
}

/// The definition `id` and its archive `name`, or the page saying what is wrong.
fn archive_of(
    app: &App,
    session: &Session,
    id: i64,
    name: &str,
) -> Result<(Backup, PathBuf), Box<Response>> {
    let backup = find(app, session, id)?;
    match checked(FsPath::new(&backup.base_folder), name) {
        Ok(path) => Ok((backup, path)),
        Err(e) => Err(Box::new(app.error_page(Some(session), &e))),
    }
}

/// `GET /backups/{id}/archives`: the folder's archives.
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
    let folder = PathBuf::from(&backup.base_folder);
    let rows = tokio::task::spawn_blocking(move || list(&worker, &folder))
        .await
        .unwrap_or_default();
    app.render(
        StatusCode::OK,
        "archives.html",
        Some(&session),
        minijinja::context! { backup => backup, archives => rows },
    )
}

/// `POST /backups/{id}/archives/plan`: plans the restore of one archive.
pub async fn plan(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Form(form): Form<Named>,
) -> Response {
    match archive_of(&app, &session, id, &form.name) {
        Ok((backup, path)) => started(
            &app,
            &session,
            app.start_plan(&backup, &path, &session.username),
        ),
        Err(response) => *response,
    }
}

/// `GET /backups/{id}/archives/download?name=`: the archive, streamed.
pub async fn download(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Query(query): Query<Named>,
) -> Response {
    let (_, path) = match archive_of(&app, &session, id, &query.name) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) => {
            let error = Error::new(
                ErrorKind::Input,
                format!("cannot read {}: {e}", path.display()),
            );
            return app.error_page(Some(&session), &error);
        }
    };
    let length = file.metadata().map(|m| m.len()).ok();
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0; CHUNK];
            let n = file.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((file, buf))
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match read {
            Ok((_, buf)) if buf.is_empty() => None,
            Ok((file, buf)) => Some((Ok(buf), Some(file))),
            Err(e) => {
                tracing::error!("a download stopped: {e}");
                Some((Err(e), None))
            }
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
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
    match archive_of(&app, &session, id, &query.name) {
        Ok((backup, path)) => app.render(
            StatusCode::OK,
            "archive_delete.html",
            Some(&session),
            minijinja::context! {
                backup => backup,
                name => query.name,
                files => with_sidecars(&path),
            },
        ),
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
    let (backup, path) = match archive_of(&app, &session, id, &form.name) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let shown = path.display().to_string();
    if let Some(run) = app
        .current_run()
        .filter(|run| run.archive.as_deref() == Some(&shown))
    {
        let error = Error::new(
            ErrorKind::Refused,
            format!("run #{} is using {shown}; nothing was deleted", run.id),
        )
        .hint("wait for it to end, then delete the archive");
        return app.error_page(Some(&session), &error);
    }
    for file in with_sidecars(&path) {
        if let Err(e) = std::fs::remove_file(&file) {
            let error = Error::new(
                ErrorKind::Run,
                format!("cannot delete {}: {e}", file.display()),
            )
            .hint("check that gnbr serve may write the backup's folder");
            return app.error_page(Some(&session), &error);
        }
        tracing::info!("`{}` deleted {}", session.username, file.display());
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
    use super::{attachment, checked};

    #[test]
    fn only_plain_zip_files_of_the_folder_are_archives() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.zip"), b"zip").unwrap();
        std::fs::write(dir.path().join("a.md5"), b"md5").unwrap();
        std::fs::write(dir.path().join(".a.zip.gnbr-1.tmp"), b"tmp").unwrap();
        std::fs::create_dir(dir.path().join("d.zip")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link.zip")).unwrap();
        assert!(checked(dir.path(), "a.zip").is_ok());
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
            assert!(checked(dir.path(), name).is_err(), "{name}");
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
