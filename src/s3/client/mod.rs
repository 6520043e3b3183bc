//! The host side of S3: the client every verifier uses ([`S3Client`],
//! over the AWS SDK) and the remote backends (`aws`, `endpoint`) a run may
//! use instead of the embedded endpoint.

pub mod remote;
mod s3_client;

pub use remote::Remote;
pub use s3_client::{
    sdk_client, Cleaned, HeadInfo, ObjectInfo, S3Client, S3ClientError, UploadInfo,
};
