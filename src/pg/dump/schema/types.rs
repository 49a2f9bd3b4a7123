//! User types: enums, stand-alone composite types, range types and domains, written the way
//! pg_dump's `dumpEnumType`, `dumpCompositeType`, `dumpRangeType` and `dumpDomain` write them.
//!
//! Each type claims the array type the server made for it; a composite type claims its
//! `pg_class` entry, a range type its multirange (PostgreSQL 14+) and that one's array, a domain
//! its constraints (CHECK, and on PostgreSQL 17 the NOT NULL one). A domain CHECK constraint that
//! is NOT VALID is its own post-data CHECK CONSTRAINT entry, as in pg_dump: added after the data,
//! so rows that never satisfied it still load. Base types with C I/O functions and shell types
//! are not handled here; the census reports them.

use std::collections::HashMap;

use super::{
    Comment, Cx, Entry, Kind, ObjKey, USER_SCHEMA, catalog, comment_sql, not_extension_member,
};
use crate::pg::connect::PgError;
use crate::pg::quote::literal;

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
    namespace: String,
    name: String,
    quoted: String,
    qualified: String,
    typtype: String,
    array: u32,
    relation: u32,
    multirange: Vec<u32>,
    comment: Option<String>,
}

/// A domain CHECK constraint (or, on PostgreSQL 17, its NOT NULL constraint).
struct DomainConstraint {
    oid: u32,
    name: String,
    quoted: String,
    check: bool,
    definition: String,
    validated: bool,
    comment: Option<String>,
    /// For NOT NULL: named `<domain>_not_null`, as the server names it by default.
    default_name: bool,
}

