//! Functions and procedures, written the way pg_dump's `dumpFunc` writes them; aggregates are
//! in [`aggregates`].
//!
//! The statement is assembled from the catalog rather than taken from `pg_get_functiondef`,
//! whose text differs from pg_dump's: `CREATE FUNCTION` (never `OR REPLACE`), the full argument
//! list and result as `pg_get_function_arguments` / `pg_get_function_result` print them, then
//! on one line `LANGUAGE`, `TRANSFORM FOR TYPE ...`, `WINDOW`, volatility, `STRICT`,
//! `SECURITY DEFINER`, `LEAKPROOF`, a non-default `COST` / `ROWS`, `SUPPORT` and `PARALLEL`,
//! one `SET name TO value` line per configuration item, and the body: a SQL-standard body as
//! the server prints it, `AS 'library', 'symbol'` for C functions, or the source dollar-quoted
//! with the shortest delimiter (`$$`, `$_$`, `$_X$`, ...) it does not contain.
//!
//! Tags follow pg_dump: the unquoted name and the input argument types (`add(integer,
//! integer)`); DROP and COMMENT use the identity arguments, which keep argument names and modes.
//! Functions made implicitly with another object (a range type's constructors) are not dumped:
//! that object brings them back. A function whose SQL-standard body relies on a key (GROUP BY
//! the primary key) is created in post-data, after the key, as pg_dump does.

mod aggregates;

use super::{
    CatalogSession, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member, not_internal,
    types,
};
use crate::pg::connect::PgError;
use crate::pg::quote::literal;

/// Collects functions, procedures and aggregates.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let mut entries = routines(cx).await?;
    entries.extend(aggregates::collect(cx).await?);
    Ok(entries)
}

/// One function or procedure, as read from the catalog.
#[derive(Debug, Clone, Default)]
struct Routine {
    oid: u32,
    namespace: String,
    qnamespace: String,
    name: String,
    qname: String,
    /// `pg_proc.prokind`: `f`, `p` or `w`.
    prokind: String,
    /// `pg_get_function_arguments`.
    args: String,
    /// `pg_get_function_identity_arguments`.
    identity_args: String,
    /// The input argument types, formatted, comma-separated (for the tag).
    arg_types: String,
    /// `pg_get_function_result`, or `SETOF`/the type when the server gives none.
    result: Option<String>,
    qlanguage: String,
    /// `c` or `internal` (their default COST is 1, others' 100).
    language: String,
    /// Types of `TRANSFORM FOR TYPE`, formatted.
    transforms: Vec<String>,
    provolatile: String,
    strict: bool,
    security_definer: bool,
    leakproof: bool,
    /// `procost` and `prorows` as the server prints them.
    cost: String,
    rows: String,
    returns_set: bool,
    /// `prosupport` as `regproc` prints it (`-` for none).
    support: String,
    proparallel: String,
    /// Configuration items: raw name, quoted name, value.
    config: Vec<(String, String, String)>,
    body: Body,
    comment: Option<String>,
    /// Types that depend on this function while it depends on them (it is one of their I/O or
    /// canonical functions): it follows their SHELL TYPE entries rather than the types.
    shell_types: Vec<u32>,
    /// Whether its body relies on a primary key, unique or exclusion constraint (a GROUP BY
    /// on the key): then, as pg_dump does, it is created in post-data, after the constraint.
    postponed: bool,
}

/// Where a routine's code is.
#[derive(Debug, Clone)]
enum Body {
    /// A SQL-standard body (`RETURN ...`, `BEGIN ATOMIC ... END`), as the server prints it.
    Standard(String),
    /// `prosrc` and `probin` (empty when none).
    Source { src: String, bin: String },
}

impl Default for Body {
    fn default() -> Body {
        Body::Source {
            src: String::new(),
            bin: String::new(),
        }
    }
}

