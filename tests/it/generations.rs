//! Generations on disk: what `list`, `prune`, `status` and `verify` make of a root holding new,
//! legacy, partial and damaged entries; names; file modes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::cli::Sandbox;

fn empty_backup(sandbox: &Sandbox, name: &str) {
    let run = sandbox.run(&["backup", "--no-db", "--no-objects", "--name", name]);
    assert_eq!(run.code, 0, "backup {name}: {}", run.stderr);
}

fn write(path: &Path, content: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A root as an operator's might look after switching from the legacy script.
fn mixed_root(sandbox: &Sandbox) {
    let root = sandbox.root();
    write(
        &root.join("full-site-2026-01-01/db/stgy.dump"),
        b"PGDMP legacy",
    );
    write(
        &root.join("full-site-2026-01-02/objects/stgy-images/a.png"),
        b"png",
    );
    write(
        &root.join("full-site-2026-01-03/.stgy-full-site-backup"),
        b"",
    );
    write(&root.join("full-site-2026-01-03/db/stgy.dump"), b"PGDMP");
    write(
        &root.join("full-site-2026-01-03/objects/stgy-images/a.png"),
        b"png",
    );
    write(&root.join("notes/readme.txt"), b"not a generation");
    write(
        &root.join(".full-site-2026-01-04.partial.999999/db/x"),
        b"half",
    );
    write(&root.join("broken/manifest.jsonl"), b"{not json\n");
    empty_backup(sandbox, "new-1");
    empty_backup(sandbox, "new-2");
}

fn listed_names(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect()
}

#[test]
fn list_shows_complete_new_and_legacy_generations_oldest_first() {
    let sandbox = Sandbox::new();
    mixed_root(&sandbox);
    let run = sandbox.run(&["list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        listed_names(&run.stdout),
        [
            "full-site-2026-01-01",
            "full-site-2026-01-02",
            "full-site-2026-01-03",
            "new-1",
            "new-2"
        ]
    );
    let rows: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][1..5], ["2026-01-01", "00:00", "legacy", "db"]);
    assert_eq!(rows[1][4], "objects");
    assert_eq!(rows[2][4], "db+objects");
    assert_eq!(rows[4][3..5], ["complete", "-"]);
    assert!(!run.stdout.contains("partial") && !run.stdout.contains("notes"));
    assert!(
        run.stderr.contains("not listing 'broken'"),
        "damaged generations are named on stderr: {}",
        run.stderr
    );
}

