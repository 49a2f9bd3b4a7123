//! Faults during a full backup (database + objects) against the real servers: SIGKILL at every
//! step leaves no generation, `list` ignores the leftovers, the lock dies with the process, and
//! the next backup succeeds and removes the stale work; SIGTERM stops cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::cli::Sandbox;
use support::db::load_fixture;
use support::s3::{Object, put};
use support::servers;

/// A sandbox and the environment of a full-site backup of a fixture database and a bucket.
fn full_site() -> (Sandbox, Vec<(String, String)>) {
    let db = load_fixture(&servers().pg, "faults");
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

fn entries(sandbox: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sandbox.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lock")
        .collect();
    names.sort();
    names
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
            entries(&sandbox),
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
    assert_eq!(entries(&sandbox), ["g"]);
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
            entries(&sandbox).is_empty(),
            "{signal}: {:?}",
            entries(&sandbox)
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
    let expected = support::db::checksums(pg, &db);
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
    assert_eq!(support::db::checksums(pg, &db), expected);
}

#[test]
fn a_restore_killed_during_the_uploads_completes_when_run_again_and_never_deleted_first() {
    let (sandbox, env, _, bucket) = backed_up();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let all = support::s3::keys(&bucket);
    support::s3::delete(&bucket, &all.iter().map(String::as_str).collect::<Vec<_>>());
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
    let keys = support::s3::keys(&bucket);
    assert!(
        keys.contains(&"extra".to_string()),
        "nothing is deleted before every upload succeeded: {keys:?}"
    );
    let run = sandbox.run_with(&["restore", "--no-db", "g"], &pairs);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        support::s3::keys(&bucket),
        all,
        "the bucket holds exactly the generation's objects"
    );
}
