//! The object mirror against a real Garage: every object byte for byte with its metadata and
//! hostile keys kept inside `objects/<bucket>/`; unchanged objects linked, not downloaded;
//! identical content stored once; an emptied bucket refused.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::support::cli::{Run, Sandbox, du_kib};
use crate::support::s3::{Object, delete, put};
use crate::support::servers;

fn backup(sandbox: &Sandbox, bucket: &str, name: &str, extra: &[&str]) -> Run {
    let env = servers().fullsite_env("unused");
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.push(("STGY_STORAGE_S3_BUCKETS", bucket));
    let mut args = vec!["backup", "--no-db", "--name", name, "--jobs", "2"];
    args.extend_from_slice(extra);
    sandbox.run_with(&args, &pairs)
}

/// The manifest's object records, by key.
fn objects(generation: &Path) -> HashMap<String, serde_json::Value> {
    std::fs::read_to_string(generation.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["type"] == "object")
        .map(|r| (r["key"].as_str().unwrap().to_string(), r))
        .collect()
}

/// The number before `word` in the mirror's summary line.
fn count(log: &str, word: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains("objects mirrored"))
        .expect("a summary line");
    let before = &line[..line
        .find(word)
        .unwrap_or_else(|| panic!("{word} in {line}"))];
    before
        .trim_end()
        .rsplit([' ', '('])
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

const HOSTILE_KEYS: &[&str] = &[
    "..",
    ".",
    "a/../b",
    "a/./b",
    "a//b",
    // "/leading" is left out: Garage stores it as "leading" (the mapping's unit tests cover it)
    "trailing/",
    "a",
    "a/x",
    "100% sure",
    "with space",
    "tab\there",
    "nfc-caf\u{e9}",
    "nfd-cafe\u{301}",
    "日本語/ファイル.txt",
    ".hidden",
    "%2E%2E",
];

