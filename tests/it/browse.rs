//! `fullsite ls` and `fullsite diff` against generations backed up from real PostgreSQL and
//! Garage (issue 19): objects listed sorted, filtered by bucket and prefix, one per line for
//! scripts and as JSON; tables with their row counts and data sizes; and between two nights,
//! objects deleted, added, changed in content or in metadata alone (naming the field), a table
//! whose row was updated (and not the unchanged one), and a schema entry added.

use serde_json::Value;

use crate::support::cli::{Run, Sandbox};
use crate::support::db::env_for_server;
use crate::support::s3::{Object, delete, put};
use crate::support::{DISTRIBUTION_MAJOR, pg, servers, snapshot};

fn run(sandbox: &Sandbox, db: &str, bucket: &str, args: &[&str]) -> Run {
    let env = servers().fullsite_env(db);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.push(("STGY_STORAGE_S3_BUCKETS", bucket));
    let run = sandbox.run_with(args, &pairs);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    run
}

/// `fullsite ARGS` with the database settings of `db` on the distribution's PostgreSQL only.
fn run_db(sandbox: &Sandbox, db: &str, args: &[&str]) -> Run {
    let env = env_for_server(pg(DISTRIBUTION_MAJOR), db);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = sandbox.run_with(args, &pairs);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    run
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", run.stdout))
}

