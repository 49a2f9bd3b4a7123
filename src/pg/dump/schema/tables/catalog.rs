//! What pg_dump's getTables, getInherits and getTableAttrs read about relations: one row per
//! relation, its parents, its columns (with defaults and, on 18, NOT NULL constraints) and its
//! CHECK constraints. Every column is read by name.

use std::collections::HashMap;

use super::super::{CatalogSession, ObjKey, catalog};
use crate::pg::connect::PgError;

/// SQL rendering a reloptions array as pg_dump writes it (`name=value`, the value quoted as a
/// literal unless it is an identifier needing no quotes), one element per option.
pub(crate) fn options_sql(array: &str) -> String {
    format!(
        "ARRAY(SELECT pg_catalog.quote_ident(pg_catalog.split_part(o, '=', 1)) || '=' || \
                CASE WHEN pg_catalog.quote_ident(v) = v THEN v \
                     ELSE '''' || pg_catalog.replace(v, '''', '''''') || '''' END \
               FROM pg_catalog.unnest({array}) WITH ORDINALITY u(o, i), \
                    LATERAL (SELECT CASE WHEN pg_catalog.strpos(o, '=') > 0 \
                                         THEN pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1) \
                                         ELSE '' END AS v) val \
              ORDER BY i)"
    )
}

/// One table, partitioned table or foreign table.
#[derive(Debug, Clone)]
pub(crate) struct Relation {
    pub oid: u32,
    pub namespace: String,
    pub name: String,
    pub quoted: String,
    pub qualified: String,
    /// `r`, `p` or `f`.
    pub relkind: u8,
    pub unlogged: bool,
    pub options: Vec<String>,
    pub toast_options: Vec<String>,
    /// `OF type` of a typed table.
    pub of_type: Option<String>,
    pub partition_key: Option<String>,
    pub partition_bound: Option<String>,
    pub is_partition: bool,
    pub access_method: Option<String>,
    pub tablespace: String,
    pub replica_identity: String,
    pub force_row_security: bool,
    pub row_type: u32,
    pub array_type: u32,
    pub size: i64,
    pub comment: Option<String>,
    /// A foreign table's server (quoted) and options (pg_dump's rendering).
    pub server: Option<String>,
    pub foreign_options: String,
    /// Hash-partitioned on an enum column: partitions load through the root.
    pub unsafe_partitioning: bool,
    /// In a user schema and not an extension member: dumped. (Other relations are read only
    /// as parents of dumped ones.)
    pub dump: bool,
}

