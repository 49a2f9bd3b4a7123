//! Procedural languages (CREATE PROCEDURAL LANGUAGE), as pg_dump's `dumpProcLang` writes them.
//!
//! A language is the user's when its OID is above initdb's range and it is not a member of an
//! extension (plpgsql and the other core languages are extensions). It is written in full:
//! `CREATE [TRUSTED] PROCEDURAL LANGUAGE name HANDLER schema.f INLINE ... VALIDATOR ...`.
//!
//! A language whose handler, inline or validator function is not dumped itself (a built-in or
//! an extension's function) is not collected, so the census refuses it by name: pg_dump writes
//! it as `CREATE OR REPLACE PROCEDURAL LANGUAGE name`, which the server takes for CREATE
//! EXTENSION of that name, and that archive does not restore.

use super::{CatalogSession, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member};
use crate::pg::connect::PgError;

/// One procedural language, as read from the catalog.
#[derive(Debug, Clone, Default)]
struct Language {
    oid: u32,
    name: String,
    quoted: String,
    trusted: bool,
    /// `schema.name` of the handler, when it is dumped.
    handler: Option<String>,
    /// Whether there is an inline / validator function, and its name when it is dumped.
    has_inline: bool,
    inline: Option<String>,
    has_validator: bool,
    validator: Option<String>,
    comment: Option<String>,
}

/// SQL: `schema.name` of function `oid_expr` when it is dumped (in a user schema, not in an
/// extension), else NULL.
fn dumped_function(oid_expr: &str) -> String {
    format!(
        "(SELECT pg_catalog.format('%I.%I', n.nspname, f.proname) \
            FROM pg_catalog.pg_proc f JOIN pg_catalog.pg_namespace n ON n.oid = f.pronamespace \
           WHERE f.oid = {oid_expr} AND {USER_SCHEMA} AND {})",
        not_extension_member(catalog::PROC, "f.oid")
    )
}

/// Collects procedural languages.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    // OIDs below 16384 are initdb's
    let sql = format!(
        "SELECT l.oid, l.lanname AS name, pg_catalog.quote_ident(l.lanname) AS quoted, \
                l.lanpltrusted AS trusted, {} AS handler, \
                l.laninline <> 0 AS has_inline, {} AS inline, \
                l.lanvalidator <> 0 AS has_validator, {} AS validator, \
                pg_catalog.obj_description(l.oid, 'pg_language') AS comment \
         FROM pg_catalog.pg_language l \
         WHERE l.lanispl AND l.oid >= 16384 AND {} ORDER BY l.oid",
        dumped_function("l.lanplcallfoid"),
        dumped_function("l.laninline"),
        dumped_function("l.lanvalidator"),
        not_extension_member(catalog::LANGUAGE, "l.oid"),
    );
    let rows = cx.query("procedural languages", &sql, &[]).await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            Language {
                oid: row.get("oid"),
                name: row.get("name"),
                quoted: row.get("quoted"),
                trusted: row.get("trusted"),
                handler: row.get("handler"),
                has_inline: row.get("has_inline"),
                inline: row.get("inline"),
                has_validator: row.get("has_validator"),
                validator: row.get("validator"),
                comment: row.get("comment"),
            }
            .entry()
        })
        .collect())
}

impl Language {
    /// The archive entry, with its comment; `None` when the language's functions are not all
    /// dumped (see the module documentation).
    fn entry(self) -> Option<Entry> {
        let mut entry = Entry::new(
            ObjKey::new(catalog::LANGUAGE, self.oid),
            Kind::Language,
            "PROCEDURAL LANGUAGE",
            &self.name,
            self.definition()?,
        );
        entry.drop_stmt = Some(format!("DROP PROCEDURAL LANGUAGE {};\n", self.quoted));
        entry.comment(
            self.comment,
            format!("LANGUAGE {}", self.quoted),
            &format!("LANGUAGE {}", self.quoted),
        );
        Some(entry)
    }

    /// `CREATE ... PROCEDURAL LANGUAGE ...;\n` as dumpProcLang writes it when its functions are
    /// dumped too; `None` otherwise.
    fn definition(&self) -> Option<String> {
        let handler = self.handler.as_ref()?;
        if (self.has_inline && self.inline.is_none())
            || (self.has_validator && self.validator.is_none())
        {
            return None;
        }
        let mut sql = format!(
            "CREATE {}PROCEDURAL LANGUAGE {} HANDLER {handler}",
            if self.trusted { "TRUSTED " } else { "" },
            self.quoted
        );
        if let Some(inline) = &self.inline {
            sql.push_str(&format!(" INLINE {inline}"));
        }
        if let Some(validator) = &self.validator {
            sql.push_str(&format!(" VALIDATOR {validator}"));
        }
        sql.push_str(";\n");
        Some(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn language() -> Language {
        Language {
            oid: 40000,
            name: "PL Copy".into(),
            quoted: "\"PL Copy\"".into(),
            trusted: true,
            handler: Some("app.handler".into()),
            has_inline: true,
            inline: Some("app.inline".into()),
            has_validator: true,
            validator: Some("app.validator".into()),
            comment: None,
        }
    }

    #[test]
    fn languages_with_dumped_functions_are_written_in_full() {
        let entry = language().entry().expect("a language entry");
        assert_eq!(entry.tag, "PL Copy");
        assert_eq!(
            entry.defn,
            "CREATE TRUSTED PROCEDURAL LANGUAGE \"PL Copy\" HANDLER app.handler \
             INLINE app.inline VALIDATOR app.validator;\n"
        );
        assert_eq!(
            entry.drop_stmt.as_deref(),
            Some("DROP PROCEDURAL LANGUAGE \"PL Copy\";\n")
        );
        let bare = Language {
            trusted: false,
            has_inline: false,
            inline: None,
            has_validator: false,
            validator: None,
            ..language()
        };
        assert_eq!(
            bare.definition().as_deref(),
            Some("CREATE PROCEDURAL LANGUAGE \"PL Copy\" HANDLER app.handler;\n")
        );
    }

    #[test]
    fn languages_over_functions_not_dumped_are_not_collected() {
        let built_in_validator = Language {
            validator: None,
            ..language()
        };
        assert!(built_in_validator.entry().is_none());
        let built_in_handler = Language {
            handler: None,
            ..language()
        };
        assert!(built_in_handler.entry().is_none());
    }
}
