//! GeoServer's REST API: `about/version`, `reload`, `reset`, and the
//! Backup & Restore module's jobs, polled to the end with a per-request
//! timeout and an overall deadline (GeoNode had none, and spun forever on a
//! `STOPPED` job).
//!
//! Connection errors and 5xx answers are retried with exponential backoff.
//! A request that starts a job is retried only when it cannot have started
//! one (the connection was never made, or GeoServer answered 5xx, which is
//! how it refuses a second job while one runs). A run's cancel
//! ([`crate::cancel`]) is checked before each try and cuts the wait between
//! tries, and between a job's polls, short; a job it interrupts is asked to
//! stop.
//!
//! Basic auth: the password is sent only in the `Authorization` header,
//! never logged, and scrubbed from anything GeoServer answers that gnbr
//! shows. Tested against a test double of this API
//! (`tests/geoserver-double/`), not against a real GeoServer.

use std::{
    fmt,
    io::{Read, Write},
    time::{Duration, Instant},
};

use reqwest::{
    blocking::{Client as Http, Response},
    header::ACCEPT,
    Method, StatusCode, Url,
};
use serde_json::Value;

use super::{
    br::{parse_execution, parse_list, BackupJob, Execution, JobKind, JobStatus, RestoreJob},
    scrub, Secret,
};
use crate::{
    cancel,
    errors::{Error, ErrorKind},
};

/// GeoNode's variable for GeoServer's base URL.
pub const URL_ENV: &str = "GEOSERVER_LOCATION";
/// GeoNode's variable for GeoServer's admin user.
pub const USER_ENV: &str = "GEOSERVER_ADMIN_USER";
/// GeoNode's variable for GeoServer's admin password.
pub const PASSWORD_ENV: &str = "GEOSERVER_ADMIN_PASSWORD";

/// Where GeoServer is and who to be there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Base URL, e.g. `http://localhost:8080/geoserver/`.
    pub url: String,
    /// Admin user.
    pub user: String,
    /// Its password.
    pub password: Secret,
}

impl Connection {
    /// The connection from settings values, each missing one taken from the
    /// environment ([`URL_ENV`], [`USER_ENV`], [`PASSWORD_ENV`]); the user
    /// defaults to `admin`. Settings win: they are what the admin passed
    /// for this run, the environment is whatever the shell or container has.
    ///
    /// # Errors
    ///
    /// No URL, or no password, from either.
    pub fn resolve(
        url: Option<&str>,
        user: Option<&str>,
        password: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let pick = |value: Option<&str>, var: &str| {
            value
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .or_else(|| env(var).filter(|v| !v.is_empty()))
        };
        let url = pick(url, URL_ENV).ok_or_else(|| {
            Error::new(ErrorKind::Usage, "no GeoServer URL")
                .hint(format!("set [geoserver] url in settings.ini or {URL_ENV}, e.g. http://localhost:8080/geoserver/"))
        })?;
        let password = pick(password, PASSWORD_ENV).ok_or_else(|| {
            Error::new(ErrorKind::Usage, "no GeoServer admin password").hint(format!(
                "set {PASSWORD_ENV} in gnbr's environment or in the [geonode] env_file"
            ))
        })?;
        Ok(Self {
            url,
            user: pick(user, USER_ENV).unwrap_or_else(|| "admin".to_owned()),
            password: Secret::new(password),
        })
    }
}

/// How long to wait, and how often to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// For one request (GeoNode used 10 s).
    pub request_timeout: Duration,
    /// Between two polls of a running job (GeoNode used 3 s).
    pub poll_interval: Duration,
    /// For a whole job, from its start to its end.
    pub deadline: Duration,
    /// Retries after a connection error or a 5xx answer.
    pub retries: u32,
    /// The first retry's delay; doubled for each next one, up to 30 s.
    pub backoff: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(3),
            deadline: Duration::from_secs(3600),
            retries: 4,
            backoff: Duration::from_secs(1),
        }
    }
}

/// What `about/version` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    /// GeoServer's version, e.g. `2.27.4`.
    pub version: String,
    /// Every component listed (GeoServer, GeoTools, GeoWebCache) with its version.
    pub components: Vec<(String, String)>,
}