/// Reads functions and procedures (not aggregates).
async fn routines(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sqlbody = if cx.major() >= 14 {
        "pg_catalog.pg_get_function_sqlbody(p.oid)"
    } else {
        "NULL::pg_catalog.text"
    };
    let sql = format!(
        "SELECT p.oid, n.nspname AS namespace, pg_catalog.quote_ident(n.nspname) AS qnamespace, \
                p.proname AS name, pg_catalog.quote_ident(p.proname) AS qname, \
                p.prokind::pg_catalog.text AS prokind, \
                pg_catalog.pg_get_function_arguments(p.oid) AS args, \
                pg_catalog.pg_get_function_identity_arguments(p.oid) AS identity_args, \
                (SELECT pg_catalog.string_agg(pg_catalog.format_type(a.t, NULL), ', ' ORDER BY a.i) \
                   FROM pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]) \
                        WITH ORDINALITY AS a(t, i)) AS arg_types, \
                pg_catalog.pg_get_function_result(p.oid) AS result, \
                pg_catalog.format_type(p.prorettype, NULL) AS rettype, \
                l.lanname AS language, pg_catalog.quote_ident(l.lanname) AS qlanguage, \
                (SELECT pg_catalog.array_agg(pg_catalog.format_type(t.t, NULL) ORDER BY t.i) \
                   FROM pg_catalog.unnest(p.protrftypes) WITH ORDINALITY AS t(t, i)) AS transforms, \
                p.provolatile::pg_catalog.text AS provolatile, p.proisstrict AS strict, \
                p.prosecdef AS security_definer, p.proleakproof AS leakproof, \
                p.procost::pg_catalog.text AS cost, p.prorows::pg_catalog.text AS rows, \
                p.proretset AS returns_set, p.prosupport::pg_catalog.text AS support, \
                p.proparallel::pg_catalog.text AS proparallel, \
                {config} AS config_names, {config_quoted} AS config_qnames, \
                {config_values} AS config_values, \
                {sqlbody} AS sqlbody, p.prosrc AS src, \
                EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                         JOIN pg_catalog.pg_constraint c ON c.oid = d.refobjid \
                        WHERE d.classid = {proc} AND d.objid = p.oid \
                          AND d.refclassid = {constraint} AND d.deptype = 'n' \
                          AND c.contype IN ('p', 'u', 'x')) AS postponed, \
                (SELECT pg_catalog.array_agg(DISTINCT d.refobjid) FROM pg_catalog.pg_depend d \
                  WHERE d.classid = {proc} AND d.objid = p.oid AND d.refclassid = {ty} \
                    AND {io_loop}) AS shell_types, \
                COALESCE(p.probin, '') AS bin, \
                pg_catalog.obj_description(p.oid, 'pg_proc') AS comment \
         FROM pg_catalog.pg_proc p \
         JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
         JOIN pg_catalog.pg_language l ON l.oid = p.prolang \
         WHERE p.prokind IN ('f', 'p', 'w') AND {USER_SCHEMA} AND {} AND {} \
         ORDER BY n.nspname, p.proname, p.oid",
        not_extension_member(catalog::PROC, "p.oid"),
        not_internal(catalog::PROC, "p.oid"),
        proc = catalog::PROC,
        ty = catalog::TYPE,
        constraint = catalog::CONSTRAINT,
        io_loop = types::type_function_loop("d.refobjid", "p.oid"),
        config = config_items("pg_catalog.split_part(c.item, '=', 1)"),
        config_quoted =
            config_items("pg_catalog.quote_ident(pg_catalog.split_part(c.item, '=', 1))"),
        config_values =
            config_items("pg_catalog.substr(c.item, pg_catalog.strpos(c.item, '=') + 1)"),
    );
    let mut entries = Vec::new();
    for row in cx.query("functions", &sql, &[]).await? {
        let names: Vec<String> = row.get::<_, Option<_>>("config_names").unwrap_or_default();
        let qnames: Vec<String> = row.get::<_, Option<_>>("config_qnames").unwrap_or_default();
        let values: Vec<String> = row.get::<_, Option<_>>("config_values").unwrap_or_default();
        let prokind: String = row.get("prokind");
        let returns_set: bool = row.get("returns_set");
        let result = row.get::<_, Option<String>>("result").or_else(|| {
            (prokind != "p").then(|| {
                let rettype: String = row.get("rettype");
                if returns_set {
                    format!("SETOF {rettype}")
                } else {
                    rettype
                }
            })
        });
        let routine = Routine {
            oid: row.get("oid"),
            namespace: row.get("namespace"),
            qnamespace: row.get("qnamespace"),
            name: row.get("name"),
            qname: row.get("qname"),
            prokind,
            args: row.get("args"),
            identity_args: row.get("identity_args"),
            arg_types: row
                .get::<_, Option<String>>("arg_types")
                .unwrap_or_default(),
            result,
            qlanguage: row.get("qlanguage"),
            language: row.get("language"),
            transforms: row.get::<_, Option<_>>("transforms").unwrap_or_default(),
            provolatile: row.get("provolatile"),
            strict: row.get("strict"),
            security_definer: row.get("security_definer"),
            leakproof: row.get("leakproof"),
            cost: row.get("cost"),
            rows: row.get("rows"),
            returns_set,
            support: row.get("support"),
            proparallel: row.get("proparallel"),
            config: names
                .into_iter()
                .zip(qnames)
                .zip(values)
                .map(|((name, quoted), value)| (name, quoted, value))
                .collect(),
            body: match row.get::<_, Option<String>>("sqlbody") {
                Some(body) => Body::Standard(body),
                None => Body::Source {
                    src: row.get("src"),
                    bin: row.get("bin"),
                },
            },
            comment: row.get("comment"),
            shell_types: row.get::<_, Option<_>>("shell_types").unwrap_or_default(),
            postponed: row.get("postponed"),
        };
        entries.push(routine.entry());
    }
    Ok(entries)
}

