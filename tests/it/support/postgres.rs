//! A throwaway PostgreSQL server: `initdb` + `pg_ctl` on a free loopback port in a directory it
//! owns, with password (scram-sha-256) authentication over TCP so fullsite's password path is
//! really exercised. The unix socket, in the server's directory, trusts the `postgres` bootstrap
//! user: it is used only to create the password-authenticated superuser tests connect as.
//!
//! initdb refuses to run as root, so as root the directory is handed to the `postgres` user and
//! initdb/pg_ctl run through `runuser -u postgres --`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::{free_port, log_tail, private, random_hex, running_as_root, sh_quote, spawn_reaper};

// moto.rs imports it from here.
pub use super::wait_until;

/// Superuser created for the tests (password-authenticated over TCP).
const USER: &str = "fullsite_admin";

/// Bootstrap superuser made by initdb, reachable only over the unix socket.
const BOOTSTRAP_USER: &str = "postgres";

/// How long `pg_ctl start -w` may wait for the server to accept connections.
const START_TIMEOUT_SECS: &str = "30";

static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// Where one PostgreSQL major's programs are: the server's (`initdb`, `pg_ctl`, `postgres`) and
/// the client tools paired with it (`psql`, `pg_dump`, `pg_restore`), normally the same
/// directory. For 14, whose build ships no client tools, the clients are 15's.
#[derive(Debug, Clone)]
pub struct PgInstall {
    /// Server programs.
    pub server: PathBuf,
    /// Client programs.
    pub clients: PathBuf,
}

impl PgInstall {
    /// Server and clients from one directory.
    pub fn at(bin_dir: &Path) -> PgInstall {
        PgInstall {
            server: bin_dir.to_path_buf(),
            clients: bin_dir.to_path_buf(),
        }
    }
}

/// A running throwaway PostgreSQL. Dropping it stops the server and removes its directory.
pub struct PgServer {
    bin_dir: PathBuf,
    client_dir: PathBuf,
    dir: PathBuf,
    port: u16,
    password: String,
    version: String,
    stopped: bool,
    /// Held while an SQL file loads: see [`PgServer::load_file`].
    loading: Mutex<()>,
}

impl PgServer {
    /// Starts a server of `install` in a new directory under the system temporary directory.
    pub fn start_temp(install: &PgInstall) -> PgServer {
        check_programs(install);
        PgServer::start(install, &super::temp_dir("fullsite-pg-"))
    }

    /// Starts a server of `install` in `dir` (created if needed, removed when the server is
    /// dropped or, if this process dies first, by its reaper).
    pub fn start(install: &PgInstall, dir: &Path) -> PgServer {
        check_programs(install);
        let bin_dir = install.server.as_path();
        let started = Instant::now();
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let dir = std::fs::canonicalize(dir).expect("resolve the PostgreSQL directory");
        // The socket in here trusts the bootstrap superuser: only the owner may reach it.
        private(&dir);
        spawn_reaper(&reaper_script(bin_dir, &dir));
        // Built before anything can fail, so a failed start still stops and cleans up (Drop).
        let mut server = PgServer {
            bin_dir: bin_dir.to_path_buf(),
            client_dir: install.clients.clone(),
            dir,
            port: 0,
            password: format!("pw-{}", random_hex(12)),
            version: String::new(),
            stopped: false,
            loading: Mutex::new(()),
        };
        if running_as_root() {
            hand_to_postgres_user(&server.dir);
        }
        init_cluster(bin_dir, &server.dir);
        server.port = server.pg_ctl_start();
        server.create_superuser();
        // The first connection over TCP, with the password.
        server.version = server
            .psql("postgres", "SHOW server_version")
            .trim()
            .to_string();
        eprintln!(
            "harness: PostgreSQL {} on 127.0.0.1:{} ready in {:.2}s ({})",
            server.version,
            server.port,
            started.elapsed().as_secs_f64(),
            server.dir.display()
        );
        server
    }

