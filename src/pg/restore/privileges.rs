//! Owners and privileges on restore, as pg_restore applies them (pure, so unit-tested):
//!
//! - after an entry that records an owner and has a DROP statement, `ALTER <object> OWNER TO
//!   <owner>`, the object named as pg_restore names it (from the tag, or for functions,
//!   aggregates and operators from the DROP statement; every large object of a `BLOB
//!   METADATA` entry);
//! - `ACL` and `DEFAULT ACL` entries run in a pass of their own after everything else; a
//!   `LARGE OBJECTS a..b` ACL entry holds the statements for its first large object only and
//!   is run for each large object of the `BLOB METADATA` entry it depends on;
//! - before anything changes, every role those statements name must exist on the target
//!   ([`named_roles`] finds them in the statements pg_dump and fullsite write).

use std::collections::BTreeSet;

use super::plan::RestorePlan;
use crate::pg::archive::TocEntry;

/// Kinds whose owner is changed by naming the object: `ALTER <desc> [schema.]name OWNER TO`.
const NAMED_BY_TAG: &[&str] = &[
    "COLLATION",
    "CONVERSION",
    "DOMAIN",
    "FOREIGN TABLE",
    "MATERIALIZED VIEW",
    "SEQUENCE",
    "STATISTICS",
    "TABLE",
    "TEXT SEARCH DICTIONARY",
    "TEXT SEARCH CONFIGURATION",
    "TYPE",
    "VIEW",
    "DATABASE",
    "PROCEDURAL LANGUAGE",
    "SCHEMA",
    "EVENT TRIGGER",
    "FOREIGN DATA WRAPPER",
    "SERVER",
    "PUBLICATION",
    "SUBSCRIPTION",
];

/// Kinds whose owner is changed by naming the object as their DROP statement does (with
/// argument or operand types).
const NAMED_BY_DROP: &[&str] = &[
    "AGGREGATE",
    "FUNCTION",
    "OPERATOR",
    "OPERATOR CLASS",
    "OPERATOR FAMILY",
    "PROCEDURE",
];

/// The role that owns `entry`'s object, when the restore changes its owner: the entry records
/// one, has a DROP statement (pg_dump's sign of an object of its own) and is of a kind that
/// has owners.
pub fn owner_of(entry: &TocEntry) -> Option<&str> {
    let owner = entry.owner.as_deref().filter(|o| !o.is_empty())?;
    entry.drop_stmt.as_deref().filter(|d| !d.is_empty())?;
    let kind = entry.desc.as_str();
    (NAMED_BY_TAG.contains(&kind)
        || NAMED_BY_DROP.contains(&kind)
        || kind == "BLOB"
        || kind == "BLOB METADATA")
        .then_some(owner)
}

/// `ALTER ... OWNER TO ...;` statements giving `entry`'s object its recorded owner (empty when
/// [`owner_of`] finds none).
pub fn alter_owner(entry: &TocEntry) -> String {
    let Some(owner) = owner_of(entry) else {
        return String::new();
    };
    let to = format!(" OWNER TO {};\n", ident(owner));
    let kind = entry.desc.as_str();
    if kind == "BLOB METADATA" {
        return large_objects(entry)
            .map(|oid| format!("ALTER LARGE OBJECT {oid}{to}"))
            .collect();
    }
    let object = if kind == "BLOB" {
        format!("LARGE OBJECT {}", entry.tag)
    } else if NAMED_BY_DROP.contains(&kind) {
        let drop = entry.drop_stmt.as_deref().unwrap_or_default();
        let named = drop.strip_prefix("DROP ").unwrap_or(drop);
        named.trim_end_matches([';', '\n']).to_string()
    } else {
        match entry.namespace.as_deref().filter(|n| !n.is_empty()) {
            Some(namespace) => format!("{kind} {}.{}", ident(namespace), ident(&entry.tag)),
            None => format!("{kind} {}", ident(&entry.tag)),
        }
    };
    format!("ALTER {object}{to}")
}

/// The roles a restore by `plan` names: as owners (unless it skips owners), and in its
/// privileges pass.
pub fn roles(plan: &RestorePlan, entries: &[TocEntry]) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut owners = BTreeSet::new();
    if !plan.skip_owners {
        let run = plan
            .pre_data
            .iter()
            .chain(&plan.after_data)
            .chain(plan.post_data.iter().map(|s| &s.entry))
            .chain(&plan.last);
        for &index in run {
            if let Some(owner) = owner_of(&entries[index]) {
                owners.insert(owner.to_string());
            }
        }
    }
    let mut grants = BTreeSet::new();
    for &index in &plan.privileges {
        grants.extend(named_roles(
            entries[index].defn.as_deref().unwrap_or_default(),
        ));
    }
    (owners, grants)
}

