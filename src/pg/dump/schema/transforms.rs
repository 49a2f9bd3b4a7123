//! Transforms (CREATE TRANSFORM), as pg_dump's `dumpTransform` writes them:
//! `CREATE TRANSFORM FOR type LANGUAGE lang (FROM SQL WITH FUNCTION schema.f(internal), TO SQL
//! WITH FUNCTION ...)`. Every transform that is not a member of an extension is dumped (none
//! are built in). Tags are `TRANSFORM FOR type LANGUAGE lang`.

use super::{CatalogSession, Entry, Kind, ObjKey, catalog, functions, not_extension_member};
use crate::pg::connect::PgError;

/// One transform, as read from the catalog.
#[derive(Debug, Clone, Default)]
struct Transform {
    oid: u32,
    /// `format_type` of the type.
    type_name: String,
    /// The language, quoted.
    language: String,
    /// `schema.name(internal)` of the functions, when set.
    from_sql: Option<String>,
    to_sql: Option<String>,
    comment: Option<String>,
}

/// Collects transforms.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT t.oid, pg_catalog.format_type(t.trftype, NULL) AS type_name, \
                pg_catalog.quote_ident(l.lanname) AS language, \
                CASE WHEN t.trffromsql <> 0 THEN {} END AS from_sql, \
                CASE WHEN t.trftosql <> 0 THEN {} END AS to_sql, \
                pg_catalog.obj_description(t.oid, 'pg_transform') AS comment \
         FROM pg_catalog.pg_transform t JOIN pg_catalog.pg_language l ON l.oid = t.trflang \
         WHERE {} ORDER BY t.trftype, t.trflang",
        functions::signature_sql("t.trffromsql"),
        functions::signature_sql("t.trftosql"),
        not_extension_member(catalog::TRANSFORM, "t.oid"),
    );
    let rows = cx.query("transforms", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| {
            Transform {
                oid: row.get("oid"),
                type_name: row.get("type_name"),
                language: row.get("language"),
                from_sql: row.get("from_sql"),
                to_sql: row.get("to_sql"),
                comment: row.get("comment"),
            }
            .entry()
        })
        .collect())
}

impl Transform {
    /// The archive entry, with its comment.
    fn entry(self) -> Entry {
        let target = format!("FOR {} LANGUAGE {}", self.type_name, self.language);
        let mut functions = Vec::new();
        if let Some(f) = &self.from_sql {
            functions.push(format!("FROM SQL WITH FUNCTION {f}"));
        }
        if let Some(f) = &self.to_sql {
            functions.push(format!("TO SQL WITH FUNCTION {f}"));
        }
        let mut entry = Entry::new(
            ObjKey::new(catalog::TRANSFORM, self.oid),
            Kind::Transform,
            "TRANSFORM",
            format!("TRANSFORM {target}"),
            format!("CREATE TRANSFORM {target} ({});\n", functions.join(", ")),
        );
        entry.drop_stmt = Some(format!("DROP TRANSFORM {target};\n"));
        entry.comment(
            self.comment,
            format!("TRANSFORM {target}"),
            &format!("TRANSFORM {target}"),
        );
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms_list_the_functions_they_have() {
        let entry = Transform {
            oid: 30000,
            type_name: "integer".into(),
            language: "sql".into(),
            from_sql: Some("pg_catalog.prsd_lextype(internal)".into()),
            to_sql: Some("app.\"To\"(internal)".into()),
            comment: Some("c".into()),
        }
        .entry();
        assert_eq!(entry.tag, "TRANSFORM FOR integer LANGUAGE sql");
        assert_eq!(
            entry.defn,
            "CREATE TRANSFORM FOR integer LANGUAGE sql (FROM SQL WITH FUNCTION \
             pg_catalog.prsd_lextype(internal), TO SQL WITH FUNCTION app.\"To\"(internal));\n"
        );
        assert_eq!(
            entry.drop_stmt.as_deref(),
            Some("DROP TRANSFORM FOR integer LANGUAGE sql;\n")
        );
        assert_eq!(
            entry.comments[0].defn,
            "COMMENT ON TRANSFORM FOR integer LANGUAGE sql IS 'c';\n"
        );
        let one_way = Transform {
            oid: 30001,
            type_name: "text".into(),
            language: "plpgsql".into(),
            to_sql: Some("app.t(internal)".into()),
            ..Transform::default()
        }
        .entry();
        assert_eq!(
            one_way.defn,
            "CREATE TRANSFORM FOR text LANGUAGE plpgsql (TO SQL WITH FUNCTION app.t(internal));\n"
        );
    }
}
