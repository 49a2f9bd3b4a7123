//! Domains (CREATE DOMAIN), written the way pg_dump's `dumpDomain` writes them: base type,
//! COLLATE where it differs from the base type's, NOT NULL, DEFAULT, then the valid CHECK
//! constraints in name order. A constraint that is NOT VALID is its own post-data entry (CHECK
//! CONSTRAINT, or CONSTRAINT for a NOT NULL one), as in pg_dump: added after the data, so rows
//! that never satisfied it still load. Since PostgreSQL 17 NOT NULL is a constraint too; it is
//! named only when the name is not the one the server would choose. The domain claims the
//! constraints written inline, and carries the comments on them.
//!
//! Unlike pg_dump's, a NOT VALID constraint's entry depends on the tables holding values of
//! the domain: parallel pg_restore then adds it only once their rows are in (with pg_dump's
//! archive, a COPY still running when the constraint commits fails on the old rows).

use std::collections::HashMap;

use super::super::{CatalogSession, Comment, Entry, Kind, ObjKey, catalog, comment_sql};
use super::{Built, TypeRow, collation_name};
use crate::pg::connect::PgError;
use crate::pg::quote::literal;

/// A domain's definition, apart from its name.
#[derive(Debug, Default)]
pub(super) struct Domain {
    head: Head,
    constraints: Vec<Constraint>,
    /// Tables holding values of the domain, when it has NOT VALID constraints.
    tables: Vec<u32>,
}

/// What a domain is over, apart from its constraints.
#[derive(Debug, Default)]
struct Head {
    /// The base type, with its modifier.
    base: String,
    /// The collation, where it differs from the base type's.
    collation: Option<String>,
    /// `pg_type.typnotnull`.
    not_null: bool,
    /// The DEFAULT expression, ready to write.
    default: Option<String>,
}

/// A domain constraint: CHECK, or (PostgreSQL 17+) NOT NULL.
#[derive(Debug)]
struct Constraint {
    oid: u32,
    name: String,
    quoted: String,
    check: bool,
    /// `pg_get_constraintdef`: `CHECK (...)`, `NOT NULL`, ending in `NOT VALID` when not valid.
    definition: String,
    validated: bool,
    comment: Option<String>,
    /// For NOT NULL: named `<domain>_not_null`, as the server names it by default.
    default_name: bool,
}

/// Domains by OID.
pub(super) async fn read(
    cx: &CatalogSession<'_>,
    oids: &[u32],
) -> Result<HashMap<u32, Domain>, PgError> {
    let mut domains: HashMap<u32, Domain> = HashMap::new();
    if oids.is_empty() {
        return Ok(domains);
    }
    let sql = format!(
        "SELECT t.oid, pg_catalog.format_type(t.typbasetype, t.typtypmod) AS base, \
                CASE WHEN t.typcollation <> u.typcollation THEN {} END AS collation, \
                t.typnotnull AS not_null, \
                pg_catalog.pg_get_expr(t.typdefaultbin, 'pg_catalog.pg_type'::pg_catalog.regclass) \
                  AS default_expr, \
                t.typdefault AS default_text \
         FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_type u ON u.oid = t.typbasetype \
         WHERE t.oid = ANY($1)",
        collation_name("t.typcollation")
    );
    for row in cx.query("domains", &sql, &[&oids]).await? {
        // the deparsed expression is schema-qualified (typdefault is the text as it was
        // written); the text form is only a fallback, and being a plain value it needs quoting
        let default = row.get::<_, Option<String>>("default_expr").or_else(|| {
            row.get::<_, Option<String>>("default_text")
                .map(|text| literal(&text))
        });
        domains.entry(row.get("oid")).or_default().head = Head {
            base: row.get("base"),
            collation: row.get("collation"),
            not_null: row.get("not_null"),
            default,
        };
    }
    let rows = cx
        .query(
            "domain constraints",
            "SELECT c.contypid AS domain, c.oid, c.conname AS name, \
                    pg_catalog.quote_ident(c.conname) AS quoted, c.contype = 'c' AS is_check, \
                    pg_catalog.pg_get_constraintdef(c.oid) AS definition, \
                    c.convalidated AS validated, \
                    pg_catalog.obj_description(c.oid, 'pg_constraint') AS comment, \
                    c.conname = t.typname || '_not_null' AS default_name \
             FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_type t ON t.oid = c.contypid \
             WHERE c.contypid = ANY($1) AND c.contype IN ('c', 'n') \
             ORDER BY c.contypid, c.conname",
            &[&oids],
        )
        .await?;
    for row in rows {
        domains
            .entry(row.get("domain"))
            .or_default()
            .constraints
            .push(Constraint {
                oid: row.get("oid"),
                name: row.get("name"),
                quoted: row.get("quoted"),
                check: row.get("is_check"),
                definition: row.get("definition"),
                validated: row.get("validated"),
                comment: row.get("comment"),
                default_name: row.get("default_name"),
            });
    }
    let later: Vec<u32> = domains
        .iter()
        .filter(|(_, d)| d.constraints.iter().any(|c| !c.validated))
        .map(|(oid, _)| *oid)
        .collect();
    if !later.is_empty() {
        for row in cx.query("tables using domains", USERS, &[&later]).await? {
            if let Some(domain) = domains.get_mut(&row.get("domain")) {
                domain.tables.push(row.get("relation"));
            }
        }
    }
    Ok(domains)
}

