//! Aggregates (CREATE AGGREGATE), assembled from `pg_aggregate` the way pg_dump's `dumpAgg`
//! writes them, since the server has no deparser for them: transition function and state type,
//! state size, initial condition, final function (and its extra/modify options), combine,
//! serial/deserial functions, the moving-aggregate variants, sort operator, HYPOTHETICAL and
//! parallel safety, one option a line.
//!
//! Function references are `regproc` output and types `regtype` output: under the dump's empty
//! search_path both are schema-qualified unless they live in `pg_catalog`. Tags are the unquoted
//! name and input types (`count(*)` for an aggregate over no arguments); DROP and COMMENT use
//! the identity arguments, which for ordered-set aggregates read `direct ORDER BY aggregated`.

use super::super::{
    CatalogSession, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member, not_internal,
};
use crate::pg::connect::PgError;
use crate::pg::quote::literal;

/// One aggregate as read from the catalog (`regproc` columns print `-` for none).
#[derive(Debug, Clone, Default)]
struct Aggregate {
    oid: u32,
    namespace: String,
    qnamespace: String,
    name: String,
    qname: String,
    /// Number of arguments (0 prints as `*`).
    nargs: i16,
    args: String,
    identity_args: String,
    arg_types: String,
    /// `n` normal, `o` ordered-set, `h` hypothetical.
    aggkind: String,
    transfn: String,
    transtype: String,
    transspace: i32,
    initval: Option<String>,
    finalfn: String,
    finalextra: bool,
    finalmodify: String,
    combinefn: String,
    serialfn: String,
    deserialfn: String,
    mtransfn: String,
    minvtransfn: String,
    mtranstype: String,
    mtransspace: i32,
    minitval: Option<String>,
    mfinalfn: String,
    mfinalextra: bool,
    mfinalmodify: String,
    /// `OPERATOR(schema.op)`.
    sortop: Option<String>,
    proparallel: String,
    comment: Option<String>,
}

/// Collects aggregates.
pub(super) async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT p.oid, n.nspname AS namespace, pg_catalog.quote_ident(n.nspname) AS qnamespace, \
                p.proname AS name, pg_catalog.quote_ident(p.proname) AS qname, \
                p.pronargs AS nargs, \
                pg_catalog.pg_get_function_arguments(p.oid) AS args, \
                pg_catalog.pg_get_function_identity_arguments(p.oid) AS identity_args, \
                (SELECT pg_catalog.string_agg(pg_catalog.format_type(t.t, NULL), ', ' ORDER BY t.i) \
                   FROM pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]) \
                        WITH ORDINALITY AS t(t, i)) AS arg_types, \
                a.aggkind::pg_catalog.text AS aggkind, \
                a.aggtransfn::pg_catalog.text AS transfn, \
                a.aggtranstype::pg_catalog.regtype::pg_catalog.text AS transtype, \
                a.aggtransspace AS transspace, a.agginitval AS initval, \
                a.aggfinalfn::pg_catalog.text AS finalfn, a.aggfinalextra AS finalextra, \
                a.aggfinalmodify::pg_catalog.text AS finalmodify, \
                a.aggcombinefn::pg_catalog.text AS combinefn, \
                a.aggserialfn::pg_catalog.text AS serialfn, \
                a.aggdeserialfn::pg_catalog.text AS deserialfn, \
                a.aggmtransfn::pg_catalog.text AS mtransfn, \
                a.aggminvtransfn::pg_catalog.text AS minvtransfn, \
                a.aggmtranstype::pg_catalog.regtype::pg_catalog.text AS mtranstype, \
                a.aggmtransspace AS mtransspace, a.aggminitval AS minitval, \
                a.aggmfinalfn::pg_catalog.text AS mfinalfn, a.aggmfinalextra AS mfinalextra, \
                a.aggmfinalmodify::pg_catalog.text AS mfinalmodify, \
                (SELECT pg_catalog.format('OPERATOR(%I.%s)', opn.nspname, o.oprname) \
                   FROM pg_catalog.pg_operator o \
                   JOIN pg_catalog.pg_namespace opn ON opn.oid = o.oprnamespace \
                  WHERE o.oid = a.aggsortop) AS sortop, \
                p.proparallel::pg_catalog.text AS proparallel, \
                pg_catalog.obj_description(p.oid, 'pg_proc') AS comment \
         FROM pg_catalog.pg_aggregate a \
         JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid \
         JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
         WHERE {USER_SCHEMA} AND {} AND {} \
         ORDER BY n.nspname, p.proname, p.oid",
        not_extension_member(catalog::PROC, "p.oid"),
        not_internal(catalog::PROC, "p.oid"),
    );
    let rows = cx.query("aggregates", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| {
            Aggregate {
                oid: row.get("oid"),
                namespace: row.get("namespace"),
                qnamespace: row.get("qnamespace"),
                name: row.get("name"),
                qname: row.get("qname"),
                nargs: row.get("nargs"),
                args: row.get("args"),
                identity_args: row.get("identity_args"),
                arg_types: row
                    .get::<_, Option<String>>("arg_types")
                    .unwrap_or_default(),
                aggkind: row.get("aggkind"),
                transfn: row.get("transfn"),
                transtype: row.get("transtype"),
                transspace: row.get("transspace"),
                initval: row.get("initval"),
                finalfn: row.get("finalfn"),
                finalextra: row.get("finalextra"),
                finalmodify: row.get("finalmodify"),
                combinefn: row.get("combinefn"),
                serialfn: row.get("serialfn"),
                deserialfn: row.get("deserialfn"),
                mtransfn: row.get("mtransfn"),
                minvtransfn: row.get("minvtransfn"),
                mtranstype: row.get("mtranstype"),
                mtransspace: row.get("mtransspace"),
                minitval: row.get("minitval"),
                mfinalfn: row.get("mfinalfn"),
                mfinalextra: row.get("mfinalextra"),
                mfinalmodify: row.get("mfinalmodify"),
                sortop: row.get("sortop"),
                proparallel: row.get("proparallel"),
                comment: row.get("comment"),
            }
            .entry()
        })
        .collect())
}

