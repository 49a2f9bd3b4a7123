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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use futures_util::StreamExt;

use super::client::{S3, describe};
use super::mirror::MirrorError;
use crate::generation::{Generation, GenerationKind};
use crate::manifest::{self, ObjectEntry, Record};
use crate::progress::Meter;

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

/// Restores every bucket of `generation`.
pub async fn restore_objects(
    s3: &S3,
    generation: &Generation,
    options: &ObjectRestoreOptions,
) -> Result<ObjectsRestored, MirrorError> {
    let plans = plan(generation)?;
    // Reachability and credentials before the first change.
    s3.client
        .list_buckets()
        .send()
        .await
        .map_err(|e| error(s3, "list buckets".into(), &e))?;
    let mut done = ObjectsRestored::default();
    for bucket in &plans {
        ensure_bucket(s3, &bucket.name).await?;
        let present = list_present(s3, &bucket.name).await?;
        crate::failpoint::pause("restore:before-uploads").await;
        let meter = Meter::start(
            &format!("bucket {}", bucket.name),
            Some(bucket.objects.len() as u64),
        );
        // Each result: the bytes uploaded, or None when the object was already there.
        let results: Vec<Result<Option<u64>, MirrorError>> =
            futures_util::stream::iter(bucket.objects.iter())
                .map(|object| {
                    let unchanged = present.get(&object.key).is_some_and(|(size, etag)| {
                        *size == object.size && !object.etag.is_empty() && *etag == object.etag
                    });
                    let meter = &meter;
                    async move {
                        if unchanged {
                            meter.add(1, 0);
                            return Ok(None);
                        }
                        let uploaded = upload(s3, &generation.path, object).await;
                        meter.add(1, object.size);
                        crate::failpoint::pause("restore:mid-upload").await;
                        uploaded.map(|()| Some(object.size))
                    }
                })
                .buffer_unordered(options.concurrency.max(1))
                .collect()
                .await;
        for result in results {
            match result? {
                Some(bytes) => {
                    done.uploaded += 1;
                    done.bytes += bytes;
                }
                None => done.skipped += 1,
            }
        }
        if !options.keep_extra {
            let held: std::collections::HashSet<&str> =
                bucket.objects.iter().map(|o| o.key.as_str()).collect();
            let extra: Vec<&String> = present
                .keys()
                .filter(|k| !held.contains(k.as_str()))
                .collect();
            done.deleted += delete_keys(s3, &bucket.name, &extra).await?;
        }
        apply_policy(s3, bucket, options).await?;
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
fn plan(generation: &Generation) -> Result<Vec<BucketPlan>, MirrorError> {
    let io = |path: &Path, source| MirrorError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
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
        })
        .map_err(|e| {
            io(
                &generation.path.join(manifest::MANIFEST_FILE),
                std::io::Error::other(e.to_string()),
            )
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

async fn ensure_bucket(s3: &S3, bucket: &str) -> Result<(), MirrorError> {
    if s3.client.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    s3.client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| error(s3, format!("create bucket '{bucket}'"), &e))?;
    tracing::info!("created bucket '{bucket}'");
    Ok(())
}

/// Key → (size, ETag) of what the bucket holds now.
async fn list_present(
    s3: &S3,
    bucket: &str,
) -> Result<HashMap<String, (u64, String)>, MirrorError> {
    let listed = super::listing::list_bucket(s3, bucket)
        .await?
        .unwrap_or_default();
    Ok(listed
        .into_iter()
        .map(|o| (o.key, (o.size, o.etag)))
        .collect())
}

async fn upload(s3: &S3, generation: &Path, object: &ObjectEntry) -> Result<(), MirrorError> {
    let path: PathBuf = generation.join(&object.path);
    let action = || {
        format!(
            "upload '{}' to bucket '{}'",
            crate::display::printable(&object.key),
            object.bucket
        )
    };
    let metadata: Option<HashMap<String, String>> =
        (!object.metadata.is_empty()).then(|| object.metadata.clone().into_iter().collect());
    if object.size <= MULTIPART_THRESHOLD {
        let body = ByteStream::from_path(&path)
            .await
            .map_err(|e| MirrorError::Io {
                action: "read",
                path: path.clone(),
                source: std::io::Error::other(e),
            })?;
        s3.client
            .put_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .body(body)
            .set_content_type(object.content_type.clone())
            .set_cache_control(object.cache_control.clone())
            .set_content_encoding(object.content_encoding.clone())
            .set_content_disposition(object.content_disposition.clone())
            .set_metadata(metadata)
            .send()
            .await
            .map_err(|e| error(s3, action(), &e))?;
        return Ok(());
    }
    let created = s3
        .client
        .create_multipart_upload()
        .bucket(&object.bucket)
        .key(&object.key)
        .set_content_type(object.content_type.clone())
        .set_cache_control(object.cache_control.clone())
        .set_content_encoding(object.content_encoding.clone())
        .set_content_disposition(object.content_disposition.clone())
        .set_metadata(metadata)
        .send()
        .await
        .map_err(|e| error(s3, action(), &e))?;
    let upload_id = created.upload_id().unwrap_or_default().to_string();
    let mut parts = Vec::new();
    let mut offset = 0u64;
    let mut number = 1;
    while offset < object.size {
        let length = PART_SIZE.min(object.size - offset);
        let body = ByteStream::read_from()
            .path(&path)
            .offset(offset)
            .length(aws_sdk_s3::primitives::Length::Exact(length))
            .build()
            .await
            .map_err(|e| MirrorError::Io {
                action: "read",
                path: path.clone(),
                source: std::io::Error::other(e),
            })?;
        let part = s3
            .client
            .upload_part()
            .bucket(&object.bucket)
            .key(&object.key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(body)
            .send()
            .await;
        let part = match part {
            Ok(part) => part,
            Err(e) => {
                let _ = s3
                    .client
                    .abort_multipart_upload()
                    .bucket(&object.bucket)
                    .key(&object.key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                return Err(error(s3, action(), &e));
            }
        };
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag)
                .build(),
        );
        offset += length;
        number += 1;
    }
    s3.client
        .complete_multipart_upload()
        .bucket(&object.bucket)
        .key(&object.key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .map_err(|e| error(s3, action(), &e))?;
    Ok(())
}

async fn delete_keys(s3: &S3, bucket: &str, keys: &[&String]) -> Result<u64, MirrorError> {
    for batch in keys.chunks(1000) {
        let objects: Vec<ObjectIdentifier> = batch
            .iter()
            .filter_map(|k| ObjectIdentifier::builder().key(k.as_str()).build().ok())
            .collect();
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| error(s3, format!("delete objects from bucket '{bucket}'"), &e))?;
        let output = s3
            .client
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| error(s3, format!("delete objects from bucket '{bucket}'"), &e))?;
        if let Some(failed) = output.errors().first() {
            return Err(MirrorError::S3 {
                action: format!(
                    "delete '{}' from bucket '{bucket}'",
                    failed.key().unwrap_or_default()
                ),
                endpoint: s3.endpoint.clone(),
                message: failed.message().unwrap_or_default().to_string(),
            });
        }
    }
    Ok(keys.len() as u64)
}

async fn apply_policy(
    s3: &S3,
    bucket: &BucketPlan,
    options: &ObjectRestoreOptions,
) -> Result<(), MirrorError> {
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
    match s3
        .client
        .put_bucket_policy()
        .bucket(&bucket.name)
        .policy(policy)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let code = e
                .as_service_error()
                .and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::code(s).map(String::from));
            if code.as_deref() == Some("NotImplemented") {
                tracing::warn!(
                    "bucket '{}': the server does not implement bucket policies; none applied",
                    bucket.name
                );
                Ok(())
            } else {
                Err(error(
                    s3,
                    format!("set the policy of bucket '{}'", bucket.name),
                    &e,
                ))
            }
        }
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

fn error<E: std::error::Error + 'static>(s3: &S3, action: String, e: &E) -> MirrorError {
    MirrorError::S3 {
        action,
        endpoint: s3.endpoint.clone(),
        message: describe(e),
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
