//! User types: enums, stand-alone composite types, range types, base types, never-defined
//! shell types and domains, written the way pg_dump's `dumpEnumType`, `dumpCompositeType`,
//! `dumpRangeType`, `dumpBaseType` ([`base`]), `dumpUndefinedType` and `dumpDomain`
//! ([`domains`]) write them.
//!
//! Each type claims the array type the server made for it; a composite type claims its
//! `pg_class` entry, a range type its multirange and that one's array, a domain its
//! constraints. Array types, multiranges and the row types of tables are never dumped on their
//! own, nor are members of extensions.
//!
//! A base type and its I/O functions depend on each other, and so do a range type and its
//! canonical function. As pg_dump does, such a type is preceded by a SHELL TYPE entry
//! (`CREATE TYPE name;`, keyed by [`shell_key`]): the functions in the loop depend on the shell
//! rather than on the type (see `functions`), and the type follows them.

mod base;
mod domains;

use std::collections::HashMap;

use super::{CatalogSession, Comment, Entry, Kind, ObjKey, USER_SCHEMA, catalog, comment_sql};
use crate::pg::connect::PgError;
use crate::pg::quote::literal;

/// The key of the SHELL TYPE entry standing in for type `type_oid`. Shell entries have no
/// catalog row of their own (pg_dump writes them with a null catalog id): catalog 0.
pub(crate) fn shell_key(type_oid: u32) -> ObjKey {
    ObjKey::new(0, type_oid)
}

/// SQL condition: function `oid_expr` is dumped (in a user schema, not in an extension).
fn function_is_dumped(oid_expr: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM pg_catalog.pg_proc f \
                 JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace \
                 WHERE f.oid = {oid_expr} AND {USER_SCHEMA} AND {})",
        super::not_extension_member(catalog::PROC, "f.oid")
    )
}

/// SQL condition: base or range type `type_expr` and function `proc_expr` depend on each other
/// (an I/O or canonical function), the loop pg_dump breaks with a shell type.
pub(super) fn type_function_loop(type_expr: &str, proc_expr: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM pg_catalog.pg_depend td \
                 JOIN pg_catalog.pg_depend fd \
                   ON fd.classid = {proc} AND fd.objid = td.refobjid \
                  AND fd.refclassid = {ty} AND fd.refobjid = td.objid AND fd.deptype = 'n' \
                 JOIN pg_catalog.pg_type lt ON lt.oid = td.objid \
                 WHERE td.classid = {ty} AND td.objid = {type_expr} \
                   AND td.refclassid = {proc} AND td.refobjid = {proc_expr} \
                   AND td.deptype = 'n' AND lt.typtype IN ('b', 'r'))",
        proc = catalog::PROC,
        ty = catalog::TYPE,
    )
}

/// SQL: the quoted, schema-qualified name of the collation whose OID is `oid_expr`.
fn collation_name(oid_expr: &str) -> String {
    format!(
        "(SELECT pg_catalog.format('%I.%I', cn.nspname, co.collname) \
           FROM pg_catalog.pg_collation co \
           JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
          WHERE co.oid = {oid_expr})"
    )
}

/// One row of the type query.
struct TypeRow {
    oid: u32,
    namespace_oid: u32,
    namespace: String,
    name: String,
    quoted: String,
    qualified: String,
    /// `pg_type.typtype`; `p` only for shell types never defined.
    typtype: String,
    array: u32,
    relation: u32,
    multirange: Vec<u32>,
    /// Whether a dumped function and the type depend on each other.
    needs_shell: bool,
    comment: Option<String>,
}

