//! Rules other than views' `_RETURN` rules (those are the views, claimed by the views
//! collector), deparsed by `pg_get_ruledef`. A rule set to fire never, always or on replicas
//! only gets its `ALTER TABLE ... RULE`, as pg_dump writes it.

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
        let enabled: String = row.get(8);
        let comment: Option<String> = row.get(9);
        // pg_get_ruledef ends the statement with its semicolon.
        let mut defn = format!("{}\n", definition.trim_end());
        if let Some(keyword) = state_keyword(&enabled) {
            defn.push_str(&format!(
                "ALTER TABLE {qualified} {keyword} RULE {quoted};\n"
            ));
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
            comment,
            format!("RULE {name} ON {table}"),
            &format!("RULE {quoted} ON {qualified}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}

/// The `ALTER TABLE` keyword for an `ev_enabled` value other than the default `O`.
fn state_keyword(enabled: &str) -> Option<&'static str> {
    match enabled {
        "D" => Some("DISABLE"),
        "A" => Some("ENABLE ALWAYS"),
        "R" => Some("ENABLE REPLICA"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::state_keyword;

    #[test]
    fn only_non_default_firing_states_need_sql() {
        assert_eq!(state_keyword("O"), None);
        assert_eq!(state_keyword("D"), Some("DISABLE"));
        assert_eq!(state_keyword("A"), Some("ENABLE ALWAYS"));
        assert_eq!(state_keyword("R"), Some("ENABLE REPLICA"));
    }
}
