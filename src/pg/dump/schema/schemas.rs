//! Schemas: `CREATE SCHEMA`. The `public` schema exists in every new database, so like
//! pg_dump (15+) we never create it; only a changed comment on it is carried over.

use super::{Cx, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member};
use crate::pg::connect::PgError;

/// Collects user schemas.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT n.oid, n.nspname, pg_catalog.quote_ident(n.nspname), \
                pg_catalog.obj_description(n.oid, 'pg_namespace') \
         FROM pg_catalog.pg_namespace n \
         WHERE {USER_SCHEMA} AND {} ORDER BY n.nspname",
        not_extension_member(catalog::NAMESPACE, "n.oid")
    );
    let mut entries = Vec::new();
    for row in cx.query("schemas", &sql, &[]).await? {
        let (oid, name, quoted): (u32, String, String) = (row.get(0), row.get(1), row.get(2));
        let comment: Option<String> = row.get(3);
        let key = ObjKey::new(catalog::NAMESPACE, oid);
        let is_public = name == "public";
        let mut entry = if is_public {
            Entry::new(key, Kind::Schema, "SCHEMA", &name, "")
        } else {
            let mut e = Entry::new(
                key,
                Kind::Schema,
                "SCHEMA",
                &name,
                format!("CREATE SCHEMA {quoted};\n"),
            );
            e.drop_stmt = Some(format!("DROP SCHEMA {quoted};\n"));
            e
        };
        entry.comment(
            comment.filter(|t| !(is_public && t == "standard public schema")),
            format!("SCHEMA {name}"),
            &format!("SCHEMA {quoted}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}
