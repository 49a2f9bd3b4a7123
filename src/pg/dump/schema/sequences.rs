//! Sequences, as pg_dump's dumpSequence and dumpSequenceData write them: `CREATE [UNLOGGED]
//! SEQUENCE` with its parameters, `ALTER SEQUENCE ... OWNED BY` for a sequence owned by a
//! dumped table's column (serial), an identity column's sequence as `ALTER TABLE ... ADD
//! GENERATED ... AS IDENTITY (...)`, and each sequence's current value (SEQUENCE SET), read
//! inside the dump's snapshot so it matches the table data. An extension's configuration
//! sequences (`pg_extension_config_dump`) get only their SEQUENCE SET.
//!
//! An identity sequence takes its type from its column: pg_dump writes no `AS` for it (the
//! server rejects an `AS` there), and writes `UNLOGGED`/`LOGGED` only when the sequence's
//! persistence differs from its table's (in the identity clause, or after it in older minor
//! releases).

use super::{CatalogSession, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member};
use crate::pg::connect::PgError;
use crate::pg::quote::literal;

/// Collects sequences.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT c.oid AS oid, n.nspname AS namespace, c.relname AS name, \
                pg_catalog.quote_ident(c.relname) AS quoted, \
                pg_catalog.format('%I.%I', n.nspname, c.relname) AS qualified, \
                pg_catalog.format_type(s.seqtypid, NULL) AS type_name, s.seqstart AS start, \
                s.seqincrement AS increment, s.seqmin AS min, s.seqmax AS max, \
                s.seqcache AS cache, s.seqcycle AS cycle, \
                c.relpersistence::text AS persistence, d.deptype::text AS deptype, \
                d.refobjid AS owner_oid, \
                CASE WHEN t.oid IS NOT NULL \
                     THEN pg_catalog.format('%I.%I', tn.nspname, t.relname) END AS owner_table, \
                t.relpersistence::text AS owner_persistence, \
                pg_catalog.quote_ident(a.attname) AS owner_column, \
                a.attidentity::text AS identity, \
                (tn.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND tn.nspname !~ '^pg_(toast|temp_|toast_temp_)' AND {}) AS owner_dumped, \
                pg_catalog.obj_description(c.oid, 'pg_class') AS comment, \
                COALESCE(ty.typarray, 0::pg_catalog.oid) AS array_type, c.reltype AS row_type \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid \
         LEFT JOIN pg_catalog.pg_type ty ON ty.oid = c.reltype \
         LEFT JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
              AND d.objid = c.oid AND d.objsubid = 0 \
              AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
              AND d.deptype IN ('a', 'i') \
         LEFT JOIN pg_catalog.pg_class t ON t.oid = d.refobjid \
         LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace \
         LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid \
              AND a.attnum = d.refobjsubid \
         WHERE c.relkind = 'S' AND {USER_SCHEMA} AND {} \
         ORDER BY n.nspname, c.relname",
        not_extension_member(catalog::CLASS, "t.oid"),
        not_extension_member(catalog::CLASS, "c.oid")
    );
    let mut entries = Vec::new();
    for row in cx.query("sequences", &sql, &[]).await? {
        let oid: u32 = row.get("oid");
        let namespace: String = row.get("namespace");
        let name: String = row.get("name");
        let quoted: String = row.get("quoted");
        let qualified: String = row.get("qualified");
        let params = Params {
            type_name: row.get("type_name"),
            start: row.get("start"),
            increment: row.get("increment"),
            min: row.get("min"),
            max: row.get("max"),
            cache: row.get("cache"),
            cycle: row.get("cycle"),
        };
        let persistence: String = row.get("persistence");
        let deptype: Option<String> = row.get("deptype");
        let owner_oid: Option<u32> = row.get("owner_oid");
        let owner_table: Option<String> = row.get("owner_table");
        let owner_column: Option<String> = row.get("owner_column");
        let owner_persistence: Option<String> = row.get("owner_persistence");
        let owner_dumped: Option<bool> = row.get("owner_dumped");
        let identity: Option<String> = row.get("identity");
        let comment: Option<String> = row.get("comment");
        let key = ObjKey::new(catalog::CLASS, oid);
        let owner_key = owner_oid.map(|o| ObjKey::new(catalog::CLASS, o));

        let identity_of = match (deptype.as_deref(), &owner_table, &owner_column) {
            (Some("i"), Some(table), Some(column)) => Some((table, column)),
            _ => None,
        };
        let (defn, drop_stmt) = match identity_of {
            Some((table, column)) => {
                let kind = match identity.as_deref() {
                    Some("a") => "ALWAYS",
                    _ => "BY DEFAULT",
                };
                let mut q = format!(
                    "ALTER TABLE {table} ALTER COLUMN {column} ADD GENERATED {kind} AS IDENTITY (\n    \
                     SEQUENCE NAME {qualified}\n"
                );
                let persistence_word = (owner_persistence.as_deref() != Some(persistence.as_str()))
                    .then_some(if persistence == "u" {
                        "UNLOGGED"
                    } else {
                        "LOGGED"
                    });
                let inline = persistence_inline(cx.version);
                if let (Some(word), true) = (persistence_word, inline) {
                    q.push_str(&format!("    {word}\n"));
                }
                q.push_str(&params.clauses(false));
                q.push_str("\n);\n");
                if let (Some(word), false) = (persistence_word, inline) {
                    q.push_str(&format!("ALTER SEQUENCE {qualified} SET {word};\n"));
                }
                (q, String::new())
            }
            None => (
                format!(
                    "CREATE {}SEQUENCE {qualified}\n{};\n",
                    if persistence == "u" { "UNLOGGED " } else { "" },
                    params.clauses(true)
                ),
                format!("DROP SEQUENCE {qualified};\n"),
            ),
        };
        let mut entry = Entry::new(key, Kind::Sequence, "SEQUENCE", &name, defn);
        entry.namespace = Some(namespace.clone());
        entry.drop_stmt = Some(drop_stmt);
        entry.claims = [row.get::<_, u32>("row_type"), row.get("array_type")]
            .into_iter()
            .filter(|o| *o != 0)
            .map(|o| ObjKey::new(catalog::TYPE, o))
            .collect();
        if let Some(owner) = owner_key {
            entry.deps.push(owner);
        }
        entry.comment(
            comment,
            format!("SEQUENCE {quoted}"),
            &format!("SEQUENCE {qualified}"),
        );
        entries.push(entry);

        if let (Some("a"), Some(table), Some(column), Some(owner), Some(true)) = (
            deptype.as_deref(),
            &owner_table,
            &owner_column,
            owner_key,
            owner_dumped,
        ) {
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

        entries.push(sequence_set(cx, key, &namespace, &name, &qualified, params.start).await?);
    }
    // Configuration sequences of extensions: the extension creates them, their value is data.
    let config = cx
        .query(
            "extension configuration sequences",
            "SELECT c.oid AS oid, n.nspname AS namespace, c.relname AS name, \
                    pg_catalog.format('%I.%I', n.nspname, c.relname) AS qualified, \
                    s.seqstart AS start \
             FROM pg_catalog.pg_extension x \
             CROSS JOIN LATERAL pg_catalog.unnest(x.extconfig) AS u(config) \
             JOIN pg_catalog.pg_class c ON c.oid = u.config \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid \
             WHERE x.oid >= 16384 AND c.relkind = 'S' \
             ORDER BY c.oid",
            &[],
        )
        .await?;
    for row in &config {
        let key = ObjKey::new(catalog::CLASS, row.get("oid"));
        let (namespace, name, qualified): (String, String, String) =
            (row.get("namespace"), row.get("name"), row.get("qualified"));
        entries.push(sequence_set(cx, key, &namespace, &name, &qualified, row.get("start")).await?);
    }
    Ok(entries)
}

