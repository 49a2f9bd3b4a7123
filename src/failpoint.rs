//! Named pause points for fault-injection tests.
//!
//! When the environment variable `FULLSITE_TEST_PAUSE_AT` names a point the run reaches, the
//! run logs `paused at <point>` and waits there, holding whatever it holds (the lock, a partial
//! generation, an open snapshot): forever, or for `FULLSITE_TEST_PAUSE_SECS` seconds when that
//! is set, or until the file `FULLSITE_TEST_PAUSE_UNTIL` names exists. Tests use this to kill
//! the process at a precise step (SIGKILL, or SIGINT/SIGTERM, which still stop it cleanly) or to
//! change the database or a bucket at a precise moment (while a dump's snapshot is open, between
//! a bucket's listing and its downloads). Unset, a pause point costs one environment lookup.
//!
//! Points: `backup:after-lock`, `dump:after-snapshot`, `backup:between-parts`,
//! `mirror:after-listing`, `mirror:mid-download`, `pg:mid-copy-out`,
//! `backup:before-manifest`, `backup:before-publish`, `prune:after-lock`,
//! `restore:mid-copy`, `restore:before-uploads`, `restore:mid-upload`, `drill:after-restore`.

use std::time::Duration;

/// The environment variable naming the point to pause at.
pub const PAUSE_VAR: &str = "FULLSITE_TEST_PAUSE_AT";
/// The environment variable limiting the pause, in seconds.
pub const PAUSE_SECS_VAR: &str = "FULLSITE_TEST_PAUSE_SECS";
/// The environment variable naming a file whose appearance ends the pause.
pub const PAUSE_UNTIL_VAR: &str = "FULLSITE_TEST_PAUSE_UNTIL";

/// Pauses if `FULLSITE_TEST_PAUSE_AT` equals `point`.
pub async fn pause(point: &str) {
    if std::env::var(PAUSE_VAR).is_ok_and(|v| v == point) {
        tracing::warn!("paused at {point} ({PAUSE_VAR} is set)");
        if let Some(until) = std::env::var_os(PAUSE_UNTIL_VAR) {
            while !std::path::Path::new(&until).exists() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            return;
        }
        match std::env::var(PAUSE_SECS_VAR)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
        {
            Some(secs) => tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await,
            None => std::future::pending::<()>().await,
        }
    }
}
