//! Views and materialized views. A view's query lives in its `_RETURN` rule; pg_depend records
//! the view's dependencies on that rule, so the entry claims it. Materialized views are created
//! `WITH NO DATA` in pre-data and filled by `REFRESH MATERIALIZED VIEW` at the very end
//! (MATERIALIZED VIEW DATA), after the tables they read have their data and indexes.

use super::tables::with_options;
use super::{Cx, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member};
use crate::pg::connect::PgError;

/// Collects views and materialized views.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT c.oid, n.nspname, c.relname, pg_catalog.format('%I.%I', n.nspname, c.relname), \
                c.relkind::text, pg_catalog.pg_get_viewdef(c.oid), \
                pg_catalog.array_to_string(c.reloptions, E'\\x1f'), c.relispopulated, \
                COALESCE(am.amname, ''), COALESCE(ts.spcname, ''), \
                (SELECT r.oid FROM pg_catalog.pg_rewrite r \
                  WHERE r.ev_class = c.oid AND r.rulename = '_RETURN'), \
                c.reltype, COALESCE(t.typarray, 0::oid), \
                pg_catalog.obj_description(c.oid, 'pg_class'), \
                (SELECT pg_catalog.array_agg(pg_catalog.quote_ident(a.attname) || E'\\x1f' || \
                        a.attname || E'\\x1f' || d.description ORDER BY a.attnum) \
                   FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_description d \
                     ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                    AND d.objsubid = a.attnum \
                  WHERE a.attrelid = c.oid AND a.attnum > 0) \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam \
         LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace \
         LEFT JOIN pg_catalog.pg_type t ON t.oid = c.reltype \
         WHERE c.relkind IN ('v', 'm') AND {USER_SCHEMA} AND {} \
         ORDER BY n.nspname, c.relname",
        not_extension_member(catalog::CLASS, "c.oid")
    );
    let mut entries = Vec::new();
    for row in cx.query("views", &sql, &[]).await? {
        let oid: u32 = row.get(0);
        let namespace: String = row.get(1);
        let name: String = row.get(2);
        let qualified: String = row.get(3);
        let materialized = row.get::<_, String>(4) == "m";
        let query: String = row.get(5);
        let options: Option<String> = row.get(6);
        let populated: bool = row.get(7);
        let access_method: String = row.get(8);
        let tablespace: String = row.get(9);
        let rule: Option<u32> = row.get(10);
        let (row_type, array_type): (u32, u32) = (row.get(11), row.get(12));
        let comment: Option<String> = row.get(13);
        let column_comments: Option<Vec<String>> = row.get(14);
        let key = ObjKey::new(catalog::CLASS, oid);
        let query = query.trim_end().trim_end_matches(';');

        let mut check_option = None;
        let mut storage: Vec<&str> = Vec::new();
        for option in options
            .as_deref()
            .unwrap_or("")
            .split('\u{1f}')
            .filter(|o| !o.is_empty())
        {
            match option.strip_prefix("check_option=") {
                Some(value) => check_option = Some(value.to_uppercase()),
                None => storage.push(option),
            }
        }
        let with = if storage.is_empty() {
            String::new()
        } else {
            format!(" WITH ({})", with_options(&storage))
        };
        let (kind, desc, defn) = if materialized {
            (
                Kind::MatView,
                "MATERIALIZED VIEW",
                format!(
                    "CREATE MATERIALIZED VIEW {qualified}{with} AS\n{query}\n  WITH NO DATA;\n"
                ),
            )
        } else {
            let check = check_option
                .map(|c| format!("\n  WITH {c} CHECK OPTION"))
                .unwrap_or_default();
            (
                Kind::View,
                "VIEW",
                format!("CREATE VIEW {qualified}{with} AS\n{query}{check};\n"),
            )
        };
        let mut entry = Entry::new(key, kind, desc, &name, defn);
        entry.namespace = Some(namespace.clone());
        entry.drop_stmt = Some(format!("DROP {desc} {qualified};\n"));
        if materialized {
            entry.tablespace = Some(tablespace);
            entry.tableam = Some(access_method);
        }
        entry.claims = [rule.map(|r| ObjKey::new(catalog::REWRITE, r))]
            .into_iter()
            .flatten()
            .chain(
                [row_type, array_type]
                    .into_iter()
                    .filter(|o| *o != 0)
                    .map(|o| ObjKey::new(catalog::TYPE, o)),
            )
            .collect();
        entry.comment(
            comment,
            format!("{desc} {name}"),
            &format!("{desc} {qualified}"),
        );
        for packed in column_comments.unwrap_or_default() {
            let mut parts = packed.splitn(3, '\u{1f}');
            if let (Some(quoted), Some(column), Some(text)) =
                (parts.next(), parts.next(), parts.next())
            {
                entry.comment(
                    Some(text.to_string()),
                    format!("COLUMN {name}.{column}"),
                    &format!("COLUMN {qualified}.{quoted}"),
                );
            }
        }
        entries.push(entry);
        if materialized && populated {
            let mut refresh = Entry::new(
                key,
                Kind::MatViewData,
                "MATERIALIZED VIEW DATA",
                &name,
                format!("REFRESH MATERIALIZED VIEW {qualified};\n"),
            );
            refresh.namespace = Some(namespace);
            refresh.deps = vec![key];
            entries.push(refresh);
        }
    }
    Ok(entries)
}
