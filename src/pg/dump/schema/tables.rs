//! Tables: plain, unlogged and partitioned tables and their partitions, with columns (types,
//! collations, NOT NULL, defaults, identity and generated columns), valid CHECK constraints,
//! storage parameters, partition keys and bounds; plus what their data needs (`DataSpec`).
//!
//! Like pg_dump: partitions are created as plain tables and attached afterwards (TABLE ATTACH);
//! column defaults that use a sequence are dumped apart (DEFAULT, after the sequence exists);
//! CHECK constraints that are NOT VALID are left to the constraints collector (post-data);
//! generated columns are not listed in COPY. Plain `INHERITS` inheritance is refused with an
//! error naming the table, as are tables of access methods other than heap.

use std::collections::HashMap;

use super::{Cx, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member};
use crate::pg::connect::PgError;
use crate::pg::quote::literal;

/// What the data phase needs to copy one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpec {
    /// The table's key (TABLE DATA depends on it).
    pub key: ObjKey,
    /// Schema.
    pub namespace: String,
    /// Unqualified name (the TOC tag).
    pub name: String,
    /// `schema.table`, quoted.
    pub qualified: String,
    /// Quoted columns in COPY order (generated columns excluded).
    pub columns: Vec<String>,
    /// On-disk size, for scheduling largest first.
    pub size: i64,
}

impl DataSpec {
    /// `COPY s.t (a, b) FROM stdin;\n`, as stored in the TOC.
    pub fn copy_from(&self) -> String {
        format!(
            "COPY {} ({}) FROM stdin;\n",
            self.qualified,
            self.columns.join(", ")
        )
    }

    /// `COPY s.t (a, b) TO STDOUT`, as sent to the server.
    pub fn copy_to(&self) -> String {
        format!(
            "COPY {} ({}) TO STDOUT",
            self.qualified,
            self.columns.join(", ")
        )
    }
}

/// Tables found.
#[derive(Debug, Default)]
pub struct Tables {
    /// TABLE, TABLE ATTACH and DEFAULT entries.
    pub entries: Vec<Entry>,
    /// Tables with data to copy (not partitioned parents).
    pub data: Vec<DataSpec>,
}

struct Column {
    quoted: String,
    name: String,
    type_name: String,
    not_null: bool,
    generated: bool,
    collation: Option<String>,
    default: Option<(u32, String, bool)>,
    stat_target: Option<i32>,
    storage: Option<String>,
    options: Vec<String>,
    comment: Option<String>,
}

