//! Operator families and classes, as pg_dump's `dumpOpfamily` and `dumpOpclass` write them.
//!
//! A family is `CREATE OPERATOR FAMILY ... USING am;`, followed by one `ALTER OPERATOR FAMILY
//! ... ADD` listing its loose members (operators and support functions tied to the family itself
//! in `pg_depend`, such as cross-type members). A class is `CREATE OPERATOR CLASS ... [DEFAULT]
//! FOR TYPE ... USING am FAMILY schema.family AS` with its storage type and the members tied to
//! the class; a class with no member gets a no-op `STORAGE <its type>` so the statement parses.
//! The family a class made implicitly is a family like any other and is dumped too. Members are
//! listed in strategy / support-number order; operators and functions come from `regoperator` /
//! `regprocedure` under the dump's empty search_path, so everything outside pg_catalog is
//! schema-qualified. Members sharing a number (cross-type members of a family) come in whatever
//! order the server's sort leaves them, so they are read per object with pg_dump's own queries,
//! which the server executes, and orders, the same way. Both kinds share pg_dump's priority;
//! each depends on the operators, functions and families its members name.

use super::{CatalogSession, Entry, Kind, ObjKey, USER_SCHEMA, catalog, row_not_extension_member};
use crate::pg::connect::PgError;

/// Collects operator families and classes.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let mut entries = families(cx).await?;
    entries.extend(classes(cx).await?);
    Ok(entries)
}