/// A GeoServer REST client.
pub struct Client {
    base: Url,
    http: Http,
    user: String,
    password: Secret,
    timing: Timing,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("user", &self.user)
            .field("password", &self.password)
            .field("timing", &self.timing)
            .finish()
    }
}

/// Which failures a request may be retried after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Any connection error, timeout or 5xx: sending it twice does no harm.
    Always,
    /// Only when it cannot have had an effect: no connection, or a 5xx.
    IfNotSent,
}

/// A status and a body, the body scrubbed of secrets.
struct Answer {
    status: StatusCode,
    body: String,
}

impl Client {
    /// A client for `connection`.
    ///
    /// # Errors
    ///
    /// The URL is not `http(s)://`, or holds a user or password (they go in
    /// `user`/`password`, where they are never printed).
    pub fn new(connection: &Connection, timing: Timing) -> Result<Self, Error> {
        let bad_url = |why: &str| {
            Error::new(
                ErrorKind::Usage,
                format!("the GeoServer URL `{}` {why}", without_userinfo(&connection.url)),
            )
            .hint("set [geoserver] url (or GEOSERVER_LOCATION) to GeoServer's base URL, e.g. http://localhost:8080/geoserver/")
        };
        let mut base = Url::parse(connection.url.trim())
            .map_err(|e| bad_url(&format!("is not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad_url("is not http:// or https://"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(bad_url("holds a user or password").hint(
                "put the user and password in [geoserver] user / GEOSERVER_ADMIN_PASSWORD, not in the URL",
            ));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = Http::builder()
            .timeout(timing.request_timeout)
            .connect_timeout(timing.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("gnbr/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::new(ErrorKind::Run, format!("cannot set up HTTP: {e}")))?;
        Ok(Self {
            base,
            http,
            user: connection.user.clone(),
            password: connection.password.clone(),
            timing,
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// GeoServer's version (`GET rest/about/version.json`).
    ///
    /// # Errors
    ///
    /// GeoServer cannot be reached, refuses the user, or answers something else.
    pub fn version(&self) -> Result<About, Error> {
        let what = "read its version";
        let answer = self.call(
            Method::GET,
            "rest/about/version.json",
            None,
            Retry::Always,
            None,
            &[],
            what,
        )?;
        let answer = self.expect_ok(answer, what, "")?;
        let value: Value = serde_json::from_str(&answer.body)
            .map_err(|e| self.garbled(what, &format!("not JSON: {e}")))?;
        let resources = match value.get("about").and_then(|a| a.get("resource")) {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(one @ Value::Object(_)) => vec![one],
            _ => Vec::new(),
        };
        let components: Vec<(String, String)> = resources
            .iter()
            .filter_map(|r| {
                let name = r.get("@name")?.as_str()?.to_owned();
                let version = match r.get("Version")? {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Some((name, version))
            })
            .collect();
        let version = components
            .iter()
            .find(|(name, _)| name == "GeoServer")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.garbled(what, "no `GeoServer` resource with a `Version`"))?;
        Ok(About {
            version,
            components,
        })
    }

    /// Re-reads the catalog and configuration from the data directory (`PUT rest/reload`).
    ///
    /// # Errors
    ///
    /// GeoServer cannot be reached or refuses.
    pub fn reload(&self) -> Result<(), Error> {
        self.put_action("rest/reload", "reload its catalog")
    }

    /// Drops GeoServer's caches (`PUT rest/reset`).
    ///
    /// # Errors
    ///
    /// GeoServer cannot be reached or refuses.
    pub fn reset(&self) -> Result<(), Error> {
        self.put_action("rest/reset", "reset its caches")
    }

    /// `PUT` to an action endpoint without a body, retried, expecting 2xx.
    fn put_action(&self, path: &str, what: &str) -> Result<(), Error> {
        let answer = self.call(Method::PUT, path, None, Retry::Always, None, &[], what)?;
        self.expect_ok(answer, what, "").map(drop)
    }

    /// Starts a backup job (`POST rest/br/backup`).
    ///
    /// # Errors
    ///
    /// The job is invalid, GeoServer cannot be reached, refuses it (another
    /// job runs), or lacks the Backup & Restore module.
    pub fn start_backup(&self, job: &BackupJob) -> Result<Execution, Error> {
        self.start(JobKind::Backup, &job.request()?, &[])
    }

    /// Starts a restore job (`POST rest/br/restore`).
    ///
    /// # Errors
    ///
    /// As [`Client::start_backup`].
    pub fn start_restore(&self, job: &RestoreJob) -> Result<Execution, Error> {
        self.start(JobKind::Restore, &job.request()?, &job.secrets())
    }

    /// Runs a backup job to its end: starts it, then polls until it is no
    /// longer running or the deadline passes. `progress` sees every new
    /// status or progress.
    ///
    /// # Errors
    ///
    /// Any status but `COMPLETED`, the deadline (the job is then cancelled),
    /// or the errors of [`Client::start_backup`].
    pub fn run_backup(
        &self,
        job: &BackupJob,
        progress: &mut dyn FnMut(&Execution),
    ) -> Result<Execution, Error> {
        let deadline = Instant::now() + self.timing.deadline;
        let started = self.start_backup(job)?;
        self.wait(JobKind::Backup, started.id, deadline, progress)
    }

    /// Runs a restore job to its end, as [`Client::run_backup`].
    ///
    /// # Errors
    ///
    /// As [`Client::run_backup`].
    pub fn run_restore(
        &self,
        job: &RestoreJob,
        progress: &mut dyn FnMut(&Execution),
    ) -> Result<Execution, Error> {
        let deadline = Instant::now() + self.timing.deadline;
        let started = self.start_restore(job)?;
        self.wait(JobKind::Restore, started.id, deadline, progress)
    }

    /// One job's execution (`GET rest/br/<kind>/<id>.json`).
    ///
    /// # Errors
    ///
    /// GeoServer cannot be reached, does not know the job, or answers something else.
    pub fn execution(&self, kind: JobKind, id: u64) -> Result<Execution, Error> {
        self.execution_until(kind, id, None)
    }

    /// Asks GeoServer to stop a job (`DELETE rest/br/<kind>/<id>`).
    ///
    /// # Errors
    ///
    /// GeoServer cannot be reached or refuses.
    pub fn cancel(&self, kind: JobKind, id: u64) -> Result<(), Error> {
        self.cancel_by(kind, id, None)
    }

    /// Polls a job until it is no longer running. A job still running at
    /// `deadline`, or when the run is cancelled, is cancelled on GeoServer
    /// and reported as an error.
    ///
    /// # Errors
    ///
    /// Any end status but `COMPLETED`; the deadline; the run's cancel;
    /// GeoServer unreachable.
    pub fn wait(
        &self,
        kind: JobKind,
        id: u64,
        deadline: Instant,
        progress: &mut dyn FnMut(&Execution),
    ) -> Result<Execution, Error> {
        self.poll(kind, id, deadline, progress).inspect_err(|e| {
            if e.kind == ErrorKind::Cancelled {
                self.stop_cancelled(kind, id);
            }
        })
    }

    /// The polls of [`Client::wait`], which stops the job when they end in a cancel.
    fn poll(
        &self,
        kind: JobKind,
        id: u64,
        deadline: Instant,
        progress: &mut dyn FnMut(&Execution),
    ) -> Result<Execution, Error> {
        let mut last: Option<Execution> = None;
        loop {
            let execution = match self.execution_until(kind, id, Some(deadline)) {
                Ok(execution) => execution,
                // The poll itself ran into the deadline: report that, not the poll.
                Err(e) if e.kind != ErrorKind::Cancelled && Instant::now() >= deadline => {
                    return Err(self.out_of_time(kind, id, last.as_ref()))
                }
                Err(e) => return Err(e),
            };
            let changed = last.as_ref().is_none_or(|l| {
                (&l.status, &l.progress) != (&execution.status, &execution.progress)
            });
            if changed {
                tracing::debug!(
                    "GeoServer {kind} job {id}: {} {}",
                    execution.status,
                    execution.progress.as_deref().unwrap_or("")
                );
                progress(&execution);
            }
            if !execution.status.is_running() {
                return self.ended(execution);
            }
            if Instant::now() + self.timing.poll_interval >= deadline {
                return Err(self.out_of_time(kind, id, Some(&execution)));
            }
            last = Some(execution);
            cancel::sleep(self.timing.poll_interval)?;
        }
    }

    /// Asks GeoServer to stop a job the run's cancel interrupted (one try,
    /// bounded by the request timeout, not itself cut short), saying so in
    /// gnbr's log.
    fn stop_cancelled(&self, kind: JobKind, id: u64) {
        let deadline = Some(Instant::now() + self.timing.request_timeout);
        match cancel::shielded(|| self.cancel_by(kind, id, deadline)) {
            Ok(()) => tracing::info!(
                "the run was cancelled: asked GeoServer at {} to stop its {kind} job {id}",
                self.base
            ),
            Err(e) => tracing::warn!(
                "the run was cancelled, but GeoServer at {} could not be asked to stop its {kind} job {id}, which may still be running: {}",
                self.base,
                e.message
            ),
        }
    }

    /// Downloads a finished backup's archive (`GET rest/br/backup/<id>.zip`)
    /// into `dest` (a file, or a backup's entry: GeoServer and gnbr then need
    /// no shared folder), `dest_name` in messages. Returns the bytes written.
    ///
    /// # Errors
    ///
    /// GeoServer cannot be reached or refuses; `dest` cannot be written.
    pub fn download_backup(
        &self,
        id: u64,
        dest: &mut dyn Write,
        dest_name: &str,
    ) -> Result<u64, Error> {
        let what = format!("send the archive of backup job {id}");
        let url = self.url(&format!("rest/br/backup/{id}.zip"))?;
        let deadline = Instant::now() + self.timing.deadline;
        let mut attempt = 0;
        let mut response = loop {
            cancel::check()?;
            let result = self
                .request(Method::GET, url.clone(), None)
                .header(ACCEPT, "application/zip")
                .timeout(deadline.saturating_duration_since(Instant::now()))
                .send();
            let reason = match &result {
                Ok(r) if r.status().is_server_error() => Some(format!("HTTP {}", r.status())),
                Ok(_) => None,
                Err(e) => Some(error_chain(e)),
            };
            match reason {
                Some(reason) if self.pause(&what, &reason, attempt, Some(deadline))? => {
                    attempt += 1;
                }
                _ => break result.map_err(|e| self.unreachable(&what, &e, attempt + 1))?,
            }
        };
        if !response.status().is_success() {
            let status = response.status();
            let body = scrub(&response.text().unwrap_or_default(), &[&self.password]);
            return Err(self.refused(&what, status, &body, BR_MISSING));
        }
        let write_error = |e: &dyn fmt::Display| {
            Error::new(ErrorKind::Run, format!("cannot write {dest_name}: {e}"))
        };
        let mut buf = vec![0; 1 << 16];
        let mut bytes = 0u64;
        loop {
            cancel::check()?;
            let n = response.read(&mut buf).map_err(|e| {
                Error::new(
                    ErrorKind::Target,
                    format!(
                        "GeoServer at {} broke off sending the archive of backup job {id}: {e}",
                        self.base
                    ),
                )
            })?;
            if n == 0 {
                break;
            }
            dest.write_all(&buf[..n]).map_err(|e| write_error(&e))?;
            bytes += n as u64;
        }
        dest.flush().map_err(|e| write_error(&e))?;
        Ok(bytes)
    }

    fn start(&self, kind: JobKind, body: &Value, secrets: &[&Secret]) -> Result<Execution, Error> {
        let what = format!("start a {kind}");
        let answer = self.call(
            Method::POST,
            &format!("rest/br/{kind}"),
            Some(body),
            Retry::IfNotSent,
            None,
            secrets,
            &what,
        )?;
        match answer.status {
            StatusCode::OK | StatusCode::CREATED => match parse_execution(kind, &answer.body) {
                Ok(execution) => Ok(execution),
                Err(e) => {
                    tracing::debug!("GeoServer's answer to {what} is not an execution ({e}); looking the job up");
                    self.latest(kind)
                }
            },
            // Some versions start the job, then fail to write the answer as JSON (GeoNode accepted 406 too).
            StatusCode::NOT_ACCEPTABLE => self.latest(kind),
            status if status.is_server_error() => Err(Error::new(
                ErrorKind::Target,
                format!(
                    "GeoServer at {} refused to {what}: HTTP {status}: {}",
                    self.base,
                    excerpt(&answer.body)
                ),
            )
            .hint(format!(
                "GeoServer runs one backup or restore at a time; another may be running (see {}rest/br/{kind}.json): wait for it or cancel it",
                self.base
            ))),
            status => Err(self.refused(&what, status, &answer.body, BR_MISSING)),
        }
    }

    /// Checks that the Backup & Restore module answers (`GET rest/br/backup.json`).
    ///
    /// # Errors
    ///
    /// GeoServer cannot be reached, refuses, or lacks the module.
    pub fn check_backup_restore(&self) -> Result<(), Error> {
        self.job_ids(JobKind::Backup).map(drop)
    }

    /// The newest job of a kind: GeoServer assigns growing ids.
    fn latest(&self, kind: JobKind) -> Result<Execution, Error> {
        let id = self.job_ids(kind)?.into_iter().max().ok_or_else(|| {
            self.garbled(
                &format!("start a {kind}"),
                "it accepted the job but lists none",
            )
        })?;
        self.execution(kind, id)
    }

    /// The ids of the jobs of a kind GeoServer lists.
    fn job_ids(&self, kind: JobKind) -> Result<Vec<u64>, Error> {
        let what = format!("list its {kind} jobs");
        let answer = self.call(
            Method::GET,
            &format!("rest/br/{kind}.json"),
            None,
            Retry::Always,
            None,
            &[],
            &what,
        )?;
        let answer = self.expect_ok(answer, &what, BR_MISSING)?;
        parse_list(kind, &answer.body).map_err(|e| self.garbled(&what, &e))
    }

    fn execution_until(
        &self,
        kind: JobKind,
        id: u64,
        deadline: Option<Instant>,
    ) -> Result<Execution, Error> {
        let what = format!("report {kind} job {id}");
        let answer = self.call(
            Method::GET,
            &format!("rest/br/{kind}/{id}.json"),
            None,
            Retry::Always,
            deadline,
            &[],
            &what,
        )?;
        let hint = "GeoServer forgets its jobs when it restarts; is the Backup & Restore module installed?";
        let answer = self.expect_ok(answer, &what, hint)?;
        parse_execution(kind, &answer.body).map_err(|e| self.garbled(&what, &e))
    }

    /// The end of a job: `Ok` only for `COMPLETED`.
    fn ended(&self, execution: Execution) -> Result<Execution, Error> {
        let (kind, id) = (execution.kind, execution.id);
        let job = format!("GeoServer's {kind} job {id} (at {})", self.base);
        let (message, hint) = match &execution.status {
            JobStatus::Completed => return Ok(execution),
            JobStatus::Failed => {
                let summary = execution.failure_summary();
                (
                    if summary.is_empty() {
                        format!("{job} failed without saying why")
                    } else {
                        format!("{job} failed: {summary}")
                    },
                    "GeoServer's log (logs/geoserver.log in its data directory) has the whole error".to_owned(),
                )
            }
            JobStatus::Stopped => (
                format!("{job} was stopped before it finished (someone cancelled it, or GeoServer was shutting down)"),
                format!("run the {kind} again"),
            ),
            JobStatus::Abandoned => (
                format!("{job} was abandoned by GeoServer (usually a restart while it ran)"),
                format!("run the {kind} again"),
            ),
            status => (
                format!("{job} ended with status {status}, which is neither a success nor a known failure"),
                "check GeoServer's log before trusting the result".to_owned(),
            ),
        };
        Err(Error::new(ErrorKind::Run, message).hint(hint))
    }

    /// The deadline passed with the job still running: ask GeoServer to
    /// stop it (one try, bounded by the request timeout).
    fn out_of_time(&self, kind: JobKind, id: u64, last: Option<&Execution>) -> Error {
        let cancelled =
            match self.cancel_by(kind, id, Some(Instant::now() + self.timing.request_timeout)) {
                Ok(()) => "gnbr asked GeoServer to stop it".to_owned(),
                Err(e) => format!(
                    "gnbr could not stop it ({}), so it may still be running",
                    e.message
                ),
            };
        let status = match last {
            Some(execution) => format!(
                "last status {}{}",
                execution.status,
                execution
                    .progress
                    .as_deref()
                    .map(|p| format!(", progress {p}"))
                    .unwrap_or_default()
            ),
            None => "no status read".to_owned(),
        };
        Error::new(
            ErrorKind::Run,
            format!(
                "GeoServer's {kind} job {id} (at {}) did not finish within {} ({status}); {cancelled}",
                self.base,
                duration(self.timing.deadline),
            ),
        )
        .hint("raise [geoserver] deadline for a catalog this big, or look for a hung job in GeoServer's log")
    }

    fn cancel_by(&self, kind: JobKind, id: u64, deadline: Option<Instant>) -> Result<(), Error> {
        let what = format!("cancel {kind} job {id}");
        let answer = self.call(
            Method::DELETE,
            &format!("rest/br/{kind}/{id}"),
            None,
            Retry::Always,
            deadline,
            &[],
            &what,
        )?;
        self.expect_ok(answer, &what, BR_MISSING).map(drop)
    }

    fn url(&self, path: &str) -> Result<Url, Error> {
        self.base.join(path).map_err(|e| {
            Error::new(
                ErrorKind::Usage,
                format!("cannot form a URL from {} and {path}: {e}", self.base),
            )
        })
    }

    fn request(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> reqwest::blocking::RequestBuilder {
        let request = self
            .http
            .request(method, url)
            .basic_auth(&self.user, Some(self.password.expose()))
            .header(ACCEPT, "application/json");
        match body {
            Some(body) => request.json(body),
            None => request,
        }
    }

    /// Sends a request with retries; 5xx answers are returned once retries
    /// are spent, for the caller to explain.
    #[expect(
        clippy::too_many_arguments,
        reason = "private; every call names each of them"
    )]
    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        retry: Retry,
        deadline: Option<Instant>,
        secrets: &[&Secret],
        what: &str,
    ) -> Result<Answer, Error> {
        let url = self.url(path)?;
        let mut attempt = 0;
        loop {
            cancel::check()?;
            let timeout = match deadline {
                Some(d) => self
                    .timing
                    .request_timeout
                    .min(d.saturating_duration_since(Instant::now())),
                None => self.timing.request_timeout,
            };
            let result = self
                .request(method.clone(), url.clone(), body)
                .timeout(timeout.max(Duration::from_millis(1)))
                .send()
                .and_then(|response: Response| {
                    let status = response.status();
                    response.text().map(|text| (status, text))
                });
            tracing::debug!(
                "GeoServer {method} {url}: {}",
                match &result {
                    Ok((status, _)) => status.to_string(),
                    Err(e) => error_chain(e),
                }
            );
            let reason = match &result {
                Ok((status, _)) if status.is_server_error() => Some(format!("HTTP {status}")),
                Ok(_) => None,
                Err(e) if retry == Retry::Always || e.is_connect() => Some(error_chain(e)),
                Err(_) => None,
            };
            match reason {
                Some(reason) if self.pause(what, &reason, attempt, deadline)? => attempt += 1,
                _ => {
                    let mut all = secrets.to_vec();
                    all.push(&self.password);
                    return match result {
                        Ok((status, text)) => Ok(Answer {
                            status,
                            body: scrub(&text, &all),
                        }),
                        Err(e) => Err(self.unreachable(what, &e, attempt + 1)),
                    };
                }
            }
        }
    }

    /// Sleeps before the next try, if one is left and fits before the
    /// deadline; returns whether to try again.
    ///
    /// # Errors
    ///
    /// The run's cancel, which cuts the sleep short.
    fn pause(
        &self,
        what: &str,
        reason: &str,
        attempt: u32,
        deadline: Option<Instant>,
    ) -> Result<bool, Error> {
        if attempt >= self.timing.retries {
            return Ok(false);
        }
        let delay = self
            .timing
            .backoff
            .saturating_mul(1 << attempt.min(16))
            .min(Duration::from_secs(30));
        if deadline.is_some_and(|d| Instant::now() + delay >= d) {
            return Ok(false);
        }
        tracing::warn!(
            "GeoServer at {} could not {what} ({}); trying again in {} ms",
            self.base,
            scrub(reason, &[&self.password]),
            delay.as_millis()
        );
        cancel::sleep(delay)?;
        Ok(true)
    }

    fn expect_ok(&self, answer: Answer, what: &str, not_found_hint: &str) -> Result<Answer, Error> {
        if answer.status.is_success() {
            Ok(answer)
        } else {
            Err(self.refused(what, answer.status, &answer.body, not_found_hint))
        }
    }

    fn refused(&self, what: &str, status: StatusCode, body: &str, not_found_hint: &str) -> Error {
        let base = &self.base;
        match status {
            StatusCode::UNAUTHORIZED => Error::new(
                ErrorKind::Usage,
                format!("GeoServer at {base} refused user `{}` when asked to {what}: HTTP 401 (wrong user or password)", self.user),
            )
            .hint(format!("set [geoserver] user / {USER_ENV} and {PASSWORD_ENV} to GeoServer's admin account")),
            StatusCode::FORBIDDEN => Error::new(
                ErrorKind::Usage,
                format!("GeoServer at {base} does not let user `{}` {what}: HTTP 403", self.user),
            )
            .hint("the REST API needs a user with GeoServer's ADMIN role"),
            status => {
                let error = Error::new(
                    ErrorKind::Target,
                    format!("GeoServer at {base} could not {what}: HTTP {status}: {}", excerpt(body)),
                );
                if status == StatusCode::NOT_FOUND && !not_found_hint.is_empty() {
                    error.hint(not_found_hint)
                } else {
                    error.hint("GeoServer's log (logs/geoserver.log in its data directory) has the details")
                }
            }
        }
    }

    fn unreachable(&self, what: &str, error: &reqwest::Error, attempts: u32) -> Error {
        Error::new(
            ErrorKind::Target,
            format!(
                "cannot reach GeoServer at {} to {what} ({attempts} tries): {}",
                self.base,
                scrub(&error_chain(error), &[&self.password])
            ),
        )
        .hint(format!(
            "check [geoserver] url (or {URL_ENV}) and that GeoServer is running"
        ))
    }

    fn garbled(&self, what: &str, why: &str) -> Error {
        Error::new(
            ErrorKind::Target,
            format!("GeoServer at {} answered oddly when asked to {what}: {why}", self.base),
        )
        .hint("is the URL GeoServer's base URL (ending in /geoserver/), and is it a GeoServer 2.22 or later?")
    }
}

/// Hint for a 404 on the Backup & Restore endpoints.
const BR_MISSING: &str = "is GeoServer's Backup & Restore extension (backup-restore) installed?";

/// `3600 s`, or `600 ms` below a second or with a fraction.
fn duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// An error with its causes, deduplicated (reqwest repeats itself).
fn error_chain(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// The first line of an answer, shortened.
fn excerpt(body: &str) -> String {
    let line = body.trim().lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return "(empty answer)".to_owned();
    }
    match line.char_indices().nth(300) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_owned(),
    }
}

/// A URL for messages, with any `user:password@` removed.
fn without_userinfo(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}{}", &url[..s + 3], &url[at + 1..]),
            _ => url.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{
        duration, excerpt, without_userinfo, Client, Connection, Timing, PASSWORD_ENV, URL_ENV,
    };
    use crate::{errors::ErrorKind, geoserver::Secret};

    #[test]
    fn settings_win_over_the_environment() {
        let env = |var: &str| match var {
            URL_ENV => Some("http://env:8080/geoserver/".to_owned()),
            PASSWORD_ENV => Some("env-pw".to_owned()),
            _ => None,
        };
        let c = Connection::resolve(Some("http://ini/geoserver"), None, None, &env).unwrap();
        assert_eq!(c.url, "http://ini/geoserver");
        assert_eq!(c.user, "admin");
        assert_eq!(c.password.expose(), "env-pw");
        let c = Connection::resolve(None, Some("root"), Some("ini-pw"), &env).unwrap();
        assert_eq!(
            (c.url.as_str(), c.user.as_str()),
            ("http://env:8080/geoserver/", "root")
        );
        assert_eq!(c.password.expose(), "ini-pw");
        let none = |_: &str| None;
        let err = Connection::resolve(Some("http://x/"), None, None, &none).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage);
        assert!(err.hint.unwrap().contains(PASSWORD_ENV));
        assert!(Connection::resolve(None, None, Some("pw"), &none).is_err());
    }

    #[test]
    fn refuses_urls_it_cannot_use_and_never_shows_passwords() {
        let connection = |url: &str| Connection {
            url: url.to_owned(),
            user: "admin".to_owned(),
            password: Secret::new("geoserver-pw"),
        };
        for bad in [
            "ftp://x/",
            "not a url",
            "http://admin:geoserver-pw@h/geoserver/",
        ] {
            let err = Client::new(&connection(bad), Timing::default()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Usage, "{bad}");
            assert!(!err.to_string().contains("geoserver-pw"), "{err}");
        }
        let client =
            Client::new(&connection("http://h:8080/geoserver"), Timing::default()).unwrap();
        assert_eq!(client.base_url(), "http://h:8080/geoserver/");
        let debug = format!("{client:?}");
        assert!(
            debug.contains("***") && !debug.contains("geoserver-pw"),
            "{debug}"
        );
        assert!(!format!("{:?}", connection("http://h/")).contains("geoserver-pw"));
    }

    #[test]
    fn unreachable_is_a_target_error_after_the_retries() {
        // A port that was just free: connection refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let timing = Timing {
            request_timeout: Duration::from_millis(500),
            retries: 2,
            backoff: Duration::from_millis(10),
            ..Timing::default()
        };
        let connection = Connection {
            url: format!("http://127.0.0.1:{port}/geoserver/"),
            user: "admin".to_owned(),
            password: Secret::new("pw-not-shown"),
        };
        let err = Client::new(&connection, timing)
            .unwrap()
            .version()
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Target);
        assert!(err.message.contains("3 tries"), "{err}");
        assert!(
            err.message
                .contains(&format!("http://127.0.0.1:{port}/geoserver/")),
            "{err}"
        );
        assert!(!err.to_string().contains("pw-not-shown"));
    }

    #[test]
    fn a_cancel_ends_the_wait_between_tries() {
        // GeoServer takes the first try's connection and closes it, then
        // its port is closed: the reload waits an hour before each next try.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let connection = Connection {
            url: format!("http://{}/geoserver/", listener.local_addr().unwrap()),
            user: "admin".to_owned(),
            password: Secret::new("pw"),
        };
        let timing = Timing {
            retries: u32::MAX,
            backoff: Duration::from_secs(3600),
            ..Timing::default()
        };
        let client = Client::new(&connection, timing).unwrap();
        let cancel = crate::cancel::Cancel::new();
        let run = cancel.clone();
        let (sender, reloaded) = std::sync::mpsc::channel();
        std::thread::spawn(move || sender.send(run.run(|| client.reload())));
        drop(listener.accept().unwrap());
        drop(listener);
        cancel.cancel("`admin`").unwrap();
        // Bounded far below the hour between tries, far above what any
        // busy machine needs to see the cancel.
        let error = reloaded
            .recv_timeout(Duration::from_secs(600))
            .expect("the cancel ended the wait between tries")
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::Cancelled);
        assert_eq!(error.message, "cancelled by `admin`");
    }

    #[test]
    fn messages_stay_short_and_clean() {
        assert_eq!(duration(Duration::from_secs(3600)), "3600 s");
        assert_eq!(duration(Duration::from_millis(1500)), "1500 ms");
        assert_eq!(excerpt(""), "(empty answer)");
        assert_eq!(excerpt("  first\nsecond"), "first");
        assert_eq!(excerpt(&"x".repeat(400)).len(), 303);
        assert_eq!(without_userinfo("http://u:p@h/g"), "http://h/g");
        assert_eq!(without_userinfo("nonsense u:p@h"), "nonsense u:p@h");
    }
}
