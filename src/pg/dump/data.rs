//! The archive's data: table rows (`COPY ... TO STDOUT`) and large objects' contents, read by
//! worker connections that share the leader's snapshot and compressed by the parallel
//! writer (`compress`).
//!
//! A table's rows go to `<dumpId>.dat` plus the method's suffix (`.gz`, `.zst`, `.lz4`, none
//! for plain files), as pg_dump names them. A BLOBS entry's large objects each go to
//! `blob_<oid>.dat` plus the suffix, read in [`LO_CHUNK`]-byte pieces (`lo_get`), and are listed, one
//! `<oid> blob_<oid>.dat` line each, in the entry's plain-text list file, as pg_dump writes
//! them. Work items are taken largest first from a shared queue by `jobs` workers, so the
//! biggest table starts at once and small ones fill in around it; compression of every file
//! draws on one shared pool of `jobs` threads, so a single dominant table still uses every
//! core. The first failure stops the others. Memory does not grow with a table's or a large
//! object's size.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio_postgres::Client;

use super::DumpError;
use super::compress::{CompressError, CompressPool, Written, write_compressed_file};
use super::session;
use super::toc::{DataItem, DataSource};
use crate::config::Compress;
use crate::pg::connect::{PgError, Target};
use crate::progress::Progress;

/// Bytes of a large object read per round trip.
const LO_CHUNK: i32 = 1 << 20;

/// A written data file.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// The file.
    pub path: PathBuf,
    /// Sizes and hash.
    pub written: Written,
    /// The table whose rows it holds (`None` for a large object or a list of them).
    pub table: Option<super::counts::TableName>,
}

/// The data file name on disk for a dump id, compressed with `method`.
pub fn file_name(dump_id: i32, method: Compress) -> String {
    format!("{dump_id}.dat{}", method.suffix())
}

/// Copies every item into `dir`.
pub async fn write_all(
    target: &Target,
    snapshot: &str,
    mut items: Vec<DataItem>,
    dir: &Path,
    jobs: usize,
    pool: &CompressPool,
    progress: &dyn Progress,
) -> Result<Vec<DataFile>, DumpError> {
    items.sort_by(|a, b| {
        b.source
            .size()
            .cmp(&a.source.size())
            .then(a.dump_id.cmp(&b.dump_id))
    });
    let workers = jobs.clamp(1, items.len().max(1));
    let meter: Arc<dyn crate::progress::Meter> =
        Arc::from(progress.meter("table data", Some(items.len() as u64)));
    let queue = Arc::new(Mutex::new(VecDeque::from(items)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (target, snapshot, dir, pool, queue, meter) = (
            target.clone(),
            snapshot.to_string(),
            dir.to_path_buf(),
            pool.clone(),
            queue.clone(),
            meter.clone(),
        );
        tasks.spawn(async move {
            let client = session::worker(&target, &snapshot).await?;
            let mut done = Vec::new();
            loop {
                let next = queue
                    .lock()
                    .map_err(|_| DumpError::Internal("work queue poisoned".into()))?
                    .pop_front();
                let Some(item) = next else { break };
                let files = match &item.source {
                    DataSource::Table(spec) => {
                        let path = dir.join(file_name(item.dump_id, pool.method()));
                        let what = || format!("dump table {} from", spec.qualified);
                        let stream = target
                            .bounded(what, async {
                                client
                                    .copy_out(&spec.copy_to())
                                    .await
                                    .map_err(|e| target.error(what(), &e))
                            })
                            .await?;
                        let stream = target.watched(what(), Box::pin(stream));
                        let written = write_compressed_file(stream, b"\\.\n\n\n", &path, &pool)
                            .await
                            .map_err(|e| compress_error(e, &path))?;
                        vec![DataFile {
                            path,
                            written,
                            table: Some(super::counts::TableName {
                                schema: spec.namespace.clone(),
                                name: spec.name.clone(),
                                filtered: spec.filter.is_some(),
                            }),
                        }]
                    }
                    DataSource::LargeObjects { list, oids } => {
                        large_objects(&client, &target, list, oids, &dir, &pool).await?
                    }
                };
                let raw: u64 = files.iter().map(|f| f.written.raw_bytes).sum();
                tracing::debug!("dumped {}: {raw} raw bytes", item.source.label());
                meter.add(1, raw);
                done.extend(files);
            }
            Ok::<_, DumpError>(done)
        });
    }
    let mut files = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(done)) => files.extend(done),
            Ok(Err(e)) => {
                tasks.abort_all();
                return Err(e);
            }
            Err(e) => {
                tasks.abort_all();
                return Err(DumpError::Task {
                    what: "a dump worker",
                    source: e,
                });
            }
        }
    }
    Ok(files)
}