#[test]
fn every_object_is_backed_up_byte_for_byte_with_metadata_and_safe_paths() {
    let bucket = servers().s3.create_bucket("mirror");
    let mut corpus: Vec<Object> = Vec::new();
    for i in 0..4 {
        corpus.push(Object::new(&format!("empty/{i}"), Vec::new()));
    }
    corpus.push(Object::new("small.txt", b"hello".to_vec()));
    corpus.push(Object::new("dup-1.bin", vec![7u8; 300_000]));
    corpus.push(Object::new("dup-2.bin", vec![7u8; 300_000]));
    corpus.push(Object::new(
        "large.bin",
        (0..6_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect(),
    ));
    corpus.push(Object {
        key: "images/photo.jpg".into(),
        body: b"\xff\xd8\xff jpeg".to_vec(),
        content_type: Some("image/jpeg".into()),
        cache_control: Some("public, max-age=31536000".into()),
        content_encoding: Some("identity".into()),
        content_disposition: Some("attachment; filename=\"photo.jpg\"".into()),
        metadata: HashMap::from([
            ("owner".to_string(), "alice".to_string()),
            ("x".to_string(), "1".to_string()),
        ]),
    });
    for (i, key) in HOSTILE_KEYS.iter().enumerate() {
        corpus.push(Object::new(
            key,
            format!("content of hostile key {i}").into_bytes(),
        ));
    }
    put(&bucket, &corpus);

    let sandbox = Sandbox::new();
    let run = backup(&sandbox, &bucket, "g1", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let generation = sandbox.root().join("g1");
    let records = objects(&generation);
    let missing: Vec<&str> = corpus
        .iter()
        .map(|o| o.key.as_str())
        .filter(|k| !records.contains_key(*k))
        .collect();
    let mut listed: Vec<&String> = records.keys().collect();
    listed.sort();
    assert!(
        missing.is_empty(),
        "not in the manifest: {missing:?}; listed: {listed:?}"
    );
    assert_eq!(records.len(), corpus.len());
    for object in &corpus {
        let record = &records[&object.key];
        let path = record["path"].as_str().unwrap();
        assert!(path.starts_with(&format!("objects/{bucket}/")), "{path}");
        assert_eq!(
            std::fs::read(generation.join(path)).unwrap(),
            object.body,
            "{:?}",
            object.key
        );
        assert_eq!(record["size"], object.body.len());
    }
    let photo = &records["images/photo.jpg"];
    assert_eq!(photo["content_type"], "image/jpeg");
    assert_eq!(photo["cache_control"], "public, max-age=31536000");
    assert_eq!(photo["content_encoding"], "identity");
    assert_eq!(
        photo["content_disposition"],
        "attachment; filename=\"photo.jpg\""
    );
    assert_eq!(photo["metadata"]["owner"], "alice");
    assert_eq!(
        records["small.txt"]["path"],
        format!("objects/{bucket}/small.txt"),
        "plain keys stay plain"
    );

    // identical content is one inode; nothing is outside the generation's known places
    let inode = |key: &str| {
        std::fs::metadata(generation.join(records[key]["path"].as_str().unwrap()))
            .unwrap()
            .ino()
    };
    assert_eq!(inode("dup-1.bin"), inode("dup-2.bin"));
    for entry in walkdir::WalkDir::new(sandbox.root()) {
        let entry = entry.unwrap();
        let relative = entry
            .path()
            .strip_prefix(sandbox.root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let allowed = relative.is_empty()
            || relative == ".lock"
            || relative == "g1"
            || relative.starts_with("g1/objects")
            || relative == "g1/manifest.jsonl"
            || relative == "g1/.stgy-full-site-backup";
        assert!(allowed, "unexpected path {relative:?}");
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode,
            if entry.file_type().is_dir() {
                0o700
            } else {
                0o600
            },
            "{relative}"
        );
    }
    let verify = sandbox.run(&["verify", "g1"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
}

#[test]
fn unchanged_objects_are_linked_not_downloaded_and_seven_generations_cost_about_one() {
    // 100 photos of 120 KB (the upper end of the benchmark corpus), 1% changed per night
    let bucket = servers().s3.create_bucket("incremental");
    let corpus: Vec<Object> = (0..100)
        .map(|i| {
            Object::new(
                &format!("photos/{i:03}.bin"),
                (0..120_000u32)
                    .map(|b| (b.wrapping_mul(31).wrapping_add(i * 7)) as u8)
                    .collect(),
            )
        })
        .collect();
    put(&bucket, &corpus);
    let sandbox = Sandbox::new();
    let first = backup(&sandbox, &bucket, "g1", &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(count(&first.stderr, "downloaded"), 100);

    for generation in 2..=7 {
        // change 1% of the objects
        let changed = Object::new(
            &format!("photos/{:03}.bin", generation),
            format!("changed in g{generation}").into_bytes(),
        );
        put(&bucket, &[changed]);
        let run = backup(&sandbox, &bucket, &format!("g{generation}"), &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            count(&run.stderr, "downloaded"),
            1,
            "only the changed object is fetched: {}",
            run.stderr
        );
        assert_eq!(count(&run.stderr, "unchanged"), 99);
    }
    let inode = |generation: &str, key: &str| {
        std::fs::metadata(
            sandbox
                .root()
                .join(generation)
                .join(format!("objects/{bucket}/{key}")),
        )
        .unwrap()
        .ino()
    };
    assert_eq!(inode("g1", "photos/050.bin"), inode("g7", "photos/050.bin"));
    assert_ne!(inode("g1", "photos/002.bin"), inode("g2", "photos/002.bin"));
    let one = du_kib(&sandbox.root().join("g1"));
    let all = du_kib(&sandbox.root());
    assert!(
        (all as f64) <= 1.1 * one as f64,
        "seven generations take {all} KiB, one takes {one} KiB"
    );
}

#[test]
fn an_object_put_again_with_the_same_bytes_and_new_metadata_is_fetched_and_recorded_anew() {
    // Same bytes, so the same size and ETag: only Last-Modified tells the two versions apart,
    // and the unchanged rule must not carry the old metadata into the new generation.
    let bucket = servers().s3.create_bucket("metadata-only");
    let mut avatar = Object::new("user/avatar.png", b"the same picture".to_vec());
    avatar.content_type = Some("image/png".into());
    let others: Vec<Object> = (0..20)
        .map(|i| Object::new(&format!("other/{i:02}"), vec![i; 100]))
        .collect();
    put(&bucket, &[vec![avatar.clone()], others].concat());
    let sandbox = Sandbox::new();
    assert_eq!(backup(&sandbox, &bucket, "g1", &[]).code, 0);
    // Last-Modified has a resolution of a second on some servers
    std::thread::sleep(std::time::Duration::from_millis(1100));
    avatar.content_type = Some("image/webp".into());
    avatar.metadata.insert("owner".into(), "alice".into());
    put(&bucket, &[avatar]);
    let run = backup(&sandbox, &bucket, "g2", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(count(&run.stderr, "downloaded"), 1, "{}", run.stderr);
    assert_eq!(count(&run.stderr, "unchanged"), 20, "{}", run.stderr);
    let (old, new) = (
        &objects(&sandbox.root().join("g1"))["user/avatar.png"],
        &objects(&sandbox.root().join("g2"))["user/avatar.png"],
    );
    assert_eq!(old["etag"], new["etag"], "same bytes, same ETag");
    assert_ne!(old["last_modified"], new["last_modified"]);
    assert_eq!(new["content_type"], "image/webp");
    assert_eq!(new["metadata"]["owner"], "alice");
    assert_eq!(sandbox.run(&["verify", "g2"]).code, 0);
}

#[test]
fn a_bucket_that_lists_empty_after_holding_objects_fails_the_backup() {
    let bucket = servers().s3.create_bucket("guard");
    put(&bucket, &[Object::new("keep.txt", b"x".to_vec())]);
    let sandbox = Sandbox::new();
    assert_eq!(backup(&sandbox, &bucket, "g1", &[]).code, 0);
    delete(&bucket, &["keep.txt"]);
    let run = backup(&sandbox, &bucket, "g2", &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains(&format!("bucket '{bucket}' lists no objects")),
        "{}",
        run.stderr
    );
    assert!(
        !sandbox.root().join("g2").exists(),
        "no generation is left behind"
    );
    let run = backup(&sandbox, &bucket, "g2", &["--allow-empty-bucket"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn a_configured_bucket_that_does_not_exist_is_named() {
    let sandbox = Sandbox::new();
    let run = backup(&sandbox, "no-such-bucket-here", "g1", &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no-such-bucket-here"), "{}", run.stderr);
    let names: HashSet<String> = std::fs::read_dir(sandbox.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, HashSet::from([".lock".to_string()]));
}

#[test]
fn verify_sample_finds_a_damaged_file_about_as_often_as_its_share_and_status_reports_it() {
    let bucket = servers().s3.create_bucket("sample");
    let objects: Vec<Object> = (0..40)
        .map(|i| Object::new(&format!("f{i}"), vec![i as u8; 1000]))
        .collect();
    put(&bucket, &objects);
    let sandbox = Sandbox::new();
    assert_eq!(backup(&sandbox, &bucket, "g1", &[]).code, 0);
    assert_eq!(sandbox.run(&["verify", "g1"]).code, 0);
    assert!(
        sandbox
            .run(&["status"])
            .stdout
            .contains("ok (100% of files hashed)")
    );

    let damaged = sandbox.root().join(format!("g1/objects/{bucket}/f7"));
    std::fs::write(&damaged, vec![0xffu8; 1000]).unwrap();
    let found = (0..60u64)
        .filter(|seed| {
            let run = sandbox.run(&[
                "verify",
                "g1",
                "--sample",
                "50",
                "--seed",
                &seed.to_string(),
            ]);
            assert!(run.code == 0 || run.code == 3, "{}", run.stderr);
            run.code == 3
        })
        .count();
    assert!(
        (15..=45).contains(&found),
        "a 50% sample found the damage in {found} of 60 runs"
    );
    assert_eq!(sandbox.run(&["verify", "g1"]).code, 3);
    let status = sandbox.run(&["status"]);
    assert!(
        status.stdout.contains("DAMAGED (1 problems)"),
        "{}",
        status.stdout
    );
}

#[test]
fn without_a_terminal_progress_is_periodic_log_lines() {
    let bucket = servers().s3.create_bucket("progress");
    let objects: Vec<Object> = (0..200)
        .map(|i| Object::new(&format!("f{i}"), vec![i as u8; 20_000]))
        .collect();
    put(&bucket, &objects);
    let sandbox = Sandbox::new();
    let env = servers().fullsite_env("unused");
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.push(("STGY_STORAGE_S3_BUCKETS", &bucket));
    pairs.push(("FULLSITE_PROGRESS_SECS", "0.02"));
    let run = sandbox.run_with(
        &["backup", "--no-db", "--name", "g1", "--transfers", "2"],
        &pairs,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains(&format!("bucket {bucket}: ")) && l.contains("/200 done"));
    assert!(line.is_some(), "no progress line in:\n{}", run.stderr);
    assert!(
        !run.stderr.contains('\r'),
        "no bar redraws when stderr is not a terminal"
    );
    let quiet = sandbox.run_with(
        &[
            "-q",
            "backup",
            "--no-db",
            "--name",
            "g2",
            "--transfers",
            "2",
        ],
        &pairs,
    );
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert!(
        !quiet.stderr.contains("done,"),
        "-q shows no progress: {}",
        quiet.stderr
    );
}

#[test]
fn a_symlink_planted_in_a_previous_generation_is_never_followed_or_carried_over() {
    let bucket = servers().s3.create_bucket("planted");
    put(
        &bucket,
        &[Object::new("avatar.png", b"real content".to_vec())],
    );
    let sandbox = Sandbox::new();
    assert_eq!(backup(&sandbox, &bucket, "g1", &[]).code, 0);
    // an attacker swaps g1's file for a symlink to a file outside the root, same size
    let outside = sandbox.cwd().join("secret");
    std::fs::write(&outside, b"SECRET 12345").unwrap();
    let planted = sandbox
        .root()
        .join(format!("g1/objects/{bucket}/avatar.png"));
    std::fs::remove_file(&planted).unwrap();
    std::os::unix::fs::symlink(&outside, &planted).unwrap();
    let run = backup(&sandbox, &bucket, "g2", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        count(&run.stderr, "downloaded"),
        1,
        "not taken from the planted link"
    );
    let file = sandbox
        .root()
        .join(format!("g2/objects/{bucket}/avatar.png"));
    assert!(std::fs::symlink_metadata(&file).unwrap().is_file());
    assert_eq!(std::fs::read(&file).unwrap(), b"real content");
    assert_eq!(
        std::fs::read(&outside).unwrap(),
        b"SECRET 12345",
        "nothing outside the root changed"
    );
    assert_eq!(sandbox.run(&["verify", "g2"]).code, 0);
    assert_eq!(
        sandbox.run(&["verify", "g1"]).code,
        3,
        "the planted link is reported in g1"
    );
}
