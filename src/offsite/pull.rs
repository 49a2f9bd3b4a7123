//! `offsite pull`: recreates a generation from the repository under the backup root, as
//! `backup` left it: the same files with the same bytes, modes and mtimes, the same hard links
//! within it, the same directories, and its manifest byte for byte (so `fullsite verify` and
//! `restore` work as for any generation).
//!
//! It holds the root lock and builds in the usual `.NAME.partial.PID` directory, published by
//! one atomic rename; a failure or signal removes it. Content is downloaded once per distinct
//! content and authenticated chunk by chunk, its BLAKE3 checked before it takes its name. A
//! file whose content, mode and mtime equal a file of a local complete generation is
//! hard-linked to it instead (after re-hashing it), as backups share unchanged files.

use std::collections::HashMap;
use std::fs::{File, FileTimes, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use serde::Serialize;

use super::error::{OffsiteError, OffsiteResult};
use super::index::{FileRecord, GenerationIndex};
use super::repo::{DATA, GENERATIONS, Repository};
use crate::fsutil::IoContext;
use crate::generation::{Catalog, GenerationKind, GenerationName, PartialGeneration, remove_stale};
use crate::lock::RootLock;
use crate::manifest::{self, hash_file};
use crate::objects::store::ObjectStore;
use crate::progress::Progress;

/// What a pull did.
#[derive(Debug, Clone, Serialize)]
pub struct PullReport {
    /// Generation name.
    pub name: String,
    /// Where it now is.
    pub path: PathBuf,
    /// Files.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// Contents downloaded.
    pub downloaded: u64,
    /// Their size.
    pub downloaded_bytes: u64,
    /// Files hard-linked to local generations.
    pub linked: u64,
    /// Wall time.
    pub seconds: f64,
}

/// Reads and parses the index of generation `name`.
pub async fn read_index<S: ObjectStore>(
    repo: &Repository<S>,
    name: &str,
) -> OffsiteResult<GenerationIndex> {
    let key = format!("{GENERATIONS}{name}");
    let bytes = match repo.get_opened(&key).await {
        Err(OffsiteError::Missing { .. }) => {
            return Err(OffsiteError::NoSuchGeneration {
                name: name.to_string(),
                place: format!("the offsite repository at '{}'", repo.url()),
            });
        }
        other => other?,
    };
    GenerationIndex::parse(&bytes).map_err(|e| match e {
        super::index::IndexError::Newer(found) => OffsiteError::Refused(format!(
            "offsite generation '{name}': index version {found} is newer than this fullsite reads; upgrade fullsite"
        )),
        super::index::IndexError::Invalid(reason) => OffsiteError::Damaged {
            key: repo.full_key(&key),
            reason,
        },
    })
}

fn system_time(ns: i64) -> SystemTime {
    if ns >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}

fn set_mode_and_mtime(path: &Path, mode: u32, mtime_ns: i64) -> OffsiteResult<()> {
    std::fs::set_permissions(path, Permissions::from_mode(mode)).at("set permissions of", path)?;
    let file = File::open(path).at("open", path)?;
    file.set_times(FileTimes::new().set_modified(system_time(mtime_ns)))
        .at("set the mtime of", path)?;
    Ok(())
}

/// Where content of a given size and BLAKE3 lives in the local complete generations.
fn local_contents(catalog: &Catalog) -> HashMap<(u64, String), PathBuf> {
    let mut known = HashMap::new();
    for generation in catalog.complete().rev() {
        if !matches!(generation.kind, GenerationKind::Fullsite(_)) {
            continue;
        }
        let read = manifest::read_all(&generation.path, |entry| {
            known
                .entry((entry.size, entry.blake3))
                .or_insert_with(|| generation.path.join(&entry.path));
        });
        if let Err(e) = read {
            tracing::warn!("not linking to '{}': {e}", generation.name);
        }
    }
    known
}

/// Hard-links `target` to `existing` when that file has the record's content, mode and mtime.
fn link_local(existing: &Path, target: &Path, file: &FileRecord) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(existing) else {
        return false;
    };
    let mtime = meta.mtime().saturating_mul(1_000_000_000) + meta.mtime_nsec();
    if !meta.is_file() || meta.mode() & 0o7777 != file.mode || mtime != file.mtime_ns {
        return false;
    }
    match hash_file(existing) {
        Ok((size, hash)) if size == file.size && hash.to_hex().as_str() == file.blake3 => {}
        _ => return false,
    }
    let _ = std::fs::remove_file(target);
    std::fs::hard_link(existing, target).is_ok()
}

