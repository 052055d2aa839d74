//! The Backup & Restore module's jobs: the requests (every option sent
//! explicitly, since defaults differ between GeoServer versions and their
//! documentation) and the executions GeoServer reports (both encodings of
//! `status`, every Spring Batch status).
//!
//! Pure data: the HTTP calls are in [`super::rest`].

use std::fmt;

use serde_json::{json, Value};

use super::Secret;
use crate::errors::{Error, ErrorKind};

/// Which kind of job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// `/rest/br/backup`.
    Backup,
    /// `/rest/br/restore`.
    Restore,
}

impl JobKind {
    /// `backup` or `restore`: the path segment and the JSON key.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Backup => "backup",
            Self::Restore => "restore",
        }
    }

    /// The key of the job list (`backups`, `restores`).
    fn plural(self) -> &'static str {
        match self {
            Self::Backup => "backups",
            Self::Restore => "restores",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

/// A backup job: GeoServer writes its catalog (and, unless skipped, its
/// settings and security) to `archive_file` on its own filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupJob {
    /// Absolute path of the archive on GeoServer's filesystem.
    pub archive_file: String,
    /// Replace an existing archive.
    pub overwrite: bool,
    /// `BK_BEST_EFFORT`: skip resources that fail instead of failing.
    pub best_effort: bool,
    /// `BK_SKIP_SETTINGS`: leave out global and service settings (and, per
    /// GeoServer's documentation, security with them).
    pub skip_settings: bool,
    /// `BK_SKIP_SECURITY`: leave out `security/`.
    pub skip_security: bool,
    /// `BK_SKIP_GWC`: leave out the GeoWebCache configuration.
    pub skip_gwc: bool,
    /// `BK_CLEANUP_TEMP`: remove GeoServer's temporary folder afterwards.
    pub cleanup_temp: bool,
    /// `BK_PARAM_PASSWORDS`: write store passwords as `${ws:store.passwd.encryptedValue}` tokens.
    pub param_passwords: bool,
    /// `exclude.file.path`: data-dir relative paths to leave out.
    pub exclude: Vec<String>,
}

impl BackupJob {
    /// A backup to `archive_file` with GeoNode's choices: settings and
    /// security included, GWC included, temporary files cleaned up, errors fail.
    pub fn new(archive_file: impl Into<String>) -> Self {
        Self {
            archive_file: archive_file.into(),
            overwrite: true,
            best_effort: false,
            skip_settings: false,
            skip_security: false,
            skip_gwc: false,
            cleanup_temp: true,
            param_passwords: false,
            exclude: Vec::new(),
        }
    }

    /// Every option, explicitly.
    pub(crate) fn options(&self) -> Result<Vec<String>, Error> {
        Ok(vec![
            option("BK_BEST_EFFORT", self.best_effort),
            option("BK_SKIP_SETTINGS", self.skip_settings),
            option("BK_SKIP_SECURITY", self.skip_security),
            option("BK_SKIP_GWC", self.skip_gwc),
            option("BK_CLEANUP_TEMP", self.cleanup_temp),
            option("BK_PARAM_PASSWORDS", self.param_passwords),
            exclude_option(&self.exclude)?,
        ])
    }

    /// The request body.
    pub(crate) fn request(&self) -> Result<Value, Error> {
        check_archive_file(&self.archive_file)?;
        Ok(json!({
            "backup": {
                "archiveFile": self.archive_file,
                "overwrite": self.overwrite,
                "options": { "option": self.options()? },
            }
        }))
    }
}

/// A restore job: GeoServer reads `archive_file` from its own filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreJob {
    /// Absolute path of the archive on GeoServer's filesystem.
    pub archive_file: String,
    /// `BK_BEST_EFFORT`: skip resources that fail instead of failing.
    pub best_effort: bool,
    /// `BK_DRY_RUN`: check the archive, change nothing.
    pub dry_run: bool,
    /// `BK_SKIP_SETTINGS`: keep the target's settings.
    pub skip_settings: bool,
    /// `BK_SKIP_SECURITY`: keep the target's security.
    pub skip_security: bool,
    /// `BK_PURGE_RESOURCES`: remove the target's catalog first.
    pub purge_resources: bool,
    /// `BK_SKIP_GWC`: keep the target's GeoWebCache configuration.
    pub skip_gwc: bool,
    /// `BK_CLEANUP_TEMP`: remove GeoServer's temporary folder afterwards.
    pub cleanup_temp: bool,
    /// `BK_PASSWORD_TOKENS`: the passwords of an archive written with
    /// `BK_PARAM_PASSWORDS`, by token (`${ws:store.passwd.encryptedValue}`).
    /// When given, `BK_PARAM_PASSWORDS=true` is sent too: GeoServer reads
    /// the tokens only then.
    pub password_tokens: Vec<(String, Secret)>,
    /// `exclude.file.path`: data-dir relative paths to leave alone.
    pub exclude: Vec<String>,
}

