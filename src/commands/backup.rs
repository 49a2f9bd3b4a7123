//! `fullsite backup`: settings → lock → partial generation → parts → manifest → publish.

use std::time::Duration;

use chrono::Local;

use crate::cli::BackupArgs;
use crate::config::{self, DbSettings, S3Settings, Vars};
use crate::error::{Error, IoContext, Result};
use crate::failpoint;
use crate::fsutil::create_private_dir_all;
use crate::generation::{Catalog, GenerationName, MARKER_FILE, PartialGeneration, remove_stale};
use crate::lock::{RootLock, host_name};
use crate::manifest::{self, FileEntry, Header, ManifestWriter, Parts};

pub async fn run(args: BackupArgs, vars: &Vars) -> Result<()> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let name = match &args.name {
        Some(name) => GenerationName::parse(name)?,
        None => GenerationName::for_date(Local::now().date_naive()),
    };
    let parts = Parts {
        db: args.parts.db(),
        objects: args.parts.objects(),
    };
    if parts.db {
        DbSettings::from_vars(vars)?;
    }
    if parts.objects {
        S3Settings::from_vars(vars)?;
    }
    refuse_parts_not_built_yet(parts)?;

    create_private_dir_all(&root)?;
    let _lock = RootLock::acquire(
        &root,
        "backup",
        args.lock.wait_lock.map(Duration::from_secs),
    )
    .await?;
    failpoint::pause("backup:after-lock").await;
    remove_stale(&Catalog::scan(&root)?.leftovers);

    let started_at = Local::now().fixed_offset();
    let partial = PartialGeneration::begin(&root, &name)?;
    tracing::info!(
        "backing up into '{}' (db: {}, objects: {})",
        root.join(name.as_str()).display(),
        yes_no(parts.db),
        yes_no(parts.objects)
    );
    let mut manifest = ManifestWriter::create(
        partial.dir(),
        Header {
            format: manifest::FORMAT.into(),
            version: manifest::VERSION,
            tool_version: crate::VERSION.into(),
            generation: name.to_string(),
            started_at,
            host: host_name(),
            parts,
        },
    )?;
    let marker = partial.dir().join(MARKER_FILE);
    let (size, hash) = manifest::hash_file(&marker).at("hash", &marker)?;
    manifest.add_file(FileEntry {
        path: MARKER_FILE.into(),
        size,
        blake3: hash.to_hex().to_string(),
    })?;
    failpoint::pause("backup:before-manifest").await;
    manifest.finish(Local::now().fixed_offset())?;
    failpoint::pause("backup:before-publish").await;
    let path = partial.publish()?;
    tracing::info!("backup done: '{}'", path.display());
    Ok(())
}

/// The database dump and the object mirror arrive in later versions; until then a backup
/// that asks for them fails before touching anything, instead of pretending to succeed.
fn refuse_parts_not_built_yet(parts: Parts) -> Result<()> {
    let what = match (parts.db, parts.objects) {
        (false, false) => return Ok(()),
        (true, true) => "database and object backup",
        (true, false) => "database backup",
        (false, true) => "object backup",
    };
    Err(Error::NotAvailable {
        what: what.into(),
        hint: "; only '--no-db --no-objects' (a generation holding just the marker and manifest) \
               works in this version"
            .into(),
    })
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
