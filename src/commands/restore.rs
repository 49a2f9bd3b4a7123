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
use crate::objects::selection::ObjectSelection;
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
    let selection = object_selection(args)?;
    // A table selection restores the database only, unless --objects (or an object selection)
    // asks for objects too; an object selection restores objects only, unless --db (or a
    // table selection) asks for the database too.
    let objects_selected = args.objects.given();
    let parts = Parts {
        db: args.parts.db() && (!objects_selected || args.parts.db_given() || tables.is_some()),
        objects: args.parts.objects()
            && (tables.is_none() || args.parts.objects_given() || objects_selected),
    };
    if !parts.db && !parts.objects {
        return Err(Error::Usage(
            "nothing to restore: --no-db and --no-objects leave no part selected".into(),
        ));
    }
    let db = DbSettings::from_vars(vars)?;
    let s3 = (parts.objects && args.objects.to_dir.is_none())
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
        objects_selection: selection,
        to_dir: args.objects.to_dir.clone(),
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

/// `--bucket`, `--prefix`, `--key`: the objects to restore (everything when none is given).
fn object_selection(args: &RestoreArgs) -> Result<ObjectSelection> {
    let flags = &args.objects;
    if flags.given() && !args.parts.objects() {
        return Err(Error::Usage(
            "--bucket, --prefix, --key and --to-dir select objects, but --no-objects leaves them out"
                .into(),
        ));
    }
    let selection = ObjectSelection {
        buckets: flags.buckets.iter().cloned().collect(),
        prefix: flags.prefix.clone(),
        keys: flags.keys.iter().cloned().collect(),
    };
    if let Some(key) = selection.key_outside_prefix() {
        return Err(Error::Usage(format!(
            "--key '{}' does not start with --prefix '{}'",
            crate::human::printable(key),
            crate::human::printable(flags.prefix.as_deref().unwrap_or_default())
        )));
    }
    Ok(selection)
}
