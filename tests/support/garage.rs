//! A throwaway Garage S3 server: single node, `replication_factor = 1`, sqlite metadata, one
//! layout assignment, an imported key allowed to create buckets; path-style addressing with the
//! region set in its config.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::free_port;
use super::postgres::wait_until;

const KEY_NAME: &str = "fullsite-test";
const KEY_ID: &str = "GK0123456789abcdef01234567";
const SECRET: &str = "5ecre7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d";
const REGION: &str = "garage";

static BUCKETS: AtomicUsize = AtomicUsize::new(0);

/// A running throwaway Garage.
pub struct GarageServer {
    binary: PathBuf,
    config: PathBuf,
    s3_port: u16,
    child: Option<Child>,
}

/// Where the garage binary is: `FULLSITE_GARAGE`, the setup script's cache, or PATH.
pub fn garage_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FULLSITE_GARAGE") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("FULLSITE_CACHE")
        .map_or_else(|| PathBuf::from("/var/cache/fullsite"), PathBuf::from);
    let cached = cache.join("garage-2.5.0/bin/garage");
    if cached.is_file() {
        return cached;
    }
    PathBuf::from("garage")
}

impl GarageServer {
    /// Starts Garage in the new directory `dir`.
    pub fn start(dir: &Path) -> GarageServer {
        let binary = garage_binary();
        let found = Command::new(&binary)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "garage not found at {}: run scripts/setup.sh",
            binary.display()
        );
        std::fs::create_dir_all(dir).expect("create the Garage directory");
        let started = Instant::now();
        let (rpc, s3, admin) = (free_port(), free_port(), free_port());
        let secret: String = (0..64)
            .map(|i| b"0123456789abcdef"[(i * 7 + std::process::id() as usize) % 16] as char)
            .collect();
        let config = dir.join("garage.toml");
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{meta}\"\ndata_dir = \"{data}\"\ndb_engine = \"sqlite\"\n\
                 replication_factor = 1\n\
                 rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_secret = \"{secret}\"\n\n\
                 [s3_api]\ns3_region = \"{REGION}\"\napi_bind_addr = \"127.0.0.1:{s3}\"\n\
                 root_domain = \".s3.garage.localhost\"\n\n\
                 [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\nadmin_token = \"{secret}\"\n",
                meta = dir.join("meta").display(),
                data = dir.join("data").display(),
            ),
        )
        .expect("write garage.toml");
        let child = spawn_server(&binary, &config);
        let server = GarageServer {
            binary,
            config,
            s3_port: s3,
            child: Some(child),
        };
        let log_tail = || std::fs::read_to_string(dir.join("garage.log")).unwrap_or_default();
        assert!(
            wait_until(Duration::from_secs(30), || server
                .try_garage(&["status"])
                .is_some()),
            "garage did not come up:\n{}",
            log_tail()
        );
        let node = server.garage(&["node", "id", "-q"]);
        let node = node
            .trim()
            .split('@')
            .next()
            .unwrap_or_default()
            .to_string();
        server.garage(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        server.garage(&["layout", "apply", "--version", "1"]);
        assert!(
            wait_until(Duration::from_secs(30), || {
                server
                    .try_garage(&["key", "import", "--yes", KEY_ID, SECRET, "-n", KEY_NAME])
                    .is_some()
            }),
            "garage never accepted the key import:\n{}",
            log_tail()
        );
        server.garage(&["key", "allow", "--create-bucket", KEY_NAME]);
        eprintln!(
            "harness: Garage on 127.0.0.1:{s3} started in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// The S3 region configured in Garage.
    pub fn region(&self) -> &str {
        REGION
    }

    /// Access key id of the imported key.
    pub fn access_key_id(&self) -> &str {
        KEY_ID
    }

    /// Its secret.
    pub fn secret_access_key(&self) -> &str {
        SECRET
    }

    /// Environment for running `fullsite` against this server, mirroring `bucket`.
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

    /// Creates a bucket with a unique name starting with `prefix`, writable by the key.
    pub fn create_bucket(&self, prefix: &str) -> String {
        let n = BUCKETS.fetch_add(1, Ordering::SeqCst);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        self.garage(&["bucket", "create", &name]);
        self.garage(&[
            "bucket", "allow", "--read", "--write", "--owner", &name, "--key", KEY_NAME,
        ]);
        name
    }

    /// Runs the garage CLI against this server; panics with its output on failure.
    pub fn garage(&self, args: &[&str]) -> String {
        let output = self.command(args).output().expect("run the garage CLI");
        assert!(
            output.status.success(),
            "garage {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn try_garage(&self, args: &[&str]) -> Option<String> {
        let output = self.command(args).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .env("RUST_LOG", "error");
        command
    }

    /// Starts the server again on the same configuration and data (after [`Self::stop`]).
    pub fn restart(&mut self) {
        self.stop();
        self.child = Some(spawn_server(&self.binary, &self.config));
        assert!(
            wait_until(Duration::from_secs(30), || self
                .try_garage(&["bucket", "list"])
                .is_some()),
            "garage did not come back"
        );
    }

    /// The server process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `garage server`, appending its output to `garage.log` beside the config.
fn spawn_server(binary: &Path, config: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config.with_file_name("garage.log"))
        .expect("open garage.log");
    Command::new(binary)
        .arg("-c")
        .arg(config)
        .arg("server")
        .env("RUST_LOG", "garage=warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log handle"))
        .stderr(log)
        .spawn()
        .expect("start garage")
}

impl Drop for GarageServer {
    fn drop(&mut self) {
        self.stop();
    }
}
