//! Logging: `tracing` to stderr, one line per event, so stdout carries only data.
//!
//! Verbosity comes from `-q` / `-v` / `-vv`, or `RUST_LOG` when set. Colours only when stderr is
//! a terminal; under cron and systemd the lines are plain text fit for a log file or the journal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `verbosity`: -1 quiet, 0 normal, 1 debug, 2+ trace.
pub fn init(verbosity: i8) {
    let level = match verbosity {
        i8::MIN..=-1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(format!("warn,fullsite={level}")));
    let stderr = std::io::stderr();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(stderr.is_terminal())
        .with_target(false)
        .init();
}
