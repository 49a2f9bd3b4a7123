//! Faults during a full backup (database + objects) against the real servers: SIGKILL at every
//! step leaves no generation, `list` ignores the leftovers, the lock dies with the process, and
//! the next backup succeeds and removes the stale work; SIGTERM stops cleanly.

use crate::support::cli::Sandbox;
use crate::support::db::load_fixture;
use crate::support::s3::{Object, put};
use crate::support::servers;

/// A sandbox and the environment of a full-site backup of a fixture database and a bucket.
fn full_site() -> (Sandbox, Vec<(String, String)>) {
    let db = load_fixture(servers().pg, "faults");
    let bucket = servers().s3.create_bucket("faults");
    put(
        &bucket,
        &(0..30)
            .map(|i| Object::new(&format!("img/{i}.jpg"), vec![i as u8; 50_000]))
            .collect::<Vec<_>>(),
    );
    let mut env = servers().fullsite_env(&db);
    env.push(("STGY_STORAGE_S3_BUCKETS".into(), bucket));
    (Sandbox::new(), env)
}

#[test]
fn sigkill_at_any_step_leaves_no_generation_and_the_next_backup_recovers() {
    let (sandbox, env) = full_site();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for point in [
        "dump:after-snapshot",
        "mirror:mid-download",
        "backup:before-manifest",
        "backup:before-publish",
    ] {
        let paused = sandbox.spawn_paused_with(
            &["backup", "--name", "g", "--transfers", "1"],
            &pairs,
            point,
        );
        let pid = paused.pid();
        assert_eq!(paused.signal_and_wait("KILL"), None, "{point}");
        assert_eq!(
            sandbox.entries(),
            [format!(".g.partial.{pid}")],
            "{point}: only the stale partial dir"
        );
        let list = sandbox.run_with(&["list"], &pairs);
        assert_eq!(
            (list.code, list.stdout.as_str()),
            (0, ""),
            "{point}: list ignores leftovers"
        );
        let status = sandbox.run_with(&["status", "--max-age", "1"], &pairs);
        assert_eq!(status.code, 1, "{point}: no complete generation");
    }
    let run = sandbox.run_with(&["backup", "--name", "g"], &pairs);
    assert_eq!(
        run.code, 0,
        "the lock was free and the backup completes: {}",
        run.stderr
    );
    assert!(run.stderr.contains("removed stale"), "{}", run.stderr);
    assert_eq!(sandbox.entries(), ["g"]);
    assert_eq!(sandbox.run(&["verify", "g"]).code, 0);
}

#[test]
fn sigterm_during_a_full_backup_stops_cleanly_with_143() {
    let (sandbox, env) = full_site();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        let paused = sandbox.spawn_paused_with(
            &["backup", "--name", "g", "--transfers", "1"],
            &pairs,
            "mirror:mid-download",
        );
        assert_eq!(paused.signal_and_wait(signal), Some(code));
        assert!(
            sandbox.entries().is_empty(),
            "{signal}: {:?}",
            sandbox.entries()
        );
    }
}

/// Backs up the full site, then returns what a restore must bring back.
fn backed_up() -> (Sandbox, Vec<(String, String)>, String, String) {
    let (sandbox, env) = full_site();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = sandbox.run_with(&["backup", "--name", "g"], &pairs);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let db = env
        .iter()
        .find(|(k, _)| k == "STGY_DATABASE_NAME")
        .unwrap()
        .1
        .clone();
    let bucket = env
        .iter()
        .find(|(k, _)| k == "STGY_STORAGE_S3_BUCKETS")
        .unwrap()
        .1
        .clone();
    (sandbox, env, db, bucket)
}

#[test]
fn a_restore_killed_during_the_data_load_completes_when_run_again() {
    let (sandbox, env, db, _) = backed_up();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let pg = &servers().pg;
    let expected = crate::support::db::checksums(pg, &db);
    pg.psql(&db, "DELETE FROM app.tags");
    let paused = sandbox.spawn_paused_with(
        &["restore", "--no-objects", "--jobs", "1", "g"],
        &pairs,
        "restore:mid-copy",
    );
    assert_eq!(paused.signal_and_wait("KILL"), None);
    let run = sandbox.run_with(&["restore", "--no-objects", "g"], &pairs);
    assert_eq!(
        run.code, 0,
        "the lock is free and the restore completes: {}",
        run.stderr
    );
    assert_eq!(crate::support::db::checksums(pg, &db), expected);
}

#[test]
fn a_restore_killed_during_the_uploads_completes_when_run_again_and_never_deleted_first() {
    let (sandbox, env, _, bucket) = backed_up();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let all = crate::support::s3::keys(&bucket);
    crate::support::s3::delete(&bucket, &all.iter().map(String::as_str).collect::<Vec<_>>());
    put(
        &bucket,
        &[Object::new("extra", b"not in the generation".to_vec())],
    );
    let paused = sandbox.spawn_paused_with(
        &["restore", "--no-db", "--transfers", "1", "g"],
        &pairs,
        "restore:mid-upload",
    );
    assert_eq!(paused.signal_and_wait("KILL"), None);
    let keys = crate::support::s3::keys(&bucket);
    assert!(
        keys.contains(&"extra".to_string()),
        "nothing is deleted before every upload succeeded: {keys:?}"
    );
    let run = sandbox.run_with(&["restore", "--no-db", "g"], &pairs);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        crate::support::s3::keys(&bucket),
        all,
        "the bucket holds exactly the generation's objects"
    );
}

