//! Archives written by stock pg_dump of every server of the matrix (14–18) — directory and
//! custom format, gzip and uncompressed, zstd and LZ4 (16–18, by builds with them: see
//! [`compression_tools`]), and table data as INSERT commands — restored by `fullsite restore`
//! serially, in parallel and in one transaction, give what stock pg_restore gives from the same
//! archive: the same schema, rows, sequence values and large objects (contents, comments, OIDs
//! above 2³¹, several BLOBS groups from pg_dump 17 on). The corpus
//! (`fixtures/pg/restore/outside-schemas.sql`) has an event trigger that logs every DDL command
//! into a table, so a restore that created it earlier than pg_restore's last pass, or refreshed
//! the materialized view in another order, leaves other rows behind.
//!
//! Then bad input: a large object's damaged, missing or badly listed file, or a damaged BLOBS
//! block, is refused before anything changes (exit 3), as is an archive version newer than
//! fullsite reads (exit 2); and a large object is restored in memory that does not grow with
//! its size.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::cli::{Run, Sandbox};
use crate::support::db::{
    env_for_server, line_diff, load_file, outside_schemas_corpus, restore, restore_into, schema_of,
    state_of,
};
use crate::support::postgres::PgServer;
use crate::support::{compression_tools, pg};

/// A generation holding a stock pg_dump archive of `db` (made with `dump_args`) as its
/// database, the way the legacy script's generations hold theirs; the archive's path.
fn stock_generation(
    pg: &PgServer,
    sandbox: &Sandbox,
    db: &str,
    generation: &str,
    dump_args: &[&str],
) -> PathBuf {
    let dir = sandbox.root().join(generation);
    std::fs::create_dir_all(dir.join("db")).unwrap();
    std::fs::write(dir.join(".stgy-full-site-backup"), b"").unwrap();
    let archive = dir.join(format!("db/{db}.dump"));
    let mut args = dump_args.to_vec();
    let path = archive.to_str().unwrap();
    args.extend([
        "--no-owner",
        "--no-privileges",
        "--no-sync",
        "-f",
        path,
        "-d",
        db,
    ]);
    // zstd and LZ4 by the build of this major that has them (the matrix's 16 and 18 lack them)
    let zstd_or_lz4 = dump_args
        .iter()
        .any(|a| a.starts_with("--compress=zstd") || a.starts_with("--compress=lz4"));
    let tools = if zstd_or_lz4 {
        compression_tools(pg.client_major())
    } else {
        pg.install().clients
    };
    pg.client_from(&tools, "pg_dump", &args);
    archive
}

