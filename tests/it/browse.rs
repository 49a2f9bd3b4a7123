//! `fullsite ls` and `fullsite diff` against generations backed up from real PostgreSQL and
//! Garage (issue 19): objects listed sorted, filtered by bucket and prefix, one per line for
//! scripts and as JSON; tables with their row counts and data sizes; and between two nights,
//! objects deleted, added, changed in content or in metadata alone (naming the field), a table
//! whose row was updated (and not the unchanged one), and a schema entry added.

use serde_json::Value;

use crate::support::cli::{Run, Sandbox};
use crate::support::s3::{Object, delete, put};
use crate::support::servers;

fn run(sandbox: &Sandbox, db: &str, bucket: &str, args: &[&str]) -> Run {
    let env = servers().fullsite_env(db);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.push(("STGY_STORAGE_S3_BUCKETS", bucket));
    let run = sandbox.run_with(args, &pairs);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    run
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", run.stdout))
}

#[test]
fn ls_and_diff_read_generations_from_their_manifests() {
    let pg = servers().pg;
    let db = pg.create_database("browse");
    pg.psql(
        &db,
        "CREATE TABLE posts (id int PRIMARY KEY, body text);
         INSERT INTO posts SELECT i, 'post ' || i FROM generate_series(1, 300) i;
         CREATE TABLE users (id int PRIMARY KEY, name text);
         INSERT INTO users SELECT i, 'user ' || i FROM generate_series(1, 40) i;",
    );
    let bucket = servers().s3.create_bucket("browse");
    // Thousands of objects, put in an order unlike the sorted one.
    let mut objects: Vec<Object> = (0..2500)
        .rev()
        .map(|i| Object {
            content_type: Some("image/png".into()),
            ..Object::new(&format!("u/{i:05}.png"), format!("png {i}").into_bytes())
        })
        .collect();
    objects.extend((0..500).map(|i| Object::new(&format!("doc/{i}.txt"), vec![b'x'; i])));
    objects.push(Object::new("tab\there", b"control characters".to_vec()));
    put(&bucket, &objects);
    let sandbox = Sandbox::new();
    run(&sandbox, &db, &bucket, &["backup", "--name", "g1"]);

    // ls: one line per object, sorted, tab-separated for scripts.
    let all = run(&sandbox, &db, &bucket, &["ls", "g1"]);
    let lines: Vec<&str> = all.stdout.lines().collect();
    assert_eq!(lines.len(), objects.len());
    let listed: Vec<&str> = lines
        .iter()
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
    assert_eq!(lines[0].split('\t').next(), Some(bucket.as_str()));
    let fields: Vec<&str> = lines
        .iter()
        .find(|l| l.contains("u/00007.png"))
        .unwrap()
        .split('\t')
        .collect();
    assert_eq!(fields[2], "9");
    assert!(fields[3].starts_with("20"), "{fields:?}");
    assert_eq!(fields[4], "image/png");
    // The tab in a key is escaped: still five fields on its line.
    assert!(
        lines
            .iter()
            .any(|l| l.split('\t').nth(1) == Some("tab\\there"))
    );

    let docs = run(
        &sandbox,
        &db,
        &bucket,
        &["ls", "--prefix", "doc/", "--bucket", &bucket, "g1"],
    );
    assert_eq!(docs.stdout.lines().count(), 500);
    let some = run(
        &sandbox,
        &db,
        &bucket,
        &["ls", "--json", "--prefix", "u/0001", "g1"],
    );
    let some = json(&some);
    let listed = some["objects"].as_array().unwrap();
    assert_eq!(listed.len(), 100);
    assert_eq!(listed[0]["key"], "u/00010.png");
    assert_eq!(listed[0]["size"], 8);
    assert_eq!(listed[0]["content_type"], "image/png");
    let object_keys: Vec<&str> = listed[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        object_keys,
        [
            "blake3",
            "bucket",
            "content_type",
            "etag",
            "key",
            "last_modified",
            "size"
        ]
    );
    assert_eq!(some["generation"], "g1");
    assert_eq!(some["buckets"], serde_json::json!([bucket]));

    let absent = sandbox.run_with(&["ls", "--bucket", "nope", "g1"], &[]);
    assert_eq!(absent.code, 2, "{}", absent.stderr);
    assert!(
        absent.stderr.contains("holds no bucket 'nope'"),
        "{}",
        absent.stderr
    );

    // ls --tables: rows from the manifest, sizes of the data files.
    let tables = run(&sandbox, &db, &bucket, &["ls", "--tables", "g1"]);
    let rows: Vec<Vec<&str>> = tables
        .stdout
        .lines()
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{}", tables.stdout);
    assert_eq!(rows[0][..2], ["public.posts", "300"]);
    assert_eq!(rows[1][..2], ["public.users", "40"]);
    assert!(rows[0][2].parse::<u64>().unwrap() > 100);
    let tables = json(&run(
        &sandbox,
        &db,
        &bucket,
        &["ls", "--tables", "--json", "g1"],
    ));
    assert_eq!(tables["tables"][1]["name"], "users");
    assert_eq!(tables["tables"][1]["rows"], 40);
    assert!(tables["tables"][1]["bytes"].as_u64().unwrap() > 0);

    // The next night: deletions, additions, content and metadata changes, a row update and
    // an index; `users` is left alone.
    delete(&bucket, &["u/00000.png", "u/00001.png", "doc/7.txt"]);
    put(
        &bucket,
        &[
            Object::new("new/1.bin", b"new".to_vec()),
            Object::new("new/2.bin", b"new".to_vec()),
            Object {
                content_type: Some("image/png".into()),
                ..Object::new("u/00002.png", b"other bytes".to_vec())
            },
            // same bytes, another Content-Type
            Object {
                content_type: Some("image/webp".into()),
                ..Object::new("u/00003.png", b"png 3".to_vec())
            },
        ],
    );
    pg.psql(
        &db,
        "UPDATE posts SET body = 'edited' WHERE id = 7; CREATE INDEX posts_body ON posts (body);",
    );
    run(&sandbox, &db, &bucket, &["backup", "--name", "g2"]);

    let diff = run(&sandbox, &db, &bucket, &["diff", "g1", "g2"]);
    let text = &diff.stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "bucket {bucket}: 2 added, 3 removed, 1 changed (content), 1 changed (metadata), {} unchanged",
            objects.len() - 5
        ),
        "{text}"
    );
    assert!(lines[1].starts_with("database: 1 tables with changed data, 0 added, 0 removed, 1 unchanged (of 2); schema entries: 1 added, 0 removed, 0 changed"), "{text}");
    for expected in [
        format!("- {bucket}/doc/7.txt"),
        format!("+ {bucket}/new/1.bin"),
        format!("- {bucket}/u/00000.png"),
        format!("~ {bucket}/u/00002.png (content, 5 → 11 bytes)"),
        format!("~ {bucket}/u/00003.png (metadata: content_type)"),
        "table public.posts: changed, rows 300 → 300".to_string(),
        "schema + INDEX public posts_body".to_string(),
    ] {
        assert!(
            lines.contains(&expected.as_str()),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert!(
        !text.contains("users"),
        "an unchanged table is not listed:\n{text}"
    );
    assert!(!text.contains("note:"), "{text}");

    let diff = json(&run(
        &sandbox,
        &db,
        &bucket,
        &["diff", "--json", "--prefix", "u/", "g1", "g2"],
    ));
    let top: Vec<&str> = diff
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        top,
        ["buckets", "database", "new", "notes", "objects", "old"]
    );
    assert_eq!(diff["buckets"][0]["removed"], 2);
    assert_eq!(diff["buckets"][0]["added"], 0);
    let changes = diff["objects"].as_array().unwrap();
    assert_eq!(changes.len(), 4);
    assert_eq!(changes[3]["key"], "u/00003.png");
    assert_eq!(changes[3]["change"], "metadata");
    assert_eq!(changes[3]["fields"], serde_json::json!(["content_type"]));
    assert_eq!(diff["database"]["tables"][0]["name"], "posts");
    assert_eq!(diff["database"]["tables"][0]["old_rows"], 300);
    assert_eq!(diff["database"]["entries"][0]["desc"], "INDEX");
    assert_eq!(diff["database"]["data_compared"], true);
}
