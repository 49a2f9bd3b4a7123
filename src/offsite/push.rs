//! `offsite push`: copies complete local generations into the repository.
//!
//! For each generation not yet in the repository (oldest first): scan it, upload every
//! content the repository lacks (`--transfers` at once; a file is read, hashed, sealed and sent
//! part by part, so memory per transfer is one part, whatever the file's size), then upload its
//! index **last**: a generation exists remotely only when everything it names is stored. An
//! interrupted push leaves content objects without an index; the next push finds them in the
//! listing and uploads only what is still missing. A generation already in the repository is
//! left as it is, so a second push uploads nothing.
//!
//! The repository is locked for pushing (shared with other pushes, exclusive of prune).

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;

use super::error::{OffsiteError, OffsiteResult};
use super::index::GenerationIndex;
use super::lock::{LockKind, RepoLock};
use super::repo::{DATA, GENERATIONS, Repository};
use super::seal::{CHUNK, Key, Sealer, sealed_size};
use crate::fsutil::{FsError, IoContext};
use crate::generation::{Catalog, Generation};
use crate::objects::store::{ObjectMeta, ObjectStore};
use crate::progress::Progress;

/// Plaintext chunks per uploaded part (8 MiB): the memory one transfer holds.
const PART_CHUNKS: u64 = 8;
/// S3's limit on the number of parts of one upload (with a margin).
const MAX_PARTS: u64 = 9_000;

/// What one generation's push did.
#[derive(Debug, Clone, Serialize)]
pub struct PushedGeneration {
    /// Generation name.
    pub name: String,
    /// `pushed`, or `present` when the repository already had it.
    pub status: &'static str,
    /// Files in the generation.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// Contents uploaded for it (the rest were stored already).
    pub uploaded: u64,
    /// Plaintext bytes of those contents.
    pub uploaded_bytes: u64,
    /// Bytes stored for them, index included (sealed size).
    pub stored_bytes: u64,
}

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    /// The repository.
    pub url: String,
    /// Per generation, oldest first.
    pub generations: Vec<PushedGeneration>,
    /// Wall time.
    pub seconds: f64,
}

/// Which generations.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every complete generation.
    All,
    /// These, by name.
    Names(Vec<String>),
}

/// The complete generations of `catalog` that `selection` names, oldest first.
pub fn select<'a>(
    catalog: &'a Catalog,
    root: &Path,
    selection: &Selection,
) -> OffsiteResult<Vec<&'a Generation>> {
    match selection {
        Selection::All => Ok(catalog.complete().collect()),
        Selection::Names(names) => {
            for name in names {
                if !catalog.complete().any(|g| &g.name == name) {
                    return Err(OffsiteError::NoSuchGeneration {
                        name: name.clone(),
                        place: format!("'{}' (as a complete generation)", root.display()),
                    });
                }
            }
            Ok(catalog
                .complete()
                .filter(|g| names.contains(&g.name))
                .collect())
        }
    }
}

