//! Running PostgreSQL's tools for the datastore: psql with a script or a
//! dump on its input, children that never block on a pipe, their errors
//! worded.

use std::{
    io::{Read, Write},
    process::{Child, Command, Stdio},
    thread::{self, JoinHandle},
    time::Duration,
};

use crate::{
    errors::{Error, ErrorKind},
    postgres::Database,
    postgres::{command, LOCK_TIMEOUT_HINT},
};

/// How many lines of a tool's error output an error shows.
const ERROR_LINES: usize = 5;

/// How many sessions holding locks an error names.
const HOLDERS_SHOWN: usize = 5;

/// How long the datastore's own questions (its tables, what stands in a
/// restore's way) wait for a lock: they take none that a live site's
/// sessions hold against them.
pub(super) const QUERY_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// The SQLSTATE of a statement PostgreSQL cancelled because `lock_timeout` expired.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// psql for `db`: no psqlrc, bare output, stop at the first error, one
/// transaction, UTF-8, errors with their SQLSTATE, no lock waited for
/// longer than `lock_timeout`.
pub(super) fn psql_command(psql: &str, db: &Database, lock_timeout: Duration) -> Command {
    let mut command = command(psql, db);
    command
        // The database name in the environment, where a name holding `=`
        // cannot turn into a connection string.
        .env("PGDATABASE", &db.name)
        .env("PGCLIENTENCODING", "UTF8")
        // A table someone holds a lock on fails the restore instead of hanging it.
        .env(
            "PGOPTIONS",
            format!("-c lock_timeout={}", lock_timeout.as_millis()),
        )
        .args([
            "--no-psqlrc",
            "--quiet",
            "--no-align",
            "--tuples-only",
            "--set=ON_ERROR_STOP=1",
            // The SQLSTATE tells a lock wait that timed out, whatever the server's language.
            "--set=VERBOSITY=verbose",
            "--single-transaction",
        ]);
    command
}

/// Runs `script` with psql in one transaction, no lock waited for longer
/// than `lock_timeout`; returns its output.
pub(super) fn run_script(
    psql: &str,
    db: &Database,
    lock_timeout: Duration,
    script: String,
) -> Result<String, Error> {
    // A psql killed by a cancel fails as psql: said as the cancel.
    run(psql, db, lock_timeout, script, true).map_err(crate::cancel::or_cancelled)
}

/// [`run_script`]; `name_holders`: whether a lock wait that timed out
/// names the sessions holding locks (not when asking for them).
fn run(
    psql: &str,
    db: &Database,
    lock_timeout: Duration,
    script: String,
    name_holders: bool,
) -> Result<String, Error> {
    let mut command = psql_command(psql, db, lock_timeout);
    command.arg("--file=-");
    let mut child = spawn(&mut command, psql, "psql", Stdio::piped(), Stdio::piped())?;
    let writer = child.stdin.take().map(|mut stdin| {
        thread::spawn(move || {
            // A write error means psql stopped early; its status tells why.
            let _ = stdin.write_all(script.as_bytes());
        })
    });
    let output = child.wait_with_output();
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let output = output.map_err(|e| {
        Error::new(ErrorKind::Target, format!("psql did not finish: {e}"))
            .hint("check the datastore connection")
    })?;
    if !output.status.success() {
        let lock_error = name_holders.then(|| {
            lock_wait(
                psql,
                db,
                lock_timeout,
                &output.stderr,
                "nothing was changed",
            )
        });
        if let Some(error) = lock_error.flatten() {
            return Err(error);
        }
        return Err(Error::new(
            ErrorKind::Target,
            format!("psql failed: {}", error_lines(&output.stderr)),
        )
        .hint("check that the datastore is reachable with the configured user"));
    }
    String::from_utf8(output.stdout).map_err(|_| {
        Error::new(
            ErrorKind::Target,
            format!("psql's answer from {db} is not UTF-8"),
        )
        .hint("check the datastore's encoding")
    })
}

/// When psql's error output `stderr` says a lock wait timed out: the
/// error naming the sessions that hold locks on the datastore's tables
/// (never their query text, which can hold secrets), `outcome` saying what
/// that leaves.
pub(super) fn lock_wait(
    psql: &str,
    db: &Database,
    lock_timeout: Duration,
    stderr: &[u8],
    outcome: &str,
) -> Option<Error> {
    let text = String::from_utf8_lossy(stderr);
    if !text.contains(&format!("ERROR:  {LOCK_NOT_AVAILABLE}:")) {
        return None;
    }
    let held = match lock_holders(psql, db) {
        Ok(holders) if holders.is_empty() => {
            "a session that had ended by the time gnbr looked".to_owned()
        }
        Ok(holders) => holders.join("; "),
        Err(e) => format!("sessions gnbr could not list ({})", e.message),
    };
    Some(
        Error::new(
            ErrorKind::Target,
            format!(
                "waited {} s ([restore] lock_timeout) for a lock on the datastore's tables ({db}) and gave up; {outcome}. The lock is held by {held}",
                lock_timeout.as_secs_f64()
            ),
        )
        .hint(LOCK_TIMEOUT_HINT),
    )
}

