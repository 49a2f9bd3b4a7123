//! Access methods (CREATE ACCESS METHOD), as pg_dump's `dumpAccessMethod` writes them:
//! `CREATE ACCESS METHOD name TYPE INDEX|TABLE HANDLER function;`, the handler as `regproc`
//! prints it. An access method is the user's when its OID is above initdb's range and it is not
//! a member of an extension.

use super::{CatalogSession, Entry, Kind, ObjKey, catalog, not_extension_member};
use crate::pg::connect::PgError;

/// One access method, as read from the catalog.
#[derive(Debug, Clone, Default)]
struct AccessMethod {
    oid: u32,
    name: String,
    quoted: String,
    /// `i` index, `t` table.
    amtype: String,
    handler: String,
    comment: Option<String>,
}

/// Collects access methods.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    // OIDs below 16384 are initdb's
    let sql = format!(
        "SELECT a.oid, a.amname AS name, pg_catalog.quote_ident(a.amname) AS quoted, \
                a.amtype::pg_catalog.text AS amtype, \
                a.amhandler::pg_catalog.regproc::pg_catalog.text AS handler, \
                pg_catalog.obj_description(a.oid, 'pg_am') AS comment \
         FROM pg_catalog.pg_am a \
         WHERE a.oid >= 16384 AND {} ORDER BY a.amname",
        not_extension_member(catalog::ACCESS_METHOD, "a.oid"),
    );
    let rows = cx.query("access methods", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| {
            AccessMethod {
                oid: row.get("oid"),
                name: row.get("name"),
                quoted: row.get("quoted"),
                amtype: row.get("amtype"),
                handler: row.get("handler"),
                comment: row.get("comment"),
            }
            .entry()
        })
        .collect())
}

impl AccessMethod {
    /// The archive entry, with its comment.
    fn entry(self) -> Entry {
        let kind = if self.amtype == "t" { "TABLE" } else { "INDEX" };
        let mut entry = Entry::new(
            ObjKey::new(catalog::ACCESS_METHOD, self.oid),
            Kind::AccessMethod,
            "ACCESS METHOD",
            &self.name,
            format!(
                "CREATE ACCESS METHOD {} TYPE {kind} HANDLER {};\n",
                self.quoted, self.handler
            ),
        );
        entry.drop_stmt = Some(format!("DROP ACCESS METHOD {};\n", self.quoted));
        entry.comment(
            self.comment,
            format!("ACCESS METHOD {}", self.quoted),
            &format!("ACCESS METHOD {}", self.quoted),
        );
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_methods_name_their_type_and_handler() {
        let entry = AccessMethod {
            oid: 70000,
            name: "Heap 2".into(),
            quoted: "\"Heap 2\"".into(),
            amtype: "t".into(),
            handler: "heap_tableam_handler".into(),
            comment: Some("c".into()),
        }
        .entry();
        assert_eq!(entry.tag, "Heap 2");
        assert_eq!(
            entry.defn,
            "CREATE ACCESS METHOD \"Heap 2\" TYPE TABLE HANDLER heap_tableam_handler;\n"
        );
        assert_eq!(
            entry.drop_stmt.as_deref(),
            Some("DROP ACCESS METHOD \"Heap 2\";\n")
        );
        assert_eq!(
            entry.comments[0].defn,
            "COMMENT ON ACCESS METHOD \"Heap 2\" IS 'c';\n"
        );
    }
}
