//! PostgreSQL parity, proved against the stock tools of each server of the matrix (14–18).
//!
//! For every corpus under `fixtures/pg/` that applies to a server (see [`corpora`]):
//! 1. the differential oracle: stock `pg_dump --no-owner --no-privileges` and fullsite's archive
//!    of the same database, both read back by `pg_restore -f -`, must agree entry by entry
//!    (see `support::parity`), except for the differences listed in [`ALLOWED`];
//! 2. the round trip: fullsite's archive restored by stock `pg_restore` (serially and with
//!    `-j 2`) and by `fullsite restore` gives the schema of one stock dump/restore cycle of the
//!    same source, and the source's rows, sequence values and large objects.
//!
//! `FULLSITE_PARITY_CORPUS=<text>` limits a run to the corpora whose path contains `text`.
//!
//! Server 14 has no pg_dump of its own here (no registry publishes one): it is paired with
//! 15's pg_dump and pg_restore, which dump 14 servers as pg_dump 14 would, save for what 15
//! itself changed in pg_dump's output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use support::cli::Sandbox;
use support::db::{backup_from, checksums, env_for_server, restore_into, schema_of, stock_dump};
use support::parity::{self, Allowed};
use support::pg;
use support::postgres::PgServer;

/// Differences between fullsite's archive and stock pg_dump's that the tests accept, each with
/// its reason. The goal is an empty table.
const ALLOWED: &[Allowed] = &[];

/// The corpora for a server of `major`: every `fixtures/pg/majors/pgN*.sql` with N ≤ `major`
/// (syntax that appeared in N), and on the full-corpus servers (15 and 18) also
/// `fixtures/pg/apps/*.sql` (schemas modelled on real applications) and
/// `fixtures/pg/kinds/*.sql` (every object kind pg_dump dumps). Files whose leading comment
/// holds the line `-- requires: contrib` need the contrib extensions (the 16 build has none).
fn corpora(major: u32) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pg");
    let mut files: Vec<PathBuf> = Vec::new();
    let mut add_dir = |dir: &str, keep: &dyn Fn(&str) -> bool| {
        let Ok(read) = std::fs::read_dir(root.join(dir)) else {
            return;
        };
        for entry in read.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".sql") && keep(&name) {
                files.push(entry.path());
            }
        }
    };
    add_dir("majors", &|name| {
        name.strip_prefix("pg")
            .and_then(|rest| rest.get(..2))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n <= major)
    });
    if FULL_CORPUS_MAJORS.contains(&major) {
        add_dir("apps", &|_| true);
        add_dir("kinds", &|_| true);
    }
    let filter = std::env::var("FULLSITE_PARITY_CORPUS").unwrap_or_default();
    files.retain(|f| f.to_string_lossy().contains(&filter));
    files.sort();
    files
}

/// Servers that run every corpus; the others run the version-specific files.
const FULL_CORPUS_MAJORS: [u32; 2] = [15, 18];

/// Whether the corpus needs the contrib extensions.
fn needs_contrib(sql: &str) -> bool {
    sql.lines()
        .take_while(|l| l.starts_with("--"))
        .any(|l| l.trim_end() == "-- requires: contrib")
}

/// Loads `file` into a new database on `pg`; its name.
fn load(pg: &PgServer, file: &Path) -> String {
    let stem = file
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .replace('-', "_");
    let db = pg.create_database(&format!("parity_{stem}"));
    pg.client(
        "psql",
        &[
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &db,
            "-f",
            file.to_str().unwrap(),
        ],
    );
    db
}

/// Sequence states, large objects and table checksums: what a restore must give back.
fn state_of(pg: &PgServer, db: &str) -> String {
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
        "SELECT count(*) || ' ' || coalesce(md5(string_agg(oid::text || ':' || md5(lo_get(oid)), ',' ORDER BY oid)), '-') \
         FROM pg_largeobject_metadata",
    );
    format!(
        "sequences:\n{sequences}\nlarge objects: {objects}\ntables:\n{}",
        checksums(pg, db)
    )
}

