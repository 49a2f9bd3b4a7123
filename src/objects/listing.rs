//! Listing buckets and their objects, and where each listed object goes in a generation.
//!
//! A [`BucketListing`] holds one bucket's objects sorted by key (byte order, as S3 lists them;
//! sorted again here so lookups never depend on the server's order) and the [`KeyPaths`] that
//! map them to files. It is the only per-object state the mirror keeps for the whole run, so it
//! stays small: key, size, ETag and Last-Modified.

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};

use super::client::S3;
use super::key_path::KeyPaths;
use super::mirror::{MirrorError, s3_error};

/// One object as a bucket listing reports it.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag (quotes included).
    pub etag: String,
    /// Last-Modified, RFC 3339.
    pub last_modified: String,
}

/// One bucket's objects, sorted by key, and their paths.
#[derive(Debug)]
pub struct BucketListing {
    /// The bucket.
    pub name: String,
    /// Its objects, sorted by key.
    pub objects: Vec<Listed>,
    /// True when the bucket does not exist (then `objects` is empty).
    pub missing: bool,
    paths: KeyPaths,
}

impl BucketListing {
    /// The listing of bucket `name`; `None` when it does not exist.
    pub fn new(name: String, listed: Option<Vec<Listed>>) -> BucketListing {
        let missing = listed.is_none();
        let mut objects = listed.unwrap_or_default();
        objects.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        objects.shrink_to_fit();
        let paths = KeyPaths::new(objects.iter().map(|o| o.key.as_str()));
        BucketListing {
            name,
            objects,
            missing,
            paths,
        }
    }

    /// Index of the object with this key.
    pub fn find(&self, key: &str) -> Option<usize> {
        self.objects
            .binary_search_by(|o| o.key.as_str().cmp(key))
            .ok()
    }

    /// The path of object `index` relative to the generation (`objects/<bucket>/...`).
    pub fn path_of(&self, index: usize) -> String {
        format!(
            "objects/{}/{}",
            self.name,
            self.paths.path_for(&self.objects[index].key)
        )
    }
}

/// Every bucket the endpoint lists, sorted by name.
pub async fn list_buckets(s3: &S3) -> Result<Vec<String>, MirrorError> {
    let output = s3
        .client
        .list_buckets()
        .send()
        .await
        .map_err(|e| s3_error(s3, "list buckets".into(), &e))?;
    let mut names: Vec<String> = output
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(String::from))
        .collect();
    names.sort();
    Ok(names)
}

/// Every object of `bucket` (paginated), or `None` when the bucket does not exist.
pub async fn list_bucket(s3: &S3, bucket: &str) -> Result<Option<Vec<Listed>>, MirrorError> {
    let mut pages = s3
        .client
        .list_objects_v2()
        .bucket(bucket)
        .into_paginator()
        .send();
    let mut listed = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_bucket()) => {
                return Ok(None);
            }
            Err(e) => return Err(s3_error(s3, format!("list bucket '{bucket}'"), &e)),
        };
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            listed.push(Listed {
                key: key.to_string(),
                size: object.size().unwrap_or(0).max(0) as u64,
                etag: object.e_tag().unwrap_or_default().to_string(),
                last_modified: object.last_modified().map(format_time).unwrap_or_default(),
            });
        }
    }
    Ok(Some(listed))
}

fn format_time(time: &DateTime) -> String {
    time.fmt(DateTimeFormat::DateTime).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(key: &str) -> Listed {
        Listed {
            key: key.into(),
            size: 1,
            etag: String::new(),
            last_modified: String::new(),
        }
    }

    #[test]
    fn objects_are_found_by_key_whatever_order_the_server_listed_them_in() {
        let keys = ["b/2", "a", "a/x", "b/1"];
        let listing = BucketListing::new("bkt".into(), Some(keys.map(listed).to_vec()));
        assert!(!listing.missing);
        for key in keys {
            let index = listing.find(key).unwrap();
            assert_eq!(listing.objects[index].key, key);
        }
        assert_eq!(listing.find("c"), None);
        assert_eq!(
            listing.path_of(listing.find("a").unwrap()),
            "objects/bkt/a/%!"
        );
        assert_eq!(
            listing.path_of(listing.find("b/1").unwrap()),
            "objects/bkt/b/1"
        );
        assert!(BucketListing::new("gone".into(), None).missing);
    }
}
