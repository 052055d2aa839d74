//! One table dumped as plain SQL with `pg_dump`, its rows counted.

use std::{
    io::{self, Write},
    process::Stdio,
};

use super::{
    process::{collect, error_lines, spawn, stop},
    Table,
};
use crate::{
    errors::{Error, ErrorKind},
    postgres::command,
    postgres::Database,
};

/// What [`dump`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dumped {
    /// Bytes of SQL.
    pub bytes: u64,
    /// Rows in its `COPY` blocks: the rows of the snapshot `pg_dump` read,
    /// which a restore must find again.
    pub rows: u64,
}

/// Writes `table` as plain SQL from `pg_dump` to `out`: its definition with
/// primary key, indexes, constraints and owned sequences, its rows (its
/// partitions' too), without owner or grants.
///
/// The dump is streamed, never held in memory.
///
/// # Errors
///
/// When `pg_dump` is missing or fails (its messages included), or `out`
/// cannot be written; `out` may then hold part of the dump.
pub fn dump(
    pg_dump: &str,
    db: &Database,
    table: &Table,
    out: &mut dyn Write,
) -> Result<Dumped, Error> {
    let tables: Vec<&Table> = std::iter::once(table).chain(&table.partitions).collect();
    for table in &tables {
        table.check_name()?;
    }
    let mut command = command(pg_dump, db);
    command.env("PGDATABASE", &db.name).args([
        "--format=plain",
        "--encoding=UTF8",
        "--no-owner",
        "--no-privileges",
        // The target's tablespaces are not the source's.
        "--no-tablespaces",
        "--strict-names",
    ]);
    for table in &tables {
        command.arg(format!("--table={}", table.quoted()));
    }
    let mut child = spawn(
        &mut command,
        pg_dump,
        "pgdump",
        Stdio::null(),
        Stdio::piped(),
    )?;
    let stderr = collect(child.stderr.take());
    let mut counted = RowCounter::new(out);
    let copied = match child.stdout.take() {
        Some(mut stdout) => io::copy(&mut stdout, &mut counted),
        None => Err(io::Error::other("no output pipe")),
    };
    let rows = counted.rows;
    let bytes = match copied {
        Ok(bytes) => bytes,
        Err(e) => {
            stop(&mut child);
            return Err(Error::new(
                ErrorKind::Run,
                format!("cannot write the dump of {table}: {e}"),
            )
            .hint("check the space and permissions where the backup is written"));
        }
    };
    let status = child.wait();
    let stderr = stderr.join().unwrap_or_default();
    if !status.is_ok_and(|s| s.success()) {
        return Err(crate::cancel::or_cancelled(
            Error::new(
                ErrorKind::Target,
                format!(
                    "pg_dump of table {table} from the datastore ({db}) failed: {}",
                    error_lines(&stderr)
                ),
            )
            .hint("check that the datastore is reachable and that its user can read the table"),
        ));
    }
    Ok(Dumped { bytes, rows })
}

/// Passes a plain dump through, counting the data lines of its `COPY …
/// FROM stdin;` blocks (each row is one line; a block ends with `\.`).
pub(super) struct RowCounter<'a> {
    out: &'a mut dyn Write,
    /// The first bytes of the current line: enough to tell `COPY ` and `\.`.
    head: Vec<u8>,
    in_copy: bool,
    pub(super) rows: u64,
}

impl<'a> RowCounter<'a> {
    pub(super) fn new(out: &'a mut dyn Write) -> Self {
        Self {
            out,
            head: Vec::with_capacity(5),
            in_copy: false,
            rows: 0,
        }
    }
}

impl Write for RowCounter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        for &byte in &buf[..n] {
            if byte == b'\n' {
                if self.in_copy {
                    if self.head == b"\\." {
                        self.in_copy = false;
                    } else {
                        self.rows += 1;
                    }
                } else if self.head.starts_with(b"COPY ") {
                    self.in_copy = true;
                }
                self.head.clear();
            } else if self.head.len() < 5 {
                self.head.push(byte);
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn copy_rows_are_counted_across_chunks() {
        let dump = b"CREATE TABLE t (a text);\nCOPY public.t (a) FROM stdin;\nx\n\\.y\n\\N\n\\.\n-- x\nCOPY public.p (a) FROM stdin;\nz\n\\.\n";
        for chunk in [1, 3, dump.len()] {
            let mut out = Vec::new();
            let mut counter = super::RowCounter::new(&mut out);
            for part in dump.chunks(chunk) {
                std::io::Write::write_all(&mut counter, part).unwrap();
            }
            assert_eq!(counter.rows, 4, "chunks of {chunk}");
            assert_eq!(out, dump);
        }
    }
}
