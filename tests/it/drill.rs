//! `fullsite drill` and rows → objects references against real servers: a good generation
//! restores into a scratch database whose rows and sequences match what the dump counted
//! (compared here with the source itself as the oracle), and the scratch database is gone after
//! every outcome (pass, damage, a restore failing midway, SIGTERM); a role without CREATEDB
//! gets a plain error; dangling references and orphans are found with their exact keys at
//! backup and at drill; a malformed or failing query stops the backup before it publishes.

use serde_json::Value;

use crate::support::cli::{Run, Sandbox};
use crate::support::db::{backup_from, env_for_server, load_fixture};
use crate::support::postgres::PgServer;
use crate::support::{DISTRIBUTION_MAJOR, pg};

fn server() -> &'static PgServer {
    pg(DISTRIBUTION_MAJOR)
}

fn run(sandbox: &Sandbox, db: &str, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let env = env_for_server(server(), db);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.extend_from_slice(extra);
    sandbox.run_with(args, &pairs)
}

/// Scratch databases of drills of `generation` still on the server.
fn scratch_databases(generation: &str) -> Vec<String> {
    let pattern = format!("fullsite_drill_{}_%", generation.replace('-', "_"));
    server()
        .psql(
            "postgres",
            &format!("SELECT datname FROM pg_database WHERE datname LIKE '{pattern}'"),
        )
        .lines()
        .map(str::to_string)
        .collect()
}

fn small_database(prefix: &str, sql: &str) -> String {
    let db = server().create_database(prefix);
    server().psql(&db, sql);
    db
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    keys
}

