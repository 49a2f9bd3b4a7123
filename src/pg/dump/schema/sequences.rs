//! Sequences: `CREATE SEQUENCE` with its parameters, `OWNED BY` (serial columns), identity
//! sequences (`ALTER TABLE ... ADD GENERATED ... AS IDENTITY`), and each sequence's current
//! value (`SEQUENCE SET`), read inside the dump's snapshot so it matches the table data.

use super::{Cx, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member};
use crate::pg::connect::PgError;
use crate::pg::quote::literal;

/// Collects sequences.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT c.oid, n.nspname, c.relname, pg_catalog.format('%I.%I', n.nspname, c.relname), \
                pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, \
                s.seqmin, s.seqmax, s.seqcache, s.seqcycle, c.relpersistence::text, \
                d.deptype::text, d.refobjid, \
                (SELECT pg_catalog.format('%I.%I', tn.nspname, t.relname) \
                   FROM pg_catalog.pg_class t JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace \
                  WHERE t.oid = d.refobjid), \
                (SELECT pg_catalog.quote_ident(a.attname) FROM pg_catalog.pg_attribute a \
                  WHERE a.attrelid = d.refobjid AND a.attnum = d.refobjsubid), \
                (SELECT a.attidentity::text FROM pg_catalog.pg_attribute a \
                  WHERE a.attrelid = d.refobjid AND a.attnum = d.refobjsubid), \
                pg_catalog.obj_description(c.oid, 'pg_class'), COALESCE(t.typarray, 0::oid), c.reltype \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid \
         LEFT JOIN pg_catalog.pg_type t ON t.oid = c.reltype \
         LEFT JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
              AND d.objid = c.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
              AND d.deptype IN ('a', 'i') \
         WHERE c.relkind = 'S' AND {USER_SCHEMA} AND {} \
         ORDER BY n.nspname, c.relname",
        not_extension_member(catalog::CLASS, "c.oid")
    );
    let mut entries = Vec::new();
    for row in cx.query("sequences", &sql, &[]).await? {
        let oid: u32 = row.get(0);
        let namespace: String = row.get(1);
        let name: String = row.get(2);
        let qualified: String = row.get(3);
        let type_name: String = row.get(4);
        let params = Params {
            type_name: type_name.clone(),
            start: row.get(5),
            increment: row.get(6),
            min: row.get(7),
            max: row.get(8),
            cache: row.get(9),
            cycle: row.get(10),
        };
        let unlogged = row.get::<_, String>(11) == "u";
        let dep_type: Option<String> = row.get(12);
        let owner_oid: Option<u32> = row.get(13);
        let owner_table: Option<String> = row.get(14);
        let owner_column: Option<String> = row.get(15);
        let identity: Option<String> = row.get(16);
        let comment: Option<String> = row.get(17);
        let (array_type, row_type): (u32, u32) = (row.get(18), row.get(19));
        let key = ObjKey::new(catalog::CLASS, oid);
        let owner_key = owner_oid.map(|o| ObjKey::new(catalog::CLASS, o));

        let (defn, drop_stmt) = match (dep_type.as_deref(), &owner_table, &owner_column) {
            (Some("i"), Some(table), Some(column)) => {
                let kind = if identity.as_deref() == Some("a") {
                    "ALWAYS"
                } else {
                    "BY DEFAULT"
                };
                (
                    format!(
                        "ALTER TABLE {table} ALTER COLUMN {column} ADD GENERATED {kind} AS IDENTITY (\n    \
                         SEQUENCE NAME {qualified}\n{}\n);\n",
                        params.clauses("    ")
                    ),
                    String::new(),
                )
            }
            _ => (
                format!(
                    "CREATE {}SEQUENCE {qualified}\n{};\n",
                    if unlogged { "UNLOGGED " } else { "" },
                    params.clauses("    ")
                ),
                format!("DROP SEQUENCE {qualified};\n"),
            ),
        };
        let mut entry = Entry::new(key, Kind::Sequence, "SEQUENCE", &name, defn);
        entry.namespace = Some(namespace.clone());
        entry.drop_stmt = Some(drop_stmt);
        entry.claims = [row_type, array_type]
            .into_iter()
            .filter(|o| *o != 0)
            .map(|o| ObjKey::new(catalog::TYPE, o))
            .collect();
        if let Some(owner) = owner_key {
            entry.deps.push(owner);
        }
        entry.comment(
            comment,
            format!("SEQUENCE {name}"),
            &format!("SEQUENCE {qualified}"),
        );
        entries.push(entry);

        if let (Some("a"), Some(table), Some(column), Some(owner)) =
            (dep_type.as_deref(), &owner_table, &owner_column, owner_key)
        {
            let mut owned = Entry::new(
                key,
                Kind::SequenceOwnedBy,
                "SEQUENCE OWNED BY",
                &name,
                format!("ALTER SEQUENCE {qualified} OWNED BY {table}.{column};\n"),
            );
            owned.namespace = Some(namespace.clone());
            owned.deps = vec![key, owner];
            entries.push(owned);
        }

        let value_row = cx
            .query(
                &format!("the value of sequence {qualified}"),
                &format!("SELECT last_value, is_called FROM {qualified}"),
                &[],
            )
            .await?;
        let (last_value, is_called): (i64, bool) = match value_row.first() {
            Some(r) => (r.get(0), r.get(1)),
            None => (params.start, false),
        };
        let mut set = Entry::new(
            key,
            Kind::SequenceSet,
            "SEQUENCE SET",
            &name,
            format!(
                "SELECT pg_catalog.setval({}, {last_value}, {is_called});\n",
                literal(&qualified)
            ),
        );
        set.namespace = Some(namespace);
        set.deps = vec![key];
        entries.push(set);
    }
    Ok(entries)
}