/// The other sessions holding locks on tables of `db` (its own catalogs
/// left out), oldest transaction first, each described.
fn lock_holders(psql: &str, db: &Database) -> Result<Vec<String>, Error> {
    let script = format!(
        "SELECT coalesce(jsonb_agg(jsonb_build_array(pid, application_name, usename, address, \
         state, since, tables) ORDER BY since NULLS LAST, pid), '[]') FROM ( \
         SELECT l.pid, a.application_name, a.usename, host(a.client_addr) AS address, a.state, \
         date_trunc('second', a.xact_start) AS since, a.xact_start, \
         string_agg(DISTINCT format('%I.%I', n.nspname, c.relname), ', ') AS tables \
         FROM pg_catalog.pg_locks l \
         JOIN pg_catalog.pg_class c ON c.oid = l.relation \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
         WHERE l.granted AND l.pid <> pg_catalog.pg_backend_pid() \
         AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) \
         AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' \
         GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY a.xact_start NULLS LAST, 1 LIMIT {HOLDERS_SHOWN}) held;\n"
    );
    type Holder = (
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
    );
    let output = run(psql, db, QUERY_LOCK_TIMEOUT, script, false)?;
    let holders: Vec<Holder> =
        serde_json::from_str(output.trim()).map_err(|_| unexpected(psql, &output))?;
    Ok(holders
        .into_iter()
        .map(|(pid, application, user, address, state, since, tables)| {
            let mut details = vec![
                application
                    .filter(|a| !a.is_empty())
                    .map_or("no application name".to_owned(), |a| {
                        format!("application `{a}`")
                    }),
                user.map_or("user not shown".to_owned(), |u| format!("user `{u}`")),
                address.map_or("from the local socket".to_owned(), |a| format!("from {a}")),
                state.unwrap_or_else(|| {
                    "state not shown (hint: grant pg_read_all_stats to see it)".to_owned()
                }),
            ];
            if let Some(since) = since {
                details.push(format!("in a transaction since {since}"));
            }
            format!("pid {pid} ({}) on {tables}", details.join(", "))
        })
        .collect())
}

/// Starts `command` (`tool`, set by `[database] setting`), its error
/// output piped; killed if its run is cancelled.
pub(super) fn spawn(
    command: &mut Command,
    tool: &str,
    setting: &str,
    stdin: Stdio,
    stdout: Stdio,
) -> Result<Child, Error> {
    let child = command
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::new(ErrorKind::Usage, format!("cannot run `{tool}`: {e}")).hint(format!(
                "install PostgreSQL's client tools or set [database] {setting} in settings.ini"
            ))
        })?;
    crate::cancel::watch(&child);
    Ok(child)
}

/// Reads a child's pipe to its end on a thread, so the child never blocks
/// on it.
pub(super) fn collect(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Kills a child we started and reaps it.
pub(super) fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// `error` with what was being done before its message.
pub(super) fn context(mut error: Error, doing: &str) -> Error {
    error.message = format!("{doing}: {}", error.message);
    error
}

pub(super) fn unexpected(tool: &str, output: &str) -> Error {
    let start: String = output.chars().take(200).collect();
    Error::new(
        ErrorKind::Target,
        format!("unexpected answer from `{tool}`: {start:?}"),
    )
    .hint("check that settings.ini's [database] psql is PostgreSQL's psql")
}

/// The first error of a tool's error output and the lines after it (the
/// detail, the hint, the line of SQL); the first lines when none says
/// error.
pub(crate) fn error_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "no error message".to_owned();
    }
    let first = lines
        .iter()
        .position(|l| l.contains("ERROR:") || l.contains("FATAL:") || l.contains("error:"))
        .unwrap_or(0);
    lines[first..]
        .iter()
        // Where in PostgreSQL's source it failed: nothing for the admin.
        .filter(|l| !l.starts_with("LOCATION:"))
        .take(ERROR_LINES)
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{error_lines, lock_wait};
    use crate::{errors::ErrorKind, postgres::Database};

    #[test]
    fn error_lines_start_at_the_first_error() {
        let stderr = b"psql:<stdin>:3: NOTICE:  hello\n\
            psql:<stdin>:9: ERROR:  relation \"nowhere\" does not exist\n\
            LINE 1: SELECT * FROM nowhere;\n\
            \x20                     ^\n";
        assert_eq!(
            error_lines(stderr),
            "psql:<stdin>:9: ERROR:  relation \"nowhere\" does not exist\n\
             LINE 1: SELECT * FROM nowhere;\n\
             \x20                     ^"
        );
        assert_eq!(error_lines(b""), "no error message");
        assert_eq!(error_lines(b"odd\n"), "odd");
        let verbose = b"psql:<stdin>:1: ERROR:  42P01: relation \"nowhere\" does not exist\n\
            LOCATION:  parserOpenTable, parse_relation.c:1392\n";
        assert_eq!(
            error_lines(verbose),
            "psql:<stdin>:1: ERROR:  42P01: relation \"nowhere\" does not exist"
        );
    }

    #[test]
    fn only_a_lock_wait_that_timed_out_is_worded_as_one() {
        let db = Database {
            engine: "django.db.backends.postgresql".into(),
            name: "ds".into(),
            host: String::new(),
            port: String::new(),
            user: String::new(),
            password: String::new(),
        };
        let other = b"psql:<stdin>:1: ERROR:  42P01: relation \"t\" does not exist\n";
        assert!(lock_wait("/nonexistent/psql", &db, Duration::from_secs(2), other, "").is_none());
        let timed_out = b"psql:<stdin>:1: ERROR:  55P03: canceling statement due to lock timeout\n\
            LOCATION:  ProcessInterrupts, postgres.c:3312\n";
        let error = lock_wait(
            "/nonexistent/psql",
            &db,
            Duration::from_millis(1500),
            timed_out,
            "nothing was changed",
        )
        .unwrap();
        assert_eq!(error.kind, ErrorKind::Target);
        assert!(
            error
                .message
                .starts_with("waited 1.5 s ([restore] lock_timeout) for a lock"),
            "{error}"
        );
        assert!(error.message.contains("nothing was changed"), "{error}");
        assert!(error.message.contains("could not list"), "{error}");
        assert!(error.hint.unwrap().contains("pg_terminate_backend"));
    }
}
