//! GRANT and REVOKE statements that take an object from a base ACL (the default for its kind and
//! owner, or its initial privileges) to the ACL it has, in the form pg_dump writes them.
//!
//! An ACL is the text of an `aclitem[]` (`{alice=arw/bob,=r/bob}`). Items present in the base
//! but not in the object's ACL are revoked, items present only in the object's ACL are granted;
//! items are compared as text, as `aclitemout` prints them. Within the result:
//! - every REVOKE comes first, then the owner's own grants, then every other grant in the order
//!   the ACL lists them (grant options must exist before the grants made with them);
//! - a grant made by someone other than the owner is wrapped in `SET SESSION AUTHORIZATION
//!   <grantor>` / `RESET SESSION AUTHORIZATION`, so the restored ACL names the same grantor;
//! - privileges are listed in a fixed order per kind, and a complete set is written `ALL`.

use std::fmt::Write as _;

/// What the statements are about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    /// The object type as GRANT spells it (`TABLE`, `SEQUENCE`, `FUNCTION`, `SCHEMA`, ...), or
    /// its plural for default privileges (`TABLES`, ...).
    pub kind: &'a str,
    /// The object's name as GRANT takes it, quoted (`"Accounts"`, `f(a integer)`); empty for
    /// default privileges.
    pub name: &'a str,
    /// A column, quoted: the statements are then column privileges.
    pub column: Option<&'a str>,
    /// The object's schema, quoted, when the name must be qualified.
    pub schema: Option<&'a str>,
    /// The owner's role name (not quoted); grants without an explicit grantor are the owner's.
    pub owner: Option<&'a str>,
    /// Put before every GRANT and REVOKE (`ALTER DEFAULT PRIVILEGES FOR ROLE r `).
    pub prefix: &'a str,
    /// Whether the server knows the MAINTAIN table privilege (PostgreSQL 17 and later), and so
    /// whether a table's `ALL` includes it.
    pub maintain: bool,
}

/// An ACL that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the access privileges {acl:?} of {kind} {name}")]
pub(crate) struct AclError {
    /// The ACL text.
    pub acl: String,
    /// The object type.
    pub kind: String,
    /// The object's name.
    pub name: String,
}

/// The GRANT/REVOKE statements (each ending in `;\n`) that turn `base` into `acl` on `target`;
/// empty when they are equal or `acl` is empty (an object with no ACL has its default
/// privileges).
pub(crate) fn commands(
    target: &Target,
    acl: &str,
    base: &str,
    quote: &dyn Fn(&str) -> String,
) -> Result<String, AclError> {
    if acl.is_empty() {
        return Ok(String::new());
    }
    let error = |text: &str| AclError {
        acl: text.to_string(),
        kind: target.kind.to_string(),
        name: target.name.to_string(),
    };
    let items = parse_array(acl).ok_or_else(|| error(acl))?;
    let base_items = parse_array(base).ok_or_else(|| error(base))?;
    let to_grant = items.iter().filter(|i| !base_items.contains(i));
    let to_revoke = base_items.iter().filter(|i| !items.contains(i));

    let on = {
        let mut on = format!("ON {} ", target.kind);
        if let Some(schema) = target.schema {
            let _ = write!(on, "{schema}.");
        }
        if !target.name.is_empty() {
            let _ = write!(on, "{} ", target.name);
        }
        on
    };
    let who = |grantee: &str| {
        if grantee.is_empty() {
            "PUBLIC".to_string()
        } else {
            quote(grantee)
        }
    };
    let prefix = target.prefix;
    let mut first = String::new();
    let mut second = String::new();
    for item in to_revoke {
        let parsed = parse_item(item, target, false).ok_or_else(|| error(item))?;
        if !parsed.privileges.is_empty() {
            let _ = writeln!(
                first,
                "{prefix}REVOKE {} {on}FROM {};",
                parsed.privileges,
                who(&parsed.grantee)
            );
        }
    }
    for item in to_grant {
        let mut parsed = parse_item(item, target, true).ok_or_else(|| error(item))?;
        if parsed.privileges.is_empty() && parsed.with_grant_option.is_empty() {
            continue;
        }
        if parsed.grantor.is_empty()
            && let Some(owner) = target.owner
        {
            parsed.grantor = owner.to_string();
        }
        let owners_own = target
            .owner
            .is_some_and(|o| parsed.grantee == o && parsed.grantor == o);
        let out = if owners_own { &mut first } else { &mut second };
        let as_grantor =
            !parsed.grantor.is_empty() && target.owner.is_none_or(|o| o != parsed.grantor);
        if as_grantor {
            let _ = writeln!(out, "SET SESSION AUTHORIZATION {};", quote(&parsed.grantor));
        }
        let grantee = who(&parsed.grantee);
        if !parsed.privileges.is_empty() {
            let _ = writeln!(out, "{prefix}GRANT {} {on}TO {grantee};", parsed.privileges);
        }
        if !parsed.with_grant_option.is_empty() {
            let _ = writeln!(
                out,
                "{prefix}GRANT {} {on}TO {grantee} WITH GRANT OPTION;",
                parsed.with_grant_option
            );
        }
        if as_grantor {
            out.push_str("RESET SESSION AUTHORIZATION;\n");
        }
    }
    first.push_str(&second);
    Ok(first)
}