/// Collects tables.
pub async fn collect(cx: &Cx<'_>) -> Result<Tables, PgError> {
    let sql = format!(
        "SELECT c.oid, n.nspname, c.relname, pg_catalog.format('%I.%I', n.nspname, c.relname), \
                c.relkind::text, c.relpersistence::text, \
                pg_catalog.array_to_string(c.reloptions, E'\\x1f'), \
                pg_catalog.array_to_string(tc.reloptions, E'\\x1f'), \
                CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END, \
                CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END, \
                (SELECT pg_catalog.format('%I.%I', pn.nspname, pc.relname) \
                   FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent \
                   JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace \
                  WHERE i.inhrelid = c.oid), \
                (SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid LIMIT 1), \
                c.relispartition, c.reltype, COALESCE(t.typarray, 0::oid), \
                COALESCE(am.amname, ''), COALESCE(ts.spcname, ''), c.relreplident::text, \
                pg_catalog.pg_relation_size(c.oid), \
                pg_catalog.obj_description(c.oid, 'pg_class'), \
                c.relforcerowsecurity AS force_row_security \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_class tc ON tc.oid = c.reltoastrelid \
         LEFT JOIN pg_catalog.pg_type t ON t.oid = c.reltype \
         LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam \
         LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace \
         WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMA} AND {} \
         ORDER BY n.nspname, c.relname",
        not_extension_member(catalog::CLASS, "c.oid")
    );
    let rows = cx.query("tables", &sql, &[]).await?;
    let oids: Vec<u32> = rows.iter().map(|r| r.get(0)).collect();
    let mut columns = collect_columns(cx, &oids).await?;
    let mut checks = collect_checks(cx, &oids).await?;
    let mut out = Tables::default();
    for row in rows {
        let oid: u32 = row.get(0);
        let namespace: String = row.get(1);
        let name: String = row.get(2);
        let qualified: String = row.get(3);
        let relkind: String = row.get(4);
        let persistence: String = row.get(5);
        let options: Option<String> = row.get(6);
        let toast_options: Option<String> = row.get(7);
        let partition_key: Option<String> = row.get(8);
        let partition_bound: Option<String> = row.get(9);
        let parent: Option<String> = row.get(10);
        let parent_oid: Option<u32> = row.get(11);
        let is_partition: bool = row.get(12);
        let (row_type, array_type): (u32, u32) = (row.get(13), row.get(14));
        let access_method: String = row.get(15);
        let tablespace: String = row.get(16);
        let replica_identity: String = row.get(17);
        let size: i64 = row.get(18);
        let comment: Option<String> = row.get(19);
        let key = ObjKey::new(catalog::CLASS, oid);
        if let (Some(parent), false) = (&parent, is_partition) {
            return Err(unsupported(
                cx,
                &qualified,
                &format!("it inherits from {parent} (INHERITS)"),
            ));
        }
        let partitioned = relkind == "p";
        if !partitioned && access_method != "heap" {
            return Err(unsupported(
                cx,
                &qualified,
                &format!("its access method is '{access_method}'"),
            ));
        }
        let cols = columns.remove(&oid).unwrap_or_default();
        let table_checks = checks.remove(&oid).unwrap_or_default();

        let mut lines: Vec<String> = Vec::new();
        let mut after: Vec<String> = Vec::new();
        for col in &cols {
            let mut line = format!("    {} {}", col.quoted, col.type_name);
            if let Some(collation) = &col.collation {
                line.push_str(&format!(" COLLATE {collation}"));
            }
            if let Some((_, expr, uses_sequence)) = &col.default {
                if col.generated {
                    line.push_str(&format!(" GENERATED ALWAYS AS ({expr}) STORED"));
                } else if !uses_sequence {
                    line.push_str(&format!(" DEFAULT {expr}"));
                }
            }
            if col.not_null {
                line.push_str(" NOT NULL");
            }
            lines.push(line);
            if let Some(target) = col.stat_target {
                after.push(format!(
                    "ALTER TABLE ONLY {qualified} ALTER COLUMN {} SET STATISTICS {target};\n",
                    col.quoted
                ));
            }
            if let Some(storage) = &col.storage {
                after.push(format!(
                    "ALTER TABLE ONLY {qualified} ALTER COLUMN {} SET STORAGE {storage};\n",
                    col.quoted
                ));
            }
            if !col.options.is_empty() {
                after.push(format!(
                    "ALTER TABLE ONLY {qualified} ALTER COLUMN {} SET ({});\n",
                    col.quoted,
                    with_options(&col.options.iter().map(String::as_str).collect::<Vec<_>>())
                ));
            }
        }
        let mut claims = vec![ObjKey::new(catalog::TYPE, row_type)];
        if array_type != 0 {
            claims.push(ObjKey::new(catalog::TYPE, array_type));
        }
        for (check_oid, check_name, check_def) in &table_checks {
            lines.push(format!("    CONSTRAINT {check_name} {check_def}"));
            claims.push(ObjKey::new(catalog::CONSTRAINT, *check_oid));
        }
        let mut defn = format!(
            "CREATE {}TABLE {qualified} (\n{}\n)",
            if persistence == "u" { "UNLOGGED " } else { "" },
            lines.join(",\n")
        );
        if let Some(key_def) = &partition_key {
            defn.push_str(&format!("\nPARTITION BY {key_def}"));
        }
        let mut storage_options: Vec<String> = split_options(options.as_deref(), "");
        storage_options.extend(split_options(toast_options.as_deref(), "toast."));
        if !storage_options.is_empty() {
            let opts: Vec<&str> = storage_options.iter().map(String::as_str).collect();
            defn.push_str(&format!("\nWITH ({})", with_options(&opts)));
        }
        defn.push_str(";\n");
        match replica_identity.as_str() {
            "f" => defn.push_str(&format!(
                "ALTER TABLE ONLY {qualified} REPLICA IDENTITY FULL;\n"
            )),
            "n" => defn.push_str(&format!(
                "ALTER TABLE ONLY {qualified} REPLICA IDENTITY NOTHING;\n"
            )),
            _ => {}
        }
        for statement in &after {
            defn.push_str(statement);
        }
        if row.get::<_, bool>("force_row_security") {
            defn.push_str(&format!(
                "ALTER TABLE ONLY {qualified} FORCE ROW LEVEL SECURITY;\n"
            ));
        }

        let mut entry = Entry::new(key, Kind::Table, "TABLE", &name, defn);
        entry.namespace = Some(namespace.clone());
        entry.drop_stmt = Some(format!("DROP TABLE {qualified};\n"));
        entry.tablespace = Some(tablespace);
        entry.tableam = (!partitioned).then(|| access_method.clone());
        entry.claims = claims;
        entry.comment(
            comment,
            format!("TABLE {name}"),
            &format!("TABLE {qualified}"),
        );
        for col in &cols {
            entry.comment(
                col.comment.clone(),
                format!("COLUMN {name}.{}", col.name),
                &format!("COLUMN {qualified}.{}", col.quoted),
            );
        }
        out.entries.push(entry);

        if let (Some(parent), Some(bound), Some(parent_oid)) =
            (&parent, &partition_bound, parent_oid)
        {
            let mut attach = Entry::new(
                key,
                Kind::TableAttach,
                "TABLE ATTACH",
                &name,
                format!("ALTER TABLE ONLY {parent} ATTACH PARTITION {qualified} {bound};\n"),
            );
            attach.namespace = Some(namespace.clone());
            attach.deps = vec![key, ObjKey::new(catalog::CLASS, parent_oid)];
            out.entries.push(attach);
        }
        for col in &cols {
            if let Some((attrdef, expr, true)) = &col.default {
                if col.generated {
                    continue;
                }
                let mut default = Entry::new(
                    ObjKey::new(catalog::ATTRDEF, *attrdef),
                    Kind::Default,
                    "DEFAULT",
                    format!("{name} {}", col.name),
                    format!(
                        "ALTER TABLE ONLY {qualified} ALTER COLUMN {} SET DEFAULT {expr};\n",
                        col.quoted
                    ),
                );
                default.namespace = Some(namespace.clone());
                default.drop_stmt = Some(format!(
                    "ALTER TABLE {qualified} ALTER COLUMN {} DROP DEFAULT;\n",
                    col.quoted
                ));
                default.deps = vec![key];
                out.entries.push(default);
            }
        }
        if !partitioned {
            out.data.push(DataSpec {
                key,
                namespace,
                name,
                qualified,
                columns: cols
                    .iter()
                    .filter(|c| !c.generated)
                    .map(|c| c.quoted.clone())
                    .collect(),
                size,
            });
        }
    }
    Ok(out)
}

