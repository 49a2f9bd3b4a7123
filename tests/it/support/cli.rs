//! Running the real `fullsite` binary from tests, isolated from the caller's environment.
//!
//! Every run gets a clean environment as far as fullsite is concerned (no inherited
//! `STGY_*`, `RUST_LOG` or `FULLSITE_*` variables) and its own working directory, so a `.env`
//! in the repository or the developer's shell can never leak into a test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The outcome of one run.
#[derive(Debug)]
pub struct Run {
    /// Exit code (signals are mapped by the binary itself, so this is always set).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error (the log).
    pub stderr: String,
}

/// A scratch working directory and backup root for one test.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// A new empty sandbox; the root (`<sandbox>/root`) does not exist yet.
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("create a temporary directory"),
        }
    }

    /// The working directory fullsite runs in (where a `.env` would be read).
    pub fn cwd(&self) -> &Path {
        self.dir.path()
    }

    /// The backup root used by [`Sandbox::run`].
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The root's entries other than the lock file, sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root())
            .expect("read the backup root")
            .map(|e| {
                e.expect("read an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|n| n != ".lock")
            .collect();
        names.sort();
        names
    }

    /// A `Command` for the binary with an isolated environment and `STGY_BACKUP_ROOT` set.
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fullsite"));
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("STGY_") || key.starts_with("FULLSITE_") || key == "RUST_LOG" {
                command.env_remove(key.as_ref());
            }
        }
        command
            .args(args)
            .current_dir(self.cwd())
            .env("STGY_BACKUP_ROOT", self.root())
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        command
    }

    /// Runs the binary to completion.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let output = self
            .command(args, env)
            .output()
            .expect("run the fullsite binary");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs the binary with no extra environment.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// Starts the binary with `FULLSITE_TEST_PAUSE_AT=point` and returns once it reports that
    /// it is paused there (holding whatever it holds at that point).
    pub fn spawn_paused(&self, args: &[&str], point: &str) -> Paused {
        self.spawn_paused_with(args, &[], point)
    }

    /// [`Sandbox::spawn_paused`] with extra environment (e.g. `FULLSITE_TEST_PAUSE_SECS`).
    pub fn spawn_paused_with(&self, args: &[&str], env: &[(&str, &str)], point: &str) -> Paused {
        let mut child = self
            .command(args, env)
            .env("FULLSITE_TEST_PAUSE_AT", point)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the fullsite binary");
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let out = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
            text
        });
        let (tx, rx) = mpsc::channel();
        let needle = format!("paused at {point}");
        let log = std::thread::spawn(move || {
            let mut log = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.push_str(&line);
                log.push('\n');
                if line.contains(&needle) {
                    let _ = tx.send(true);
                }
            }
            let _ = tx.send(false);
            log
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(true) => Paused {
                child,
                log: Some(log),
                out: Some(out),
            },
            Ok(false) => {
                let _ = child.wait();
                let log = log.join().unwrap_or_default();
                panic!("fullsite exited before pausing at {point}:\n{log}")
            }
            Err(_) => {
                let _ = child.kill();
                panic!("fullsite did not pause at {point} within 60 s")
            }
        }
    }
}

/// Disk use of `path` in KiB, as `du -sk` reports it (hard links counted once).
pub fn du_kib(path: &Path) -> u64 {
    let out = Command::new("du")
        .arg("-sk")
        .arg(path)
        .output()
        .expect("run du");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("du prints a size")
}

/// A running fullsite process paused at a pause point.
pub struct Paused {
    /// The process.
    pub child: Child,
    log: Option<std::thread::JoinHandle<String>>,
    out: Option<std::thread::JoinHandle<String>>,
}

impl Paused {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. "KILL", "TERM", "INT") and returns the exit code, or `None` when
    /// the process was killed by the signal without exiting itself.
    pub fn signal_and_wait(mut self, signal: &str) -> Option<i32> {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
        self.child.wait().expect("wait for fullsite").code()
    }

    /// Waits for the process to finish on its own; returns its exit code and whole log.
    pub fn wait(self) -> (Option<i32>, String) {
        let (code, _, log) = self.wait_with_stdout();
        (code, log)
    }

    /// Waits for the process to finish on its own; returns its exit code, standard output and
    /// whole log.
    pub fn wait_with_stdout(mut self) -> (Option<i32>, String, String) {
        let code = self.child.wait().expect("wait for fullsite").code();
        let join = |handle: Option<std::thread::JoinHandle<String>>| {
            handle
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default()
        };
        let log = join(self.log.take());
        let out = join(self.out.take());
        (code, out, log)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
