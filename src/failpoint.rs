//! Named pause points for fault-injection tests.
//!
//! When the environment variable `FULLSITE_TEST_PAUSE_AT` names a point the run reaches, the
//! run logs `paused at <point>` and waits there, holding whatever it holds (the lock, a partial
//! generation, an open snapshot): forever, or for `FULLSITE_TEST_PAUSE_SECS` seconds when that
//! is set, or until the file `FULLSITE_TEST_PAUSE_UNTIL` names exists. Tests use this to kill
//! the process at a precise step (SIGKILL, or SIGINT/SIGTERM, which still stop it cleanly) or to
//! change the database or a bucket at a precise moment (while a dump's snapshot is open, between
//! a bucket's listing and its downloads). The variable is read once per process, so an unset
//! pause point costs a load and a compare, cheap enough for the per-row paths of a COPY.
//!
//! The points are the variants of [`PausePoint`]; the variable holds a point's stable string
//! form ([`PausePoint::as_str`], e.g. `backup:after-lock`). A value that names no point makes
//! every command refuse to start (exit 2), so a typo cannot silently turn a fault test into a
//! test of nothing.

use std::time::Duration;

use crate::error::ErrorKind;

/// The environment variable naming the point to pause at.
pub const PAUSE_VAR: &str = "FULLSITE_TEST_PAUSE_AT";
/// The environment variable limiting the pause, in seconds.
pub const PAUSE_SECS_VAR: &str = "FULLSITE_TEST_PAUSE_SECS";
/// The environment variable naming a file whose appearance ends the pause.
pub const PAUSE_UNTIL_VAR: &str = "FULLSITE_TEST_PAUSE_UNTIL";

/// A place a run can be paused at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PausePoint {
    /// `backup:after-lock`: the backup holds the root lock, nothing is written yet.
    BackupAfterLock,
    /// `dump:after-snapshot`: the dump's snapshot is open, no table read yet.
    DumpAfterSnapshot,
    /// `backup:between-parts`: the database is dumped, the buckets not yet mirrored.
    BackupBetweenParts,
    /// `mirror:after-listing`: every bucket is listed, nothing downloaded yet.
    MirrorAfterListing,
    /// `mirror:mid-download`: after each piece of a download written to its file.
    MirrorMidDownload,
    /// `pg:mid-copy-out`: after each piece of a table's COPY read from PostgreSQL.
    PgMidCopyOut,
    /// `backup:before-manifest`: every part is written, the manifest not yet finished.
    BackupBeforeManifest,
    /// `backup:before-publish`: the generation is complete under its partial name.
    BackupBeforePublish,
    /// `prune:after-lock`: prune holds the root lock, nothing removed yet.
    PruneAfterLock,
    /// `restore:mid-copy`: after each piece of a table's COPY sent to PostgreSQL.
    RestoreMidCopy,
    /// `restore:before-uploads`: a bucket exists and what it holds is listed, none of its
    /// objects uploaded yet (once per bucket).
    RestoreBeforeUploads,
    /// `restore:mid-upload`: after each object uploaded.
    RestoreMidUpload,
    /// `drill:after-restore`: after the drill's restore into its scratch database.
    DrillAfterRestore,
}

impl PausePoint {
    /// Every point.
    pub const ALL: [PausePoint; 13] = [
        PausePoint::BackupAfterLock,
        PausePoint::DumpAfterSnapshot,
        PausePoint::BackupBetweenParts,
        PausePoint::MirrorAfterListing,
        PausePoint::MirrorMidDownload,
        PausePoint::PgMidCopyOut,
        PausePoint::BackupBeforeManifest,
        PausePoint::BackupBeforePublish,
        PausePoint::PruneAfterLock,
        PausePoint::RestoreMidCopy,
        PausePoint::RestoreBeforeUploads,
        PausePoint::RestoreMidUpload,
        PausePoint::DrillAfterRestore,
    ];

