//! Extensions: `CREATE EXTENSION IF NOT EXISTS ... WITH SCHEMA ...`. Their member objects are
//! never dumped (every collector skips them); `plpgsql` exists in every database and is skipped,
//! as pg_dump does.

use super::{Cx, Entry, Kind, ObjKey, catalog};
use crate::pg::connect::PgError;

/// Collects extensions.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = "SELECT x.oid, x.extname, pg_catalog.quote_ident(x.extname), \
                      pg_catalog.quote_ident(n.nspname), n.oid, \
                      pg_catalog.obj_description(x.oid, 'pg_extension') \
               FROM pg_catalog.pg_extension x \
               JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace \
               WHERE x.extname <> 'plpgsql' ORDER BY x.extname";
    let mut entries = Vec::new();
    for row in cx.query("extensions", sql, &[]).await? {
        let (oid, name, quoted, schema): (u32, String, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let schema_oid: u32 = row.get(4);
        let comment: Option<String> = row.get(5);
        let mut entry = Entry::new(
            ObjKey::new(catalog::EXTENSION, oid),
            Kind::Extension,
            "EXTENSION",
            &name,
            format!("CREATE EXTENSION IF NOT EXISTS {quoted} WITH SCHEMA {schema};\n"),
        );
        entry.drop_stmt = Some(format!("DROP EXTENSION {quoted};\n"));
        entry.deps.push(ObjKey::new(catalog::NAMESPACE, schema_oid));
        entry.comment(
            comment,
            format!("EXTENSION {name}"),
            &format!("EXTENSION {quoted}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}