/// Collects types and domains.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let multirange = if cx.major() >= 14 {
        "COALESCE((SELECT ARRAY[r.rngmultitypid, mt.typarray] FROM pg_catalog.pg_range r \
           JOIN pg_catalog.pg_type mt ON mt.oid = r.rngmultitypid WHERE r.rngtypid = t.oid), \
           '{}'::pg_catalog.oid[])"
    } else {
        "'{}'::pg_catalog.oid[]"
    };
    // base types: not the array types the server makes for every type
    let sql = format!(
        "SELECT t.oid, t.typnamespace AS namespace_oid, n.nspname AS namespace, \
                t.typname AS name, pg_catalog.quote_ident(t.typname) AS quoted, \
                pg_catalog.format('%I.%I', n.nspname, t.typname) AS qualified, \
                t.typtype::pg_catalog.text AS typtype, t.typarray AS array, \
                t.typrelid AS relation, {multirange} AS multirange, \
                EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                         WHERE d.classid = {ty} AND d.objid = t.oid \
                           AND d.refclassid = {proc} AND d.deptype = 'n' \
                           AND {loop} AND {dumped}) AS needs_shell, \
                pg_catalog.obj_description(t.oid, 'pg_type') AS comment \
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         WHERE (t.typtype IN ('e', 'r', 'd') \
                OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c \
                                                 WHERE c.oid = t.typrelid AND c.relkind = 'c')) \
                OR (t.typtype = 'b' AND NOT (t.typelem <> 0 AND EXISTS ( \
                      SELECT 1 FROM pg_catalog.pg_type e \
                       WHERE e.oid = t.typelem AND e.typarray = t.oid))) \
                OR (t.typtype = 'p' AND NOT t.typisdefined)) \
           AND {USER_SCHEMA} AND {} ORDER BY n.nspname, t.typname",
        super::not_extension_member(catalog::TYPE, "t.oid"),
        ty = catalog::TYPE,
        proc = catalog::PROC,
        loop = type_function_loop("t.oid", "d.refobjid"),
        dumped = function_is_dumped("d.refobjid"),
    );
    let types: Vec<TypeRow> = cx
        .query("types", &sql, &[])
        .await?
        .iter()
        .map(|row| TypeRow {
            oid: row.get("oid"),
            namespace_oid: row.get("namespace_oid"),
            namespace: row.get("namespace"),
            name: row.get("name"),
            quoted: row.get("quoted"),
            qualified: row.get("qualified"),
            typtype: row.get("typtype"),
            array: row.get("array"),
            relation: row.get("relation"),
            multirange: row.get("multirange"),
            needs_shell: row.get("needs_shell"),
            comment: row.get("comment"),
        })
        .collect();
    let of_kind = |kind: &str| -> Vec<u32> {
        types
            .iter()
            .filter(|t| t.typtype == kind)
            .map(|t| t.oid)
            .collect()
    };
    let mut enums = enum_labels(cx, &of_kind("e")).await?;
    let mut ranges = range_options(cx, &of_kind("r")).await?;
    let mut bases = base::definitions(cx, &of_kind("b")).await?;
    let relations: Vec<u32> = types
        .iter()
        .filter(|t| t.typtype == "c")
        .map(|t| t.relation)
        .collect();
    let mut attributes = composite_attributes(cx, &relations).await?;
    let mut domains = domains::read(cx, &of_kind("d")).await?;

    let mut entries = Vec::new();
    for t in types {
        if t.needs_shell {
            entries.push(shell(&t));
        }
        let mut built = match t.typtype.as_str() {
            "e" => Built::new(
                "TYPE",
                enum_sql(&t.qualified, &enums.remove(&t.oid).unwrap_or_default()),
            ),
            "c" => composite(&t, attributes.remove(&t.relation).unwrap_or_default()),
            "r" => Built::new(
                "TYPE",
                format!(
                    "CREATE TYPE {} AS RANGE (\n    {}\n);\n",
                    t.qualified,
                    ranges.remove(&t.oid).unwrap_or_default().join(",\n    ")
                ),
            ),
            "b" => {
                let mut built = Built::new("TYPE", bases.remove(&t.oid).unwrap_or_default());
                // the loop with its I/O functions leaves no other way to drop it
                built.drop_stmt = format!("DROP TYPE {} CASCADE;\n", t.qualified);
                built
            }
            "p" => Built::new("TYPE", format!("CREATE TYPE {};\n", t.qualified)),
            _ => domains.remove(&t.oid).unwrap_or_default().build(&t),
        };
        built.claims.extend(
            [t.array]
                .into_iter()
                .chain(t.multirange.iter().copied())
                .filter(|o| *o != 0)
                .map(|o| ObjKey::new(catalog::TYPE, o)),
        );
        let desc = built.desc;
        let mut entry = Entry::new(
            ObjKey::new(catalog::TYPE, t.oid),
            Kind::Type,
            desc,
            &t.name,
            built.defn,
        );
        entry.namespace = Some(t.namespace.clone());
        entry.drop_stmt = Some(if built.drop_stmt.is_empty() {
            format!("DROP {desc} {};\n", t.qualified)
        } else {
            built.drop_stmt
        });
        entry.claims = built.claims;
        entry.comment(
            t.comment,
            format!("{desc} {}", t.quoted),
            &format!("{desc} {}", t.qualified),
        );
        entry.comments.extend(built.comments);
        entries.push(entry);
        entries.extend(built.separate);
    }
    Ok(entries)
}

/// The SHELL TYPE entry for `t`: no DROP (dropping the type drops it).
fn shell(t: &TypeRow) -> Entry {
    let mut entry = Entry::new(
        shell_key(t.oid),
        Kind::Type,
        "SHELL TYPE",
        &t.name,
        format!("CREATE TYPE {};\n", t.qualified),
    );
    entry.namespace = Some(t.namespace.clone());
    entry
        .deps
        .push(ObjKey::new(catalog::NAMESPACE, t.namespace_oid));
    entry
}

