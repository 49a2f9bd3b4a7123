//! A throwaway moto S3 server (from the setup script's cache), for what Garage does not
//! implement: bucket policies. Any credentials are accepted; region us-east-1.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::postgres::wait_until;
use super::{cache_dir, free_port};

/// A running moto server.
pub struct MotoServer {
    port: u16,
    child: Child,
}

impl MotoServer {
    /// Starts moto on a free loopback port.
    pub fn start() -> MotoServer {
        let dir: PathBuf = std::env::var_os("FULLSITE_MOTO_DIR")
            .map_or_else(|| cache_dir().join("moto"), PathBuf::from);
        assert!(
            dir.join("moto").is_dir(),
            "moto not found in {}: run scripts/setup.sh",
            dir.display()
        );
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("PYTHONPATH", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let up = wait_until(Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "moto did not start on port {port}");
        MotoServer { port, child }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
