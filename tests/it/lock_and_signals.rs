//! The root lock between real processes, and what SIGKILL, SIGTERM and SIGINT leave behind.

use std::time::{Duration, Instant};

use crate::support::cli::Sandbox;

const EMPTY_BACKUP: [&str; 3] = ["backup", "--no-db", "--no-objects"];

fn backup_args<'a>(name: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = EMPTY_BACKUP.to_vec();
    args.extend(["--name", name]);
    args.extend(extra);
    args
}

#[test]
fn second_run_exits_11_naming_the_holder_and_the_lock_dies_with_sigkill() {
    let sandbox = Sandbox::new();
    let holder = sandbox.spawn_paused(&backup_args("first", &[]), "backup:before-publish");
    let pid = holder.pid();

    for args in [vec!["prune"], backup_args("second", &[])] {
        let run = sandbox.run(&args);
        assert_eq!(run.code, 11, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("'fullsite backup' (pid {pid} on ")),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("--wait-lock"), "{}", run.stderr);
    }
    let started = Instant::now();
    let run = sandbox.run(&["prune", "--wait-lock", "1"]);
    assert_eq!(run.code, 11);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(
        run.stderr.contains("gave up after waiting 1s"),
        "{}",
        run.stderr
    );

    assert_eq!(holder.signal_and_wait("KILL"), None);
    assert_eq!(sandbox.entries(), [format!(".first.partial.{pid}")]);
    let list = sandbox.run(&["list"]);
    assert_eq!(
        (list.code, list.stdout.as_str()),
        (0, ""),
        "{}",
        list.stderr
    );

    // The lock died with the process; the next backup removes the stale partial directory.
    let run = sandbox.run(&backup_args("first", &[]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("removed stale"), "{}", run.stderr);
    assert_eq!(sandbox.entries(), ["first"]);
}

#[test]
fn wait_lock_waits_for_the_holder_and_then_proceeds() {
    let sandbox = Sandbox::new();
    let holder = sandbox.spawn_paused(&backup_args("first", &[]), "backup:before-publish");
    let waiter = sandbox
        .command(&backup_args("second", &["--wait-lock", "60"]), &[])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(holder.signal_and_wait("TERM"), Some(143));
    let output = waiter.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(sandbox.entries(), ["second"]);
}

#[test]
fn sigterm_and_sigint_remove_the_partial_generation_and_exit_128_plus_signal() {
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        for point in [
            "backup:after-lock",
            "backup:before-manifest",
            "backup:before-publish",
        ] {
            let sandbox = Sandbox::new();
            let paused = sandbox.spawn_paused(&backup_args("g", &[]), point);
            assert_eq!(
                paused.signal_and_wait(signal),
                Some(code),
                "{signal} at {point}"
            );
            assert!(
                sandbox.entries().is_empty(),
                "{signal} at {point}: {:?}",
                sandbox.entries()
            );
            let run = sandbox.run(&backup_args("g", &[]));
            assert_eq!(run.code, 0, "lock released after {signal}: {}", run.stderr);
        }
    }
}

#[test]
fn a_stale_partial_from_a_killed_backup_is_removed_by_prune() {
    let sandbox = Sandbox::new();
    let paused = sandbox.spawn_paused(&backup_args("g", &[]), "backup:before-manifest");
    let pid = paused.pid();
    assert_eq!(paused.signal_and_wait("KILL"), None);
    assert_eq!(sandbox.entries(), [format!(".g.partial.{pid}")]);
    let run = sandbox.run(&["prune"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(sandbox.entries().is_empty());
}

#[test]
fn prune_holds_the_lock_against_backup() {
    let sandbox = Sandbox::new();
    assert_eq!(sandbox.run(&backup_args("g", &[])).code, 0);
    let prune = sandbox.spawn_paused(&["prune"], "prune:after-lock");
    let run = sandbox.run(&backup_args("h", &[]));
    assert_eq!(run.code, 11);
    assert!(run.stderr.contains("'fullsite prune'"), "{}", run.stderr);
    drop(prune);
}
