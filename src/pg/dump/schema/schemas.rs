//! Schemas: `CREATE SCHEMA`, as pg_dump's `dumpNamespace` writes it; schemas an extension
//! created are left to the extension.
//!
//! `public` exists in every new database, so it is never created. As pg_dump (15+) does, it
//! gets a SCHEMA entry only when its owner is not the default `pg_database_owner` (PostgreSQL 14
//! still gives it to the bootstrap superuser): the entry is just the comment `-- *not* creating
//! schema, since initdb creates it`, standing for the schema (and its owner, with `--owners`).
//! Its comment is dumped only when it differs from initdb's `standard public schema`; a removed
//! comment is carried over as `COMMENT ON SCHEMA public IS ''`.

use super::{
    CatalogSession, Comment, Entry, Kind, ObjKey, USER_SCHEMA, comment_sql,
    row_not_extension_member,
};
use crate::pg::connect::PgError;

/// The comment initdb gives `public`.
const INITDB_PUBLIC_COMMENT: &str = "standard public schema";

/// Collects user schemas.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT n.tableoid, n.oid, n.nspname, pg_catalog.quote_ident(n.nspname) AS quoted, \
                n.nspowner = 'pg_database_owner'::pg_catalog.regrole AS default_owner, \
                pg_catalog.obj_description(n.oid, 'pg_namespace') AS description \
         FROM pg_catalog.pg_namespace n \
         WHERE {USER_SCHEMA} AND {} ORDER BY n.nspname",
        row_not_extension_member("n")
    );
    let mut entries = Vec::new();
    for row in cx.query("schemas", &sql, &[]).await? {
        let name: String = row.get("nspname");
        let quoted: String = row.get("quoted");
        let description: Option<String> = row.get("description");
        let key = ObjKey::new(row.get("tableoid"), row.get("oid"));
        let entry = if name != "public" {
            let mut entry = Entry::new(
                key,
                Kind::Schema,
                "SCHEMA",
                &name,
                format!("CREATE SCHEMA {quoted};\n"),
            );
            entry.drop_stmt = Some(format!("DROP SCHEMA {quoted};\n"));
            entry.comment(
                description,
                format!("SCHEMA {quoted}"),
                &format!("SCHEMA {quoted}"),
            );
            entry
        } else {
            let mut entry = if row.get("default_owner") {
                // claimed, nothing to write
                Entry::new(key, Kind::Schema, "SCHEMA", &name, "")
            } else {
                let mut entry = Entry::new(
                    key,
                    Kind::Schema,
                    "SCHEMA",
                    &name,
                    "-- *not* creating schema, since initdb creates it\n",
                );
                entry.drop_stmt =
                    Some("-- *not* dropping schema, since initdb creates it\n".to_string());
                entry
            };
            let text = match description {
                None => Some(String::new()),
                Some(text) if text == INITDB_PUBLIC_COMMENT => None,
                Some(text) => Some(text),
            };
            if let Some(text) = text {
                entry.comments.push(Comment {
                    tag: "SCHEMA public".to_string(),
                    defn: comment_sql("SCHEMA public", &text),
                });
            }
            entry
        };
        entries.push(entry);
    }
    Ok(entries)
}
