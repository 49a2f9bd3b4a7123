//! Base types (`CREATE TYPE name (INPUT = ..., OUTPUT = ...)`), written the way pg_dump's
//! `dumpBaseType` writes them: the length, the I/O and support functions as `regproc` prints
//! them (schema-qualified outside `pg_catalog`), then only the properties that differ from
//! CREATE TYPE's defaults, one a line.

use std::collections::HashMap;

use super::super::CatalogSession;
use crate::pg::connect::PgError;
use crate::pg::quote::literal;

/// A base type's properties (`regproc` columns read `-` for none).
#[derive(Debug, Clone, Default)]
pub(super) struct BaseType {
    qualified: String,
    typlen: i16,
    input: String,
    output: String,
    receive: String,
    send: String,
    typmod_in: String,
    typmod_out: String,
    analyze: String,
    subscript: String,
    collatable: bool,
    /// The deparsed default expression, or the default's text (which needs quoting).
    default_expr: Option<String>,
    default_text: Option<String>,
    /// The element type, formatted.
    element: Option<String>,
    category: String,
    preferred: bool,
    delimiter: String,
    align: String,
    storage: String,
    by_value: bool,
}

/// `CREATE TYPE` statements of base types, by type OID.
pub(super) async fn definitions(
    cx: &CatalogSession<'_>,
    oids: &[u32],
) -> Result<HashMap<u32, String>, PgError> {
    let mut out = HashMap::new();
    if oids.is_empty() {
        return Ok(out);
    }
    let subscript = if cx.major() >= 14 {
        "t.typsubscript::pg_catalog.text"
    } else {
        "'-'::pg_catalog.text"
    };
    let sql = format!(
        "SELECT t.oid, pg_catalog.format('%I.%I', n.nspname, t.typname) AS qualified, \
                t.typlen, t.typinput::pg_catalog.text AS input, \
                t.typoutput::pg_catalog.text AS output, \
                t.typreceive::pg_catalog.text AS receive, t.typsend::pg_catalog.text AS send, \
                t.typmodin::pg_catalog.text AS typmod_in, \
                t.typmodout::pg_catalog.text AS typmod_out, \
                t.typanalyze::pg_catalog.text AS analyze, {subscript} AS subscript, \
                t.typcollation <> 0 AS collatable, \
                pg_catalog.pg_get_expr(t.typdefaultbin, 0) AS default_expr, \
                t.typdefault AS default_text, \
                CASE WHEN t.typelem <> 0 THEN pg_catalog.format_type(t.typelem, NULL) END \
                  AS element, \
                t.typcategory::pg_catalog.text AS category, t.typispreferred AS preferred, \
                t.typdelim::pg_catalog.text AS delimiter, t.typalign::pg_catalog.text AS align, \
                t.typstorage::pg_catalog.text AS storage, t.typbyval AS by_value \
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         WHERE t.oid = ANY($1)"
    );
    for row in cx.query("base types", &sql, &[&oids]).await? {
        let base = BaseType {
            qualified: row.get("qualified"),
            typlen: row.get("typlen"),
            input: row.get("input"),
            output: row.get("output"),
            receive: row.get("receive"),
            send: row.get("send"),
            typmod_in: row.get("typmod_in"),
            typmod_out: row.get("typmod_out"),
            analyze: row.get("analyze"),
            subscript: row.get("subscript"),
            collatable: row.get("collatable"),
            default_expr: row.get("default_expr"),
            default_text: row.get("default_text"),
            element: row.get("element"),
            category: row.get("category"),
            preferred: row.get("preferred"),
            delimiter: row.get("delimiter"),
            align: row.get("align"),
            storage: row.get("storage"),
            by_value: row.get("by_value"),
        };
        out.insert(row.get("oid"), base.definition());
    }
    Ok(out)
}

