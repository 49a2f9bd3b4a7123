//! The machine-readable outputs: `--json` of backup, list, status, verify and prune, and the
//! metrics file. Each is pinned by a snapshot under `tests/it/snapshots/` (see
//! [`crate::support::snapshot`]: keys, their order, types and the values that do not vary), so
//! any change to this contract shows up here first; the values that matter are also checked.

use serde_json::Value;

use crate::support::cli::Sandbox;
use crate::support::s3::{Object, put};
use crate::support::servers;
use crate::support::snapshot;

/// Runs `args`, expects exit `code`, checks stdout against snapshot `name` (see [`check`]),
/// and returns it parsed.
fn json(sandbox: &Sandbox, args: &[&str], code: i32, name: &str, volatile: &[&str]) -> Value {
    let run = sandbox.run(args);
    assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
    check(sandbox, name, &run.stdout, volatile);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", run.stdout))
}

/// Checks `stdout` against snapshot `name`, the sandbox's root written `<root>` and the
/// members named in `volatile` masked.
fn check(sandbox: &Sandbox, name: &str, stdout: &str, volatile: &[&str]) {
    let root = sandbox.root().display().to_string();
    snapshot::json(name, &stdout.replace(&root, "<root>"), volatile);
}

fn root_with_generations() -> Sandbox {
    let sandbox = Sandbox::new();
    for name in ["g1", "g2"] {
        assert_eq!(
            sandbox
                .run(&["backup", "--no-db", "--no-objects", "--name", name])
                .code,
            0
        );
    }
    let legacy = sandbox.root().join("full-site-2020-01-01/db");
    std::fs::create_dir_all(&legacy).unwrap();
    std::fs::write(legacy.join("stgy.dump"), b"not an archive").unwrap();
    sandbox
}

#[test]
fn list_json() {
    let sandbox = root_with_generations();
    // sizes too: a manifest holds times, whose fraction of a second varies in length
    let volatile = ["time", "bytes", "added_bytes"];
    let list = json(&sandbox, &["list", "--json"], 0, "list", &volatile);
    let generations = list["generations"].as_array().unwrap();
    assert_eq!(generations.len(), 3);
    let first = &generations[0];
    assert_eq!(first["name"], "full-site-2020-01-01");
    assert_eq!(first["status"], "legacy");
    assert_eq!(
        first["parts"],
        serde_json::json!({"db": true, "objects": false})
    );
    assert!(first["bytes"].is_u64() && first["time"].is_string());
    let empty = Sandbox::new();
    assert_eq!(
        json(&empty, &["list", "--json"], 0, "list_empty", &volatile)["generations"],
        serde_json::json!([])
    );
}

#[test]
fn status_json() {
    let sandbox = root_with_generations();
    let volatile = ["time", "age_hours", "at"];
    let args = ["status", "--json", "--max-age", "1"];
    let status = json(&sandbox, &args, 0, "status_never_verified", &volatile);
    assert_eq!(status["last_drill"], Value::Null, "no drill ran");
    assert_eq!(status["fresh"], true);
    assert_eq!(status["generations"], 3);
    assert_eq!(
        status["newest"]["last_verify"],
        Value::Null,
        "never verified"
    );
    assert_eq!(sandbox.run(&["verify", "g2"]).code, 0);
    let status = json(&sandbox, &["status", "--json"], 0, "status", &volatile);
    let last = &status["newest"]["last_verify"];
    assert_eq!(
        (last["problems"].as_u64(), last["percent"].as_f64()),
        (Some(0), Some(100.0))
    );
    assert_eq!(status["newest"]["name"], "g2");
    let none = json(&Sandbox::new(), &args, 1, "status_none_stale", &volatile);
    assert_eq!(none["newest"], Value::Null);
    assert_eq!(none["fresh"], false);
    let plain = json(
        &Sandbox::new(),
        &["status", "--json"],
        0,
        "status_none",
        &volatile,
    );
    assert_eq!(plain["fresh"], Value::Null);
}

