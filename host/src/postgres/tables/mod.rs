//! The vector tables of GeoNode's datastore (the PostGIS database
//! GeoServer's layers live in), dumped and restored one table at a time with
//! `pg_dump` and `psql`.
//!
//! A dump is plain SQL holding the table's whole definition (primary key,
//! indexes, constraints, owned sequences and their positions) and rows,
//! without owner or grants, so the restoring user owns what it creates. A
//! restore runs one transaction per table: an existing table of that name
//! is moved aside into a schema of this run first, so a failed table stays as
//! it was and a finished run can still be undone. Credentials go through the
//! environment only (`PGPASSWORD`), never the command line.
//!
//! One file per job: `query` (questions to the datastore), `dump`,
//! `restore`, `custom` (a custom-format dump as the SQL `restore` reads),
//! and `process` (running `psql` and `pg_dump`).

use std::{
    fmt,
    io::{self, Read},
};

use serde::{Deserialize, Serialize};

use crate::errors::{Error, ErrorKind};

mod custom;
mod dump;
mod process;
mod query;
mod restore;

pub use custom::with_custom_dump_sql;
pub use dump::{dump, Dumped};
pub(crate) use process::error_lines;
pub use query::{check_postgis, conflicts, dependents, list};
pub use restore::{drop_replaced, put_back, Aside, Datastore, Replaced, Restorer};

/// The tables below `c.oid` in its partition tree, as a JSON array of
/// `[schema, name]`: empty for a table that is not partitioned.
const PARTITIONS: &str = "coalesce((SELECT jsonb_agg(jsonb_build_array(pn.nspname, pc.relname) \
     ORDER BY pn.nspname COLLATE \"C\", pc.relname COLLATE \"C\") \
     FROM pg_catalog.pg_partition_tree(c.oid) t \
     JOIN pg_catalog.pg_class pc ON pc.oid = t.relid \
     JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace \
     WHERE t.relid <> c.oid), '[]')";

/// What reading a table's plain dump found, without a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpCheck {
    /// Rows in its `COPY` blocks.
    pub rows: u64,
    /// Whether it ends with pg_dump's closing line (else it was cut short).
    pub complete: bool,
}

/// Reads a plain dump to its end: its rows counted, its closing line looked for.
///
/// # Errors
///
/// When `sql` cannot be read.
pub fn check_dump(mut sql: impl Read) -> io::Result<DumpCheck> {
    let mut sink = io::sink();
    let mut rows = dump::RowCounter::new(&mut sink);
    let complete = match restore::feed(&mut sql, &mut rows) {
        restore::Fed::Sent => true,
        restore::Fed::Truncated => false,
        restore::Fed::Read(e) => return Err(e),
    };
    Ok(DumpCheck {
        rows: rows.rows,
        complete,
    })
}

/// A table of the datastore.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    /// Its schema.
    pub schema: String,
    /// Its name, exactly as in the catalog.
    pub name: String,
    /// The partitions below a partitioned table, which hold its rows and are
    /// dumped with it; filled by [`list`].
    #[serde(skip)]
    partitions: Vec<Table>,
}

impl Table {
    /// The table `name` in `schema`.
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
            partitions: Vec::new(),
        }
    }

    /// `"schema"."name"`, each part a quoted SQL identifier.
    ///
    /// Inside double quotes a `pg_dump --table` pattern is literal too:
    /// `""` stands for `"`, and `*`, `?`, `.`, `$` and regular expression
    /// characters match themselves, case included. So this is also the
    /// pattern that selects exactly this table.
    pub fn quoted(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.name))
    }

    /// `schema.table`, as reports show tables.
    pub fn plain(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    fn same(&self, other: &Table) -> bool {
        self.schema == other.schema && self.name == other.name
    }

    /// Fails for names no PostgreSQL table has, which no command line or
    /// SQL text could name exactly.
    fn check_name(&self) -> Result<(), Error> {
        let bad = |part: &str| part.is_empty() || part.contains('\0');
        if bad(&self.schema) || bad(&self.name) {
            return Err(Error::new(
                ErrorKind::Input,
                format!(
                    "{self} cannot be a PostgreSQL table: a name is empty or holds a NUL character"
                ),
            )
            .hint("check the table names the backup recorded"));
        }
        Ok(())
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quoted())
    }
}

/// `text` as a quoted SQL identifier.
pub(crate) fn ident(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// `text` as an SQL string literal, whatever `standard_conforming_strings`.
fn literal(text: &str) -> String {
    format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_is_read_for_its_rows_and_closing_line() {
        let dump = "CREATE TABLE t (a int);\nCOPY public.t (a) FROM stdin;\n1\n2\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n";
        assert_eq!(
            check_dump(dump.as_bytes()).unwrap(),
            DumpCheck {
                rows: 2,
                complete: true
            }
        );
        let cut = &dump[..dump.find("\n\\.").unwrap()];
        assert_eq!(
            check_dump(cut.as_bytes()).unwrap(),
            DumpCheck {
                rows: 1,
                complete: false
            }
        );
    }

    #[test]
    fn quoted_names_are_exact_patterns() {
        let cases = [
            ("public", "roads", r#""public"."roads""#),
            ("public", "Roads", r#""public"."Roads""#),
            ("public", "we.ird*", r#""public"."we.ird*""#),
            ("My Schema", "a?b$c", r#""My Schema"."a?b$c""#),
            ("s", r#"say "hi""#, r#""s"."say ""hi""""#),
            ("s", "[x]|(y)+^", r#""s"."[x]|(y)+^""#),
        ];
        for (schema, name, quoted) in cases {
            let table = Table::new(schema, name);
            assert_eq!(table.quoted(), quoted);
            assert_eq!(table.to_string(), quoted);
            assert!(table.check_name().is_ok());
        }
    }

    #[test]
    fn impossible_names_are_refused() {
        for (schema, name) in [("", "t"), ("public", ""), ("public", "a\0b")] {
            let error = Table::new(schema, name).check_name().unwrap_err();
            assert_eq!(error.kind, ErrorKind::Input);
        }
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(literal("public"), "E'public'");
        assert_eq!(literal(r"it's a\b"), r"E'it''s a\\b'");
        assert_eq!(literal(r#""s"."t""#), r#"E'"s"."t"'"#);
    }
}
