//! Putting a generation's objects back into the S3 server.
//!
//! The caller has already verified the generation (every file against its manifest). Then, per
//! bucket: create it if missing; upload every object with its recorded Content-Type,
//! Cache-Control, Content-Encoding, Content-Disposition and user metadata (multipart above
//! [`MULTIPART_THRESHOLD`], bounded concurrency), skipping objects the bucket already holds with
//! the same size and ETag; **only after every upload of the bucket succeeded**, delete the
//! objects the generation does not hold (unless `keep_extra`); last, apply the recorded bucket
//! policy, or public-read for the anonymous-download buckets when none was recorded. A server
//! without policy support gets a warning, not a failure (the legacy script ignored it too).
//!
//! An object uploaded in parts gets a multipart ETag, which differs from the single-part one
//! the generation recorded, so restoring the same generation again uploads it again (harmless;
//! objects below the threshold are skipped).
//!
//! Legacy generations have no manifest: their files are walked, the key is the relative path,
//! and Content-Type is guessed from the file extension.
//!
//! Every request is bounded and transient failures are tried again ([`Patience`]): an upload
//! to a server that stops answering fails within its deadline instead of hanging.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt};

use super::error::ObjectsError;
use super::patience::Patience;
use super::store::{FileRange, ObjectMeta, ObjectStore, StoreErrorKind};
use crate::fsutil::FsError;
use crate::generation::{Generation, GenerationKind};
use crate::manifest::{self, ObjectEntry, Record};
use crate::progress::Progress;

/// Objects larger than this are uploaded in parts.
pub const MULTIPART_THRESHOLD: u64 = 64 * 1024 * 1024;
/// Part size of multipart uploads.
pub const PART_SIZE: u64 = 16 * 1024 * 1024;

/// Object restore settings.
#[derive(Debug, Clone)]
pub struct ObjectRestoreOptions {
    /// Concurrent uploads.
    pub concurrency: usize,
    /// Leave objects the generation does not hold.
    pub keep_extra: bool,
    /// Buckets made public-read when the generation records no policy for them.
    pub anon_download_buckets: Vec<String>,
    /// Bounded waits and retries.
    pub patience: Patience,
}

/// What the object restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectsRestored {
    /// Buckets restored.
    pub buckets: u64,
    /// Objects uploaded.
    pub uploaded: u64,
    /// Objects already present with the same size and ETag.
    pub skipped: u64,
    /// Objects deleted because the generation does not hold them.
    pub deleted: u64,
    /// Bytes uploaded.
    pub bytes: u64,
}

/// One bucket's part of a generation.
struct BucketPlan {
    name: String,
    objects: Vec<ObjectEntry>,
    policy: Option<String>,
}

/// Restores every bucket of `generation`; each bucket's uploads are one phase of `progress`.
pub async fn restore_objects<S: ObjectStore>(
    store: &S,
    generation: &Generation,
    options: &ObjectRestoreOptions,
    progress: &dyn Progress,
) -> Result<ObjectsRestored, ObjectsError> {
    let plans = plan(generation)?;
    let patience = &options.patience;
    // Reachability and credentials before the first change.
    super::listing::list_buckets(store, patience).await?;
    let mut done = ObjectsRestored::default();
    for bucket in &plans {
        ensure_bucket(store, patience, &bucket.name).await?;
        let present = list_present(store, patience, &bucket.name).await?;
        crate::failpoint::pause(crate::failpoint::PausePoint::RestoreBeforeUploads).await;
        let meter = progress.meter(
            &format!("bucket {}", bucket.name),
            Some(bucket.objects.len() as u64),
        );
        // Each result: the bytes uploaded, or None when the object was already there.
        // Stops at the first failed upload (the ones in flight are dropped).
        let (uploaded, bytes, skipped) = futures_util::stream::iter(bucket.objects.iter())
            .map(|object| {
                let unchanged = present.get(&object.key).is_some_and(|(size, etag)| {
                    *size == object.size && !object.etag.is_empty() && *etag == object.etag
                });
                let meter = meter.as_ref();
                async move {
                    if unchanged {
                        meter.add(1, 0);
                        return Ok(None);
                    }
                    let uploaded = upload(store, patience, &generation.path, object).await;
                    meter.add(1, object.size);
                    crate::failpoint::pause(crate::failpoint::PausePoint::RestoreMidUpload).await;
                    uploaded.map(|()| Some(object.size))
                }
            })
            .buffer_unordered(options.concurrency.max(1))
            .try_fold((0u64, 0u64, 0u64), |(n, b, s), result| async move {
                Ok(match result {
                    Some(bytes) => (n + 1, b + bytes, s),
                    None => (n, b, s + 1),
                })
            })
            .await?;
        done.uploaded += uploaded;
        done.bytes += bytes;
        done.skipped += skipped;
        if !options.keep_extra {
            let held: std::collections::HashSet<&str> =
                bucket.objects.iter().map(|o| o.key.as_str()).collect();
            let extra: Vec<&String> = present
                .keys()
                .filter(|k| !held.contains(k.as_str()))
                .collect();
            done.deleted += delete_keys(store, patience, &bucket.name, &extra).await?;
        }
        apply_policy(store, bucket, options).await?;
        tracing::info!(
            "bucket '{}': {} objects restored",
            bucket.name,
            bucket.objects.len()
        );
        done.buckets += 1;
    }
    Ok(done)
}