impl Aggregate {
    /// `name(arguments)` with the given argument text, `name(*)` for no arguments.
    fn signature(&self, arguments: &str) -> String {
        if self.nargs == 0 {
            format!("{}(*)", self.qname)
        } else {
            format!("{}({arguments})", self.qname)
        }
    }

    /// The archive entry, with its comment.
    fn entry(self) -> Entry {
        let signature = self.signature(&self.identity_args);
        let qualified = format!("{}.{signature}", self.qnamespace);
        let tag = if self.nargs == 0 {
            format!("{}(*)", self.name)
        } else {
            format!("{}({})", self.name, self.arg_types)
        };
        let mut entry = Entry::new(
            ObjKey::new(catalog::PROC, self.oid),
            Kind::Aggregate,
            "AGGREGATE",
            tag,
            self.definition(),
        );
        entry.namespace = Some(self.namespace.clone());
        entry.drop_stmt = Some(format!("DROP AGGREGATE {qualified};\n"));
        entry.comment(
            self.comment,
            format!("AGGREGATE {signature}"),
            &format!("AGGREGATE {qualified}"),
        );
        entry
    }

    /// `CREATE AGGREGATE ...;\n` as dumpAgg writes it.
    fn definition(&self) -> String {
        // what DefineAggregate assumes when FINALFUNC_MODIFY is not given
        let default_modify = if self.aggkind == "n" { "r" } else { "w" };
        let modify = |code: &str| match code {
            c if c == default_modify => None,
            "r" => Some("READ_ONLY"),
            "s" => Some("SHAREABLE"),
            _ => Some("READ_WRITE"),
        };
        let mut options = vec![
            format!("SFUNC = {}", self.transfn),
            format!("STYPE = {}", self.transtype),
        ];
        if self.transspace != 0 {
            options.push(format!("SSPACE = {}", self.transspace));
        }
        if let Some(init) = &self.initval {
            options.push(format!("INITCOND = {}", literal(init)));
        }
        if self.finalfn != "-" {
            options.push(format!("FINALFUNC = {}", self.finalfn));
            if self.finalextra {
                options.push("FINALFUNC_EXTRA".into());
            }
            if let Some(m) = modify(&self.finalmodify) {
                options.push(format!("FINALFUNC_MODIFY = {m}"));
            }
        }
        for (function, label) in [
            (&self.combinefn, "COMBINEFUNC"),
            (&self.serialfn, "SERIALFUNC"),
            (&self.deserialfn, "DESERIALFUNC"),
        ] {
            if function != "-" {
                options.push(format!("{label} = {function}"));
            }
        }
        if self.mtransfn != "-" {
            options.push(format!("MSFUNC = {}", self.mtransfn));
            options.push(format!("MINVFUNC = {}", self.minvtransfn));
            options.push(format!("MSTYPE = {}", self.mtranstype));
        }
        if self.mtransspace != 0 {
            options.push(format!("MSSPACE = {}", self.mtransspace));
        }
        if let Some(init) = &self.minitval {
            options.push(format!("MINITCOND = {}", literal(init)));
        }
        if self.mfinalfn != "-" {
            options.push(format!("MFINALFUNC = {}", self.mfinalfn));
            if self.mfinalextra {
                options.push("MFINALFUNC_EXTRA".into());
            }
            if let Some(m) = modify(&self.mfinalmodify) {
                options.push(format!("MFINALFUNC_MODIFY = {m}"));
            }
        }
        if let Some(sortop) = &self.sortop {
            options.push(format!("SORTOP = {sortop}"));
        }
        if self.aggkind == "h" {
            options.push("HYPOTHETICAL".into());
        }
        match self.proparallel.as_str() {
            "s" => options.push("PARALLEL = safe".into()),
            "r" => options.push("PARALLEL = restricted".into()),
            _ => {}
        }
        format!(
            "CREATE AGGREGATE {}.{} (\n    {}\n);\n",
            self.qnamespace,
            self.signature(&self.args),
            options.join(",\n    ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aggregate() -> Aggregate {
        Aggregate {
            oid: 9,
            namespace: "app".into(),
            qnamespace: "app".into(),
            name: "My Agg".into(),
            qname: "\"My Agg\"".into(),
            nargs: 1,
            args: "numeric".into(),
            identity_args: "numeric".into(),
            arg_types: "numeric".into(),
            aggkind: "n".into(),
            transfn: "app.step".into(),
            transtype: "numeric[]".into(),
            finalfn: "-".into(),
            finalmodify: "r".into(),
            combinefn: "-".into(),
            serialfn: "-".into(),
            deserialfn: "-".into(),
            mtransfn: "-".into(),
            minvtransfn: "-".into(),
            mtranstype: "-".into(),
            mfinalfn: "-".into(),
            mfinalmodify: "r".into(),
            proparallel: "u".into(),
            ..Aggregate::default()
        }
    }

    #[test]
    fn options_come_one_a_line_in_dump_aggs_order() {
        let mut a = aggregate();
        a.initval = Some("{0,0}".into());
        a.transspace = 64;
        a.finalfn = "app.fin".into();
        a.finalextra = true;
        a.finalmodify = "w".into();
        a.combinefn = "app.comb".into();
        a.mtransfn = "app.step".into();
        a.minvtransfn = "app.unstep".into();
        a.mtranstype = "numeric[]".into();
        a.minitval = Some("it's".into());
        a.mfinalfn = "app.fin".into();
        a.sortop = Some("OPERATOR(pg_catalog.>)".into());
        a.proparallel = "s".into();
        a.comment = Some("c".into());
        assert_eq!(
            a.definition(),
            "CREATE AGGREGATE app.\"My Agg\"(numeric) (\n    SFUNC = app.step,\n    \
             STYPE = numeric[],\n    SSPACE = 64,\n    INITCOND = '{0,0}',\n    \
             FINALFUNC = app.fin,\n    FINALFUNC_EXTRA,\n    FINALFUNC_MODIFY = READ_WRITE,\n    \
             COMBINEFUNC = app.comb,\n    MSFUNC = app.step,\n    MINVFUNC = app.unstep,\n    \
             MSTYPE = numeric[],\n    MINITCOND = 'it''s',\n    MFINALFUNC = app.fin,\n    \
             SORTOP = OPERATOR(pg_catalog.>),\n    PARALLEL = safe\n);\n"
        );
        let entry = a.entry();
        assert_eq!(entry.tag, "My Agg(numeric)");
        assert_eq!(entry.comments[0].tag, "AGGREGATE \"My Agg\"(numeric)");
    }

    #[test]
    fn aggregates_over_no_arguments_read_star_and_ordered_sets_default_to_read_write() {
        let mut a = aggregate();
        a.nargs = 0;
        a.args = String::new();
        a.identity_args = String::new();
        a.arg_types = String::new();
        let entry = a.entry();
        assert_eq!(entry.tag, "My Agg(*)");
        assert!(
            entry
                .defn
                .starts_with("CREATE AGGREGATE app.\"My Agg\"(*) (\n")
        );
        assert_eq!(
            entry.drop_stmt.as_deref(),
            Some("DROP AGGREGATE app.\"My Agg\"(*);\n")
        );
        let mut h = aggregate();
        h.aggkind = "h".into();
        h.finalfn = "rank_final".into();
        h.finalmodify = "w".into();
        assert!(
            h.definition()
                .ends_with("FINALFUNC = rank_final,\n    HYPOTHETICAL\n);\n")
        );
    }
}
