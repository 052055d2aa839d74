//! Questions to the datastore: its tables, what stands in a restore's way,
//! whether it has PostGIS.

use super::{
    literal,
    process::{context, run_script, unexpected, QUERY_LOCK_TIMEOUT},
    Table, PARTITIONS,
};
use crate::{
    errors::{Error, ErrorKind},
    postgres::Database,
};

/// A table as [`list`]'s query gives it: schema, name, partitions.
type ListedRow = (String, String, Vec<(String, String)>);

/// The tables `db`'s user owns in `schemas`, each with its exact row count,
/// in schema then name order.
///
/// Ordinary and partitioned tables are listed, partitions and the tables of
/// extensions (PostGIS's `spatial_ref_sys`, `topology.*`) are not. The
/// names and the counts are read in one snapshot.
///
/// # Errors
///
/// When `psql` is missing or the database fails.
pub fn list(psql: &str, db: &Database, schemas: &[String]) -> Result<Vec<(Table, u64)>, Error> {
    let schemas: Vec<String> = schemas.iter().map(|s| literal(s)).collect();
    let from = format!(
        "FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
         AND c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user) \
         AND n.nspname = ANY (ARRAY[{}]::text[]) \
         AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d \
             WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid \
             AND d.deptype = 'e')",
        schemas.join(", ")
    );
    let order = "n.nspname COLLATE \"C\", c.relname COLLATE \"C\"";
    // The names come as one line of JSON (jsonb text never breaks lines),
    // then `\gexec` prints one count a line, in the same order.
    let script = format!(
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;\n\
         SELECT coalesce(jsonb_agg(jsonb_build_array(n.nspname, c.relname, {PARTITIONS}) \
         ORDER BY {order}), '[]') {from};\n\
         SELECT format('SELECT count(*) FROM %I.%I', n.nspname, c.relname) {from} \
         ORDER BY {order} \\gexec\n"
    );
    let output = run_script(psql, db, QUERY_LOCK_TIMEOUT, script)
        .map_err(|e| context(e, &format!("listing the tables of the datastore ({db})")))?;
    let mut lines = output.lines();
    let names: Vec<ListedRow> = lines
        .next()
        .and_then(|line| serde_json::from_str(line).ok())
        .ok_or_else(|| unexpected(psql, &output))?;
    let counts = lines
        .map(|line| line.trim().parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| unexpected(psql, &output))?;
    if counts.len() != names.len() {
        return Err(unexpected(psql, &output));
    }
    Ok(names
        .into_iter()
        .zip(counts)
        .map(|((schema, name, partitions), rows)| {
            let mut table = Table::new(schema, name);
            table.partitions = partitions
                .into_iter()
                .map(|(schema, name)| Table::new(schema, name))
                .collect();
            (table, rows)
        })
        .collect())
}

/// The names of `tables` that `db` holds with something the restoring
/// user cannot move aside (a view, an index, a sequence, a partition,
/// another role's table), each with what it is: `a view owned by alice`.
///
/// # Errors
///
/// When the database cannot be asked.
pub fn conflicts(
    psql: &str,
    db: &Database,
    tables: &[&Table],
) -> Result<Vec<(Table, String)>, Error> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let script = format!(
        "SELECT coalesce(jsonb_agg(jsonb_build_array(n.nspname, c.relname, c.relkind::text, \
         pg_catalog.pg_get_userbyid(c.relowner)) ORDER BY n.nspname, c.relname), '[]') \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE (n.nspname, c.relname) IN ({}) \
         AND (c.relkind NOT IN ('r', 'p') OR c.relispartition \
         OR NOT pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE'));\n",
        values(tables)
    );
    let output = run_script(psql, db, QUERY_LOCK_TIMEOUT, script)
        .map_err(|e| context(e, &format!("checking the datastore ({db})")))?;
    let found: Vec<(String, String, String, String)> =
        serde_json::from_str(output.trim()).map_err(|_| unexpected(psql, &output))?;
    Ok(found
        .into_iter()
        .map(|(schema, name, kind, owner)| {
            let what = match kind.as_str() {
                "r" | "p" => "a table (a partition, or another role's)",
                "v" => "a view",
                "m" => "a materialized view",
                "i" | "I" => "an index",
                "S" => "a sequence",
                "f" => "a foreign table",
                _ => "an object",
            };
            (Table::new(schema, name), format!("{what} owned by {owner}"))
        })
        .collect())
}

/// What else in `db` uses the existing tables named like `tables`: views
/// (plain or materialized) and other tables' foreign keys, each described
/// (`view public.roads_view uses "public"."roads"`). A restore moves those
/// tables aside, and these keep using the old ones.
///
/// # Errors
///
/// When the database cannot be asked.
pub fn dependents(psql: &str, db: &Database, tables: &[&Table]) -> Result<Vec<String>, Error> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let script = format!(
        "WITH replaced AS (SELECT c.oid FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE (n.nspname, c.relname) IN ({})), \
         uses AS ( \
         SELECT DISTINCT CASE v.relkind WHEN 'm' THEN 'materialized view ' ELSE 'view ' END \
             || v.oid::pg_catalog.regclass::text || ' uses ' || d.refobjid::pg_catalog.regclass::text AS what \
         FROM pg_catalog.pg_depend d \
         JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass \
         JOIN pg_catalog.pg_class v ON v.oid = r.ev_class \
         WHERE d.refobjid IN (SELECT oid FROM replaced) AND v.oid NOT IN (SELECT oid FROM replaced) \
         UNION \
         SELECT 'foreign key ' || co.conname || ' of ' || co.conrelid::pg_catalog.regclass::text \
             || ' uses ' || co.confrelid::pg_catalog.regclass::text \
         FROM pg_catalog.pg_constraint co \
         WHERE co.contype = 'f' AND co.confrelid IN (SELECT oid FROM replaced) \
         AND co.conrelid NOT IN (SELECT oid FROM replaced)) \
         SELECT coalesce(jsonb_agg(what ORDER BY what), '[]') FROM uses;\n",
        values(tables)
    );
    let output = run_script(psql, db, QUERY_LOCK_TIMEOUT, script)
        .map_err(|e| context(e, &format!("checking the datastore ({db})")))?;
    serde_json::from_str(output.trim()).map_err(|_| unexpected(psql, &output))
}

/// `VALUES ('schema', 'name'), …` of `tables`, for `(nspname, relname) IN (…)`.
fn values(tables: &[&Table]) -> String {
    let rows: Vec<String> = tables
        .iter()
        .map(|t| format!("({}, {})", literal(&t.schema), literal(&t.name)))
        .collect();
    format!("VALUES {}", rows.join(", "))
}

/// Checks that the datastore `db` has PostGIS, which the dumps of geometry
/// tables need.
///
/// # Errors
///
/// When it has not, or cannot be asked.
pub fn check_postgis(psql: &str, db: &Database) -> Result<(), Error> {
    let output = run_script(
        psql,
        db,
        QUERY_LOCK_TIMEOUT,
        "SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'postgis';\n".to_owned(),
    )
    .map_err(|e| context(e, &format!("checking the datastore ({db})")))?;
    if output.trim() == "0" {
        return Err(Error::new(
            ErrorKind::Target,
            format!("the datastore ({db}) has no PostGIS extension"),
        )
        .hint(format!(
            "run `CREATE EXTENSION postgis;` in database `{}` as a superuser, then restore again",
            db.name
        )));
    }
    Ok(())
}