/// Reads the relations of the given kinds that are dumped (in user schemas, not extension
/// members) or are parents of other relations, in OID order.
pub(crate) async fn relations(
    cx: &CatalogSession<'_>,
    relkinds: &str,
) -> Result<Vec<Relation>, PgError> {
    let sql = format!(
        "SELECT c.oid AS oid, n.nspname AS namespace, c.relname AS name, \
                pg_catalog.quote_ident(c.relname) AS quoted, \
                pg_catalog.format('%I.%I', n.nspname, c.relname) AS qualified, \
                c.relkind::text AS relkind, c.relpersistence::text AS persistence, \
                {} AS options, \
                CASE WHEN c.relkind <> 'p' THEN {} END AS toast_options, \
                CASE WHEN c.reloftype <> 0 THEN pg_catalog.format_type(c.reloftype, NULL) END \
                  AS of_type, \
                CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END \
                  AS partition_key, \
                CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END \
                  AS partition_bound, \
                c.relispartition AS is_partition, am.amname AS access_method, \
                COALESCE(ts.spcname, '') AS tablespace, c.relreplident::text AS replica_identity, \
                c.relforcerowsecurity AS force_row_security, c.reltype AS row_type, \
                COALESCE(t.typarray, 0::pg_catalog.oid) AS array_type, \
                pg_catalog.pg_relation_size(c.oid) AS size, \
                pg_catalog.obj_description(c.oid, 'pg_class') AS comment, \
                pg_catalog.quote_ident(fs.srvname) AS server, \
                pg_catalog.array_to_string(ARRAY( \
                    SELECT pg_catalog.quote_ident(option_name) || ' ' || \
                           pg_catalog.quote_literal(option_value) \
                      FROM pg_catalog.pg_options_to_table(ft.ftoptions) ORDER BY option_name), \
                    E',\\n    ') AS foreign_options, \
                EXISTS (SELECT 1 FROM pg_catalog.pg_partitioned_table pt \
                         WHERE pt.partrelid = c.oid AND \
                               (SELECT oc.oid FROM pg_catalog.pg_opclass oc \
                                  JOIN pg_catalog.pg_am a ON oc.opcmethod = a.oid \
                                 WHERE oc.opcname = 'enum_ops' \
                                   AND oc.opcnamespace = 'pg_catalog'::pg_catalog.regnamespace \
                                   AND a.amname = 'hash') = ANY(pt.partclass)) \
                  AS unsafe_partitioning, \
                ({} AND {}) AS dump \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_class tc ON tc.oid = c.reltoastrelid \
         LEFT JOIN pg_catalog.pg_type t ON t.oid = c.reltype \
         LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam \
         LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace \
         LEFT JOIN pg_catalog.pg_foreign_table ft ON ft.ftrelid = c.oid \
         LEFT JOIN pg_catalog.pg_foreign_server fs ON fs.oid = ft.ftserver \
         WHERE c.relkind IN ({relkinds}) AND ({} AND {} OR c.oid IN \
               (SELECT i.inhparent FROM pg_catalog.pg_inherits i)) \
         ORDER BY c.oid",
        options_sql("c.reloptions"),
        options_sql("tc.reloptions"),
        super::super::USER_SCHEMA,
        super::super::not_extension_member(catalog::CLASS, "c.oid"),
        super::super::USER_SCHEMA,
        super::super::not_extension_member(catalog::CLASS, "c.oid"),
    );
    let rows = cx.query("tables", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| Relation {
            oid: row.get("oid"),
            namespace: row.get("namespace"),
            name: row.get("name"),
            quoted: row.get("quoted"),
            qualified: row.get("qualified"),
            relkind: row
                .get::<_, String>("relkind")
                .bytes()
                .next()
                .unwrap_or(b'r'),
            unlogged: row.get::<_, String>("persistence") == "u",
            options: row.get("options"),
            toast_options: row
                .get::<_, Option<Vec<String>>>("toast_options")
                .unwrap_or_default(),
            of_type: row.get("of_type"),
            partition_key: row.get("partition_key"),
            partition_bound: row.get("partition_bound"),
            is_partition: row.get("is_partition"),
            access_method: row.get("access_method"),
            tablespace: row.get("tablespace"),
            replica_identity: row.get("replica_identity"),
            force_row_security: row.get("force_row_security"),
            row_type: row.get("row_type"),
            array_type: row.get("array_type"),
            size: row.get("size"),
            comment: row.get("comment"),
            server: row.get("server"),
            foreign_options: row.get("foreign_options"),
            unsafe_partitioning: row.get("unsafe_partitioning"),
            dump: row.get("dump"),
        })
        .collect())
}

/// A parent of a table (inheritance or partitioning), in `inhseqno` order.
#[derive(Debug, Clone)]
pub(crate) struct Parent {
    pub oid: u32,
    pub qualified: String,
}

/// The parents of every table (whatever schema or extension they are in), by child OID.
pub(crate) async fn parents(cx: &CatalogSession<'_>) -> Result<HashMap<u32, Vec<Parent>>, PgError> {
    let rows = cx
        .query(
            "table inheritance",
            "SELECT i.inhrelid AS child, i.inhparent AS parent, \
                    pg_catalog.format('%I.%I', n.nspname, c.relname) AS qualified \
             FROM pg_catalog.pg_inherits i \
             JOIN pg_catalog.pg_class c ON c.oid = i.inhparent \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'f') \
             ORDER BY i.inhrelid, i.inhseqno",
            &[],
        )
        .await?;
    let mut out: HashMap<u32, Vec<Parent>> = HashMap::new();
    for row in &rows {
        out.entry(row.get("child")).or_default().push(Parent {
            oid: row.get("parent"),
            qualified: row.get("qualified"),
        });
    }
    Ok(out)
}

