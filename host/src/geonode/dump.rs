//! A backup's Django helper (`gnbr_django.py dump`): it starts Django once,
//! says what [`GeoNode::info`] says, and dumps every app when gnbr sends it
//! the request: one Django start for the whole backup.

use std::{
    io::{BufRead, BufReader, Lines, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout},
};

use super::{
    expect_event, log_stderr, next_event, target_info, with_django_reason, GeoNode, TargetInfo,
};
use crate::errors::{Error, ErrorKind};

/// What [`Dumper::dump`] hands each dump to: the app, its FIFO, and
/// whether Django's helper, the FIFO's writer, has exited.
pub type DumpReceiver<'a> = dyn FnMut(&str, &Path, &dyn Fn() -> bool) -> Result<(), Error> + 'a;

/// The dump helper, started: Django is up and the target described; it
/// waits for [`Dumper::dump`], and ends when this is dropped without one.
pub struct Dumper<'a> {
    geonode: &'a GeoNode,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    stderr_log: PathBuf,
    info: TargetInfo,
}

impl GeoNode {
    /// Starts the dump helper of a backup, which answers what
    /// [`GeoNode::info`] answers first.
    ///
    /// # Errors
    ///
    /// When Django cannot start with these settings.
    pub fn start_dump(&self) -> Result<Dumper<'_>, Error> {
        let (mut child, stderr_log) = self.spawn(&["dump"])?;
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        let info = next_event(&mut lines, &stderr_log)
            .and_then(|event| expect_event(event, "info", &stderr_log))
            .and_then(target_info);
        match info {
            Ok(info) => Ok(Dumper {
                geonode: self,
                child,
                stdin,
                lines,
                stderr_log,
                info,
            }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }
}

impl Dumper<'_> {
    /// The target, as [`GeoNode::info`] describes it.
    pub fn info(&self) -> &TargetInfo {
        &self.info
    }

    /// Dumps each `(app, fifo)` in order, all from one snapshot of the
    /// database, as Django's `dumpdata` writes them; `receive` is called
    /// with each app, its FIFO and whether the helper has exited (so that a
    /// reader waiting for the FIFO's writer stops when there is none) once
    /// the dump into it started, and must read the FIFO to its end.
    ///
    /// # Errors
    ///
    /// A failing dump (naming the app), or `receive`'s error.
    pub fn dump(
        &mut self,
        dumps: &[(String, PathBuf)],
        receive: &mut DumpReceiver<'_>,
    ) -> Result<(), Error> {
        let request_path = self.geonode.work.path().join("dump.json");
        let request = serde_json::json!({
            "dumps": dumps.iter().map(|(app, path)| serde_json::json!({"app": app, "path": path})).collect::<Vec<_>>(),
        });
        std::fs::write(&request_path, request.to_string()).map_err(|e| {
            Error::new(
                ErrorKind::Run,
                format!("cannot write the dump request: {e}"),
            )
        })?;
        let mut stdin = self.stdin.take().expect("a dump is asked for once");
        writeln!(stdin, "{}", request_path.display())
            .and_then(|()| stdin.flush())
            .map_err(|e| {
                Error::new(
                    ErrorKind::Target,
                    format!("lost the target's Django process before the dump: {e}"),
                )
            })?;
        drop(stdin);
        let helper = self.child.id();
        let helper_exited = move || crate::process::has_exited(helper);
        let result = loop {
            let event = match next_event(&mut self.lines, &self.stderr_log) {
                Ok(event) => event,
                Err(e) => break Err(e),
            };
            match event.event.as_str() {
                "dumping" => {
                    let app = event.rest.get("app").and_then(|a| a.as_str());
                    let Some((app, path)) = dumps.iter().find(|(a, _)| Some(a.as_str()) == app)
                    else {
                        log_stderr(&self.stderr_log);
                        break Err(Error::new(
                            ErrorKind::Target,
                            format!(
                                "the target's Django process began a dump gnbr did not ask for \
                                 (app {}); nothing was written",
                                app.unwrap_or("not named")
                            ),
                        )
                        .hint("a gnbr bug: please report it with the output of GNBR_LOG=debug"));
                    };
                    if let Err(e) = receive(app, path, &helper_exited) {
                        break Err(with_django_reason(e, &mut self.lines, &self.stderr_log));
                    }
                }
                "dumped" => {}
                "done" => break Ok(()),
                _ => {
                    log_stderr(&self.stderr_log);
                    break Err(Error::new(
                        ErrorKind::Target,
                        format!("the backup of the target GeoNode failed: {}", event.message),
                    )
                    .hint("nothing was written; GNBR_LOG=debug shows Django's output"));
                }
            }
        };
        if result.is_ok() {
            let _ = self.child.wait();
        }
        // A dump cut short by a cancel fails as its reader or Django sees it: said as the cancel.
        result.map_err(crate::cancel::or_cancelled)
    }
}

