//! Functions, procedures and aggregates.
//!
//! Functions, window functions and procedures are deparsed by the server
//! (`pg_get_functiondef`, which under the dump's empty search_path qualifies every name).
//! Aggregates have no server-side deparser, so `CREATE AGGREGATE` is assembled from
//! `pg_aggregate` the way pg_dump's `dumpAgg` does: transition function and state type,
//! initial condition, final function (and its extra/modify options), combine, serial/deserial
//! functions, the moving-aggregate variants, sort operator, HYPOTHETICAL and parallel safety.
//!
//! Tags follow pg_dump: the unquoted name and the input argument types (`add(integer, integer)`,
//! `count(*)` for an aggregate without arguments); DROP and COMMENT use the identity arguments,
//! which keep argument names and modes.

use std::collections::HashMap;

use super::{Cx, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member, not_internal};
use crate::pg::connect::PgError;
use crate::pg::quote::literal;

/// Collects functions, procedures and aggregates.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT p.oid, n.nspname, p.proname, pg_catalog.format('%I.%I', n.nspname, p.proname), \
                pg_catalog.quote_ident(p.proname), p.prokind::text, \
                pg_catalog.pg_get_function_identity_arguments(p.oid), \
                (SELECT pg_catalog.string_agg(pg_catalog.format_type(a.t, NULL), ', ' ORDER BY a.i) \
                   FROM pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]) WITH ORDINALITY AS a(t, i)), \
                CASE WHEN p.prokind <> 'a' THEN pg_catalog.pg_get_functiondef(p.oid) END, \
                pg_catalog.obj_description(p.oid, 'pg_proc') \
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
         WHERE p.prokind IN ('f', 'p', 'w', 'a') AND {USER_SCHEMA} AND {} AND {} \
         ORDER BY n.nspname, p.proname, p.oid",
        not_extension_member(catalog::PROC, "p.oid"),
        not_internal(catalog::PROC, "p.oid")
    );
    let rows = cx.query("functions", &sql, &[]).await?;
    let mut aggregates = aggregate_bodies(cx).await?;
    let mut entries = Vec::new();
    for row in rows {
        let oid: u32 = row.get(0);
        let namespace: String = row.get(1);
        let name: String = row.get(2);
        let qualified: String = row.get(3);
        let quoted: String = row.get(4);
        let prokind: String = row.get(5);
        let identity: String = row.get(6);
        let types: Option<String> = row.get(7);
        let definition: Option<String> = row.get(8);
        let comment: Option<String> = row.get(9);
        let types = types.unwrap_or_default();

        let (kind, desc, defn, identity, tag) = if prokind == "a" {
            // pg_get_function_*arguments print nothing for an aggregate over `*`
            let (identity, tag) = if types.is_empty() {
                ("*".to_string(), format!("{name}(*)"))
            } else {
                (identity, format!("{name}({types})"))
            };
            let Some(body) = aggregates.remove(&oid) else {
                continue;
            };
            (Kind::Aggregate, "AGGREGATE", body, identity, tag)
        } else {
            let desc = if prokind == "p" {
                "PROCEDURE"
            } else {
                "FUNCTION"
            };
            let defn = format!("{};\n", definition.unwrap_or_default().trim_end());
            (
                Kind::Function,
                desc,
                defn,
                identity,
                format!("{name}({types})"),
            )
        };
        let mut entry = Entry::new(ObjKey::new(catalog::PROC, oid), kind, desc, tag, defn);
        entry.namespace = Some(namespace);
        entry.drop_stmt = Some(format!("DROP {desc} {qualified}({identity});\n"));
        entry.comment(
            comment,
            format!("{desc} {quoted}({identity})"),
            &format!("{desc} {qualified}({identity})"),
        );
        entries.push(entry);
    }
    Ok(entries)
}

