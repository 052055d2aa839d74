//! A table dump in PostgreSQL's custom format (`pg_dump -Fc`, as GeoNode
//! before 4.2 dumped its datastore's tables) as the plain SQL a restore
//! feeds psql: streamed through `pg_restore`, the dump into its input on a
//! second thread, the SQL out of its output. Neither is written to disk,
//! so a table of an encrypted archive is never there in the clear.

use std::{
    io::{self, Read},
    process::{Child, ChildStdout, Command, Stdio},
    thread::{self, JoinHandle, ScopedJoinHandle},
};

use super::process::{collect, error_lines, spawn, stop};
use crate::errors::Error;

/// Runs `body` with the SQL `pg_restore` makes of the custom-format dump
/// `dump` (called `name` in messages), without owners or grants. The SQL
/// read ends in an error, not early, when `dump` cannot be read or
/// pg_restore fails.
///
/// # Errors
///
/// When `pg_restore` cannot be run.
pub fn with_custom_dump_sql<T>(
    pg_restore: &str,
    name: &str,
    dump: impl Read + Send,
    body: impl FnOnce(&mut dyn Read) -> T,
) -> Result<T, Error> {
    let mut command = Command::new(pg_restore);
    command.args([
        "--no-owner",
        "--no-privileges",
        "--format=custom",
        "--file=-",
    ]);
    let mut child = spawn(
        &mut command,
        pg_restore,
        "pgrestore",
        Stdio::piped(),
        Stdio::piped(),
    )?;
    let stderr = collect(child.stderr.take());
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("stdout is piped");
    Ok(thread::scope(|scope| {
        let feeder = scope.spawn(move || {
            let (mut dump, mut stdin) = (dump, stdin.expect("stdin is piped"));
            io::copy(&mut dump, &mut stdin).map(drop)
        });
        let mut sql = DumpSql {
            name,
            stdout,
            child,
            feeder: Some(feeder),
            stderr: Some(stderr),
        };
        let result = body(&mut sql);
        sql.stop();
        result
    }))
}

/// pg_restore's SQL output, read as it comes.
struct DumpSql<'scope, 'a> {
    name: &'a str,
    stdout: ChildStdout,
    child: Child,
    /// The thread writing the dump into pg_restore, until its end is seen.
    feeder: Option<ScopedJoinHandle<'scope, io::Result<()>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl DumpSql<'_, '_> {
    /// At the end of the SQL: whether the dump was read whole and
    /// pg_restore succeeded.
    fn finish(&mut self) -> io::Result<()> {
        let Some(feeder) = self.feeder.take() else {
            return Ok(());
        };
        let status = self.child.wait()?;
        let fed = feeder
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the thread feeding pg_restore panicked")));
        let stderr = self
            .stderr
            .take()
            .map(|errors| errors.join().unwrap_or_default())
            .unwrap_or_default();
        match fed {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(io::Error::new(
                e.kind(),
                format!("cannot read {}: {e}", self.name),
            )),
            _ if !status.success() => Err(io::Error::other(format!(
                "pg_restore cannot read {}: {}",
                self.name,
                error_lines(&stderr)
            ))),
            _ => Ok(()),
        }
    }

    /// Stops pg_restore when the SQL was not read to its end.
    fn stop(mut self) {
        if let Some(feeder) = self.feeder.take() {
            stop(&mut self.child);
            let _ = feeder.join();
        }
    }
}

impl Read for DumpSql<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stdout.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.finish()?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::{io::Read, path::Path};

    use super::with_custom_dump_sql;
    use crate::postgres::tables::check_dump;

    fn dump() -> Vec<u8> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        std::fs::read(repo.join("tests/data/roads-custom-format.dump")).unwrap()
    }

    fn sql_of(dump: &[u8]) -> std::io::Result<String> {
        with_custom_dump_sql("pg_restore", "roads.dump", dump, |sql| {
            let mut text = String::new();
            sql.read_to_string(&mut text).map(|_| text)
        })
        .unwrap()
    }

    #[test]
    fn a_custom_format_dump_streams_out_as_plain_sql_with_its_rows() {
        let sql = sql_of(&dump()).unwrap();
        assert!(sql.contains("CREATE TABLE public.roads"), "{sql}");
        assert!(!sql.contains("OWNER TO"), "{sql}");
        let check = check_dump(sql.as_bytes()).unwrap();
        assert_eq!((check.rows, check.complete), (3, true));
    }

    #[test]
    fn a_dump_cut_short_ends_the_sql_in_pg_restores_error() {
        let dump = dump();
        let error = sql_of(&dump[..dump.len() / 2]).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("pg_restore cannot read roads.dump: "),
            "{message}"
        );
    }

    #[test]
    fn a_dump_that_cannot_be_read_is_that_error() {
        struct Damaged;
        impl Read for Damaged {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "checksum mismatch",
                ))
            }
        }
        let error = with_custom_dump_sql("pg_restore", "roads.dump", Damaged, |sql| {
            sql.read_to_end(&mut Vec::new())
        })
        .unwrap()
        .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(
            error.to_string(),
            "cannot read roads.dump: checksum mismatch"
        );
    }

    #[test]
    fn sql_read_in_part_returns_without_waiting_for_pg_restore() {
        let dump = dump();
        let first = with_custom_dump_sql("pg_restore", "roads.dump", dump.as_slice(), |sql| {
            let mut head = [0; 8];
            sql.read_exact(&mut head).map(|()| head)
        })
        .unwrap()
        .unwrap();
        assert_eq!(&first, b"--\n-- Po");
    }
}