/// Reads every column of the given tables, grouped by table OID.
async fn collect_columns(cx: &Cx<'_>, oids: &[u32]) -> Result<HashMap<u32, Vec<Column>>, PgError> {
    let sql = "SELECT a.attrelid, pg_catalog.quote_ident(a.attname), a.attname, \
                      pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                      a.attgenerated <> '', \
                      CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 THEN \
                        (SELECT pg_catalog.format('%I.%I', cn.nspname, co.collname) \
                           FROM pg_catalog.pg_collation co \
                           JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
                          WHERE co.oid = a.attcollation) END, \
                      ad.oid, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), \
                      EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                                JOIN pg_catalog.pg_class s ON s.oid = d.refobjid \
                               WHERE d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass \
                                 AND d.objid = ad.oid \
                                 AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                                 AND s.relkind = 'S'), \
                      CASE WHEN a.attstattarget >= 0 THEN a.attstattarget::int END, \
                      CASE WHEN a.attstorage <> t.typstorage THEN \
                        CASE a.attstorage WHEN 'p' THEN 'PLAIN' WHEN 'e' THEN 'EXTERNAL' \
                                          WHEN 'm' THEN 'MAIN' WHEN 'x' THEN 'EXTENDED' END END, \
                      pg_catalog.array_to_string(a.attoptions, E'\\x1f'), \
                      pg_catalog.col_description(a.attrelid, a.attnum) \
               FROM pg_catalog.pg_attribute a \
               JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
               LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
               WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped \
               ORDER BY a.attrelid, a.attnum";
    let mut by_table: HashMap<u32, Vec<Column>> = HashMap::new();
    for row in cx.query("columns", sql, &[&oids]).await? {
        let default_oid: Option<u32> = row.get(7);
        let default_expr: Option<String> = row.get(8);
        let options: Option<String> = row.get(12);
        by_table.entry(row.get(0)).or_default().push(Column {
            quoted: row.get(1),
            name: row.get(2),
            type_name: row.get(3),
            not_null: row.get(4),
            generated: row.get(5),
            collation: row.get(6),
            default: default_oid
                .zip(default_expr)
                .map(|(o, e)| (o, e, row.get(9))),
            stat_target: row.get(10),
            storage: row.get(11),
            options: split_options(options.as_deref(), ""),
            comment: row.get(13),
        });
    }
    Ok(by_table)
}