/// The statements of an ACL entry. A `LARGE OBJECTS a..b` entry is expanded to every large
/// object of `blobs` (the `BLOB METADATA` entry it depends on): each statement naming `LARGE
/// OBJECT <oid>` is repeated with each of them.
pub fn acl_sql(entry: &TocEntry, blobs: Option<&TocEntry>) -> String {
    let defn = entry.defn.as_deref().unwrap_or_default();
    let Some(blobs) = blobs.filter(|_| entry.tag.starts_with("LARGE OBJECTS ")) else {
        return defn.to_string();
    };
    let oids: Vec<&str> = large_objects(blobs).collect();
    let mut sql = String::new();
    for statement in statements(defn) {
        match split_at_large_object(statement) {
            Some((before, after)) => {
                for oid in &oids {
                    sql.push_str(&format!("{before}{oid}{after}\n"));
                }
            }
            None => {
                sql.push_str(statement);
                sql.push('\n');
            }
        }
    }
    sql
}

/// The OIDs a `BLOB METADATA` entry lists, one per line.
fn large_objects(entry: &TocEntry) -> impl Iterator<Item = &str> {
    entry
        .defn
        .as_deref()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
}

/// The statements of `sql`, each with its `;`, split at semicolons outside double quotes.
fn statements(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (at, c) in sql.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(sql[start..=at].trim());
                start = at + 1;
            }
            _ => {}
        }
    }
    let rest = sql[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// `statement` split around the OID after `LARGE OBJECT ` (outside double quotes).
fn split_at_large_object(statement: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (at, c) in statement.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted && statement[at..].starts_with("LARGE OBJECT ") {
            let digits = at + "LARGE OBJECT ".len();
            let end = statement[digits..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(statement.len(), |n| digits + n);
            if end > digits {
                return Some((&statement[..digits], &statement[end..]));
            }
        }
    }
    None
}

/// The roles named in GRANT / REVOKE / ALTER DEFAULT PRIVILEGES / SET SESSION AUTHORIZATION
/// statements (grantees, grantors, the role of default privileges); `PUBLIC` is not a role.
pub fn named_roles(sql: &str) -> BTreeSet<String> {
    let tokens = tokens(sql);
    let mut roles = BTreeSet::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let word = |t: &Token, w: &str| matches!(t, Token::Word(x) if x.eq_ignore_ascii_case(w));
        match &tokens[i] {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth = depth.saturating_sub(1),
            Token::Punct(';') => depth = 0,
            t if depth == 0 && (word(t, "TO") || word(t, "FROM")) => {
                // a list of roles: name [, name ...]
                let mut j = i + 1;
                while let Some(role) = tokens.get(j).and_then(Token::role) {
                    roles.insert(role);
                    if !matches!(tokens.get(j + 1), Some(Token::Punct(','))) {
                        break;
                    }
                    j += 2;
                }
                i = j;
            }
            t if depth == 0 && word(t, "ROLE") && i > 0 && word(&tokens[i - 1], "FOR") => {
                let mut j = i + 1;
                while let Some(role) = tokens.get(j).and_then(Token::role) {
                    roles.insert(role);
                    if !matches!(tokens.get(j + 1), Some(Token::Punct(','))) {
                        break;
                    }
                    j += 2;
                }
                i = j;
            }
            t if word(t, "AUTHORIZATION")
                && i >= 2
                && word(&tokens[i - 1], "SESSION")
                && word(&tokens[i - 2], "SET") =>
            {
                if let Some(role) = tokens.get(i + 1).and_then(Token::role) {
                    roles.insert(role);
                }
            }
            _ => {}
        }
        i += 1;
    }
    roles
}

/// A lexical token of the statements [`named_roles`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An unquoted word (keyword or identifier).
    Word(String),
    /// A double-quoted identifier, unquoted.
    Quoted(String),
    /// A string literal (never a role).
    Literal,
    /// Any other character.
    Punct(char),
}

impl Token {
    /// The role this token names, if it can name one (`PUBLIC` and keywords cannot).
    fn role(&self) -> Option<String> {
        match self {
            Token::Quoted(name) => Some(name.clone()),
            Token::Word(word)
                if ![
                    "PUBLIC",
                    "GROUP",
                    "CURRENT_USER",
                    "SESSION_USER",
                    "CURRENT_ROLE",
                ]
                .iter()
                .any(|k| word.eq_ignore_ascii_case(k)) =>
            {
                Some(word.to_lowercase())
            }
            _ => None,
        }
    }
}

fn tokens(sql: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '"' => {
                let mut name = String::new();
                while let Some(c) = chars.next() {
                    if c == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            name.push('"');
                        } else {
                            break;
                        }
                    } else {
                        name.push(c);
                    }
                }
                out.push(Token::Quoted(name));
            }
            '\'' => {
                while let Some(c) = chars.next() {
                    if c == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                out.push(Token::Literal);
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut word = c.to_string();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || c == '_' || c == '$' {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Word(word));
            }
            c => out.push(Token::Punct(c)),
        }
    }
    out
}