impl RestoreJob {
    /// A restore of `archive_file` that replaces the catalog, keeps the
    /// target's settings and security (GeoNode's choices), and fails on the
    /// first error (unlike GeoNode, which asked for best effort and so
    /// could report a partial restore as a success).
    pub fn new(archive_file: impl Into<String>) -> Self {
        Self {
            archive_file: archive_file.into(),
            best_effort: false,
            dry_run: false,
            skip_settings: true,
            skip_security: true,
            purge_resources: true,
            skip_gwc: false,
            cleanup_temp: true,
            password_tokens: Vec::new(),
            exclude: Vec::new(),
        }
    }

    /// Every option, explicitly. Holds passwords when tokens are given:
    /// never log it.
    pub(crate) fn options(&self) -> Result<Vec<String>, Error> {
        let mut tokens = Vec::with_capacity(self.password_tokens.len());
        for (token, password) in &self.password_tokens {
            // GeoServer splits the list on `,` and each pair on `=`; older
            // versions silently drop a pair with a second `=`.
            if token.is_empty() || token.contains([',', '=']) {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!("the password token `{token}` cannot be sent to GeoServer: it is empty or holds `,` or `=`"),
                ));
            }
            if password.expose().contains([',', '=']) {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!("the password for token `{token}` holds `,` or `=`, which GeoServer's BK_PASSWORD_TOKENS cannot carry"),
                )
                .hint("restore without tokens and set the store's password with gnbr's rewrite mapping instead"));
            }
            tokens.push(format!("{token}={}", password.expose()));
        }
        Ok(vec![
            option("BK_BEST_EFFORT", self.best_effort),
            option("BK_DRY_RUN", self.dry_run),
            option("BK_SKIP_SETTINGS", self.skip_settings),
            option("BK_SKIP_SECURITY", self.skip_security),
            option("BK_PURGE_RESOURCES", self.purge_resources),
            option("BK_SKIP_GWC", self.skip_gwc),
            option("BK_CLEANUP_TEMP", self.cleanup_temp),
            option("BK_PARAM_PASSWORDS", !tokens.is_empty()),
            format!("BK_PASSWORD_TOKENS={}", tokens.join(",")),
            exclude_option(&self.exclude)?,
        ])
    }

    /// The request body (holds passwords when tokens are given).
    pub(crate) fn request(&self) -> Result<Value, Error> {
        check_archive_file(&self.archive_file)?;
        Ok(json!({
            "restore": {
                "archiveFile": self.archive_file,
                "options": { "option": self.options()? },
            }
        }))
    }

    /// The token passwords, to scrub from anything GeoServer answers.
    pub(crate) fn secrets(&self) -> Vec<&Secret> {
        self.password_tokens.iter().map(|(_, p)| p).collect()
    }
}

fn option(key: &str, value: bool) -> String {
    format!("{key}={value}")
}

fn exclude_option(paths: &[String]) -> Result<String, Error> {
    if let Some(bad) = paths.iter().find(|p| p.contains(';')) {
        return Err(Error::new(
            ErrorKind::Usage,
            format!("the excluded path `{bad}` holds `;`, which separates paths in GeoServer's exclude.file.path"),
        ));
    }
    Ok(format!("exclude.file.path={}", paths.join(";")))
}

fn check_archive_file(path: &str) -> Result<(), Error> {
    let bytes = path.as_bytes();
    let windows = bytes.len() > 2
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes[2], b'\\' | b'/');
    if !(path.starts_with('/') || windows) || path.contains(['\n', '\r']) {
        return Err(Error::new(
            ErrorKind::Usage,
            format!("`{path}` is not an absolute path, which GeoServer needs for archiveFile"),
        )
        .hint("archiveFile is a path on GeoServer's own filesystem (in Docker: inside GeoServer's container), e.g. /geoserver_data/backups/geoserver_catalog.zip"));
    }
    Ok(())
}

