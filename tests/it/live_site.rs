//! Backups of a live site against real servers: a bucket that changes while it is mirrored
//! (objects deleted, replaced and added between the listing and the downloads), and an S3
//! server that stops answering (SIGSTOP: no reset, no close) during a backup's downloads and a
//! restore's uploads.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::cli::Sandbox;
use crate::support::garage::GarageServer;
use crate::support::s3::{Object, delete_from, etags_in, keys_in, put_to};
use crate::support::servers;

/// Every object record of generation `name`: key → (ETag, size, path).
fn records(sandbox: &Sandbox, name: &str) -> BTreeMap<String, (String, u64, String)> {
    let mut out = BTreeMap::new();
    fullsite::manifest::read_records(&sandbox.root().join(name), |record| {
        if let fullsite::manifest::Record::Object(o) = record {
            out.insert(o.key, (o.etag, o.size, o.path));
        }
    })
    .unwrap();
    out
}

#[test]
fn a_bucket_changing_during_the_mirror_gives_a_consistent_generation_and_restore() {
    let garage = &servers().s3;
    let bucket = garage.create_bucket("race");
    let objects: Vec<Object> = (0..600)
        .map(|i| Object::new(&format!("k/{i:04}"), format!("original {i}").into_bytes()))
        .collect();
    put_to(garage, &bucket, &objects);

    let sandbox = Sandbox::new();
    let resume = sandbox.cwd().join("resume");
    let mut env = garage.fullsite_env(&bucket);
    env.push((
        "FULLSITE_TEST_PAUSE_UNTIL".into(),
        resume.to_str().unwrap().into(),
    ));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let paused = sandbox.spawn_paused_with(
        &[
            "backup",
            "--no-db",
            "--name",
            "g",
            "--transfers",
            "2",
            "--json",
        ],
        &pairs,
        "mirror:after-listing",
    );
    // Between the listing and the downloads: 200 deleted, 100 replaced, 50 added.
    let deleted: Vec<String> = (0..200).map(|i| format!("k/{:04}", i * 3)).collect();
    delete_from(
        garage,
        &bucket,
        &deleted.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let replaced: Vec<Object> = (0..100)
        .map(|i| {
            let key = format!("k/{:04}", i * 3 + 1);
            Object::new(
                &key,
                format!("replaced {key}, longer than before").into_bytes(),
            )
        })
        .collect();
    put_to(garage, &bucket, &replaced);
    let added: Vec<Object> = (0..50)
        .map(|i| Object::new(&format!("new/{i}"), b"added late".to_vec()))
        .collect();
    put_to(garage, &bucket, &added);
    std::fs::write(&resume, b"").unwrap();
    let (code, stdout, log) = paused.wait_with_stdout();
    assert_eq!(code, Some(0), "{log}");

    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["objects"]["vanished"], 200, "{json}");
    assert_eq!(json["objects"]["changed_during_backup"], 100, "{json}");
    assert_eq!(json["objects"]["objects"], 400, "{json}");
    let verify = sandbox.run(&["verify", "g"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);

    // Every stored object is the version its record names: bytes and ETag as the bucket holds
    // them now (nothing changed since), and no deleted or late object.
    let stored = records(&sandbox, "g");
    let now = etags_in(garage, &bucket);
    assert_eq!(stored.len(), 400);
    for (key, (etag, size, path)) in &stored {
        assert_eq!(Some(etag), now.get(key), "{key}");
        let bytes = std::fs::read(sandbox.root().join("g").join(path)).unwrap();
        assert_eq!(bytes.len() as u64, *size, "{key}");
        let expected = if replaced.iter().any(|o| &o.key == key) {
            format!("replaced {key}, longer than before")
        } else {
            format!("original {}", key[2..].parse::<u32>().unwrap())
        };
        assert_eq!(bytes, expected.as_bytes(), "{key}");
    }
    assert!(deleted.iter().all(|k| !stored.contains_key(k)));
    assert!(added.iter().all(|o| !stored.contains_key(&o.key)));

    // A restore gives exactly the stored set back.
    let restore = sandbox.run_with(&["restore", "--no-db", "g"], &pairs[..pairs.len() - 1]);
    assert_eq!(restore.code, 0, "{}", restore.stderr);
    let keys: Vec<String> = stored.keys().cloned().collect();
    assert_eq!(keys_in(garage, &bucket), keys);
}

/// A Garage of its own (it gets frozen), holding `count` objects in a new bucket.
fn own_garage(dir: &std::path::Path, count: usize) -> (GarageServer, String) {
    let garage = GarageServer::start(&dir.join("garage"));
    let bucket = garage.create_bucket("hang");
    let objects: Vec<Object> = (0..count)
        .map(|i| Object::new(&format!("o{i:02}"), vec![i as u8; 50_000]))
        .collect();
    put_to(&garage, &bucket, &objects);
    (garage, bucket)
}

#[test]
fn an_s3_server_that_stops_answering_mid_download_fails_the_backup_within_the_stall_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (garage, bucket) = own_garage(dir.path(), 10);
    let sandbox = Sandbox::new();
    let resume = sandbox.cwd().join("resume");
    let mut env = garage.fullsite_env(&bucket);
    env.push((
        "FULLSITE_TEST_PAUSE_UNTIL".into(),
        resume.to_str().unwrap().into(),
    ));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let args = [
        "backup",
        "--no-db",
        "--name",
        "g",
        "--transfers",
        "1",
        "--stall-timeout",
        "3",
    ];
    let paused = sandbox.spawn_paused_with(&args, &pairs, "mirror:mid-download");
    garage.freeze();
    std::fs::write(&resume, b"").unwrap();
    let started = Instant::now();
    let (code, log) = paused.wait();
    let elapsed = started.elapsed();
    garage.thaw();
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains(&garage.endpoint()), "names the server: {log}");
    assert!(
        [
            "stalled",
            "no answer within 3s",
            "read timeout occurred after 3s"
        ]
        .iter()
        .any(|said| log.contains(said)),
        "{log}"
    );
    eprintln!("time to failure after the server froze: {elapsed:.1?}");
    assert!(elapsed < Duration::from_secs(3 + 5), "{elapsed:?}");
    assert!(sandbox.entries().is_empty(), "{:?}", sandbox.entries());
    // The root lock was released: the next run goes ahead.
    let again = sandbox.run_with(
        &["backup", "--no-db", "--name", "g2"],
        &pairs[..pairs.len() - 1],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
}

