//! A throwaway Garage S3 server: single node, `replication_factor = 1`, sqlite metadata, one
//! layout assignment, and an imported key allowed to create buckets. Path-style addressing;
//! the region is the one in its config.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{free_ports, log_tail, private, random_hex, sh_quote, spawn_reaper, wait_until};

/// Name of the imported key in Garage.
const KEY_NAME: &str = "fullsite-test";
/// The S3 region (`s3_region` in the config; requests signed for another region are refused).
const REGION: &str = "garage";
/// Bound on each wait: the server answering, the layout becoming usable.
const WAIT: Duration = Duration::from_secs(30);

static BUCKETS: AtomicUsize = AtomicUsize::new(0);

/// A running throwaway Garage. Dropping it stops the server and removes its directory.
pub struct GarageServer {
    binary: PathBuf,
    dir: PathBuf,
    config: PathBuf,
    s3_port: u16,
    key_id: String,
    secret: String,
    child: Option<Child>,
}

/// Where the garage binary is: `FULLSITE_GARAGE`, else the setup script's cache
/// (`$FULLSITE_CACHE/garage-2.5.0/bin/garage`), else `garage` on PATH. Panics when none exists.
pub fn garage_binary() -> PathBuf {
    if let Some(path) = super::env_path("FULLSITE_GARAGE") {
        assert!(
            path.is_file(),
            "FULLSITE_GARAGE={} does not exist: run scripts/setup.sh",
            path.display()
        );
        return path;
    }
    let cached = super::cache_dir().join("garage-2.5.0/bin/garage");
    if cached.is_file() {
        return cached;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("garage"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "garage not found (FULLSITE_GARAGE unset, no {}, none on PATH): run scripts/setup.sh",
                cached.display()
            )
        })
}

impl GarageServer {
    /// Starts Garage in a new directory under the system temporary directory.
    pub fn start_temp() -> GarageServer {
        let binary = garage_binary();
        GarageServer::start_with(binary, &super::temp_dir("fullsite-garage-"))
    }

    /// Starts Garage in `dir` (created if needed, removed when the server is dropped or, if this
    /// process dies first, by its reaper).
    pub fn start(dir: &Path) -> GarageServer {
        GarageServer::start_with(garage_binary(), dir)
    }

