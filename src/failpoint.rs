//! Named pause points for fault-injection tests.
//!
//! When the environment variable `FULLSITE_TEST_PAUSE_AT` names a point the run reaches, the
//! run logs `paused at <point>` and waits there forever, holding whatever it holds (the lock,
//! a partial generation). Tests use this to kill the process at a precise step (SIGKILL, or
//! SIGINT/SIGTERM, which still stop it cleanly). Unset, a pause point costs one env lookup.
//!
//! Points: `backup:after-lock`, `backup:before-manifest`, `backup:before-publish`,
//! `prune:after-lock`.

/// The environment variable naming the point to pause at.
pub const PAUSE_VAR: &str = "FULLSITE_TEST_PAUSE_AT";

/// Pauses forever if `FULLSITE_TEST_PAUSE_AT` equals `point`.
pub async fn pause(point: &str) {
    if std::env::var(PAUSE_VAR).is_ok_and(|v| v == point) {
        tracing::warn!("paused at {point} ({PAUSE_VAR} is set)");
        std::future::pending::<()>().await;
    }
}
