//! Views and materialized views, as pg_dump's dumpTableSchema, dumpRule and refreshMatViewData
//! write them.
//!
//! A view's query lives in its `_RETURN` rule; pg_depend records the view's dependencies on
//! that rule, so the VIEW entry claims it. When the query leads back to the view (through a
//! function returning the view's row type, or a primary key the query's GROUP BY relies on,
//! which is post-data), pg_dump first creates the view with a dummy query of typed NULLs and
//! replaces it in post-data with `CREATE OR REPLACE VIEW` (a RULE entry named `_RETURN`); see
//! [`super::loops`]. A view's column defaults are always DEFAULT entries of their own.
//!
//! Materialized views are created `WITH NO DATA` in pre-data (or in post-data when their query
//! relies on a post-data object) and filled by `REFRESH MATERIALIZED VIEW` at the very end
//! (MATERIALIZED VIEW DATA), when they were populated.

use std::collections::{HashMap, HashSet};

use super::loops::Graph;
use super::tables::catalog::{self as tables, Column, options_sql};
use super::{CatalogSession, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member};
use crate::pg::connect::PgError;

struct View {
    oid: u32,
    namespace: String,
    name: String,
    quoted: String,
    qualified: String,
    materialized: bool,
    definition: String,
    options: Vec<String>,
    toast_options: Vec<String>,
    check_option: Option<String>,
    populated: bool,
    access_method: Option<String>,
    tablespace: String,
    replica_identity: String,
    rule: Option<u32>,
    rule_comment: Option<String>,
    row_type: u32,
    array_type: u32,
    comment: Option<String>,
    extensions: Vec<String>,
}

/// Collects views and materialized views. Marks the views written with a dummy query in
/// `graph`.
pub(crate) async fn collect(
    cx: &CatalogSession<'_>,
    graph: &mut Graph,
) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT c.oid AS oid, n.nspname AS namespace, c.relname AS name, \
                pg_catalog.quote_ident(c.relname) AS quoted, \
                pg_catalog.format('%I.%I', n.nspname, c.relname) AS qualified, \
                c.relkind::text AS relkind, pg_catalog.pg_get_viewdef(c.oid) AS definition, \
                {} AS options, {} AS toast_options, \
                CASE WHEN 'check_option=local' = ANY (c.reloptions) THEN 'LOCAL' \
                     WHEN 'check_option=cascaded' = ANY (c.reloptions) THEN 'CASCADED' END \
                  AS check_option, \
                c.relispopulated AS populated, am.amname AS access_method, \
                COALESCE(ts.spcname, '') AS tablespace, c.relreplident::text AS replica_identity, \
                r.oid AS rule, pg_catalog.obj_description(r.oid, 'pg_rewrite') AS rule_comment, \
                c.reltype AS row_type, COALESCE(t.typarray, 0::pg_catalog.oid) AS array_type, \
                pg_catalog.obj_description(c.oid, 'pg_class') AS comment, \
                ARRAY(SELECT pg_catalog.quote_ident(e.extname) \
                        FROM pg_catalog.pg_depend d \
                        JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid \
                       WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                         AND d.objid = c.oid AND d.deptype = 'x' \
                         AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass \
                       ORDER BY e.extname) AS extensions \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_class tc ON tc.oid = c.reltoastrelid \
         LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam \
         LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace \
         LEFT JOIN pg_catalog.pg_type t ON t.oid = c.reltype \
         LEFT JOIN pg_catalog.pg_rewrite r ON r.ev_class = c.oid AND r.rulename = '_RETURN' \
         WHERE c.relkind IN ('v', 'm') AND {USER_SCHEMA} AND {} \
         ORDER BY n.nspname, c.relname",
        options_sql(
            "pg_catalog.array_remove(pg_catalog.array_remove(c.reloptions, \
             'check_option=local'), 'check_option=cascaded')"
        ),
        options_sql("tc.reloptions"),
        not_extension_member(catalog::CLASS, "c.oid")
    );
    let views: Vec<View> = cx
        .query("views", &sql, &[])
        .await?
        .iter()
        .map(|row| View {
            oid: row.get("oid"),
            namespace: row.get("namespace"),
            name: row.get("name"),
            quoted: row.get("quoted"),
            qualified: row.get("qualified"),
            materialized: row.get::<_, String>("relkind") == "m",
            definition: row.get("definition"),
            options: row.get("options"),
            toast_options: row.get("toast_options"),
            check_option: row.get("check_option"),
            populated: row.get("populated"),
            access_method: row.get("access_method"),
            tablespace: row.get("tablespace"),
            replica_identity: row.get("replica_identity"),
            rule: row.get("rule"),
            rule_comment: row.get("rule_comment"),
            row_type: row.get("row_type"),
            array_type: row.get("array_type"),
            comment: row.get("comment"),
            extensions: row.get("extensions"),
        })
        .collect();
    let oids: Vec<u32> = views.iter().map(|v| v.oid).collect();
    let mut columns = tables::columns(cx, &oids).await?;
    let refreshes = refresh_dependencies(cx).await?;
    let unpopulated: HashSet<u32> = views
        .iter()
        .filter(|v| v.materialized && !v.populated)
        .map(|v| v.oid)
        .collect();

    let mut entries = Vec::new();
    for view in &views {
        let key = ObjKey::new(catalog::CLASS, view.oid);
        let rule_key = view.rule.map(|r| ObjKey::new(catalog::REWRITE, r));
        let in_loop = rule_key.is_some_and(|rule| graph.loops_back(rule, key));
        let columns = columns.remove(&view.oid).unwrap_or_default();
        if view.materialized {
            let reads = refreshes.get(&view.oid).cloned().unwrap_or_default();
            // pg_dump leaves a materialized view that reads an unpopulated one unpopulated
            let populated = view.populated && !reads.iter().any(|r| unpopulated.contains(r));
            entries.extend(materialized(view, &columns, in_loop, populated, &reads));
            continue;
        }
        if in_loop {
            graph.cut_view(key);
        }
        entries.extend(plain(view, &columns, in_loop));
    }
    Ok(entries)
}

