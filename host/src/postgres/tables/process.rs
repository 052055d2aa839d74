//! Running PostgreSQL's tools for the datastore: psql with a script or a
//! dump on its input, children that never block on a pipe, their errors
//! worded.

use std::{
    io::{Read, Write},
    process::{Child, Command, Stdio},
    thread::{self, JoinHandle},
};

use crate::{
    errors::{Error, ErrorKind},
    geonode::Database,
    postgres::command,
};

/// How many lines of a tool's error output an error shows.
const ERROR_LINES: usize = 5;

/// psql for `db`: no psqlrc, bare output, stop at the first error, one
/// transaction, UTF-8.
pub(super) fn psql_command(psql: &str, db: &Database) -> Command {
    let mut command = command(psql, db);
    command
        // The database name in the environment, where a name holding `=`
        // cannot turn into a connection string.
        .env("PGDATABASE", &db.name)
        .env("PGCLIENTENCODING", "UTF8")
        // A table someone holds a lock on fails the restore instead of hanging it.
        .env("PGOPTIONS", "-c lock_timeout=60s")
        .args([
            "--no-psqlrc",
            "--quiet",
            "--no-align",
            "--tuples-only",
            "--set=ON_ERROR_STOP=1",
            "--single-transaction",
        ]);
    command
}

/// Runs `script` with psql in one transaction; returns its output.
pub(super) fn run_script(psql: &str, db: &Database, script: String) -> Result<String, Error> {
    let mut command = psql_command(psql, db);
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

pub(super) fn spawn(
    command: &mut Command,
    tool: &str,
    setting: &str,
    stdin: Stdio,
    stdout: Stdio,
) -> Result<Child, Error> {
    command
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::new(ErrorKind::Usage, format!("cannot run `{tool}`: {e}")).hint(format!(
                "install PostgreSQL's client tools or set [database] {setting} in settings.ini"
            ))
        })
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
pub(super) fn error_lines(stderr: &[u8]) -> String {
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
        .take(ERROR_LINES)
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::error_lines;

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
    }
}