/// SQL: the tables holding values of domains `$1` (in a column of the domain, of an array
/// of it, of a domain over it or of a composite type holding it), by domain.
const USERS: &str = "\
    WITH RECURSIVE used(domain, typ) AS ( \
        SELECT d, d FROM pg_catalog.unnest($1::pg_catalog.oid[]) AS d \
        UNION \
        SELECT u.domain, t.oid FROM used u JOIN pg_catalog.pg_type t \
            ON t.typelem = u.typ OR t.typbasetype = u.typ \
            OR t.typrelid IN (SELECT a.attrelid FROM pg_catalog.pg_attribute a \
                               WHERE a.atttypid = u.typ AND NOT a.attisdropped)) \
    SELECT DISTINCT u.domain, c.oid AS relation \
    FROM used u \
    JOIN pg_catalog.pg_attribute a ON a.atttypid = u.typ AND NOT a.attisdropped \
    JOIN pg_catalog.pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p')";

impl Domain {
    /// The domain's entry in the making: `CREATE DOMAIN` with its valid constraints, and a
    /// post-data entry for each NOT VALID one, with the comments on them.
    pub(super) fn build(self, t: &TypeRow) -> Built {
        let qualified = &t.qualified;
        let head = self.head;
        let mut built = Built::new("DOMAIN", String::new());
        let mut checks = String::new();
        let mut not_null = head.not_null.then(|| " NOT NULL".to_string());
        let mut not_null_comment = None;
        for c in self.constraints {
            let key = ObjKey::new(catalog::CONSTRAINT, c.oid);
            let comment = c.comment.clone().map(|text| Comment {
                tag: format!("CONSTRAINT {} ON DOMAIN {}", c.quoted, t.quoted),
                defn: comment_sql(
                    &format!("CONSTRAINT {} ON DOMAIN {qualified}", c.quoted),
                    &text,
                ),
            });
            if !c.validated {
                let mut entry = separate(t, &c, key, comment);
                // not pg_dump's doing: the constraint must not be added while a parallel
                // restore still loads rows that break it (pg_restore turns these into
                // dependencies on the tables' data)
                entry.deps.extend(
                    self.tables
                        .iter()
                        .map(|oid| ObjKey::new(catalog::CLASS, *oid)),
                );
                built.separate.push(entry);
                if !c.check {
                    not_null = None;
                }
            } else if c.check {
                checks.push_str(&format!("\n\tCONSTRAINT {} {}", c.quoted, c.definition));
                built.claims.push(key);
                built.comments.extend(comment);
            } else {
                if head.not_null && !c.default_name {
                    not_null = Some(format!(" CONSTRAINT {} {}", c.quoted, c.definition));
                }
                built.claims.push(key);
                not_null_comment = comment;
            }
        }
        built.comments.extend(not_null_comment);
        let mut defn = format!("CREATE DOMAIN {qualified} AS {}", head.base);
        if let Some(collation) = head.collation {
            defn.push_str(&format!(" COLLATE {collation}"));
        }
        defn.push_str(&not_null.unwrap_or_default());
        if let Some(default) = head.default {
            defn.push_str(&format!(" DEFAULT {default}"));
        }
        defn.push_str(&checks);
        defn.push_str(";\n");
        built.defn = defn;
        built
    }
}

