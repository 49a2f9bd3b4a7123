//! Restoring a selection of objects against a real Garage (issue 19): a prefix restore after a
//! disaster puts the prefix back as the generation holds it and leaves every object outside
//! it, in that bucket and in the others, exactly as it is now; a single key restored to a
//! directory is byte-identical to the generation's file (and needs no S3 server); selections
//! naming absent keys or buckets, or a non-empty directory, exit 2 and change nothing.

use std::collections::BTreeMap;

use crate::support::cli::{Run, Sandbox};
use crate::support::s3::{Object, delete, etags_in, get, keys, put};
use crate::support::servers;

fn run(sandbox: &Sandbox, buckets: &str, args: &[&str]) -> Run {
    let env = servers().fullsite_env("unused");
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.push(("STGY_STORAGE_S3_BUCKETS", buckets));
    sandbox.run_with(args, &pairs)
}

fn objects(prefix: &str, n: usize) -> Vec<Object> {
    (0..n)
        .map(|i| Object {
            content_type: Some("text/plain".into()),
            ..Object::new(
                &format!("{prefix}{i:03}.txt"),
                format!("{prefix} body {i}").into_bytes(),
            )
        })
        .collect()
}

/// Key → (ETag, bytes, Content-Type) of everything in `bucket` whose key does not start with
/// `prefix`.
fn outside(bucket: &str, prefix: &str) -> BTreeMap<String, (String, Vec<u8>, Option<String>)> {
    etags_in(&servers().s3, bucket)
        .into_iter()
        .filter(|(k, _)| !k.starts_with(prefix))
        .map(|(k, etag)| {
            let object = get(bucket, &k);
            (k, (etag, object.body, object.content_type))
        })
        .collect()
}

#[test]
fn a_prefix_restore_leaves_objects_outside_the_prefix_exactly_as_they_are() {
    let (one, two) = (
        servers().s3.create_bucket("select-a"),
        servers().s3.create_bucket("select-b"),
    );
    let (held_a, held_b) = (objects("a/", 40), objects("b/", 40));
    put(&one, &held_a);
    put(&one, &held_b);
    put(&two, &held_a);
    let sandbox = Sandbox::new();
    let buckets = format!("{one},{two}");
    let backup = run(&sandbox, &buckets, &["backup", "--no-db", "--name", "g1"]);
    assert_eq!(backup.code, 0, "{}", backup.stderr);

    // Disaster in both buckets, inside and outside the prefix.
    for bucket in [&one, &two] {
        delete(bucket, &["a/000.txt", "a/001.txt", "b/000.txt"]);
        put(
            bucket,
            &[
                Object::new("a/002.txt", b"overwritten".to_vec()),
                Object::new("a/new.txt", b"not in g1".to_vec()),
                Object::new("b/001.txt", b"overwritten outside".to_vec()),
                Object::new("b/new.txt", b"outside, not in g1".to_vec()),
                Object::new("c", b"outside too".to_vec()),
            ],
        );
    }
    let (before_one, before_two) = (outside(&one, "a/"), outside(&two, ""));

    let restore = run(
        &sandbox,
        &buckets,
        &["restore", "--bucket", &one, "--prefix", "a/", "g1"],
    );
    assert_eq!(restore.code, 0, "{}", restore.stderr);
    assert!(
        restore.stderr.contains("3 uploaded") && restore.stderr.contains("1 extra deleted"),
        "{}",
        restore.stderr
    );
    // Inside the prefix: exactly the generation.
    let inside: Vec<String> = keys(&one)
        .into_iter()
        .filter(|k| k.starts_with("a/"))
        .collect();
    let expected: Vec<String> = held_a.iter().map(|o| o.key.clone()).collect();
    assert_eq!(inside, expected);
    for object in &held_a[..3] {
        let back = get(&one, &object.key);
        assert_eq!(back.body, object.body, "{}", object.key);
        assert_eq!(back.content_type.as_deref(), Some("text/plain"));
    }
    // Outside: untouched, in this bucket and the other one (which was not selected).
    assert_eq!(outside(&one, "a/"), before_one);
    assert_eq!(outside(&two, ""), before_two);
    // No database was touched: it was not selected (the configured one does not even exist).
    assert!(
        !restore.stderr.contains("restore done"),
        "{}",
        restore.stderr
    );
}