/// Operator families with their loose members.
async fn families(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT f.tableoid, f.oid, n.nspname, f.opfname, \
                pg_catalog.quote_ident(f.opfname) AS quoted, \
                pg_catalog.format('%I.%I', n.nspname, f.opfname) AS qualified, \
                pg_catalog.quote_ident(a.amname) AS amname, \
                pg_catalog.obj_description(f.oid, 'pg_opfamily') AS description \
         FROM pg_catalog.pg_opfamily f \
         JOIN pg_catalog.pg_namespace n ON n.oid = f.opfnamespace \
         JOIN pg_catalog.pg_am a ON a.oid = f.opfmethod \
         WHERE {USER_SCHEMA} AND {} ORDER BY n.nspname, f.opfname, a.amname",
        row_not_extension_member("f")
    );
    let mut entries = Vec::new();
    for row in cx.query("operator families", &sql, &[]).await? {
        let oid: u32 = row.get("oid");
        let qualified: String = row.get("qualified");
        let quoted: String = row.get("quoted");
        let am: String = row.get("amname");
        let members = members(cx, "pg_opfamily", oid, oid).await?;
        let mut defn = format!("CREATE OPERATOR FAMILY {qualified} USING {am};\n");
        if !members.items.is_empty() {
            defn.push_str(&format!(
                "ALTER OPERATOR FAMILY {qualified} USING {am} ADD\n    {};\n",
                members.items.join(" ,\n    ")
            ));
        }
        let mut entry = Entry::new(
            ObjKey::new(row.get("tableoid"), oid),
            Kind::OperatorFamily,
            "OPERATOR FAMILY",
            row.get::<_, String>("opfname"),
            defn,
        );
        entry.namespace = Some(row.get("nspname"));
        entry.drop_stmt = Some(format!("DROP OPERATOR FAMILY {qualified} USING {am};\n"));
        entry.deps = members.deps;
        entry.comment(
            row.get("description"),
            format!("OPERATOR FAMILY {quoted} USING {am}"),
            &format!("OPERATOR FAMILY {qualified} USING {am}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}

/// Operator classes with their members.
async fn classes(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT c.tableoid, c.oid, n.nspname, c.opcname, \
                pg_catalog.quote_ident(c.opcname) AS quoted, \
                pg_catalog.format('%I.%I', n.nspname, c.opcname) AS qualified, \
                pg_catalog.quote_ident(a.amname) AS amname, c.opcdefault, \
                c.opcintype::pg_catalog.regtype::text AS opcintype, \
                CASE WHEN c.opckeytype <> 0 \
                     THEN c.opckeytype::pg_catalog.regtype::text END AS opckeytype, \
                CASE WHEN f.oid IS NOT NULL \
                     THEN pg_catalog.format('%I.%I', fn.nspname, f.opfname) END AS family, \
                c.opcfamily, pg_catalog.obj_description(c.oid, 'pg_opclass') AS description \
         FROM pg_catalog.pg_opclass c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.opcnamespace \
         JOIN pg_catalog.pg_am a ON a.oid = c.opcmethod \
         LEFT JOIN pg_catalog.pg_opfamily f ON f.oid = c.opcfamily \
         LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = f.opfnamespace \
         WHERE {USER_SCHEMA} AND {} ORDER BY n.nspname, c.opcname, a.amname",
        row_not_extension_member("c")
    );
    let mut entries = Vec::new();
    for row in cx.query("operator classes", &sql, &[]).await? {
        let oid: u32 = row.get("oid");
        let qualified: String = row.get("qualified");
        let quoted: String = row.get("quoted");
        let am: String = row.get("amname");
        let intype: String = row.get("opcintype");
        let mut defn = format!("CREATE OPERATOR CLASS {qualified}\n    ");
        if row.get::<_, bool>("opcdefault") {
            defn.push_str("DEFAULT ");
        }
        defn.push_str(&format!("FOR TYPE {intype} USING {am}"));
        if let Some(family) = row.get::<_, Option<String>>("family") {
            defn.push_str(&format!(" FAMILY {family}"));
        }
        defn.push_str(" AS\n    ");
        let members = members(cx, "pg_opclass", oid, row.get("opcfamily")).await?;
        let mut items = Vec::new();
        if let Some(storage) = row.get::<_, Option<String>>("opckeytype") {
            items.push(format!("STORAGE {storage}"));
        }
        items.extend(members.items);
        if items.is_empty() {
            // accepted and ignored by the server: keeps the statement valid
            items.push(format!("STORAGE {intype}"));
        }
        defn.push_str(&items.join(" ,\n    "));
        defn.push_str(";\n");
        let mut entry = Entry::new(
            ObjKey::new(row.get("tableoid"), oid),
            Kind::OperatorFamily,
            "OPERATOR CLASS",
            row.get::<_, String>("opcname"),
            defn,
        );
        entry.namespace = Some(row.get("nspname"));
        entry.drop_stmt = Some(format!("DROP OPERATOR CLASS {qualified} USING {am};\n"));
        entry.deps = members.deps;
        entry.comment(
            row.get("description"),
            format!("OPERATOR CLASS {quoted} USING {am}"),
            &format!("OPERATOR CLASS {qualified} USING {am}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}

/// The members tied (in `pg_depend`) to one family or class.
#[derive(Debug, Default)]
struct Members {
    /// `OPERATOR n op(l,r) [FOR ORDER BY s.f]` items, then `FUNCTION n (l, r) f(args)` items.
    items: Vec<String>,
    /// The operators, functions and sort families they name.
    deps: Vec<ObjKey>,
}

/// The members tied to the object `owner` of `catalog_name` (`pg_opfamily` or `pg_opclass`);
/// operators must also belong to `family` (the class's family), as pg_dump requires. The FROM,
/// WHERE and ORDER BY clauses are pg_dump's, OIDs written into the text as it writes them.
async fn members(
    cx: &CatalogSession<'_>,
    catalog_name: &str,
    owner: u32,
    family: u32,
) -> Result<Members, PgError> {
    let operators = format!(
        "SELECT amopstrategy::pg_catalog.int4 AS number, \
                amopopr::pg_catalog.regoperator::pg_catalog.text AS operator, \
                amopopr::pg_catalog.oid AS operator_oid, \
                'pg_catalog.pg_operator'::pg_catalog.regclass::pg_catalog.oid AS operator_catalog, \
                CASE WHEN f.oid IS NOT NULL \
                     THEN pg_catalog.format('%I.%I', nspname, opfname) END AS sort_family, \
                f.tableoid AS sort_family_catalog, f.oid AS sort_family_oid \
         FROM pg_catalog.pg_amop ao JOIN pg_catalog.pg_depend ON \
         (classid = 'pg_catalog.pg_amop'::pg_catalog.regclass AND objid = ao.oid) \
         LEFT JOIN pg_catalog.pg_opfamily f ON f.oid = amopsortfamily \
         LEFT JOIN pg_catalog.pg_namespace n ON n.oid = opfnamespace \
         WHERE refclassid = 'pg_catalog.{catalog_name}'::pg_catalog.regclass \
         AND refobjid = '{owner}'::pg_catalog.oid \
         AND amopfamily = '{family}'::pg_catalog.oid \
         ORDER BY amopstrategy"
    );
    let functions = format!(
        "SELECT amprocnum::pg_catalog.int4 AS number, amproc::pg_catalog.oid AS proc_oid, \
                amproc::pg_catalog.regprocedure::pg_catalog.text AS proc, \
                amproclefttype::pg_catalog.regtype::pg_catalog.text AS lefttype, \
                amprocrighttype::pg_catalog.regtype::pg_catalog.text AS righttype \
         FROM pg_catalog.pg_amproc ap, pg_catalog.pg_depend \
         WHERE refclassid = 'pg_catalog.{catalog_name}'::pg_catalog.regclass \
         AND refobjid = '{owner}'::pg_catalog.oid \
         AND classid = 'pg_catalog.pg_amproc'::pg_catalog.regclass \
         AND objid = ap.oid \
         ORDER BY amprocnum"
    );
    let mut members = Members::default();
    for row in cx.query("operator family members", &operators, &[]).await? {
        let mut item = format!(
            "OPERATOR {} {}",
            row.get::<_, i32>("number"),
            row.get::<_, String>("operator")
        );
        if let Some(sort_family) = row.get::<_, Option<String>>("sort_family") {
            item.push_str(&format!(" FOR ORDER BY {sort_family}"));
            members.deps.push(ObjKey::new(
                row.get("sort_family_catalog"),
                row.get("sort_family_oid"),
            ));
        }
        members.items.push(item);
        members.deps.push(ObjKey::new(
            row.get("operator_catalog"),
            row.get("operator_oid"),
        ));
    }
    for row in cx.query("operator family members", &functions, &[]).await? {
        members.items.push(format!(
            "FUNCTION {} ({}, {}) {}",
            row.get::<_, i32>("number"),
            row.get::<_, String>("lefttype"),
            row.get::<_, String>("righttype"),
            row.get::<_, String>("proc")
        ));
        members
            .deps
            .push(ObjKey::new(catalog::PROC, row.get("proc_oid")));
    }
    Ok(members)
}