/// A NOT NULL constraint of a column, as PostgreSQL 18 stores it in pg_constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotNullConstraint {
    pub oid: u32,
    pub name: String,
    pub quoted: String,
    pub valid: bool,
    pub no_inherit: bool,
    pub local: bool,
    /// `pg_get_constraintdef`, for the NOT VALID ones dumped apart.
    pub definition: String,
    pub comment: Option<String>,
}

/// A column default or generation expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Default {
    /// The pg_attrdef row (0 for a `DEFAULT NULL` pg_dump makes up for an inherited column).
    pub oid: u32,
    pub expr: String,
}

/// One column (dropped ones are not read).
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    pub quoted: String,
    pub type_name: String,
    pub stat_target: i32,
    /// `PLAIN`, ... when the column's storage differs from its type's.
    pub storage: Option<&'static str>,
    pub compression: Option<&'static str>,
    pub not_null: bool,
    pub local: bool,
    /// `s` (stored), `v` (virtual) or empty.
    pub generated: String,
    /// Collation, qualified, when it differs from the type's.
    pub collation: Option<String>,
    /// Attribute options as pg_dump prints them (`n_distinct=100, ...`).
    pub options: String,
    /// Foreign table column options as pg_dump prints them.
    pub fdw_options: String,
    pub default: Option<Default>,
    pub comment: Option<String>,
    /// PostgreSQL 18: the column's NOT NULL constraint.
    pub constraint: Option<NotNullConstraint>,
}

/// Reads the columns of the given relations, by relation OID, in attnum order.
pub(crate) async fn columns(
    cx: &CatalogSession<'_>,
    oids: &[u32],
) -> Result<HashMap<u32, Vec<Column>>, PgError> {
    let v18 = cx.major() >= 18;
    let not_null = if v18 {
        "co.oid AS nn_oid, co.conname AS nn_name, pg_catalog.quote_ident(co.conname) AS nn_quoted, \
         co.convalidated AS nn_valid, co.connoinherit AS nn_no_inherit, \
         co.conislocal AS nn_local, \
         CASE WHEN co.oid IS NOT NULL THEN pg_catalog.pg_get_constraintdef(co.oid) END AS nn_def, \
         pt.description AS nn_comment"
    } else {
        "NULL::pg_catalog.oid AS nn_oid, NULL::text AS nn_name, NULL::text AS nn_quoted, \
         NULL::bool AS nn_valid, NULL::bool AS nn_no_inherit, NULL::bool AS nn_local, \
         NULL::text AS nn_def, NULL::text AS nn_comment"
    };
    let not_null_join = if v18 {
        "LEFT JOIN pg_catalog.pg_constraint co ON co.conrelid = a.attrelid AND co.contype = 'n' \
              AND co.conkey = ARRAY[a.attnum] \
         LEFT JOIN pg_catalog.pg_description pt ON pt.classoid = co.tableoid \
              AND pt.objoid = co.oid AND pt.objsubid = 0"
    } else {
        ""
    };
    let sql = format!(
        "SELECT a.attrelid AS relid, a.attname AS name, \
                pg_catalog.quote_ident(a.attname) AS quoted, \
                pg_catalog.format_type(t.oid, a.atttypmod) AS type_name, \
                COALESCE(a.attstattarget::int4, -1) AS stat_target, \
                a.attstorage::text AS storage, t.typstorage::text AS type_storage, \
                a.attcompression::text AS compression, \
                a.attnotnull AS not_null, a.attislocal AS local, \
                a.attgenerated::text AS generated, \
                CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 THEN \
                  (SELECT pg_catalog.format('%I.%I', cn.nspname, cl.collname) \
                     FROM pg_catalog.pg_collation cl \
                     JOIN pg_catalog.pg_namespace cn ON cn.oid = cl.collnamespace \
                    WHERE cl.oid = a.attcollation) END AS collation, \
                pg_catalog.array_to_string(ARRAY( \
                    SELECT o FROM pg_catalog.unnest(a.attoptions) o \
                     WHERE o NOT LIKE 'pg\\_attver=%'), ', ') AS options, \
                pg_catalog.array_to_string(ARRAY( \
                    SELECT pg_catalog.quote_ident(option_name) || ' ' || \
                           pg_catalog.quote_literal(option_value) \
                      FROM pg_catalog.pg_options_to_table(a.attfdwoptions) \
                     ORDER BY option_name), E',\\n    ') AS fdw_options, \
                ad.oid AS default_oid, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) AS default_expr, \
                pg_catalog.col_description(a.attrelid, a.attnum) AS comment, \
                {not_null} \
         FROM pg_catalog.pg_attribute a \
         LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
         {not_null_join} \
         WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attrelid, a.attnum"
    );
    let mut out: HashMap<u32, Vec<Column>> = HashMap::new();
    for row in cx.query("columns", &sql, &[&oids]).await? {
        let storage: String = row.get("storage");
        let type_storage: Option<String> = row.get("type_storage");
        let default = match (
            row.get::<_, Option<u32>>("default_oid"),
            row.get::<_, Option<String>>("default_expr"),
        ) {
            (Some(oid), Some(expr)) => Some(Default { oid, expr }),
            _ => None,
        };
        let constraint = row
            .get::<_, Option<u32>>("nn_oid")
            .map(|oid| NotNullConstraint {
                oid,
                name: row.get("nn_name"),
                quoted: row.get("nn_quoted"),
                valid: row.get("nn_valid"),
                no_inherit: row.get("nn_no_inherit"),
                local: row.get("nn_local"),
                definition: row.get("nn_def"),
                comment: row.get("nn_comment"),
            });
        out.entry(row.get("relid")).or_default().push(Column {
            name: row.get("name"),
            quoted: row.get("quoted"),
            type_name: row.get("type_name"),
            stat_target: row.get("stat_target"),
            storage: if type_storage.as_deref() == Some(storage.as_str()) {
                None
            } else {
                storage_name(&storage)
            },
            compression: match row.get::<_, String>("compression").as_str() {
                "p" => Some("pglz"),
                "l" => Some("lz4"),
                _ => None,
            },
            not_null: row.get("not_null"),
            local: row.get("local"),
            generated: row.get("generated"),
            collation: row.get("collation"),
            options: row.get("options"),
            fdw_options: row.get("fdw_options"),
            default,
            comment: row.get("comment"),
            constraint,
        });
    }
    Ok(out)
}

