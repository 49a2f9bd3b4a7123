//! Encoding conversions (CREATE CONVERSION), as pg_dump's `dumpConversion` writes them:
//! `CREATE [DEFAULT] CONVERSION schema.name FOR 'source' TO 'destination' FROM function;`,
//! the function as `regproc` prints it (schema-qualified outside `pg_catalog`).

use super::{CatalogSession, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member};
use crate::pg::connect::PgError;
use crate::pg::quote::literal;

/// One conversion, as read from the catalog.
#[derive(Debug, Clone, Default)]
struct Conversion {
    oid: u32,
    namespace: String,
    name: String,
    quoted: String,
    qualified: String,
    /// Encoding names.
    source: String,
    destination: String,
    function: String,
    default: bool,
    comment: Option<String>,
}

/// Collects conversions.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT c.oid, n.nspname AS namespace, c.conname AS name, \
                pg_catalog.quote_ident(c.conname) AS quoted, \
                pg_catalog.format('%I.%I', n.nspname, c.conname) AS qualified, \
                pg_catalog.pg_encoding_to_char(c.conforencoding)::pg_catalog.text AS source, \
                pg_catalog.pg_encoding_to_char(c.contoencoding)::pg_catalog.text AS destination, \
                c.conproc::pg_catalog.text AS function, c.condefault AS default, \
                pg_catalog.obj_description(c.oid, 'pg_conversion') AS comment \
         FROM pg_catalog.pg_conversion c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace \
         WHERE {USER_SCHEMA} AND {} ORDER BY n.nspname, c.conname",
        not_extension_member(catalog::CONVERSION, "c.oid"),
    );
    let rows = cx.query("conversions", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| {
            Conversion {
                oid: row.get("oid"),
                namespace: row.get("namespace"),
                name: row.get("name"),
                quoted: row.get("quoted"),
                qualified: row.get("qualified"),
                source: row.get("source"),
                destination: row.get("destination"),
                function: row.get("function"),
                default: row.get("default"),
                comment: row.get("comment"),
            }
            .entry()
        })
        .collect())
}

impl Conversion {
    /// The archive entry, with its comment.
    fn entry(self) -> Entry {
        let defn = format!(
            "CREATE {}CONVERSION {} FOR {} TO {} FROM {};\n",
            if self.default { "DEFAULT " } else { "" },
            self.qualified,
            literal(&self.source),
            literal(&self.destination),
            self.function
        );
        let mut entry = Entry::new(
            ObjKey::new(catalog::CONVERSION, self.oid),
            Kind::Conversion,
            "CONVERSION",
            &self.name,
            defn,
        );
        entry.namespace = Some(self.namespace.clone());
        entry.drop_stmt = Some(format!("DROP CONVERSION {};\n", self.qualified));
        entry.comment(
            self.comment,
            format!("CONVERSION {}", self.quoted),
            &format!("CONVERSION {}", self.qualified),
        );
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_name_encodings_and_function() {
        let entry = Conversion {
            oid: 60000,
            namespace: "app".into(),
            name: "latin".into(),
            quoted: "latin".into(),
            qualified: "app.latin".into(),
            source: "LATIN1".into(),
            destination: "UTF8".into(),
            function: "iso8859_1_to_utf8".into(),
            default: true,
            comment: Some("c".into()),
        }
        .entry();
        assert_eq!(
            entry.defn,
            "CREATE DEFAULT CONVERSION app.latin FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;\n"
        );
        assert_eq!(
            entry.drop_stmt.as_deref(),
            Some("DROP CONVERSION app.latin;\n")
        );
        assert_eq!(entry.comments[0].tag, "CONVERSION latin");
    }
}
