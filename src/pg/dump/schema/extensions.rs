//! Extensions: `CREATE EXTENSION IF NOT EXISTS ... WITH SCHEMA ...`, as pg_dump writes them:
//! no version (the restoring server's default is used) and `IF NOT EXISTS`, so an extension
//! created beforehand is kept. Their member objects are never dumped (every collector skips
//! them); `plpgsql` exists in every database and is skipped, as pg_dump does.

use super::{Cx, Entry, Kind, ObjKey, catalog};
use crate::pg::connect::PgError;

/// Collects extensions.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    // extensions are not schema objects: their schema (even pg_catalog) is only where they live
    let sql = "SELECT x.oid, x.extname, pg_catalog.quote_ident(x.extname), \
                      pg_catalog.quote_ident(n.nspname), \
                      pg_catalog.obj_description(x.oid, 'pg_extension') \
               FROM pg_catalog.pg_extension x \
               JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace \
               WHERE x.extname <> 'plpgsql' ORDER BY x.extname";
    let mut entries = Vec::new();
    for row in cx.query("extensions", sql, &[]).await? {
        let oid: u32 = row.get(0);
        let name: String = row.get(1);
        let quoted: String = row.get(2);
        let schema: String = row.get(3);
        let comment: Option<String> = row.get(4);
        let mut entry = Entry::new(
            ObjKey::new(catalog::EXTENSION, oid),
            Kind::Extension,
            "EXTENSION",
            &name,
            format!("CREATE EXTENSION IF NOT EXISTS {quoted} WITH SCHEMA {schema};\n"),
        );
        entry.drop_stmt = Some(format!("DROP EXTENSION {quoted};\n"));
        entry.comment(
            comment,
            format!("EXTENSION {quoted}"),
            &format!("EXTENSION {quoted}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}