/// The elements of an array's text form (`{a,"b c"}`); `None` if it is not one.
pub(crate) fn parse_array(text: &str) -> Option<Vec<String>> {
    let inner = text.strip_prefix('{')?.strip_suffix('}')?;
    let mut items = Vec::new();
    if inner.is_empty() {
        return Some(items);
    }
    let mut chars = inner.chars().peekable();
    loop {
        let mut item = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' => item.push(chars.next()?),
                    '"' => break,
                    c => item.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                chars.next();
                if c == '\\' {
                    item.push(chars.next()?);
                } else {
                    item.push(c);
                }
            }
        }
        items.push(item);
        match chars.next() {
            None => return Some(items),
            Some(',') => continue,
            Some(_) => return None,
        }
    }
}

/// One ACL item, read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    /// Role granted to; empty for PUBLIC.
    grantee: String,
    /// Role that granted; empty when the item names none.
    grantor: String,
    /// Privileges without grant option, as GRANT lists them (`SELECT,UPDATE`, `ALL`).
    privileges: String,
    /// Privileges with grant option.
    with_grant_option: String,
}

/// Reads `grantee=privileges/grantor`. With `split_grant_option` false, every privilege goes to
/// `privileges` (a REVOKE takes the grant option away with the privilege).
fn parse_item(item: &str, target: &Target, split_grant_option: bool) -> Option<Item> {
    let (grantee, rest) = role_name(item);
    let rest = rest.strip_prefix('=')?;
    let (codes, grantor) = rest.split_once('/')?;
    let (grantor, rest) = role_name(grantor);
    if !rest.is_empty() {
        return None;
    }
    let mut privileges = Vec::new();
    let mut with_grant_option = Vec::new();
    let (mut all_plain, mut all_with_option) = (true, true);
    for &(code, keyword) in privilege_codes(target)? {
        let Some(at) = codes.find(code) else {
            all_plain = false;
            all_with_option = false;
            continue;
        };
        let named = match target.column {
            Some(column) => format!("{keyword}({column})"),
            None => keyword.to_string(),
        };
        if split_grant_option && codes[at + 1..].starts_with('*') {
            with_grant_option.push(named);
            all_plain = false;
        } else {
            privileges.push(named);
            all_with_option = false;
        }
    }
    let all = match target.column {
        Some(column) => format!("ALL({column})"),
        None => "ALL".to_string(),
    };
    if all_with_option {
        privileges.clear();
        with_grant_option = vec![all];
    } else if all_plain {
        with_grant_option.clear();
        privileges = vec![all];
    }
    Some(Item {
        grantee,
        grantor,
        privileges: privileges.join(","),
        with_grant_option: with_grant_option.join(","),
    })
}

