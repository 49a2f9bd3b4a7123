//! The harness itself: real PostgreSQL with password authentication, real Garage answering S3.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use support::servers;

#[test]
fn postgres_is_real_and_enforces_passwords() {
    let pg = &servers().pg;
    let db = pg.create_database("smoke");
    pg.psql(
        &db,
        "CREATE TABLE t (v text); INSERT INTO t VALUES ('a'), ('b');",
    );
    assert_eq!(
        pg.psql(&db, "SELECT string_agg(v, ',' ORDER BY v) FROM t"),
        "a,b\n"
    );
    assert_ne!(db, pg.create_database("smoke"), "every database is new");
    let wrong = pg
        .client_command("psql", &["-X", "-d", &db, "-c", "SELECT 1"])
        .env("PGPASSWORD", "not-the-password")
        .output()
        .unwrap();
    assert!(!wrong.status.success(), "a wrong password must be refused");
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("password authentication failed"));
}

#[test]
fn garage_serves_s3_and_creates_buckets() {
    let s3 = &servers().s3;
    let bucket = s3.create_bucket("smoke");
    assert!(s3.garage(&["bucket", "list"]).contains(&bucket));
    let address = s3.endpoint().trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "GET /{bucket} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 4"),
        "an unsigned request is refused by S3: {answer}"
    );
    assert!(
        answer.contains("<Error>") || answer.contains("<?xml"),
        "{answer}"
    );
}
