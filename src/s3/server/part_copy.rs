//! UploadPartCopy: a part of a multipart upload made from an existing
//! object, whole or a range of it (`x-amz-copy-source-range: bytes=a-b`),
//! and the copy source as CopyObject and UploadPartCopy both resolve it.

use std::sync::Arc;

use s3s::dto;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

use super::blob;
use super::body::FileStream;
use super::checksum::StoredChecksum;
use super::conditions::{check_copy, copy_source_conditions, ReadConditions};
use super::receive::{checksum_fields, receive_err};
use super::service::{api, quoted, s3_err, ts, Service};
use super::store::{Bucket, ObjectMeta, StoreError};

/// `bytes=first-last` (inclusive) as a half-open range within `size`.
fn copy_range(spec: &str, size: u64) -> S3Result<std::ops::Range<u64>> {
    let parsed = spec
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)));
    let Some((first, last)) = parsed.filter(|(a, b)| a <= b) else {
        return Err(api(
            S3ErrorCode::InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        ));
    };
    if last >= size {
        return Err(s3s::S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!("Range specified is not valid for source object of size: {size}"),
        ));
    }
    Ok(first..last + 1)
}

impl Service {
    /// The object a copy reads from, with its bytes opened, once its
    /// `conditions` hold and it is readable (an unrestored archived object
    /// is not).
    pub(super) fn copy_source(
        &self,
        source: &dto::CopySource,
        conditions: &ReadConditions<'_>,
    ) -> S3Result<(Arc<Bucket>, Arc<ObjectMeta>, std::fs::File)> {
        let dto::CopySource::Bucket { bucket, key, .. } = source else {
            return Err(api(
                S3ErrorCode::NotImplemented,
                "Access point copy sources are not supported",
            ));
        };
        let src = self.bucket(bucket)?;
        let (meta, file) = src.open(key).map_err(s3_err)?;
        check_copy(&meta, conditions)?;
        self.readable(&meta)?;
        Ok((src, meta, file))
    }

    pub(super) async fn part_copy(
        &self,
        req: &S3Request<dto::UploadPartCopyInput>,
    ) -> S3Result<S3Response<dto::UploadPartCopyOutput>> {
        let input = &req.input;
        let bucket = self.bucket(&input.bucket)?;
        let upload = bucket
            .upload(&input.upload_id, &input.key)
            .map_err(s3_err)?;
        let (_, meta, file) =
            self.copy_source(&input.copy_source, &copy_source_conditions!(input))?;
        let range = match &input.copy_source_range {
            Some(spec) => copy_range(spec, meta.size)?,
            None => 0..meta.size,
        };
        let stream = FileStream::new(file, range.start, range.end - range.start)
            .map_err(|e| s3_err(StoreError::Disk(e)))?;
        let tmp = self.store.root().join("tmp");
        let algorithm = upload.meta.checksum_algorithm;
        let blob = blob::receive(&tmp, stream, algorithm)
            .await
            .map_err(receive_err)?;
        let sum = blob
            .checksum
            .clone()
            .map(|(alg, value)| StoredChecksum::full(alg, value));
        let part = bucket
            .upload_part(&input.upload_id, &input.key, input.part_number, blob, sum)
            .await
            .map_err(s3_err)?;
        let c = checksum_fields(part.checksum.as_ref());
        Ok(S3Response::new(dto::UploadPartCopyOutput {
            copy_part_result: Some(dto::CopyPartResult {
                e_tag: Some(quoted(&part.md5_hex)),
                last_modified: Some(ts(part.last_modified_ms)),
                checksum_crc32: c.crc32,
                checksum_crc32c: c.crc32c,
                checksum_crc64nvme: c.crc64nvme,
                checksum_sha1: c.sha1,
                checksum_sha256: c.sha256,
            }),
            server_side_encryption: Some(dto::ServerSideEncryption::from(
                upload.meta.attrs.sse.clone(),
            )),
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::copy_range;

    #[test]
    fn copy_ranges_are_inclusive_and_within_the_source() {
        assert_eq!(copy_range("bytes=0-9", 10).ok(), Some(0..10));
        assert_eq!(copy_range("bytes=3-3", 10).ok(), Some(3..4));
        for bad in ["bytes=0-10", "bytes=5-4", "0-4", "bytes=a-4", "bytes=-4"] {
            let e = copy_range(bad, 10).expect_err(bad);
            assert_eq!(e.code().as_str(), "InvalidArgument", "{bad}");
        }
    }
}
