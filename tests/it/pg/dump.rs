//! The native dump against a real PostgreSQL: stock `pg_restore` must restore our archive
//! (serially and with `-j 2`) into the same schema as a stock pg_dump round trip, with identical
//! rows, triggers not re-fired, sequences continuing; one snapshot; unchanged tables shared by
//! hard link; unsupported objects refused by name.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::support::cli::Sandbox;
use crate::support::db::{
    backup, backup_from, checksums, env_for, load_fixture, restore_into, schema_of,
};
use crate::support::postgres::PgServer;
use crate::support::{pg17, servers};

fn restore(archive: &Path, extra: &[&str]) -> String {
    restore_into(servers().pg, archive, extra)
}

/// Dumps the fixture from `pg` with fullsite, restores it with `pg`'s own pg_restore serially
/// and with `-j 2`, and compares with a stock pg_dump → pg_restore round trip of the same source.
fn fixture_round_trip(pg: &PgServer) {
    let sandbox = Sandbox::new();
    let source = load_fixture(pg, "fixture");
    let archive = backup_from(pg, &sandbox, &source, "g1", &[]);
    assert!(archive.join("toc.dat").is_file());
    let listing = pg.client("pg_restore", &["--list", archive.to_str().unwrap()]);
    assert!(listing.contains("TABLE DATA app users"), "{listing}");

    let reference_dir = tempfile::tempdir().unwrap();
    let reference_archive = reference_dir.path().join("ref.dump");
    pg.client(
        "pg_dump",
        &[
            "-Fd",
            "--no-owner",
            "--no-privileges",
            "-f",
            reference_archive.to_str().unwrap(),
            "-d",
            &source,
        ],
    );
    let reference = restore_into(pg, &reference_archive, &[]);
    let serial = restore_into(pg, &archive, &[]);
    let parallel = restore_into(pg, &archive, &["-j", "2"]);

    let expected_schema = schema_of(pg, &reference);
    assert!(
        schema_of(pg, &serial) == expected_schema,
        "serial restore schema differs from the stock round trip"
    );
    assert!(
        schema_of(pg, &parallel) == expected_schema,
        "parallel restore schema differs from the stock round trip"
    );
    let expected_rows = checksums(pg, &source);
    assert_eq!(
        checksums(pg, &serial),
        expected_rows,
        "rows differ after serial restore"
    );
    assert_eq!(
        checksums(pg, &parallel),
        expected_rows,
        "rows differ after parallel restore"
    );

    for db in [&serial, &parallel] {
        // trigger-maintained counters were restored, not recomputed by firing triggers
        assert_eq!(
            pg.psql(db, "SELECT sum(post_count) FROM app.user_counters"),
            pg.psql(&source, "SELECT sum(post_count) FROM app.user_counters")
        );
        for sequence in ["app.posts_id_seq", "app.ticket_seq", "app.users_id_seq"] {
            let state = |db: &str| {
                pg.psql(
                    db,
                    &format!("SELECT last_value || ' ' || is_called FROM {sequence}"),
                )
            };
            assert_eq!(
                state(db),
                state(&source),
                "{sequence} continues where the source left off"
            );
        }
    }
}

#[test]
fn stock_pg_restore_restores_the_fixture_exactly_serially_and_in_parallel() {
    fixture_round_trip(servers().pg);
}

#[test]
fn the_same_round_trip_holds_on_postgresql_17_with_its_own_pg_restore() {
    let pg = pg17();
    assert!(pg.version().starts_with("17."), "{}", pg.version());
    fixture_round_trip(pg);
}