#[test]
fn a_good_generation_drills_clean_with_the_source_as_oracle_and_leaves_no_scratch_database() {
    let pg = server();
    let sandbox = Sandbox::new();
    let db = load_fixture(pg, "drill_good");
    backup_from(pg, &sandbox, &db, "drill-good", &[]);
    let metrics = sandbox.cwd().join("drill.prom");
    let drill = run(
        &sandbox,
        &db,
        &[
            "drill",
            "--json",
            "--jobs",
            "2",
            "--metrics-file",
            metrics.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(drill.code, 0, "{}", drill.stderr);
    let report = json(&drill);
    // The JSON shape README documents.
    assert_eq!(
        keys(&report),
        [
            "finished_at",
            "finished_unix",
            "generation",
            "kept",
            "mismatches",
            "passed",
            "references",
            "restore",
            "rows_compared",
            "rows_expected",
            "rows_restored",
            "scratch_database",
            "seconds",
            "sequences",
            "started_at",
            "tables",
            "verify"
        ]
    );
    assert_eq!(
        keys(&report["verify"]),
        ["bytes", "files", "percent", "problems"]
    );
    assert_eq!(
        keys(&report["restore"]),
        ["entries", "error", "seconds", "tables"]
    );
    assert_eq!(
        keys(&report["tables"][0]),
        ["name", "rows_expected", "rows_restored"]
    );
    assert_eq!(
        keys(&report["sequences"][0]),
        [
            "is_called_expected",
            "is_called_restored",
            "last_value_expected",
            "last_value_restored",
            "name"
        ]
    );
    assert_eq!(report["generation"], "drill-good");
    assert_eq!(report["passed"], true);
    assert_eq!(report["rows_compared"], true);
    assert!(report["references"].is_null());
    assert_eq!(report["mismatches"].as_array().unwrap().len(), 0);
    // Every table the source holds rows in, with the source's own count.
    let mut source: Vec<(String, u64)> = pg
        .psql(
            &db,
            "SELECT format('%s.%s', n.nspname, c.relname), \
                    (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY %I.%I', \
                     n.nspname, c.relname), false, true, '')))[1]::text::bigint \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1",
        )
        .lines()
        .map(|l| {
            let (name, n) = l.split_once('|').unwrap();
            (name.to_string(), n.parse().unwrap())
        })
        .collect();
    source.sort();
    let drilled: Vec<(String, u64)> = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["rows_expected"], t["rows_restored"], "{t}");
            (
                t["name"].as_str().unwrap().to_string(),
                t["rows_expected"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(drilled, source);
    assert!(
        drilled
            .iter()
            .any(|(n, rows)| n == "app.sessions" && *rows == 2),
        "a FORCE ROW LEVEL SECURITY table is counted whole: {drilled:?}"
    );
    let total: u64 = source.iter().map(|(_, n)| n).sum();
    assert_eq!(report["rows_restored"], total);
    let tickets = report["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "app.ticket_seq")
        .unwrap();
    assert_eq!(
        tickets["last_value_restored"],
        tickets["last_value_expected"]
    );
    assert_eq!(
        tickets["last_value_expected"].to_string(),
        pg.psql(&db, "SELECT last_value FROM app.ticket_seq").trim()
    );
    assert!(scratch_databases("drill-good").is_empty());

    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(prom.contains("fullsite_drill_success 1\n"), "{prom}");
    assert!(prom.contains("fullsite_drill_duration_seconds "), "{prom}");
    let status = run(&sandbox, &db, &["status"], &[]);
    assert!(
        status.stdout.contains(" ok drill-good (") && status.stdout.contains("tables, "),
        "{}",
        status.stdout
    );
    let status = run(&sandbox, &db, &["status", "--json"], &[]);
    let last = &json(&status)["last_drill"];
    assert_eq!(last["generation"], "drill-good");
    assert_eq!(last["passed"], true);
    assert_eq!(last["rows"], total);
    for key in ["at", "tables", "seconds"] {
        assert!(!last[key].is_null(), "{key}: {last}");
    }
    let results = std::fs::read_to_string(sandbox.root().join(".drill-results.json")).unwrap();
    assert!(results.contains("\"drill-good\""), "{results}");

    // The text report names the scratch database, and --keep leaves it for inspection.
    let kept = run(&sandbox, &db, &["drill", "--keep", "drill-good"], &[]);
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    let left = scratch_databases("drill-good");
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        kept.stdout
            .contains(&format!("kept        scratch database {}", left[0])),
        "{}",
        kept.stdout
    );
    assert!(kept.stdout.contains("all match"), "{}", kept.stdout);
    pg.psql("postgres", &format!("DROP DATABASE \"{}\"", left[0]));
}

#[test]
fn a_damaged_generation_fails_the_drill_with_exit_3_before_any_scratch_database() {
    let sandbox = Sandbox::new();
    let db = small_database(
        "drill_damaged",
        "CREATE TABLE t (i int); INSERT INTO t SELECT generate_series(1, 1000)",
    );
    backup_from(server(), &sandbox, &db, "drill-damaged", &[]);
    let archive = sandbox
        .root()
        .join("drill-damaged/db")
        .join(format!("{db}.dump"));
    let data = std::fs::read_dir(&archive)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".dat.gz"))
        .unwrap();
    let mut bytes = std::fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();
    let metrics = sandbox.cwd().join("drill.prom");
    let drill = run(
        &sandbox,
        &db,
        &["drill", "--metrics-file", metrics.to_str().unwrap()],
        &[],
    );
    assert_eq!(drill.code, 3, "{}", drill.stderr);
    assert!(drill.stdout.contains("FAILED"), "{}", drill.stdout);
    assert!(
        drill.stdout.contains("MISMATCH    verify: "),
        "{}",
        drill.stdout
    );
    assert!(scratch_databases("drill-damaged").is_empty());
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(prom.contains("fullsite_drill_success 0\n"), "{prom}");
    let status = run(&sandbox, &db, &["status"], &[]);
    assert!(
        status.stdout.contains(" FAILED drill-damaged"),
        "{}",
        status.stdout
    );
}

#[test]
fn a_restore_failing_midway_is_exit_3_and_the_scratch_database_is_dropped() {
    let sandbox = Sandbox::new();
    // An index on a function that lies about being IMMUTABLE: redefined after the index was
    // built, it makes the unique index fail on restore, after the data loaded.
    let db = small_database(
        "drill_midway",
        "CREATE FUNCTION public.k(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE \
           AS $$BEGIN RETURN i; END$$; \
         CREATE TABLE public.t (i int); INSERT INTO public.t VALUES (1), (2); \
         CREATE UNIQUE INDEX t_k ON public.t (public.k(i)); \
         CREATE OR REPLACE FUNCTION public.k(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE \
           AS $$BEGIN RETURN 1; END$$;",
    );
    backup_from(server(), &sandbox, &db, "drill-midway", &[]);
    let drill = run(&sandbox, &db, &["drill", "--json"], &[]);
    assert_eq!(drill.code, 3, "{}", drill.stderr);
    let report = json(&drill);
    assert_eq!(report["passed"], false);
    let error = report["restore"]["error"].as_str().unwrap();
    assert!(
        error.contains("t_k") || error.contains("duplicate"),
        "{error}"
    );
    assert!(
        report["mismatches"][0]
            .as_str()
            .unwrap()
            .starts_with("restore failed: "),
        "{report}"
    );
    assert!(
        drill
            .stderr
            .contains("drill of generation 'drill-midway' failed"),
        "{}",
        drill.stderr
    );
    assert!(scratch_databases("drill-midway").is_empty());
}

#[test]
fn sigterm_during_a_drill_drops_the_scratch_database_and_exits_143() {
    let sandbox = Sandbox::new();
    let db = small_database(
        "drill_term",
        "CREATE TABLE t (i int); INSERT INTO t SELECT generate_series(1, 100)",
    );
    backup_from(server(), &sandbox, &db, "drill-term", &[]);
    let env = env_for_server(server(), &db);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let paused = sandbox.spawn_paused_with(&["drill"], &pairs, "drill:after-restore");
    assert_eq!(
        scratch_databases("drill-term").len(),
        1,
        "the scratch database exists while the drill runs"
    );
    assert_eq!(paused.signal_and_wait("TERM"), Some(143));
    assert!(scratch_databases("drill-term").is_empty());
}

#[test]
fn a_role_without_createdb_gets_a_plain_error_and_exit_1() {
    let sandbox = Sandbox::new();
    let db = small_database("drill_nocreatedb", "CREATE TABLE t (i int)");
    backup_from(server(), &sandbox, &db, "drill-nocreatedb", &[]);
    let role = format!("drill_plain_{}", std::process::id());
    server().psql(
        "postgres",
        &format!("CREATE ROLE {role} LOGIN PASSWORD 'plain-pw' NOCREATEDB"),
    );
    let drill = run(
        &sandbox,
        &db,
        &["drill"],
        &[
            ("STGY_DATABASE_USER", role.as_str()),
            ("STGY_DATABASE_PASSWORD", "plain-pw"),
        ],
    );
    assert_eq!(drill.code, 1, "{}", drill.stderr);
    assert!(
        drill
            .stderr
            .contains(&format!("role '{role}' may not create databases")),
        "{}",
        drill.stderr
    );
    assert!(scratch_databases("drill-nocreatedb").is_empty());
}

#[test]
fn a_malformed_or_failing_refs_query_stops_the_backup_before_it_publishes() {
    let sandbox = Sandbox::new();
    let db = small_database(
        "refs_bad",
        "CREATE TABLE public.users (id int, avatar text); INSERT INTO public.users VALUES (1, 'a.png')",
    );
    let file = sandbox.cwd().join("refs.sql");
    for (sql, code, needle) in [
        ("SELECT id, avatar FROM public.users", 2, "two text columns"),
        ("SELEKT 'b', avatar FROM public.users", 2, "syntax error"),
        ("SELECT 'b', nope FROM public.users", 2, "nope"),
        (
            "SELECT 'b', (1 / (id - id))::text FROM public.users",
            1,
            "division by zero",
        ),
    ] {
        std::fs::write(&file, sql).unwrap();
        let backup = run(
            &sandbox,
            &db,
            &[
                "backup",
                "--no-objects",
                "--name",
                "refs-bad",
                "--refs-sql-file",
                file.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(backup.code, code, "{sql}: {}", backup.stderr);
        assert!(backup.stderr.contains(needle), "{sql}: {}", backup.stderr);
        assert!(
            !sandbox.root().join("refs-bad").exists(),
            "{sql}: nothing published"
        );
    }
    // The same through the environment variable.
    let backup = run(
        &sandbox,
        &db,
        &["backup", "--no-objects", "--name", "refs-bad"],
        &[("FULLSITE_OBJECT_REFS_SQL", "SELECT 1")],
    );
    assert_eq!(backup.code, 2, "{}", backup.stderr);
    assert!(
        backup.stderr.contains("FULLSITE_OBJECT_REFS_SQL"),
        "{}",
        backup.stderr
    );
    assert!(!sandbox.root().join("refs-bad").exists());
}

/// The README's example query, for the test schema's buckets.
fn refs_sql(profiles: &str, images: &str) -> String {
    format!(
        "SELECT '{profiles}' AS bucket, avatar AS key FROM public.users WHERE avatar IS NOT NULL \
         UNION ALL \
         SELECT '{images}', m[1] FROM public.posts, \
                regexp_matches(content, '/images/([^)\\s\"]+)', 'g') AS m"
    )
}

#[test]
fn dangling_references_and_orphans_are_found_with_their_keys_at_backup_and_at_drill() {
    let servers = crate::support::servers();
    let sandbox = Sandbox::new();
    let profiles = servers.s3.create_bucket("profiles");
    let images = servers.s3.create_bucket("images");
    crate::support::s3::put(
        &profiles,
        &[crate::support::s3::Object::new(
            "u1.png",
            b"avatar one".to_vec(),
        )],
    );
    crate::support::s3::put(
        &images,
        &[
            crate::support::s3::Object::new("p1.jpg", b"picture".to_vec()),
            crate::support::s3::Object::new("unused.jpg", b"nobody shows me".to_vec()),
        ],
    );
    let db = servers.pg.create_database("refs_found");
    servers.pg.psql(
        &db,
        "CREATE TABLE public.users (id int, avatar text); \
         CREATE TABLE public.posts (id int, content text); \
         INSERT INTO public.users VALUES (1, 'u1.png'), (2, 'u2.png'), (3, NULL); \
         INSERT INTO public.posts VALUES \
           (1, 'look ![a](/images/p1.jpg) and ![b](/images/p1.jpg)'), \
           (2, 'gone: ![c](/images/gone.jpg)')",
    );
    let env = servers.fullsite_env(&db);
    let buckets = format!("{profiles},{images}");
    let sql = refs_sql(&profiles, &images);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.push(("STGY_STORAGE_S3_BUCKETS", &buckets));
    pairs.push(("FULLSITE_OBJECT_REFS_SQL", &sql));
    let backup = sandbox.run_with(&["backup", "--json", "--name", "refs-found"], &pairs);
    assert_eq!(backup.code, 0, "{}", backup.stderr);
    let summary = json(&backup);
    assert_eq!(summary["dangling_references"], 2, "{summary}");
    let expected = [format!("{images}/gone.jpg"), format!("{profiles}/u2.png")];
    let mut named: Vec<String> = summary["references"]["dangling_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    named.sort();
    let mut sorted = expected.to_vec();
    sorted.sort();
    assert_eq!(named, sorted);
    assert_eq!(summary["references"]["references"], 5);
    assert_eq!(summary["references"]["distinct"], 4);
    assert!(
        backup.stderr.contains("dangling references") && backup.stderr.contains("/u2.png"),
        "{}",
        backup.stderr
    );

    let drill = sandbox.run_with(&["drill", "--json"], &pairs);
    assert_eq!(
        drill.code, 0,
        "dangling references are findings: {}",
        drill.stderr
    );
    let report = json(&drill);
    let refs = &report["references"];
    assert_eq!(refs["matches_backup"], true, "{refs}");
    assert_eq!(refs["dangling_references"], 2);
    let mut keys: Vec<String> = refs["dangling_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            format!(
                "{}/{}",
                k["bucket"].as_str().unwrap(),
                k["key"].as_str().unwrap()
            )
        })
        .collect();
    keys.sort();
    assert_eq!(keys, sorted);
    assert_eq!(refs["orphans"]["objects"], 1);
    assert_eq!(refs["orphans"]["bytes"], b"nobody shows me".len());

    // Without the variable, the drill runs the query the backup recorded.
    let without: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, _)| *k != "FULLSITE_OBJECT_REFS_SQL")
        .copied()
        .collect();
    let drill = sandbox.run_with(&["drill", "--json"], &without);
    assert_eq!(drill.code, 0, "{}", drill.stderr);
    assert_eq!(json(&drill)["references"]["matches_backup"], true);

    // The text report and the metrics file say the same.
    let metrics = sandbox.cwd().join("drill.prom");
    let drill = sandbox.run_with(
        &["drill", "--metrics-file", metrics.to_str().unwrap()],
        &without,
    );
    assert_eq!(drill.code, 0, "{}", drill.stderr);
    assert!(drill.stdout.contains("dangling    2: "), "{}", drill.stdout);
    assert!(
        drill.stdout.contains("orphans     1 objects"),
        "{}",
        drill.stdout
    );
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains("fullsite_drill_dangling_references 2\n"),
        "{prom}"
    );
}

