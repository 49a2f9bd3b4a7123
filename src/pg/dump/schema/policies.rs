//! Row-level security, as pg_dump's getPolicy / dumpPolicy write it: a ROW SECURITY entry
//! (`ALTER TABLE ... ENABLE ROW LEVEL SECURITY`) for each table that has it enabled, and a
//! POLICY entry for each policy, enabled or not. (`FORCE ROW LEVEL SECURITY` belongs to the
//! table's own entry, as in pg_dump.) Tables that belong to an extension are included: pg_dump
//! dumps their row security and policies (which the extension's script does not make).
//!
//! Policies name roles; like pg_dump we keep the names, so restoring needs those roles to exist.

use super::{CatalogSession, Entry, Kind, ObjKey, OnTable, USER_SCHEMA, catalog, on_table_columns};
use crate::pg::connect::PgError;

/// Collects row-security settings and policies.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let tables = format!(
        "SELECT c.oid AS table_oid, n.nspname AS schema, c.relname AS table_name, \
                pg_catalog.format('%I.%I', n.nspname, c.relname) AS qualified \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relrowsecurity AND c.relkind IN ('r', 'p') AND {USER_SCHEMA} \
         ORDER BY n.nspname, c.relname"
    );
    let mut entries = Vec::new();
    for row in cx.query("row-level security", &tables, &[]).await? {
        let key = ObjKey::new(catalog::CLASS, row.get("table_oid"));
        let qualified: String = row.get("qualified");
        let mut entry = Entry::new(
            key,
            Kind::RowSecurity,
            "ROW SECURITY",
            row.get::<_, String>("table_name"),
            format!("ALTER TABLE {qualified} ENABLE ROW LEVEL SECURITY;\n"),
        );
        entry.namespace = Some(row.get("schema"));
        // Same key as the table: resolves to the TABLE entry, which comes first.
        entry.deps.push(key);
        entries.push(entry);
    }

    let policies = format!(
        "SELECT {on}, x.polcmd::text AS command, x.polpermissive AS permissive, \
                CASE WHEN x.polroles = '{{0}}' THEN NULL ELSE \
                  pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.quote_ident(r.rolname) \
                    FROM pg_catalog.pg_roles r WHERE r.oid = ANY (x.polroles)), ', ') END \
                  AS roles, \
                pg_catalog.pg_get_expr(x.polqual, x.polrelid) AS using_expr, \
                pg_catalog.pg_get_expr(x.polwithcheck, x.polrelid) AS check_expr, \
                pg_catalog.obj_description(x.oid, 'pg_policy') AS comment \
         FROM pg_catalog.pg_policy x \
         JOIN pg_catalog.pg_class c ON c.oid = x.polrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMA} \
         ORDER BY n.nspname, c.relname, x.polname",
        on = on_table_columns("polname")
    );
    for row in cx.query("policies", &policies, &[]).await? {
        let on = OnTable::from_row(&row);
        let command = command_clause(&row.get::<_, String>("command"));
        let restrictive = if row.get::<_, bool>("permissive") {
            ""
        } else {
            " AS RESTRICTIVE"
        };
        let roles = row
            .get::<_, Option<String>>("roles")
            .map(|r| format!(" TO {r}"))
            .unwrap_or_default();
        let using = row
            .get::<_, Option<String>>("using_expr")
            .map(|e| format!(" USING ({e})"))
            .unwrap_or_default();
        let check = row
            .get::<_, Option<String>>("check_expr")
            .map(|e| format!(" WITH CHECK ({e})"))
            .unwrap_or_default();
        let mut entry = on.entry(
            catalog::POLICY,
            Kind::Policy,
            "POLICY",
            format!(
                "CREATE POLICY {} ON {}{restrictive}{command}{roles}{using}{check};\n",
                on.quoted, on.qualified
            ),
        );
        entry.drop_stmt = Some(format!("DROP POLICY {} ON {};\n", on.quoted, on.qualified));
        on.comment(&mut entry, "POLICY", row.get("comment"));
        entries.push(entry);
    }
    Ok(entries)
}

/// The `FOR` clause for a `polcmd` value (`*`, all commands, needs none).
fn command_clause(polcmd: &str) -> &'static str {
    match polcmd {
        "r" => " FOR SELECT",
        "a" => " FOR INSERT",
        "w" => " FOR UPDATE",
        "d" => " FOR DELETE",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::command_clause;

    #[test]
    fn policy_commands_map_to_for_clauses() {
        assert_eq!(command_clause("*"), "");
        assert_eq!(command_clause("r"), " FOR SELECT");
        assert_eq!(command_clause("a"), " FOR INSERT");
        assert_eq!(command_clause("w"), " FOR UPDATE");
        assert_eq!(command_clause("d"), " FOR DELETE");
    }
}