/// A view's query without pg_get_viewdef's final semicolon.
fn query(view: &View) -> &str {
    let trimmed = view.definition.trim_end();
    trimmed.strip_suffix(';').unwrap_or(trimmed)
}

/// `CREATE [OR REPLACE] VIEW ... AS ...;` with the real query.
fn create_view(view: &View, or_replace: bool) -> String {
    let mut q = format!(
        "CREATE {}VIEW {}",
        if or_replace { "OR REPLACE " } else { "" },
        view.qualified
    );
    if !view.options.is_empty() {
        q.push_str(&format!(" WITH ({})", view.options.join(", ")));
    }
    q.push_str(&format!(" AS\n{}", query(view)));
    if let Some(check) = &view.check_option {
        q.push_str(&format!("\n  WITH {check} CHECK OPTION"));
    }
    q.push_str(";\n");
    q
}

/// pg_dump's createDummyViewAsClause: the view's columns as typed NULLs.
fn dummy_query(columns: &[Column]) -> String {
    let mut q = String::from("SELECT");
    for (j, column) in columns.iter().enumerate() {
        if j > 0 {
            q.push(',');
        }
        q.push_str(&format!("\n    NULL::{}", column.type_name));
        if let Some(collation) = &column.collation {
            q.push_str(&format!(" COLLATE {collation}"));
        }
        q.push_str(&format!(" AS {}", column.quoted));
    }
    q
}

fn relation_entry(view: &View, desc: &'static str, kind: Kind, defn: String) -> Entry {
    let key = ObjKey::new(catalog::CLASS, view.oid);
    let mut entry = Entry::new(key, kind, desc, &view.name, defn);
    entry.namespace = Some(view.namespace.clone());
    entry.drop_stmt = Some(format!("DROP {desc} {};\n", view.qualified));
    entry.relkind = if view.materialized { b'm' } else { b'v' };
    entry.claims = [view.row_type, view.array_type]
        .into_iter()
        .filter(|o| *o != 0)
        .map(|o| ObjKey::new(catalog::TYPE, o))
        .collect();
    entry
}

fn add_comments(entry: &mut Entry, view: &View, desc: &str, columns: &[Column]) {
    entry.comment(
        view.comment.clone(),
        format!("{desc} {}", view.quoted),
        &format!("{desc} {}", view.qualified),
    );
    for column in columns {
        entry.comment(
            column.comment.clone(),
            format!("COLUMN {}.{}", view.quoted, column.quoted),
            &format!("COLUMN {}.{}", view.qualified, column.quoted),
        );
    }
}

