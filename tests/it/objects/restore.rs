//! Object restore against a real Garage: objects come back byte for byte with their metadata,
//! extras are deleted only after the uploads (or kept with --keep-extra), objects already
//! present are left alone, buckets that are gone are created, large objects go up in parts, and legacy
//! generations (no manifest) restore with types guessed from extensions.

use std::collections::HashMap;

use crate::support::cli::{Run, Sandbox};
use crate::support::s3::{Object, get, keys, put, remove_bucket};
use crate::support::servers;

fn run(sandbox: &Sandbox, bucket: &str, args: &[&str]) -> Run {
    let env = servers().fullsite_env("unused");
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.push(("STGY_STORAGE_S3_BUCKETS", bucket));
    let mut all = args.to_vec();
    all.insert(1, "--no-db");
    sandbox.run_with(&all, &pairs)
}

fn corpus() -> Vec<Object> {
    let mut objects = vec![
        Object::new("empty-1", Vec::new()),
        Object::new("empty-2", Vec::new()),
        Object::new("a", b"file a".to_vec()),
        Object::new("a/x", b"under a".to_vec()),
        Object::new("..", b"dot dot".to_vec()),
        Object::new("x//y", b"empty segment".to_vec()),
        Object::new("trailing/", b"folder marker".to_vec()),
        Object::new("nfd-cafe\u{301}", b"nfd".to_vec()),
        Object::new("100% sure", b"percent".to_vec()),
        // a segment too long for a file name: stored under a hashed name, key kept in the manifest
        Object::new(&format!("long/{}", "x".repeat(300)), b"long key".to_vec()),
        Object::new(
            "large.bin",
            (0..70 * 1024 * 1024u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect(),
        ),
    ];
    objects.push(Object {
        key: "images/p.jpg".into(),
        body: b"jpeg bytes".to_vec(),
        content_type: Some("image/jpeg".into()),
        cache_control: Some("max-age=60".into()),
        content_encoding: Some("identity".into()),
        content_disposition: Some("inline".into()),
        metadata: HashMap::from([("owner".to_string(), "bob".to_string())]),
    });
    objects
}

#[test]
fn objects_round_trip_with_metadata_extras_deleted_after_uploads_and_unchanged_skipped() {
    let bucket = servers().s3.create_bucket("restore");
    let objects = corpus();
    put(&bucket, &objects);
    let sandbox = Sandbox::new();
    let backup = run(&sandbox, &bucket, &["backup", "--name", "g1"]);
    assert_eq!(backup.code, 0, "{}", backup.stderr);

    // disaster: everything deleted, something new appeared
    remove_bucket(&bucket);
    let restore = run(&sandbox, &bucket, &["restore", "g1"]);
    assert_eq!(restore.code, 0, "{}", restore.stderr);
    assert!(
        restore
            .stderr
            .contains(&format!("created bucket '{bucket}'")),
        "{}",
        restore.stderr
    );
    let mut expected: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
    expected.sort();
    assert_eq!(keys(&bucket), expected);
    for object in &objects {
        let back = get(&bucket, &object.key);
        assert!(back.body == object.body, "{:?} differs", object.key);
        if object.content_type.is_some() {
            assert_eq!(back.content_type, object.content_type);
            assert_eq!(back.cache_control, object.cache_control);
            assert_eq!(back.content_encoding, object.content_encoding);
            assert_eq!(back.content_disposition, object.content_disposition);
            assert_eq!(back.metadata, object.metadata);
        }
    }

    put(
        &bucket,
        &[Object::new("extra.txt", b"not in the generation".to_vec())],
    );
    let again = run(&sandbox, &bucket, &["restore", "g1"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    // large.bin went up in parts, so its ETag changed and it is uploaded again; the rest is skipped
    assert!(
        again.stderr.contains(&format!(
            "1 uploaded (70.0 MiB), {} already present, 1 extra deleted",
            objects.len() - 1
        )),
        "{}",
        again.stderr
    );
    assert_eq!(keys(&bucket), expected);

    put(&bucket, &[Object::new("extra.txt", b"kept".to_vec())]);
    let keep = run(&sandbox, &bucket, &["restore", "--keep-extra", "g1"]);
    assert_eq!(keep.code, 0, "{}", keep.stderr);
    assert!(keys(&bucket).contains(&"extra.txt".to_string()));
}

#[test]
fn legacy_generations_restore_their_files_as_objects() {
    let bucket = servers().s3.create_bucket("legacy");
    let sandbox = Sandbox::new();
    let tree = sandbox
        .root()
        .join(format!("full-site-2026-01-01/objects/{bucket}"));
    std::fs::create_dir_all(tree.join("avatars")).unwrap();
    std::fs::write(tree.join("avatars/alice.png"), b"png bytes").unwrap();
    std::fs::write(tree.join("notes.txt"), b"text").unwrap();
    let restore = run(&sandbox, &bucket, &["restore", "full-site-2026-01-01"]);
    assert_eq!(restore.code, 0, "{}", restore.stderr);
    assert_eq!(keys(&bucket), ["avatars/alice.png", "notes.txt"]);
    let png = get(&bucket, "avatars/alice.png");
    assert_eq!(png.body, b"png bytes");
    assert_eq!(png.content_type.as_deref(), Some("image/png"));
}

#[test]
fn restore_never_deletes_before_every_upload_succeeded_even_when_the_server_dies() {
    // A Garage of its own, so it can be killed and brought back.
    let dir = tempfile::tempdir().unwrap();
    let mut garage = crate::support::garage::GarageServer::start(&dir.path().join("garage"));
    let bucket = garage.create_bucket("dies");
    let env = garage.fullsite_env(&bucket);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let objects: Vec<Object> = (0..20)
        .map(|i| Object::new(&format!("o{i}"), vec![i as u8; 50_000]))
        .collect();
    crate::support::s3::put_to(&garage, &bucket, &objects);
    let sandbox = Sandbox::new();
    let run = sandbox.run_with(&["backup", "--no-db", "--name", "g1"], &pairs);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // the bucket lost everything but an object the generation does not hold
    let keys: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
    crate::support::s3::delete_from(
        &garage,
        &bucket,
        &keys.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    crate::support::s3::put_to(
        &garage,
        &bucket,
        &[Object::new("extra", b"must survive".to_vec())],
    );

    let mut paused_env = pairs.clone();
    paused_env.push(("FULLSITE_TEST_PAUSE_SECS", "2"));
    let restore = sandbox.spawn_paused_with(
        &["restore", "--no-db", "g1"],
        &paused_env,
        "restore:before-uploads",
    );
    garage.stop();
    let (code, log) = restore.wait();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&garage.endpoint()),
        "the error names the endpoint: {log}"
    );
    garage.restart();
    assert_eq!(
        crate::support::s3::keys_in(&garage, &bucket),
        ["extra"],
        "nothing was deleted"
    );
}
