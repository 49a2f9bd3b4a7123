//! The native dump: one snapshot, the schema read from the catalogs, table data and large
//! objects streamed through parallel compression (gzip, zstd, LZ4 or none), written as a
//! pg_dump directory-format archive (`toc.dat`, one `<dumpId>.dat.gz` — `.zst`, `.lz4`, or no
//! suffix — per table, one `blob_<oid>.dat.gz` per large object with their lists) of the
//! archive version pg_dump of the server's major writes, so that the server's own pg_restore
//! reads it as it reads pg_dump's. zstd and LZ4 need archive 1.15: a 14 or 15 server's dump
//! with them is 1.15 (the 1.14 TOC with the algorithm byte in the header), which pg_restore 16
//! and later read, as they read pg_dump 16's zstd dump of the same server.
//!
//! Steps: leader snapshot → lock the relations → collect every family of objects → census (an
//! object no collector claims stops the dump, naming it) → order into a TOC → workers copy the
//! data → `toc.dat` written last. The archive directory is created by this module and holds
//! nothing else.

pub(crate) mod acl;
pub mod codec;
pub mod compress;
pub mod counts;
pub mod data;
pub mod schema;
pub mod session;
pub mod toc;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Local;

use self::compress::CompressPool;
use self::schema::{CatalogSession, Entry, ObjKey, USER_SCHEMA, catalog};
use crate::error::ErrorKind;
use crate::pg::archive;
use crate::pg::connect::{PgError, Target};
use crate::progress::Progress;

/// Dump settings.
#[derive(Debug, Clone, Copy)]
pub struct DumpOptions {
    /// Parallel connections and compression threads.
    pub jobs: usize,
    /// How data files are compressed.
    pub compress: crate::config::Compress,
    /// Dump from a server outside the tested majors ([`SUPPORTED_MAJORS`]) instead of
    /// refusing it.
    pub allow_untested_server: bool,
    /// Record each object's owner (`ALTER ... OWNER TO` on restore), as pg_dump does without
    /// `--no-owner`.
    pub owners: bool,
    /// Dump privileges (ACL and DEFAULT ACL entries), as pg_dump does without
    /// `--no-privileges`.
    pub privileges: bool,
    /// How long to keep trying to take the table locks (see `session`).
    pub lock_wait: std::time::Duration,
}

/// The PostgreSQL majors whose dumps are proved against their own pg_dump.
pub const SUPPORTED_MAJORS: std::ops::RangeInclusive<i32> = 14..=18;

/// A file of the archive, for the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFile {
    /// Absolute path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// BLAKE3 of the content.
    pub blake3: blake3::Hash,
}

/// What a dump produced.
#[derive(Debug, Clone)]
pub struct DumpSummary {
    /// The server's `server_version`.
    pub server_version: String,
    /// Tables whose data was copied.
    pub tables: usize,
    /// TOC entries.
    pub entries: usize,
    /// Uncompressed COPY and large object bytes.
    pub raw_bytes: u64,
    /// Rows copied.
    pub rows: u64,
    /// Every file written (toc.dat last).
    pub files: Vec<ArchiveFile>,
    /// Rows per table, for restore drills.
    pub table_rows: Vec<crate::manifest::TableRows>,
    /// Sequence values, for restore drills.
    pub sequences: Vec<crate::manifest::SequenceValue>,
    /// What the rows → objects query returned in the dump's snapshot, when one was given.
    pub references: Option<crate::refs::RefSet>,
}

