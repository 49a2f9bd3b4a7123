//! `fullsite backup`: flags and variables → [`BackupSettings`] → [`engine::backup`] → the
//! summary block on stderr, `--json` on stdout, `--metrics-file` after success and failure.

use chrono::Local;

use super::progress::{CliProgress, ProblemLines};
use super::summary;
use crate::cli::BackupArgs;
use crate::config::{self, DbSettings, S3Settings, Vars};
use crate::engine::Result;
use crate::engine::{self, BackupSettings};
use crate::generation::GenerationName;
use crate::pg::dump::DumpError;
use crate::refs::RefsQuery;

pub async fn run(args: BackupArgs, vars: &Vars) -> Result<()> {
    let result = match settings(&args, vars) {
        Ok(settings) => engine::backup(&settings, &CliProgress::new(ProblemLines::Plain)).await,
        Err(e) => Err(e),
    };
    if let Some(path) = &args.metrics_file {
        let text = match &result {
            Ok(done) => summary::prometheus(done),
            Err(_) => {
                let previous = std::fs::read_to_string(path).ok();
                summary::prometheus_failure(previous.as_deref(), Local::now().timestamp())
            }
        };
        if let Err(e) = summary::write_metrics(path, &text) {
            tracing::warn!("{e}");
        }
    }
    let done = result?;
    if tracing::enabled!(tracing::Level::INFO) {
        eprint!("{}", summary::text(&done));
    }
    if args.json {
        super::json::print(&done);
    }
    Ok(())
}

/// The flags, over the variables, over the defaults.
fn settings(args: &BackupArgs, vars: &Vars) -> Result<BackupSettings> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let name = match &args.name {
        Some(name) => GenerationName::parse(name)?,
        None => GenerationName::for_date(Local::now().date_naive()),
    };
    let db = args
        .parts
        .db()
        .then(|| DbSettings::from_vars(vars))
        .transpose()?;
    let s3 = args
        .parts
        .objects()
        .then(|| S3Settings::from_vars(vars))
        .transpose()?;
    let refs = match &db {
        Some(_) => RefsQuery::configured(args.refs.refs_sql_file.as_deref(), vars)
            .map_err(DumpError::from)?,
        None => None,
    };
    Ok(BackupSettings {
        root,
        name,
        db,
        s3,
        jobs: config::jobs(args.jobs),
        compress: config::compress(args.compress, vars)?,
        transfers: args.transfers,
        allow_empty_bucket: args.allow_empty_bucket,
        allow_untested_server: args.allow_untested_server,
        owners: args.owners,
        privileges: args.privileges,
        stall_timeout: config::stall_timeout(args.stall.stall_timeout, vars)?,
        lock_wait_timeout: config::lock_wait_timeout(args.lock_wait_timeout, vars)?,
        wait_lock: args.lock.wait_lock.map(std::time::Duration::from_secs),
        refs,
    })
}
