//! `gnbr serve`'s user lookups: one long-lived Django helper
//! (`gnbr_django.py users`) answers each with a query, so that neither a
//! login nor a session's re-check starts Django. It is started on first
//! use, started again when it dies or stops answering, and ends with gnbr:
//! killed when gnbr drops it, and at the end of its input when gnbr dies
//! (not by the parent-death signal other helpers get, which would kill it
//! with the short-lived thread that happened to start it).

use std::{
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{Child, ChildStdin},
    sync::{
        mpsc::{self, Receiver, RecvTimeoutError},
        Mutex, PoisonError,
    },
    time::{Duration, Instant},
};

use super::{log_stderr, Event, GeoNode, UserRow};
use crate::errors::{Error, ErrorKind};

/// How long Django may take to start (seconds on an idle machine).
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// How long one lookup may take (the helper waits at most 5 s for a lock
/// and 10 s for the query).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);
/// After a failed start, how long lookups fail at once with its error
/// instead of starting Django again.
const RESTART_PAUSE: Duration = Duration::from_secs(30);

/// The helper, started when first needed.
#[derive(Default)]
pub(super) struct UserHelper {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    running: Option<Running>,
    /// The last failed start: when, and why.
    failed: Option<(Instant, Error)>,
}

/// A helper process and the lines it writes.
struct Running {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    stderr_log: PathBuf,
}

/// Why a lookup failed: the database's answer (the helper goes on), or
/// the helper itself (it is stopped, and started again next time).
enum Failure {
    Database(Error),
    Helper(Error),
}

impl UserHelper {
    /// The login row of `username` in `geonode`, if the user exists. A
    /// helper that died since the last lookup is started again at once.
    pub(super) fn find(&self, geonode: &GeoNode, username: &str) -> Result<Option<UserRow>, Error> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut fresh = false;
        loop {
            if state.running.is_none() {
                state.start(geonode)?;
                fresh = true;
            }
            let Some(running) = state.running.as_mut() else {
                return Err(helper_error("it is not running"));
            };
            match running.ask(username) {
                Ok(row) => return Ok(row),
                Err(Failure::Database(error)) => return Err(error),
                Err(Failure::Helper(error)) => {
                    if let Some(running) = state.running.take() {
                        running.stop();
                    }
                    if fresh {
                        return Err(error);
                    }
                    tracing::warn!("{error}; starting it again");
                }
            }
        }
    }
}

impl State {
    /// Starts the helper, unless a start failed a moment ago.
    fn start(&mut self, geonode: &GeoNode) -> Result<(), Error> {
        if let Some((at, error)) = &self.failed {
            if at.elapsed() < RESTART_PAUSE {
                return Err(error.clone());
            }
        }
        match Running::start(geonode) {
            Ok(running) => {
                self.running = Some(running);
                self.failed = None;
                Ok(())
            }
            Err(error) => {
                self.failed = Some((Instant::now(), error.clone()));
                Err(error)
            }
        }
    }
}

impl Drop for UserHelper {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = state.running.take() {
            running.stop();
        }
    }
}

impl Running {
    fn start(geonode: &GeoNode) -> Result<Self, Error> {
        let (mut child, stderr_log) = geonode.spawn_helper(&["users"], false)?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(helper_error("its pipes could not be opened"));
        };
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let running = Self {
            child,
            stdin,
            lines,
            stderr_log,
        };
        match running.next_event(START_TIMEOUT) {
            Ok(event) if event.event == "ready" => {
                tracing::info!("started gnbr's Django helper for logins");
                Ok(running)
            }
            Ok(event) => {
                running.stop();
                Err(Error::new(
                    ErrorKind::Target,
                    format!("the target GeoNode: {}", event.message),
                )
                .hint("check settings.ini [geonode] and its env_file (GNBR_LOG=debug shows Django's output)"))
            }
            Err(error) => {
                running.stop();
                Err(error)
            }
        }
    }

    fn ask(&mut self, username: &str) -> Result<Option<UserRow>, Failure> {
        let request = serde_json::json!({ "username": username }).to_string();
        self.stdin
            .write_all(request.as_bytes())
            .and_then(|()| self.stdin.write_all(b"\n"))
            .and_then(|()| self.stdin.flush())
            .map_err(|e| Failure::Helper(helper_error(&format!("it stopped reading: {e}"))))?;
        let event = self.next_event(LOOKUP_TIMEOUT).map_err(Failure::Helper)?;
        match event.event.as_str() {
            "user" if event.rest.get("found") == Some(&serde_json::Value::Bool(true)) => {
                serde_json::from_value(serde_json::Value::Object(event.rest))
                    .map(Some)
                    .map_err(|e| Failure::Helper(helper_error(&format!("it answered oddly: {e}"))))
            }
            "user" => Ok(None),
            "error" => Err(Failure::Database(
                Error::new(
                    ErrorKind::Target,
                    format!("the target GeoNode's users cannot be read: {}", event.message),
                )
                .hint("check that the GeoNode's database is up (GNBR_LOG=debug shows Django's output)"),
            )),
            other => Err(Failure::Helper(helper_error(&format!("it answered `{other}`")))),
        }
    }

    /// The helper's next JSON line (other lines are Django's chatter, logged).
    fn next_event(&self, timeout: Duration) -> Result<Event, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => match serde_json::from_str::<Event>(&line) {
                    Ok(event) => return Ok(event),
                    Err(_) => tracing::debug!("django: {line}"),
                },
                Err(RecvTimeoutError::Timeout) => {
                    return Err(helper_error(&format!(
                        "it did not answer within {} s",
                        timeout.as_secs()
                    )))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    log_stderr(&self.stderr_log);
                    let last = std::fs::read_to_string(&self.stderr_log)
                        .ok()
                        .and_then(|text| {
                            text.lines()
                                .rev()
                                .find(|l| !l.trim().is_empty())
                                .map(|l| l.trim().to_owned())
                        })
                        .unwrap_or_else(|| "no output".to_owned());
                    return Err(helper_error(&format!("it ended: {last}")));
                }
            }
        }
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        log_stderr(&self.stderr_log);
    }
}

