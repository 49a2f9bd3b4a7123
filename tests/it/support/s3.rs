//! Talking to the harness's Garage from tests with the same SDK fullsite uses: upload objects
//! with metadata, read them back, delete them.

use std::collections::HashMap;
use std::sync::OnceLock;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;

use super::servers;

/// A runtime for the blocking helpers below (tests themselves are synchronous).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Runtime::new().expect("start a tokio runtime"))
}

/// A client for the harness's Garage.
pub fn client() -> Client {
    client_for(&servers().s3)
}

/// A client for `s3`.
pub fn client_for(s3: &super::garage::GarageServer) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(s3.region().to_string()))
        .endpoint_url(s3.endpoint())
        .force_path_style(true)
        .credentials_provider(Credentials::new(
            s3.access_key_id(),
            s3.secret_access_key(),
            None,
            None,
            "test",
        ))
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Client::from_conf(config)
}

/// An object to upload.
#[derive(Debug, Clone, Default)]
pub struct Object {
    /// Key.
    pub key: String,
    /// Content.
    pub body: Vec<u8>,
    /// Content-Type.
    pub content_type: Option<String>,
    /// Cache-Control.
    pub cache_control: Option<String>,
    /// Content-Encoding.
    pub content_encoding: Option<String>,
    /// Content-Disposition.
    pub content_disposition: Option<String>,
    /// User metadata.
    pub metadata: HashMap<String, String>,
}

impl Object {
    /// A plain object.
    pub fn new(key: &str, body: Vec<u8>) -> Object {
        Object {
            key: key.to_string(),
            body,
            ..Object::default()
        }
    }
}

/// Uploads `objects` into `bucket`.
pub fn put(bucket: &str, objects: &[Object]) {
    put_with(&client(), bucket, objects);
}

/// Uploads `objects` into `bucket` of another Garage.
pub fn put_to(s3: &super::garage::GarageServer, bucket: &str, objects: &[Object]) {
    put_with(&client_for(s3), bucket, objects);
}

fn put_with(client: &Client, bucket: &str, objects: &[Object]) {
    runtime().block_on(async {
        for object in objects {
            client
                .put_object()
                .bucket(bucket)
                .key(&object.key)
                .body(ByteStream::from(object.body.clone()))
                .set_content_type(object.content_type.clone())
                .set_cache_control(object.cache_control.clone())
                .set_content_encoding(object.content_encoding.clone())
                .set_content_disposition(object.content_disposition.clone())
                .set_metadata(Some(object.metadata.clone()).filter(|m| !m.is_empty()))
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "put {:?}: {}",
                        object.key,
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    )
                });
        }
    });
}

/// Deletes `keys` from `bucket`.
pub fn delete(bucket: &str, keys: &[&str]) {
    delete_with(&client(), bucket, keys);
}

/// Deletes `keys` from `bucket` of another Garage.
pub fn delete_from(s3: &super::garage::GarageServer, bucket: &str, keys: &[&str]) {
    delete_with(&client_for(s3), bucket, keys);
}

fn delete_with(client: &Client, bucket: &str, keys: &[&str]) {
    runtime().block_on(async {
        for key in keys {
            client
                .delete_object()
                .bucket(bucket)
                .key(*key)
                .send()
                .await
                .expect("delete an object");
        }
    });
}

/// Reads an object back: its bytes and the metadata fields fullsite restores.
pub fn get(bucket: &str, key: &str) -> Object {
    let client = client();
    runtime().block_on(async {
        let output = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "get {key:?}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            });
        Object {
            key: key.to_string(),
            content_type: output.content_type.clone(),
            cache_control: output.cache_control.clone(),
            content_encoding: output.content_encoding.clone(),
            content_disposition: output.content_disposition.clone(),
            metadata: output.metadata.clone().unwrap_or_default(),
            body: output
                .body
                .collect()
                .await
                .expect("read the body")
                .into_bytes()
                .to_vec(),
        }
    })
}

/// Every key in `bucket`, sorted.
pub fn keys(bucket: &str) -> Vec<String> {
    keys_with(&client(), bucket)
}

/// Every key in `bucket` of another Garage, sorted.
pub fn keys_in(s3: &super::garage::GarageServer, bucket: &str) -> Vec<String> {
    keys_with(&client_for(s3), bucket)
}

/// Key → ETag of every object in `bucket` of `s3`.
pub fn etags_in(
    s3: &super::garage::GarageServer,
    bucket: &str,
) -> std::collections::BTreeMap<String, String> {
    let client = client_for(s3);
    runtime().block_on(async {
        let mut etags = std::collections::BTreeMap::new();
        let mut pages = client
            .list_objects_v2()
            .bucket(bucket)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for object in page.expect("list the bucket").contents() {
                etags.insert(
                    object.key().unwrap_or_default().to_string(),
                    object.e_tag().unwrap_or_default().to_string(),
                );
            }
        }
        etags
    })
}

fn keys_with(client: &Client, bucket: &str) -> Vec<String> {
    runtime().block_on(async {
        let mut keys = Vec::new();
        let mut pages = client
            .list_objects_v2()
            .bucket(bucket)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for object in page.expect("list the bucket").contents() {
                keys.push(object.key().unwrap_or_default().to_string());
            }
        }
        keys.sort();
        keys
    })
}

/// Empties and deletes `bucket`.
pub fn remove_bucket(bucket: &str) {
    let all = keys(bucket);
    delete(bucket, &all.iter().map(String::as_str).collect::<Vec<_>>());
    let client = client();
    runtime().block_on(async {
        client
            .delete_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("delete the bucket");
    });
}