/// Maps a compressing writer's failure: the source's as the server error it is, the rest as an I/O
/// error on `path`.
fn compress_error(error: CompressError<PgError>, path: &Path) -> DumpError {
    match error {
        CompressError::Source(e) => DumpError::Pg(e),
        CompressError::Io(source) => DumpError::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// Writes each large object of `oids` to `blob_<oid>.dat` (plus the method's suffix) and lists them in the plain file
/// `list`; the files written, the list last.
async fn large_objects(
    client: &Client,
    target: &Target,
    list: &str,
    oids: &[u32],
    dir: &Path,
    pool: &CompressPool,
) -> Result<Vec<DataFile>, DumpError> {
    let read = client
        .prepare(
            "SELECT pg_catalog.lo_get($1::pg_catalog.oid, $2::pg_catalog.int8, $3::pg_catalog.int4) \
             AS chunk",
        )
        .await
        .map_err(|e| target.error("read large objects from", &e))?;
    let list_path = dir.join(list);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DumpError::Io { path, source }
    };
    let mut listing = tokio::fs::File::from_std(
        crate::fsutil::create_private_file(&list_path).map_err(DumpError::from_fs)?,
    );
    let mut hasher = blake3::Hasher::new();
    let mut list_bytes = 0u64;
    let mut files = Vec::with_capacity(oids.len() + 1);
    for &oid in oids {
        let path = dir.join(format!("blob_{oid}.dat{}", pool.method().suffix()));
        let what = format!("dump large object {oid} from");
        let chunks = futures_util::stream::try_unfold(Some(0i64), |offset| {
            let (read, what) = (&read, &what);
            async move {
                let Some(offset) = offset else {
                    return Ok(None);
                };
                let row = target
                    .bounded(|| what.clone(), async {
                        client
                            .query_one(read, &[&oid, &offset, &LO_CHUNK])
                            .await
                            .map_err(|e| target.error(what.clone(), &e))
                    })
                    .await?;
                let chunk: Vec<u8> = row.get("chunk");
                if chunk.is_empty() {
                    return Ok(None);
                }
                let next = (chunk.len() == LO_CHUNK as usize).then(|| offset + chunk.len() as i64);
                Ok(Some((Bytes::from(chunk), next)))
            }
        });
        let written = write_compressed_file(Box::pin(chunks), b"", &path, pool)
            .await
            .map_err(|e| compress_error(e, &path))?;
        files.push(DataFile {
            path,
            written,
            table: None,
        });
        let line = format!("{oid} blob_{oid}.dat\n");
        hasher.update(line.as_bytes());
        list_bytes += line.len() as u64;
        listing
            .write_all(line.as_bytes())
            .await
            .map_err(io(&list_path))?;
    }
    listing.flush().await.map_err(io(&list_path))?;
    files.push(DataFile {
        path: list_path,
        written: Written {
            raw_bytes: list_bytes,
            rows: 0,
            file_bytes: list_bytes,
            blake3: hasher.finalize(),
        },
        table: None,
    });
    Ok(files)
}