/// SQL: function `oid_expr` as pg_dump names it where it must be found by its arguments
/// (`schema.name(integer, text)`: quoted, qualified, input argument types formatted).
pub(super) fn signature_sql(oid_expr: &str) -> String {
    format!(
        "(SELECT pg_catalog.format('%I.%I(%s)', sn.nspname, sf.proname, \
                 (SELECT pg_catalog.string_agg(pg_catalog.format_type(sa.t, NULL), ', ' \
                                               ORDER BY sa.i) \
                    FROM pg_catalog.unnest(sf.proargtypes::pg_catalog.oid[]) \
                         WITH ORDINALITY AS sa(t, i))) \
            FROM pg_catalog.pg_proc sf \
            JOIN pg_catalog.pg_namespace sn ON sn.oid = sf.pronamespace \
           WHERE sf.oid = {oid_expr})"
    )
}

/// SQL: an array of `expr` over `proconfig`'s `name=value` items (alias `c.item`), in order.
fn config_items(expr: &str) -> String {
    format!(
        "(SELECT pg_catalog.array_agg({expr} ORDER BY c.i) \
            FROM pg_catalog.unnest(p.proconfig) WITH ORDINALITY AS c(item, i) \
           WHERE pg_catalog.strpos(c.item, '=') > 0)"
    )
}

impl Routine {
    /// `FUNCTION` or `PROCEDURE` (window functions are functions).
    fn keyword(&self) -> &'static str {
        if self.prokind == "p" {
            "PROCEDURE"
        } else {
            "FUNCTION"
        }
    }

    /// The archive entry, with its comment.
    fn entry(self) -> Entry {
        let keyword = self.keyword();
        let signature = format!("{}({})", self.qname, self.identity_args);
        let qualified = format!("{}.{signature}", self.qnamespace);
        let mut entry = Entry::new(
            ObjKey::new(catalog::PROC, self.oid),
            if self.postponed {
                Kind::PostponedFunction
            } else {
                Kind::Function
            },
            keyword,
            format!("{}({})", self.name, self.arg_types),
            self.definition(),
        );
        entry.namespace = Some(self.namespace.clone());
        entry.drop_stmt = Some(format!("DROP {keyword} {qualified};\n"));
        for oid in &self.shell_types {
            entry.ignore_deps.push(ObjKey::new(catalog::TYPE, *oid));
            entry.deps.push(types::shell_key(*oid));
        }
        entry.comment(
            self.comment,
            format!("{keyword} {signature}"),
            &format!("{keyword} {qualified}"),
        );
        entry
    }

    /// `CREATE FUNCTION ...;\n` as dumpFunc writes it.
    fn definition(&self) -> String {
        let mut sql = format!(
            "CREATE {} {}.{}({})",
            self.keyword(),
            self.qnamespace,
            self.qname,
            self.args
        );
        if self.prokind != "p"
            && let Some(result) = &self.result
        {
            sql.push_str(&format!(" RETURNS {result}"));
        }
        sql.push_str(&format!("\n    LANGUAGE {}", self.qlanguage));
        if !self.transforms.is_empty() {
            let types: Vec<String> = self
                .transforms
                .iter()
                .map(|t| format!("FOR TYPE {t}"))
                .collect();
            sql.push_str(&format!(" TRANSFORM {}", types.join(", ")));
        }
        if self.prokind == "w" {
            sql.push_str(" WINDOW");
        }
        match self.provolatile.as_str() {
            "i" => sql.push_str(" IMMUTABLE"),
            "s" => sql.push_str(" STABLE"),
            _ => {}
        }
        if self.strict {
            sql.push_str(" STRICT");
        }
        if self.security_definer {
            sql.push_str(" SECURITY DEFINER");
        }
        if self.leakproof {
            sql.push_str(" LEAKPROOF");
        }
        // defaults as CREATE FUNCTION sets them: 1 for C and internal functions, 100 otherwise
        let default_cost = if self.language == "internal" || self.language == "c" {
            "1"
        } else {
            "100"
        };
        if self.cost != "0" && self.cost != default_cost {
            sql.push_str(&format!(" COST {}", self.cost));
        }
        if self.returns_set && self.rows != "0" && self.rows != "1000" {
            sql.push_str(&format!(" ROWS {}", self.rows));
        }
        if self.support != "-" {
            sql.push_str(&format!(" SUPPORT {}", self.support));
        }
        match self.proparallel.as_str() {
            "s" => sql.push_str(" PARALLEL SAFE"),
            "r" => sql.push_str(" PARALLEL RESTRICTED"),
            _ => {}
        }
        for (name, quoted, value) in &self.config {
            sql.push_str(&format!(
                "\n    SET {quoted} TO {}",
                setting_value(name, value)
            ));
        }
        let body = match &self.body {
            Body::Standard(body) => body.clone(),
            Body::Source { src, bin } if !bin.is_empty() => {
                let mut body = format!("AS {}", literal(bin));
                if !src.is_empty() {
                    // the symbol: a plain literal unless it holds a quote or a backslash
                    if src.contains(['\'', '\\']) {
                        body.push_str(&format!(", {}", dollar_quote(src)));
                    } else {
                        body.push_str(&format!(", {}", literal(src)));
                    }
                }
                body
            }
            Body::Source { src, .. } => format!("AS {}", dollar_quote(src)),
        };
        sql.push_str(&format!("\n    {body};\n"));
        sql
    }
}