impl Drop for Dumper<'_> {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::geonode::tests::scripted;

    /// A helper that says `info`, then reads the request's path on stdin and
    /// answers `answer` when that file exists.
    fn helper(dir: &std::path::Path, answer: &str) -> crate::geonode::GeoNode {
        scripted(
            dir,
            &format!(
                "echo '{{\"event\":\"info\",\"geonode_version\":\"5.1.1\",\"database\":{{\"engine\":\"postgis\",\"name\":\"gn\",\"host\":\"\",\"port\":\"\",\"user\":\"gn\",\"password\":\"\"}},\"media_root\":\"/m\",\"assets_root\":\"\",\"reachable\":true}}'\n\
                 read request || exit 0\n\
                 test -f \"$request\" && echo '{answer}'\n"
            ),
        )
    }

    #[test]
    fn the_dump_helper_describes_the_target_before_it_dumps() {
        let dir = tempfile::tempdir().unwrap();
        let geonode = helper(dir.path(), r#"{"event":"done"}"#);
        let mut dumper = geonode.start_dump().unwrap();
        assert_eq!(dumper.info().geonode_version, "5.1.1");
        assert_eq!(dumper.info().media_root, "/m");
        let mut received = Vec::new();
        dumper
            .dump(
                &[("base".to_owned(), PathBuf::from("1.fifo"))],
                &mut |app, _, _| {
                    received.push(app.to_owned());
                    Ok(())
                },
            )
            .unwrap();
        assert!(received.is_empty(), "no dump was said: {received:?}");
    }

    #[test]
    fn a_failing_dump_is_said_with_djangos_reason() {
        let dir = tempfile::tempdir().unwrap();
        let geonode = helper(
            dir.path(),
            r#"{"event":"error","kind":"refused","message":"dumpdata of `base` failed: boom"}"#,
        );
        let mut dumper = geonode.start_dump().unwrap();
        let error = dumper
            .dump(
                &[("base".to_owned(), PathBuf::from("1.fifo"))],
                &mut |_, _, _| Ok(()),
            )
            .unwrap_err();
        assert!(
            error.message.contains("dumpdata of `base` failed: boom"),
            "{}",
            error.message
        );
    }

    #[test]
    fn each_dump_is_handed_over_with_the_fifo_gnbr_named_for_its_app() {
        let dir = tempfile::tempdir().unwrap();
        let geonode = helper(
            dir.path(),
            r#"{"event":"dumping","app":"documents","path":"ignored"}'; echo '{"event":"dumped","app":"documents"}'; echo '{"event":"dumping","app":"base","path":"ignored"}'; echo '{"event":"done"}"#,
        );
        let mut dumper = geonode.start_dump().unwrap();
        let mut received = Vec::new();
        dumper
            .dump(
                &[
                    ("base".to_owned(), PathBuf::from("1.fifo")),
                    ("documents".to_owned(), PathBuf::from("2.fifo")),
                ],
                &mut |app, path, _| {
                    received.push((app.to_owned(), path.to_owned()));
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(
            received,
            [
                ("documents".to_owned(), PathBuf::from("2.fifo")),
                ("base".to_owned(), PathBuf::from("1.fifo")),
            ]
        );
    }

    #[test]
    fn a_dump_of_an_app_gnbr_did_not_ask_for_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let geonode = helper(
            dir.path(),
            r#"{"event":"dumping","app":"people","path":"3.fifo"}"#,
        );
        let mut dumper = geonode.start_dump().unwrap();
        let mut received = Vec::new();
        let error = dumper
            .dump(
                &[("base".to_owned(), PathBuf::from("1.fifo"))],
                &mut |app, _, _| {
                    received.push(app.to_owned());
                    Ok(())
                },
            )
            .unwrap_err();
        assert!(error.message.contains("(app people)"), "{}", error.message);
        assert!(received.is_empty(), "{received:?}");
    }

    #[test]
    fn a_dump_helper_dropped_before_its_dump_ends_has_ended() {
        let dir = tempfile::tempdir().unwrap();
        let geonode = helper(dir.path(), r#"{"event":"done"}"#);
        let dumper = geonode.start_dump().unwrap();
        let pid = dumper.child.id();
        drop(dumper);
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "the helper {pid} is still there"
        );
    }
}
