//! SIGINT and SIGTERM: stop cleanly instead of dying mid-write.
//!
//! A command that changes the backup root runs as a future raced against [`wait_for_stop`]. When
//! a signal wins, the command's future is dropped, its guards remove work in progress (the
//! partial generation directory, the lock), and the process exits with 128 + the signal number.

use std::fmt;

/// The signals that ask `fullsite` to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (systemd stop, `kill`).
    Terminate,
}

impl StopSignal {
    /// The POSIX signal number.
    pub fn number(self) -> u8 {
        match self {
            StopSignal::Interrupt => 2,
            StopSignal::Terminate => 15,
        }
    }
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        })
    }
}

/// Resolves when SIGINT or SIGTERM arrives. If the handlers cannot be installed (which does
/// not happen on Linux), it never resolves and the default signal behaviour stays in place.
pub async fn wait_for_stop() -> StopSignal {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => tokio::select! {
            _ = int.recv() => StopSignal::Interrupt,
            _ = term.recv() => StopSignal::Terminate,
        },
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!("cannot install signal handlers: {e}");
            std::future::pending().await
        }
    }
}
