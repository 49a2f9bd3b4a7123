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
//! Memory does not grow with the number of objects: the generation's objects come sorted by
//! key from [`GenerationObjects`] and the server's listing is sorted the same way (both external
//! sorts), and the two are merged key by key; the extras found are spooled, sorted, until the
//! uploads are done. With a selection ([`ObjectSelection`]) only the selected buckets are
//! touched, only the selected keys are listed (per `--prefix`, or per `--key`), so nothing
//! outside the selection is uploaded or deleted; bucket policies are applied only when whole
//! buckets are restored.
//!
//! Every request is bounded and transient failures are tried again ([`Patience`]): an upload
//! to a server that stops answering fails within its deadline instead of hanging.

use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt};

use super::error::ObjectsError;
use super::generation_objects::{GenerationObjects, SelectedBucket};
use super::patience::Patience;
use super::selection::ObjectSelection;
use super::store::{FileRange, ObjectMeta, ObjectStore, StoreErrorKind};
use crate::extsort::{RUN_LEN, Sorted, Sorter};
use crate::fsutil::FsError;
use crate::generation::Generation;
use crate::manifest::ObjectEntry;
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
    /// What to restore (the objects read are already filtered by it; the server's listing is
    /// filtered here, so nothing outside it is deleted).
    pub selection: ObjectSelection,
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

/// What the server holds of one key: enough to skip an unchanged upload.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Present {
    key: String,
    size: u64,
    etag: String,
}