#[test]
fn ls_tables_and_diff_of_the_database_read_the_manifest_and_the_toc() {
    let pg = pg(DISTRIBUTION_MAJOR);
    let db = pg.create_database("browse");
    pg.psql(
        &db,
        "CREATE TABLE posts (id int PRIMARY KEY, body text);
         INSERT INTO posts SELECT i, 'post ' || i FROM generate_series(1, 300) i;
         CREATE TABLE users (id int PRIMARY KEY, name text);
         INSERT INTO users SELECT i, 'user ' || i FROM generate_series(1, 40) i;",
    );
    let sandbox = Sandbox::new();
    run_db(&sandbox, &db, &["backup", "--no-objects", "--name", "g1"]);

    // ls --tables: rows from the manifest, sizes of the data files.
    let tables = run_db(&sandbox, &db, &["ls", "--tables", "g1"]);
    let rows: Vec<Vec<&str>> = tables
        .stdout
        .lines()
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{}", tables.stdout);
    assert_eq!(rows[0][..2], ["public.posts", "300"]);
    assert_eq!(rows[1][..2], ["public.users", "40"]);
    let archive = sandbox.root().join(format!("g1/db/{db}.dump"));
    let sizes: u64 = std::fs::read_dir(&archive)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".dat.gz"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    let listed: u64 = rows.iter().map(|r| r[2].parse::<u64>().unwrap()).sum();
    assert_eq!(listed, sizes, "the data files' sizes");
    let tables = json(&run_db(&sandbox, &db, &["ls", "--tables", "--json", "g1"]));
    assert_eq!(tables["tables"][1]["name"], "users");
    assert_eq!(tables["tables"][1]["schema"], "public");
    assert_eq!(tables["tables"][1]["rows"], 40);
    assert!(tables["tables"][1]["bytes"].as_u64().unwrap() > 0);

    // The next night: a row updated and an index added; `users` is left alone.
    pg.psql(
        &db,
        "UPDATE posts SET body = 'edited' WHERE id = 7; CREATE INDEX posts_body ON posts (body);",
    );
    run_db(&sandbox, &db, &["backup", "--no-objects", "--name", "g2"]);
    let diff = run_db(&sandbox, &db, &["diff", "g1", "g2"]);
    let text = &diff.stdout;
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "note: 'g1' holds no objects: objects are not compared",
        "database: 1 tables with changed data, 0 added, 0 removed, 1 unchanged (of 2); schema entries: 1 added, 0 removed, 0 changed",
        "table public.posts: changed, rows 300 → 300",
        "schema + INDEX public posts_body",
    ] {
        assert!(
            lines.contains(&expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert!(
        !text.contains("users"),
        "an unchanged table is not listed:\n{text}"
    );
    let diff = json(&run_db(&sandbox, &db, &["diff", "--json", "g1", "g2"]));
    assert_eq!(diff["database"]["tables"][0]["name"], "posts");
    assert_eq!(diff["database"]["tables"][0]["old_rows"], 300);
    assert_eq!(diff["database"]["tables"][0]["change"], "changed");
    assert_eq!(diff["database"]["entries"][0]["desc"], "INDEX");
    assert_eq!(diff["database"]["entries"][0]["change"], "added");
    assert_eq!(diff["database"]["unchanged_tables"], 1);
    assert_eq!(diff["database"]["data_compared"], true);
    assert_eq!(diff["buckets"], serde_json::json!([]));
}

#[test]
fn ls_and_diff_of_objects_are_sorted_filtered_and_name_what_changed() {
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
    run(
        &sandbox,
        "unused",
        &bucket,
        &["backup", "--no-db", "--name", "g1"],
    );

    // ls: one line per object, sorted, tab-separated for scripts.
    let all = run(&sandbox, "unused", &bucket, &["ls", "g1"]);
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
    assert_eq!(fields[2], "5");
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
        "unused",
        &bucket,
        &["ls", "--prefix", "doc/", "--bucket", &bucket, "g1"],
    );
    assert_eq!(docs.stdout.lines().count(), 500);
    let some = json(&run(
        &sandbox,
        "unused",
        &bucket,
        &["ls", "--json", "--prefix", "u/0001", "g1"],
    ));
    let listed = some["objects"].as_array().unwrap();
    assert_eq!(listed.len(), 10);
    assert_eq!(listed[0]["key"], "u/00010.png");
    assert_eq!(listed[0]["size"], 6);
    assert_eq!(listed[0]["content_type"], "image/png");
    assert_eq!(some["generation"], "g1");
    assert_eq!(some["buckets"], serde_json::json!([bucket]));
    let one = run(
        &sandbox,
        "unused",
        &bucket,
        &["ls", "--json", "--prefix", "u/00010", "g1"],
    );
    snapshot::json(
        "ls",
        &one.stdout.replace(&bucket, "<bucket>"),
        &["etag", "last_modified"],
    );

    let absent = sandbox.run_with(&["ls", "--bucket", "nope", "g1"], &[]);
    assert_eq!(absent.code, 2, "{}", absent.stderr);
    assert!(
        absent.stderr.contains("holds no bucket 'nope'"),
        "{}",
        absent.stderr
    );

    // The next night: deletions, additions, a content change and a metadata-only change.
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
    run(
        &sandbox,
        "unused",
        &bucket,
        &["backup", "--no-db", "--name", "g2"],
    );

    let diff = run(&sandbox, "unused", &bucket, &["diff", "g1", "g2"]);
    let text = &diff.stdout;
    let lines: Vec<&str> = text.lines().collect();
    let summary = format!(
        "bucket {bucket}: 2 added, 3 removed, 1 changed (content), 1 changed (metadata), {} unchanged",
        objects.len() - 5
    );
    for expected in [
        summary,
        format!("- {bucket}/doc/7.txt"),
        format!("+ {bucket}/new/1.bin"),
        format!("- {bucket}/u/00000.png"),
        format!("~ {bucket}/u/00002.png (content, 5 → 11 bytes)"),
        format!("~ {bucket}/u/00003.png (metadata: content_type)"),
    ] {
        assert!(
            lines.contains(&expected.as_str()),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with(['+', '-', '~']))
            .count(),
        7,
        "{text}"
    );

    let diff = json(&run(
        &sandbox,
        "unused",
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
    let few = run(
        &sandbox,
        "unused",
        &bucket,
        &["diff", "--json", "--prefix", "u/0000", "g1", "g2"],
    );
    snapshot::json("diff", &few.stdout.replace(&bucket, "<bucket>"), &[]);
}