/// A Spring Batch status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// Queued.
    Starting,
    /// Running.
    Started,
    /// Being stopped.
    Stopping,
    /// Stopped before it finished.
    Stopped,
    /// Finished.
    Completed,
    /// Failed.
    Failed,
    /// Given up by GeoServer (a restart during the run).
    Abandoned,
    /// `UNKNOWN`, or a status this code does not know (kept as written).
    Unknown(String),
}

impl JobStatus {
    /// Reads a status name, in any case.
    pub fn parse(name: &str) -> Self {
        match name.trim().to_ascii_uppercase().as_str() {
            "STARTING" => Self::Starting,
            "STARTED" => Self::Started,
            "STOPPING" => Self::Stopping,
            "STOPPED" => Self::Stopped,
            "COMPLETED" => Self::Completed,
            "FAILED" => Self::Failed,
            "ABANDONED" => Self::Abandoned,
            _ => Self::Unknown(name.trim().to_owned()),
        }
    }

    /// Whether the job is still going (poll again).
    pub fn is_running(&self) -> bool {
        matches!(self, Self::Starting | Self::Started | Self::Stopping)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Starting => "STARTING",
            Self::Started => "STARTED",
            Self::Stopping => "STOPPING",
            Self::Stopped => "STOPPED",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Abandoned => "ABANDONED",
            Self::Unknown(name) if name.is_empty() => "UNKNOWN",
            Self::Unknown(name) => name,
        })
    }
}

/// A job as GeoServer reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// Backup or restore.
    pub kind: JobKind,
    /// GeoServer's id for it.
    pub id: u64,
    /// Where it is.
    pub status: JobStatus,
    /// `done/total` steps, when reported.
    pub progress: Option<String>,
    /// `exitStatus.exitCode`.
    pub exit_code: Option<String>,
    /// `exitStatus.exitDescription` (often a Java stack trace on failure).
    pub exit_description: Option<String>,
    /// Its steps.
    pub steps: Vec<StepExecution>,
}

impl fmt::Display for Execution {
    /// `backup job 3: STARTED 2/8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} job {}: {}", self.kind, self.id, self.status)?;
        if let Some(progress) = &self.progress {
            write!(f, " {progress}")?;
        }
        Ok(())
    }
}

/// One step of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepExecution {
    /// Its name (`backupWorkspacesAndLayers`).
    pub name: String,
    /// Its status.
    pub status: JobStatus,
    /// Objects read.
    pub read_count: Option<u64>,
    /// Objects written.
    pub write_count: Option<u64>,
    /// Its failures, as GeoServer wrote them (empty: none).
    pub failures: String,
}

impl Execution {
    /// What went wrong, from the exit description and the failed steps,
    /// shortened to the first line of each.
    pub fn failure_summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(description) = self.exit_description.as_deref().map(first_line) {
            if !description.is_empty() {
                parts.push(description.to_owned());
            }
        }
        for step in &self.steps {
            let failures = first_line(&step.failures);
            if !failures.is_empty() {
                parts.push(format!("step {}: {failures}", step.name));
            }
        }
        parts.join("; ")
    }
}

fn first_line(text: &str) -> &str {
    text.trim().lines().next().unwrap_or("").trim()
}

/// Reads an execution from GeoServer's JSON
/// (`{"backup":{"execution":{...}}}`), with `status` as a string or as a
/// one-element array (older versions), and single-element lists written
/// as bare objects (XStream's habit).
///
/// # Errors
///
/// When the text is not such JSON; the message says what is missing.
pub fn parse_execution(kind: JobKind, body: &str) -> Result<Execution, String> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let execution = value
        .get(kind.noun())
        .and_then(|v| v.get("execution"))
        .ok_or_else(|| format!("no `{}.execution` in the answer", kind.noun()))?;
    let id = number(execution.get("id")).ok_or("no execution id in the answer")?;
    let status = text(execution.get("status"))
        .map(|s| JobStatus::parse(&s))
        .ok_or("no execution status in the answer")?;
    let exit = execution.get("exitStatus");
    let steps = list(execution.get("stepExecutions").and_then(|s| s.get("step")))
        .into_iter()
        .map(|step| StepExecution {
            name: text(step.get("name")).unwrap_or_default(),
            status: JobStatus::parse(&text(step.get("status")).unwrap_or_default()),
            read_count: number(step.get("readCount")),
            write_count: number(step.get("writeCount")),
            failures: failures(step.get("failureExceptions")),
        })
        .collect();
    Ok(Execution {
        kind,
        id,
        status,
        progress: text(execution.get("progress")),
        exit_code: text(exit.and_then(|e| e.get("exitCode"))),
        exit_description: text(exit.and_then(|e| e.get("exitDescription"))),
        steps,
    })
}