#[test]
fn an_s3_server_that_stops_answering_mid_upload_fails_the_restore_within_the_stall_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (garage, bucket) = own_garage(dir.path(), 10);
    let sandbox = Sandbox::new();
    let env = garage.fullsite_env(&bucket);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let backup = sandbox.run_with(&["backup", "--no-db", "--name", "g"], &pairs);
    assert_eq!(backup.code, 0, "{}", backup.stderr);
    let keys: Vec<String> = keys_in(&garage, &bucket);
    delete_from(
        &garage,
        &bucket,
        &keys.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    put_to(
        &garage,
        &bucket,
        &[Object::new("extra", b"left alone".to_vec())],
    );

    let resume = sandbox.cwd().join("resume");
    let mut paused_env = pairs.clone();
    let resume_text = resume.to_str().unwrap().to_string();
    paused_env.push(("FULLSITE_TEST_PAUSE_UNTIL", &resume_text));
    let args = [
        "restore",
        "--no-db",
        "--transfers",
        "1",
        "--stall-timeout",
        "3",
        "g",
    ];
    let paused = sandbox.spawn_paused_with(&args, &paused_env, "restore:mid-upload");
    garage.freeze();
    std::fs::write(&resume, b"").unwrap();
    let started = Instant::now();
    let (code, log) = paused.wait();
    let elapsed = started.elapsed();
    garage.thaw();
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains(&garage.endpoint()), "names the server: {log}");
    eprintln!("time to failure after the server froze: {elapsed:.1?}");
    assert!(elapsed < Duration::from_secs(3 + 5), "{elapsed:?}");
    assert!(
        keys_in(&garage, &bucket).contains(&"extra".to_string()),
        "nothing was deleted"
    );
    let again = sandbox.run_with(&["restore", "--no-db", "g"], &pairs);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(keys_in(&garage, &bucket), keys);
}

#[test]
fn a_table_locked_by_a_migration_fails_the_dump_after_the_lock_wait_naming_table_and_session() {
    let pg = servers().pg;
    let db = pg.create_database("locked");
    pg.psql(
        &db,
        "CREATE TABLE calm (v int); CREATE TABLE busy (v int); INSERT INTO busy VALUES (1);",
    );
    // The "migration": a session holding ACCESS EXCLUSIVE on one table.
    let mut migration = pg
        .client_command(
            "psql",
            &[
                "-X",
                "-q",
                "-d",
                &db,
                "-c",
                "BEGIN; LOCK TABLE busy IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT;",
            ],
        )
        .env("PGAPPNAME", "migration-0042")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let held = crate::support::wait_until(Duration::from_secs(10), || {
        pg.psql(
            &db,
            "SELECT count(*) FROM pg_locks WHERE relation = 'busy'::regclass AND mode = 'AccessExclusiveLock' AND granted",
        )
        .trim()
            == "1"
    });
    assert!(held, "the migration took its lock");
    let holder = pg.psql(
        &db,
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'migration-0042'",
    );

    let sandbox = Sandbox::new();
    let env = crate::support::db::env_for(&db);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let started = Instant::now();
    let run = sandbox.run_with(
        &[
            "backup",
            "--no-objects",
            "--name",
            "g",
            "--lock-wait-timeout",
            "2",
        ],
        &pairs,
    );
    let elapsed = started.elapsed();
    pg.psql(
        &db,
        &format!("SELECT pg_terminate_backend({})", holder.trim()),
    );
    let _ = migration.wait();
    assert_eq!(run.code, 1, "{}", run.stderr);
    eprintln!(
        "failed after {elapsed:.1?}: {}",
        run.stderr.lines().last().unwrap_or_default()
    );
    for needle in [
        "within 2s",
        "public.busy",
        holder.trim(),
        "migration-0042",
        "holds ACCESS EXCLUSIVE",
        "LOCK TABLE busy",
    ] {
        assert!(run.stderr.contains(needle), "{needle:?} in {}", run.stderr);
    }
    assert!(
        elapsed < Duration::from_secs(2 + 5),
        "fails soon after the lock wait: {elapsed:?}"
    );
    assert!(sandbox.entries().is_empty(), "{:?}", sandbox.entries());
    // The dump held nothing: with the migration gone, the next backup takes every lock.
    let again = sandbox.run_with(&["backup", "--no-objects", "--name", "g"], &pairs);
    assert_eq!(again.code, 0, "{}", again.stderr);
}