/// Why a dump failed.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The server refused or failed.
    #[error(transparent)]
    Pg(#[from] PgError),
    /// The table locks could not be taken.
    #[error(transparent)]
    Lock(#[from] session::LockError),
    /// Writing the archive failed.
    #[error("cannot write '{path}': {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The database holds objects of a kind fullsite cannot dump.
    #[error("cannot dump database {database}: it holds {} object(s) of a kind fullsite does not support dumping yet: {}", .objects.len(), .objects.join(", "))]
    Unsupported {
        /// The database.
        database: String,
        /// Descriptions of the objects.
        objects: Vec<String>,
    },
    /// The rows → objects query is malformed or failed (run inside the dump's snapshot).
    #[error(transparent)]
    Refs(#[from] crate::refs::RefsError),
    /// The server's major version is outside [`SUPPORTED_MAJORS`].
    #[error(
        "cannot dump {target}: PostgreSQL {version} is not a version fullsite is tested with \
         ({} to {}); --allow-untested-server dumps it anyway",
        SUPPORTED_MAJORS.start(),
        SUPPORTED_MAJORS.end()
    )]
    UntestedServer {
        /// The server, as `user@host:port/database`.
        target: String,
        /// Its `server_version`.
        version: String,
    },
    /// A bug: shared state left unusable.
    #[error("internal error: {0}")]
    Internal(String),
    /// A worker task panicked or was cancelled.
    #[error("internal error: {what} failed: {source}")]
    Task {
        /// Which task.
        what: &'static str,
        /// The runtime's report.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl DumpError {
    /// A file or directory of the archive that could not be created.
    pub(crate) fn from_fs(error: crate::fsutil::FsError) -> DumpError {
        DumpError::Io {
            path: error.path,
            source: error.source,
        }
    }

    /// A server outside the tested majors is the operator's call ([`ErrorKind::Usage`]:
    /// `--allow-untested-server`); the rows → objects query decides its own kind (a malformed
    /// query is usage); everything else fails the backup.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DumpError::UntestedServer { .. } => ErrorKind::Usage,
            DumpError::Pg(e) => e.kind(),
            DumpError::Lock(e) => e.kind(),
            DumpError::Refs(e) => e.kind(),
            DumpError::Io { .. }
            | DumpError::Unsupported { .. }
            | DumpError::Internal(_)
            | DumpError::Task { .. } => ErrorKind::Failure,
        }
    }
}