fn storage_name(code: &str) -> Option<&'static str> {
    match code {
        "p" => Some("PLAIN"),
        "e" => Some("EXTERNAL"),
        "x" => Some("EXTENDED"),
        "m" => Some("MAIN"),
        _ => None,
    }
}

/// A CHECK constraint of a table.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub oid: u32,
    pub quoted: String,
    pub definition: String,
    pub local: bool,
    /// Dumped apart by the constraints collector, after the data: NOT VALID (or NOT ENFORCED),
    /// or using something that depends on the table.
    pub separate: bool,
}

/// Reads the CHECK constraints of the given relations, by relation OID, in name order. Which
/// go inline is the constraints collector's rule ([`check_in_table_sql`]), so that each is
/// written exactly once.
///
/// [`check_in_table_sql`]: super::super::constraints::check_in_table_sql
pub(crate) async fn checks(
    cx: &CatalogSession<'_>,
    oids: &[u32],
) -> Result<HashMap<u32, Vec<Check>>, PgError> {
    let sql = format!(
        "SELECT co.conrelid AS relid, co.oid AS oid, co.conname AS name, \
                pg_catalog.quote_ident(co.conname) AS quoted, \
                pg_catalog.pg_get_constraintdef(co.oid) AS definition, \
                co.conislocal AS local, {} AS in_table \
         FROM pg_catalog.pg_constraint co \
         WHERE co.conrelid = ANY($1) AND co.contype = 'c' \
         ORDER BY co.conrelid, co.conname",
        super::super::constraints::check_in_table_sql("co")
    );
    let rows = cx.query("check constraints", &sql, &[&oids]).await?;
    let mut out: HashMap<u32, Vec<Check>> = HashMap::new();
    for row in &rows {
        out.entry(row.get("relid")).or_default().push(Check {
            oid: row.get("oid"),
            quoted: row.get("quoted"),
            definition: row.get("definition"),
            local: row.get("local"),
            separate: !row.get::<_, bool>("in_table"),
        });
    }
    Ok(out)
}

/// The key of a relation.
pub(crate) fn class_key(oid: u32) -> ObjKey {
    ObjKey::new(catalog::CLASS, oid)
}