#[test]
fn rows_committed_after_the_snapshot_are_not_in_the_dump() {
    let sandbox = Sandbox::new();
    let pg = &servers().pg;
    let source = pg.create_database("snapshot");
    pg.psql(&source, "CREATE TABLE a (v text); CREATE TABLE b (v text); INSERT INTO a VALUES ('before'); INSERT INTO b VALUES ('before');");
    let env = env_for(&source);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.push(("FULLSITE_TEST_PAUSE_SECS", "3"));
    let paused = sandbox.spawn_paused_with(
        &["backup", "--no-objects", "--name", "g", "--jobs", "2"],
        &pairs,
        "dump:after-snapshot",
    );
    pg.psql(
        &source,
        "INSERT INTO a VALUES ('after'); INSERT INTO b VALUES ('after');",
    );
    let (code, log) = paused.wait();
    assert_eq!(code, Some(0), "{log}");
    let restored = restore(&sandbox.root().join(format!("g/db/{source}.dump")), &[]);
    assert_eq!(
        pg.psql(&restored, "SELECT string_agg(v, ',') FROM a"),
        "before\n"
    );
    assert_eq!(
        pg.psql(&restored, "SELECT string_agg(v, ',') FROM b"),
        "before\n"
    );
}

#[test]
fn unchanged_tables_share_inodes_with_the_previous_generation() {
    let sandbox = Sandbox::new();
    let pg = &servers().pg;
    let source = pg.create_database("dedup");
    pg.psql(&source, "CREATE TABLE big AS SELECT g, md5(g::text) AS h FROM generate_series(1, 20000) g; CREATE TABLE small (v int); INSERT INTO small VALUES (1);");
    let first = backup(&sandbox, &source, "g1", &[]);
    pg.psql(&source, "INSERT INTO small VALUES (2);");
    let second = backup(&sandbox, &source, "g2", &[]);
    let inodes = |dir: &Path| -> Vec<(u64, u64)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".dat.gz"))
            .map(|e| {
                let m = e.metadata().unwrap();
                (m.ino(), m.len())
            })
            .collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.1));
        files
    };
    let (a, b) = (inodes(&first), inodes(&second));
    assert_eq!(a[0].0, b[0].0, "the big unchanged table is one inode");
    assert_ne!(a[1].0, b[1].0, "the changed table is a new file");
    let verify = sandbox.run(&["verify", "g2"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
}

#[test]
fn objects_the_dumper_cannot_represent_stop_the_backup_by_name() {
    let sandbox = Sandbox::new();
    let pg = &servers().pg;
    let source = pg.create_database("unsupported");
    pg.psql(
        &source,
        // a language over a built-in handler: pg_dump would write it as a bare CREATE
        // LANGUAGE, which restores only where an extension of that name exists
        "CREATE TABLE t (v int); \
         CREATE LANGUAGE fullsite_test_lang HANDLER plpgsql_call_handler;",
    );
    let env = env_for(&source);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = sandbox.run_with(&["backup", "--no-objects", "--name", "g"], &pairs);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("language fullsite_test_lang"),
        "{}",
        run.stderr
    );
    assert!(
        !sandbox.root().join("g").exists(),
        "no generation is left behind"
    );
    let leftovers: Vec<_> = std::fs::read_dir(sandbox.root())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "only the lock file remains: {leftovers:?}"
    );
}

#[test]
fn a_wrong_password_fails_promptly_naming_the_server_and_not_the_password() {
    let sandbox = Sandbox::new();
    let pg = &servers().pg;
    let source = pg.create_database("auth");
    let mut env = env_for(&source);
    for (key, value) in &mut env {
        if key == "STGY_DATABASE_PASSWORD" {
            *value = "Wrong-Secret-123".into();
        }
    }
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = sandbox.run_with(&["backup", "--no-objects", "--name", "g"], &pairs);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!("{}:{}", pg.host(), pg.port())),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("password authentication failed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Wrong-Secret-123"));
    assert!(!sandbox.root().join("g").exists());
}

#[test]
fn the_backup_summary_counts_rows_exactly() {
    let sandbox = Sandbox::new();
    let pg = &servers().pg;
    let source = pg.create_database("rows");
    pg.psql(
        &source,
        "CREATE TABLE a AS SELECT g, 'line ' || g || E'\\nsecond line' AS note FROM generate_series(1, 1234) g; \
         CREATE TABLE b (v text); INSERT INTO b VALUES (E'tab\\there'), (NULL), ('');",
    );
    let env = env_for(&source);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = sandbox.run_with(&["backup", "--no-objects", "--name", "g", "--json"], &pairs);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["database"]["rows"], 1237);
    assert_eq!(summary["database"]["tables"], 2);
    assert!(run.stderr.contains("2 tables, 1237 rows"), "{}", run.stderr);
}
