//! The harness itself: a real PostgreSQL that enforces passwords over TCP, and a real Garage
//! answering S3 requests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::servers;

#[test]
fn postgres_stores_rows_and_refuses_a_wrong_password() {
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
    assert_eq!(
        pg.psql(
            &db,
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ),
        "t\n",
        "the test user is a superuser"
    );

    // Every TCP line of pg_hba.conf asks for a scram-sha-256 password...
    let host_rules = pg.psql(
        &db,
        "SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE type LIKE 'host%'",
    );
    assert_eq!(host_rules, "scram-sha-256\n");

    // ...and a wrong one is refused.
    let wrong = pg
        .client_command("psql", &["-X", "-d", &db, "-c", "SELECT 1"])
        .env("PGPASSWORD", "not-the-password")
        .output()
        .unwrap();
    assert!(!wrong.status.success(), "a wrong password must be refused");
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
}

#[test]
fn every_create_database_call_gives_a_new_name() {
    let pg = &servers().pg;
    let first = pg.create_database("twice");
    let second = pg.create_database("twice");
    assert_ne!(first, second);
    let listed = pg.psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname IN ('{first}', '{second}')"),
    );
    assert_eq!(listed, "2\n", "both databases exist");
}

#[test]
fn garage_creates_buckets_and_answers_s3_requests() {
    let s3 = &servers().s3;
    let bucket = s3.create_bucket("smoke");
    assert!(s3.garage(&["bucket", "list"]).contains(&bucket));
    let info = s3.garage(&["bucket", "info", &bucket]);
    assert!(
        info.contains(s3.access_key_id()),
        "the key is allowed on the bucket:\n{info}"
    );

    // An unsigned request reaches the S3 API and is refused with an S3 XML error.
    let address = s3.endpoint().trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /{bucket}/ HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.lines().next().unwrap_or_default();
    assert!(
        status.starts_with("HTTP/1.1 4"),
        "an unsigned request is refused: {answer}"
    );
    assert!(answer.contains("<Error>"), "an S3 error document: {answer}");
}