    /// The stable string form, as `FULLSITE_TEST_PAUSE_AT` holds it.
    pub fn as_str(self) -> &'static str {
        match self {
            PausePoint::BackupAfterLock => "backup:after-lock",
            PausePoint::DumpAfterSnapshot => "dump:after-snapshot",
            PausePoint::BackupBetweenParts => "backup:between-parts",
            PausePoint::MirrorAfterListing => "mirror:after-listing",
            PausePoint::MirrorMidDownload => "mirror:mid-download",
            PausePoint::PgMidCopyOut => "pg:mid-copy-out",
            PausePoint::BackupBeforeManifest => "backup:before-manifest",
            PausePoint::BackupBeforePublish => "backup:before-publish",
            PausePoint::PruneAfterLock => "prune:after-lock",
            PausePoint::RestoreMidCopy => "restore:mid-copy",
            PausePoint::RestoreBeforeUploads => "restore:before-uploads",
            PausePoint::RestoreMidUpload => "restore:mid-upload",
            PausePoint::DrillAfterRestore => "drill:after-restore",
        }
    }

    /// The point whose string form is `text`.
    pub fn parse(text: &str) -> Option<PausePoint> {
        PausePoint::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// `FULLSITE_TEST_PAUSE_AT` names no pause point.
#[derive(Debug, thiserror::Error)]
#[error("{PAUSE_VAR}={value:?} names no pause point (see src/failpoint.rs)")]
pub struct UnknownPausePoint {
    /// The variable's value.
    pub value: String,
}

impl UnknownPausePoint {
    /// Always [`ErrorKind::Usage`]: the test's setting is wrong; nothing ran.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Usage
    }
}

/// Checks `FULLSITE_TEST_PAUSE_AT`, if set, before a command starts.
pub fn check_env() -> Result<(), UnknownPausePoint> {
    match std::env::var(PAUSE_VAR) {
        Ok(value) if PausePoint::parse(&value).is_none() => Err(UnknownPausePoint { value }),
        _ => Ok(()),
    }
}

/// Whether `FULLSITE_TEST_PAUSE_AT` names `point` (read on the first call).
pub fn armed(point: PausePoint) -> bool {
    static ARMED: std::sync::OnceLock<Option<PausePoint>> = std::sync::OnceLock::new();
    *ARMED.get_or_init(|| {
        std::env::var(PAUSE_VAR)
            .ok()
            .and_then(|v| PausePoint::parse(&v))
    }) == Some(point)
}

/// Pauses if `FULLSITE_TEST_PAUSE_AT` names `point`.
pub async fn pause(point: PausePoint) {
    if armed(point) {
        let point = point.as_str();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_round_trips_through_its_string() {
        for point in PausePoint::ALL {
            assert_eq!(PausePoint::parse(point.as_str()), Some(point));
        }
        assert_eq!(PausePoint::parse("backup:after-lok"), None);
    }

    /// Every `"<area>:<step>"` literal in `tests/` whose area is a pause point's names a real
    /// point, so a typo in a fault test fails here, not only when that test runs.
    #[test]
    fn the_points_the_integration_tests_name_exist() {
        let areas: Vec<&str> = PausePoint::ALL
            .iter()
            .filter_map(|p| p.as_str().split_once(':').map(|(area, _)| area))
            .collect();
        let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        let mut named = 0;
        for entry in walkdir::WalkDir::new(&tests) {
            let entry = entry.unwrap();
            if entry.path().extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap();
            for literal in text.split('"').skip(1).step_by(2) {
                let Some((area, step)) = literal.split_once(':') else {
                    continue;
                };
                let is_step =
                    !step.is_empty() && step.chars().all(|c| c.is_ascii_lowercase() || c == '-');
                if areas.contains(&area) && is_step {
                    named += 1;
                    assert!(
                        PausePoint::parse(literal).is_some(),
                        "{}: {literal:?} is not a pause point",
                        entry.path().display()
                    );
                }
            }
        }
        assert!(named > 10, "only {named} pause points found under tests/");
    }
}
