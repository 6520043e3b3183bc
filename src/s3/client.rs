//! Host-side S3 client.
pub struct S3Client;
#[derive(Debug, thiserror::Error)]
#[error("x")]
pub struct S3ClientError;
