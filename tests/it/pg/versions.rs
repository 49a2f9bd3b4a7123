//! Across versions, the upgrade and migration path: a generation fullsite made of a database on
//! each major of the matrix (14–18) restores into every newer major, both with `fullsite
//! restore` and with the target's own stock pg_restore, giving the schema and rows that a stock
//! dump/restore across the same two versions gives (the source's pg_dump, the target's
//! pg_restore, into a new database on the target).
//!
//! Corpora: for a source of major S, every `fixtures/pg/majors/pgNN*.sql` with NN ≤ S (each
//! loads on servers of NN and later), plus, from 15 on, `fixtures/pg/apps/*.sql` (written for
//! 15 and later) when both servers have the extensions the file creates. One test per source
//! major, each running its targets in turn; every problem of a test is reported together.
//! Server 14 is paired with 15's pg_dump (no registry publishes 14's). The source's roles are
//! created on the target first, as a migration does (roles are cluster-wide; pg_dump does not
//! dump them).
//!
//! Some pairs cannot be migrated by the stock tools either, for reasons outside fullsite: a
//! target built without a feature the source database uses (ICU collations, XML), or a target
//! minor release older than a syntax the source's pg_dump writes. Those are skipped when the
//! target lacks the feature, or listed in [`STOCK_CANNOT`] with the reason; for a listed pair
//! the test checks that the stock dump/restore still fails (so the entry goes when it no
//! longer applies).

use std::path::{Path, PathBuf};

use crate::support::cli::Sandbox;
use crate::support::db::{env_for_server, line_diff, load_file, schema_of, state_of, stock_dump};
use crate::support::postgres::PgServer;
use crate::support::{MAJORS, pg};

/// The corpora a database of major `source` is made from (see the module docs).
fn corpora(source: u32) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pg");
    let major_of = |name: &str| {
        name.strip_prefix("pg")
            .and_then(|rest| rest.get(..2))
            .and_then(|n| n.parse::<u32>().ok())
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["majors", "apps"] {
        for entry in std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let applies = match dir {
                "apps" => source >= 15,
                _ => major_of(&name).is_some_and(|n| n <= source),
            };
            if name.ends_with(".sql") && applies {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

/// Pairs the stock tools cannot migrate either: (corpus file, source major, target major,
/// why).
const STOCK_CANNOT: &[(&str, u32, u32, &str)] = &[(
    "pg15-tables.sql",
    15,
    16,
    "pg_dump 15.9 and later write an identity column's UNLOGGED sequence inside its identity \
     options, which servers before 16.5 do not accept; the 16 of the matrix is 16.2",
)];

/// A server feature a database may use that some builds lack, as (name, whether `db` on `pg`
/// uses it, whether `pg` has it).
fn missing_feature(from: &PgServer, db: &str, to: &PgServer) -> Option<&'static str> {
    // A server without the feature may refuse the question itself: that is a no.
    let yes = |pg: &PgServer, db: &str, sql: &str| {
        let output = pg
            .client_command("psql", &["-X", "-At", "-d", db, "-c", sql])
            .output()
            .unwrap();
        let answer = String::from_utf8_lossy(&output.stdout).trim() == "t";
        output.status.success() && answer
    };
    let features: [(&str, &str, &str); 2] = [
        (
            "ICU collations",
            "SELECT EXISTS (SELECT FROM pg_collation WHERE collprovider = 'i' AND oid >= 16384)",
            // 16+ list the `unicode` ICU collation even when built without ICU; asking for its
            // version fails there
            "SELECT pg_collation_actual_version(oid) IS NOT NULL FROM pg_collation \
             WHERE collprovider = 'i' LIMIT 1",
        ),
        (
            "XML (libxml)",
            "SELECT EXISTS (SELECT FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             WHERE a.atttypid = 'xml'::regtype AND c.relnamespace <> 'pg_catalog'::regnamespace \
             AND NOT a.attisdropped)",
            "SELECT EXISTS (SELECT FROM pg_settings WHERE name = 'xmloption') \
             AND pg_catalog.pg_input_is_valid('<a/>', 'xml')",
        ),
    ];
    features
        .into_iter()
        .find(|(_, uses, has)| yes(from, db, uses) && !yes(to, "postgres", has))
        .map(|(name, _, _)| name)
}

/// The extensions `sql` creates (`CREATE EXTENSION [IF NOT EXISTS] name`).
fn extensions(sql: &str) -> Vec<String> {
    sql.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("CREATE EXTENSION ")?;
            let rest = rest.strip_prefix("IF NOT EXISTS ").unwrap_or(rest);
            let name = rest.split([' ', ';']).next()?;
            Some(name.trim_matches('"').to_string())
        })
        .collect()
}

/// Whether `pg` can create every extension in `names`.
fn has_extensions(pg: &PgServer, names: &[String]) -> bool {
    names.iter().all(|name| {
        pg.psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_available_extensions WHERE name = '{name}'"),
        )
        .trim()
            == "1"
    })
}