/// The privilege letters of `target`'s kind and their keywords, in the order GRANT lists them.
fn privilege_codes(target: &Target) -> Option<&'static [(char, &'static str)]> {
    const TABLE: &[(char, &str)] = &[
        ('r', "SELECT"),
        ('a', "INSERT"),
        ('x', "REFERENCES"),
        ('d', "DELETE"),
        ('t', "TRIGGER"),
        ('D', "TRUNCATE"),
        ('w', "UPDATE"),
    ];
    const TABLE_WITH_MAINTAIN: &[(char, &str)] = &[
        ('r', "SELECT"),
        ('a', "INSERT"),
        ('x', "REFERENCES"),
        ('d', "DELETE"),
        ('t', "TRIGGER"),
        ('D', "TRUNCATE"),
        ('m', "MAINTAIN"),
        ('w', "UPDATE"),
    ];
    const COLUMN: &[(char, &str)] = &[
        ('r', "SELECT"),
        ('a', "INSERT"),
        ('x', "REFERENCES"),
        ('w', "UPDATE"),
    ];
    const SEQUENCE: &[(char, &str)] = &[('r', "SELECT"), ('U', "USAGE"), ('w', "UPDATE")];
    const EXECUTE: &[(char, &str)] = &[('X', "EXECUTE")];
    const USAGE: &[(char, &str)] = &[('U', "USAGE")];
    const SCHEMA: &[(char, &str)] = &[('C', "CREATE"), ('U', "USAGE")];
    const DATABASE: &[(char, &str)] = &[('C', "CREATE"), ('c', "CONNECT"), ('T', "TEMPORARY")];
    const CREATE: &[(char, &str)] = &[('C', "CREATE")];
    const SELECT: &[(char, &str)] = &[('r', "SELECT")];
    const PARAMETER: &[(char, &str)] = &[('s', "SET"), ('A', "ALTER SYSTEM")];
    const LARGE_OBJECT: &[(char, &str)] = &[('r', "SELECT"), ('w', "UPDATE")];
    Some(match target.kind {
        "TABLE" | "TABLES" if target.column.is_some() => COLUMN,
        "TABLE" | "TABLES" if target.maintain => TABLE_WITH_MAINTAIN,
        "TABLE" | "TABLES" => TABLE,
        "SEQUENCE" | "SEQUENCES" => SEQUENCE,
        "FUNCTION" | "FUNCTIONS" | "PROCEDURE" | "PROCEDURES" => EXECUTE,
        "LANGUAGE" | "TYPE" | "TYPES" | "FOREIGN DATA WRAPPER" | "FOREIGN SERVER" => USAGE,
        "SCHEMA" | "SCHEMAS" => SCHEMA,
        "DATABASE" => DATABASE,
        "TABLESPACE" => CREATE,
        "FOREIGN TABLE" => SELECT,
        "PARAMETER" => PARAMETER,
        "LARGE OBJECT" | "LARGE OBJECTS" => LARGE_OBJECT,
        _ => return None,
    })
}

/// A role name at the start of an ACL item, unquoted (`"a ""b"""` is `a "b"`), and the rest
/// (starting at the first `=` outside quotes).
fn role_name(text: &str) -> (String, &str) {
    let mut name = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '=' => return (name, &text[at..]),
            '"' => loop {
                match chars.next() {
                    None => return (name, ""),
                    Some((_, '"')) if chars.peek().map(|(_, c)| *c) == Some('"') => {
                        chars.next();
                        name.push('"');
                    }
                    Some((_, '"')) => break,
                    Some((_, c)) => name.push(c),
                }
            },
            c => name.push(c),
        }
    }
    (name, "")
}