/// The entries of a plain view: VIEW, its column defaults, and, when the view is in a
/// dependency loop, the RULE that puts its real query in place.
fn plain(view: &View, columns: &[Column], dummy: bool) -> Vec<Entry> {
    let key = ObjKey::new(catalog::CLASS, view.oid);
    let defn = if dummy {
        format!(
            "CREATE VIEW {} AS\n{};\n",
            view.qualified,
            dummy_query(columns)
        )
    } else {
        create_view(view, false)
    };
    let mut entry = relation_entry(view, "VIEW", Kind::View, defn);
    if let (false, Some(rule)) = (dummy, view.rule) {
        entry.claims.push(ObjKey::new(catalog::REWRITE, rule));
    }
    add_comments(&mut entry, view, "VIEW", columns);
    let mut entries = vec![entry];
    if let (true, Some(rule)) = (dummy, view.rule) {
        let mut replace = Entry::new(
            ObjKey::new(catalog::REWRITE, rule),
            Kind::Rule,
            "RULE",
            format!("{} _RETURN", view.name),
            create_view(view, true),
        );
        replace.namespace = Some(view.namespace.clone());
        replace.drop_stmt = Some(format!(
            "CREATE OR REPLACE VIEW {} AS\n{};\n",
            view.qualified,
            dummy_query(columns)
        ));
        replace.deps = vec![key];
        replace.comment(
            view.rule_comment.clone(),
            format!("RULE \"_RETURN\" ON {}", view.quoted),
            &format!("RULE \"_RETURN\" ON {}", view.qualified),
        );
        entries.push(replace);
    }
    for column in columns {
        let Some(default) = &column.default else {
            continue;
        };
        let mut entry = Entry::new(
            ObjKey::new(catalog::ATTRDEF, default.oid),
            Kind::Default,
            "DEFAULT",
            format!("{} {}", view.name, column.name),
            format!(
                "ALTER TABLE ONLY {} ALTER COLUMN {} SET DEFAULT {};\n",
                view.qualified, column.quoted, default.expr
            ),
        );
        entry.namespace = Some(view.namespace.clone());
        entry.drop_stmt = Some(format!(
            "ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT;\n",
            view.qualified, column.quoted
        ));
        entry.deps = vec![key];
        entries.push(entry);
    }
    entries
}

/// The entries of a materialized view: MATERIALIZED VIEW (post-data when `postponed`) and
/// MATERIALIZED VIEW DATA when it was populated, after the refreshes of the materialized views
/// it `reads`.
fn materialized(
    view: &View,
    columns: &[Column],
    postponed: bool,
    populated: bool,
    reads: &[u32],
) -> Vec<Entry> {
    let key = ObjKey::new(catalog::CLASS, view.oid);
    let qualified = &view.qualified;
    let mut q = format!("CREATE MATERIALIZED VIEW {qualified}");
    let mut with = view.options.clone();
    with.extend(view.toast_options.iter().map(|o| format!("toast.{o}")));
    if !with.is_empty() {
        q.push_str(&format!("\nWITH ({})", with.join(", ")));
    }
    q.push_str(&format!(" AS\n{}\n  WITH NO DATA;\n", query(view)));
    for extension in &view.extensions {
        q.push_str(&format!(
            "ALTER MATERIALIZED VIEW {qualified} DEPENDS ON EXTENSION {extension};\n"
        ));
    }
    let alter = format!("ALTER TABLE ONLY {qualified} ALTER COLUMN");
    for column in columns {
        let name = &column.quoted;
        if column.stat_target >= 0 {
            q.push_str(&format!(
                "{alter} {name} SET STATISTICS {};\n",
                column.stat_target
            ));
        }
        if let Some(storage) = column.storage {
            q.push_str(&format!("{alter} {name} SET STORAGE {storage};\n"));
        }
        if let Some(method) = column.compression {
            q.push_str(&format!("{alter} {name} SET COMPRESSION {method};\n"));
        }
        if !column.options.is_empty() {
            q.push_str(&format!("{alter} {name} SET ({});\n", column.options));
        }
    }
    match view.replica_identity.as_str() {
        "n" => q.push_str(&format!(
            "\nALTER TABLE ONLY {qualified} REPLICA IDENTITY NOTHING;\n"
        )),
        "f" => q.push_str(&format!(
            "\nALTER TABLE ONLY {qualified} REPLICA IDENTITY FULL;\n"
        )),
        _ => {}
    }
    let kind = if postponed {
        Kind::PostponedMatView
    } else {
        Kind::MatView
    };
    let mut entry = relation_entry(view, "MATERIALIZED VIEW", kind, q);
    entry.tablespace = Some(view.tablespace.clone());
    entry.tableam = view.access_method.clone();
    if let Some(rule) = view.rule {
        entry.claims.push(ObjKey::new(catalog::REWRITE, rule));
    }
    add_comments(&mut entry, view, "MATERIALIZED VIEW", columns);
    let mut entries = vec![entry];
    if populated {
        // Keyed like pg_dump's data objects (no catalog), apart from the view itself.
        let mut refresh = Entry::new(
            refresh_key(view.oid),
            Kind::MatViewData,
            "MATERIALIZED VIEW DATA",
            &view.name,
            format!("REFRESH MATERIALIZED VIEW {qualified};\n"),
        );
        refresh.namespace = Some(view.namespace.clone());
        refresh.deps = vec![key];
        refresh.deps.extend(reads.iter().map(|r| refresh_key(*r)));
        entries.push(refresh);
    }
    entries
}

