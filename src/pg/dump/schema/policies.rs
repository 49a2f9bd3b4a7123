//! Row-level security: per table, ENABLE and FORCE ROW LEVEL SECURITY (ROW SECURITY), and each
//! policy (POLICY), built from `pg_policy` as pg_dump builds them.
//!
//! pg_dump puts FORCE in the table's CREATE; here it goes with ENABLE (the tables collector does
//! not write it), which is equivalent: neither applies to a restore that runs with
//! `row_security = off` as a superuser or the owner. A table can be FORCEd without being
//! ENABLEd; its ROW SECURITY entry then holds only the FORCE.
//!
//! Policies name roles; like pg_dump we keep the names, so restoring needs those roles to exist.

use super::{
    Cx, Entry, Kind, ObjKey, OnTable, USER_SCHEMA, catalog, not_extension_member, on_table_columns,
};
use crate::pg::connect::PgError;

/// Collects row-security settings and policies.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let member = not_extension_member(catalog::CLASS, "c.oid");
    let tables = format!(
        "SELECT c.oid, n.nspname, c.relname, pg_catalog.format('%I.%I', n.nspname, c.relname), \
                c.relrowsecurity, c.relforcerowsecurity \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE (c.relrowsecurity OR c.relforcerowsecurity) AND c.relkind IN ('r', 'p') \
           AND {USER_SCHEMA} AND {member} \
         ORDER BY n.nspname, c.relname"
    );
    let mut entries = Vec::new();
    for row in cx.query("row-level security", &tables, &[]).await? {
        let key = ObjKey::new(catalog::CLASS, row.get(0));
        let qualified: String = row.get(3);
        let mut defn = String::new();
        if row.get::<_, bool>(4) {
            defn.push_str(&format!(
                "ALTER TABLE {qualified} ENABLE ROW LEVEL SECURITY;\n"
            ));
        }
        if row.get::<_, bool>(5) {
            defn.push_str(&format!(
                "ALTER TABLE ONLY {qualified} FORCE ROW LEVEL SECURITY;\n"
            ));
        }
        let mut entry = Entry::new(
            key,
            Kind::RowSecurity,
            "ROW SECURITY",
            row.get::<_, String>(2),
            defn,
        );
        entry.namespace = Some(row.get(1));
        // Same key as the table: resolves to the TABLE entry, which comes first.
        entry.deps.push(key);
        entries.push(entry);
    }

    let policies = format!(
        "SELECT {}, x.polcmd::text, x.polpermissive, \
                CASE WHEN x.polroles = '{{0}}' THEN NULL ELSE \
                  pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.quote_ident(r.rolname) \
                    FROM pg_catalog.pg_roles r WHERE r.oid = ANY (x.polroles)), ', ') END, \
                pg_catalog.pg_get_expr(x.polqual, x.polrelid), \
                pg_catalog.pg_get_expr(x.polwithcheck, x.polrelid), \
                pg_catalog.obj_description(x.oid, 'pg_policy') \
         FROM pg_catalog.pg_policy x \
         JOIN pg_catalog.pg_class c ON c.oid = x.polrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE {USER_SCHEMA} AND {member} ORDER BY n.nspname, c.relname, x.polname",
        on_table_columns("polname")
    );
    for row in cx.query("policies", &policies, &[]).await? {
        let OnTable {
            oid,
            namespace,
            table,
            qualified,
            table_key,
            name,
            quoted,
        } = OnTable::from_row(&row);
        let command = command_clause(&row.get::<_, String>(7));
        let restrictive = if row.get::<_, bool>(8) {
            ""
        } else {
            " AS RESTRICTIVE"
        };
        let roles = row
            .get::<_, Option<String>>(9)
            .map(|r| format!(" TO {r}"))
            .unwrap_or_default();
        let using = row
            .get::<_, Option<String>>(10)
            .map(|e| format!(" USING ({e})"))
            .unwrap_or_default();
        let check = row
            .get::<_, Option<String>>(11)
            .map(|e| format!(" WITH CHECK ({e})"))
            .unwrap_or_default();
        let comment: Option<String> = row.get(12);
        let mut entry = Entry::new(
            ObjKey::new(catalog::POLICY, oid),
            Kind::Policy,
            "POLICY",
            format!("{table} {name}"),
            format!(
                "CREATE POLICY {quoted} ON {qualified}{restrictive}{command}{roles}{using}{check};\n"
            ),
        );
        entry.namespace = Some(namespace);
        entry.drop_stmt = Some(format!("DROP POLICY {quoted} ON {qualified};\n"));
        entry.deps.push(table_key);
        entry.comment(
            comment,
            format!("POLICY {name} ON {table}"),
            &format!("POLICY {quoted} ON {qualified}"),
        );
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