/// Dumps the database behind `target` into the new directory `dir`, reporting the table data
/// phase to `progress`; with `refs`, runs that rows → objects query inside the dump's snapshot
/// too.
pub async fn dump_database(
    target: &Target,
    dir: &Path,
    options: DumpOptions,
    progress: &dyn Progress,
    refs: Option<&crate::refs::RefsQuery>,
) -> Result<DumpSummary, DumpError> {
    let leader = session::Leader::start(target).await?;
    let cx = CatalogSession {
        client: &leader.client,
        target,
        version: leader.server_version_num,
    };
    check_server_version(
        target,
        &leader.server_version,
        cx.major(),
        options.allow_untested_server,
    )?;
    tracing::info!("dumping {target} (PostgreSQL {})", leader.server_version);

    let relations = cx
        .query(
            "the relations to lock",
            &format!(
                "SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name \
                 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMA} ORDER BY 2"
            ),
            &[],
        )
        .await?;
    let relations: Vec<(u32, String)> = relations
        .iter()
        .map(|r| (r.get("oid"), r.get("name")))
        .collect();
    leader
        .lock_tables(target, &relations, options.lock_wait)
        .await?;
    crate::failpoint::pause(crate::failpoint::PausePoint::DumpAfterSnapshot).await;
    let references = match refs {
        Some(query) => Some(crate::refs::collect(&leader.client, target, query).await?),
        None => None,
    };

    let mut entries: Vec<Entry> = Vec::new();
    entries.extend(schema::schemas::collect(&cx).await?);
    entries.extend(schema::languages::collect(&cx).await?);
    entries.extend(schema::collations::collect(&cx).await?);
    entries.extend(schema::transforms::collect(&cx).await?);
    entries.extend(schema::extensions::collect(&cx).await?);
    entries.extend(schema::types::collect(&cx).await?);
    entries.extend(schema::casts::collect(&cx).await?);
    entries.extend(schema::functions::collect(&cx).await?);
    entries.extend(schema::access_methods::collect(&cx).await?);
    entries.extend(schema::operators::collect(&cx).await?);
    entries.extend(schema::operator_families::collect(&cx).await?);
    entries.extend(schema::conversions::collect(&cx).await?);
    entries.extend(schema::text_search::collect(&cx).await?);
    entries.extend(schema::foreign_data::collect(&cx).await?);
    let mut graph = schema::loops::Graph::load(&cx).await?;
    entries.extend(schema::views::collect(&cx, &mut graph).await?);
    let tables = schema::tables::collect(&cx, &graph).await?;
    entries.extend(tables.entries);
    entries.extend(schema::sequences::collect(&cx).await?);
    let large_objects = schema::large_objects::collect(&cx).await?;
    entries.extend(large_objects.entries);
    entries.extend(schema::constraints::collect(&cx).await?);
    entries.extend(schema::indexes::collect(&cx).await?);
    entries.extend(schema::triggers::collect(&cx).await?);
    entries.extend(schema::rules::collect(&cx).await?);
    entries.extend(schema::policies::collect(&cx).await?);
    entries.extend(schema::statistics::collect(&cx).await?);
    entries.extend(schema::publications::collect(&cx).await?);
    entries.extend(schema::subscriptions::collect(&cx).await?);
    if options.privileges {
        entries.extend(schema::default_acls::collect(&cx).await?);
    }
    entries.extend(schema::event_triggers::collect(&cx).await?);
    let sequences = counts::sequence_values(&entries);

    let claimed: HashSet<ObjKey> = entries
        .iter()
        .flat_map(|e| std::iter::once(e.key).chain(e.claims.iter().copied()))
        .collect();
    let census = schema::census::take(&cx).await?;
    let unclaimed = schema::census::unclaimed(&census, &claimed);
    if !unclaimed.is_empty() {
        return Err(DumpError::Unsupported {
            database: target.database().to_string(),
            objects: unclaimed.iter().map(|i| i.description.clone()).collect(),
        });
    }
    let (depend, fallback) = dependencies(&cx).await?;
    let privileges = acl::collect(&cx, options.owners, options.privileges).await?;
    let version = codec::archive_version(cx.major(), options.compress);
    let toc = toc::build(
        entries,
        tables.data,
        large_objects.blobs,
        version,
        &depend,
        &fallback,
        &privileges,
    );

    tracing::debug!("catalog read: {} data items to dump", toc.data.len());
    crate::fsutil::create_private_dir_all(dir).map_err(DumpError::from_fs)?;
    let pool = CompressPool::new(options.jobs, options.compress);
    let data = data::write_all(
        target,
        &leader.snapshot,
        toc.data.clone(),
        dir,
        options.jobs,
        &pool,
        progress,
    )
    .await?;

    let header = archive::Header {
        version,
        format: archive::FORMAT_DIRECTORY,
        compression: codec::header_compression(options.compress),
        created: Local::now().naive_local(),
        dbname: target.database().to_string(),
        server_version: leader.server_version.clone(),
        dump_version: format!("fullsite {}", crate::VERSION),
    };
    let toc_bytes = archive::write::encode_toc(&header, &toc.entries);
    let toc_path = dir.join("toc.dat");
    let io = |source| DumpError::Io {
        path: toc_path.clone(),
        source,
    };
    let mut file = crate::fsutil::create_private_file(&toc_path).map_err(DumpError::from_fs)?;
    file.write_all(&toc_bytes).map_err(io)?;
    leader
        .client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| target.error("end the snapshot transaction on", &e))?;

    let mut files: Vec<ArchiveFile> = data
        .iter()
        .map(|f| ArchiveFile {
            path: f.path.clone(),
            size: f.written.file_bytes,
            blake3: f.written.blake3,
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.push(ArchiveFile {
        path: toc_path,
        size: toc_bytes.len() as u64,
        blake3: blake3::hash(&toc_bytes),
    });
    Ok(DumpSummary {
        server_version: leader.server_version.clone(),
        tables: data.iter().filter(|f| f.table.is_some()).count(),
        entries: toc.entries.len(),
        raw_bytes: data.iter().map(|f| f.written.raw_bytes).sum(),
        rows: data
            .iter()
            .filter(|f| f.table.is_some())
            .map(|f| f.written.rows)
            .sum(),
        files,
        table_rows: counts::table_rows(
            data.iter()
                .filter_map(|f| Some((f.table.as_ref()?, f.written.rows))),
        ),
        sequences,
        references,
    })
}

/// Refuses a server outside [`SUPPORTED_MAJORS`] unless `allow`, in which case it warns.
fn check_server_version(
    target: &Target,
    version: &str,
    major: i32,
    allow: bool,
) -> Result<(), DumpError> {
    if SUPPORTED_MAJORS.contains(&major) {
        return Ok(());
    }
    if !allow {
        return Err(DumpError::UntestedServer {
            target: target.to_string(),
            version: version.to_string(),
        });
    }
    tracing::warn!(
        "PostgreSQL {version} is not a version fullsite is tested with ({} to {}); dumping it \
         anyway (--allow-untested-server)",
        SUPPORTED_MAJORS.start(),
        SUPPORTED_MAJORS.end()
    );
    Ok(())
}

/// `pg_depend` edges between user objects, and column defaults mapped to their tables.
/// Partition dependencies (`P`, `S`) are included, as pg_dump includes them: a partition's
/// index (or constraint) then follows its parent's, so parallel restores do not run the two at
/// once.
async fn dependencies(
    cx: &CatalogSession<'_>,
) -> Result<(Vec<(ObjKey, ObjKey)>, HashMap<ObjKey, ObjKey>), PgError> {
    let rows = cx
        .query(
            "dependencies",
            "SELECT classid, objid, refclassid, refobjid FROM pg_catalog.pg_depend \
             WHERE deptype IN ('n', 'a', 'P', 'S') AND objid >= 16384 AND refobjid >= 16384",
            &[],
        )
        .await?;
    let depend = rows
        .iter()
        .map(|r| {
            (
                ObjKey::new(r.get("classid"), r.get("objid")),
                ObjKey::new(r.get("refclassid"), r.get("refobjid")),
            )
        })
        .collect();
    let rows = cx
        .query(
            "column defaults",
            "SELECT oid, adrelid FROM pg_catalog.pg_attrdef",
            &[],
        )
        .await?;
    let fallback = rows
        .iter()
        .map(|r| {
            (
                ObjKey::new(catalog::ATTRDEF, r.get("oid")),
                ObjKey::new(catalog::CLASS, r.get("adrelid")),
            )
        })
        .collect();
    Ok((depend, fallback))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DbSettings, Secret};

    #[test]
    fn servers_outside_the_tested_majors_are_refused_unless_allowed() {
        let settings = DbSettings {
            host: "127.0.0.1".into(),
            port: 5432,
            user: "admin".into(),
            password: Secret::new("x"),
            name: "stgy".into(),
        };
        let target = Target::resolve(&settings, "stgy").unwrap();
        for major in SUPPORTED_MAJORS {
            assert!(check_server_version(&target, "x", major, false).is_ok());
        }
        for (major, version) in [(13, "13.22"), (19, "19beta1")] {
            let refused = check_server_version(&target, version, major, false).unwrap_err();
            let message = refused.to_string();
            assert!(
                message.contains(&format!("PostgreSQL {version} is not")),
                "{message}"
            );
            assert!(message.contains("--allow-untested-server"), "{message}");
            assert_eq!(refused.kind(), ErrorKind::Usage);
            assert!(check_server_version(&target, version, major, true).is_ok());
        }
    }
}
