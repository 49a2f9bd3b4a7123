//! Table data: `COPY ... TO STDOUT` from worker connections that share the leader's snapshot,
//! each stream compressed into `<dumpId>.dat.gz` by the parallel gzip writer.
//!
//! Tables are taken largest first from a shared queue by `jobs` workers, so the biggest table
//! starts at once and small ones fill in around it; compression of every table draws on one
//! shared pool of `jobs` threads, so a single dominant table still uses every core. The first
//! failure stops the others. Memory does not grow with table size.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::DumpError;
use super::gzip::{CompressPool, GzipError, Written, write_gzip_file};
use super::session;
use super::toc::DataItem;
use crate::pg::connect::Target;
use crate::progress::Meter;

/// A written data file.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// The file.
    pub path: PathBuf,
    /// Sizes and hash.
    pub written: Written,
    /// Which table (qualified name).
    pub table: String,
}

/// The data file name on disk for a dump id.
pub fn file_name(dump_id: i32) -> String {
    format!("{dump_id}.dat.gz")
}

/// Copies every table in `items` into `dir`.
pub async fn write_all(
    target: &Target,
    snapshot: &str,
    mut items: Vec<DataItem>,
    dir: &Path,
    jobs: usize,
    pool: &CompressPool,
) -> Result<Vec<DataFile>, DumpError> {
    items.sort_by(|a, b| {
        b.spec
            .size
            .cmp(&a.spec.size)
            .then(a.dump_id.cmp(&b.dump_id))
    });
    let workers = jobs.clamp(1, items.len().max(1));
    let meter = Arc::new(Meter::start("table data", Some(items.len() as u64)));
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
                let path = dir.join(file_name(item.dump_id));
                let stream = client.copy_out(&item.spec.copy_to()).await.map_err(|e| {
                    target.error(format!("dump table {} from", item.spec.qualified), &e)
                })?;
                let written = write_gzip_file(Box::pin(stream), b"\\.\n\n\n", &path, &pool)
                    .await
                    .map_err(|e| match e {
                        GzipError::Source(e) => DumpError::Pg(
                            target.error(format!("dump table {} from", item.spec.qualified), &e),
                        ),
                        GzipError::Io(source) => DumpError::Io {
                            path: path.clone(),
                            source,
                        },
                    })?;
                tracing::debug!(
                    "dumped {}: {} raw, {} compressed",
                    item.spec.qualified,
                    written.raw_bytes,
                    written.file_bytes
                );
                meter.add(1, written.raw_bytes);
                done.push(DataFile {
                    path,
                    written,
                    table: item.spec.qualified,
                });
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
                return Err(DumpError::Internal(format!("a dump worker failed: {e}")));
            }
        }
    }
    Ok(files)
}