/// Restores the selected objects of `generation` (read and checked by the caller); each
/// bucket's uploads are one phase of `progress`.
pub async fn restore_objects<S: ObjectStore>(
    store: &S,
    generation: &Generation,
    objects: &mut GenerationObjects,
    options: &ObjectRestoreOptions,
    progress: &dyn Progress,
) -> Result<ObjectsRestored, ObjectsError> {
    let patience = &options.patience;
    // Reachability and credentials before the first change.
    super::listing::list_buckets(store, patience).await?;
    let buckets: Vec<(String, SelectedBucket)> = objects
        .buckets
        .iter()
        .map(|(name, bucket)| (name.clone(), bucket.clone()))
        .collect();
    let mut done = ObjectsRestored::default();
    let mut records = objects.iter()?.peekable();
    for (name, bucket) in &buckets {
        // `--key` without `--bucket` touches only the buckets that hold one of the keys.
        if !options.selection.keys.is_empty() && bucket.objects == 0 {
            continue;
        }
        ensure_bucket(store, patience, name).await?;
        let mut present = list_present(store, patience, name, &options.selection).await?;
        crate::failpoint::pause(crate::failpoint::PausePoint::RestoreBeforeUploads).await;
        let meter = progress.meter(&format!("bucket {name}"), Some(bucket.objects));
        let mut join = Join {
            objects: std::iter::from_fn(|| {
                match records.peek() {
                    Some(Ok(o)) if o.bucket != *name => return None,
                    None => return None,
                    _ => {}
                }
                records.next()
            }),
            present: present
                .iter()
                .map_err(temp_error)?
                .map(|r| r.map_err(temp_error))
                .peekable(),
            extras: Sorter::new(RUN_LEN, |a: &String, b: &String| a.cmp(b)),
            last_extra: None,
        };
        // Each result: the bytes uploaded, or None when the object was already there.
        // Stops at the first failed upload (the ones in flight are dropped).
        let (uploaded, bytes, skipped) = futures_util::stream::iter(join.by_ref())
            .map(|step| {
                let meter = meter.as_ref();
                async move {
                    let object = match step? {
                        Step::Unchanged => {
                            meter.add(1, 0);
                            return Ok(None);
                        }
                        Step::Upload(object) => object,
                    };
                    let uploaded = upload(store, patience, &generation.path, &object).await;
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
        let mut extras = join.extras.finish().map_err(temp_error)?;
        if !options.keep_extra {
            done.deleted += delete_keys(store, patience, name, &mut extras).await?;
        }
        if options.selection.whole_buckets() {
            apply_policy(store, name, bucket.policy.as_deref(), options).await?;
        }
        tracing::info!("bucket '{name}': {} objects restored", bucket.objects);
        done.buckets += 1;
    }
    Ok(done)
}

/// What to do with one object of the generation.
enum Step {
    /// The server holds it with the same size and ETag.
    Unchanged,
    /// Upload it.
    Upload(Box<ObjectEntry>),
}

/// The generation's objects of one bucket merged with the server's listing, both sorted by
/// key: each object is uploaded or found unchanged; listed keys the generation does not hold
/// are collected in `extras` (sorted, deduplicated).
struct Join<O, P: Iterator> {
    objects: O,
    present: std::iter::Peekable<P>,
    extras: Sorter<String>,
    last_extra: Option<String>,
}

impl<O, P> Join<O, P>
where
    O: Iterator<Item = Result<ObjectEntry, ObjectsError>>,
    P: Iterator<Item = Result<Present, ObjectsError>>,
{
    fn extra(&mut self, key: String) -> Result<(), ObjectsError> {
        if self.last_extra.as_deref() == Some(key.as_str()) {
            return Ok(());
        }
        self.last_extra = Some(key.clone());
        self.extras.push(key).map_err(temp_error)
    }

    fn step(&mut self) -> Result<Option<Step>, ObjectsError> {
        let Some(object) = self.objects.next().transpose()? else {
            while let Some(present) = self.present.next().transpose()? {
                self.extra(present.key)?;
            }
            return Ok(None);
        };
        let mut same = None;
        loop {
            let order = match self.present.peek() {
                None => break,
                Some(Err(_)) => std::cmp::Ordering::Less,
                Some(Ok(p)) => p.key.as_str().cmp(object.key.as_str()),
            };
            if order == std::cmp::Ordering::Greater {
                break;
            }
            let Some(present) = self.present.next().transpose()? else {
                break;
            };
            if order == std::cmp::Ordering::Equal {
                same = Some(present);
            } else {
                self.extra(present.key)?;
            }
        }
        let unchanged = same.is_some_and(|p| {
            p.size == object.size && !object.etag.is_empty() && p.etag == object.etag
        });
        Ok(Some(if unchanged {
            Step::Unchanged
        } else {
            Step::Upload(Box::new(object))
        }))
    }
}

impl<O, P> Iterator for Join<O, P>
where
    O: Iterator<Item = Result<ObjectEntry, ObjectsError>>,
    P: Iterator<Item = Result<Present, ObjectsError>>,
{
    type Item = Result<Step, ObjectsError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step().transpose()
    }
}

fn temp_error(e: std::io::Error) -> ObjectsError {
    ObjectsError::from(FsError::new(
        "use a temporary file in",
        &std::env::temp_dir(),
        e,
    ))
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

/// What the bucket holds now of the selection, sorted by key (a key listed twice, as
/// overlapping `--key` prefixes can, comes twice).
async fn list_present<S: ObjectStore>(
    store: &S,
    patience: &Patience,
    bucket: &str,
    selection: &ObjectSelection,
) -> Result<Sorted<Present>, ObjectsError> {
    let mut sorter = Sorter::new(RUN_LEN, |a: &Present, b: &Present| a.key.cmp(&b.key));
    for prefix in selection.listing_prefixes() {
        let mut token: Option<String> = None;
        loop {
            let page = patience
                .retry(patience.stall, || {
                    store.list_prefix_page(bucket, &prefix, token.clone())
                })
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) if e.kind == StoreErrorKind::NoSuchBucket => break,
                Err(e) => {
                    return Err(ObjectsError::store(
                        store,
                        format!("list bucket '{bucket}'"),
                        e,
                    ));
                }
            };
            for listed in page.objects {
                if selection.selects_key(&listed.key) {
                    let present = Present {
                        key: listed.key,
                        size: listed.size,
                        etag: listed.etag,
                    };
                    sorter.push(present).map_err(temp_error)?;
                }
            }
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
    }
    sorter.finish().map_err(temp_error)
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
    keys: &mut Sorted<String>,
) -> Result<u64, ObjectsError> {
    let mut deleted = 0;
    let mut keys = keys.iter().map_err(temp_error)?;
    loop {
        let batch: Vec<String> = keys
            .by_ref()
            .take(1000)
            .collect::<Result<_, _>>()
            .map_err(temp_error)?;
        if batch.is_empty() {
            return Ok(deleted);
        }
        patience
            .retry(patience.stall, || store.delete(bucket, &batch))
            .await
            .map_err(|e| {
                ObjectsError::store(store, format!("delete objects from bucket '{bucket}'"), e)
            })?;
        deleted += batch.len() as u64;
    }
}

async fn apply_policy<S: ObjectStore>(
    store: &S,
    name: &str,
    policy: Option<&str>,
    options: &ObjectRestoreOptions,
) -> Result<(), ObjectsError> {
    let policy = match policy {
        Some(policy) => policy.to_string(),
        None if options.anon_download_buckets.iter().any(|b| b == name) => public_read(name),
        None => return Ok(()),
    };
    let patience = &options.patience;
    match patience
        .retry(patience.stall, || store.put_policy(name, &policy))
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind == StoreErrorKind::NotImplemented => {
            tracing::warn!(
                "bucket '{name}': the server does not implement bucket policies; none applied"
            );
            Ok(())
        }
        Err(e) => Err(ObjectsError::store(
            store,
            format!("set the policy of bucket '{name}'"),
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