struct Params {
    type_name: String,
    start: i64,
    increment: i64,
    min: i64,
    max: i64,
    cache: i64,
    cycle: bool,
}

impl Params {
    /// The option lines of CREATE SEQUENCE / identity, one per line, indented.
    fn clauses(&self, indent: &str) -> String {
        let (type_min, type_max) = match self.type_name.as_str() {
            "smallint" => (i64::from(i16::MIN), i64::from(i16::MAX)),
            "integer" => (i64::from(i32::MIN), i64::from(i32::MAX)),
            _ => (i64::MIN, i64::MAX),
        };
        let (default_min, default_max) = if self.increment > 0 {
            (1, type_max)
        } else {
            (type_min, -1)
        };
        let mut lines = Vec::new();
        if self.type_name != "bigint" {
            lines.push(format!("AS {}", self.type_name));
        }
        lines.push(format!("START WITH {}", self.start));
        lines.push(format!("INCREMENT BY {}", self.increment));
        lines.push(if self.min == default_min {
            "NO MINVALUE".into()
        } else {
            format!("MINVALUE {}", self.min)
        });
        lines.push(if self.max == default_max {
            "NO MAXVALUE".into()
        } else {
            format!("MAXVALUE {}", self.max)
        });
        lines.push(format!("CACHE {}", self.cache));
        if self.cycle {
            lines.push("CYCLE".into());
        }
        lines
            .iter()
            .map(|l| format!("{indent}{l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_print_as_no_minvalue_and_no_maxvalue() {
        let p = Params {
            type_name: "integer".into(),
            start: 1,
            increment: 1,
            min: 1,
            max: i64::from(i32::MAX),
            cache: 1,
            cycle: false,
        };
        assert_eq!(
            p.clauses("    "),
            "    AS integer\n    START WITH 1\n    INCREMENT BY 1\n    NO MINVALUE\n    NO MAXVALUE\n    CACHE 1"
        );
        let p = Params {
            type_name: "bigint".into(),
            start: -1,
            increment: -1,
            min: -100,
            max: -1,
            cache: 5,
            cycle: true,
        };
        assert_eq!(
            p.clauses(""),
            "START WITH -1\nINCREMENT BY -1\nMINVALUE -100\nNO MAXVALUE\nCACHE 5\nCYCLE"
        );
    }
}