/// The key of a materialized view's MATERIALIZED VIEW DATA entry.
fn refresh_key(oid: u32) -> ObjKey {
    ObjKey::new(0, oid)
}

/// For each materialized view, the materialized views its query reads, directly or through
/// views (pg_dump's buildMatViewRefreshDependencies).
async fn refresh_dependencies(cx: &CatalogSession<'_>) -> Result<HashMap<u32, Vec<u32>>, PgError> {
    let rows = cx
        .query(
            "materialized view dependencies",
            "WITH RECURSIVE w AS ( \
                 SELECT d1.objid AS objid, d2.refobjid AS refobjid, c2.relkind AS refrelkind \
                 FROM pg_catalog.pg_depend d1 \
                 JOIN pg_catalog.pg_class c1 ON c1.oid = d1.objid AND c1.relkind = 'm' \
                 JOIN pg_catalog.pg_rewrite r1 ON r1.ev_class = d1.objid \
                 JOIN pg_catalog.pg_depend d2 \
                   ON d2.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass \
                  AND d2.objid = r1.oid AND d2.refobjid <> d1.objid \
                 JOIN pg_catalog.pg_class c2 ON c2.oid = d2.refobjid AND c2.relkind IN ('m', 'v') \
                 WHERE d1.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                 UNION \
                 SELECT w.objid, d3.refobjid, c3.relkind \
                 FROM w \
                 JOIN pg_catalog.pg_rewrite r3 ON r3.ev_class = w.refobjid \
                 JOIN pg_catalog.pg_depend d3 \
                   ON d3.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass \
                  AND d3.objid = r3.oid AND d3.refobjid <> w.refobjid \
                 JOIN pg_catalog.pg_class c3 ON c3.oid = d3.refobjid AND c3.relkind IN ('m', 'v')) \
             SELECT DISTINCT w.objid AS objid, w.refobjid AS refobjid FROM w \
             WHERE w.refrelkind = 'm' ORDER BY 1, 2",
            &[],
        )
        .await?;
    let mut out: HashMap<u32, Vec<u32>> = HashMap::new();
    for row in &rows {
        out.entry(row.get("objid"))
            .or_default()
            .push(row.get("refobjid"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_views_select_typed_nulls_with_their_collations() {
        let column = |name: &str, type_name: &str, collation: Option<&str>| Column {
            name: name.into(),
            quoted: name.into(),
            type_name: type_name.into(),
            stat_target: -1,
            storage: None,
            compression: None,
            not_null: false,
            local: true,
            generated: String::new(),
            collation: collation.map(str::to_string),
            options: String::new(),
            fdw_options: String::new(),
            default: None,
            comment: None,
            constraint: None,
        };
        assert_eq!(
            dummy_query(&[
                column("id", "integer", None),
                column("name", "text", Some("pg_catalog.\"C\""))
            ]),
            "SELECT\n    NULL::integer AS id,\n    NULL::text COLLATE pg_catalog.\"C\" AS name"
        );
    }
}
