//! GeoServer's datastore (the PostGIS database GeoNode's vector layers live
//! in) in an archive: which tables a backup writes, under which entries, and
//! which a restore finds (gnbr's manifest lists them; GeoNode's archives
//! name them by file). Dumping and restoring one table is
//! [`crate::postgres::tables`]'s.

use std::collections::BTreeMap;

use crate::{
    archive::{write_error, BackupReader, BackupWriter, TableRecord},
    config::Settings,
    errors::{Error, ErrorKind},
    postgres::{
        tables::{self, Table},
        Database,
    },
    ui::Ui,
};

/// Where GeoNode's backups keep the datastore's tables.
const TABLE_FOLDER: &str = "gs_data_dir/geonode/";

/// A table found in an archive.
#[derive(Debug, Clone)]
pub struct ArchivedTable {
    /// Its entry (`gs_data_dir/geonode/roads.sql`).
    pub entry: String,
    /// The table.
    pub table: Table,
    /// Its rows at backup, when the archive says (gnbr's do, GeoNode's do not).
    pub rows: Option<u64>,
    /// Whether it is in PostgreSQL's custom format (`.dump`, GeoNode
    /// before 4.2), not plain SQL.
    pub custom_format: bool,
}

/// The entry of a table: `<name>.sql` for `public` (what GeoNode's restore
/// reads), `<schema>.<name>.sql` otherwise, with `%`, `/` and `.` in names
/// written as `%25`, `%2F` and `%2E` so that every table has its own entry.
pub fn table_entry(table: &Table) -> String {
    let encode = |part: &str| {
        part.chars()
            .map(|c| match c {
                '%' | '/' | '.' | '\\' => format!("%{:02X}", c as u32),
                c if c.is_control() => format!("%{:02X}", c as u32),
                c => c.to_string(),
            })
            .collect::<String>()
    };
    if table.schema == "public" {
        format!("{TABLE_FOLDER}{}.sql", encode(&table.name))
    } else {
        format!(
            "{TABLE_FOLDER}{}.{}.sql",
            encode(&table.schema),
            encode(&table.name)
        )
    }
}

/// Checks that the datastore is not Django's own database, whose tables
/// the database part of a backup already carries (and whose load holds
/// them locked).
///
/// # Errors
///
/// When both are the same database.
pub fn check_separate(datastore: &Database, default: &Database) -> Result<(), Error> {
    let same = (&datastore.host, &datastore.port, &datastore.name)
        == (&default.host, &default.port, &default.name);
    if same {
        return Err(Error::new(
            ErrorKind::Usage,
            format!("GeoNode's datastore is its own Django database ({datastore}): gnbr backs up and restores datastore tables only from a database of their own"),
        )
        .hint("set [geoserver] dumpvectordata = no (or --no-geoserver-vector-data), or move the layers into their own datastore database (GeoNode's default: geonode_data)"));
    }
    Ok(())
}

/// Dumps every table of the datastore owned by its user in `[geoserver]
/// datastore_schemas`, each into its own entry; returns them by entry.
///
/// # Errors
///
/// The datastore cannot be listed, or a dump or write fails.
pub fn backup_tables(
    settings: &Settings,
    datastore: &Database,
    writer: &mut BackupWriter,
    ui: Ui,
) -> Result<BTreeMap<String, TableRecord>, Error> {
    let found = tables::list(
        &settings.database.psql,
        datastore,
        &settings.geoserver.datastore_schemas,
    )?;
    ui.info(&format!(
        "dumping {} tables of the datastore {datastore} (schemas {})",
        found.len(),
        settings.geoserver.datastore_schemas.join(", ")
    ));
    let mut done = BTreeMap::new();
    // The rows recorded are those of the dump itself: the table may change
    // between the listing and its dump.
    for (table, _) in found {
        crate::cancel::check()?;
        let entry = table_entry(&table);
        let mut sink = writer.entry(&entry)?;
        let rows = tables::dump(&settings.database.pg_dump, datastore, &table, &mut sink)?.rows;
        sink.close().map_err(|e| write_error(&entry, &e))?;
        done.insert(
            entry,
            TableRecord {
                schema: table.schema,
                table: table.name,
                rows,
            },
        );
    }
    Ok(done)
}

/// The tables an archive holds: those its manifest lists (gnbr's), else
/// every `gs_data_dir/geonode/<table>.sql` or older `<table>.dump`
/// (GeoNode's, schema `public`).
pub fn archived_tables(input: &BackupReader) -> Vec<ArchivedTable> {
    if let Some(manifest) = input.manifest() {
        let listed = manifest
            .datastore_tables
            .iter()
            .map(|(entry, record)| ArchivedTable {
                entry: entry.clone(),
                table: Table::new(&record.schema, &record.table),
                rows: Some(record.rows),
                custom_format: false,
            })
            .collect();
        return listed;
    }
    input
        .entries()
        .iter()
        .filter_map(|entry| {
            let file = entry.name.strip_prefix(TABLE_FOLDER)?;
            let (name, custom_format) = match file.strip_suffix(".sql") {
                Some(name) => (name, false),
                None => (file.strip_suffix(".dump")?, true),
            };
            (!name.contains('/')).then(|| ArchivedTable {
                entry: entry.name.clone(),
                table: Table::new("public", name),
                rows: None,
                custom_format,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{archived_tables, table_entry, Table};
    use crate::archive::BackupReader;

    fn table(schema: &str, name: &str) -> Table {
        Table::new(schema, name)
    }

    #[test]
    fn every_table_has_its_own_entry() {
        assert_eq!(
            table_entry(&table("public", "Roads")),
            "gs_data_dir/geonode/Roads.sql"
        );
        assert_eq!(
            table_entry(&table("public", "a.b")),
            "gs_data_dir/geonode/a%2Eb.sql"
        );
        assert_eq!(table_entry(&table("a", "b")), "gs_data_dir/geonode/a.b.sql");
        assert_eq!(
            table_entry(&table("x/y", "50%")),
            "gs_data_dir/geonode/x%2Fy.50%25.sql"
        );
    }

    #[test]
    fn geonode_archives_name_public_tables_by_file() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.sql", "b.dump", "sub/c.sql", "d.txt"] {
            let path = dir.path().join("gs_data_dir/geonode").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        std::fs::create_dir_all(dir.path().join("fixtures")).unwrap();
        std::fs::write(dir.path().join("fixtures/base.json"), "[]").unwrap();
        let input = BackupReader::open(dir.path()).unwrap();
        let found: Vec<(String, String, bool)> = archived_tables(&input)
            .into_iter()
            .map(|t| (t.table.schema, t.table.name, t.custom_format))
            .collect();
        assert_eq!(
            found,
            [
                ("public".to_owned(), "a".to_owned(), false),
                ("public".to_owned(), "b".to_owned(), true),
            ]
        );
    }
}