/// Settings whose values the server stores as a list of double-quoted elements (GUC_LIST_QUOTE,
/// as pg_dump knows them): each element is written as its own literal.
const LIST_SETTINGS: &[&str] = &[
    "local_preload_libraries",
    "oauth_validator_libraries",
    "output_plugin_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
];

/// The value of `SET name TO ...` for a stored configuration item.
fn setting_value(name: &str, value: &str) -> String {
    if !LIST_SETTINGS.iter().any(|s| s.eq_ignore_ascii_case(name)) {
        return literal(value);
    }
    match split_list(value) {
        Some(elements) => elements
            .iter()
            .map(|e| literal(e))
            .collect::<Vec<_>>()
            .join(", "),
        // what pg_dump writes when the stored list does not parse: nothing
        None => String::new(),
    }
}

/// Splits a stored list setting (`"$user", public`) into its elements: double-quoted elements
/// lose their quotes (a doubled quote inside stands for one), unquoted ones end at a comma or
/// whitespace. `None` when the text is not such a list.
fn split_list(text: &str) -> Option<Vec<String>> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let skip_space = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    let mut out = Vec::new();
    skip_space(&mut i);
    if i == chars.len() {
        return Some(out);
    }
    loop {
        let mut element = String::new();
        if chars[i] == '"' {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return None,
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        element.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        element.push(*c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < chars.len() && chars[i] != ',' && !chars[i].is_ascii_whitespace() {
                element.push(chars[i]);
                i += 1;
            }
            if element.is_empty() {
                return None;
            }
        }
        out.push(element);
        skip_space(&mut i);
        match chars.get(i) {
            Some(',') => {
                i += 1;
                skip_space(&mut i);
            }
            None => return Some(out),
            Some(_) => return None,
        }
    }
}

