//! Casts (CREATE CAST), as pg_dump's `dumpCast` writes them: `WITH FUNCTION schema.f(types)`,
//! `WITHOUT FUNCTION` or `WITH INOUT`, then `AS ASSIGNMENT` / `AS IMPLICIT`.
//!
//! Casts have no schema and no owner pg_dump could go by: a cast is the user's when its OID is
//! above initdb's range, whatever its types and function (a cast between built-in types through
//! a built-in function included). Members of extensions are left out, and so are the casts the
//! server makes with a range type to its multirange. Tags are `CAST (source AS target)`.

use super::{
    CatalogSession, Entry, Kind, ObjKey, catalog, functions, not_extension_member, not_internal,
};
use crate::pg::connect::PgError;

/// One cast, as read from the catalog.
#[derive(Debug, Clone, Default)]
struct Cast {
    oid: u32,
    /// `format_type` of the source and target types.
    source: String,
    target: String,
    /// `f` function, `b` binary-coercible, `i` input/output.
    method: String,
    /// The function, `schema.name(types)`, for method `f`.
    function: Option<String>,
    /// `e` explicit, `a` assignment, `i` implicit.
    context: String,
    comment: Option<String>,
}

/// Collects casts.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let multirange = if cx.major() >= 14 {
        "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_range r \
                          WHERE r.rngtypid = c.castsource AND r.rngmultitypid = c.casttarget)"
    } else {
        ""
    };
    // OIDs below 16384 are initdb's
    let sql = format!(
        "SELECT c.oid, pg_catalog.format_type(c.castsource, NULL) AS source, \
                pg_catalog.format_type(c.casttarget, NULL) AS target, \
                c.castmethod::pg_catalog.text AS method, \
                CASE WHEN c.castfunc <> 0 THEN {} END AS function, \
                c.castcontext::pg_catalog.text AS context, \
                pg_catalog.obj_description(c.oid, 'pg_cast') AS comment \
         FROM pg_catalog.pg_cast c \
         WHERE c.oid >= 16384 AND {} AND {} {multirange} \
         ORDER BY c.castsource, c.casttarget",
        functions::signature_sql("c.castfunc"),
        not_extension_member(catalog::CAST, "c.oid"),
        not_internal(catalog::CAST, "c.oid"),
    );
    let rows = cx.query("casts", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| {
            Cast {
                oid: row.get("oid"),
                source: row.get("source"),
                target: row.get("target"),
                method: row.get("method"),
                function: row.get("function"),
                context: row.get("context"),
                comment: row.get("comment"),
            }
            .entry()
        })
        .collect())
}

impl Cast {
    /// The archive entry, with its comment.
    fn entry(self) -> Entry {
        let types = format!("({} AS {})", self.source, self.target);
        let mut entry = Entry::new(
            ObjKey::new(catalog::CAST, self.oid),
            Kind::Cast,
            "CAST",
            format!("CAST {types}"),
            self.definition(&types),
        );
        entry.drop_stmt = Some(format!("DROP CAST {types};\n"));
        entry.comment(
            self.comment.clone(),
            format!("CAST {types}"),
            &format!("CAST {types}"),
        );
        entry
    }

    /// `CREATE CAST ...;\n` as dumpCast writes it.
    fn definition(&self, types: &str) -> String {
        let method = match (self.method.as_str(), &self.function) {
            ("b", _) => "WITHOUT FUNCTION".to_string(),
            ("i", _) => "WITH INOUT".to_string(),
            (_, Some(function)) => format!("WITH FUNCTION {function}"),
            // the server keeps a function for every function cast; pg_dump writes none either
            (_, None) => String::new(),
        };
        let context = match self.context.as_str() {
            "a" => " AS ASSIGNMENT",
            "i" => " AS IMPLICIT",
            _ => "",
        };
        format!("CREATE CAST {types} {method}{context};\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_name_their_method_and_context() {
        let cast = Cast {
            oid: 20000,
            source: "timestamp with time zone".into(),
            target: "interval".into(),
            method: "f".into(),
            function: Some("pg_catalog.age(timestamp with time zone)".into()),
            context: "a".into(),
            comment: Some("it's".into()),
        };
        let entry = cast.clone().entry();
        assert_eq!(entry.tag, "CAST (timestamp with time zone AS interval)");
        assert_eq!(entry.namespace, None);
        assert_eq!(
            entry.defn,
            "CREATE CAST (timestamp with time zone AS interval) WITH FUNCTION \
             pg_catalog.age(timestamp with time zone) AS ASSIGNMENT;\n"
        );
        assert_eq!(
            entry.drop_stmt.as_deref(),
            Some("DROP CAST (timestamp with time zone AS interval);\n")
        );
        assert_eq!(
            entry.comments[0].defn,
            "COMMENT ON CAST (timestamp with time zone AS interval) IS 'it''s';\n"
        );
        let binary = Cast {
            method: "b".into(),
            function: None,
            context: "i".into(),
            ..cast.clone()
        };
        assert!(
            binary
                .entry()
                .defn
                .ends_with(") WITHOUT FUNCTION AS IMPLICIT;\n")
        );
        let inout = Cast {
            method: "i".into(),
            function: None,
            context: "e".into(),
            ..cast
        };
        assert!(inout.entry().defn.ends_with(") WITH INOUT;\n"));
    }
}
