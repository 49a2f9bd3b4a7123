//! Removing work-in-progress directories left by runs that died.
//!
//! Only called while holding the root lock. Every `fullsite` run that creates a partial or
//! pruning directory holds the lock until it is gone, so any such directory found under the
//! lock is stale: its run was killed or crashed. The one exception is a partial directory of the
//! legacy script (which never locked) whose process is still running; it is left alone.

use super::catalog::{Leftover, LeftoverKind};

/// Removes stale leftovers; returns how many were removed. Failures are logged, not fatal:
/// a leftover never affects correctness, only disk usage.
pub fn remove_stale(leftovers: &[Leftover]) -> usize {
    let mut removed = 0;
    for leftover in leftovers {
        if leftover.kind == LeftoverKind::Partial && legacy_script_running(leftover.pid) {
            tracing::warn!(
                "leaving '{}' alone: pid {} is a running legacy backup script",
                leftover.path.display(),
                leftover.pid
            );
            continue;
        }
        match std::fs::remove_dir_all(&leftover.path) {
            Ok(()) => {
                removed += 1;
                tracing::info!(
                    "removed stale '{}' left by pid {}, which is no longer running",
                    leftover.path.display(),
                    leftover.pid
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot remove stale '{}': {e}", leftover.path.display()),
        }
    }
    removed
}

fn legacy_script_running(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| cmdline.windows(16).any(|w| w == b"backup-full-site"))
}
