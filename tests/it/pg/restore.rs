//! The native restore against a real PostgreSQL: our archives and stock `pg_dump -Fd` archives
//! restore to the same schema and rows as a stock pg_dump → pg_restore round trip; damaged
//! archives are refused before the target changes; `--into-db` leaves the live database alone.

use std::path::Path;

use crate::support::cli::Sandbox;
use crate::support::db::{
    backup_from, checksums, load_fixture, restore, restore_into, schema_of, stock_dump,
};
use crate::support::postgres::PgServer;
use crate::support::{pg17, servers};

/// Backs up the fixture, restores it with fullsite (parallel, then in one transaction) into new
/// databases, and compares with a stock round trip of the same source.
fn native_round_trip(pg: &PgServer) {
    let sandbox = Sandbox::new();
    let source = load_fixture(pg, "source");
    backup_from(pg, &sandbox, &source, "g1", &[]);
    let scratch = tempfile::tempdir().unwrap();
    let reference = restore_into(
        pg,
        &stock_dump(pg, &source, scratch.path(), "ref", &[]),
        &[],
    );
    let expected_schema = schema_of(pg, &reference);
    let expected_rows = checksums(pg, &source);
    for (into, extra) in [
        ("parallel", vec!["--jobs", "2"]),
        ("single", vec!["--single-transaction"]),
    ] {
        let into = format!("{into}_{source}");
        let mut args = vec!["--into-db", into.as_str()];
        args.extend(extra);
        args.push("g1");
        let run = restore(pg, &sandbox, &source, &args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            schema_of(pg, &into) == expected_schema,
            "{into}: schema differs from the stock round trip"
        );
        assert_eq!(checksums(pg, &into), expected_rows, "{into}: rows differ");
        assert_eq!(
            pg.psql(&into, "SELECT sum(post_count) FROM app.user_counters"),
            pg.psql(&source, "SELECT sum(post_count) FROM app.user_counters"),
            "trigger-maintained counters are not doubled"
        );
        for sequence in ["app.posts_id_seq", "app.ticket_seq", "app.users_id_seq"] {
            let state = |db: &str| {
                pg.psql(
                    db,
                    &format!("SELECT last_value || ' ' || is_called FROM {sequence}"),
                )
            };
            assert_eq!(state(&into), state(&source), "{sequence}");
        }
    }
}

#[test]
fn our_restore_matches_the_stock_round_trip() {
    native_round_trip(servers().pg);
}

#[test]
fn our_restore_matches_the_stock_round_trip_on_postgresql_17() {
    native_round_trip(pg17());
}

#[test]
fn an_in_place_restore_replaces_the_configured_database() {
    let pg = &servers().pg;
    let sandbox = Sandbox::new();
    let db = load_fixture(pg, "inplace");
    let scratch = tempfile::tempdir().unwrap();
    let reference = restore_into(pg, &stock_dump(pg, &db, scratch.path(), "ref", &[]), &[]);
    let before = (schema_of(pg, &reference), checksums(pg, &db));
    backup_from(pg, &sandbox, &db, "g1", &[]);
    pg.psql(&db, "DROP TABLE app.tags; DELETE FROM app.posts WHERE id < 100; CREATE TABLE app.extra (v int); CREATE TABLE public.stray (v int);");
    let run = restore(pg, &sandbox, &db, &["g1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        schema_of(pg, &db) == before.0,
        "the schema is back as it was"
    );
    assert_eq!(
        checksums(pg, &db),
        before.1,
        "the rows are back as they were"
    );
}

#[test]
fn into_db_leaves_the_source_database_untouched() {
    let pg = &servers().pg;
    let sandbox = Sandbox::new();
    let db = load_fixture(pg, "live");
    backup_from(pg, &sandbox, &db, "g1", &[]);
    pg.psql(
        &db,
        "INSERT INTO app.tickets (title) VALUES ('written after the backup')",
    );
    let before = (schema_of(pg, &db), checksums(pg, &db));
    let drill = format!("drill_{db}");
    let run = restore(pg, &sandbox, &db, &["--into-db", &drill, "g1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!((schema_of(pg, &db), checksums(pg, &db)), before);
    assert_eq!(pg.psql(&drill, "SELECT count(*) FROM app.tickets"), "3\n");
}

/// Puts a stock pg_dump -Fd archive where a generation keeps its database.
fn stock_generation(
    pg: &PgServer,
    sandbox: &Sandbox,
    db: &str,
    name: &str,
    extra: &[&str],
) -> std::path::PathBuf {
    let generation = sandbox.root().join(name);
    std::fs::create_dir_all(generation.join("db")).unwrap();
    std::fs::write(generation.join(".stgy-full-site-backup"), b"").unwrap();
    stock_dump(pg, db, &generation.join("db"), &format!("{db}.dump"), extra)
}

#[test]
fn stock_pg_dump_directory_archives_restore_identically() {
    let pg = &servers().pg;
    let sandbox = Sandbox::new();
    let db = load_fixture(pg, "stock");
    let expected = (schema_of(pg, &db), checksums(pg, &db));
    stock_generation(pg, &sandbox, &db, "full-site-2026-01-01", &[]);
    stock_generation(pg, &sandbox, &db, "full-site-2026-01-02", &["-Z0"]);
    let reference = restore_into(
        pg,
        &sandbox
            .root()
            .join(format!("full-site-2026-01-01/db/{db}.dump")),
        &[],
    );
    for generation in ["full-site-2026-01-01", "full-site-2026-01-02"] {
        let into = format!("{}_{db}", &generation[10..].replace('-', "_"));
        let run = restore(pg, &sandbox, &db, &["--into-db", &into, generation]);
        assert_eq!(run.code, 0, "{generation}: {}", run.stderr);
        assert!(
            schema_of(pg, &into) == schema_of(pg, &reference),
            "{generation}: schema differs"
        );
        assert_eq!(
            checksums(pg, &into),
            expected.1,
            "{generation}: rows differ"
        );
    }
}

/// Damages a copy of a stock archive, tries an in-place restore, and checks that it was
/// refused and the target is exactly as before.
fn refused_and_untouched(damage: impl Fn(&Path), expect: &str) {
    let pg = &servers().pg;
    let sandbox = Sandbox::new();
    let db = load_fixture(pg, "damage");
    let archive = stock_generation(pg, &sandbox, &db, "full-site-2026-01-01", &[]);
    pg.psql(
        &db,
        "INSERT INTO app.tickets (title) VALUES ('only in the live database')",
    );
    let before = (schema_of(pg, &db), checksums(pg, &db));
    damage(&archive);
    let run = restore(pg, &sandbox, &db, &["full-site-2026-01-01"]);
    assert_eq!(run.code, 3, "a damaged archive is refused: {}", run.stderr);
    assert!(
        run.stderr.contains(expect),
        "expected {expect:?} in:\n{}",
        run.stderr
    );
    assert!(!run.stderr.contains("restore done"));
    assert_eq!(
        (schema_of(pg, &db), checksums(pg, &db)),
        before,
        "the target changed"
    );
}

fn biggest_data_file(archive: &Path) -> std::path::PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(archive)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".dat.gz"))
        .collect();
    files.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).unwrap().len()));
    files[0].clone()
}

