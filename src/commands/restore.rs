//! `fullsite restore NAME`: flags and variables → [`RestoreSettings`] → [`engine::restore`].
//! The engine logs what it restores; a refused generation's problems go to stdout, one a line.

use std::time::Duration;

use super::progress::{CliProgress, ProblemLines};
use crate::cli::RestoreArgs;
use crate::config::{self, DbSettings, S3Settings, Vars};
use crate::engine::{self, RestoreSettings};
use crate::engine::{Error, Result};
use crate::generation::GenerationName;
use crate::manifest::Parts;
use crate::pg::restore::select::TableSelection;

pub async fn run(args: RestoreArgs, vars: &Vars) -> Result<()> {
    let settings = settings(&args, vars)?;
    engine::restore(&settings, &CliProgress::new(ProblemLines::Plain)).await?;
    Ok(())
}

/// The flags, over the variables, over the defaults.
fn settings(args: &RestoreArgs, vars: &Vars) -> Result<RestoreSettings> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let name = GenerationName::parse(&args.name)?;
    let tables = TableSelection::parse(&args.tables.tables, &args.tables.schemas)
        .map_err(|e| Error::Restore(e.into()))?;
    let tables = (!tables.is_empty()).then_some(tables);
    if tables.is_some() && !args.parts.db() {
        return Err(Error::Usage(
            "--table and --schema select tables of the database, which --no-db leaves out".into(),
        ));
    }
    // A table restore touches the database only, unless the objects are asked for too.
    let parts = Parts {
        db: args.parts.db(),
        objects: args.parts.objects() && (tables.is_none() || args.parts.objects_given()),
    };
    if !parts.db && !parts.objects {
        return Err(Error::Usage(
            "nothing to restore: --no-db and --no-objects leave no part selected".into(),
        ));
    }
    let db = DbSettings::from_vars(vars)?;
    let s3 = parts
        .objects
        .then(|| S3Settings::from_vars(vars))
        .transpose()?;
    Ok(RestoreSettings {
        root,
        name,
        parts,
        db,
        s3,
        into_db: args.into_db.clone(),
        tables,
        single_transaction: args.single_transaction,
        owners: !args.no_owner,
        privileges: !args.no_privileges,
        keep_extra: args.keep_extra,
        jobs: if args.single_transaction {
            1
        } else {
            config::jobs(args.jobs)
        },
        transfers: args.transfers,
        stall_timeout: config::stall_timeout(args.stall.stall_timeout, vars)?,
        wait_lock: args.lock.wait_lock.map(Duration::from_secs),
    })
}