/// Creates on `to` the roles `from` has (roles are cluster-wide: pg_dump leaves them out, and
/// a migration creates them first, as `pg_dumpall --globals-only` would). Tests running
/// beside this one may create the same role at the same moment: that is no error here.
fn copy_roles(from: &PgServer, to: &PgServer) {
    let roles = from.psql(
        "postgres",
        "SELECT quote_ident(rolname) FROM pg_roles WHERE oid >= 16384 AND rolname !~ '^pg_' ORDER BY 1",
    );
    for role in roles.lines().filter(|l| !l.is_empty()) {
        to.psql(
            "postgres",
            &format!(
                "DO $$ BEGIN CREATE ROLE {role}; \
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            ),
        );
    }
}

/// `pg_restore --exit-on-error --no-owner` of `pg` (the target's own) into a new database.
fn pg_restore_into(pg: &PgServer, archive: &Path) -> Result<String, String> {
    let db = pg.create_database("versions_stock");
    let path = archive.to_str().unwrap();
    let args = ["--exit-on-error", "--no-owner", "-d", &db, path];
    let output = pg.client_command("pg_restore", &args).output().unwrap();
    if output.status.success() {
        Ok(db)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Restores every corpus of `source` from a fullsite generation into each newer major and
/// compares with a stock dump/restore between the same two versions.
fn generations_restore_into_newer_majors(source: u32) {
    let from = pg(source);
    let targets: Vec<&PgServer> = MAJORS
        .iter()
        .filter(|&&m| m > source)
        .map(|&m| pg(m))
        .collect();
    let mut problems = String::new();
    for file in corpora(source) {
        let label = file
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .display()
            .to_string();
        let needs = extensions(&std::fs::read_to_string(&file).unwrap());
        if !has_extensions(from, &needs) {
            continue;
        }
        let db = load_file(from, "versions", &file);
        let sandbox = Sandbox::new();
        let env = env_for_server(from, &db);
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let backup = sandbox.run_with(&["backup", "--no-objects", "--name", "g1"], &pairs);
        if backup.code != 0 {
            problems.push_str(&format!(
                "==== {label}: fullsite backup on PostgreSQL {} failed (exit {}):\n{}\n",
                from.version(),
                backup.code,
                backup.stderr
            ));
            continue;
        }
        let ours = sandbox.root().join(format!("g1/db/{db}.dump"));
        let scratch = tempfile::tempdir().unwrap();
        let stock = stock_dump(from, &db, scratch.path(), "stock", &["--no-sync"]);
        for to in targets.iter().filter(|to| has_extensions(to, &needs)) {
            let pair = format!("{label}, PostgreSQL {} → {}", from.major(), to.major());
            if let Some(feature) = missing_feature(from, &db, to) {
                eprintln!("{pair}: skipped, the target is built without {feature}");
                continue;
            }
            copy_roles(from, to);
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let known = STOCK_CANNOT
                .iter()
                .find(|(f, s, t, _)| *f == name && *s == from.major() && *t == to.major());
            let reference = match (pg_restore_into(to, &stock), known) {
                (Ok(db), None) => db,
                (Err(_), Some((.., why))) => {
                    eprintln!("{pair}: skipped, the stock tools cannot migrate it either: {why}");
                    continue;
                }
                (Ok(_), Some(_)) => {
                    problems.push_str(&format!(
                        "==== {pair}: listed in STOCK_CANNOT, but the stock dump/restore now \
                         succeeds: remove the entry\n"
                    ));
                    continue;
                }
                (Err(e), None) => {
                    problems.push_str(&format!(
                        "==== {pair}: the stock dump/restore itself fails:\n{e}\n"
                    ));
                    continue;
                }
            };
            let expected = (schema_of(to, &reference), state_of(to, &reference));
            let mut restored = Vec::new();
            match pg_restore_into(to, &ours) {
                Ok(db) => restored.push((format!("pg_restore {}", to.client_major()), db)),
                Err(e) => problems.push_str(&format!(
                    "==== {pair}: pg_restore {} of fullsite's generation failed:\n{e}\n",
                    to.client_major()
                )),
            }
            let into = to.create_database("versions_native");
            let env = env_for_server(to, "postgres");
            let pairs: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let run = sandbox.run_with(
                &["restore", "--no-objects", "--into-db", &into, "g1"],
                &pairs,
            );
            if run.code == 0 {
                restored.push(("fullsite restore".to_string(), into));
            } else {
                problems.push_str(&format!(
                    "==== {pair}: fullsite restore failed (exit {}):\n{}\n",
                    run.code, run.stderr
                ));
            }
            for (how, db) in restored {
                let schema = schema_of(to, &db);
                if schema != expected.0 {
                    problems.push_str(&format!(
                        "==== {pair}, {how}: the schema differs from a stock dump/restore's\n{}\n",
                        line_diff(&expected.0, &schema)
                    ));
                }
                let state = state_of(to, &db);
                if state != expected.1 {
                    problems.push_str(&format!(
                        "==== {pair}, {how}: rows, sequences or large objects differ\n{}\n",
                        line_diff(&expected.1, &state)
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{problems}");
}

#[test]
fn generations_of_postgresql_14_restore_into_15_to_18() {
    generations_restore_into_newer_majors(14);
}

#[test]
fn generations_of_postgresql_15_restore_into_16_to_18() {
    generations_restore_into_newer_majors(15);
}

#[test]
fn generations_of_postgresql_16_restore_into_17_and_18() {
    generations_restore_into_newer_majors(16);
}

#[test]
fn generations_of_postgresql_17_restore_into_18() {
    generations_restore_into_newer_majors(17);
}