    /// `pg_ctl start -w` on a free port, listening on 127.0.0.1 and on a socket in the server's
    /// directory; the port. pg_ctl itself polls until the server accepts connections.
    fn pg_ctl_start(&self) -> u16 {
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        let mut attempts = 0;
        loop {
            attempts += 1;
            let port = free_port();
            let options = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=60",
                self.dir.display()
            );
            let output = as_owner(
                Command::new(self.bin_dir.join("pg_ctl"))
                    .arg("-D")
                    .arg(&data)
                    .arg("-l")
                    .arg(&log)
                    .args(["-w", "-t", START_TIMEOUT_SECS, "-o", &options, "start"]),
                &self.dir,
            );
            if output.status.success() {
                return port;
            }
            // Another process may have taken the port between our probe and the server's bind.
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let port_taken = text.contains("could not bind") || text.contains("already in use");
            assert!(
                port_taken && attempts < 3,
                "pg_ctl start of {} failed (waited up to {START_TIMEOUT_SECS}s):\n{}{}\n{}",
                data.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                log_tail(&log, 30)
            );
        }
    }

    /// Creates [`USER`] with the password, over the unix socket as the bootstrap user (the SQL
    /// goes through stdin, so the password is not on a command line).
    fn create_superuser(&self) {
        let sql = format!(
            "CREATE ROLE {USER} LOGIN SUPERUSER PASSWORD '{}';\n",
            self.password
        );
        let mut psql = Command::new(self.client_dir.join("psql"));
        psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres"])
            .args(["-U", BOOTSTRAP_USER, "-p", &self.port.to_string(), "-h"])
            .arg(&self.dir);
        let mut child = without_pg_env(&mut psql)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run psql: {e}"));
        child
            .stdin
            .take()
            .expect("psql stdin is piped")
            .write_all(sql.as_bytes())
            .expect("write to psql");
        let output = child.wait_with_output().expect("wait for psql");
        assert!(
            output.status.success(),
            "creating the role {USER} over the unix socket failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The address clients connect to.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser tests connect as (password-authenticated).
    pub fn user(&self) -> &str {
        USER
    }

    /// Its password (random per server).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The server's `server_version`, e.g. "15.14 (Debian 15.14-0+deb12u1)".
    pub fn version(&self) -> &str {
        &self.version
    }

    /// This server's programs and the client tools paired with it.
    pub fn install(&self) -> PgInstall {
        PgInstall {
            server: self.bin_dir.clone(),
            clients: self.client_dir.clone(),
        }
    }

    /// The server's major version (14, 15, ...).
    pub fn major(&self) -> u32 {
        self.version
            .split(['.', ' '])
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("unparsable server_version {:?}", self.version))
    }

    /// The major version of the client tools (pg_dump, pg_restore) paired with this server:
    /// the server's own, except for 14 (15's tools).
    pub fn client_major(&self) -> u32 {
        let output = Command::new(self.client_dir.join("pg_dump"))
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("cannot run pg_dump --version: {e}"));
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .find_map(|word| word.split('.').next()?.parse().ok())
            .unwrap_or_else(|| panic!("unparsable pg_dump --version output"))
    }

    /// Creates an empty database with a name unique in this test run: `prefix_<pid>_<n>`.
    pub fn create_database(&self, prefix: &str) -> String {
        let n = DATABASES.fetch_add(1, Ordering::SeqCst);
        let name = format!("{prefix}_{}_{n}", std::process::id());
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        name
    }

    /// Runs SQL with `psql -X -At -v ON_ERROR_STOP=1` over TCP with the password; returns stdout
    /// (unaligned, tuples only). Panics with psql's stderr when it fails.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.client(
            "psql",
            &["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
        )
    }

    /// Runs the SQL file `path` in `db` with psql (`ON_ERROR_STOP`), one file at a time per
    /// server. Corpora create cluster-wide roles guarded by "create it unless it exists",
    /// which two sessions running at once can both pass; the tests of the whole run share the
    /// servers, so two of them may load the same corpus at the same moment.
    pub fn load_file(&self, db: &str, path: &Path) {
        let file = path.to_str().expect("SQL file paths are UTF-8");
        let _one_at_a_time = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        self.client(
            "psql",
            &["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", file],
        );
    }

    /// Runs one of this server's client programs against it; returns stdout, panics on failure.
    pub fn client(&self, program: &str, args: &[&str]) -> String {
        self.client_from(&self.client_dir, program, args)
    }

    /// [`PgServer::client`] with the program from `bin_dir` (see [`PgServer::command_from`]).
    pub fn client_from(&self, bin_dir: &Path, program: &str, args: &[&str]) -> String {
        let output = self
            .command_from(bin_dir, program, args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} against 127.0.0.1:{} failed:\n{}",
            self.port,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A `Command` for one of this server's client programs, connected over TCP as [`USER`]
    /// with the password in the child's environment only. No `PG*` variable of the caller's
    /// environment leaks in.
    pub fn client_command(&self, program: &str, args: &[&str]) -> Command {
        self.command_from(&self.client_dir, program, args)
    }

    /// [`PgServer::client_command`] with the program from `bin_dir`: another build of the
    /// client tools (see [`crate::support::compression_tools`]).
    pub fn command_from(&self, bin_dir: &Path, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(bin_dir.join(program));
        without_pg_env(&mut command)
            .args(["-h", self.host(), "-p", &self.port.to_string(), "-U", USER])
            .args(args)
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "10");
        command
    }

    /// Freezes the server (SIGSTOP to the postmaster and every backend): connections stay
    /// open and say nothing, and new ones are accepted by the kernel but never answered, as
    /// a hung VM or a partition without a reset looks to a client.
    pub fn freeze(&self) {
        self.signal_all("STOP");
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal_all("CONT");
    }

    /// Sends `signal` to the postmaster and its children.
    fn signal_all(&self, signal: &str) {
        let pid_file = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .expect("read postmaster.pid");
        let postmaster = pid_file
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let mut pids = vec![postmaster.clone()];
        for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            let parent = status
                .lines()
                .find_map(|l| l.strip_prefix("PPid:"))
                .map(str::trim);
            if parent == Some(postmaster.as_str()) {
                pids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .args(&pids)
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pids:?} failed");
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`); the directory stays until drop.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if !self.dir.join("data/postmaster.pid").exists() {
            return;
        }
        let _ = as_owner(
            Command::new(self.bin_dir.join("pg_ctl"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"]),
            &self.dir,
        );
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Panics unless `install` holds the server and client programs the harness and tests use.
fn check_programs(install: &PgInstall) {
    let server = ["initdb", "pg_ctl", "postgres"].map(|p| (&install.server, p));
    let clients = ["psql", "pg_dump", "pg_restore"].map(|p| (&install.clients, p));
    for (dir, program) in server.into_iter().chain(clients) {
        assert!(
            dir.join(program).is_file(),
            "{program} not found in {}: run scripts/setup.sh",
            dir.display()
        );
    }
}

/// initdb in `dir/data`: UTF-8, trust on the unix socket for the bootstrap user, scram-sha-256 for every TCP
/// (`host`) line, no fsync. Falls back to the C locale where C.UTF-8 does not exist.
fn init_cluster(bin_dir: &Path, dir: &Path) {
    let data = &dir.join("data");
    let mut last = None;
    for locale in ["--locale=C.UTF-8", "--locale=C"] {
        let output = as_owner(
            Command::new(bin_dir.join("initdb"))
                .arg("-D")
                .arg(data)
                .args([
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-U",
                    BOOTSTRAP_USER,
                    "--no-sync",
                    "-E",
                    "UTF8",
                    locale,
                ]),
            dir,
        );
        if output.status.success() {
            return;
        }
        let _ = std::fs::remove_dir_all(data);
        last = Some(output);
    }
    let output = last.expect("initdb ran");
    panic!(
        "initdb -D {} failed:\n{}{}",
        data.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Gives `dir` to the `postgres` user and lets that user reach it (adds o+x to the parent,
/// never removes a permission: the parent may be /tmp itself).
fn hand_to_postgres_user(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let status = Command::new("chown")
        .args(["-R", "postgres:"])
        .arg(dir)
        .status()
        .unwrap_or_else(|e| panic!("cannot run chown: {e}"));
    assert!(
        status.success(),
        "chown -R postgres: {} failed: is there a `postgres` user? run scripts/setup.sh",
        dir.display()
    );
    if let Some(parent) = dir.parent()
        && let Ok(meta) = std::fs::metadata(parent)
    {
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 {
            let _ = std::fs::set_permissions(parent, std::fs::Permissions::from_mode(mode | 0o001));
        }
    }
}

/// Runs `command` as the owner of the data directory: through `runuser -u postgres --` when
/// this process is root, as is otherwise. Runs in `cwd`, which that user can enter (initdb
/// complains about a working directory it cannot read, such as /root).
fn as_owner(command: &Command, cwd: &Path) -> Output {
    let mut wrapped = if running_as_root() {
        let mut runuser = Command::new(runuser());
        runuser
            .args(["-u", "postgres", "--"])
            .arg(command.get_program());
        runuser
    } else {
        Command::new(command.get_program())
    };
    wrapped.args(command.get_args());
    without_pg_env(&mut wrapped)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", command.get_program().display()))
}

/// util-linux's `runuser` (in /usr/sbin, which a test's PATH may lack).
fn runuser() -> PathBuf {
    super::find_program("runuser").unwrap_or_else(|| {
        panic!("runuser not found: it runs initdb as the postgres user; run scripts/setup.sh")
    })
}

/// Shell commands for the reaper: stop the server if its postmaster is still there, then remove
/// the directory (unless `Drop` already did).
fn reaper_script(bin_dir: &Path, dir: &Path) -> String {
    let data = dir.join("data");
    let owner = if running_as_root() {
        format!("{} -u postgres -- ", sh_quote(&runuser()))
    } else {
        String::new()
    };
    format!(
        "if [ -f {pid} ]; then {owner}{pg_ctl} -D {data} -m immediate -w stop; fi; \
         if [ -e {dir} ]; then rm -rf {dir}; fi",
        pid = sh_quote(&data.join("postmaster.pid")),
        pg_ctl = sh_quote(&bin_dir.join("pg_ctl")),
        data = sh_quote(&data),
        dir = sh_quote(dir),
    )
}

/// Unsets the caller's `PG*` variables (PGHOST, PGSERVICE, PGPASSFILE, PGOPTIONS...), so nothing
/// from a developer's shell changes where or how the tools connect.
fn without_pg_env(command: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            command.env_remove(key);
        }
    }
    command
}
