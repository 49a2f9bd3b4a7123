//! User types: enums, composite types, range types and domains. Each claims the array type the
//! server made for it; a composite type claims its `pg_class` entry, a range type its
//! multirange (PostgreSQL 14+) and that one's array, a domain its constraints (CHECK, and on
//! PostgreSQL 17 the NOT NULL one). Base types
//! with C I/O functions and shell types are not handled here; the census reports them.

use super::{Cx, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member};
use crate::pg::connect::PgError;
use crate::pg::quote::literal;

/// Collects types and domains.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let multirange = if cx.version >= 140000 {
        "COALESCE((SELECT ARRAY[r.rngmultitypid, mt.typarray] FROM pg_catalog.pg_range r \
           JOIN pg_catalog.pg_type mt ON mt.oid = r.rngmultitypid WHERE r.rngtypid = t.oid), '{}')"
    } else {
        "'{}'::oid[]"
    };
    let sql = format!(
        "SELECT t.oid, n.nspname, t.typname, pg_catalog.format('%I.%I', n.nspname, t.typname), \
                t.typtype::text, t.typarray, t.typrelid, {multirange}, \
                pg_catalog.obj_description(t.oid, 'pg_type') \
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         WHERE t.typtype IN ('e', 'c', 'r', 'd') \
           AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c') \
           AND {USER_SCHEMA} AND {} ORDER BY n.nspname, t.typname",
        not_extension_member(catalog::TYPE, "t.oid")
    );
    let mut entries = Vec::new();
    for row in cx.query("types", &sql, &[]).await? {
        let oid: u32 = row.get(0);
        let name: String = row.get(2);
        let qualified: String = row.get(3);
        let typtype: String = row.get(4);
        let array: u32 = row.get(5);
        let relation: u32 = row.get(6);
        let multirange: Vec<u32> = row.get(7);
        let comment: Option<String> = row.get(8);
        let (desc, defn, mut claims) = match typtype.as_str() {
            "e" => (
                "TYPE",
                enum_definition(cx, oid, &qualified).await?,
                Vec::new(),
            ),
            "c" => (
                "TYPE",
                composite_definition(cx, relation, &qualified).await?,
                vec![ObjKey::new(catalog::CLASS, relation)],
            ),
            "r" => (
                "TYPE",
                range_definition(cx, oid, &qualified).await?,
                Vec::new(),
            ),
            _ => {
                let (defn, constraints) = domain_definition(cx, oid, &qualified).await?;
                (
                    "DOMAIN",
                    defn,
                    constraints
                        .into_iter()
                        .map(|c| ObjKey::new(catalog::CONSTRAINT, c))
                        .collect(),
                )
            }
        };
        claims.extend(
            [array]
                .into_iter()
                .chain(multirange)
                .filter(|o| *o != 0)
                .map(|o| ObjKey::new(catalog::TYPE, o)),
        );
        let mut entry = Entry::new(
            ObjKey::new(catalog::TYPE, oid),
            Kind::Type,
            desc,
            &name,
            defn,
        );
        entry.namespace = Some(row.get(1));
        entry.drop_stmt = Some(format!("DROP {desc} {qualified};\n"));
        entry.claims = claims;
        entry.comment(
            comment,
            format!("{desc} {name}"),
            &format!("{desc} {qualified}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}

async fn enum_definition(cx: &Cx<'_>, oid: u32, qualified: &str) -> Result<String, PgError> {
    let rows = cx
        .query(
            "enum labels",
            "SELECT enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = $1 ORDER BY enumsortorder",
            &[&oid],
        )
        .await?;
    let labels: Vec<String> = rows
        .iter()
        .map(|r| format!("    {}", literal(&r.get::<_, String>(0))))
        .collect();
    Ok(format!(
        "CREATE TYPE {qualified} AS ENUM (\n{}\n);\n",
        labels.join(",\n")
    ))
}

async fn composite_definition(
    cx: &Cx<'_>,
    relation: u32,
    qualified: &str,
) -> Result<String, PgError> {
    let rows = cx
        .query(
            "composite type attributes",
            "SELECT pg_catalog.quote_ident(a.attname), pg_catalog.format_type(a.atttypid, a.atttypmod), \
                    CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 THEN \
                      (SELECT pg_catalog.format('%I.%I', cn.nspname, co.collname) FROM pg_catalog.pg_collation co \
                         JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation) END \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&relation],
        )
        .await?;
    let attributes: Vec<String> = rows
        .iter()
        .map(|r| {
            let collation = r
                .get::<_, Option<String>>(2)
                .map(|c| format!(" COLLATE {c}"))
                .unwrap_or_default();
            format!(
                "    {} {}{collation}",
                r.get::<_, String>(0),
                r.get::<_, String>(1)
            )
        })
        .collect();
    Ok(format!(
        "CREATE TYPE {qualified} AS (\n{}\n);\n",
        attributes.join(",\n")
    ))
}

async fn range_definition(cx: &Cx<'_>, oid: u32, qualified: &str) -> Result<String, PgError> {
    let multirange_name = if cx.version >= 140000 {
        "(SELECT pg_catalog.format('%I.%I', mn.nspname, mt.typname) FROM pg_catalog.pg_type mt \
           JOIN pg_catalog.pg_namespace mn ON mn.oid = mt.typnamespace WHERE mt.oid = r.rngmultitypid)"
    } else {
        "NULL::text"
    };
    let sql = format!(
        "SELECT pg_catalog.format_type(r.rngsubtype, NULL), \
                (SELECT pg_catalog.format('%I.%I', on_.nspname, oc.opcname) FROM pg_catalog.pg_opclass oc \
                   JOIN pg_catalog.pg_namespace on_ ON on_.oid = oc.opcnamespace \
                  WHERE oc.oid = r.rngsubopc AND NOT oc.opcdefault), \
                CASE WHEN r.rngcollation <> 0 AND r.rngcollation <> st.typcollation THEN \
                  (SELECT pg_catalog.format('%I.%I', cn.nspname, co.collname) FROM pg_catalog.pg_collation co \
                     JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = r.rngcollation) END, \
                NULLIF(r.rngcanonical, 0)::regproc::text, NULLIF(r.rngsubdiff, 0)::regproc::text, \
                {multirange_name} \
         FROM pg_catalog.pg_range r JOIN pg_catalog.pg_type st ON st.oid = r.rngsubtype \
         WHERE r.rngtypid = $1"
    );
    let rows = cx.query("range type", &sql, &[&oid]).await?;
    let Some(row) = rows.first() else {
        return Ok(String::new());
    };
    let mut options = vec![format!("subtype = {}", row.get::<_, String>(0))];
    if let Some(opclass) = row.get::<_, Option<String>>(1) {
        options.push(format!("subtype_opclass = {opclass}"));
    }
    if let Some(collation) = row.get::<_, Option<String>>(2) {
        options.push(format!("collation = {collation}"));
    }
    if let Some(canonical) = row.get::<_, Option<String>>(3) {
        options.push(format!("canonical = {canonical}"));
    }
    if let Some(diff) = row.get::<_, Option<String>>(4) {
        options.push(format!("subtype_diff = {diff}"));
    }
    if let Some(multirange) = row.get::<_, Option<String>>(5) {
        // stated even when it is the derived default: explicit is identical on restore
        options.push(format!("multirange_type_name = {multirange}"));
    }
    Ok(format!(
        "CREATE TYPE {qualified} AS RANGE (\n    {}\n);\n",
        options.join(",\n    ")
    ))
}

async fn domain_definition(
    cx: &Cx<'_>,
    oid: u32,
    qualified: &str,
) -> Result<(String, Vec<u32>), PgError> {
    let rows = cx
        .query(
            "domain",
            "SELECT pg_catalog.format_type(t.typbasetype, t.typtypmod), t.typnotnull, t.typdefault, \
                    CASE WHEN t.typcollation <> 0 AND t.typcollation <> bt.typcollation THEN \
                      (SELECT pg_catalog.format('%I.%I', cn.nspname, co.collname) FROM pg_catalog.pg_collation co \
                         JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = t.typcollation) END \
             FROM pg_catalog.pg_type t JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype WHERE t.oid = $1",
            &[&oid],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok((String::new(), Vec::new()));
    };
    let mut defn = format!("CREATE DOMAIN {qualified} AS {}", row.get::<_, String>(0));
    if let Some(collation) = row.get::<_, Option<String>>(3) {
        defn.push_str(&format!(" COLLATE {collation}"));
    }
    if let Some(default) = row.get::<_, Option<String>>(2) {
        defn.push_str(&format!(" DEFAULT {default}"));
    }
    if row.get::<_, bool>(1) {
        defn.push_str(" NOT NULL");
    }
    let constraints = cx
        .query(
            "domain constraints",
            "SELECT oid, pg_catalog.quote_ident(conname), pg_catalog.pg_get_constraintdef(oid), convalidated, \
                    contype = 'c' \
             FROM pg_catalog.pg_constraint WHERE contypid = $1 ORDER BY conname",
            &[&oid],
        )
        .await?;
    let mut oids = Vec::new();
    let mut not_valid = Vec::new();
    for c in &constraints {
        oids.push(c.get::<_, u32>(0));
        if !c.get::<_, bool>(4) {
            // PostgreSQL 17 records NOT NULL as a constraint too; typnotnull already says it
            continue;
        }
        let (name, definition): (String, String) = (c.get(1), c.get(2));
        if c.get::<_, bool>(3) {
            defn.push_str(&format!("\n\tCONSTRAINT {name} {definition}"));
        } else {
            not_valid.push(format!(
                "ALTER DOMAIN {qualified} ADD CONSTRAINT {name} {definition};\n"
            ));
        }
    }
    defn.push_str(";\n");
    for statement in not_valid {
        defn.push_str(&statement);
    }
    Ok((defn, oids))
}
