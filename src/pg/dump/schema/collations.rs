//! Collations (CREATE COLLATION), libc, ICU and (PostgreSQL 17+) builtin, as pg_dump's
//! `dumpCollation` writes them: the provider, `deterministic = false` when so, then the locale
//! the way the provider keeps it (libc: one `locale` when LC_COLLATE and LC_CTYPE agree, else
//! both; ICU: its locale, read from `collcollate` before PostgreSQL 15, and its rules on 16+;
//! builtin: its locale). No version: the restoring server computes its own.

use super::{CatalogSession, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member};
use crate::pg::connect::PgError;
use crate::pg::quote::literal;

/// One collation, as read from the catalog.
#[derive(Debug, Clone, Default)]
struct Collation {
    oid: u32,
    namespace: String,
    name: String,
    quoted: String,
    qualified: String,
    /// `c` libc, `i` ICU, `b` builtin, `d` the database default.
    provider: String,
    deterministic: bool,
    /// LC_COLLATE and LC_CTYPE (libc); NULL or empty when unset.
    collate: Option<String>,
    ctype: Option<String>,
    /// The ICU or builtin locale (PostgreSQL 15+).
    locale: Option<String>,
    /// ICU tailoring rules (PostgreSQL 16+).
    rules: Option<String>,
    comment: Option<String>,
}

/// Collects collations.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let locale = match cx.major() {
        17.. => "c.colllocale",
        15 | 16 => "c.colliculocale",
        _ => "NULL::pg_catalog.text",
    };
    let rules = if cx.major() >= 16 {
        "c.collicurules"
    } else {
        "NULL::pg_catalog.text"
    };
    let sql = format!(
        "SELECT c.oid, n.nspname AS namespace, c.collname AS name, \
                pg_catalog.quote_ident(c.collname) AS quoted, \
                pg_catalog.format('%I.%I', n.nspname, c.collname) AS qualified, \
                c.collprovider::pg_catalog.text AS provider, \
                c.collisdeterministic AS deterministic, \
                NULLIF(c.collcollate::pg_catalog.text, '') AS collate, \
                NULLIF(c.collctype::pg_catalog.text, '') AS ctype, \
                {locale}::pg_catalog.text AS locale, {rules} AS rules, \
                pg_catalog.obj_description(c.oid, 'pg_collation') AS comment \
         FROM pg_catalog.pg_collation c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace \
         WHERE {USER_SCHEMA} AND {} ORDER BY n.nspname, c.collname",
        not_extension_member(catalog::COLLATION, "c.oid"),
    );
    let rows = cx.query("collations", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| {
            Collation {
                oid: row.get("oid"),
                namespace: row.get("namespace"),
                name: row.get("name"),
                quoted: row.get("quoted"),
                qualified: row.get("qualified"),
                provider: row.get("provider"),
                deterministic: row.get("deterministic"),
                collate: row.get("collate"),
                ctype: row.get("ctype"),
                locale: row.get("locale"),
                rules: row.get("rules"),
                comment: row.get("comment"),
            }
            .entry()
        })
        .collect())
}

impl Collation {
    /// The archive entry, with its comment.
    fn entry(self) -> Entry {
        let mut entry = Entry::new(
            ObjKey::new(catalog::COLLATION, self.oid),
            Kind::Collation,
            "COLLATION",
            &self.name,
            self.definition(),
        );
        entry.namespace = Some(self.namespace.clone());
        entry.drop_stmt = Some(format!("DROP COLLATION {};\n", self.qualified));
        entry.comment(
            self.comment,
            format!("COLLATION {}", self.quoted),
            &format!("COLLATION {}", self.qualified),
        );
        entry
    }

    /// `CREATE COLLATION ... (...);\n` as dumpCollation writes it.
    fn definition(&self) -> String {
        let text = |value: &Option<String>| literal(value.as_deref().unwrap_or_default());
        let provider = match self.provider.as_str() {
            "b" => "builtin",
            "i" => "icu",
            "d" => "default",
            _ => "libc",
        };
        let mut sql = format!("CREATE COLLATION {} (provider = {provider}", self.qualified);
        if !self.deterministic {
            sql.push_str(", deterministic = false");
        }
        match self.provider.as_str() {
            "b" => sql.push_str(&format!(", locale = {}", text(&self.locale))),
            "i" => {
                // before PostgreSQL 15 an ICU locale is kept as LC_COLLATE
                let locale = self.locale.as_ref().or(self.collate.as_ref());
                sql.push_str(&format!(", locale = {}", text(&locale.cloned())));
                if let Some(rules) = &self.rules {
                    sql.push_str(&format!(", rules = {}", literal(rules)));
                }
            }
            "c" if self.collate.is_some() && self.collate == self.ctype => {
                sql.push_str(&format!(", locale = {}", text(&self.collate)));
            }
            "c" => sql.push_str(&format!(
                ", lc_collate = {}, lc_ctype = {}",
                text(&self.collate),
                text(&self.ctype)
            )),
            _ => {}
        }
        sql.push_str(");\n");
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collation(provider: &str) -> Collation {
        Collation {
            oid: 50000,
            namespace: "app".into(),
            name: "My Coll".into(),
            quoted: "\"My Coll\"".into(),
            qualified: "app.\"My Coll\"".into(),
            provider: provider.into(),
            deterministic: true,
            ..Collation::default()
        }
    }

    #[test]
    fn libc_collations_merge_equal_locales() {
        let mut c = collation("c");
        c.collate = Some("C".into());
        c.ctype = Some("C".into());
        assert_eq!(
            c.definition(),
            "CREATE COLLATION app.\"My Coll\" (provider = libc, locale = 'C');\n"
        );
        c.ctype = Some("POSIX".into());
        assert_eq!(
            c.definition(),
            "CREATE COLLATION app.\"My Coll\" (provider = libc, lc_collate = 'C', lc_ctype = 'POSIX');\n"
        );
        let entry = c.entry();
        assert_eq!(entry.tag, "My Coll");
        assert_eq!(
            entry.drop_stmt.as_deref(),
            Some("DROP COLLATION app.\"My Coll\";\n")
        );
    }

    #[test]
    fn icu_and_builtin_collations_write_their_locale() {
        let mut icu = collation("i");
        icu.deterministic = false;
        icu.locale = Some("und-u-ks-level2".into());
        icu.rules = Some("&a < g".into());
        assert_eq!(
            icu.definition(),
            "CREATE COLLATION app.\"My Coll\" (provider = icu, deterministic = false, \
             locale = 'und-u-ks-level2', rules = '&a < g');\n"
        );
        // PostgreSQL 14 keeps it in collcollate
        let mut old = collation("i");
        old.collate = Some("de-DE".into());
        old.ctype = Some("de-DE".into());
        assert_eq!(
            old.definition(),
            "CREATE COLLATION app.\"My Coll\" (provider = icu, locale = 'de-DE');\n"
        );
        let mut builtin = collation("b");
        builtin.locale = Some("C.UTF-8".into());
        assert_eq!(
            builtin.definition(),
            "CREATE COLLATION app.\"My Coll\" (provider = builtin, locale = 'C.UTF-8');\n"
        );
    }
}
