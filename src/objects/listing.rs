//! Listing buckets and their objects, and where each listed object goes in a generation.
//!
//! A [`BucketListing`] holds one bucket's objects sorted by key (byte order, as S3 lists them;
//! sorted again here so lookups never depend on the server's order) and the [`KeyPaths`] that
//! map them to files. It is the only per-object state the mirror keeps for the whole run, so it
//! stays small: key, size, ETag and Last-Modified.

use super::error::ObjectsError;
use super::key_path::KeyPaths;
use super::patience::Patience;
use super::store::{Listed, ObjectStore, StoreErrorKind};

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
    /// The listing of bucket `name`; `None` when it does not exist. A key listed twice (a
    /// listing that changed between pages) is kept once, with its last-listed identity.
    pub fn new(name: String, listed: Option<Vec<Listed>>) -> BucketListing {
        let missing = listed.is_none();
        let mut objects = listed.unwrap_or_default();
        // Reversed, then sorted stably: of equal keys the last listed comes first, and dedup
        // keeps the first of each run.
        objects.reverse();
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        objects.dedup_by(|later, earlier| later.key == earlier.key);
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
pub async fn list_buckets<S: ObjectStore>(
    store: &S,
    patience: &Patience,
) -> Result<Vec<String>, ObjectsError> {
    patience
        .retry(patience.stall, || store.list_buckets())
        .await
        .map_err(|e| ObjectsError::store(store, "list buckets".into(), e))
}

/// Every object of `bucket`, page by page, or `None` when the bucket does not exist.
pub async fn list_bucket<S: ObjectStore>(
    store: &S,
    patience: &Patience,
    bucket: &str,
) -> Result<Option<Vec<Listed>>, ObjectsError> {
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = patience
            .retry(patience.stall, || store.list_page(bucket, token.clone()))
            .await;
        let page = match page {
            Ok(page) => page,
            Err(e) if e.kind == StoreErrorKind::NoSuchBucket => return Ok(None),
            Err(e) => {
                return Err(ObjectsError::store(
                    store,
                    format!("list bucket '{bucket}'"),
                    e,
                ));
            }
        };
        listed.extend(page.objects);
        match page.next {
            Some(next) => token = Some(next),
            None => return Ok(Some(listed)),
        }
    }
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
    fn a_key_listed_twice_is_kept_once_with_its_last_identity() {
        let mut again = listed("a");
        again.etag = "\"new\"".into();
        let listing = BucketListing::new("bkt".into(), Some(vec![listed("a"), listed("b"), again]));
        assert_eq!(listing.objects.len(), 2);
        assert_eq!(listing.objects[0].etag, "\"new\"");
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