/// Reads the ids of a job list (`{"backups":{"backup":[{"name":"1",...}]}}`).
///
/// # Errors
///
/// When the text is not such JSON.
pub(crate) fn parse_list(kind: JobKind, body: &str) -> Result<Vec<u64>, String> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let jobs = value
        .get(kind.plural())
        .ok_or_else(|| format!("no `{}` in the answer", kind.plural()))?;
    // An empty list comes back as `""` or `{}` from some versions.
    Ok(list(jobs.get(kind.noun()))
        .into_iter()
        .filter_map(|job| number(job.get("name")).or_else(|| number(job.get("id"))))
        .collect())
}

/// A string, or the first element of a one-element array of strings.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => text(items.first()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A number written as a number or as a string.
fn number(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Array(items) => number(items.first()),
        _ => None,
    }
}

/// A list, or a bare object standing for a list of one.
fn list(value: Option<&Value>) -> Vec<&Value> {
    match value {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(object @ Value::Object(_)) => vec![object],
        _ => Vec::new(),
    }
}

fn failures(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| text(Some(i)).unwrap_or_else(|| i.to_string()))
            .collect::<Vec<_>>()
            .join("; "),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_execution, parse_list, BackupJob, JobKind, JobStatus, RestoreJob};
    use crate::{errors::ErrorKind, geoserver::Secret};

    #[test]
    fn sends_every_option_explicitly() {
        let backup = BackupJob::new("/gs/backups/catalog.zip");
        let body = backup.request().unwrap();
        assert_eq!(
            body,
            serde_json::json!({"backup": {
                "archiveFile": "/gs/backups/catalog.zip",
                "overwrite": true,
                "options": {"option": [
                    "BK_BEST_EFFORT=false", "BK_SKIP_SETTINGS=false", "BK_SKIP_SECURITY=false",
                    "BK_SKIP_GWC=false", "BK_CLEANUP_TEMP=true", "BK_PARAM_PASSWORDS=false",
                    "exclude.file.path=",
                ]},
            }})
        );
        let mut restore = RestoreJob::new("C:\\gs\\catalog.zip");
        restore.exclude = vec!["data/geonode".into(), "logs".into()];
        let options = restore.options().unwrap();
        assert_eq!(
            options,
            [
                "BK_BEST_EFFORT=false",
                "BK_DRY_RUN=false",
                "BK_SKIP_SETTINGS=true",
                "BK_SKIP_SECURITY=true",
                "BK_PURGE_RESOURCES=true",
                "BK_SKIP_GWC=false",
                "BK_CLEANUP_TEMP=true",
                "BK_PARAM_PASSWORDS=false",
                "BK_PASSWORD_TOKENS=",
                "exclude.file.path=data/geonode;logs",
            ]
        );
        assert!(options.iter().all(|o| o.contains('=')));
        assert!(restore.request().is_ok());
    }

    #[test]
    fn password_tokens_switch_parameterised_passwords_on_and_stay_hidden() {
        let mut restore = RestoreJob::new("/x.zip");
        restore.password_tokens = vec![
            ("${gn:db.passwd.encryptedValue}".into(), Secret::new("pw1")),
            ("${gn:db2.passwd.encryptedValue}".into(), Secret::new("pw2")),
        ];
        let options = restore.options().unwrap();
        assert!(options.contains(&"BK_PARAM_PASSWORDS=true".to_owned()));
        assert!(options.contains(
            &"BK_PASSWORD_TOKENS=${gn:db.passwd.encryptedValue}=pw1,${gn:db2.passwd.encryptedValue}=pw2"
                .to_owned()
        ));
        assert!(!format!("{restore:?}").contains("pw1"));
        restore.password_tokens[0].1 = Secret::new("a,b");
        let err = restore.options().unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage);
        assert!(!err.to_string().contains("a,b"), "{err}");
    }

    #[test]
    fn refuses_what_geoserver_cannot_take() {
        assert!(BackupJob::new("relative/x.zip").request().is_err());
        assert!(BackupJob::new("").request().is_err());
        let mut job = BackupJob::new("/x.zip");
        job.exclude = vec!["a;b".into()];
        assert!(job.request().is_err());
    }

    #[test]
    fn reads_both_status_encodings_and_every_status() {
        let spec = r#"{"backup":{"execution":{"id":0,"status":"COMPLETED","progress":"8/8","exitStatus":{"exitCode":"COMPLETED","exitDescription":""},"stepExecutions":{"step":[{"name":"backupWorkspacesAndLayers","status":"COMPLETED","readCount":12,"writeCount":12,"failureExceptions":""}]}}}}"#;
        let execution = parse_execution(JobKind::Backup, spec).unwrap();
        assert_eq!(execution.id, 0);
        assert_eq!(execution.status, JobStatus::Completed);
        assert_eq!(execution.progress.as_deref(), Some("8/8"));
        assert_eq!(execution.exit_code.as_deref(), Some("COMPLETED"));
        assert_eq!(execution.steps[0].read_count, Some(12));
        assert_eq!(execution.failure_summary(), "");

        let older = r#"{"restore":{"execution":{"id":"7","status":["STARTED"],"stepExecutions":{"step":{"name":"one","status":["STARTED"]}}}}}"#;
        let execution = parse_execution(JobKind::Restore, older).unwrap();
        assert_eq!((execution.id, &execution.status), (7, &JobStatus::Started));
        assert_eq!(execution.steps.len(), 1);
        assert!(execution.status.is_running());

        for (name, status, running) in [
            ("STARTING", JobStatus::Starting, true),
            ("STARTED", JobStatus::Started, true),
            ("STOPPING", JobStatus::Stopping, true),
            ("STOPPED", JobStatus::Stopped, false),
            ("COMPLETED", JobStatus::Completed, false),
            ("FAILED", JobStatus::Failed, false),
            ("ABANDONED", JobStatus::Abandoned, false),
            ("UNKNOWN", JobStatus::Unknown("UNKNOWN".into()), false),
            ("PAUSED", JobStatus::Unknown("PAUSED".into()), false),
        ] {
            for body in [
                format!(r#"{{"backup":{{"execution":{{"id":1,"status":"{name}"}}}}}}"#),
                format!(r#"{{"backup":{{"execution":{{"id":1,"status":["{name}"]}}}}}}"#),
            ] {
                let execution = parse_execution(JobKind::Backup, &body).unwrap();
                assert_eq!(execution.status, status, "{body}");
                assert_eq!(execution.status.is_running(), running, "{body}");
                assert_eq!(execution.status.to_string(), name);
            }
        }
    }

    #[test]
    fn summarises_failures() {
        let body = r#"{"backup":{"execution":{"id":3,"status":"FAILED","exitStatus":{"exitCode":"FAILED","exitDescription":"java.lang.RuntimeException: boom\n\tat x.y(Z.java:1)"},"stepExecutions":{"step":[{"name":"a","status":"COMPLETED","failureExceptions":""},{"name":"b","status":"FAILED","failureExceptions":["no such store\nmore"]}]}}}}"#;
        let execution = parse_execution(JobKind::Backup, body).unwrap();
        assert_eq!(
            execution.failure_summary(),
            "java.lang.RuntimeException: boom; step b: no such store"
        );
    }

    #[test]
    fn refuses_answers_that_are_not_executions() {
        for body in [
            "<html>",
            r#"{"restore":{}}"#,
            r#"{"backup":{"execution":{"id":1}}}"#,
        ] {
            assert!(parse_execution(JobKind::Backup, body).is_err(), "{body}");
        }
    }

    #[test]
    fn reads_job_lists() {
        let body = r#"{"backups":{"backup":[{"name":"1","href":"http://h/geoserver/rest/br/backup/1.json"},{"name":"12","href":"x"}]}}"#;
        assert_eq!(parse_list(JobKind::Backup, body).unwrap(), [1, 12]);
        let one = r#"{"restores":{"restore":{"name":"4","href":"x"}}}"#;
        assert_eq!(parse_list(JobKind::Restore, one).unwrap(), [4]);
        assert_eq!(
            parse_list(JobKind::Restore, r#"{"restores":""}"#).unwrap(),
            Vec::<u64>::new()
        );
    }
}