/// Runs the oracle and the round trips for every corpus of `major`; panics with one report of
/// every problem found.
fn parity_on(major: u32) {
    let pg = pg(major);
    let contrib = has_contrib(pg);
    let files = corpora(major);
    assert!(
        !files.is_empty() || std::env::var_os("FULLSITE_PARITY_CORPUS").is_some(),
        "no corpus for PostgreSQL {major}"
    );
    let mut problems = String::new();
    for file in files {
        let sql = std::fs::read_to_string(&file).unwrap();
        if needs_contrib(&sql) && !contrib {
            continue;
        }
        let label = file
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .display()
            .to_string();
        let report = parity_of_corpus(pg, &file);
        if !report.is_empty() {
            problems.push_str(&format!(
                "==== {label} on PostgreSQL {} (pg_dump {}):\n{report}\n",
                pg.version(),
                pg.client_major()
            ));
        }
    }
    assert!(problems.is_empty(), "\n{problems}");
}

/// Whether the server has the contrib extensions.
fn has_contrib(pg: &PgServer) -> bool {
    pg.psql(
        "postgres",
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'",
    )
    .trim()
        == "1"
}

/// The oracle and round trips for one corpus; an empty report when everything agrees.
fn parity_of_corpus(pg: &PgServer, file: &Path) -> String {
    let major = pg.major();
    let source = load(pg, file);
    let sandbox = Sandbox::new();
    let ours = backup_from(pg, &sandbox, &source, "g1", &[]);
    let scratch = tempfile::tempdir().unwrap();
    let stock = stock_dump(pg, &source, scratch.path(), "stock", &[]);

    let mut report = String::new();
    let differences = parity::compare(
        &parity::split(&parity::script(pg, &stock, false)),
        &parity::split(&parity::script(pg, &ours, false)),
    );
    report.push_str(&parity::unexplained(major, &differences, ALLOWED));
    report.push_str(&parity::unexplained(
        major,
        &parity::compare_placement(&stock, &ours),
        ALLOWED,
    ));

    // Round trips: every restore must give what one stock dump/restore cycle gives.
    let reference = restore_into(pg, &stock, &[]);
    let expected_schema = schema_of(pg, &reference);
    let expected_state = state_of(pg, &source);
    let mut restored = vec![
        ("stock pg_restore", restore_into(pg, &ours, &[])),
        (
            "stock pg_restore -j 2",
            restore_into(pg, &ours, &["-j", "2"]),
        ),
    ];
    for (label, extra) in [
        ("fullsite restore", vec!["--jobs", "2"]),
        (
            "fullsite restore --single-transaction",
            vec!["--single-transaction"],
        ),
    ] {
        let into = pg.create_database("parity_native");
        pg.psql("postgres", &format!("DROP DATABASE \"{into}\""));
        let env = env_for_server(pg, &source);
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut args = vec!["restore", "--no-objects", "--into-db", &into];
        args.extend(extra.iter().copied());
        args.push("g1");
        let run = sandbox.run_with(&args, &pairs);
        if run.code != 0 {
            report.push_str(&format!(
                "{label} failed (exit {}):\n{}\n",
                run.code, run.stderr
            ));
            continue;
        }
        restored.push((label, into));
    }
    for (label, db) in restored {
        if schema_of(pg, &db) != expected_schema {
            report.push_str(&format!(
                "{label}: the schema differs from a stock dump/restore cycle's\n{}\n",
                line_diff(&expected_schema, &schema_of(pg, &db))
            ));
        }
        let state = state_of(pg, &db);
        if state != expected_state {
            report.push_str(&format!(
                "{label}: rows, sequences or large objects differ from the source's\n{}\n",
                line_diff(&expected_state, &state)
            ));
        }
    }
    report
}

/// The lines `expected` holds more often than `actual` (`-`), and the other way round (`+`).
fn line_diff(expected: &str, actual: &str) -> String {
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

#[test]
fn dumps_match_stock_pg_dump_and_restore_on_postgresql_14() {
    parity_on(14);
}

#[test]
fn dumps_match_stock_pg_dump_and_restore_on_postgresql_15() {
    parity_on(15);
}

#[test]
fn dumps_match_stock_pg_dump_and_restore_on_postgresql_16() {
    parity_on(16);
}

#[test]
fn dumps_match_stock_pg_dump_and_restore_on_postgresql_17() {
    parity_on(17);
}

#[test]
fn dumps_match_stock_pg_dump_and_restore_on_postgresql_18() {
    parity_on(18);
}
