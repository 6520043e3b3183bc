//! Shared setup for the embedded-endpoint integration tests.
#![allow(dead_code)]

use std::time::Duration;

use vmharness::s3::client::sdk_client;
use vmharness::s3::{Endpoint, EndpointConfig, S3Client};

pub const MIB: usize = 1024 * 1024;

/// Restore delay of test endpoints: long enough for the checks of the
/// ongoing phase to finish on a loaded machine.
pub const RESTORE_DELAY: Duration = Duration::from_millis(1500);

pub struct Fixture {
    pub ep: Endpoint,
    /// SDK client without retries, so tests see every answer.
    pub sdk: aws_sdk_s3::Client,
    pub client: S3Client,
    pub dir: tempfile::TempDir,
}

pub async fn start() -> Fixture {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut EndpointConfig)) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = EndpointConfig::new(dir.path().join("store"));
    cfg.restore_delay = RESTORE_DELAY;
    cfg.journal_file = Some(dir.path().join("s3-journal.jsonl"));
    tweak(&mut cfg);
    let ep = Endpoint::start(cfg).await.expect("endpoint starts");
    let sdk = sdk_client(&ep.url(), ep.credentials(), ep.region(), 1);
    let client = S3Client::from_sdk(sdk.clone(), ep.bucket(), true);
    Fixture {
        ep,
        sdk,
        client,
        dir,
    }
}

/// Deterministic test bytes.
pub fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

pub fn code<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    e.code().unwrap_or("-").to_owned()
}

pub fn status<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> u16 {
    e.raw_response().map_or(0, |r| r.status().as_u16())
}

/// Put `data` at `key` through the SDK, or panic saying which key.
pub async fn put(sdk: &aws_sdk_s3::Client, bucket: &str, key: &str, data: Vec<u8>) {
    sdk.put_object()
        .bucket(bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(data))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}