/// A PostgreSQL of its own (it gets frozen) with a database holding a table big enough that its
/// COPY takes a while.
fn own_postgres(dir: &std::path::Path) -> (crate::support::postgres::PgServer, String) {
    let pg = crate::support::postgres::PgServer::start(&servers().pg.install(), &dir.join("pg"));
    let db = pg.create_database("hung");
    pg.psql(
        &db,
        "CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 8) AS payload \
         FROM generate_series(1, 200000) g; CREATE TABLE small (v int); INSERT INTO small VALUES (1);",
    );
    (pg, db)
}

#[test]
fn postgresql_that_stops_answering_mid_copy_fails_the_backup_within_the_stall_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (pg, db) = own_postgres(dir.path());
    let sandbox = Sandbox::new();
    let resume = sandbox.cwd().join("resume");
    let mut env = crate::support::db::env_for_server(&pg, &db);
    env.push((
        "FULLSITE_TEST_PAUSE_UNTIL".into(),
        resume.to_str().unwrap().into(),
    ));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let args = [
        "backup",
        "--no-objects",
        "--name",
        "g",
        "--jobs",
        "1",
        "--stall-timeout",
        "3",
    ];
    let paused = sandbox.spawn_paused_with(&args, &pairs, "pg:mid-copy-out");
    pg.freeze();
    std::fs::write(&resume, b"").unwrap();
    let started = Instant::now();
    let (code, log) = paused.wait();
    let elapsed = started.elapsed();
    pg.thaw();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&format!("{}:{}", pg.host(), pg.port())),
        "names the server: {log}"
    );
    assert!(log.contains("looks hung"), "{log}");
    eprintln!(
        "time to failure after PostgreSQL froze mid-COPY: {elapsed:.1?}: {}",
        log.lines().last().unwrap_or_default()
    );
    // the stall timeout, then a probe of at most as long
    assert!(elapsed < Duration::from_secs(3 + 3 + 4), "{elapsed:?}");
    assert!(sandbox.entries().is_empty(), "{:?}", sandbox.entries());
    let again = sandbox.run_with(
        &["backup", "--no-objects", "--name", "g"],
        &pairs[..pairs.len() - 1],
    );
    assert_eq!(again.code, 0, "the root lock is free: {}", again.stderr);
}

#[test]
fn postgresql_that_stops_answering_mid_copy_fails_the_restore_within_the_stall_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (pg, db) = own_postgres(dir.path());
    let sandbox = Sandbox::new();
    let env = crate::support::db::env_for_server(&pg, &db);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let backup = sandbox.run_with(&["backup", "--no-objects", "--name", "g"], &pairs);
    assert_eq!(backup.code, 0, "{}", backup.stderr);
    let resume = sandbox.cwd().join("resume");
    let resume_text = resume.to_str().unwrap().to_string();
    let mut paused_env = pairs.clone();
    paused_env.push(("FULLSITE_TEST_PAUSE_UNTIL", &resume_text));
    let args = [
        "restore",
        "--no-objects",
        "--into-db",
        "copy_target",
        "--jobs",
        "1",
        "--stall-timeout",
        "3",
        "g",
    ];
    let paused = sandbox.spawn_paused_with(&args, &paused_env, "restore:mid-copy");
    pg.freeze();
    std::fs::write(&resume, b"").unwrap();
    let started = Instant::now();
    let (code, log) = paused.wait();
    let elapsed = started.elapsed();
    pg.thaw();
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("looks hung"), "{log}");
    eprintln!("time to failure after PostgreSQL froze mid-restore: {elapsed:.1?}");
    assert!(elapsed < Duration::from_secs(3 + 3 + 4), "{elapsed:?}");
    let again = sandbox.run_with(
        &["restore", "--no-objects", "--into-db", "copy_target", "g"],
        &pairs,
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
}