/// Pulls generation `name` into `root`.
pub async fn pull<S: ObjectStore>(
    repo: &Repository<S>,
    root: &Path,
    name: &str,
    transfers: usize,
    progress: &dyn Progress,
) -> OffsiteResult<PullReport> {
    let started = Instant::now();
    let generation_name = GenerationName::parse(name)?;
    let index = read_index(repo, name).await?;
    crate::fsutil::create_private_dir_all(root)?;
    let _lock = RootLock::acquire(root, "fullsite offsite pull", None).await?;
    let catalog = Catalog::scan(root)?;
    remove_stale(&catalog.leftovers);
    if catalog.get(name).is_some() || root.join(name).symlink_metadata().is_ok() {
        return Err(OffsiteError::Exists {
            name: name.to_string(),
            root: root.to_path_buf(),
        });
    }
    let partial = PartialGeneration::begin(root, &generation_name)?;
    let dir = partial.dir().to_path_buf();
    for entry in index.dirs.iter().filter(|d| !d.path.is_empty()) {
        crate::fsutil::create_private_dir(&dir.join(&entry.path))?;
    }
    let known = local_contents(&catalog);
    let mut report = PullReport {
        name: name.to_string(),
        path: root.join(name),
        files: index.head.files,
        bytes: index.head.bytes,
        downloaded: 0,
        downloaded_bytes: 0,
        linked: 0,
        seconds: 0.0,
    };
    // First the files that are not links within the generation: local links, then downloads
    // (one per distinct content; later files with the same content are copies of it).
    let mut downloads: Vec<&FileRecord> = Vec::new();
    let mut first_of: HashMap<&str, &FileRecord> = HashMap::new();
    let mut copies: Vec<(&FileRecord, &FileRecord)> = Vec::new();
    for file in index.files.iter().filter(|f| f.link.is_none()) {
        let target = dir.join(&file.path);
        if let Some(existing) = known.get(&(file.size, file.blake3.clone()))
            && link_local(existing, &target, file)
        {
            report.linked += 1;
            continue;
        }
        match first_of.get(file.blake3.as_str()) {
            Some(first) => copies.push((file, first)),
            None => {
                first_of.insert(&file.blake3, file);
                downloads.push(file);
            }
        }
    }
    let total: u64 = downloads.iter().map(|f| f.size).sum();
    let meter = progress.meter(&format!("offsite pull {name}"), Some(total));
    let mut results = futures_util::stream::iter(downloads)
        .map(|file| {
            let target = dir.join(&file.path);
            async move { download(repo, file, &target).await.map(|()| file.size) }
        })
        .buffer_unordered(transfers.max(1));
    while let Some(result) = results.next().await {
        let size = result?;
        meter.add(1, size);
        report.downloaded += 1;
        report.downloaded_bytes += size;
    }
    drop(results);
    drop(meter);
    for (file, first) in copies {
        let target = dir.join(&file.path);
        let _ = std::fs::remove_file(&target);
        std::fs::copy(dir.join(&first.path), &target).at("copy to", &target)?;
        set_mode_and_mtime(&target, file.mode, file.mtime_ns)?;
    }
    for file in &index.files {
        if let Some(first) = &file.link {
            let target = dir.join(&file.path);
            let _ = std::fs::remove_file(&target);
            std::fs::hard_link(dir.join(first), &target).at("hard-link", &target)?;
        }
    }
    // Directories last, deepest first, so creating their entries does not change their mtime.
    for entry in index.dirs.iter().rev() {
        set_mode_and_mtime(&dir.join(&entry.path), entry.mode, entry.mtime_ns)?;
    }
    let path = partial.publish()?;
    report.path = path;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Downloads `file`'s content into `target`: through a temporary name, checked, then renamed.
async fn download<S: ObjectStore>(
    repo: &Repository<S>,
    file: &FileRecord,
    target: &Path,
) -> OffsiteResult<()> {
    let hash = file.hash().ok_or_else(|| OffsiteError::Damaged {
        key: target.display().to_string(),
        reason: format!("the index records '{}' as its BLAKE3", file.blake3),
    })?;
    let id = repo.keys().content_id(&hash);
    let name = format!("{DATA}{id}");
    let tmp = target.with_file_name(format!(
        ".{}.offsite.{}",
        target
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .at("create", &tmp)?;
    let mut hasher = blake3::Hasher::new();
    let read = repo
        .read_opened(&name, |plain| {
            hasher.update(plain);
            out.write_all(plain).at("write", &tmp)?;
            Ok(true)
        })
        .await;
    let checked = read
        .map_err(|e| match e {
            OffsiteError::Missing { key, .. } => OffsiteError::Missing {
                key,
                context: format!(" (content of '{}')", file.path),
            },
            other => other,
        })
        .and_then(|()| {
            if hasher.count() != file.size || hasher.finalize() != hash {
                return Err(OffsiteError::Damaged {
                    key: repo.full_key(&name),
                    reason: format!("its content does not match '{}' in the index", file.path),
                });
            }
            Ok(out.sync_data().at("write", &tmp)?)
        });
    drop(out);
    if let Err(e) = checked {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    set_mode_and_mtime(&tmp, file.mode, file.mtime_ns)?;
    std::fs::rename(&tmp, target).at("rename into", target)?;
    Ok(())
}