/// `CREATE AGGREGATE` statements by aggregate OID.
async fn aggregate_bodies(cx: &Cx<'_>) -> Result<HashMap<u32, String>, PgError> {
    // regproc, format_type and the operator name are schema-qualified under the empty
    // search_path (pg_catalog objects excepted), so they can be written as they come
    let sql = format!(
        "SELECT a.aggfnoid::pg_catalog.oid, pg_catalog.format('%I.%I', n.nspname, p.proname), \
                a.aggkind::text, pg_catalog.pg_get_function_arguments(p.oid), \
                a.aggtransfn::pg_catalog.text, pg_catalog.format_type(a.aggtranstype, NULL), \
                a.aggtransspace, a.agginitval, \
                CASE WHEN a.aggfinalfn::pg_catalog.oid <> 0 THEN a.aggfinalfn::pg_catalog.text END, \
                a.aggfinalextra, a.aggfinalmodify::text, \
                CASE WHEN a.aggcombinefn::pg_catalog.oid <> 0 THEN a.aggcombinefn::pg_catalog.text END, \
                CASE WHEN a.aggserialfn::pg_catalog.oid <> 0 THEN a.aggserialfn::pg_catalog.text END, \
                CASE WHEN a.aggdeserialfn::pg_catalog.oid <> 0 THEN a.aggdeserialfn::pg_catalog.text END, \
                CASE WHEN a.aggmtransfn::pg_catalog.oid <> 0 THEN a.aggmtransfn::pg_catalog.text END, \
                a.aggminvtransfn::pg_catalog.text, \
                CASE WHEN a.aggmtranstype <> 0 THEN pg_catalog.format_type(a.aggmtranstype, NULL) END, \
                a.aggmtransspace, a.aggminitval, \
                CASE WHEN a.aggmfinalfn::pg_catalog.oid <> 0 THEN a.aggmfinalfn::pg_catalog.text END, \
                a.aggmfinalextra, a.aggmfinalmodify::text, \
                (SELECT pg_catalog.format('OPERATOR(%I.%s)', opn.nspname, o.oprname) \
                   FROM pg_catalog.pg_operator o \
                   JOIN pg_catalog.pg_namespace opn ON opn.oid = o.oprnamespace \
                  WHERE o.oid = a.aggsortop), \
                p.proparallel::text \
         FROM pg_catalog.pg_aggregate a \
         JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid \
         JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
         WHERE {USER_SCHEMA} AND {}",
        not_extension_member(catalog::PROC, "p.oid")
    );
    let mut out = HashMap::new();
    for row in cx.query("aggregates", &sql, &[]).await? {
        let oid: u32 = row.get(0);
        let qualified: String = row.get(1);
        let aggkind: String = row.get(2);
        let arguments: String = row.get(3);
        // what DefineAggregate assumes when FINALFUNC_MODIFY is not given
        let default_modify = if aggkind == "n" { "r" } else { "w" };
        let modify = |code: String| -> Option<&'static str> {
            match code.as_str() {
                c if c == default_modify => None,
                "r" => Some("READ_ONLY"),
                "s" => Some("SHAREABLE"),
                _ => Some("READ_WRITE"),
            }
        };

        let mut options = vec![
            format!("SFUNC = {}", row.get::<_, String>(4)),
            format!("STYPE = {}", row.get::<_, String>(5)),
        ];
        let transspace: i32 = row.get(6);
        if transspace != 0 {
            options.push(format!("SSPACE = {transspace}"));
        }
        if let Some(init) = row.get::<_, Option<String>>(7) {
            options.push(format!("INITCOND = {}", literal(&init)));
        }
        if let Some(final_fn) = row.get::<_, Option<String>>(8) {
            options.push(format!("FINALFUNC = {final_fn}"));
            if row.get::<_, bool>(9) {
                options.push("FINALFUNC_EXTRA".into());
            }
            if let Some(m) = modify(row.get(10)) {
                options.push(format!("FINALFUNC_MODIFY = {m}"));
            }
        }
        for (index, label) in [
            (11, "COMBINEFUNC"),
            (12, "SERIALFUNC"),
            (13, "DESERIALFUNC"),
        ] {
            if let Some(f) = row.get::<_, Option<String>>(index) {
                options.push(format!("{label} = {f}"));
            }
        }
        if let Some(msfunc) = row.get::<_, Option<String>>(14) {
            options.push(format!("MSFUNC = {msfunc}"));
            options.push(format!("MINVFUNC = {}", row.get::<_, String>(15)));
            if let Some(mstype) = row.get::<_, Option<String>>(16) {
                options.push(format!("MSTYPE = {mstype}"));
            }
        }
        let mspace: i32 = row.get(17);
        if mspace != 0 {
            options.push(format!("MSSPACE = {mspace}"));
        }
        if let Some(init) = row.get::<_, Option<String>>(18) {
            options.push(format!("MINITCOND = {}", literal(&init)));
        }
        if let Some(f) = row.get::<_, Option<String>>(19) {
            options.push(format!("MFINALFUNC = {f}"));
            if row.get::<_, bool>(20) {
                options.push("MFINALFUNC_EXTRA".into());
            }
            if let Some(m) = modify(row.get(21)) {
                options.push(format!("MFINALFUNC_MODIFY = {m}"));
            }
        }
        if let Some(sortop) = row.get::<_, Option<String>>(22) {
            options.push(format!("SORTOP = {sortop}"));
        }
        if aggkind == "h" {
            options.push("HYPOTHETICAL".into());
        }
        match row.get::<_, String>(23).as_str() {
            "s" => options.push("PARALLEL = safe".into()),
            "r" => options.push("PARALLEL = restricted".into()),
            _ => {}
        }
        // ordered-set aggregates: pg_get_function_arguments prints "direct ORDER BY aggregated"
        let signature = if arguments.is_empty() {
            "*".to_string()
        } else {
            arguments
        };
        out.insert(
            oid,
            format!(
                "CREATE AGGREGATE {qualified}({signature}) (\n    {}\n);\n",
                options.join(",\n    ")
            ),
        );
    }
    Ok(out)
}
