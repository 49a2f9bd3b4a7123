//! Rules, as pg_dump's getRules / dumpRule write them: `pg_get_ruledef`'s `CREATE RULE`, then
//! `ALTER TABLE ... {DISABLE | ENABLE REPLICA | ENABLE ALWAYS} RULE` when it does not fire in the
//! default state. A view's or materialized view's `ON SELECT DO INSTEAD` rule is the view's
//! query: the views collector claims it.

use super::{CatalogSession, Kind, OnTable, USER_SCHEMA, catalog, on_table_columns};
use crate::pg::connect::PgError;

/// Collects rules.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<super::Entry>, PgError> {
    let sql = format!(
        "SELECT {on}, pg_catalog.pg_get_ruledef(x.oid) AS definition, \
                x.ev_enabled::text AS enabled, \
                pg_catalog.obj_description(x.oid, 'pg_rewrite') AS comment \
         FROM pg_catalog.pg_rewrite x \
         JOIN pg_catalog.pg_class c ON c.oid = x.ev_class \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT (c.relkind IN ('v', 'm') AND x.ev_type = '1' AND x.is_instead) \
           AND {USER_SCHEMA} \
         ORDER BY n.nspname, c.relname, x.rulename",
        on = on_table_columns("rulename"),
    );
    let mut entries = Vec::new();
    for row in cx.query("rules", &sql, &[]).await? {
        let on = OnTable::from_row(&row);
        let definition: String = row.get("definition");
        let enabled: String = row.get("enabled");
        // pg_get_ruledef ends the statement with its semicolon.
        let mut defn = format!("{definition}\n");
        if let Some(keyword) = state_keyword(&enabled) {
            defn.push_str(&format!(
                "ALTER TABLE {} {keyword} RULE {};\n",
                on.qualified, on.quoted
            ));
        }
        let mut entry = on.entry(catalog::REWRITE, Kind::Rule, "RULE", defn);
        entry.drop_stmt = Some(format!("DROP RULE {} ON {};\n", on.quoted, on.qualified));
        on.comment(&mut entry, "RULE", row.get("comment"));
        // The extension's script makes the rules of its tables and views.
        entries.push(if on.extension_member {
            entry.claim_only()
        } else {
            entry
        });
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