/// Every format × compression of `major`'s pg_dump, each restored by fullsite in one of its
/// modes, against stock pg_restore of the same archive.
fn stock_archives_restore_as_pg_restore_does(major: u32) {
    let pg = pg(major);
    let source = load_file(pg, "stock", &outside_schemas_corpus());
    let sandbox = Sandbox::new();
    let mut variants: Vec<(&str, &[&str], &[&str])> = vec![
        ("directory, gzip", &["-Fd"], &["--jobs", "2"]),
        ("directory, uncompressed", &["-Fd", "-Z0"], &["--jobs", "1"]),
        ("custom, gzip", &["-Fc"], &["--single-transaction"]),
        ("custom, uncompressed", &["-Fc", "-Z0"], &["--jobs", "2"]),
    ];
    // zstd and LZ4 (pg_dump 16+): directory files and custom blocks
    if major >= 16 {
        variants.push((
            "directory, zstd",
            &["-Fd", "--compress=zstd"],
            &["--jobs", "2"],
        ));
        variants.push(("custom, lz4", &["-Fc", "--compress=lz4"], &["--jobs", "1"]));
        variants.push((
            "directory, lz4",
            &["-Fd", "--compress=lz4:5"],
            &["--single-transaction"],
        ));
        variants.push((
            "custom, zstd",
            &["-Fc", "--compress=zstd"],
            &["--jobs", "2"],
        ));
    }
    // Table data as INSERT commands reads the same whatever the major: once is enough.
    if major == 16 {
        variants.push((
            "custom, INSERT commands",
            &["-Fc", "--inserts"],
            &["--jobs", "1"],
        ));
    }
    let mut problems = String::new();
    let mut expected: Option<(String, String)> = None;
    for (n, (label, dump, mode)) in variants.iter().enumerate() {
        let generation = format!("full-site-2026-01-0{}", n + 1);
        let archive = stock_generation(pg, &sandbox, &source, &generation, dump);
        if expected.is_none() {
            // In one transaction: the same result, without a commit per large object.
            let reference = restore_into(pg, &archive, &["--single-transaction"]);
            expected = Some((schema_of(pg, &reference), state_of(pg, &reference)));
        }
        let (schema, state) = expected.as_ref().unwrap();
        let into = format!("{source}_{n}");
        let mut args = vec!["--into-db", into.as_str()];
        args.extend_from_slice(mode);
        args.push(&generation);
        let run = restore(pg, &sandbox, &source, &args);
        let label = format!(
            "{label} archive of pg_dump {}, restored with {mode:?}",
            pg.client_major()
        );
        if run.code != 0 {
            problems.push_str(&format!("{label}: exit {}\n{}\n", run.code, run.stderr));
            continue;
        }
        if &schema_of(pg, &into) != schema {
            problems.push_str(&format!(
                "{label}: the schema differs from pg_restore's\n{}\n",
                line_diff(schema, &schema_of(pg, &into))
            ));
        }
        if &state_of(pg, &into) != state {
            problems.push_str(&format!(
                "{label}: rows, sequences or large objects differ from pg_restore's\n{}\n",
                line_diff(state, &state_of(pg, &into))
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "PostgreSQL {}:\n{problems}",
        pg.version()
    );
}

#[test]
fn stock_archives_of_postgresql_14_restore_as_pg_restore_does() {
    stock_archives_restore_as_pg_restore_does(14);
}

#[test]
fn stock_archives_of_postgresql_15_restore_as_pg_restore_does() {
    stock_archives_restore_as_pg_restore_does(15);
}

#[test]
fn stock_archives_of_postgresql_16_restore_as_pg_restore_does() {
    stock_archives_restore_as_pg_restore_does(16);
}

#[test]
fn stock_archives_of_postgresql_17_restore_as_pg_restore_does() {
    stock_archives_restore_as_pg_restore_does(17);
}

#[test]
fn stock_archives_of_postgresql_18_restore_as_pg_restore_does() {
    stock_archives_restore_as_pg_restore_does(18);
}

/// A table and a few large objects, for the tests of bad input.
const SMALL: &str = "
CREATE SCHEMA app;
CREATE TABLE app.documents (id integer PRIMARY KEY, title text NOT NULL, body oid, note text);
SELECT lo_from_bytea(424200, '');
SELECT lo_from_bytea(424201,
    (SELECT string_agg(set_byte('\\x00'::bytea, 0, i), ''::bytea ORDER BY i) FROM generate_series(0, 255) AS i));
SELECT lo_from_bytea(424202, convert_to(repeat(E'a line of text\\n', 9000), 'UTF8'));
INSERT INTO app.documents VALUES (1, 'empty', 424200, NULL), (2, 'bytes', 424201, NULL), (3, 'text', 424202, NULL);
";

/// A database with large objects, its schema and state, and a generation of it made by
/// stock pg_dump with `dump_args` in which `damage` is then done; a restore into the live
/// database must be refused with `code`, naming `expect`, and change nothing.
fn refused_and_untouched(
    major: u32,
    dump_args: &[&str],
    damage: impl Fn(&Path),
    code: i32,
    expect: &str,
) {
    let pg = pg(major);
    let sandbox = Sandbox::new();
    let db = pg.create_database("refused");
    pg.psql(&db, SMALL);
    let archive = stock_generation(pg, &sandbox, &db, "full-site-2026-01-01", dump_args);
    pg.psql(
        &db,
        "INSERT INTO app.documents VALUES (9, 'only in the live database', NULL, NULL); \
         SELECT lo_from_bytea(777777, 'only in the live database')",
    );
    let before = (schema_of(pg, &db), state_of(pg, &db));
    damage(&archive);
    let run = restore(pg, &sandbox, &db, &["full-site-2026-01-01"]);
    assert_eq!(run.code, code, "{}", run.stderr);
    assert!(
        run.stderr.contains(expect),
        "expected {expect:?} in:\n{}",
        run.stderr
    );
    assert_eq!(
        (schema_of(pg, &db), state_of(pg, &db)),
        before,
        "the target changed"
    );
}

/// The file of large object `oid` in a directory archive.
fn blob_file(archive: &Path, oid: u32) -> PathBuf {
    let gz = archive.join(format!("blob_{oid}.dat.gz"));
    if gz.exists() {
        gz
    } else {
        archive.join(format!("blob_{oid}.dat"))
    }
}

#[test]
fn a_damaged_large_object_file_is_refused_before_anything_changes() {
    refused_and_untouched(
        18,
        &["-Fd"],
        |archive| {
            let file = blob_file(archive, 424202);
            let mut bytes = std::fs::read(&file).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x20;
            std::fs::write(&file, bytes).unwrap();
        },
        3,
        "blob_424202.dat.gz",
    );
}

#[test]
fn a_missing_large_object_file_is_refused_before_anything_changes() {
    refused_and_untouched(
        15,
        &["-Fd", "-Z0"],
        |archive| std::fs::remove_file(blob_file(archive, 424201)).unwrap(),
        3,
        "large object 424201 is missing",
    );
}

#[test]
fn a_bad_line_in_the_large_object_list_is_refused_before_anything_changes() {
    refused_and_untouched(
        16,
        &["-Fd"],
        |archive| {
            let list = archive.join("blobs.toc");
            let text = std::fs::read_to_string(&list).unwrap();
            std::fs::write(&list, text.replacen("424201 ", "424201x ", 1)).unwrap();
        },
        3,
        "invalid line \"424201x blob_424201.dat\"",
    );
}

#[test]
fn a_damaged_large_object_block_of_a_custom_archive_is_refused_before_anything_changes() {
    refused_and_untouched(
        17,
        &["-Fc"],
        |archive| {
            // The last block is the BLOBS group, each object its own zlib stream. Flip a
            // byte inside the last one's.
            let mut bytes = std::fs::read(archive).unwrap();
            let at = bytes.len() - 12;
            bytes[at] ^= 0x10;
            std::fs::write(archive, bytes).unwrap();
        },
        3,
        "damaged",
    );
}

/// Sets the minor archive version in the header of a TOC file to `minor`.
fn set_archive_version(toc: &Path, minor: u8) {
    let mut bytes = std::fs::read(toc).unwrap();
    assert_eq!(&bytes[..5], b"PGDMP");
    bytes[6] = minor;
    std::fs::write(toc, bytes).unwrap();
}

#[test]
fn a_newer_directory_archive_version_is_refused_with_exit_2_before_anything_changes() {
    refused_and_untouched(
        18,
        &["-Fd"],
        |archive| set_archive_version(&archive.join("toc.dat"), 17),
        2,
        "unsupported archive version 1.17.0 (supported: 1.12 to 1.16): it was written by a newer pg_dump",
    );
}

#[test]
fn a_newer_custom_archive_version_is_refused_with_exit_2_before_anything_changes() {
    refused_and_untouched(
        14,
        &["-Fc"],
        |archive| set_archive_version(archive, 20),
        2,
        "unsupported archive version 1.20.0",
    );
}

/// Runs `command` to completion, sampling its peak resident memory (`VmHWM`, KiB) meanwhile.
fn run_measuring_memory(mut command: std::process::Command) -> (Run, u64) {
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let hwm = std::fs::read_to_string(&status)
                    .ok()
                    .and_then(|text| {
                        let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
                        line.split_whitespace().nth(1)?.parse::<u64>().ok()
                    })
                    .unwrap_or(0);
                peak.fetch_max(hwm, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let output = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    (run, peak.load(std::sync::atomic::Ordering::Relaxed))
}

/// Size of the large object that must not be held in memory.
const BIG_OBJECT_MIB: u64 = 24;

/// Restores a generation (made with `dump_args`) of a database holding one large object of
/// `mib` MiB, checks its content; the restore's peak memory in KiB.
fn restore_one_large_object(pg: &PgServer, dump_args: &[&str], mib: u64) -> u64 {
    let sandbox = Sandbox::new();
    let db = pg.create_database("big_object");
    // 1 MiB pieces of text that differ from one another.
    pg.psql(
        &db,
        &format!(
            "SELECT lo_create(4242); \
             SELECT count(lo_put(4242, i * 1048576, convert_to(repeat(md5(i::text), 32768), 'UTF8'))) \
               FROM generate_series(0, {}) AS i",
            mib - 1
        ),
    );
    stock_generation(pg, &sandbox, &db, "full-site-2026-01-01", dump_args);
    let into = format!("{db}_restored");
    let env = env_for_server(pg, &db);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let args = [
        "restore",
        "--no-objects",
        "--into-db",
        &into,
        "full-site-2026-01-01",
    ];
    let (run, peak_kib) = run_measuring_memory(sandbox.command(&args, &pairs));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let digest = "SELECT length(lo_get(4242)) || ' ' || md5(lo_get(4242))";
    assert_eq!(pg.psql(&into, digest), pg.psql(&db, digest));
    peak_kib
}

/// A large object of [`BIG_OBJECT_MIB`] MiB restores in about the memory one of 1 MiB takes.
fn a_large_object_streams(major: u32, dump_args: &[&str]) {
    let pg = pg(major);
    let small = restore_one_large_object(pg, dump_args, 1);
    let big = restore_one_large_object(pg, dump_args, BIG_OBJECT_MIB);
    assert!(
        big < small + BIG_OBJECT_MIB * 1024 / 2,
        "restoring a {BIG_OBJECT_MIB} MiB large object peaked at {} MiB of memory, one of 1 MiB at {} MiB",
        big / 1024,
        small / 1024
    );
}

#[test]
fn a_large_object_of_a_directory_archive_is_streamed_in_bounded_memory() {
    a_large_object_streams(18, &["-Fd"]);
}

#[test]
fn a_large_object_of_a_custom_archive_is_streamed_in_bounded_memory() {
    a_large_object_streams(15, &["-Fc"]);
}

/// fullsite's own generation of the corpus, restored by fullsite serially, in parallel and in
/// one transaction, gives what a stock dump/restore cycle gives.
fn fullsite_generations_restore_in_every_mode(major: u32) {
    let pg = pg(major);
    let source = load_file(pg, "native", &outside_schemas_corpus());
    let sandbox = Sandbox::new();
    let stock = stock_generation(pg, &sandbox, &source, "full-site-2026-01-01", &["-Fd"]);
    let reference = restore_into(pg, &stock, &["--single-transaction"]);
    let (schema, state) = (schema_of(pg, &reference), state_of(pg, &reference));
    let env = env_for_server(pg, &source);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let backup = sandbox.run_with(&["backup", "--no-objects", "--name", "g1"], &pairs);
    assert_eq!(backup.code, 0, "{}", backup.stderr);
    let mut problems = String::new();
    for (n, mode) in ["--jobs=1", "--jobs=2", "--single-transaction"]
        .iter()
        .enumerate()
    {
        let into = format!("{source}_{n}");
        let run = restore(pg, &sandbox, &source, &["--into-db", &into, mode, "g1"]);
        if run.code != 0 {
            problems.push_str(&format!("{mode}: exit {}\n{}\n", run.code, run.stderr));
            continue;
        }
        if schema_of(pg, &into) != schema {
            let diff = line_diff(&schema, &schema_of(pg, &into));
            problems.push_str(&format!("{mode}: the schema differs\n{diff}\n"));
        }
        if state_of(pg, &into) != state {
            let diff = line_diff(&state, &state_of(pg, &into));
            problems.push_str(&format!("{mode}: rows or large objects differ\n{diff}\n"));
        }
    }
    assert!(
        problems.is_empty(),
        "PostgreSQL {}:\n{problems}",
        pg.version()
    );
}

#[test]
fn fullsite_generations_of_postgresql_14_restore_in_every_mode() {
    fullsite_generations_restore_in_every_mode(14);
}

#[test]
fn fullsite_generations_of_postgresql_18_restore_in_every_mode() {
    fullsite_generations_restore_in_every_mode(18);
}
