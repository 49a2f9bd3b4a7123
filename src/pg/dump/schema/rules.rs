//! Rules other than views' `_RETURN` rules (which are the views), deparsed by
//! `pg_get_ruledef`; a disabled rule gets its ALTER TABLE.

use super::{
    Comment, Cx, Entry, Kind, ObjKey, USER_SCHEMA, catalog, comment_sql, not_extension_member,
};
use crate::pg::connect::PgError;

/// Collects rules.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT r.oid, n.nspname, c.relname, pg_catalog.format('%I.%I', n.nspname, c.relname), \
                r.rulename, pg_catalog.quote_ident(r.rulename), pg_catalog.pg_get_ruledef(r.oid), \
                r.ev_enabled::text, c.oid, pg_catalog.obj_description(r.oid, 'pg_rewrite') \
         FROM pg_catalog.pg_rewrite r \
         JOIN pg_catalog.pg_class c ON c.oid = r.ev_class \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE r.rulename <> '_RETURN' AND {USER_SCHEMA} AND {} \
         ORDER BY n.nspname, c.relname, r.rulename",
        not_extension_member(catalog::CLASS, "c.oid")
    );
    let mut entries = Vec::new();
    for row in cx.query("rules", &sql, &[]).await? {
        let oid: u32 = row.get(0);
        let namespace: String = row.get(1);
        let table: String = row.get(2);
        let qualified: String = row.get(3);
        let name: String = row.get(4);
        let quoted: String = row.get(5);
        let definition: String = row.get(6);
        let enabled: String = row.get(7);
        let table_key = ObjKey::new(catalog::CLASS, row.get(8));
        let comment: Option<String> = row.get(9);
        let mut defn = format!("{}\n", definition.trim_end());
        if enabled == "D" {
            defn.push_str(&format!("ALTER TABLE {qualified} DISABLE RULE {quoted};\n"));
        }
        let mut entry = Entry::new(
            ObjKey::new(catalog::REWRITE, oid),
            Kind::Rule,
            "RULE",
            format!("{table} {name}"),
            defn,
        );
        entry.namespace = Some(namespace);
        entry.drop_stmt = Some(format!("DROP RULE {quoted} ON {qualified};\n"));
        entry.deps.push(table_key);
        if let Some(text) = comment {
            entry.comments.push(Comment {
                tag: format!("RULE {name} ON {table}"),
                defn: comment_sql(&format!("RULE {quoted} ON {qualified}"), &text),
            });
        }
        entries.push(entry);
    }
    Ok(entries)
}
