//! The bucket-level operations: HeadBucket, GetBucketLocation,
//! ListBuckets, CreateBucket and DeleteBucket (409 BucketNotEmpty while
//! the bucket holds objects, as on AWS).

use s3s::dto;
use s3s::{S3Response, S3Result};

use super::service::{s3_err, ts, Service};

impl Service {
    pub(super) fn head(
        &self,
        input: &dto::HeadBucketInput,
    ) -> S3Result<S3Response<dto::HeadBucketOutput>> {
        self.bucket(&input.bucket).map(|_| {
            S3Response::new(dto::HeadBucketOutput {
                bucket_region: Some(self.behaviour.region.clone()),
                ..Default::default()
            })
        })
    }

    pub(super) fn location(
        &self,
        input: &dto::GetBucketLocationInput,
    ) -> S3Result<S3Response<dto::GetBucketLocationOutput>> {
        self.bucket(&input.bucket).map(|_| {
            let region = &self.behaviour.region;
            S3Response::new(dto::GetBucketLocationOutput {
                location_constraint: (region != "us-east-1")
                    .then(|| dto::BucketLocationConstraint::from(region.clone())),
            })
        })
    }

    pub(super) fn all_buckets(&self) -> S3Response<dto::ListBucketsOutput> {
        let buckets = self
            .store
            .buckets()
            .iter()
            .map(|b| dto::Bucket {
                name: Some(b.name.clone()),
                creation_date: Some(ts(b.created_ms)),
                bucket_region: Some(self.behaviour.region.clone()),
            })
            .collect();
        S3Response::new(dto::ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        })
    }

    pub(super) fn create(
        &self,
        input: &dto::CreateBucketInput,
    ) -> S3Result<S3Response<dto::CreateBucketOutput>> {
        self.store
            .create_bucket(&input.bucket)
            .map_err(s3_err)
            .map(|_| {
                S3Response::new(dto::CreateBucketOutput {
                    location: Some(format!("/{}", input.bucket)),
                })
            })
    }

    pub(super) async fn remove(
        &self,
        input: &dto::DeleteBucketInput,
    ) -> S3Result<S3Response<dto::DeleteBucketOutput>> {
        self.store
            .delete_bucket(&input.bucket)
            .await
            .map_err(s3_err)?;
        Ok(S3Response::new(dto::DeleteBucketOutput::default()))
    }
}