/// The post-data entry adding a NOT VALID constraint to domain `t`.
fn separate(t: &TypeRow, c: &Constraint, key: ObjKey, comment: Option<Comment>) -> Entry {
    let qualified = &t.qualified;
    let mut entry = Entry::new(
        key,
        Kind::Constraint,
        if c.check {
            "CHECK CONSTRAINT"
        } else {
            "CONSTRAINT"
        },
        format!("{} {}", t.name, c.name),
        format!(
            "ALTER DOMAIN {qualified}\n    ADD CONSTRAINT {} {};\n",
            c.quoted, c.definition
        ),
    );
    entry.namespace = Some(t.namespace.clone());
    entry.drop_stmt = Some(format!(
        "ALTER DOMAIN {qualified} DROP CONSTRAINT {};\n",
        c.quoted
    ));
    entry.comments.extend(comment);
    entry
}

#[cfg(test)]
mod tests {
    use super::super::tests::row;
    use super::*;

    fn constraint(oid: u32, name: &str, check: bool, validated: bool) -> Constraint {
        Constraint {
            oid,
            name: name.into(),
            quoted: name.into(),
            check,
            definition: if check {
                format!("CHECK ((VALUE > {oid}))")
            } else {
                "NOT NULL".into()
            },
            validated,
            comment: Some(format!("about {name}")),
            default_name: false,
        }
    }

    #[test]
    fn not_valid_domain_checks_become_post_data_entries_of_their_own() {
        let domain = Domain {
            head: Head {
                base: "integer".into(),
                collation: None,
                not_null: true,
                default: Some("1".into()),
            },
            constraints: vec![
                constraint(7, "nn", false, true),
                constraint(8, "ok", true, true),
                constraint(9, "later", true, false),
            ],
            tables: vec![40],
        };
        let built = domain.build(&row("d"));
        assert_eq!(
            built.defn,
            "CREATE DOMAIN app.\"My T\" AS integer CONSTRAINT nn NOT NULL DEFAULT 1\n\
             \tCONSTRAINT ok CHECK ((VALUE > 8));\n"
        );
        assert_eq!(
            built.claims,
            vec![
                ObjKey::new(catalog::CONSTRAINT, 7),
                ObjKey::new(catalog::CONSTRAINT, 8)
            ]
        );
        // checks' comments first, then the NOT NULL one's
        let tags: Vec<&str> = built.comments.iter().map(|c| c.tag.as_str()).collect();
        assert_eq!(
            tags,
            [
                "CONSTRAINT ok ON DOMAIN \"My T\"",
                "CONSTRAINT nn ON DOMAIN \"My T\""
            ]
        );
        let [separate] = built.separate.as_slice() else {
            panic!("one separate entry expected");
        };
        assert_eq!(separate.key, ObjKey::new(catalog::CONSTRAINT, 9));
        assert_eq!(separate.kind, Kind::Constraint);
        assert_eq!(separate.desc, "CHECK CONSTRAINT");
        assert_eq!(separate.tag, "My T later");
        assert_eq!(separate.deps, [ObjKey::new(catalog::CLASS, 40)]);
        assert_eq!(
            separate.defn,
            "ALTER DOMAIN app.\"My T\"\n    ADD CONSTRAINT later CHECK ((VALUE > 9));\n"
        );
        assert_eq!(
            separate.drop_stmt.as_deref(),
            Some("ALTER DOMAIN app.\"My T\" DROP CONSTRAINT later;\n")
        );
        assert_eq!(
            separate.comments[0].defn,
            "COMMENT ON CONSTRAINT later ON DOMAIN app.\"My T\" IS 'about later';\n"
        );
    }

    #[test]
    fn default_named_not_null_is_written_bare() {
        let mut nn = constraint(7, "My T_not_null", false, true);
        nn.default_name = true;
        let domain = Domain {
            head: Head {
                base: "text".into(),
                collation: Some("pg_catalog.\"C\"".into()),
                not_null: true,
                default: None,
            },
            constraints: vec![nn],
            tables: Vec::new(),
        };
        assert_eq!(
            domain.build(&row("d")).defn,
            "CREATE DOMAIN app.\"My T\" AS text COLLATE pg_catalog.\"C\" NOT NULL;\n"
        );
    }
}
