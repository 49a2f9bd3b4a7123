//! What a restore drill compares with: the rows each table's data file holds and the value
//! each sequence is set to, as the dump wrote them.
//!
//! Rows are counted as the COPY text streams through (one `\n` per row: text COPY escapes
//! newlines inside values), so the count is exactly what the archive holds. Tables dumped with
//! a row filter (an extension's configuration table, whose other rows the extension itself
//! creates on restore) are left out: their restored count is not the dumped one. Sequence
//! values are read back from the SEQUENCE SET entries the dump wrote, so they are the very
//! values a restore sets, not a second read of a sequence that may have moved since.

use super::schema::{Entry, Kind};
use crate::manifest::{SequenceValue, TableRows};

/// The table a data file holds rows of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    /// Schema, unquoted.
    pub schema: String,
    /// Table, unquoted.
    pub name: String,
    /// Whether only some rows were dumped (`COPY (SELECT ... WHERE ...)`).
    pub filtered: bool,
}

/// Row counts of the tables that hold all their rows in the archive, sorted by name.
pub fn table_rows<'a>(files: impl IntoIterator<Item = (&'a TableName, u64)>) -> Vec<TableRows> {
    let mut rows: Vec<TableRows> = files
        .into_iter()
        .filter(|(table, _)| !table.filtered)
        .map(|(table, rows)| TableRows {
            schema: table.schema.clone(),
            name: table.name.clone(),
            rows,
        })
        .collect();
    rows.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    rows
}

/// The values the SEQUENCE SET entries among `entries` set, sorted by name.
pub fn sequence_values(entries: &[Entry]) -> Vec<SequenceValue> {
    let mut values: Vec<SequenceValue> = entries
        .iter()
        .filter(|e| e.kind == Kind::SequenceSet)
        .filter_map(|e| {
            let (last_value, is_called) = parse_setval(&e.defn)?;
            Some(SequenceValue {
                schema: e.namespace.clone().unwrap_or_default(),
                name: e.tag.clone(),
                last_value,
                is_called,
            })
        })
        .collect();
    values.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    values
}

/// `SELECT pg_catalog.setval('s.q', 42, true);\n` → `(42, true)`.
fn parse_setval(defn: &str) -> Option<(i64, bool)> {
    let inner = defn.trim_end().strip_suffix(");")?;
    let mut parts = inner.rsplitn(3, ", ");
    let is_called = match parts.next()? {
        "true" => true,
        "false" => false,
        _ => return None,
    };
    let last_value = parts.next()?.parse().ok()?;
    Some((last_value, is_called))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setval_statements_give_their_value_even_with_commas_in_the_name() {
        assert_eq!(
            parse_setval("SELECT pg_catalog.setval('app.\"a, b\"', 42, true);\n"),
            Some((42, true))
        );
        assert_eq!(
            parse_setval("SELECT pg_catalog.setval('s.q', -7, false);\n"),
            Some((-7, false))
        );
        assert_eq!(parse_setval("SELECT 1;\n"), None);
    }

    #[test]
    fn filtered_tables_are_left_out_and_the_rest_sorted() {
        let t = |schema: &str, name: &str, filtered| TableName {
            schema: schema.into(),
            name: name.into(),
            filtered,
        };
        let (b, a, x) = (
            t("app", "b", false),
            t("app", "a", false),
            t("ext", "cfg", true),
        );
        let rows = table_rows([(&b, 2), (&x, 5), (&a, 1)]);
        let names: Vec<(&str, u64)> = rows.iter().map(|r| (r.name.as_str(), r.rows)).collect();
        assert_eq!(names, [("a", 1), ("b", 2)]);
    }
}