/// Locally defined CHECK constraints that go inline in CREATE TABLE (see
/// [`super::constraints::check_in_table_sql`]).
async fn collect_checks(
    cx: &Cx<'_>,
    oids: &[u32],
) -> Result<HashMap<u32, Vec<(u32, String, String)>>, PgError> {
    let sql = format!(
        "SELECT co.conrelid, co.oid, pg_catalog.quote_ident(co.conname), \
                pg_catalog.pg_get_constraintdef(co.oid) \
         FROM pg_catalog.pg_constraint co \
         WHERE co.conrelid = ANY($1) AND co.contype = 'c' AND {} \
           AND co.conislocal \
         ORDER BY co.conrelid, co.conname",
        super::constraints::check_in_table_sql("co")
    );
    let mut by_table: HashMap<u32, Vec<(u32, String, String)>> = HashMap::new();
    for row in cx.query("check constraints", &sql, &[&oids]).await? {
        by_table
            .entry(row.get(0))
            .or_default()
            .push((row.get(1), row.get(2), row.get(3)));
    }
    Ok(by_table)
}

/// Splits an `array_to_string(options, E'\x1f')` value into `name=value` items, prefixing names.
fn split_options(joined: Option<&str>, prefix: &str) -> Vec<String> {
    joined
        .filter(|s| !s.is_empty())
        .map(|s| s.split('\u{1f}').map(|o| format!("{prefix}{o}")).collect())
        .unwrap_or_default()
}

/// `name='value', ...` with values as string literals (as pg_dump writes reloptions).
pub fn with_options(options: &[&str]) -> String {
    options
        .iter()
        .map(|option| match option.split_once('=') {
            Some((name, value)) => format!("{name}={}", literal(value)),
            None => option.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn unsupported(cx: &Cx<'_>, table: &str, why: &str) -> PgError {
    PgError {
        target: cx.target.to_string(),
        action: "dump".into(),
        message: format!("table {table} cannot be dumped: {why}, which fullsite does not support"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_options_are_quoted_like_pg_dump() {
        let split = split_options(Some("fillfactor=70\u{1f}autovacuum_enabled=false"), "");
        let opts: Vec<&str> = split.iter().map(String::as_str).collect();
        assert_eq!(
            with_options(&opts),
            "fillfactor='70', autovacuum_enabled='false'"
        );
        assert_eq!(split_options(Some("a=1"), "toast."), ["toast.a=1"]);
        assert!(split_options(None, "").is_empty() && split_options(Some(""), "").is_empty());
    }

    #[test]
    fn copy_statements_list_columns() {
        let spec = DataSpec {
            key: ObjKey::new(catalog::CLASS, 1),
            namespace: "public".into(),
            name: "t".into(),
            qualified: "public.t".into(),
            columns: vec!["id".into(), "\"Body\"".into()],
            size: 0,
        };
        assert_eq!(
            spec.copy_from(),
            "COPY public.t (id, \"Body\") FROM stdin;\n"
        );
        assert_eq!(spec.copy_to(), "COPY public.t (id, \"Body\") TO STDOUT");
    }
}