    fn start_with(binary: PathBuf, dir: &Path) -> GarageServer {
        let started = Instant::now();
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let dir = std::fs::canonicalize(dir).expect("resolve the Garage directory");
        // The config holds the RPC secret and the admin token.
        private(&dir);
        let config = dir.join("garage.toml");
        spawn_reaper(&reaper_script(&dir, &config));
        // Built before anything can fail, so a failed start still stops and cleans up (Drop).
        let mut server = GarageServer {
            binary,
            config,
            s3_port: 0,
            key_id: format!("GK{}", random_hex(12)),
            secret: random_hex(32),
            child: None,
            dir,
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            server.write_config();
            server.spawn();
            match server.wait_for_rpc() {
                Ok(()) => break,
                // Another process may have taken a port between our probe and Garage's bind.
                Err(_) if server.log_tail().contains("in use") && attempts < 3 => server.stop(),
                Err(why) => panic!("garage did not start: {why}\n{}", server.log_tail()),
            }
        }

        let node = server.garage(&["node", "id", "-q"]);
        let node = node
            .trim()
            .split('@')
            .next()
            .unwrap_or_default()
            .to_string();
        server.garage(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        server.garage(&["layout", "apply", "--version", "1"]);
        // Right after `layout apply` the cluster may answer "Layout not ready" for a moment.
        let import = [
            "key",
            "import",
            "--yes",
            &server.key_id,
            &server.secret,
            "-n",
            KEY_NAME,
        ];
        let mut last = String::new();
        let imported = wait_until(WAIT, || {
            let output = server.run(&import);
            if output.status.success() {
                return true;
            }
            last = describe(&output);
            assert!(
                last.contains("Layout not ready") || last.contains("quorum"),
                "garage {import:?} failed:\n{last}"
            );
            false
        });
        assert!(
            imported,
            "the layout never became ready for `garage key import` within {WAIT:?}:\n{last}\n{}",
            server.log_tail()
        );
        server.garage(&["key", "allow", "--create-bucket", KEY_NAME]);
        eprintln!(
            "harness: Garage on 127.0.0.1:{} ready in {:.2}s ({})",
            server.s3_port,
            started.elapsed().as_secs_f64(),
            server.dir.display()
        );
        server
    }

    /// Writes the config with fresh ports and secrets.
    fn write_config(&mut self) {
        let [rpc, s3, admin] = free_ports::<3>();
        self.s3_port = s3;
        let text = format!(
            r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{rpc_secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
admin_token = "{admin_token}"
"#,
            meta = self.dir.join("meta").display(),
            data = self.dir.join("data").display(),
            rpc_secret = random_hex(32),
            admin_token = random_hex(32),
        );
        std::fs::write(&self.config, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", self.config.display()));
    }

    /// Starts `garage server` as a child, its output appended to `garage.log`, and records its
    /// pid in `garage.pid` for the reaper.
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("garage.log"))
            .expect("open garage.log");
        let mut command = Command::new(&self.binary);
        command
            .arg("-c")
            .arg(&self.config)
            .arg("server")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the garage.log handle"))
            .stderr(log);
        let child = isolated(&mut command)
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        std::fs::write(self.dir.join("garage.pid"), child.id().to_string())
            .expect("write garage.pid");
        self.child = Some(child);
    }

    /// Waits until `garage status` answers; on failure, why.
    fn wait_for_rpc(&mut self) -> Result<(), String> {
        let mut exited = None;
        let up = wait_until(WAIT, || {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                exited = Some(status);
                return true;
            }
            self.run(&["status"]).status.success()
        });
        match (up, exited) {
            (true, None) => Ok(()),
            (_, Some(status)) => Err(format!("`garage server` exited ({status})")),
            (false, None) => Err(format!("`garage status` did not succeed within {WAIT:?}")),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// The S3 region configured in Garage.
    pub fn region(&self) -> &str {
        REGION
    }

    /// Access key id of the imported key (`GK` + 24 hex, random per server).
    pub fn access_key_id(&self) -> &str {
        &self.key_id
    }

    /// Its secret (64 hex, random per server).
    pub fn secret_access_key(&self) -> &str {
        &self.secret
    }

    /// Environment for running `fullsite` against this server alone, mirroring `bucket`.
    pub fn fullsite_env(&self, bucket: &str) -> Vec<(String, String)> {
        [
            ("STGY_STORAGE_S3_ENDPOINT", self.endpoint()),
            ("STGY_STORAGE_S3_REGION", self.region().to_string()),
            (
                "STGY_STORAGE_S3_ACCESS_KEY_ID",
                self.access_key_id().to_string(),
            ),
            (
                "STGY_STORAGE_S3_SECRET_ACCESS_KEY",
                self.secret_access_key().to_string(),
            ),
            ("STGY_STORAGE_S3_BUCKETS", bucket.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Creates a bucket with a name unique in this test run (`prefix-<pid>-<n>`) that the key
    /// may read, write and administer.
    pub fn create_bucket(&self, prefix: &str) -> String {
        let n = BUCKETS.fetch_add(1, Ordering::SeqCst);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        self.garage(&["bucket", "create", &name]);
        self.garage(&[
            "bucket", "allow", "--read", "--write", "--owner", &name, "--key", KEY_NAME,
        ]);
        name
    }

    /// Runs the garage CLI against this server; returns stdout, panics with its output on
    /// failure.
    pub fn garage(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "garage {args:?} failed:\n{}",
            describe(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs the garage CLI with this server's config (and nothing from the caller's `GARAGE_*`
    /// or `RUST_LOG`, which would override it or flood stderr).
    fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(&self.binary);
        command.arg("-c").arg(&self.config).args(args);
        isolated(&mut command)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()))
    }

    /// Starts the server again on the same configuration and data (after [`Self::stop`]).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
        let started = Instant::now();
        let up = wait_until(WAIT, || self.run(&["bucket", "list"]).status.success());
        assert!(
            up,
            "garage did not come back within {:?}:\n{}",
            started.elapsed(),
            self.log_tail()
        );
    }

    /// The server process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Freezes the server (SIGSTOP): its connections stay open and say nothing, as a hung VM
    /// or a partition without a reset looks to a client.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.pid().expect("garage is running");
        let status = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// Stops the server (SIGKILL); the directory stays until drop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(self.dir.join("garage.pid"));
        }
    }

    fn log_tail(&self) -> String {
        log_tail(&self.dir.join("garage.log"), 30)
    }
}

impl Drop for GarageServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Unsets the caller's `GARAGE_*` variables (GARAGE_RPC_SECRET, GARAGE_RPC_HOST,
/// GARAGE_ADMIN_TOKEN...), which would take precedence over the config file.
fn isolated(command: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GARAGE_") {
            command.env_remove(key);
        }
    }
    command
}

fn describe(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Shell commands for the reaper: kill the server recorded in `garage.pid` if that pid is still
/// a garage running this config (never an unrelated process that reused the pid; a zombie has an
/// empty cmdline, so it counts as gone), then remove the directory (unless `Drop` already did).
fn reaper_script(dir: &Path, config: &Path) -> String {
    format!(
        "pidfile={pidfile}; \
         ours() {{ grep -qF {config} \"/proc/$1/cmdline\" 2>/dev/null; }}; \
         if [ -f \"$pidfile\" ]; then p=$(cat \"$pidfile\"); \
           if ours \"$p\"; then \
             kill \"$p\"; n=0; \
             while ours \"$p\" && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done; \
             if ours \"$p\"; then kill -9 \"$p\"; fi; \
           fi; \
         fi; \
         if [ -e {dir} ]; then rm -rf {dir}; fi",
        pidfile = sh_quote(&dir.join("garage.pid")),
        config = sh_quote(config),
        dir = sh_quote(dir),
    )
}
