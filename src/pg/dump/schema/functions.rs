//! Functions, procedures and aggregates.
//!
//! Functions and procedures are deparsed by the server (`pg_get_functiondef`, which under the
//! dump's empty search_path qualifies every name). Aggregates have no server-side deparser, so
//! `CREATE AGGREGATE` is assembled from `pg_aggregate` like pg_dump does: transition function
//! and state type, initial condition, final function (and its extra/modify options), combine,
//! serial/deserial functions, the moving-aggregate variants, sort operator and parallel safety.

use super::{Cx, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member, not_internal};
use crate::pg::connect::PgError;
use crate::pg::quote::literal;

/// Collects functions, procedures and aggregates.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT p.oid, n.nspname, p.proname, pg_catalog.format('%I.%I', n.nspname, p.proname), \
                p.prokind::text, pg_catalog.pg_get_function_identity_arguments(p.oid), \
                CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_catalog.pg_get_functiondef(p.oid) END, \
                pg_catalog.obj_description(p.oid, 'pg_proc') \
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
         WHERE {USER_SCHEMA} AND {} AND {} ORDER BY n.nspname, p.proname, p.oid",
        not_extension_member(catalog::PROC, "p.oid"),
        not_internal(catalog::PROC, "p.oid")
    );
    let aggregates = aggregate_definitions(cx).await?;
    let mut entries = Vec::new();
    for row in cx.query("functions", &sql, &[]).await? {
        let oid: u32 = row.get(0);
        let namespace: String = row.get(1);
        let name: String = row.get(2);
        let qualified: String = row.get(3);
        let prokind: String = row.get(4);
        let arguments: String = row.get(5);
        let definition: Option<String> = row.get(6);
        let comment: Option<String> = row.get(7);
        let (kind, desc, defn) = match prokind.as_str() {
            "a" => {
                let Some(body) = aggregates
                    .iter()
                    .find(|(o, _)| *o == oid)
                    .map(|(_, b)| b.clone())
                else {
                    continue;
                };
                (Kind::Aggregate, "AGGREGATE", body)
            }
            "p" => (
                Kind::Function,
                "PROCEDURE",
                format!("{};\n", definition.unwrap_or_default().trim_end()),
            ),
            _ => (
                Kind::Function,
                "FUNCTION",
                format!("{};\n", definition.unwrap_or_default().trim_end()),
            ),
        };
        let signature = format!("{qualified}({arguments})");
        let mut entry = Entry::new(
            ObjKey::new(catalog::PROC, oid),
            kind,
            desc,
            format!("{name}({arguments})"),
            defn,
        );
        entry.namespace = Some(namespace);
        entry.drop_stmt = Some(format!("DROP {desc} {signature};\n"));
        entry.comment(
            comment,
            format!("{desc} {name}({arguments})"),
            &format!("{desc} {signature}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}

/// `CREATE AGGREGATE` statements by aggregate OID.
async fn aggregate_definitions(cx: &Cx<'_>) -> Result<Vec<(u32, String)>, PgError> {
    let sql = format!(
        "SELECT a.aggfnoid::oid, pg_catalog.format('%I.%I', n.nspname, p.proname), a.aggkind::text, \
                pg_catalog.pg_get_function_arguments(p.oid), \
                a.aggtransfn::text, pg_catalog.format_type(a.aggtranstype, NULL), a.aggtransspace, \
                a.agginitval, NULLIF(a.aggfinalfn, 0)::regproc::text, a.aggfinalextra, \
                a.aggfinalmodify::text, NULLIF(a.aggcombinefn, 0)::regproc::text, \
                NULLIF(a.aggserialfn, 0)::regproc::text, NULLIF(a.aggdeserialfn, 0)::regproc::text, \
                NULLIF(a.aggmtransfn, 0)::regproc::text, NULLIF(a.aggminvtransfn, 0)::regproc::text, \
                CASE WHEN a.aggmtranstype <> 0 THEN pg_catalog.format_type(a.aggmtranstype, NULL) END, \
                a.aggmtransspace, a.aggminitval, NULLIF(a.aggmfinalfn, 0)::regproc::text, \
                a.aggmfinalextra, a.aggmfinalmodify::text, \
                CASE WHEN a.aggsortop <> 0 THEN a.aggsortop::regoperator::text END, \
                p.proparallel::text \
         FROM pg_catalog.pg_aggregate a \
         JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid \
         JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
         WHERE {USER_SCHEMA} AND {}",
        not_extension_member(catalog::PROC, "p.oid")
    );
    let mut out = Vec::new();
    for row in cx.query("aggregates", &sql, &[]).await? {
        let oid: u32 = row.get(0);
        let qualified: String = row.get(1);
        let aggkind: String = row.get(2);
        let arguments: String = row.get(3);
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
        }
        let modify = |code: &str, default: &str| -> Option<&'static str> {
            (code != default).then_some(match code {
                "r" => "READ_ONLY",
                "s" => "SHAREABLE",
                _ => "READ_WRITE",
            })
        };
        let default_modify = if aggkind == "n" { "r" } else { "w" };
        if let Some(m) = modify(&row.get::<_, String>(10), default_modify) {
            options.push(format!("FINALFUNC_MODIFY = {m}"));
        }
        for (index, label) in [
            (11, "COMBINEFUNC"),
            (12, "SERIALFUNC"),
            (13, "DESERIALFUNC"),
            (14, "MSFUNC"),
            (15, "MINVFUNC"),
        ] {
            if let Some(f) = row.get::<_, Option<String>>(index) {
                options.push(format!("{label} = {f}"));
            }
        }
        if let Some(mstype) = row.get::<_, Option<String>>(16) {
            options.push(format!("MSTYPE = {mstype}"));
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
            }
            if let Some(m) = modify(&row.get::<_, String>(21), default_modify) {
                options.push(format!("MFINALFUNC_MODIFY = {m}"));
            }
        }
        if let Some(sortop) = row.get::<_, Option<String>>(22) {
            options.push(format!(
                "SORTOP = OPERATOR({sortop})",
                sortop = sortop.split('(').next().unwrap_or_default()
            ));
        }
        match row.get::<_, String>(23).as_str() {
            "s" => options.push("PARALLEL = safe".into()),
            "r" => options.push("PARALLEL = restricted".into()),
            _ => {}
        }
        if aggkind == "h" {
            options.push("HYPOTHETICAL".into());
        }
        let signature = if aggkind == "n" {
            if arguments.is_empty() {
                "*".to_string()
            } else {
                arguments
            }
        } else {
            // ordered-set aggregates: "direct args ORDER BY aggregated args" is what
            // pg_get_function_arguments already prints
            arguments
        };
        out.push((
            oid,
            format!(
                "CREATE AGGREGATE {qualified}({signature}) (\n    {}\n);\n",
                options.join(",\n    ")
            ),
        ));
    }
    Ok(out)
}
