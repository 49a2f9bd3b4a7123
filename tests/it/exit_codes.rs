//! README's exit-code table, one test per row, each through the real binary: what went wrong
//! decides the code, whichever command met it.
//!
//! - Here: 0 success, 1 failure (an archive file the system will not let us read; a server that
//!   cannot be reached), 2 usage (a bad flag) or not supported (an archive written by a newer
//!   pg_dump, for `restore` and `verify`), 3 damage (a flipped byte in a table's data file, for
//!   `verify` and `restore`, of a fullsite generation and of a stock archive).
//! - Proved where the processes race, not repeated here: 11 lock held
//!   (`tests/it/lock_and_signals.rs` `second_run_exits_11_naming_the_holder_…` for backup and
//!   prune, `tests/it/faults.rs` `a_restore_during_a_backup_exits_11_naming_the_backup`), and
//!   130 / 143 stopped by SIGINT / SIGTERM (`tests/it/lock_and_signals.rs`
//!   `sigterm_and_sigint_remove_the_partial_generation_and_exit_128_plus_signal`,
//!   `tests/it/faults.rs` `sigterm_during_a_full_backup_stops_cleanly_with_143`).
use std::path::{Path, PathBuf};

use crate::support::cli::{Run, Sandbox};
use crate::support::db::env_for_server;
use crate::support::postgres::PgServer;
use crate::support::{DISTRIBUTION_MAJOR, pg};

/// A database with one table holding enough rows for its data file to be a real deflate stream.
fn database(pg: &PgServer) -> String {
    let db = pg.create_database("exit");
    pg.psql(
        &db,
        "CREATE TABLE t (id int PRIMARY KEY, body text); \
         INSERT INTO t SELECT g, md5(g::text) || repeat('x', g % 50) FROM generate_series(1, 20000) g;",
    );
    db
}

/// Runs fullsite with `pg`'s settings for `db`.
fn run(sandbox: &Sandbox, pg: &PgServer, db: &str, args: &[&str]) -> Run {
    let env = env_for_server(pg, db);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    sandbox.run_with(args, &pairs)
}

/// A legacy-style generation `name` holding a stock `pg_dump -Fd` archive of `db`; its path.
fn stock_generation(pg: &PgServer, sandbox: &Sandbox, db: &str, name: &str) -> PathBuf {
    let dir = sandbox.root().join(name);
    std::fs::create_dir_all(dir.join("db")).unwrap();
    std::fs::write(dir.join(".stgy-full-site-backup"), b"").unwrap();
    let archive = dir.join(format!("db/{db}.dump"));
    pg.client(
        "pg_dump",
        &[
            "-Fd",
            "--no-owner",
            "--no-privileges",
            "--no-sync",
            "-f",
            archive.to_str().unwrap(),
            "-d",
            db,
        ],
    );
    archive
}

/// The largest table data file of a directory archive.
fn largest_data_file(archive: &Path) -> PathBuf {
    std::fs::read_dir(archive)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".dat.gz"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("a table data file")
}

/// Flips one bit in the middle of `file`.
fn flip_a_byte(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn row_0_success() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn row_1_an_archive_file_that_cannot_be_read_is_a_failure_not_damage() {
    let pg = pg(DISTRIBUTION_MAJOR);
    let db = database(pg);
    let sandbox = Sandbox::new();
    let archive = stock_generation(pg, &sandbox, &db, "g");
    // A directory where the TOC file should be: reading it fails (EISDIR) for every user,
    // root included, as a permission problem would for others.
    let toc = archive.join("toc.dat");
    std::fs::remove_file(&toc).unwrap();
    std::fs::create_dir(&toc).unwrap();
    let restore = run(&sandbox, pg, &db, &["restore", "--no-objects", "g"]);
    assert_eq!(restore.code, 1, "{}", restore.stderr);
    assert!(
        restore.stderr.contains(&toc.display().to_string()),
        "{}",
        restore.stderr
    );
    let verify = sandbox.run(&["verify", "g"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
}

#[test]
fn row_1_a_server_that_cannot_be_reached_is_a_failure() {
    let pg = pg(DISTRIBUTION_MAJOR);
    let db = database(pg);
    let sandbox = Sandbox::new();
    stock_generation(pg, &sandbox, &db, "g");
    let closed = crate::support::free_port().to_string();
    let env = env_for_server(pg, &db);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.push(("STGY_DATABASE_PORT", &closed));
    let restore = sandbox.run_with(&["restore", "--no-objects", "g"], &pairs);
    assert_eq!(restore.code, 1, "{}", restore.stderr);
    assert!(
        restore.stderr.contains(&format!(":{closed}/")),
        "{}",
        restore.stderr
    );
}

#[test]
fn row_2_a_bad_flag_is_usage() {
    let sandbox = Sandbox::new();
    for args in [
        &["backup", "--no-such-flag"][..],
        &["restore"],
        &["prune", "--retain-generations", "many"],
    ] {
        let run = sandbox.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
}

#[test]
fn row_2_an_archive_of_a_newer_pg_dump_is_not_supported_for_restore_and_verify() {
    let pg = pg(DISTRIBUTION_MAJOR);
    let db = database(pg);
    let sandbox = Sandbox::new();
    let archive = stock_generation(pg, &sandbox, &db, "g");
    let toc = archive.join("toc.dat");
    let mut bytes = std::fs::read(&toc).unwrap();
    assert_eq!(&bytes[..5], b"PGDMP");
    bytes[6] = 17;
    std::fs::write(&toc, bytes).unwrap();
    let restore = run(&sandbox, pg, &db, &["restore", "--no-objects", "g"]);
    assert_eq!(restore.code, 2, "{}", restore.stderr);
    assert!(
        restore
            .stderr
            .contains("unsupported archive version 1.17.0"),
        "{}",
        restore.stderr
    );
    let verify = sandbox.run(&["verify", "g"]);
    assert_eq!(verify.code, 2, "{}{}", verify.stdout, verify.stderr);
    assert!(
        verify.stdout.contains("unsupported archive version 1.17.0"),
        "{}",
        verify.stdout
    );
}

#[test]
fn row_3_a_flipped_byte_in_table_data_is_damage() {
    let pg = pg(DISTRIBUTION_MAJOR);
    let db = database(pg);
    let sandbox = Sandbox::new();

    // A fullsite generation: the manifest's BLAKE3 no longer matches.
    let backup = run(
        &sandbox,
        pg,
        &db,
        &["backup", "--no-objects", "--name", "ours"],
    );
    assert_eq!(backup.code, 0, "{}", backup.stderr);
    let ours = sandbox.root().join(format!("ours/db/{db}.dump"));
    flip_a_byte(&largest_data_file(&ours));
    let verify = sandbox.run(&["verify", "ours"]);
    assert_eq!(verify.code, 3, "{}{}", verify.stdout, verify.stderr);
    let restore = run(&sandbox, pg, &db, &["restore", "--no-objects", "ours"]);
    assert_eq!(restore.code, 3, "{}", restore.stderr);

    // A stock archive without a manifest: its data stream no longer decodes.
    let stock = stock_generation(pg, &sandbox, &db, "stock");
    flip_a_byte(&largest_data_file(&stock));
    let restore = run(&sandbox, pg, &db, &["restore", "--no-objects", "stock"]);
    assert_eq!(restore.code, 3, "{}", restore.stderr);
    let verify = sandbox.run(&["verify", "stock"]);
    assert_eq!(verify.code, 3, "{}{}", verify.stdout, verify.stderr);
}
