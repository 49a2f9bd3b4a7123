//! Extensions: `CREATE EXTENSION IF NOT EXISTS ... WITH SCHEMA ...`, as pg_dump's
//! `dumpExtension` writes them: no version (the restoring server's default is used) and
//! `IF NOT EXISTS`, so an extension created beforehand is kept; the schema is named even when
//! it is `public` or `pg_catalog`. Comments follow (extensions usually bring one from their
//! control file, and pg_dump carries it over). Their member objects are never dumped (every
//! collector skips them). Extensions that exist when the database is created (`plpgsql`, with
//! an OID below 16384) are skipped, as pg_dump does.

use super::{CatalogSession, Entry, Kind, ObjKey};
use crate::pg::connect::PgError;

/// Collects extensions.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    // extensions are not schema objects: their schema (even pg_catalog) is only where they live
    let sql = "SELECT x.tableoid, x.oid, x.extname, pg_catalog.quote_ident(x.extname) AS quoted, \
                      pg_catalog.quote_ident(n.nspname) AS schema, \
                      pg_catalog.obj_description(x.oid, 'pg_extension') AS description \
               FROM pg_catalog.pg_extension x \
               JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace \
               WHERE x.oid >= 16384 ORDER BY x.extname";
    let mut entries = Vec::new();
    for row in cx.query("extensions", sql, &[]).await? {
        let quoted: String = row.get("quoted");
        let mut entry = Entry::new(
            ObjKey::new(row.get("tableoid"), row.get("oid")),
            Kind::Extension,
            "EXTENSION",
            row.get::<_, String>("extname"),
            format!(
                "CREATE EXTENSION IF NOT EXISTS {quoted} WITH SCHEMA {};\n",
                row.get::<_, String>("schema")
            ),
        );
        entry.drop_stmt = Some(format!("DROP EXTENSION {quoted};\n"));
        entry.comment(
            row.get("description"),
            format!("EXTENSION {quoted}"),
            &format!("EXTENSION {quoted}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}
