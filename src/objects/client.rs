//! The S3 client, built from the settings: the endpoint after the default-host fallback,
//! path-style addressing (MinIO, Garage), static credentials, bounded retries with backoff and
//! timeouts. Checksums are only sent and checked when an operation requires them, which every
//! S3-compatible server supports.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};

use crate::config::{ConfigError, S3Settings};

/// Region used when none is configured (MinIO's default).
const DEFAULT_REGION: &str = "us-east-1";

/// A client and the endpoint it talks to (for error messages).
#[derive(Debug, Clone)]
pub struct S3 {
    /// The SDK client.
    pub client: Client,
    /// The endpoint URL, for error messages.
    pub endpoint: String,
}

impl S3 {
    /// Builds the client; resolving the endpoint's host may fall back to 127.0.0.1.
    pub fn new(settings: &S3Settings) -> Result<S3, ConfigError> {
        let endpoint = settings.connect_endpoint()?;
        let credentials = Credentials::new(
            &settings.access_key_id,
            settings.secret_access_key.expose(),
            None,
            None,
            "fullsite",
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(
                settings
                    .region
                    .clone()
                    .unwrap_or_else(|| DEFAULT_REGION.into()),
            ))
            .endpoint_url(endpoint.as_str())
            .force_path_style(true)
            .credentials_provider(credentials)
            .retry_config(RetryConfig::standard().with_max_attempts(4))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .read_timeout(Duration::from_secs(60))
                    .build(),
            )
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        Ok(S3 {
            client: Client::from_conf(config),
            endpoint: endpoint.as_str().to_string(),
        })
    }
}

/// The full text of an SDK error (its causes included), never containing credentials.
pub fn describe<E: std::error::Error + 'static>(error: &E) -> String {
    aws_sdk_s3::error::DisplayErrorContext(error).to_string()
}