/// A type's entry in the making.
#[derive(Default)]
struct Built {
    /// `TYPE` or `DOMAIN`.
    desc: &'static str,
    /// The CREATE statement.
    defn: String,
    /// The DROP statement when not the plain `DROP <desc> <name>;`.
    drop_stmt: String,
    /// Catalog objects it accounts for besides the type itself.
    claims: Vec<ObjKey>,
    /// Comments on parts of it (columns, constraints), after the one on the type.
    comments: Vec<Comment>,
    /// Entries of their own (a domain's NOT VALID constraints).
    separate: Vec<Entry>,
}

impl Built {
    fn new(desc: &'static str, defn: String) -> Built {
        Built {
            desc,
            defn,
            ..Built::default()
        }
    }
}

/// `CREATE TYPE ... AS ENUM`, one label a line.
fn enum_sql(qualified: &str, labels: &[String]) -> String {
    let body: Vec<String> = labels
        .iter()
        .map(|label| format!("\n    {}", literal(label)))
        .collect();
    format!("CREATE TYPE {qualified} AS ENUM ({}\n);\n", body.join(","))
}

/// `CREATE TYPE ... AS (...)` and comments on its columns.
fn composite(t: &TypeRow, columns: Vec<Attribute>) -> Built {
    let body: Vec<String> = columns
        .iter()
        .map(|a| {
            let collation = a
                .collation
                .as_ref()
                .map(|c| format!(" COLLATE {c}"))
                .unwrap_or_default();
            format!("\n\t{} {}{collation}", a.quoted, a.type_name)
        })
        .collect();
    let mut built = Built::new(
        "TYPE",
        format!("CREATE TYPE {} AS ({}\n);\n", t.qualified, body.join(",")),
    );
    built.claims.push(ObjKey::new(catalog::CLASS, t.relation));
    for a in columns {
        if let Some(text) = a.comment {
            built.comments.push(Comment {
                tag: format!("COLUMN {}.{}", t.quoted, a.quoted),
                defn: comment_sql(&format!("COLUMN {}.{}", t.qualified, a.quoted), &text),
            });
        }
    }
    built
}

/// Enum labels in sort order, by type OID.
async fn enum_labels(
    cx: &CatalogSession<'_>,
    oids: &[u32],
) -> Result<HashMap<u32, Vec<String>>, PgError> {
    let mut labels: HashMap<u32, Vec<String>> = HashMap::new();
    if oids.is_empty() {
        return Ok(labels);
    }
    let rows = cx
        .query(
            "enum labels",
            "SELECT enumtypid AS type_oid, enumlabel AS label FROM pg_catalog.pg_enum \
             WHERE enumtypid = ANY($1) ORDER BY enumtypid, enumsortorder",
            &[&oids],
        )
        .await?;
    for row in rows {
        labels
            .entry(row.get("type_oid"))
            .or_default()
            .push(row.get("label"));
    }
    Ok(labels)
}

/// One attribute of a composite type.
struct Attribute {
    quoted: String,
    type_name: String,
    collation: Option<String>,
    comment: Option<String>,
}

/// Live attributes of stand-alone composite types in order, by `pg_class` OID.
async fn composite_attributes(
    cx: &CatalogSession<'_>,
    relations: &[u32],
) -> Result<HashMap<u32, Vec<Attribute>>, PgError> {
    let mut attributes: HashMap<u32, Vec<Attribute>> = HashMap::new();
    if relations.is_empty() {
        return Ok(attributes);
    }
    // COLLATE only where it differs from the attribute type's own collation, as pg_dump does
    let sql = format!(
        "SELECT a.attrelid AS relation, pg_catalog.quote_ident(a.attname) AS quoted, \
                pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name, \
                CASE WHEN a.attcollation <> at.typcollation THEN {} END AS collation, \
                pg_catalog.col_description(a.attrelid, a.attnum) AS comment \
         FROM pg_catalog.pg_attribute a \
         LEFT JOIN pg_catalog.pg_type at ON at.oid = a.atttypid \
         WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attrelid, a.attnum",
        collation_name("a.attcollation")
    );
    for row in cx
        .query("composite type attributes", &sql, &[&relations])
        .await?
    {
        attributes
            .entry(row.get("relation"))
            .or_default()
            .push(Attribute {
                quoted: row.get("quoted"),
                type_name: row.get("type_name"),
                collation: row.get("collation"),
                comment: row.get("comment"),
            });
    }
    Ok(attributes)
}

