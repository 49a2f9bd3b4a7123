//! A throwaway PostgreSQL server: `initdb` + `pg_ctl` on a free loopback port in a temporary
//! directory, with password (scram-sha-256) authentication over TCP so the password path of
//! fullsite is exercised. As root, initdb and pg_ctl run as the `postgres` user (initdb refuses
//! root), in a directory that user owns.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{free_port, running_as_root};

/// Superuser created for the tests.
const USER: &str = "fullsite_admin";
/// Its password.
const PASSWORD: &str = "Harness-Pg-Secret-7781";

static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// A running throwaway PostgreSQL.
pub struct PgServer {
    bin_dir: PathBuf,
    dir: PathBuf,
    port: u16,
    version: String,
    stopped: bool,
}

impl PgServer {
    /// Starts a server from `bin_dir` in the new directory `dir` (removed by the caller).
    pub fn start(bin_dir: &Path, dir: &Path) -> PgServer {
        for tool in [
            "initdb",
            "pg_ctl",
            "postgres",
            "psql",
            "pg_dump",
            "pg_restore",
        ] {
            assert!(
                bin_dir.join(tool).is_file(),
                "{tool} not found in {}: run scripts/setup.sh",
                bin_dir.display()
            );
        }
        let dir = dir.to_path_buf();
        std::fs::create_dir_all(&dir).expect("create the PostgreSQL directory");
        let data = dir.join("data");
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, format!("{PASSWORD}\n")).expect("write the password file");
        if running_as_root() {
            if let Some(parent) = dir.parent() {
                chmod(parent, "755");
            }
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(&dir)
                .status()
                .expect("run chown");
            assert!(status.success(), "chown postgres {} failed", dir.display());
        }
        let started = Instant::now();
        run_as_owner(
            Command::new(bin_dir.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    USER,
                    "-A",
                    "scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ])
                .arg(format!("--pwfile={}", pwfile.display())),
            "initdb",
        );
        let port = free_port();
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=60",
            dir.display()
        );
        run_as_owner(
            Command::new(bin_dir.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.join("server.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"]),
            "pg_ctl start",
        );
        let mut server = PgServer {
            bin_dir: bin_dir.to_path_buf(),
            dir,
            port,
            version: String::new(),
            stopped: false,
        };
        server.version = server
            .psql("postgres", "SHOW server_version")
            .trim()
            .to_string();
        eprintln!(
            "harness: PostgreSQL {} on 127.0.0.1:{port} started in {:.1}s",
            server.version,
            started.elapsed().as_secs_f64()
        );
        server
    }

    /// The address clients connect to.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser (password-authenticated).
    pub fn user(&self) -> &str {
        USER
    }

    /// Its password.
    pub fn password(&self) -> &str {
        PASSWORD
    }

    /// The server's `server_version`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Directory of this server's client programs (psql, pg_dump, pg_restore).
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// Creates an empty database with a unique name starting with `prefix`.
    pub fn create_database(&self, prefix: &str) -> String {
        let n = DATABASES.fetch_add(1, Ordering::SeqCst);
        let name = format!("{prefix}_{}_{n}", std::process::id());
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        name
    }

    /// Runs SQL with psql over TCP with the password; returns stdout (unaligned, tuples only).
    /// Panics with psql's stderr when it fails.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.client(
            "psql",
            &["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
        )
    }

    /// Runs one of this server's client programs against it; returns stdout, panics on failure.
    pub fn client(&self, program: &str, args: &[&str]) -> String {
        let output = self
            .client_command(program, args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A `Command` for one of this server's client programs, connected with the password.
    pub fn client_command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        command
            .args(["-h", self.host(), "-p", &self.port.to_string(), "-U", USER])
            .args(args)
            .env("PGPASSWORD", PASSWORD)
            .env_remove("PGSERVICE")
            .env("PGCONNECT_TIMEOUT", "10");
        command
    }

    /// Stops the server at once.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let mut command = Command::new(self.bin_dir.join("pg_ctl"));
        command
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = owner_command(&mut command).output();
    }

    /// Directory holding the data directory and socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `check` passes or `limit` elapses.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn owner_command(command: &mut Command) -> Command {
    if !running_as_root() {
        return std::mem::replace(command, Command::new("true"));
    }
    let mut wrapped = Command::new("runuser");
    wrapped
        .args(["-u", "postgres", "--"])
        .arg(command.get_program())
        .args(command.get_args());
    wrapped
}

fn run_as_owner(command: &mut Command, what: &str) {
    let output = owner_command(command)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn chmod(path: &Path, mode: &str) {
    let _ = Command::new("chmod").arg(mode).arg(path).status();
}