#[test]
fn the_s3_server_stopping_mid_mirror_fails_the_backup_naming_it_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut garage = crate::support::garage::GarageServer::start(&dir.path().join("garage"));
    let bucket = garage.create_bucket("stops");
    let objects: Vec<Object> = (0..10)
        .map(|i| Object::new(&format!("o{i}"), vec![i as u8; 10_000]))
        .collect();
    crate::support::s3::put_to(&garage, &bucket, &objects);
    let sandbox = Sandbox::new();
    let mut env = garage.fullsite_env(&bucket);
    env.push(("FULLSITE_TEST_PAUSE_SECS".into(), "2".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let started = std::time::Instant::now();
    let paused = sandbox.spawn_paused_with(
        &["backup", "--no-db", "--name", "g", "--transfers", "1"],
        &pairs,
        "mirror:mid-download",
    );
    garage.stop();
    let (code, log) = paused.wait();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&garage.endpoint()),
        "the error names the server: {log}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(90),
        "bounded retries"
    );
    assert!(
        sandbox.entries().is_empty(),
        "nothing half-made remains: {:?}",
        sandbox.entries()
    );
}

#[test]
fn postgresql_stopping_mid_dump_fails_the_backup_naming_it_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let install = servers().pg.install();
    let mut pg = crate::support::postgres::PgServer::start(&install, &dir.path().join("pg"));
    let db = load_fixture(&pg, "stops");
    let sandbox = Sandbox::new();
    let env = [
        ("STGY_DATABASE_HOST", pg.host().to_string()),
        ("STGY_DATABASE_PORT", pg.port().to_string()),
        ("STGY_DATABASE_USER", pg.user().to_string()),
        ("STGY_DATABASE_PASSWORD", pg.password().to_string()),
        ("STGY_DATABASE_NAME", db),
        ("FULLSITE_TEST_PAUSE_SECS", "2".to_string()),
    ];
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let paused = sandbox.spawn_paused_with(
        &["backup", "--no-objects", "--name", "g"],
        &pairs,
        "dump:after-snapshot",
    );
    pg.stop();
    let (code, log) = paused.wait();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&format!("{}:{}", pg.host(), pg.port())),
        "the error names the server: {log}"
    );
    assert!(
        sandbox.entries().is_empty(),
        "nothing half-made remains: {:?}",
        sandbox.entries()
    );
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_the_backup_cleanly_and_keeps_earlier_generations() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("disk");
    std::fs::create_dir(&mount).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mount)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "this test needs root to mount a 2 MB tmpfs"
    );
    let disk = SmallDisk(mount.clone());
    let bucket = servers().s3.create_bucket("fulldisk");
    put(&bucket, &[Object::new("small", vec![1u8; 1000])]);
    let mut env = servers().fullsite_env("unused");
    env.push(("STGY_STORAGE_S3_BUCKETS".into(), bucket.clone()));
    env.push((
        "STGY_BACKUP_ROOT".into(),
        mount.join("root").display().to_string(),
    ));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let sandbox = Sandbox::new();
    let first = sandbox.run_with(&["backup", "--no-db", "--name", "g1"], &pairs);
    assert_eq!(first.code, 0, "{}", first.stderr);
    put(
        &bucket,
        &(0..8)
            .map(|i| Object::new(&format!("big{i}"), vec![i as u8; 400_000]))
            .collect::<Vec<_>>(),
    );
    let full = sandbox.run_with(&["backup", "--no-db", "--name", "g2"], &pairs);
    assert_eq!(full.code, 1, "{}", full.stderr);
    assert!(
        full.stderr.contains("No space left on device"),
        "{}",
        full.stderr
    );
    let left: Vec<String> = std::fs::read_dir(mount.join("root"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !left.iter().any(|n| n.contains("g2")),
        "no generation or partial dir of g2: {left:?}"
    );
    let verify = sandbox.run_with(&["verify", "g1"], &pairs);
    assert_eq!(
        verify.code, 0,
        "the earlier generation is intact: {}",
        verify.stderr
    );
    drop(disk);
}

#[test]
fn a_restore_during_a_backup_exits_11_naming_the_backup() {
    let (sandbox, env) = full_site();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        sandbox
            .run_with(&["backup", "--no-objects", "--name", "g"], &pairs)
            .code,
        0
    );
    let paused =
        sandbox.spawn_paused_with(&["backup", "--name", "h"], &pairs, "backup:between-parts");
    let run = sandbox.run_with(&["restore", "--no-objects", "g"], &pairs);
    assert_eq!(run.code, 11, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("'fullsite backup' (pid {}", paused.pid())),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unknown_database_is_named_promptly_and_secrets_never_reach_argv() {
    let sandbox = Sandbox::new();
    let mut env = servers().fullsite_env("no_such_database_here");
    env.push(("STGY_STORAGE_S3_BUCKETS".into(), "unused-bucket".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let started = std::time::Instant::now();
    let run = sandbox.run_with(&["backup", "--no-objects", "--name", "g"], &pairs);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no_such_database_here") && run.stderr.contains("does not exist"),
        "{}",
        run.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let password = servers().pg.password();
    assert!(!run.stderr.contains(password));

    // a running backup's command line holds no secret (they come from the environment)
    let db = servers().pg.create_database("argv");
    let env = servers().fullsite_env(&db);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let paused = sandbox.spawn_paused_with(
        &["backup", "--no-objects", "--name", "argv"],
        &pairs,
        "backup:after-lock",
    );
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", paused.pid())).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(
        !cmdline.contains(password) && !cmdline.contains(servers().s3.secret_access_key()),
        "{cmdline}"
    );
}