#[test]
fn prune_keeps_the_newest_n_and_removes_stale_partials_but_not_damaged_ones() {
    let sandbox = Sandbox::new();
    mixed_root(&sandbox);
    let dry = sandbox.run(&["prune", "--retain-generations", "2", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let plan: Vec<(&str, &str)> = dry
        .stdout
        .lines()
        .map(|l| {
            let mut words = l.split_whitespace();
            (words.next().unwrap(), words.next().unwrap())
        })
        .collect();
    assert_eq!(
        plan,
        [
            ("remove", "full-site-2026-01-01"),
            ("remove", "full-site-2026-01-02"),
            ("remove", "full-site-2026-01-03"),
            ("keep", "new-1"),
            ("keep", "new-2"),
            ("leave", "broken"),
        ]
    );
    assert!(
        sandbox.root().join("full-site-2026-01-01").exists(),
        "dry run changes nothing"
    );

    let run = sandbox.run(&["prune", "--retain-generations=2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut left: Vec<String> = std::fs::read_dir(sandbox.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, [".lock", "broken", "new-1", "new-2", "notes"]);
}

#[test]
fn prune_never_removes_the_newest_complete_generation() {
    let sandbox = Sandbox::new();
    empty_backup(&sandbox, "only");
    let run = sandbox.run(&["prune", "--retain-generations", "0"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("kept anyway"), "{}", run.stderr);
    assert!(sandbox.root().join("only").is_dir());
}

#[test]
fn prune_rejects_counts_that_are_not_whole_numbers() {
    let sandbox = Sandbox::new();
    for bad in ["-1", "seven", "2.5"] {
        let run = sandbox.run(&["prune", "--retain-generations", bad]);
        assert_eq!(run.code, 2, "{bad}");
        assert!(
            run.stderr.contains("--retain-generations"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(bad), "{}", run.stderr);
    }
}

#[test]
fn hostile_generation_names_are_usage_errors_and_touch_nothing() {
    let sandbox = Sandbox::new();
    for bad in ["../escape", "a/b", ".hidden", "..", ""] {
        let run = sandbox.run(&["backup", "--no-db", "--no-objects", "--name", bad]);
        assert_eq!(run.code, 2, "{bad:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("invalid generation name"),
            "{}",
            run.stderr
        );
        for command in ["restore", "verify"] {
            assert_eq!(sandbox.run(&[command, bad]).code, 2, "{command} {bad:?}");
        }
    }
    assert!(!sandbox.root().exists(), "nothing was created");
    assert!(!sandbox.cwd().join("escape").exists());
}

#[test]
fn an_existing_name_is_refused() {
    let sandbox = Sandbox::new();
    empty_backup(&sandbox, "g");
    let run = sandbox.run(&["backup", "--no-db", "--no-objects", "--name", "g"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("generation 'g' already exists"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_default_name_is_full_site_and_the_local_date() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["backup", "--no-db", "--no-objects"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let today = chrono::Local::now()
        .format("full-site-%Y-%m-%d")
        .to_string();
    assert!(sandbox.root().join(&today).is_dir(), "{today}");
    let status = sandbox.run(&["status", "--max-age", "1"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status.stdout.contains(&format!("newest: {today}")),
        "{}",
        status.stdout
    );
}

#[test]
fn generations_are_private_and_carry_marker_and_manifest() {
    let sandbox = Sandbox::new();
    empty_backup(&sandbox, "g");
    let generation = sandbox.root().join("g");
    assert!(generation.join(".stgy-full-site-backup").is_file());
    assert!(generation.join("manifest.jsonl").is_file());
    for entry in walkdir::WalkDir::new(sandbox.root()) {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        let expected = if entry.file_type().is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(mode, expected, "{}", entry.path().display());
    }
}

#[test]
fn status_fails_when_backups_stopped() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["status", "--max-age", "26"]);
    assert_eq!(run.code, 1, "no generation at all");
    assert!(
        run.stderr.contains("no complete generation"),
        "{}",
        run.stderr
    );
    assert_eq!(
        sandbox.run(&["status"]).code,
        0,
        "without --max-age it only reports"
    );
    write(
        &sandbox.root().join("full-site-2020-01-01/db/stgy.dump"),
        b"x",
    );
    let run = sandbox.run(&["status", "--max-age", "26"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("older than --max-age 26h"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("newest: full-site-2020-01-01"),
        "{}",
        run.stdout
    );
}

#[test]
fn verify_passes_a_fresh_generation_and_exits_3_on_each_kind_of_damage() {
    let sandbox = Sandbox::new();
    empty_backup(&sandbox, "g");
    let generation = sandbox.root().join("g");
    let run = sandbox.run(&["verify", "g"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let marker = generation.join(".stgy-full-site-backup");
    std::fs::write(&marker, b"x").unwrap();
    let run = sandbox.run(&["verify", "g"]);
    assert_eq!(run.code, 3);
    assert!(
        run.stdout.starts_with("changed     .stgy-full-site-backup"),
        "{}",
        run.stdout
    );
    std::fs::write(&marker, b"").unwrap();

    std::fs::write(generation.join("planted"), b"x").unwrap();
    let run = sandbox.run(&["verify", "g"]);
    assert_eq!(run.code, 3);
    assert!(run.stdout.contains("extra       planted"), "{}", run.stdout);
    std::fs::remove_file(generation.join("planted")).unwrap();

    std::fs::remove_file(&marker).unwrap();
    let run = sandbox.run(&["verify", "g"]);
    assert_eq!(run.code, 3);
    assert!(
        run.stdout.contains("missing     .stgy-full-site-backup"),
        "{}",
        run.stdout
    );
    std::fs::write(&marker, b"").unwrap();

    let manifest = generation.join("manifest.jsonl");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, &text[..text.len() - 10]).unwrap();
    let run = sandbox.run(&["verify", "g"]);
    assert_eq!(run.code, 3);
    assert!(run.stdout.contains("truncated"), "{}", run.stdout);
    assert_eq!(sandbox.run(&["verify", "nope"]).code, 2);
}

#[test]
fn restoring_a_generation_without_the_selected_parts_changes_nothing() {
    let sandbox = Sandbox::new();
    empty_backup(&sandbox, "g");
    let run = sandbox.run(&["restore", "g"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("holds none of the parts selected"),
        "{}",
        run.stderr
    );
    let names: Vec<_> = std::fs::read_dir(sandbox.root())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "only the lock file and 'g': {names:?}");
}

#[test]
fn unreachable_servers_fail_the_backup_naming_them_and_leave_nothing() {
    let sandbox = Sandbox::new();
    let unreachable = [
        ("STGY_DATABASE_HOST", "127.0.0.1"),
        ("STGY_DATABASE_PORT", "9"),
        ("STGY_STORAGE_S3_ENDPOINT", "http://127.0.0.1:9"),
    ];
    let run = sandbox.run_with(&["backup", "--no-objects"], &unreachable);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("127.0.0.1:9/stgy"), "{}", run.stderr);
    let run = sandbox.run_with(&["backup", "--no-db"], &unreachable);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("http://127.0.0.1:9"), "{}", run.stderr);
    let names: Vec<_> = std::fs::read_dir(sandbox.root())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "only the lock file: {names:?}");
}

#[test]
fn restore_names_what_is_missing() {
    let sandbox = Sandbox::new();
    empty_backup(&sandbox, "g");
    let run = sandbox.run(&["restore", "--no-objects", "missing"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("no complete generation named 'missing'"),
        "{}",
        run.stderr
    );
    let run = sandbox.run(&["restore", "--no-objects", "g"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("holds no database; skipping"),
        "{}",
        run.stderr
    );
    let run = sandbox.run(&["restore", "--no-objects", "--no-db", "g"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("nothing to restore"), "{}", run.stderr);
}

#[test]
fn backup_prints_a_summary_json_and_keeps_metrics_after_success_and_failure() {
    let sandbox = Sandbox::new();
    let metrics = sandbox.cwd().join("fullsite.prom");
    let metrics_arg = metrics.to_str().unwrap();
    let args = [
        "backup",
        "--no-db",
        "--no-objects",
        "--name",
        "g",
        "--json",
        "--metrics-file",
        metrics_arg,
    ];
    let run = sandbox.run(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("backup summary: g\n"), "{}", run.stderr);
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["generation"], "g");
    assert!(summary["database"].is_null() && summary["objects"].is_null());
    assert!(summary["finished_unix"].is_i64() && summary["seconds"].is_f64());
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(text.contains("fullsite_backup_success 1\n"), "{text}");
    let stamp = format!(
        "fullsite_backup_last_success_timestamp_seconds {}\n",
        summary["finished_unix"]
    );
    assert!(text.contains(&stamp), "{text}");
    assert_eq!(
        std::fs::metadata(&metrics).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // the same name again fails; the metrics say so and keep the last success time
    let run = sandbox.run(&args);
    assert_eq!(run.code, 2);
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(text.contains("fullsite_backup_success 0\n"), "{text}");
    assert!(text.contains(&stamp), "{text}");
    assert!(
        text.contains("fullsite_backup_last_failure_timestamp_seconds "),
        "{text}"
    );
}