#[test]
fn a_flipped_byte_in_a_data_file_is_refused_before_anything_changes() {
    refused_and_untouched(
        |archive| {
            let file = biggest_data_file(archive);
            let mut bytes = std::fs::read(&file).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x40;
            std::fs::write(&file, bytes).unwrap();
        },
        "damaged",
    );
}

#[test]
fn a_truncated_gzip_member_is_refused_before_anything_changes() {
    refused_and_untouched(
        |archive| {
            let file = biggest_data_file(archive);
            let bytes = std::fs::read(&file).unwrap();
            std::fs::write(&file, &bytes[..bytes.len() - 7]).unwrap();
        },
        "truncated",
    );
}

#[test]
fn a_truncated_toc_is_refused_before_anything_changes() {
    refused_and_untouched(
        |archive| {
            let toc = archive.join("toc.dat");
            let bytes = std::fs::read(&toc).unwrap();
            std::fs::write(&toc, &bytes[..bytes.len() / 2]).unwrap();
        },
        "toc.dat",
    );
}

#[test]
fn a_missing_data_file_is_refused_before_anything_changes() {
    refused_and_untouched(
        |archive| std::fs::remove_file(biggest_data_file(archive)).unwrap(),
        "missing",
    );
}

#[test]
fn a_damaged_fullsite_generation_fails_its_manifest_check_with_exit_3() {
    let pg = &servers().pg;
    let sandbox = Sandbox::new();
    let db = load_fixture(pg, "manifest");
    let archive = backup_from(pg, &sandbox, &db, "g1", &[]);
    let before = checksums(pg, &db);
    let file = biggest_data_file(&archive);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let run = restore(pg, &sandbox, &db, &["g1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stdout.contains("changed"), "{}", run.stdout);
    assert_eq!(checksums(pg, &db), before);
}

/// A legacy-script generation: `db/stgy.dump` as a stock `pg_dump -Fc` file, no manifest.
/// `piped` writes through a pipe, so the TOC records no data offsets.
fn legacy_generation(
    pg: &PgServer,
    sandbox: &Sandbox,
    db: &str,
    name: &str,
    extra: &[&str],
    piped: bool,
) -> std::path::PathBuf {
    let dir = sandbox.root().join(name).join("db");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("stgy.dump");
    let mut args = vec!["-Fc", "--no-owner", "--no-privileges", "-d", db];
    args.extend_from_slice(extra);
    if piped {
        let output = pg.client_command("pg_dump", &args).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::write(&file, output.stdout).unwrap();
    } else {
        args.extend(["-f", file.to_str().unwrap()]);
        pg.client("pg_dump", &args);
    }
    file
}

fn legacy_round_trip(pg: &PgServer) {
    let sandbox = Sandbox::new();
    let db = load_fixture(pg, "legacy");
    let scratch = tempfile::tempdir().unwrap();
    let reference = restore_into(pg, &stock_dump(pg, &db, scratch.path(), "ref", &[]), &[]);
    let expected = (schema_of(pg, &reference), checksums(pg, &db));
    let mut variants: Vec<(&str, &[&str], bool)> = vec![
        ("full-site-2026-01-01", &[], false),
        ("full-site-2026-01-02", &[], true),
        ("full-site-2026-01-03", &["-Z0"], false),
    ];
    // LZ4 and zstd blocks: pg_dump 16 and later (of the two servers here, 17)
    if pg.client_major() == 17 {
        variants.push(("full-site-2026-01-04", &["-Z", "lz4"], true));
        variants.push(("full-site-2026-01-05", &["-Z", "zstd"], false));
    }
    for (generation, extra, piped) in variants {
        legacy_generation(pg, &sandbox, &db, generation, extra, piped);
        let into = format!("{}_{db}", &generation[10..].replace('-', "_"));
        let run = restore(pg, &sandbox, &db, &["--into-db", &into, generation]);
        assert_eq!(run.code, 0, "{generation}: {}", run.stderr);
        assert!(
            schema_of(pg, &into) == expected.0,
            "{generation}: schema differs"
        );
        assert_eq!(
            checksums(pg, &into),
            expected.1,
            "{generation}: rows differ"
        );
    }
}

#[test]
fn legacy_custom_format_generations_restore_identically() {
    legacy_round_trip(servers().pg);
}

#[test]
fn legacy_custom_format_archives_1_16_from_postgresql_17_restore_identically() {
    legacy_round_trip(pg17());
}

#[test]
fn a_damaged_custom_format_block_is_refused_before_anything_changes() {
    let pg = &servers().pg;
    let sandbox = Sandbox::new();
    let db = load_fixture(pg, "legacydamage");
    let file = legacy_generation(pg, &sandbox, &db, "full-site-2026-01-01", &[], false);
    let before = checksums(pg, &db);
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() - bytes.len() / 3;
    bytes[at] ^= 0x55;
    std::fs::write(&file, bytes).unwrap();
    let run = restore(pg, &sandbox, &db, &["full-site-2026-01-01"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("stgy.dump"), "{}", run.stderr);
    assert_eq!(checksums(pg, &db), before);
}

/// A generation whose restore fails late (in post-data: a policy names a role that no longer
/// exists), after every check has passed.
fn late_failure_generation(pg: &PgServer, sandbox: &Sandbox, prefix: &str) -> String {
    let db = load_fixture(pg, prefix);
    let role = format!("{db}_reader");
    pg.psql(
        &db,
        &format!(
            "CREATE ROLE {role}; CREATE POLICY readers ON app.sessions TO {role} USING (true);"
        ),
    );
    backup_from(pg, sandbox, &db, "g1", &[]);
    pg.psql(
        &db,
        &format!("DROP POLICY readers ON app.sessions; DROP ROLE {role};"),
    );
    pg.psql(
        &db,
        "INSERT INTO app.tickets (title) VALUES ('only in the live database')",
    );
    db
}

#[test]
fn single_transaction_leaves_the_target_exactly_as_it_was_when_a_late_step_fails() {
    let pg = &servers().pg;
    let sandbox = Sandbox::new();
    let db = late_failure_generation(pg, &sandbox, "atomic");
    let before = (schema_of(pg, &db), checksums(pg, &db));
    let run = restore(pg, &sandbox, &db, &["--single-transaction", "g1"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("POLICY"),
        "the failing entry is named: {}",
        run.stderr
    );
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    assert_eq!(
        (schema_of(pg, &db), checksums(pg, &db)),
        before,
        "nothing changed"
    );
}

#[test]
fn without_single_transaction_a_late_failure_is_reported_naming_the_entry() {
    let pg = &servers().pg;
    let sandbox = Sandbox::new();
    let db = late_failure_generation(pg, &sandbox, "partial");
    let run = restore(pg, &sandbox, &db, &["g1"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("restore POLICY sessions readers"),
        "{}",
        run.stderr
    );
}

#[test]
fn verify_decodes_archives_says_what_legacy_checks_cover_and_all_checks_every_generation() {
    let pg = &servers().pg;
    let sandbox = Sandbox::new();
    let db = load_fixture(pg, "verify");
    backup_from(pg, &sandbox, &db, "new", &[]);
    legacy_generation(pg, &sandbox, &db, "full-site-2026-01-01", &[], false);
    let bad = legacy_generation(pg, &sandbox, &db, "full-site-2026-01-02", &[], false);
    let run = sandbox.run(&["verify", "full-site-2026-01-01"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("without a manifest: only its database archive is decoded"),
        "{}",
        run.stderr
    );
    let mut bytes = std::fs::read(&bad).unwrap();
    let at = bytes.len() - bytes.len() / 3;
    bytes[at] ^= 0x55;
    std::fs::write(&bad, bytes).unwrap();
    let run = sandbox.run(&["verify", "--all"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert!(
        lines[0].starts_with("full-site-2026-01-02  archive"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("verified 'new'"), "{}", run.stderr);
    assert_eq!(
        sandbox.run(&["verify"]).code,
        2,
        "NAME or --all is required"
    );
}