#[test]
fn a_generation_from_before_row_counts_restores_and_says_rows_cannot_be_compared() {
    let sandbox = Sandbox::new();
    let db = small_database(
        "drill_v2",
        "CREATE TABLE t (i int); INSERT INTO t SELECT generate_series(1, 10)",
    );
    backup_from(server(), &sandbox, &db, "drill-v2", &[]);
    // Rewrite the manifest as version 2 wrote it: no table or sequence records.
    let path = sandbox.root().join("drill-v2/manifest.jsonl");
    let mut body = String::new();
    let mut trailer: Option<Value> = None;
    for line in std::fs::read_to_string(&path).unwrap().lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        match record["type"].as_str().unwrap() {
            "table" | "sequence" | "references" => {}
            "header" => body.push_str(&format!(
                "{}\n",
                line.replace("\"version\":3", "\"version\":2")
            )),
            "end" => trailer = Some(record),
            _ => body.push_str(&format!("{line}\n")),
        }
    }
    let mut trailer = trailer.unwrap();
    trailer["digest"] = Value::from(blake3::hash(body.as_bytes()).to_hex().to_string());
    std::fs::write(&path, format!("{body}{trailer}\n")).unwrap();
    assert!(body.contains("\"version\":2"));

    let drill = run(&sandbox, &db, &["drill", "drill-v2"], &[]);
    assert_eq!(drill.code, 0, "{}", drill.stderr);
    assert!(
        drill
            .stdout
            .contains("rows        not compared: the generation's manifest records no row counts"),
        "{}",
        drill.stdout
    );
    assert!(scratch_databases("drill-v2").is_empty());
}