/// The options of `CREATE TYPE ... AS RANGE` (`subtype = integer`, ...), by range type OID:
/// the multirange name (always, on PostgreSQL 14+), then the options that differ from the
/// defaults.
async fn range_options(
    cx: &CatalogSession<'_>,
    oids: &[u32],
) -> Result<HashMap<u32, Vec<String>>, PgError> {
    let mut options: HashMap<u32, Vec<String>> = HashMap::new();
    if oids.is_empty() {
        return Ok(options);
    }
    let multirange = if cx.major() >= 14 {
        "pg_catalog.format_type(r.rngmultitypid, NULL)"
    } else {
        "NULL::pg_catalog.text"
    };
    let sql = format!(
        "SELECT r.rngtypid AS type_oid, pg_catalog.format_type(r.rngsubtype, NULL) AS subtype, \
                {multirange} AS multirange, \
                CASE WHEN NOT opc.opcdefault THEN \
                  pg_catalog.format('%I.%I', opn.nspname, opc.opcname) END AS opclass, \
                CASE WHEN r.rngcollation <> st.typcollation THEN {} END AS collation, \
                CASE WHEN r.rngcanonical::pg_catalog.oid <> 0 \
                     THEN r.rngcanonical::pg_catalog.text END AS canonical, \
                CASE WHEN r.rngsubdiff::pg_catalog.oid <> 0 \
                     THEN r.rngsubdiff::pg_catalog.text END AS subdiff \
         FROM pg_catalog.pg_range r \
         JOIN pg_catalog.pg_type st ON st.oid = r.rngsubtype \
         JOIN pg_catalog.pg_opclass opc ON opc.oid = r.rngsubopc \
         JOIN pg_catalog.pg_namespace opn ON opn.oid = opc.opcnamespace \
         WHERE r.rngtypid = ANY($1)",
        collation_name("r.rngcollation")
    );
    for row in cx.query("range types", &sql, &[&oids]).await? {
        let mut lines = vec![format!("subtype = {}", row.get::<_, String>("subtype"))];
        let optional = [
            ("multirange", "multirange_type_name"),
            ("opclass", "subtype_opclass"),
            ("collation", "collation"),
            ("canonical", "canonical"),
            ("subdiff", "subtype_diff"),
        ];
        for (column, option) in optional {
            if let Some(value) = row.get::<_, Option<String>>(column) {
                lines.push(format!("{option} = {value}"));
            }
        }
        options.insert(row.get("type_oid"), lines);
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn row(typtype: &str) -> TypeRow {
        TypeRow {
            oid: 100,
            namespace_oid: 2200,
            namespace: "app".into(),
            name: "My T".into(),
            quoted: "\"My T\"".into(),
            qualified: "app.\"My T\"".into(),
            typtype: typtype.into(),
            array: 101,
            relation: 102,
            multirange: Vec::new(),
            needs_shell: false,
            comment: None,
        }
    }

    #[test]
    fn enums_list_quoted_labels_one_a_line_and_may_be_empty() {
        assert_eq!(
            enum_sql("app.mood", &["sad".into(), "it's ok".into()]),
            "CREATE TYPE app.mood AS ENUM (\n    'sad',\n    'it''s ok'\n);\n"
        );
        assert_eq!(enum_sql("app.e", &[]), "CREATE TYPE app.e AS ENUM (\n);\n");
    }

    #[test]
    fn composite_types_claim_their_relation_and_carry_column_comments() {
        let columns = vec![
            Attribute {
                quoted: "a".into(),
                type_name: "integer".into(),
                collation: None,
                comment: Some("first".into()),
            },
            Attribute {
                quoted: "\"B\"".into(),
                type_name: "text".into(),
                collation: Some("pg_catalog.\"C\"".into()),
                comment: None,
            },
        ];
        let built = composite(&row("c"), columns);
        assert_eq!(
            built.defn,
            "CREATE TYPE app.\"My T\" AS (\n\ta integer,\n\t\"B\" text COLLATE pg_catalog.\"C\"\n);\n"
        );
        assert_eq!(built.claims, vec![ObjKey::new(catalog::CLASS, 102)]);
        assert_eq!(built.comments.len(), 1);
        assert_eq!(built.comments[0].tag, "COLUMN \"My T\".a");
        assert_eq!(
            built.comments[0].defn,
            "COMMENT ON COLUMN app.\"My T\".a IS 'first';\n"
        );
    }

    #[test]
    fn shell_types_have_their_own_key_and_no_drop() {
        let shell = shell(&row("b"));
        assert_eq!(shell.key, shell_key(100));
        assert_ne!(shell.key, ObjKey::new(catalog::TYPE, 100));
        assert_eq!(shell.desc, "SHELL TYPE");
        assert_eq!(shell.tag, "My T");
        assert_eq!(shell.defn, "CREATE TYPE app.\"My T\";\n");
        assert_eq!(shell.drop_stmt, None);
    }
}
