//! Database helpers shared by the dump and restore tests: the fixture, fullsite runs against
//! a given server, and comparisons (schema as `pg_dump --schema-only` prints it, per-table row
//! checksums).

use std::path::{Path, PathBuf};

use super::cli::{Run, Sandbox};
use super::postgres::PgServer;
use super::servers;

/// The fixture schema and data (fixtures/pg/apps/stgy.sql).
pub const FIXTURE: &str = include_str!("../../../fixtures/pg/apps/stgy.sql");

pub fn load_fixture(pg: &PgServer, prefix: &str) -> String {
    let db = pg.create_database(prefix);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fixture.sql");
    std::fs::write(&file, FIXTURE).unwrap();
    pg.load_file(&db, &file);
    db
}

/// fullsite's database settings for `db` on `pg`.
pub fn env_for_server(pg: &PgServer, db: &str) -> Vec<(String, String)> {
    [
        ("STGY_DATABASE_HOST", pg.host().to_string()),
        ("STGY_DATABASE_PORT", pg.port().to_string()),
        ("STGY_DATABASE_USER", pg.user().to_string()),
        ("STGY_DATABASE_PASSWORD", pg.password().to_string()),
        ("STGY_DATABASE_NAME", db.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// `fullsite restore --no-objects ARGS` with the database settings of `db` on `pg`.
pub fn restore(pg: &PgServer, sandbox: &Sandbox, db: &str, args: &[&str]) -> Run {
    let env = env_for_server(pg, db);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut all = vec!["restore", "--no-objects"];
    all.extend_from_slice(args);
    sandbox.run_with(&all, &pairs)
}

/// The restore corpus (fixtures/pg/restore/outside-schemas.sql): objects outside schemas, large
/// objects, an event trigger, a materialized view.
pub fn outside_schemas_corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pg/restore/outside-schemas.sql")
}

pub fn env_for(db: &str) -> Vec<(String, String)> {
    servers().fullsite_env(db)
}

pub fn backup(sandbox: &Sandbox, db: &str, name: &str, extra_env: &[(&str, &str)]) -> PathBuf {
    backup_from(servers().pg, sandbox, db, name, extra_env)
}

pub fn backup_from(
    pg: &PgServer,
    sandbox: &Sandbox,
    db: &str,
    name: &str,
    extra_env: &[(&str, &str)],
) -> PathBuf {
    let env = env_for_server(pg, db);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.extend_from_slice(extra_env);
    let args = ["backup", "--no-objects", "--name", name, "--jobs", "2"];
    let run = sandbox.run_with(&args, &pairs);
    assert_eq!(run.code, 0, "backup failed:\n{}", run.stderr);
    sandbox.root().join(name).join(format!("db/{db}.dump"))
}

/// `pg_dump --schema-only`, without psql's per-run `\restrict` keys, comments and blank lines.
pub fn schema_of(pg: &PgServer, db: &str) -> String {
    let args = ["--schema-only", "--no-owner", "--no-privileges", "-d", db];
    pg.client("pg_dump", &args)
        .lines()
        .filter(|l| {
            !l.starts_with("\\restrict")
                && !l.starts_with("\\unrestrict")
                && !l.starts_with("--")
                && !l.is_empty()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One checksum per user table and materialized view, over all rows in a canonical order; a
/// materialized view that is not populated is listed as such.
pub fn checksums(pg: &PgServer, db: &str) -> String {
    let tables = pg.psql(
        db,
        "SELECT format('%I.%I', n.nspname, c.relname) \
                || CASE WHEN c.relispopulated THEN '' ELSE ' (not populated)' END FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'm') AND c.relispopulated \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname !~ '^pg_toast' ORDER BY 1",
    );
    let mut out = String::new();
    for table in tables.lines().filter(|l| !l.is_empty()) {
        if table.ends_with(" (not populated)") {
            out.push_str(&format!("{table}\n"));
            continue;
        }
        let sum = pg.psql(
            db,
            // by column name (a restored inheritance child may order its columns differently),
            // each table apart from its children (which may be foreign)
            &format!("SELECT count(*) || ' ' || coalesce(md5(string_agg(to_jsonb(t)::text, E'\\n' ORDER BY to_jsonb(t)::text)), '-') FROM ONLY {table} t"),
        );
        out.push_str(&format!("{table} {sum}"));
    }
    out
}

/// Restores `archive` with `pg`'s own pg_restore into a new database on `pg`.
pub fn restore_into(pg: &PgServer, archive: &Path, extra: &[&str]) -> String {
    let db = pg.create_database("restored");
    let mut args = vec!["--exit-on-error", "--no-owner", "-d", &db];
    args.extend_from_slice(extra);
    args.push(archive.to_str().unwrap());
    pg.client("pg_restore", &args);
    db
}

/// A stock `pg_dump -Fd` of `db` (extra flags such as `-Z0` allowed) into `dir/name`.
pub fn stock_dump(pg: &PgServer, db: &str, dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    stock_dump_by(pg, &pg.install().clients, db, dir, name, extra)
}

/// [`stock_dump`] by the `pg_dump` in `bin_dir` (another build of `pg`'s major).
pub fn stock_dump_by(
    pg: &PgServer,
    bin_dir: &Path,
    db: &str,
    dir: &Path,
    name: &str,
    extra: &[&str],
) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec![
        "-Fd",
        "--no-owner",
        "--no-privileges",
        "-f",
        path.to_str().unwrap(),
        "-d",
        db,
    ];
    args.extend_from_slice(extra);
    pg.client_from(bin_dir, "pg_dump", &args);
    path
}

/// Loads the SQL file `path` (with `ON_ERROR_STOP`) into a new database on `pg`; its name.
pub fn load_file(pg: &PgServer, prefix: &str, path: &Path) -> String {
    let db = pg.create_database(prefix);
    pg.load_file(&db, path);
    db
}

/// What a restore must give back besides the schema: sequence states, large objects (OIDs,
/// contents and comments) and one checksum per table.
pub fn state_of(pg: &PgServer, db: &str) -> String {
    let mut sequences = String::new();
    let names = pg.psql(
        db,
        "SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences ORDER BY 1",
    );
    for name in names.lines().filter(|l| !l.is_empty()) {
        let value = pg.psql(
            db,
            &format!("SELECT last_value || ' ' || is_called FROM {name}"),
        );
        sequences.push_str(&format!("{name} {value}"));
    }
    let objects = pg.psql(
        db,
        "SELECT count(*) || ' ' || coalesce(md5(string_agg(oid::text || ':' || md5(lo_get(oid)) \
         || ':' || coalesce(obj_description(oid, 'pg_largeobject'), '-'), ',' ORDER BY oid)), '-') \
         FROM pg_largeobject_metadata",
    );
    format!(
        "sequences:\n{sequences}\nlarge objects: {objects}\ntables:\n{}",
        checksums(pg, db)
    )
}

/// The lines `expected` holds more often than `actual` (`-`), and the other way round (`+`).
pub fn line_diff(expected: &str, actual: &str) -> String {
    let count = |text: &str| {
        let mut counts: std::collections::BTreeMap<String, i64> = Default::default();
        for line in text.lines() {
            *counts.entry(line.to_string()).or_default() += 1;
        }
        counts
    };
    let (a, b) = (count(expected), count(actual));
    let mut out = String::new();
    for (line, n) in &a {
        for _ in 0..(n - b.get(line).copied().unwrap_or(0)).max(0) {
            out.push_str(&format!("  - {line}\n"));
        }
    }
    for (line, n) in &b {
        for _ in 0..(n - a.get(line).copied().unwrap_or(0)).max(0) {
            out.push_str(&format!("  + {line}\n"));
        }
    }
    out
}
