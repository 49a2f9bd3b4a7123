//! `fullsite offsite` against a real Garage (the site's bucket and a second bucket as the
//! offsite target) and PostgreSQL: pushes cost about one copy and repeat for free, nothing is
//! stored in clear, verify finds altered, truncated and deleted objects (exit 3), a push killed
//! midway resumes without extra bytes, a wrong passphrase writes nothing (exit 2), and a root
//! lost entirely comes back by pull → verify → restore with the source's rows and objects.

use std::time::{Duration, Instant};

use crate::support::cli::{Run, Sandbox, du_kib};
use crate::support::db::{checksums, load_fixture};
use crate::support::s3::{Object, delete, get, keys, put};
use crate::support::servers;

const PASSPHRASE: &str = "correct horse battery staple";

/// The site's settings (database `db`, bucket `bucket`) and the offsite target's.
fn env(db: &str, bucket: &str, target: &str, passphrase: &str) -> Vec<(String, String)> {
    let s3 = &servers().s3;
    let mut env = servers().fullsite_env(db);
    env.extend(
        [
            ("STGY_STORAGE_S3_BUCKETS", bucket.to_string()),
            ("FULLSITE_OFFSITE_URL", format!("s3://{target}/site")),
            ("FULLSITE_OFFSITE_S3_ENDPOINT", s3.endpoint()),
            ("FULLSITE_OFFSITE_S3_REGION", s3.region().to_string()),
            (
                "FULLSITE_OFFSITE_S3_ACCESS_KEY_ID",
                s3.access_key_id().to_string(),
            ),
            (
                "FULLSITE_OFFSITE_S3_SECRET_ACCESS_KEY",
                s3.secret_access_key().to_string(),
            ),
            ("FULLSITE_OFFSITE_PASSPHRASE", passphrase.to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    env
}

fn run(sandbox: &Sandbox, env: &[(String, String)], args: &[&str]) -> Run {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    sandbox.run_with(args, &pairs)
}

fn ok(run: Run, what: &str) -> Run {
    assert_eq!(
        run.code, 0,
        "{what} failed:\n{}\n{}",
        run.stdout, run.stderr
    );
    run
}

/// Objects whose bytes are recognisable (and must never be found in the target).
fn site_objects(count: usize, size: usize, generation: usize) -> Vec<Object> {
    (0..count)
        .map(|i| {
            let mut body = format!("PLAINTEXT-OBJECT-{i}-").into_bytes();
            let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            while body.len() < size {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                body.push(x as u8);
            }
            // 1% of the objects change between generations
            if i % 100 == 0 {
                body.extend_from_slice(format!("changed in generation {generation}").as_bytes());
            }
            Object::new(&format!("img/{i:04}.bin"), body)
        })
        .collect()
}

/// Total bytes stored under `prefix` of `bucket`.
fn stored(bucket: &str, prefix: &str) -> u64 {
    keys(bucket)
        .iter()
        .filter(|k| k.starts_with(prefix))
        .map(|k| get(bucket, k).body.len() as u64)
        .sum()
}

fn backup(sandbox: &Sandbox, env: &[(String, String)], name: &str) {
    ok(
        run(sandbox, env, &["backup", "--name", name, "--jobs", "2"]),
        "backup",
    );
}

/// A site with three generations, 1% of rows and objects changed between them.
fn three_generations(sandbox: &Sandbox, env: &[(String, String)], db: &str, bucket: &str) {
    for generation in 1..=3 {
        let objects = site_objects(200, 30_000, generation);
        let changed: Vec<Object> = objects
            .into_iter()
            .enumerate()
            .filter(|(i, _)| generation == 1 || i % 100 == 0)
            .map(|(_, o)| o)
            .collect();
        put(bucket, &changed);
        if generation > 1 {
            servers().pg.psql(
                db,
                &format!("UPDATE app.posts SET score = score + {generation} WHERE id % 100 = 0"),
            );
        }
        backup(sandbox, env, &format!("full-site-2026-01-0{generation}"));
    }
}

#[test]
fn three_generations_cost_one_copy_stay_secret_and_come_back_after_the_root_is_lost() {
    let db = load_fixture(servers().pg, "offsite");
    let bucket = servers().s3.create_bucket("site");
    let target = servers().s3.create_bucket("offsite");
    let env = env(&db, &bucket, &target, PASSPHRASE);
    let sandbox = Sandbox::new();
    three_generations(&sandbox, &env, &db, &bucket);

    let started = Instant::now();
    let pushed = ok(
        run(&sandbox, &env, &["offsite", "push", "--all", "--json"]),
        "push",
    );
    let push_seconds = started.elapsed().as_secs_f64();
    let report: serde_json::Value = serde_json::from_str(&pushed.stdout).unwrap();
    let generations = report["generations"].as_array().unwrap();
    assert_eq!(generations.len(), 3, "{report}");
    let local_bytes = du_kib(&sandbox.root()) * 1024;
    let target_bytes = stored(&target, "");
    eprintln!(
        "offsite: local du {local_bytes} B, target {target_bytes} B, push {push_seconds:.1}s"
    );
    assert!(
        target_bytes <= local_bytes + local_bytes / 20,
        "three generations with 1% changes cost about one copy: target {target_bytes} B, local du {local_bytes} B"
    );
    let total_plain: u64 = generations
        .iter()
        .map(|g| g["bytes"].as_u64().unwrap())
        .sum();
    assert!(
        target_bytes * 2 < total_plain,
        "deduplicated: {target_bytes} of {total_plain}"
    );

    // a second push uploads nothing
    let again = ok(
        run(&sandbox, &env, &["offsite", "push", "--all", "--json"]),
        "second push",
    );
    let again: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert!(
        again["generations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["status"] == "present" && g["uploaded"] == 0),
        "{again}"
    );
    assert_eq!(stored(&target, ""), target_bytes);

    // nothing in the target is plaintext, and names reveal no content hash
    let toc = std::fs::read(
        sandbox
            .root()
            .join("full-site-2026-01-01/db")
            .join(format!("{db}.dump"))
            .join("toc.dat"),
    )
    .unwrap();
    let object_hash = blake3::hash(&site_objects(200, 30_000, 1)[1].body)
        .to_hex()
        .to_string();
    for key in keys(&target) {
        assert!(
            !key.contains(&object_hash) && !key.contains("full-site-2026-01-01/"),
            "{key}"
        );
        if key == "site/config" {
            continue;
        }
        let body = get(&target, &key).body;
        for needle in [
            &b"PLAINTEXT-OBJECT-"[..],
            b"CREATE TABLE",
            &toc[..toc.len().min(64)],
            b"img/0001.bin",
            b"manifest.jsonl",
        ] {
            assert!(
                !body.windows(needle.len()).any(|w| w == needle),
                "'{key}' holds plaintext {:?}",
                String::from_utf8_lossy(needle)
            );
        }
    }

    let listed = ok(run(&sandbox, &env, &["offsite", "list", "--json"]), "list");
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(
        listed["generations"].as_array().unwrap().len(),
        3,
        "{listed}"
    );
    ok(
        run(&sandbox, &env, &["offsite", "verify", "--all"]),
        "verify",
    );

    // the whole root is lost: pull → verify → restore
    std::fs::remove_dir_all(sandbox.root()).unwrap();
    let started = Instant::now();
    for generation in [
        "full-site-2026-01-01",
        "full-site-2026-01-02",
        "full-site-2026-01-03",
    ] {
        ok(
            run(&sandbox, &env, &["offsite", "pull", generation]),
            "pull",
        );
    }
    let pull_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "offsite: pull of three generations {pull_seconds:.1}s, local du after pull {} B",
        du_kib(&sandbox.root()) * 1024
    );
    assert!(
        du_kib(&sandbox.root()) * 1024 <= local_bytes + local_bytes / 20,
        "pulled generations share content again"
    );
    for generation in [
        "full-site-2026-01-01",
        "full-site-2026-01-02",
        "full-site-2026-01-03",
    ] {
        ok(
            run(&sandbox, &env, &["verify", generation]),
            "verify after pull",
        );
    }
    let drill = servers().pg.create_database("offsite_drill");
    ok(
        run(
            &sandbox,
            &env,
            &[
                "restore",
                "--no-objects",
                "--into-db",
                &drill,
                "full-site-2026-01-03",
            ],
        ),
        "restore db",
    );
    assert_eq!(
        checksums(servers().pg, &drill),
        checksums(servers().pg, &db)
    );
    let objects = site_objects(200, 30_000, 3);
    let all: Vec<String> = keys(&bucket);
    delete(&bucket, &all.iter().map(String::as_str).collect::<Vec<_>>());
    ok(
        run(
            &sandbox,
            &env,
            &["restore", "--no-db", "full-site-2026-01-03"],
        ),
        "restore objects",
    );
    for object in objects.iter().step_by(17) {
        assert_eq!(
            get(&bucket, &object.key).body,
            object.body,
            "{}",
            object.key
        );
    }
    assert_eq!(keys(&bucket).len(), 200);
}

#[test]
fn verify_exits_3_naming_generation_and_file_after_objects_are_altered_truncated_or_deleted() {
    let bucket = servers().s3.create_bucket("site");
    let target = servers().s3.create_bucket("offsite");
    let env = env("unused", &bucket, &target, PASSPHRASE);
    let sandbox = Sandbox::new();
    put(&bucket, &site_objects(3, 5_000, 1));
    ok(
        run(
            &sandbox,
            &env,
            &["backup", "--no-db", "--name", "full-site-2026-02-01"],
        ),
        "backup",
    );
    ok(
        run(&sandbox, &env, &["offsite", "push", "full-site-2026-02-01"]),
        "push",
    );
    ok(
        run(
            &sandbox,
            &env,
            &["offsite", "verify", "full-site-2026-02-01"],
        ),
        "verify",
    );

    let data: Vec<String> = keys(&target)
        .into_iter()
        .filter(|k| k.starts_with("site/data/"))
        .collect();
    // The 5000-byte objects are the three largest contents.
    let mut by_size: Vec<(usize, String)> = data
        .iter()
        .map(|k| (get(&target, k).body.len(), k.clone()))
        .collect();
    by_size.sort();
    let victims: Vec<String> = by_size
        .iter()
        .rev()
        .take(3)
        .map(|(_, k)| k.clone())
        .collect();
    let mut altered = get(&target, &victims[0]);
    altered.body[100] ^= 1;
    put(&target, &[Object::new(&victims[0], altered.body)]);
    let mut cut = get(&target, &victims[1]);
    cut.body.truncate(cut.body.len() - 10);
    put(&target, &[Object::new(&victims[1], cut.body)]);
    delete(&target, &[&victims[2]]);

    let failed = run(&sandbox, &env, &["offsite", "verify", "--all", "--json"]);
    assert_eq!(failed.code, 3, "{}\n{}", failed.stdout, failed.stderr);
    let report: serde_json::Value = serde_json::from_str(&failed.stdout).unwrap();
    let problems = report["generations"][0]["problems"].as_array().unwrap();
    assert_eq!(report["generations"][0]["name"], "full-site-2026-02-01");
    let kinds: Vec<(&str, &str)> = problems
        .iter()
        .map(|p| (p["kind"].as_str().unwrap(), p["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds.iter().filter(|(k, _)| *k == "damaged").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|(k, _)| *k == "missing").count(),
        1,
        "{kinds:?}"
    );
    assert!(
        kinds.iter().all(|(_, p)| p.starts_with("objects/")),
        "{kinds:?}"
    );
    let text = run(
        &sandbox,
        &env,
        &["offsite", "verify", "full-site-2026-02-01"],
    );
    assert_eq!(text.code, 3);
    assert!(
        text.stdout
            .contains("full-site-2026-02-01  missing  objects/"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_wrong_passphrase_is_refused_before_anything_is_written() {
    let bucket = servers().s3.create_bucket("site");
    let target = servers().s3.create_bucket("offsite");
    let sandbox = Sandbox::new();
    let right = env("unused", &bucket, &target, PASSPHRASE);
    put(&bucket, &site_objects(2, 1_000, 1));
    ok(
        run(
            &sandbox,
            &right,
            &["backup", "--no-db", "--name", "full-site-2026-03-01"],
        ),
        "backup",
    );
    ok(
        run(
            &sandbox,
            &right,
            &["backup", "--no-db", "--name", "full-site-2026-03-02"],
        ),
        "backup",
    );
    ok(
        run(
            &sandbox,
            &right,
            &["offsite", "push", "full-site-2026-03-01"],
        ),
        "push",
    );
    let metrics = sandbox.cwd().join("fullsite-offsite.prom");
    let metrics_arg = metrics.to_str().unwrap();
    ok(
        run(
            &sandbox,
            &right,
            &[
                "offsite",
                "push",
                "full-site-2026-03-01",
                "--metrics-file",
                metrics_arg,
            ],
        ),
        "push",
    );
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(text.contains("fullsite_offsite_push_success 1\n"), "{text}");
    assert!(
        text.contains("fullsite_offsite_push_uploaded_contents 0\n"),
        "{text}"
    );
    let status = ok(run(&sandbox, &right, &["status", "--json"]), "status");
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(
        status["offsite"]["newest"]["name"], "full-site-2026-03-01",
        "{status}"
    );
    let before = crate::support::s3::etags_in(&servers().s3, &target);
    let wrong = env("unused", &bucket, &target, "not the passphrase");
    let failed = run(
        &sandbox,
        &wrong,
        &["offsite", "push", "--all", "--metrics-file", metrics_arg],
    );
    assert_eq!(failed.code, 2);
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(text.contains("fullsite_offsite_push_success 0\n"), "{text}");
    assert!(
        !text.contains("fullsite_offsite_push_last_success_timestamp_seconds 0\n"),
        "{text}"
    );
    for args in [
        &["offsite", "push", "--all"][..],
        &["offsite", "list"],
        &["offsite", "prune", "--retain-generations", "0"],
    ] {
        let refused = run(&sandbox, &wrong, args);
        assert_eq!(refused.code, 2, "{args:?}: {}", refused.stderr);
        assert!(
            refused.stderr.contains("passphrase does not open"),
            "{}",
            refused.stderr
        );
        assert!(
            !refused.stderr.contains("not the passphrase"),
            "the passphrase is never shown"
        );
    }
    assert_eq!(
        crate::support::s3::etags_in(&servers().s3, &target),
        before,
        "nothing was written"
    );
    let mut none = right.clone();
    none.retain(|(k, _)| k != "FULLSITE_OFFSITE_PASSPHRASE");
    assert_eq!(run(&sandbox, &none, &["offsite", "list"]).code, 2);
    // a new repository without a passphrase needs --no-encryption
    let other = servers().s3.create_bucket("offsite");
    none.retain(|(k, _)| k != "FULLSITE_OFFSITE_URL");
    none.push(("FULLSITE_OFFSITE_URL".into(), format!("s3://{other}")));
    assert_eq!(run(&sandbox, &none, &["offsite", "push", "--all"]).code, 2);
    assert!(keys(&other).is_empty());
    ok(
        run(
            &sandbox,
            &none,
            &["offsite", "push", "--all", "--no-encryption"],
        ),
        "unencrypted push",
    );
    ok(
        run(&sandbox, &none, &["offsite", "verify", "--all"]),
        "unencrypted verify",
    );
}

#[test]
fn a_push_killed_midway_resumes_with_no_extra_stored_bytes_and_prune_keeps_what_is_needed() {
    let bucket = servers().s3.create_bucket("site");
    let target = servers().s3.create_bucket("offsite");
    let env = env("unused", &bucket, &target, PASSPHRASE);
    let sandbox = Sandbox::new();
    for generation in 1..=2 {
        let objects = site_objects(600, 8_000, generation);
        let changed: Vec<Object> = objects
            .into_iter()
            .enumerate()
            .filter(|(i, _)| generation == 1 || i % 100 == 0)
            .map(|(_, o)| o)
            .collect();
        put(&bucket, &changed);
        ok(
            run(
                &sandbox,
                &env,
                &[
                    "backup",
                    "--no-db",
                    "--name",
                    &format!("full-site-2026-04-0{generation}"),
                ],
            ),
            "backup",
        );
    }
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut child = sandbox
        .command(&["offsite", "push", "--all", "--transfers", "1"], &pairs)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while keys(&target)
        .iter()
        .filter(|k| k.starts_with("site/data/"))
        .count()
        < 100
    {
        assert!(Instant::now() < deadline, "the push uploads nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !keys(&target)
            .iter()
            .any(|k| k.starts_with("site/generations/full-site-2026-04-02")),
        "killed before the end"
    );
    ok(
        run(&sandbox, &env, &["offsite", "push", "--all"]),
        "resumed push",
    );
    ok(
        run(&sandbox, &env, &["offsite", "verify", "--all"]),
        "verify",
    );

    // the same generations pushed cleanly to another prefix store exactly as many bytes
    let mut clean = env.clone();
    clean.retain(|(k, _)| k != "FULLSITE_OFFSITE_URL");
    clean.push((
        "FULLSITE_OFFSITE_URL".into(),
        format!("s3://{target}/clean"),
    ));
    ok(
        run(&sandbox, &clean, &["offsite", "push", "--all"]),
        "clean push",
    );
    assert_eq!(
        stored(&target, "site/data/"),
        stored(&target, "clean/data/")
    );
    assert_eq!(
        keys(&target)
            .iter()
            .filter(|k| k.starts_with("site/data/"))
            .count(),
        keys(&target)
            .iter()
            .filter(|k| k.starts_with("clean/data/"))
            .count()
    );

    // the killed run's lock record holds prune off until it expires
    let locked = run(
        &sandbox,
        &env,
        &["offsite", "prune", "--retain-generations", "1"],
    );
    assert_eq!(locked.code, 11, "{}", locked.stderr);
    let pruned = ok(
        run(
            &sandbox,
            &clean,
            &["offsite", "prune", "--retain-generations", "1", "--json"],
        ),
        "prune",
    );
    let pruned: serde_json::Value = serde_json::from_str(&pruned.stdout).unwrap();
    assert_eq!(
        pruned["remove"][0]["name"], "full-site-2026-04-01",
        "{pruned}"
    );
    assert!(
        pruned["deleted_contents"].as_u64().unwrap() >= 6,
        "changed objects and the old manifest: {pruned}"
    );
    ok(
        run(&sandbox, &clean, &["offsite", "verify", "--all"]),
        "verify after prune",
    );
    std::fs::remove_dir_all(sandbox.root().join("full-site-2026-04-02")).unwrap();
    ok(
        run(
            &sandbox,
            &clean,
            &["offsite", "pull", "full-site-2026-04-02"],
        ),
        "pull after prune",
    );
    ok(
        run(&sandbox, &clean, &["verify", "full-site-2026-04-02"]),
        "verify the pulled generation",
    );
}

#[test]
fn moto_as_the_target_round_trips_a_generation_with_a_multipart_file() {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let moto = crate::support::moto::MotoServer::start();
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(moto.endpoint())
            .force_path_style(true)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build(),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        client
            .create_bucket()
            .bucket("offsite")
            .send()
            .await
            .unwrap()
    });

    let bucket = servers().s3.create_bucket("site");
    let mut large = site_objects(1, 9 << 20, 1);
    large[0].key = "video/large.bin".into();
    put(&bucket, &large);
    put(&bucket, &site_objects(5, 2_000, 1));
    let mut env = env("unused", &bucket, "offsite", PASSPHRASE);
    env.retain(|(k, _)| !k.starts_with("FULLSITE_OFFSITE_S3"));
    env.extend(
        [
            ("FULLSITE_OFFSITE_S3_ENDPOINT", moto.endpoint()),
            ("FULLSITE_OFFSITE_S3_ACCESS_KEY_ID", "testing".to_string()),
            (
                "FULLSITE_OFFSITE_S3_SECRET_ACCESS_KEY",
                "testing".to_string(),
            ),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    let sandbox = Sandbox::new();
    ok(
        run(
            &sandbox,
            &env,
            &["backup", "--no-db", "--name", "full-site-2026-05-01"],
        ),
        "backup",
    );
    ok(
        run(&sandbox, &env, &["offsite", "push", "--all"]),
        "push to moto",
    );
    let again = ok(
        run(&sandbox, &env, &["offsite", "push", "--all", "--json"]),
        "second push",
    );
    assert!(
        again.stdout.contains("\"status\":\"present\""),
        "{}",
        again.stdout
    );
    ok(
        run(&sandbox, &env, &["offsite", "verify", "--all"]),
        "verify on moto",
    );
    std::fs::remove_dir_all(sandbox.root()).unwrap();
    ok(
        run(&sandbox, &env, &["offsite", "pull", "full-site-2026-05-01"]),
        "pull from moto",
    );
    ok(
        run(&sandbox, &env, &["verify", "full-site-2026-05-01"]),
        "verify the pulled generation",
    );
    let pulled = sandbox
        .root()
        .join("full-site-2026-05-01/objects")
        .join(&bucket)
        .join("video/large.bin");
    assert_eq!(std::fs::read(pulled).unwrap(), large[0].body);
}