/// The SEQUENCE SET entry of a sequence: its value in the dump's snapshot.
async fn sequence_set(
    cx: &CatalogSession<'_>,
    key: ObjKey,
    namespace: &str,
    name: &str,
    qualified: &str,
    start: i64,
) -> Result<Entry, PgError> {
    let value_row = cx
        .query(
            &format!("the value of sequence {qualified}"),
            &format!("SELECT last_value AS last_value, is_called AS is_called FROM {qualified}"),
            &[],
        )
        .await?;
    let (last_value, is_called): (i64, bool) = match value_row.first() {
        Some(r) => (r.get("last_value"), r.get("is_called")),
        None => (start, false),
    };
    let mut set = Entry::new(
        key,
        Kind::SequenceSet,
        "SEQUENCE SET",
        name,
        format!(
            "SELECT pg_catalog.setval({}, {last_value}, {is_called});\n",
            literal(qualified)
        ),
    );
    set.namespace = Some(namespace.to_string());
    set.deps = vec![key];
    Ok(set)
}

/// Whether the identity clause itself can say `LOGGED`/`UNLOGGED`: pg_dump has written it
/// there since 15.9, 16.5 and 17.1 (bug #18618); before, it followed with `ALTER SEQUENCE ...
/// SET [UN]LOGGED`.
fn persistence_inline(version: i32) -> bool {
    match version / 10000 {
        15 => version >= 150009,
        16 => version >= 160005,
        17 => version >= 170001,
        _ => true,
    }
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
    /// The option lines, one per line and indented; `AS type` first when `with_type` and the
    /// type is not bigint.
    fn clauses(&self, with_type: bool) -> String {
        let (type_min, type_max) = match self.type_name.as_str() {
            "smallint" => (i64::from(i16::MIN), i64::from(i16::MAX)),
            "integer" => (i64::from(i32::MIN), i64::from(i32::MAX)),
            _ => (i64::MIN, i64::MAX),
        };
        let (default_min, default_max) = if self.increment >= 0 {
            (1, type_max)
        } else {
            (type_min, -1)
        };
        let mut lines = Vec::new();
        if with_type && self.type_name != "bigint" {
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
            .map(|l| format!("    {l}"))
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
            p.clauses(true),
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
            p.clauses(true),
            "    START WITH -1\n    INCREMENT BY -1\n    MINVALUE -100\n    NO MAXVALUE\n    CACHE 5\n    CYCLE"
        );
    }

    #[test]
    fn older_minor_releases_set_identity_sequence_persistence_afterwards() {
        assert!(!persistence_inline(160002));
        assert!(persistence_inline(160005));
        assert!(!persistence_inline(150008) && persistence_inline(150020));
        assert!(!persistence_inline(170000) && persistence_inline(170010));
        assert!(persistence_inline(180006) && persistence_inline(140023));
    }

    #[test]
    fn identity_sequences_take_their_type_from_the_column() {
        let p = Params {
            type_name: "integer".into(),
            start: 1,
            increment: 1,
            min: 1,
            max: i64::from(i32::MAX),
            cache: 1,
            cycle: false,
        };
        assert!(!p.clauses(false).contains("AS integer"));
    }
}