/// A double-quoted identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(desc: &str, tag: &str, namespace: Option<&str>, owner: &str) -> TocEntry {
        TocEntry {
            dump_id: 5,
            desc: desc.into(),
            tag: tag.into(),
            namespace: namespace.map(String::from),
            owner: Some(owner.into()),
            drop_stmt: Some(format!("DROP {desc} x;\n")),
            ..TocEntry::default()
        }
    }

    #[test]
    fn owners_are_changed_by_name_as_pg_restore_names_objects() {
        assert_eq!(
            alter_owner(&entry("TABLE", "Accounts", Some("app"), "o")),
            "ALTER TABLE \"app\".\"Accounts\" OWNER TO \"o\";\n"
        );
        assert_eq!(
            alter_owner(&entry("SCHEMA", "public", None, "Fs \"A\"")),
            "ALTER SCHEMA \"public\" OWNER TO \"Fs \"\"A\"\"\";\n"
        );
        let mut function = entry("FUNCTION", "f(integer)", Some("app"), "o");
        function.drop_stmt = Some("DROP FUNCTION app.f(a integer);\n".into());
        assert_eq!(
            alter_owner(&function),
            "ALTER FUNCTION app.f(a integer) OWNER TO \"o\";\n"
        );
        assert_eq!(
            alter_owner(&entry("BLOB", "16400", None, "o")),
            "ALTER LARGE OBJECT 16400 OWNER TO \"o\";\n"
        );
        let mut blobs = entry("BLOB METADATA", "16400", None, "o");
        blobs.defn = Some("16400\n16401\n".into());
        assert_eq!(
            alter_owner(&blobs),
            "ALTER LARGE OBJECT 16400 OWNER TO \"o\";\nALTER LARGE OBJECT 16401 OWNER TO \"o\";\n"
        );
    }

    #[test]
    fn no_owner_change_without_owner_drop_statement_or_ownable_kind() {
        assert_eq!(alter_owner(&entry("TABLE", "t", Some("app"), "")), "");
        let mut no_drop = entry("TABLE", "t", Some("app"), "o");
        no_drop.drop_stmt = None;
        assert_eq!(alter_owner(&no_drop), "");
        for kind in [
            "INDEX",
            "CONSTRAINT",
            "TRIGGER",
            "ACL",
            "COMMENT",
            "EXTENSION",
        ] {
            assert_eq!(
                alter_owner(&entry(kind, "x", Some("app"), "o")),
                "",
                "{kind}"
            );
        }
    }

    #[test]
    fn large_object_acls_are_repeated_for_every_large_object() {
        let mut acl = entry("ACL", "LARGE OBJECTS 16400..16402", None, "o");
        acl.defn = Some(
            "REVOKE ALL ON LARGE OBJECT 16400 FROM \"o\";\n\
             SET SESSION AUTHORIZATION \"LARGE OBJECT 9\";\n\
             GRANT SELECT ON LARGE OBJECT 16400 TO r;\n\
             RESET SESSION AUTHORIZATION;\n"
                .into(),
        );
        let mut blobs = entry("BLOB METADATA", "16400", None, "o");
        blobs.defn = Some("16400\n16402\n".into());
        assert_eq!(
            acl_sql(&acl, Some(&blobs)),
            "REVOKE ALL ON LARGE OBJECT 16400 FROM \"o\";\n\
             REVOKE ALL ON LARGE OBJECT 16402 FROM \"o\";\n\
             SET SESSION AUTHORIZATION \"LARGE OBJECT 9\";\n\
             GRANT SELECT ON LARGE OBJECT 16400 TO r;\n\
             GRANT SELECT ON LARGE OBJECT 16402 TO r;\n\
             RESET SESSION AUTHORIZATION;\n"
        );
        let mut single = acl.clone();
        single.tag = "LARGE OBJECT 16400".into();
        assert_eq!(acl_sql(&single, Some(&blobs)), single.defn.clone().unwrap());
    }

    #[test]
    fn roles_are_found_in_grants_revokes_and_default_privileges() {
        let sql = "REVOKE ALL ON TABLE app.t FROM PUBLIC;\n\
                   REVOKE ALL ON TABLE app.\"to\" FROM o;\n\
                   GRANT SELECT(\"from\"),UPDATE(\"from\") ON TABLE app.t TO \"Fs \"\"A\"\"\" WITH GRANT OPTION;\n\
                   SET SESSION AUTHORIZATION admin;\n\
                   GRANT ALL ON FUNCTION app.f(\"to\" integer, b text) TO reader, writer;\n\
                   RESET SESSION AUTHORIZATION;\n\
                   ALTER DEFAULT PRIVILEGES FOR ROLE owner_role IN SCHEMA app GRANT SELECT ON TABLES TO PUBLIC;\n";
        let roles: Vec<String> = named_roles(sql).into_iter().collect();
        assert_eq!(
            roles,
            ["Fs \"A\"", "admin", "o", "owner_role", "reader", "writer"]
        );
    }
}
