//! Rules other than views' `_RETURN` rules (which are the views), deparsed by
//! `pg_get_ruledef`; a disabled rule gets its ALTER TABLE.

use super::{
    Cx, Entry, Kind, ObjKey, OnTable, USER_SCHEMA, catalog, not_extension_member, on_table_columns,
};
use crate::pg::connect::PgError;

/// Collects rules.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT {}, pg_catalog.pg_get_ruledef(x.oid), x.ev_enabled::text, \
                pg_catalog.obj_description(x.oid, 'pg_rewrite') \
         FROM pg_catalog.pg_rewrite x \
         JOIN pg_catalog.pg_class c ON c.oid = x.ev_class \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE x.rulename <> '_RETURN' AND {USER_SCHEMA} AND {} \
         ORDER BY n.nspname, c.relname, x.rulename",
        on_table_columns("rulename"),
        not_extension_member(catalog::CLASS, "c.oid")
    );
    let mut entries = Vec::new();
    for row in cx.query("rules", &sql, &[]).await? {
        let OnTable {
            oid,
            namespace,
            table,
            qualified,
            table_key,
            name,
            quoted,
        } = OnTable::from_row(&row);
        let definition: String = row.get(7);
        let mut defn = format!("{}\n", definition.trim_end());
        if row.get::<_, String>(8) == "D" {
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
        entry.comment(
            row.get(9),
            format!("RULE {name} ON {table}"),
            &format!("RULE {quoted} ON {qualified}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}