impl BaseType {
    /// `CREATE TYPE ... (...);\n` as dumpBaseType writes it.
    fn definition(&self) -> String {
        let length = if self.typlen == -1 {
            "variable".to_string()
        } else {
            self.typlen.to_string()
        };
        let mut options = vec![
            format!("INTERNALLENGTH = {length}"),
            format!("INPUT = {}", self.input),
            format!("OUTPUT = {}", self.output),
        ];
        for (function, label) in [
            (&self.receive, "RECEIVE"),
            (&self.send, "SEND"),
            (&self.typmod_in, "TYPMOD_IN"),
            (&self.typmod_out, "TYPMOD_OUT"),
            (&self.analyze, "ANALYZE"),
        ] {
            if function != "-" {
                options.push(format!("{label} = {function}"));
            }
        }
        if self.collatable {
            options.push("COLLATABLE = true".into());
        }
        if let Some(expr) = &self.default_expr {
            options.push(format!("DEFAULT = {expr}"));
        } else if let Some(text) = &self.default_text {
            options.push(format!("DEFAULT = {}", literal(text)));
        }
        if self.subscript != "-" {
            options.push(format!("SUBSCRIPT = {}", self.subscript));
        }
        if let Some(element) = &self.element {
            options.push(format!("ELEMENT = {element}"));
        }
        if self.category != "U" {
            options.push(format!("CATEGORY = {}", literal(&self.category)));
        }
        if self.preferred {
            options.push("PREFERRED = true".into());
        }
        if self.delimiter != "," {
            options.push(format!("DELIMITER = {}", literal(&self.delimiter)));
        }
        let align = match self.align.as_str() {
            "c" => Some("char"),
            "s" => Some("int2"),
            "i" => Some("int4"),
            "d" => Some("double"),
            _ => None,
        };
        if let Some(align) = align {
            options.push(format!("ALIGNMENT = {align}"));
        }
        let storage = match self.storage.as_str() {
            "p" => Some("plain"),
            "e" => Some("external"),
            "x" => Some("extended"),
            "m" => Some("main"),
            _ => None,
        };
        if let Some(storage) = storage {
            options.push(format!("STORAGE = {storage}"));
        }
        if self.by_value {
            options.push("PASSEDBYVALUE".into());
        }
        format!(
            "CREATE TYPE {} (\n    {}\n);\n",
            self.qualified,
            options.join(",\n    ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_non_default_properties_are_written_in_dump_base_types_order() {
        let base = BaseType {
            qualified: "app.int42".into(),
            typlen: 4,
            input: "app.int42_in".into(),
            output: "app.int42_out".into(),
            receive: "app.int42_recv".into(),
            send: "-".into(),
            typmod_in: "-".into(),
            typmod_out: "-".into(),
            analyze: "-".into(),
            subscript: "raw_array_subscript_handler".into(),
            default_text: Some("42".into()),
            element: Some("double precision".into()),
            category: "N".into(),
            delimiter: ";".into(),
            align: "i".into(),
            storage: "p".into(),
            by_value: true,
            ..BaseType::default()
        };
        assert_eq!(
            base.definition(),
            "CREATE TYPE app.int42 (\n    INTERNALLENGTH = 4,\n    INPUT = app.int42_in,\n    \
             OUTPUT = app.int42_out,\n    RECEIVE = app.int42_recv,\n    DEFAULT = '42',\n    \
             SUBSCRIPT = raw_array_subscript_handler,\n    ELEMENT = double precision,\n    \
             CATEGORY = 'N',\n    DELIMITER = ';',\n    ALIGNMENT = int4,\n    \
             STORAGE = plain,\n    PASSEDBYVALUE\n);\n"
        );
        let variable = BaseType {
            qualified: "app.v".into(),
            typlen: -1,
            input: "app.v_in".into(),
            output: "app.v_out".into(),
            receive: "-".into(),
            send: "-".into(),
            typmod_in: "varchartypmodin".into(),
            typmod_out: "-".into(),
            analyze: "-".into(),
            subscript: "-".into(),
            collatable: true,
            category: "U".into(),
            delimiter: ",".into(),
            align: "i".into(),
            storage: "x".into(),
            ..BaseType::default()
        };
        assert_eq!(
            variable.definition(),
            "CREATE TYPE app.v (\n    INTERNALLENGTH = variable,\n    INPUT = app.v_in,\n    \
             OUTPUT = app.v_out,\n    TYPMOD_IN = varchartypmodin,\n    COLLATABLE = true,\n    \
             ALIGNMENT = int4,\n    STORAGE = extended\n);\n"
        );
    }
}
