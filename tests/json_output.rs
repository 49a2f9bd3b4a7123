//! The `--json` shapes of list, status, verify and prune: exact keys and types, so any change
//! to this contract shows up here first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::cli::Sandbox;

fn json(sandbox: &Sandbox, args: &[&str], code: i32) -> Value {
    let run = sandbox.run(args);
    assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", run.stdout))
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
    let list = json(&sandbox, &["list", "--json"], 0);
    assert_eq!(keys(&list), ["generations", "root"]);
    let generations = list["generations"].as_array().unwrap();
    assert_eq!(generations.len(), 3);
    let first = &generations[0];
    assert_eq!(
        keys(first),
        [
            "added_bytes",
            "bytes",
            "files",
            "name",
            "parts",
            "status",
            "time"
        ]
    );
    assert_eq!(first["name"], "full-site-2020-01-01");
    assert_eq!(first["status"], "legacy");
    assert_eq!(
        first["parts"],
        serde_json::json!({"db": true, "objects": false})
    );
    assert!(first["bytes"].is_u64() && first["time"].is_string());
    let empty = Sandbox::new();
    assert_eq!(
        json(&empty, &["list", "--json"], 0)["generations"],
        serde_json::json!([])
    );
}

#[test]
fn status_json() {
    let sandbox = root_with_generations();
    let status = json(&sandbox, &["status", "--json", "--max-age", "1"], 0);
    assert_eq!(
        keys(&status),
        [
            "fresh",
            "generations",
            "last_drill",
            "max_age_hours",
            "newest",
            "root"
        ]
    );
    assert_eq!(status["last_drill"], Value::Null, "no drill ran");
    assert_eq!(status["fresh"], true);
    assert_eq!(status["generations"], 3);
    assert_eq!(
        keys(&status["newest"]),
        [
            "age_hours",
            "last_verify",
            "name",
            "parts",
            "status",
            "time"
        ]
    );
    assert_eq!(
        status["newest"]["last_verify"],
        Value::Null,
        "never verified"
    );
    assert_eq!(sandbox.run(&["verify", "g2"]).code, 0);
    let status = json(&sandbox, &["status", "--json"], 0);
    let last = &status["newest"]["last_verify"];
    assert_eq!(keys(last), ["at", "files", "percent", "problems"]);
    assert_eq!(
        (last["problems"].as_u64(), last["percent"].as_f64()),
        (Some(0), Some(100.0))
    );
    assert_eq!(status["newest"]["name"], "g2");
    let none = json(&Sandbox::new(), &["status", "--json", "--max-age", "1"], 1);
    assert_eq!(none["newest"], Value::Null);
    assert_eq!(none["fresh"], false);
    let plain = json(&Sandbox::new(), &["status", "--json"], 0);
    assert_eq!(plain["fresh"], Value::Null);
}

#[test]
fn verify_json() {
    let sandbox = root_with_generations();
    std::fs::write(sandbox.root().join("g1/planted"), b"x").unwrap();
    let verify = json(&sandbox, &["verify", "--all", "--json"], 3);
    assert_eq!(keys(&verify), ["generations", "root"]);
    let generations = verify["generations"].as_array().unwrap();
    assert_eq!(generations.len(), 3);
    let g1 = generations.iter().find(|g| g["name"] == "g1").unwrap();
    assert_eq!(keys(g1), ["bytes", "files", "name", "problems"]);
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
    );
    assert_eq!(
        keys(&plan),
        ["dry_run", "keep", "remove", "removed", "untouched"]
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
    );
    assert_eq!(done["dry_run"], false);
    assert_eq!(
        done["removed"],
        serde_json::json!(["full-site-2020-01-01", "g1"])
    );
}
