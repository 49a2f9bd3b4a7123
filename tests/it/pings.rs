//! Monitor pings received by a local HTTP server: start and success for a backup, a prune and a
//! drill, start and a failure with the error as its body for a failing backup, the token never
//! in the log, and a monitor that never answers does not hold a backup past the ping timeout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::cli::{Run, Sandbox};
use crate::support::db::env_for_server;
use crate::support::{DISTRIBUTION_MAJOR, pg};

/// A monitor on a free loopback port recording `METHOD PATH BODY` per request; it answers
/// 200, or never when `hang`.
struct Monitor {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Monitor {
    fn start(hang: bool) -> Monitor {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                if hang {
                    held.push(stream); // accepted, never answered
                    continue;
                }
                let record = record.clone();
                std::thread::spawn(move || serve(stream, &record));
            }
        });
        Monitor { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/ping/secret-token-123", self.port)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, record: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap(), parts.next().unwrap());
    record.lock().unwrap().push(
        format!("{method} {path} {}", String::from_utf8_lossy(&body))
            .trim_end()
            .to_string(),
    );
    let mut stream = stream;
    let _ =
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK");
}

fn run(sandbox: &Sandbox, db: &str, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let env = env_for_server(pg(DISTRIBUTION_MAJOR), db);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.extend_from_slice(extra);
    sandbox.run_with(args, &pairs)
}

#[test]
fn backup_prune_and_drill_ping_start_and_success_and_a_failure_posts_its_error() {
    let server = pg(DISTRIBUTION_MAJOR);
    let db = server.create_database("pings");
    server.psql(&db, "CREATE TABLE t (i int); INSERT INTO t VALUES (1)");
    let sandbox = Sandbox::new();
    let monitor = Monitor::start(false);
    let url = monitor.url();
    let backup = run(
        &sandbox,
        &db,
        &["backup", "--no-objects", "--name", "pinged"],
        &[("FULLSITE_PING_URL", &url)],
    );
    assert_eq!(backup.code, 0, "{}", backup.stderr);
    assert_eq!(
        monitor.seen(),
        [
            "GET /ping/secret-token-123/start",
            "GET /ping/secret-token-123"
        ]
    );
    assert!(!backup.stderr.contains("secret-token"), "{}", backup.stderr);

    let prune = run(&sandbox, &db, &["prune", "--ping-url", &url], &[]);
    assert_eq!(prune.code, 0, "{}", prune.stderr);
    assert_eq!(monitor.seen().len(), 4, "{:?}", monitor.seen());
    let drill = run(&sandbox, &db, &["drill", "--ping-url", &url], &[]);
    assert_eq!(drill.code, 0, "{}", drill.stderr);
    assert_eq!(
        monitor.seen()[4..],
        [
            "GET /ping/secret-token-123/start",
            "GET /ping/secret-token-123"
        ]
    );

    let failing = run(
        &sandbox,
        "no_such_database",
        &["backup", "--no-objects", "--name", "not-pinged", "-v"],
        &[("FULLSITE_PING_URL", &url)],
    );
    assert_eq!(failing.code, 1, "the ping does not change the exit code");
    let seen = monitor.seen();
    assert_eq!(seen[6], "GET /ping/secret-token-123/start");
    assert!(
        seen[7].starts_with("POST /ping/secret-token-123/fail cannot connect to postgresql://")
            && seen[7].contains("no_such_database"),
        "{seen:?}"
    );
    assert!(
        !failing.stderr.contains("secret-token"),
        "{}",
        failing.stderr
    );
}

#[test]
fn a_monitor_that_never_answers_does_not_hold_the_backup_past_the_timeout() {
    let server = pg(DISTRIBUTION_MAJOR);
    let db = server.create_database("pings_hang");
    server.psql(&db, "CREATE TABLE t (i int)");
    let sandbox = Sandbox::new();
    let monitor = Monitor::start(true);
    let started = Instant::now();
    let backup = run(
        &sandbox,
        &db,
        &["backup", "--no-objects", "--name", "hung-monitor"],
        &[("FULLSITE_PING_URL", &monitor.url())],
    );
    let took = started.elapsed();
    assert_eq!(backup.code, 0, "{}", backup.stderr);
    assert!(sandbox.root().join("hung-monitor").is_dir());
    assert!(
        took < Duration::from_secs(16),
        "a hung monitor held the backup {took:?} (ping timeout 10 s)"
    );
    assert!(
        backup
            .stderr
            .contains("monitor ping (success) to http://127.0.0.1:")
            && backup.stderr.contains("failed: no answer within 10s"),
        "{}",
        backup.stderr
    );
    assert!(!backup.stderr.contains("secret-token"), "{}", backup.stderr);
}