/// A role name as an ACL item writes it: in double quotes (with `"` doubled) unless it is
/// made only of ASCII letters, digits and underscores.
pub(crate) fn acl_role_name(name: &str) -> String {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quotes like `quote_ident` for the names these tests use.
    fn quote(name: &str) -> String {
        if name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            name.to_string()
        } else {
            format!("\"{}\"", name.replace('"', "\"\""))
        }
    }

    fn table<'a>(owner: &'a str) -> Target<'a> {
        Target {
            kind: "TABLE",
            name: "accounts",
            column: None,
            schema: Some("app"),
            owner: Some(owner),
            prefix: "",
            maintain: true,
        }
    }

    fn run(target: &Target, acl: &str, base: &str) -> String {
        commands(target, acl, base, &quote).unwrap()
    }

    #[test]
    fn arrays_are_split_with_quotes_and_escapes() {
        assert_eq!(parse_array("{}"), Some(vec![]));
        assert_eq!(
            parse_array(r#"{a=r/b,"\"x y\"=r/b",=U/c}"#),
            Some(vec![
                "a=r/b".to_string(),
                "\"x y\"=r/b".to_string(),
                "=U/c".to_string()
            ])
        );
        assert_eq!(parse_array("a=r/b"), None);
        assert_eq!(parse_array(r#"{"unterminated}"#), None);
    }

    #[test]
    fn role_names_are_unquoted_and_quoted_back() {
        assert_eq!(
            role_name(r#""Fs Acl ""Q"""=r/x"#),
            ("Fs Acl \"Q\"".into(), "=r/x")
        );
        assert_eq!(role_name("=r/x"), (String::new(), "=r/x"));
        assert_eq!(acl_role_name("Fs Acl \"Q\""), r#""Fs Acl ""Q""""#);
        assert_eq!(acl_role_name("app_2"), "app_2");
    }

    #[test]
    fn no_acl_or_the_base_acl_needs_no_statement() {
        let base = "{o=arwdDxtm/o}";
        assert_eq!(run(&table("o"), "", base), "");
        assert_eq!(run(&table("o"), base, base), "");
    }

    #[test]
    fn grants_beyond_the_default_are_listed_in_grant_order_and_complete_sets_are_all() {
        let acl = "{o=arwdDxtm/o,reader=r/o,writer=awd/o,admin=a*r*w*d*D*x*t*m*/o,=r/o}";
        assert_eq!(
            run(&table("o"), acl, "{o=arwdDxtm/o}"),
            "GRANT SELECT ON TABLE app.accounts TO reader;\n\
             GRANT INSERT,DELETE,UPDATE ON TABLE app.accounts TO writer;\n\
             GRANT ALL ON TABLE app.accounts TO admin WITH GRANT OPTION;\n\
             GRANT SELECT ON TABLE app.accounts TO PUBLIC;\n"
        );
    }

    #[test]
    fn maintain_counts_only_where_the_server_has_it() {
        let mut before_17 = table("o");
        before_17.maintain = false;
        assert_eq!(
            run(&before_17, "{o=arwdDxt/o,x=arwdDxt/o}", "{o=arwdDxt/o}"),
            "GRANT ALL ON TABLE app.accounts TO x;\n"
        );
        assert_eq!(
            run(&table("o"), "{o=arwdDxtm/o,x=arwdDxt/o}", "{o=arwdDxtm/o}"),
            "GRANT SELECT,INSERT,REFERENCES,DELETE,TRIGGER,TRUNCATE,UPDATE ON TABLE app.accounts TO x;\n"
        );
    }

    #[test]
    fn revokes_come_first_then_the_owners_own_grants() {
        // The owner gave up TRUNCATE: everything of the owner's is revoked, then re-granted
        // before the grants to others.
        let acl = "{reader=r/o,o=arwdxtm/o}";
        assert_eq!(
            run(&table("o"), acl, "{o=arwdDxtm/o}"),
            "REVOKE ALL ON TABLE app.accounts FROM o;\n\
             GRANT SELECT,INSERT,REFERENCES,DELETE,TRIGGER,MAINTAIN,UPDATE ON TABLE app.accounts TO o;\n\
             GRANT SELECT ON TABLE app.accounts TO reader;\n"
        );
    }

    #[test]
    fn grants_by_another_grantor_run_as_that_grantor() {
        let acl = r#"{o=arwdDxtm/o,admin=r*x*/o,"\"Fs \"\"Q\"\"\"=rx/admin"}"#;
        assert_eq!(
            run(&table("o"), acl, "{o=arwdDxtm/o}"),
            "GRANT SELECT,REFERENCES ON TABLE app.accounts TO admin WITH GRANT OPTION;\n\
             SET SESSION AUTHORIZATION admin;\n\
             GRANT SELECT,REFERENCES ON TABLE app.accounts TO \"Fs \"\"Q\"\"\";\n\
             RESET SESSION AUTHORIZATION;\n"
        );
    }

    #[test]
    fn mixed_grant_options_give_two_statements() {
        let target = Target {
            kind: "SEQUENCE",
            name: "seq",
            ..table("o")
        };
        assert_eq!(
            run(&target, "{o=rwU/o,w=r*U/o}", "{o=rwU/o}"),
            "GRANT USAGE ON SEQUENCE app.seq TO w;\n\
             GRANT SELECT ON SEQUENCE app.seq TO w WITH GRANT OPTION;\n"
        );
    }

    #[test]
    fn column_privileges_name_the_column_in_each_privilege() {
        let target = Target {
            column: Some("\"Display Name\""),
            ..table("o")
        };
        assert_eq!(
            run(&target, "{app=rw*/o,r=arwx/o}", "{}"),
            "GRANT SELECT(\"Display Name\") ON TABLE app.accounts TO app;\n\
             GRANT UPDATE(\"Display Name\") ON TABLE app.accounts TO app WITH GRANT OPTION;\n\
             GRANT ALL(\"Display Name\") ON TABLE app.accounts TO r;\n"
        );
    }

    #[test]
    fn functions_schemas_and_types_closed_to_public() {
        let function = Target {
            kind: "FUNCTION",
            name: "f(a integer)",
            ..table("o")
        };
        assert_eq!(
            run(&function, "{o=X/o,app=X/o}", "{=X/o,o=X/o}"),
            "REVOKE ALL ON FUNCTION app.f(a integer) FROM PUBLIC;\n\
             GRANT ALL ON FUNCTION app.f(a integer) TO app;\n"
        );
        let schema = Target {
            kind: "SCHEMA",
            name: "app",
            schema: None,
            ..table("o")
        };
        assert_eq!(
            run(&schema, "{o=UC/o,=U/o,w=C/o}", "{o=UC/o,=U/o}"),
            "GRANT CREATE ON SCHEMA app TO w;\n"
        );
        assert_eq!(
            run(&schema, "{}", "{o=UC/o}"),
            "REVOKE ALL ON SCHEMA app FROM o;\n"
        );
    }

    #[test]
    fn default_privileges_have_a_prefix_and_no_name() {
        let target = Target {
            kind: "TABLES",
            name: "",
            column: None,
            schema: None,
            owner: Some("o"),
            prefix: "ALTER DEFAULT PRIVILEGES FOR ROLE o IN SCHEMA app ",
            maintain: true,
        };
        assert_eq!(
            run(&target, "{w=awd/o}", "{}"),
            "ALTER DEFAULT PRIVILEGES FOR ROLE o IN SCHEMA app GRANT INSERT,DELETE,UPDATE ON TABLES TO w;\n"
        );
        let functions = Target {
            kind: "FUNCTIONS",
            prefix: "ALTER DEFAULT PRIVILEGES FOR ROLE o ",
            ..target
        };
        assert_eq!(
            run(&functions, "{o=X/o}", "{=X/o,o=X/o}"),
            "ALTER DEFAULT PRIVILEGES FOR ROLE o REVOKE ALL ON FUNCTIONS FROM PUBLIC;\n"
        );
    }

    #[test]
    fn unreadable_acls_are_errors_naming_the_object() {
        let error = commands(&table("o"), "{nonsense}", "{}", &quote).unwrap_err();
        assert_eq!(error.acl, "nonsense");
        assert!(error.to_string().contains("TABLE accounts"), "{error}");
        let unknown = Target {
            kind: "WIDGET",
            ..table("o")
        };
        assert!(commands(&unknown, "{a=r/o}", "{}", &quote).is_err());
    }
}