/// `text` dollar-quoted with the delimiter pg_dump picks: `$`, then `_`, `X`, `X`, ... appended
/// until the text no longer contains it, then the closing `$`.
fn dollar_quote(text: &str) -> String {
    const SUFFIXES: &[u8] = b"_XXXXXXX";
    let mut delimiter = String::from("$");
    let mut next = 0;
    while text.contains(&delimiter) {
        delimiter.push(char::from(SUFFIXES[next]));
        next = (next + 1) % SUFFIXES.len();
    }
    delimiter.push('$');
    format!("{delimiter}{text}{delimiter}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routine() -> Routine {
        Routine {
            oid: 7,
            namespace: "My App".into(),
            qnamespace: "\"My App\"".into(),
            name: "Add".into(),
            qname: "\"Add\"".into(),
            prokind: "f".into(),
            args: "a integer, b integer DEFAULT 1".into(),
            identity_args: "a integer, b integer".into(),
            arg_types: "integer, integer".into(),
            result: Some("integer".into()),
            qlanguage: "sql".into(),
            language: "sql".into(),
            provolatile: "v".into(),
            cost: "100".into(),
            rows: "0".into(),
            support: "-".into(),
            proparallel: "u".into(),
            body: Body::Source {
                src: "SELECT a + b".into(),
                bin: String::new(),
            },
            ..Routine::default()
        }
    }

    #[test]
    fn dollar_quotes_grow_until_the_body_does_not_hold_them() {
        assert_eq!(dollar_quote("SELECT 1"), "$$SELECT 1$$");
        assert_eq!(dollar_quote("SELECT $1"), "$_$SELECT $1$_$");
        assert_eq!(dollar_quote("'$_'"), "$_X$'$_'$_X$");
        assert_eq!(
            dollar_quote("$$ and $_$ and $_X$"),
            "$_XX$$$ and $_$ and $_X$$_XX$"
        );
    }

    #[test]
    fn list_settings_split_like_the_server_stores_them() {
        assert_eq!(
            split_list("\"$user\", public"),
            Some(vec!["$user".to_string(), "public".to_string()])
        );
        assert_eq!(
            split_list("rt, \"Rt \"\"Mixed\"\"\",pg_temp"),
            Some(vec![
                "rt".to_string(),
                "Rt \"Mixed\"".to_string(),
                "pg_temp".to_string()
            ])
        );
        assert_eq!(split_list("\"\""), Some(vec![String::new()]));
        assert_eq!(split_list("  "), Some(vec![]));
        assert_eq!(split_list("a b"), None);
        assert_eq!(split_list("\"open"), None);
        assert_eq!(setting_value("SEARCH_PATH", "\"it's\", x"), "'it''s', 'x'");
        assert_eq!(setting_value("work_mem", "64MB"), "'64MB'");
    }

    #[test]
    fn functions_list_every_option_in_pg_dumps_order() {
        let mut r = routine();
        r.provolatile = "i".into();
        r.strict = true;
        r.security_definer = true;
        r.leakproof = true;
        r.cost = "5".into();
        r.returns_set = true;
        r.rows = "42".into();
        r.result = Some("SETOF integer".into());
        r.support = "varchar_support".into();
        r.proparallel = "s".into();
        r.transforms = vec!["integer".into(), "text".into()];
        r.config = vec![
            (
                "search_path".into(),
                "search_path".into(),
                "a, \"B\"".into(),
            ),
            (
                "DateStyle".into(),
                "\"DateStyle\"".into(),
                "ISO, DMY".into(),
            ),
        ];
        assert_eq!(
            r.definition(),
            "CREATE FUNCTION \"My App\".\"Add\"(a integer, b integer DEFAULT 1) RETURNS SETOF integer\n    \
             LANGUAGE sql TRANSFORM FOR TYPE integer, FOR TYPE text IMMUTABLE STRICT SECURITY DEFINER \
             LEAKPROOF COST 5 ROWS 42 SUPPORT varchar_support PARALLEL SAFE\n    \
             SET search_path TO 'a', 'B'\n    SET \"DateStyle\" TO 'ISO, DMY'\n    \
             AS $$SELECT a + b$$;\n"
        );
        let entry = r.entry();
        assert_eq!(entry.tag, "Add(integer, integer)");
        assert_eq!(
            entry.drop_stmt.as_deref(),
            Some("DROP FUNCTION \"My App\".\"Add\"(a integer, b integer);\n")
        );
    }

    #[test]
    fn procedures_c_functions_and_standard_bodies() {
        let mut p = routine();
        p.prokind = "p".into();
        p.result = None;
        p.body = Body::Standard("BEGIN ATOMIC\n SELECT 1;\nEND".into());
        assert_eq!(
            p.definition(),
            "CREATE PROCEDURE \"My App\".\"Add\"(a integer, b integer DEFAULT 1)\n    \
             LANGUAGE sql\n    BEGIN ATOMIC\n SELECT 1;\nEND;\n"
        );
        let mut c = routine();
        c.language = "c".into();
        c.qlanguage = "c".into();
        c.cost = "1".into();
        c.body = Body::Source {
            src: "handler".into(),
            bin: "$libdir/plpgsql".into(),
        };
        assert!(
            c.definition()
                .ends_with("LANGUAGE c\n    AS '$libdir/plpgsql', 'handler';\n")
        );
        c.body = Body::Source {
            src: "it's".into(),
            bin: "lib".into(),
        };
        assert!(c.definition().ends_with("AS 'lib', $$it's$$;\n"));
        let mut w = routine();
        w.prokind = "w".into();
        w.language = "internal".into();
        w.qlanguage = "internal".into();
        w.cost = "1".into();
        w.body = Body::Source {
            src: "window_row_number".into(),
            bin: String::new(),
        };
        assert!(
            w.definition()
                .contains("LANGUAGE internal WINDOW\n    AS $$window_row_number$$;")
        );
    }
}