/// Reads the buckets and objects of a generation (manifest, or the legacy tree).
fn plan(generation: &Generation) -> Result<Vec<BucketPlan>, ObjectsError> {
    let io = |path: &Path, source| ObjectsError::from(FsError::new("read", path, source));
    if matches!(generation.kind, GenerationKind::Fullsite(_)) {
        let mut buckets: BTreeMap<String, BucketPlan> = BTreeMap::new();
        manifest::read_records(&generation.path, |record| match record {
            Record::Bucket(b) => {
                buckets
                    .entry(b.name.clone())
                    .or_insert(BucketPlan {
                        name: b.name,
                        objects: Vec::new(),
                        policy: None,
                    })
                    .policy = b.policy;
            }
            Record::Object(o) => buckets
                .entry(o.bucket.clone())
                .or_insert(BucketPlan {
                    name: o.bucket.clone(),
                    objects: Vec::new(),
                    policy: None,
                })
                .objects
                .push(o),
            _ => {}
        })?;
        return Ok(buckets.into_values().collect());
    }
    let root = generation.path.join("objects");
    let mut plans = Vec::new();
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(plans),
        Err(e) => return Err(io(&root, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io(&root, e))?;
        if !entry
            .file_type()
            .map_err(|e| io(&entry.path(), e))?
            .is_dir()
        {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut objects = Vec::new();
        for file in walkdir::WalkDir::new(entry.path()).follow_links(false) {
            let file = file.map_err(|e| io(&entry.path(), e.into()))?;
            if !file.file_type().is_file() {
                continue;
            }
            let relative = file
                .path()
                .strip_prefix(entry.path())
                .unwrap_or(file.path());
            let key = relative.to_string_lossy().into_owned();
            let size = file
                .metadata()
                .map_err(|e| io(file.path(), e.into()))?
                .len();
            objects.push(ObjectEntry {
                bucket: name.clone(),
                path: format!("objects/{name}/{key}"),
                content_type: Some(content_type_for(&key).to_string()),
                key,
                size,
                etag: String::new(),
                last_modified: String::new(),
                blake3: String::new(),
                cache_control: None,
                content_encoding: None,
                content_disposition: None,
                metadata: BTreeMap::new(),
            });
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        plans.push(BucketPlan {
            name,
            objects,
            policy: None,
        });
    }
    plans.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(plans)
}

async fn ensure_bucket<S: ObjectStore>(
    store: &S,
    patience: &Patience,
    bucket: &str,
) -> Result<(), ObjectsError> {
    let fail = |action: String| move |e| ObjectsError::store(store, action, e);
    let exists = patience
        .retry(patience.stall, || store.bucket_exists(bucket))
        .await
        .map_err(fail(format!("look up bucket '{bucket}'")))?;
    if exists {
        return Ok(());
    }
    patience
        .retry(patience.stall, || store.create_bucket(bucket))
        .await
        .map_err(fail(format!("create bucket '{bucket}'")))?;
    tracing::info!("created bucket '{bucket}'");
    Ok(())
}

/// Key → (size, ETag) of what the bucket holds now.
async fn list_present<S: ObjectStore>(
    store: &S,
    patience: &Patience,
    bucket: &str,
) -> Result<HashMap<String, (u64, String)>, ObjectsError> {
    let listed = super::listing::list_bucket(store, patience, bucket)
        .await?
        .unwrap_or_default();
    Ok(listed
        .into_iter()
        .map(|o| (o.key, (o.size, o.etag)))
        .collect())
}

/// The metadata an object is restored with.
fn meta_of(object: &ObjectEntry) -> ObjectMeta {
    ObjectMeta {
        content_type: object.content_type.clone(),
        cache_control: object.cache_control.clone(),
        content_encoding: object.content_encoding.clone(),
        content_disposition: object.content_disposition.clone(),
        user: object.metadata.clone(),
    }
}

async fn upload<S: ObjectStore>(
    store: &S,
    patience: &Patience,
    generation: &Path,
    object: &ObjectEntry,
) -> Result<(), ObjectsError> {
    let path: PathBuf = generation.join(&object.path);
    let action = || {
        format!(
            "upload '{}' to bucket '{}'",
            crate::human::printable(&object.key),
            object.bucket
        )
    };
    let fail = |e| ObjectsError::store(store, action(), e);
    let meta = meta_of(object);
    let (bucket, key) = (object.bucket.as_str(), object.key.as_str());
    let range = |offset: u64, length: u64| FileRange {
        path: path.clone(),
        offset,
        length,
    };
    if object.size <= MULTIPART_THRESHOLD {
        return patience
            .retry(patience.upload_deadline(object.size), || {
                store.put(bucket, key, range(0, object.size), &meta)
            })
            .await
            .map_err(fail);
    }
    let upload_id = patience
        .retry(patience.stall, || {
            store.create_multipart(bucket, key, &meta)
        })
        .await
        .map_err(fail)?;
    let mut parts = Vec::new();
    let mut offset = 0u64;
    let mut number = 1;
    while offset < object.size {
        let length = PART_SIZE.min(object.size - offset);
        let part = patience
            .retry(patience.upload_deadline(length), || {
                store.upload_part(bucket, key, &upload_id, number, range(offset, length))
            })
            .await;
        match part {
            Ok(etag) => parts.push((number, etag)),
            Err(e) => {
                // Best effort: a failed abort leaves parts the server expires on its own.
                let _ = tokio::time::timeout(
                    patience.stall,
                    store.abort_multipart(bucket, key, &upload_id),
                )
                .await;
                return Err(fail(e));
            }
        }
        offset += length;
        number += 1;
    }
    patience
        .retry(patience.stall, || {
            store.complete_multipart(bucket, key, &upload_id, parts.clone())
        })
        .await
        .map_err(fail)
}

async fn delete_keys<S: ObjectStore>(
    store: &S,
    patience: &Patience,
    bucket: &str,
    keys: &[&String],
) -> Result<u64, ObjectsError> {
    for batch in keys.chunks(1000) {
        let batch: Vec<String> = batch.iter().map(|k| k.to_string()).collect();
        patience
            .retry(patience.stall, || store.delete(bucket, &batch))
            .await
            .map_err(|e| {
                ObjectsError::store(store, format!("delete objects from bucket '{bucket}'"), e)
            })?;
    }
    Ok(keys.len() as u64)
}

async fn apply_policy<S: ObjectStore>(
    store: &S,
    bucket: &BucketPlan,
    options: &ObjectRestoreOptions,
) -> Result<(), ObjectsError> {
    let policy = match &bucket.policy {
        Some(policy) => policy.clone(),
        None if options
            .anon_download_buckets
            .iter()
            .any(|b| b == &bucket.name) =>
        {
            public_read(&bucket.name)
        }
        None => return Ok(()),
    };
    let patience = &options.patience;
    match patience
        .retry(patience.stall, || store.put_policy(&bucket.name, &policy))
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind == StoreErrorKind::NotImplemented => {
            tracing::warn!(
                "bucket '{}': the server does not implement bucket policies; none applied",
                bucket.name
            );
            Ok(())
        }
        Err(e) => Err(ObjectsError::store(
            store,
            format!("set the policy of bucket '{}'", bucket.name),
            e,
        )),
    }
}

/// Anonymous read of every object, as `mc anonymous set download` grants.
pub fn public_read(bucket: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":["*"]}},"Action":["s3:GetBucketLocation","s3:GetObject"],"Resource":["arn:aws:s3:::{bucket}","arn:aws:s3:::{bucket}/*"]}}]}}"#
    )
}

/// Content-Type for legacy files, from the extension.
pub fn content_type_for(key: &str) -> &'static str {
    let extension = key
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css",
        "js" => "text/javascript",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_content_types_come_from_the_extension() {
        assert_eq!(content_type_for("a/b/photo.JPG"), "image/jpeg");
        assert_eq!(content_type_for("x.webp"), "image/webp");
        assert_eq!(content_type_for("noext"), "application/octet-stream");
    }

    #[test]
    fn the_public_read_policy_names_the_bucket() {
        let policy: serde_json::Value = serde_json::from_str(&public_read("stgy-images")).unwrap();
        assert_eq!(
            policy["Statement"][0]["Resource"][1],
            "arn:aws:s3:::stgy-images/*"
        );
    }
}