fn helper_error(what: &str) -> Error {
    Error::new(
        ErrorKind::Target,
        format!("gnbr's Django helper for logins failed: {what}"),
    )
    .hint("check settings.ini [geonode] python and env_file (GNBR_LOG=debug shows Django's whole output)")
}

#[cfg(test)]
mod tests {
    use super::super::{tests::scripted, GeoNode};

    /// A GeoNode whose helper is the shell script `script`; each start
    /// appends a line to `starts` in `dir`.
    fn geonode(dir: &std::path::Path, script: &str) -> GeoNode {
        scripted(
            dir,
            &format!("echo start >> {}/starts\n{script}", dir.display()),
        )
    }

    fn starts(dir: &std::path::Path) -> usize {
        std::fs::read_to_string(dir.join("starts"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    const HELPER: &str = r#"echo 'Django chatter'
echo '{"event": "ready"}'
while read -r line; do
  case "$line" in
    *'"admin"'*) echo '{"event": "user", "found": true, "username": "admin", "password": "x", "is_superuser": true, "is_active": false}' ;;
    *'"down"'*) echo '{"event": "error", "message": "connection refused"}' ;;
    *'"crash"'*) exit 3 ;;
    *) echo '{"event": "user", "found": false}' ;;
  esac
done
"#;

    #[test]
    fn one_helper_answers_every_lookup_and_a_dead_one_is_started_again() {
        let dir = tempfile::tempdir().unwrap();
        let geonode = geonode(dir.path(), HELPER);
        let row = geonode.user("admin").unwrap().unwrap();
        assert_eq!(
            (row.username.as_str(), row.is_superuser, row.is_active),
            ("admin", true, false)
        );
        assert!(geonode.user("nobody").unwrap().is_none());
        let error = geonode.user("down").unwrap_err();
        assert_eq!(
            error.message,
            "the target GeoNode's users cannot be read: connection refused"
        );
        assert!(geonode.user("admin").unwrap().is_some());
        assert_eq!(starts(dir.path()), 1, "one Django for every lookup");

        // It dies on this one: tried once more with a new one, which dies too.
        let error = geonode.user("crash").unwrap_err();
        assert!(
            error.message.contains("helper for logins failed: it ended"),
            "{}",
            error.message
        );
        assert_eq!(starts(dir.path()), 2);
        assert!(geonode.user("admin").unwrap().is_some());
        assert_eq!(starts(dir.path()), 3, "started again after it died");
    }

    #[test]
    fn the_helper_outlives_the_thread_that_started_it() {
        let dir = tempfile::tempdir().unwrap();
        let geonode = geonode(dir.path(), HELPER);
        std::thread::scope(|scope| {
            scope.spawn(|| assert!(geonode.user("admin").unwrap().is_some()));
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(geonode.user("admin").unwrap().is_some());
        assert_eq!(starts(dir.path()), 1, "the same helper");
    }

    #[test]
    fn a_helper_that_died_while_idle_is_replaced_within_the_lookup() {
        let dir = tempfile::tempdir().unwrap();
        // It answers once, then ends.
        let geonode = geonode(
            dir.path(),
            "echo '{\"event\": \"ready\"}'\nread -r line\necho '{\"event\": \"user\", \"found\": false}'\n",
        );
        assert!(geonode.user("a").unwrap().is_none());
        assert!(
            geonode.user("b").unwrap().is_none(),
            "no error for the visitor"
        );
        assert_eq!(starts(dir.path()), 2);
    }

    #[test]
    fn a_helper_that_cannot_start_is_not_started_again_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let geonode = geonode(
            dir.path(),
            "echo \"ModuleNotFoundError: No module named 'geonode'\" >&2\nexit 1\n",
        );
        for _ in 0..3 {
            let error = geonode.user("admin").unwrap_err();
            assert!(
                error
                    .message
                    .ends_with("it ended: ModuleNotFoundError: No module named 'geonode'"),
                "{}",
                error.message
            );
        }
        assert_eq!(starts(dir.path()), 1);
    }
}