#[test]
fn verify_json() {
    let sandbox = root_with_generations();
    std::fs::write(sandbox.root().join("g1/planted"), b"x").unwrap();
    let args = ["verify", "--all", "--json"];
    let verify = json(&sandbox, &args, 3, "verify", &[]);
    let generations = verify["generations"].as_array().unwrap();
    assert_eq!(generations.len(), 3);
    let g1 = generations.iter().find(|g| g["name"] == "g1").unwrap();
    assert_eq!(
        g1["problems"],
        serde_json::json!([{"kind": "extra", "path": "planted", "detail": null}])
    );
    let legacy = generations
        .iter()
        .find(|g| g["name"] == "full-site-2020-01-01")
        .unwrap();
    assert_eq!(legacy["problems"][0]["kind"], "archive");
}

#[test]
fn prune_json() {
    let sandbox = root_with_generations();
    let plan = json(
        &sandbox,
        &["prune", "--retain-generations", "1", "--dry-run", "--json"],
        0,
        "prune_dry_run",
        &[],
    );
    assert_eq!(plan["dry_run"], true);
    assert_eq!(
        plan["keep"],
        serde_json::json!([{"name": "g2", "reason": "newest complete generation, one of the newest 1"}])
    );
    assert_eq!(plan["remove"].as_array().unwrap().len(), 2);
    assert_eq!(plan["removed"], serde_json::json!([]));
    let done = json(
        &sandbox,
        &["prune", "--retain-generations", "1", "--json"],
        0,
        "prune",
        &[],
    );
    assert_eq!(done["dry_run"], false);
    assert_eq!(
        done["removed"],
        serde_json::json!(["full-site-2020-01-01", "g1"])
    );
}

/// The members of a backup summary that differ from run to run: times, durations and the size
/// of the compressed archive.
const BACKUP_VOLATILE: [&str; 4] = ["finished_at", "finished_unix", "seconds", "stored_bytes"];

/// The metrics that differ from run to run (times, durations, compressed bytes).
const METRICS_VOLATILE: [&str; 6] = [
    "fullsite_backup_last_success_timestamp_seconds",
    "fullsite_backup_last_failure_timestamp_seconds",
    "fullsite_backup_duration_seconds",
    "fullsite_backup_database_seconds",
    "fullsite_backup_objects_seconds",
    "fullsite_backup_database_new_bytes",
];

#[test]
fn backup_json_and_metrics_of_a_full_site() {
    let pg = servers().pg;
    let db = pg.create_database("json");
    pg.psql(
        &db,
        "CREATE TABLE posts (id int PRIMARY KEY, body text); \
         INSERT INTO posts SELECT g, 'post ' || g FROM generate_series(1, 100) g; \
         CREATE TABLE tags (name text);",
    );
    let bucket = servers().s3.create_bucket("json");
    put(
        &bucket,
        &(0..3)
            .map(|i| Object::new(&format!("img/{i}.png"), vec![i as u8; 1000 * (i + 1)]))
            .collect::<Vec<_>>(),
    );
    let mut env = servers().fullsite_env(&db);
    env.push(("STGY_STORAGE_S3_BUCKETS".into(), bucket));
    let sandbox = Sandbox::new();
    let metrics = sandbox.cwd().join("fullsite.prom");
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let args = [
        "backup",
        "--name",
        "g",
        "--json",
        "--metrics-file",
        metrics.to_str().unwrap(),
    ];
    let run = sandbox.run_with(&args, &pairs);
    assert_eq!(run.code, 0, "{}", run.stderr);
    check(&sandbox, "backup", &run.stdout, &BACKUP_VOLATILE);
    let summary: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["database"]["rows"], 100);
    assert_eq!(summary["objects"]["bytes"], 6000);
    let text = std::fs::read_to_string(&metrics).unwrap();
    snapshot::metrics("backup_success", &text, &METRICS_VOLATILE);

    // the same name again fails: the failure's metrics
    let run = sandbox.run_with(&args, &pairs);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let text = std::fs::read_to_string(&metrics).unwrap();
    snapshot::metrics("backup_failure", &text, &METRICS_VOLATILE);
}

#[test]
fn backup_json_without_parts() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["backup", "--no-db", "--no-objects", "--name", "g", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    check(&sandbox, "backup_empty", &run.stdout, &BACKUP_VOLATILE);
}
