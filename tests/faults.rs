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