#[test]
fn a_single_key_restored_to_a_directory_is_byte_identical_to_the_generation_file() {
    let bucket = servers().s3.create_bucket("select-dir");
    let mut held = objects("avatars/", 30);
    held.push(Object {
        content_type: Some("image/png".into()),
        metadata: [("owner".to_string(), "alice".to_string())].into(),
        ..Object::new(
            "avatars/alice.png",
            (0..5000u32).map(|i| (i * 31) as u8).collect(),
        )
    });
    held.push(Object::new(
        "avatars",
        b"a key that is also a directory".to_vec(),
    ));
    put(&bucket, &held);
    let sandbox = Sandbox::new();
    let backup = run(&sandbox, &bucket, &["backup", "--no-db", "--name", "g1"]);
    assert_eq!(backup.code, 0, "{}", backup.stderr);
    let generation = sandbox.root().join("g1");

    // No S3 variables at all: --to-dir needs no server.
    let out = sandbox.cwd().join("out");
    let restore = sandbox.run(&[
        "restore",
        "--key",
        "avatars/alice.png",
        "--key",
        "avatars",
        "--to-dir",
        out.to_str().unwrap(),
        "g1",
    ]);
    assert_eq!(restore.code, 0, "{}", restore.stderr);
    let written = std::fs::read(out.join(&bucket).join("avatars/alice.png")).unwrap();
    let stored =
        std::fs::read(generation.join(format!("objects/{bucket}/avatars/alice.png"))).unwrap();
    assert_eq!(written, stored);
    assert_eq!(written, held[30].body);
    // `avatars` is both a key and a prefix: the generation's safe mapping is kept.
    assert_eq!(
        std::fs::read(out.join(&bucket).join("avatars/%!")).unwrap(),
        b"a key that is also a directory"
    );
    let mut files: Vec<String> = walk(&out);
    files.sort();
    assert_eq!(
        files,
        [
            format!(".fullsite-metadata/{bucket}.jsonl"),
            format!("{bucket}/avatars/%!"),
            format!("{bucket}/avatars/alice.png"),
        ]
    );
    let sidecar =
        std::fs::read_to_string(out.join(format!(".fullsite-metadata/{bucket}.jsonl"))).unwrap();
    let records: Vec<serde_json::Value> = sidecar
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["key"], "avatars/alice.png");
    assert_eq!(records[1]["path"], format!("{bucket}/avatars/alice.png"));
    assert_eq!(records[1]["content_type"], "image/png");
    assert_eq!(records[1]["metadata"]["owner"], "alice");
    assert!(
        restore.stderr.contains("1 buckets, 2 files"),
        "{}",
        restore.stderr
    );

    // The directory is no longer empty: refused, nothing written.
    let again = sandbox.run(&[
        "restore",
        "--key",
        "avatars",
        "--to-dir",
        out.to_str().unwrap(),
        "g1",
    ]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again.stderr.contains("not an empty directory"),
        "{}",
        again.stderr
    );
    assert_eq!(walk(&out).len(), 3);
}

#[test]
fn selections_naming_absent_keys_or_buckets_exit_2_and_change_nothing() {
    let bucket = servers().s3.create_bucket("select-absent");
    put(&bucket, &objects("k/", 5));
    let sandbox = Sandbox::new();
    let backup = run(&sandbox, &bucket, &["backup", "--no-db", "--name", "g1"]);
    assert_eq!(backup.code, 0, "{}", backup.stderr);
    delete(&bucket, &["k/000.txt"]);
    put(&bucket, &[Object::new("extra", b"x".to_vec())]);
    let before = etags_in(&servers().s3, &bucket);
    for (args, needle) in [
        (
            vec!["--key", "k/001.txt", "--key", "k/nope"],
            "holds no key 'k/nope'".to_string(),
        ),
        (
            vec!["--bucket", "no-such-bucket"],
            "holds no bucket 'no-such-bucket'".to_string(),
        ),
        (vec!["--prefix", "zzz/"], "starts with 'zzz/'".to_string()),
        (
            vec!["--prefix", "k/", "--key", "other"],
            "does not start with --prefix".to_string(),
        ),
    ] {
        let mut all = vec!["restore"];
        all.extend(args);
        all.push("g1");
        let refused = run(&sandbox, &bucket, &all);
        assert_eq!(refused.code, 2, "{all:?}: {}", refused.stderr);
        assert!(
            refused.stderr.contains(&needle),
            "{all:?}: {}",
            refused.stderr
        );
        assert_eq!(etags_in(&servers().s3, &bucket), before, "{all:?}");
    }
    // The same single key does restore.
    let one = run(&sandbox, &bucket, &["restore", "--key", "k/000.txt", "g1"]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(
        keys(&bucket).contains(&"extra".to_string()),
        "outside the selection"
    );
    assert!(keys(&bucket).contains(&"k/000.txt".to_string()));
}

/// Files under `dir`, relative, `/`-separated.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap();
                files.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    files
}