/// Pushes the selected generations of `root`.
pub async fn push<S: ObjectStore + 'static>(
    repo: Arc<Repository<S>>,
    root: &Path,
    selection: &Selection,
    transfers: usize,
    progress: &dyn Progress,
) -> OffsiteResult<PushReport> {
    let started = Instant::now();
    let catalog = Catalog::scan(root)?;
    let chosen: Vec<Generation> = select(&catalog, root, selection)?
        .into_iter()
        .cloned()
        .collect();
    let lock = RepoLock::acquire(Arc::clone(&repo), LockKind::Push).await?;
    let result = push_locked(&repo, chosen, transfers, progress).await;
    if let Err(e) = lock.release().await {
        tracing::warn!("cannot remove the offsite lock record: {e}; it expires by itself");
    }
    Ok(PushReport {
        url: repo.url().to_string(),
        generations: result?,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn push_locked<S: ObjectStore>(
    repo: &Repository<S>,
    chosen: Vec<Generation>,
    transfers: usize,
    progress: &dyn Progress,
) -> OffsiteResult<Vec<PushedGeneration>> {
    let remote: HashSet<String> = repo
        .list(GENERATIONS)
        .await?
        .into_iter()
        .filter_map(|l| l.key.strip_prefix(GENERATIONS).map(String::from))
        .collect();
    let mut present: HashSet<String> = repo
        .list(DATA)
        .await?
        .into_iter()
        .filter_map(|l| l.key.strip_prefix(DATA).map(String::from))
        .collect();
    let mut report = Vec::new();
    for generation in chosen {
        if remote.contains(&generation.name) {
            tracing::info!("'{}' is already offsite", generation.name);
            report.push(PushedGeneration {
                name: generation.name.clone(),
                status: "present",
                files: 0,
                bytes: 0,
                uploaded: 0,
                uploaded_bytes: 0,
                stored_bytes: 0,
            });
            continue;
        }
        let scanned = {
            let owned = generation.clone();
            tokio::task::spawn_blocking(move || super::scan::scan(&owned))
                .await
                .map_err(|e| FsError::new("scan", &generation.path, std::io::Error::other(e)))??
        };
        let pushed = push_generation(
            repo,
            &generation.path,
            scanned,
            &mut present,
            transfers,
            progress,
        )
        .await?;
        tracing::info!(
            "pushed '{}': {} files ({}), {} new contents ({}) stored as {}",
            pushed.name,
            pushed.files,
            crate::human::bytes(pushed.bytes),
            pushed.uploaded,
            crate::human::bytes(pushed.uploaded_bytes),
            crate::human::bytes(pushed.stored_bytes),
        );
        report.push(pushed);
    }
    Ok(report)
}

/// One content to upload.
struct Upload {
    id: String,
    path: PathBuf,
    size: u64,
    hash: blake3::Hash,
}

async fn push_generation<S: ObjectStore>(
    repo: &Repository<S>,
    dir: &Path,
    index: GenerationIndex,
    present: &mut HashSet<String>,
    transfers: usize,
    progress: &dyn Progress,
) -> OffsiteResult<PushedGeneration> {
    let mut queued: HashSet<String> = HashSet::new();
    let mut uploads = Vec::new();
    for file in &index.files {
        let hash = file.hash().ok_or_else(|| OffsiteError::LocalDamage {
            path: dir.join(&file.path),
            reason: format!("its recorded BLAKE3 '{}' is not a hash", file.blake3),
        })?;
        let id = repo.keys().content_id(&hash);
        if present.contains(&id) || !queued.insert(id.clone()) {
            continue;
        }
        uploads.push(Upload {
            id,
            path: dir.join(&file.path),
            size: file.size,
            hash,
        });
    }
    let total: u64 = uploads.iter().map(|u| u.size).sum();
    let meter = progress.meter(&format!("offsite push {}", index.head.name), Some(total));
    let (mut uploaded, mut uploaded_bytes, mut stored_bytes) = (0u64, 0u64, 0u64);
    let mut results = futures_util::stream::iter(uploads)
        .map(|upload| async move {
            let stored = upload_content(repo, &upload).await?;
            Ok::<_, OffsiteError>((upload, stored))
        })
        .buffer_unordered(transfers.max(1));
    while let Some(result) = results.next().await {
        let (upload, stored) = result?;
        meter.add(1, upload.size);
        uploaded += 1;
        uploaded_bytes += upload.size;
        stored_bytes += stored;
        present.insert(upload.id);
    }
    drop(meter);
    let name = format!("{GENERATIONS}{}", index.head.name);
    stored_bytes += repo.put_sealed(&name, &index.to_bytes()).await?;
    Ok(PushedGeneration {
        name: index.head.name.clone(),
        status: "pushed",
        files: index.head.files,
        bytes: index.head.bytes,
        uploaded,
        uploaded_bytes,
        stored_bytes,
    })
}

/// Reads a file part by part: hashes it, seals it.
struct ContentReader {
    file: File,
    path: PathBuf,
    hasher: blake3::Hasher,
    sealer: Option<Sealer>,
    header: Vec<u8>,
    remaining: u64,
    buffer: Vec<u8>,
}

impl ContentReader {
    fn open(path: &Path, size: u64, key: Option<&Key>, name: &str) -> OffsiteResult<ContentReader> {
        let file = File::open(path).at("open", path)?;
        let (sealer, header) = Sealer::new(key, name);
        Ok(ContentReader {
            file,
            path: path.to_path_buf(),
            hasher: blake3::Hasher::new(),
            sealer: Some(sealer),
            header,
            remaining: size,
            buffer: vec![0; CHUNK],
        })
    }

    /// The next part: up to `chunks` chunks, sealed; `true` when it ends the object.
    fn next_part(mut self, chunks: u64) -> OffsiteResult<(ContentReader, Bytes, bool)> {
        let mut out = std::mem::take(&mut self.header);
        for _ in 0..chunks {
            let len = self.remaining.min(CHUNK as u64) as usize;
            self.file
                .read_exact(&mut self.buffer[..len])
                .map_err(|e| self.changed(format!("it is shorter than recorded ({e})")))?;
            self.hasher.update(&self.buffer[..len]);
            self.remaining -= len as u64;
            if self.remaining == 0 {
                let mut rest = [0u8; 1];
                if self.file.read(&mut rest).at("read", &self.path)? > 0 {
                    return Err(self.changed("it is longer than recorded".into()));
                }
                if let Some(sealer) = self.sealer.take() {
                    sealer.seal_last(&self.buffer[..len], &mut out);
                }
                return Ok((self, Bytes::from(out), true));
            }
            if let Some(sealer) = &mut self.sealer {
                sealer.seal_next(&self.buffer[..len], &mut out);
            }
        }
        Ok((self, Bytes::from(out), false))
    }

    fn changed(&self, reason: String) -> OffsiteError {
        OffsiteError::LocalDamage {
            path: self.path.clone(),
            reason,
        }
    }

    fn check(&self, expected: &blake3::Hash) -> OffsiteResult<()> {
        if self.hasher.finalize() != *expected {
            return Err(self.changed("its BLAKE3 differs from the recorded one".into()));
        }
        Ok(())
    }
}

async fn next_part(
    reader: ContentReader,
    chunks: u64,
) -> OffsiteResult<(ContentReader, Bytes, bool)> {
    let path = reader.path.clone();
    tokio::task::spawn_blocking(move || reader.next_part(chunks))
        .await
        .map_err(|e| FsError::new("read", &path, std::io::Error::other(e)))?
}

/// Uploads one content as `data/<id>`; the stored (sealed) size.
async fn upload_content<S: ObjectStore>(
    repo: &Repository<S>,
    upload: &Upload,
) -> OffsiteResult<u64> {
    let name = format!("{DATA}{}", upload.id);
    let key = repo.full_key(&name);
    let stored = sealed_size(upload.size, repo.encrypted());
    let chunks = upload.size.div_ceil(CHUNK as u64).max(1);
    let part_chunks = PART_CHUNKS.max(chunks.div_ceil(MAX_PARTS));
    let reader = ContentReader::open(&upload.path, upload.size, repo.keys().data(), &name)?;
    let patience = repo.patience();
    let store = repo.store();
    let bucket = repo.bucket();
    if chunks <= part_chunks {
        let (reader, bytes, _) = next_part(reader, part_chunks).await?;
        reader.check(&upload.hash)?;
        let budget = patience.upload_deadline(bytes.len() as u64);
        patience
            .retry(budget, || {
                store.put_bytes(bucket, &key, bytes.clone(), false)
            })
            .await
            .map_err(|e| OffsiteError::store("upload", &key, e))?;
        return Ok(stored);
    }
    let no_meta = ObjectMeta::default();
    let upload_id = patience
        .retry(patience.stall, || {
            store.create_multipart(bucket, &key, &no_meta)
        })
        .await
        .map_err(|e| OffsiteError::store("start multipart upload", &key, e))?;
    let sent = async {
        let mut reader = reader;
        let mut parts = Vec::new();
        loop {
            let (next, bytes, last) = next_part(reader, part_chunks).await?;
            reader = next;
            let number = parts.len() as i32 + 1;
            let budget = patience.upload_deadline(bytes.len() as u64);
            let etag = patience
                .retry(budget, || {
                    store.upload_part_bytes(bucket, &key, &upload_id, number, bytes.clone())
                })
                .await
                .map_err(|e| OffsiteError::store("upload part of", &key, e))?;
            parts.push((number, etag));
            if last {
                break;
            }
        }
        reader.check(&upload.hash)?;
        patience
            .retry(patience.stall, || {
                store.complete_multipart(bucket, &key, &upload_id, parts.clone())
            })
            .await
            .map_err(|e| OffsiteError::store("complete multipart upload", &key, e))
    }
    .await;
    if let Err(e) = sent {
        if let Err(abort) = store.abort_multipart(bucket, &key, &upload_id).await {
            tracing::warn!("cannot abort the multipart upload of '{key}': {abort}");
        }
        return Err(e);
    }
    Ok(stored)
}