/// Collects types and domains.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let multirange = if cx.version >= 140000 {
        "COALESCE((SELECT ARRAY[r.rngmultitypid, mt.typarray] FROM pg_catalog.pg_range r \
           JOIN pg_catalog.pg_type mt ON mt.oid = r.rngmultitypid WHERE r.rngtypid = t.oid), \
           '{}'::pg_catalog.oid[])"
    } else {
        "'{}'::pg_catalog.oid[]"
    };
    let sql = format!(
        "SELECT t.oid, n.nspname, t.typname, pg_catalog.quote_ident(t.typname), \
                pg_catalog.format('%I.%I', n.nspname, t.typname), t.typtype::text, t.typarray, \
                t.typrelid, {multirange}, pg_catalog.obj_description(t.oid, 'pg_type') \
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         WHERE t.typtype IN ('e', 'c', 'r', 'd') \
           AND (t.typtype <> 'c' OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c \
                                             WHERE c.oid = t.typrelid AND c.relkind = 'c')) \
           AND {USER_SCHEMA} AND {} ORDER BY n.nspname, t.typname",
        not_extension_member(catalog::TYPE, "t.oid")
    );
    let types: Vec<TypeRow> = cx
        .query("types", &sql, &[])
        .await?
        .iter()
        .map(|row| TypeRow {
            oid: row.get(0),
            namespace: row.get(1),
            name: row.get(2),
            quoted: row.get(3),
            qualified: row.get(4),
            typtype: row.get(5),
            array: row.get(6),
            relation: row.get(7),
            multirange: row.get(8),
            comment: row.get(9),
        })
        .collect();
    let of_kind = |kind: &str| -> Vec<u32> {
        types
            .iter()
            .filter(|t| t.typtype == kind)
            .map(|t| t.oid)
            .collect()
    };
    let mut enums = enum_definitions(cx, &of_kind("e")).await?;
    let mut ranges = range_options(cx, &of_kind("r")).await?;
    let relations: Vec<u32> = types
        .iter()
        .filter(|t| t.typtype == "c")
        .map(|t| t.relation)
        .collect();
    let mut attributes = composite_attributes(cx, &relations).await?;
    let domain_oids = of_kind("d");
    let mut domains = domain_heads(cx, &domain_oids).await?;
    let mut constraints = domain_constraints(cx, &domain_oids).await?;

    let mut entries = Vec::new();
    for t in types {
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
            _ => domain(
                &t,
                domains.remove(&t.oid).unwrap_or_default(),
                constraints.remove(&t.oid).unwrap_or_default(),
            ),
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
        entry.drop_stmt = Some(format!("DROP {desc} {};\n", t.qualified));
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

/// A type's entry in the making.
struct Built {
    /// `TYPE` or `DOMAIN`.
    desc: &'static str,
    /// The CREATE statement.
    defn: String,
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
            claims: Vec::new(),
            comments: Vec::new(),
            separate: Vec::new(),
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

/// `CREATE DOMAIN` with its valid CHECK constraints inline, and a post-data CHECK CONSTRAINT
/// entry for each NOT VALID one (pg_dump's layout), with the comments on them.
fn domain(t: &TypeRow, head: DomainHead, constraints: Vec<DomainConstraint>) -> Built {
    let qualified = &t.qualified;
    let mut built = Built::new("DOMAIN", String::new());
    let mut checks = String::new();
    let mut not_null = head.not_null.then(|| " NOT NULL".to_string());
    for c in constraints {
        let key = ObjKey::new(catalog::CONSTRAINT, c.oid);
        let comment = c.comment.map(|text| Comment {
            tag: format!("CONSTRAINT {} ON DOMAIN {}", c.quoted, t.quoted),
            defn: comment_sql(
                &format!("CONSTRAINT {} ON DOMAIN {qualified}", c.quoted),
                &text,
            ),
        });
        if !c.check {
            // PostgreSQL 17 records NOT NULL as a constraint; like pg_dump 17, name it only
            // when the name is not the one the server would choose
            if head.not_null && !c.default_name {
                not_null = Some(format!(" CONSTRAINT {} NOT NULL", c.quoted));
            }
            built.claims.push(key);
            built.comments.extend(comment);
        } else if c.validated {
            checks.push_str(&format!("\n\tCONSTRAINT {} {}", c.quoted, c.definition));
            built.claims.push(key);
            built.comments.extend(comment);
        } else {
            // pg_get_constraintdef already ends in NOT VALID
            let mut entry = Entry::new(
                key,
                Kind::Constraint,
                "CHECK CONSTRAINT",
                format!("{} {}", t.name, c.name),
                format!(
                    "ALTER DOMAIN {qualified}\n    ADD CONSTRAINT {} {};\n",
                    c.quoted, c.definition
                ),
            );
            entry.namespace = Some(t.namespace.clone());
            entry.drop_stmt = Some(format!(
                "ALTER DOMAIN {qualified} DROP CONSTRAINT {};\n",
                c.quoted
            ));
            entry.comments.extend(comment);
            built.separate.push(entry);
        }
    }
    // pg_dump's order: type, COLLATE, NOT NULL, DEFAULT, then the CHECKs
    let mut defn = format!("CREATE DOMAIN {qualified} AS {}", head.base);
    if let Some(collation) = head.collation {
        defn.push_str(&format!(" COLLATE {collation}"));
    }
    defn.push_str(&not_null.unwrap_or_default());
    if let Some(default) = head.default {
        defn.push_str(&format!(" DEFAULT {default}"));
    }
    defn.push_str(&checks);
    defn.push_str(";\n");
    built.defn = defn;
    built
}

/// Enum labels in sort order, by type OID.
async fn enum_definitions(cx: &Cx<'_>, oids: &[u32]) -> Result<HashMap<u32, Vec<String>>, PgError> {
    let mut labels: HashMap<u32, Vec<String>> = HashMap::new();
    if oids.is_empty() {
        return Ok(labels);
    }
    let rows = cx
        .query(
            "enum labels",
            "SELECT enumtypid, enumlabel FROM pg_catalog.pg_enum \
             WHERE enumtypid = ANY($1) ORDER BY enumtypid, enumsortorder",
            &[&oids],
        )
        .await?;
    for row in rows {
        labels.entry(row.get(0)).or_default().push(row.get(1));
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
    cx: &Cx<'_>,
    relations: &[u32],
) -> Result<HashMap<u32, Vec<Attribute>>, PgError> {
    let mut attributes: HashMap<u32, Vec<Attribute>> = HashMap::new();
    if relations.is_empty() {
        return Ok(attributes);
    }
    // COLLATE only where it differs from the attribute type's own collation, as pg_dump does
    let sql = format!(
        "SELECT a.attrelid, pg_catalog.quote_ident(a.attname), \
                pg_catalog.format_type(a.atttypid, a.atttypmod), \
                CASE WHEN a.attcollation <> at.typcollation THEN {} END, \
                pg_catalog.col_description(a.attrelid, a.attnum) \
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
        attributes.entry(row.get(0)).or_default().push(Attribute {
            quoted: row.get(1),
            type_name: row.get(2),
            collation: row.get(3),
            comment: row.get(4),
        });
    }
    Ok(attributes)
}

/// The options of `CREATE TYPE ... AS RANGE` (`subtype = integer`, ...), by range type OID. Only options differing from the defaults are listed, except the
/// multirange name, which pg_dump always states.
async fn range_options(cx: &Cx<'_>, oids: &[u32]) -> Result<HashMap<u32, Vec<String>>, PgError> {
    let mut options: HashMap<u32, Vec<String>> = HashMap::new();
    if oids.is_empty() {
        return Ok(options);
    }
    let multirange = if cx.version >= 140000 {
        "pg_catalog.format_type(r.rngmultitypid, NULL)"
    } else {
        "NULL::pg_catalog.text"
    };
    let sql = format!(
        "SELECT r.rngtypid, pg_catalog.format_type(r.rngsubtype, NULL), {multirange}, \
                CASE WHEN NOT opc.opcdefault THEN \
                  pg_catalog.format('%I.%I', opn.nspname, opc.opcname) END, \
                CASE WHEN r.rngcollation <> st.typcollation THEN {} END, \
                CASE WHEN r.rngcanonical::pg_catalog.oid <> 0 THEN r.rngcanonical::pg_catalog.text END, \
                CASE WHEN r.rngsubdiff::pg_catalog.oid <> 0 THEN r.rngsubdiff::pg_catalog.text END \
         FROM pg_catalog.pg_range r \
         JOIN pg_catalog.pg_type st ON st.oid = r.rngsubtype \
         JOIN pg_catalog.pg_opclass opc ON opc.oid = r.rngsubopc \
         JOIN pg_catalog.pg_namespace opn ON opn.oid = opc.opcnamespace \
         WHERE r.rngtypid = ANY($1)",
        collation_name("r.rngcollation")
    );
    for row in cx.query("range types", &sql, &[&oids]).await? {
        let mut lines = vec![format!("subtype = {}", row.get::<_, String>(1))];
        let optional = [
            (2, "multirange_type_name"),
            (3, "subtype_opclass"),
            (4, "collation"),
            (5, "canonical"),
            (6, "subtype_diff"),
        ];
        for (index, option) in optional {
            if let Some(value) = row.get::<_, Option<String>>(index) {
                lines.push(format!("{option} = {value}"));
            }
        }
        options.insert(row.get(0), lines);
    }
    Ok(options)
}

/// What a domain is over, apart from its constraints.
#[derive(Default)]
struct DomainHead {
    /// The base type, with its modifier.
    base: String,
    /// The collation, where it differs from the base type's.
    collation: Option<String>,
    /// NOT NULL.
    not_null: bool,
    /// The DEFAULT expression, ready to write.
    default: Option<String>,
}

/// Domains' base types, collations, NOT NULL and defaults, by domain OID.
async fn domain_heads(cx: &Cx<'_>, oids: &[u32]) -> Result<HashMap<u32, DomainHead>, PgError> {
    let mut heads = HashMap::new();
    if oids.is_empty() {
        return Ok(heads);
    }
    let sql = format!(
        "SELECT t.oid, pg_catalog.format_type(t.typbasetype, t.typtypmod), \
                CASE WHEN t.typcollation <> u.typcollation THEN {} END, t.typnotnull, \
                pg_catalog.pg_get_expr(t.typdefaultbin, 'pg_catalog.pg_type'::pg_catalog.regclass), \
                t.typdefault \
         FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_type u ON u.oid = t.typbasetype \
         WHERE t.oid = ANY($1)",
        collation_name("t.typcollation")
    );
    for row in cx.query("domains", &sql, &[&oids]).await? {
        // the deparsed expression is schema-qualified (typdefault is the text as it was
        // written, resolved with the search_path of the day); the text form is only a
        // fallback, and being a plain value it needs quoting
        let default = row
            .get::<_, Option<String>>(4)
            .or_else(|| row.get::<_, Option<String>>(5).map(|text| literal(&text)));
        heads.insert(
            row.get(0),
            DomainHead {
                base: row.get(1),
                collation: row.get(2),
                not_null: row.get(3),
                default,
            },
        );
    }
    Ok(heads)
}

/// Domain constraints by domain OID, ordered by name as pg_dump orders them.
async fn domain_constraints(
    cx: &Cx<'_>,
    oids: &[u32],
) -> Result<HashMap<u32, Vec<DomainConstraint>>, PgError> {
    let mut constraints: HashMap<u32, Vec<DomainConstraint>> = HashMap::new();
    if oids.is_empty() {
        return Ok(constraints);
    }
    let rows = cx
        .query(
            "domain constraints",
            "SELECT c.contypid, c.oid, c.conname, pg_catalog.quote_ident(c.conname), \
                    c.contype = 'c', pg_catalog.pg_get_constraintdef(c.oid), c.convalidated, \
                    pg_catalog.obj_description(c.oid, 'pg_constraint'), \
                    c.conname = t.typname || '_not_null' \
             FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_type t ON t.oid = c.contypid \
             WHERE c.contypid = ANY($1) ORDER BY c.contypid, c.conname",
            &[&oids],
        )
        .await?;
    for row in rows {
        constraints
            .entry(row.get(0))
            .or_default()
            .push(DomainConstraint {
                oid: row.get(1),
                name: row.get(2),
                quoted: row.get(3),
                check: row.get(4),
                definition: row.get(5),
                validated: row.get(6),
                comment: row.get(7),
                default_name: row.get(8),
            });
    }
    Ok(constraints)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(typtype: &str) -> TypeRow {
        TypeRow {
            oid: 100,
            namespace: "app".into(),
            name: "My T".into(),
            quoted: "\"My T\"".into(),
            qualified: "app.\"My T\"".into(),
            typtype: typtype.into(),
            array: 101,
            relation: 102,
            multirange: Vec::new(),
            comment: None,
        }
    }

    fn constraint(oid: u32, name: &str, check: bool, validated: bool) -> DomainConstraint {
        DomainConstraint {
            oid,
            name: name.into(),
            quoted: name.into(),
            check,
            definition: format!("CHECK ((VALUE > {oid}))"),
            validated,
            comment: Some(format!("about {name}")),
            default_name: false,
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
    fn not_valid_domain_checks_become_post_data_entries_of_their_own() {
        let head = DomainHead {
            base: "integer".into(),
            collation: None,
            not_null: true,
            default: Some("1".into()),
        };
        let built = domain(
            &row("d"),
            head,
            vec![
                constraint(7, "nn", false, true),
                constraint(8, "ok", true, true),
                constraint(9, "later", true, false),
            ],
        );
        assert_eq!(
            built.defn,
            "CREATE DOMAIN app.\"My T\" AS integer CONSTRAINT nn NOT NULL DEFAULT 1\n\
             \tCONSTRAINT ok CHECK ((VALUE > 8));\n"
        );
        assert_eq!(
            built.claims,
            vec![
                ObjKey::new(catalog::CONSTRAINT, 7),
                ObjKey::new(catalog::CONSTRAINT, 8)
            ]
        );
        assert_eq!(built.comments.len(), 2);
        let [separate] = built.separate.as_slice() else {
            panic!("one separate entry expected");
        };
        assert_eq!(separate.key, ObjKey::new(catalog::CONSTRAINT, 9));
        assert_eq!(separate.kind, Kind::Constraint);
        assert_eq!(separate.desc, "CHECK CONSTRAINT");
        assert_eq!(separate.tag, "My T later");
        assert_eq!(
            separate.defn,
            "ALTER DOMAIN app.\"My T\"\n    ADD CONSTRAINT later CHECK ((VALUE > 9));\n"
        );
        assert_eq!(
            separate.drop_stmt.as_deref(),
            Some("ALTER DOMAIN app.\"My T\" DROP CONSTRAINT later;\n")
        );
        assert_eq!(
            separate.comments[0].defn,
            "COMMENT ON CONSTRAINT later ON DOMAIN app.\"My T\" IS 'about later';\n"
        );
    }
}
