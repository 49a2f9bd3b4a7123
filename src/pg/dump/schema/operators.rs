//! Operators (`CREATE OPERATOR`), as pg_dump's `dumpOpr` writes them.
//!
//! The statement lists the function, the argument types (a prefix operator has no LEFTARG), the
//! commutator and negator as `OPERATOR(schema.name)`, MERGES, HASHES and the selectivity
//! estimators, each function without its argument list. Names and types come from the
//! catalogs' reg* output under the dump's empty search_path, so everything outside pg_catalog
//! is schema-qualified. The tag is the bare operator name (several operators may share it); the
//! comment names the operator with its argument types, `NONE` for a missing one.
//!
//! A shell operator (no function yet: what a COMMUTATOR or NEGATOR clause creates for an
//! operator never defined) is claimed but not dumped, as pg_dump skips it: restoring the
//! operators that mention it recreates it.

use super::{CatalogSession, Entry, Kind, ObjKey, USER_SCHEMA, row_not_extension_member};
use crate::pg::connect::PgError;

/// Collects operators.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let other = |column: &str| {
        format!(
            "(SELECT pg_catalog.format('OPERATOR(%s.%s)', pg_catalog.quote_ident(rn.nspname), \
                     r.oprname) \
              FROM pg_catalog.pg_operator r \
              JOIN pg_catalog.pg_namespace rn ON rn.oid = r.oprnamespace \
              WHERE r.oid = o.{column})"
        )
    };
    let sql = format!(
        "SELECT o.tableoid, o.oid, n.nspname, pg_catalog.quote_ident(n.nspname) AS qnspname, \
                o.oprname, o.oprkind::text AS oprkind, o.oprcode::oid AS oprcodeoid, \
                o.oprcode::pg_catalog.regprocedure::text AS oprcode, \
                o.oprleft::pg_catalog.regtype::text AS oprleft, \
                o.oprright::pg_catalog.regtype::text AS oprright, \
                {} AS oprcom, {} AS oprnegate, \
                o.oprrest::pg_catalog.regprocedure::text AS oprrest, \
                o.oprjoin::pg_catalog.regprocedure::text AS oprjoin, \
                o.oprcanmerge, o.oprcanhash, \
                pg_catalog.obj_description(o.oid, 'pg_operator') AS description \
         FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace \
         WHERE {USER_SCHEMA} AND {} \
         ORDER BY n.nspname, o.oprname, o.oid",
        other("oprcom"),
        other("oprnegate"),
        row_not_extension_member("o")
    );
    let mut entries = Vec::new();
    for row in cx.query("operators", &sql, &[]).await? {
        let key = ObjKey::new(row.get("tableoid"), row.get("oid"));
        let name: String = row.get("oprname");
        let code: u32 = row.get("oprcodeoid");
        if code == 0 {
            // a shell: claimed, not dumped
            entries.push(Entry::new(key, Kind::Operator, "OPERATOR", &name, ""));
            continue;
        }
        let qnspname: String = row.get("qnspname");
        let kind: String = row.get("oprkind");
        let left: String = row.get("oprleft");
        let right: String = row.get("oprright");

        let mut details = format!("    FUNCTION = {}", function_name(row.get("oprcode")));
        let mut identity = format!("{name} (");
        if kind == "b" || kind == "r" {
            details.push_str(&format!(",\n    LEFTARG = {left}"));
            identity.push_str(&left);
        } else {
            identity.push_str("NONE");
        }
        if kind == "b" || kind == "l" {
            details.push_str(&format!(",\n    RIGHTARG = {right}"));
            identity.push_str(&format!(", {right})"));
        } else {
            identity.push_str(", NONE)");
        }
        if let Some(commutator) = row.get::<_, Option<String>>("oprcom") {
            details.push_str(&format!(",\n    COMMUTATOR = {commutator}"));
        }
        if let Some(negator) = row.get::<_, Option<String>>("oprnegate") {
            details.push_str(&format!(",\n    NEGATOR = {negator}"));
        }
        if row.get::<_, bool>("oprcanmerge") {
            details.push_str(",\n    MERGES");
        }
        if row.get::<_, bool>("oprcanhash") {
            details.push_str(",\n    HASHES");
        }
        for (clause, column) in [("RESTRICT", "oprrest"), ("JOIN", "oprjoin")] {
            let function: String = row.get(column);
            if function != "-" {
                details.push_str(&format!(",\n    {clause} = {}", function_name(function)));
            }
        }

        let mut entry = Entry::new(
            key,
            Kind::Operator,
            "OPERATOR",
            &name,
            format!("CREATE OPERATOR {qnspname}.{name} (\n{details}\n);\n"),
        );
        entry.namespace = Some(row.get("nspname"));
        entry.drop_stmt = Some(format!("DROP OPERATOR {qnspname}.{identity};\n"));
        entry.comment(
            row.get("description"),
            format!("OPERATOR {identity}"),
            &format!("OPERATOR {qnspname}.{identity}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}

/// A function reference as `regprocedure` prints it, without its argument list (pg_dump's
/// `convertRegProcReference`): `geo."f(x)"(integer)` → `geo."f(x)"`.
fn function_name(regprocedure: String) -> String {
    let mut quoted = false;
    for (at, c) in regprocedure.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => return regprocedure[..at].to_string(),
            _ => {}
        }
    }
    regprocedure
}

#[cfg(test)]
mod tests {
    use super::function_name;

    #[test]
    fn argument_lists_are_cut_outside_quotes_only() {
        assert_eq!(function_name("int4eq(integer,integer)".into()), "int4eq");
        assert_eq!(
            function_name("geo.\"f(x)\"(geo.cents)".into()),
            "geo.\"f(x)\""
        );
        assert_eq!(function_name("-".into()), "-");
    }
}
