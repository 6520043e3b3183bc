//! The multipart operations after CreateMultipartUpload: UploadPart,
//! CompleteMultipartUpload, AbortMultipartUpload, ListMultipartUploads and
//! ListParts, over the bucket's uploads.

use s3s::dto;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

use super::checksum::Algorithm;
use super::conditions::write_condition;
use super::multipart::CompletedPart;
use super::receive::checksum_fields;
use super::service::{api, quoted, s3_err, ts, Service};

impl Service {
    pub(super) async fn put_part(
        &self,
        req: &S3Request<dto::UploadPartInput>,
        body: Option<dto::StreamingBlob>,
    ) -> S3Result<S3Response<dto::UploadPartOutput>> {
        let input = &req.input;
        let bucket = self.bucket(&input.bucket)?;
        let upload = bucket
            .upload(&input.upload_id, &input.key)
            .map_err(s3_err)?;
        let (blob, sum) = self
            .receive(
                req,
                body,
                input.content_md5.as_deref(),
                upload.meta.checksum_algorithm,
            )
            .await?;
        let part = bucket
            .upload_part(&input.upload_id, &input.key, input.part_number, blob, sum)
            .await
            .map_err(s3_err)?;
        let c = checksum_fields(part.checksum.as_ref());
        Ok(S3Response::new(dto::UploadPartOutput {
            e_tag: Some(quoted(&part.md5_hex)),
            server_side_encryption: Some(dto::ServerSideEncryption::from(
                upload.meta.attrs.sse.clone(),
            )),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            ..Default::default()
        }))
    }

    pub(super) async fn complete(
        &self,
        req: &S3Request<dto::CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
        let input = &req.input;
        let bucket = self.bucket(&input.bucket)?;
        let listed: Vec<CompletedPart> = input
            .multipart_upload
            .as_ref()
            .and_then(|m| m.parts.as_ref())
            .map(|parts| {
                parts
                    .iter()
                    .map(|p| CompletedPart {
                        number: p.part_number.unwrap_or(0),
                        etag: p.e_tag.as_ref().map(|e| e.value().to_owned()),
                        checksum: completed_checksum(p),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let meta = bucket
            .complete_upload(
                &input.upload_id,
                &input.key,
                &listed,
                self.behaviour.min_part_size,
                &write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?,
            )
            .await
            .map_err(s3_err)?;
        let c = checksum_fields(meta.checksum.as_ref());
        Ok(S3Response::new(dto::CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(quoted(&meta.etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            server_side_encryption: Some(dto::ServerSideEncryption::from(meta.attrs.sse.clone())),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_type: c.kind,
            ..Default::default()
        }))
    }

    pub(super) async fn abort(
        &self,
        req: &S3Request<dto::AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
        let input = &req.input;
        let bucket = self.bucket(&input.bucket)?;
        bucket
            .abort_upload(&input.upload_id, &input.key)
            .await
            .map_err(s3_err)?;
        Ok(S3Response::new(dto::AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn list_uploads(
        &self,
        req: &S3Request<dto::ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<dto::ListMultipartUploadsOutput>> {
        let input = &req.input;
        let bucket = self.bucket(&input.bucket)?;
        let max = match input.max_uploads {
            Some(n) if n < 0 => {
                return Err(api(
                    S3ErrorCode::InvalidArgument,
                    "max-uploads must be a non-negative integer",
                ))
            }
            Some(n) => usize::try_from(n).unwrap_or(1000).min(1000),
            None => 1000,
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let id_marker = input.upload_id_marker.clone();
        let mut uploads = Vec::new();
        let mut prefixes: Vec<dto::CommonPrefix> = Vec::new();
        let mut truncated = false;
        let mut last: Option<(String, String)> = None;
        for u in bucket.uploads() {
            if !u.key.starts_with(&prefix) {
                continue;
            }
            let after_marker = match (&id_marker, key_marker.is_empty()) {
                (_, true) => true,
                (Some(id), false) => {
                    (u.key.as_str(), u.upload_id.as_str()) > (key_marker.as_str(), id.as_str())
                        && u.key >= key_marker
                }
                (None, false) => u.key > key_marker,
            };
            if !after_marker {
                continue;
            }
            if let Some(d) = delimiter {
                if let Some(pos) = u.key[prefix.len()..].find(d) {
                    let cp = u.key[..prefix.len() + pos + d.len()].to_owned();
                    if prefixes.last().and_then(|p| p.prefix.as_deref()) == Some(cp.as_str()) {
                        continue;
                    }
                    if uploads.len() + prefixes.len() >= max {
                        truncated = true;
                        break;
                    }
                    last = Some((cp.clone(), String::new()));
                    prefixes.push(dto::CommonPrefix { prefix: Some(cp) });
                    continue;
                }
            }
            if uploads.len() + prefixes.len() >= max {
                truncated = true;
                break;
            }
            last = Some((u.key.clone(), u.upload_id.clone()));
            uploads.push(dto::MultipartUpload {
                key: Some(u.key.clone()),
                upload_id: Some(u.upload_id.clone()),
                initiated: Some(ts(u.initiated_ms)),
                storage_class: Some(dto::StorageClass::from(u.attrs.storage_class.clone())),
                checksum_algorithm: u
                    .checksum_algorithm
                    .map(|a| dto::ChecksumAlgorithm::from(a.as_str().to_owned())),
                ..Default::default()
            });
        }
        let (next_key, next_id) = match (truncated, last) {
            (true, Some((k, id))) => (Some(k), (!id.is_empty()).then_some(id)),
            _ => (None, None),
        };
        Ok(S3Response::new(dto::ListMultipartUploadsOutput {
            bucket: Some(input.bucket.clone()),
            prefix: Some(prefix),
            delimiter: input.delimiter.clone(),
            key_marker: input.key_marker.clone(),
            upload_id_marker: input.upload_id_marker.clone(),
            max_uploads: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            next_key_marker: next_key,
            next_upload_id_marker: next_id,
            uploads: Some(uploads),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            ..Default::default()
        }))
    }

    pub(super) async fn parts(
        &self,
        req: &S3Request<dto::ListPartsInput>,
    ) -> S3Result<S3Response<dto::ListPartsOutput>> {
        let input = &req.input;
        let bucket = self.bucket(&input.bucket)?;
        let upload = bucket
            .upload(&input.upload_id, &input.key)
            .map_err(s3_err)?;
        let max = usize::try_from(input.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let marker = u32::try_from(input.part_number_marker.unwrap_or(0)).unwrap_or(0);
        let mut parts: Vec<dto::Part> = Vec::new();
        let mut truncated = false;
        for p in upload.parts.values().filter(|p| p.number > marker) {
            if parts.len() >= max {
                truncated = true;
                break;
            }
            let c = checksum_fields(p.checksum.as_ref());
            parts.push(dto::Part {
                part_number: i32::try_from(p.number).ok(),
                e_tag: Some(quoted(&p.md5_hex)),
                size: i64::try_from(p.size).ok(),
                last_modified: Some(ts(p.last_modified_ms)),
                checksum_crc32: c.crc32,
                checksum_crc32c: c.crc32c,
                checksum_crc64nvme: c.crc64nvme,
                checksum_sha1: c.sha1,
                checksum_sha256: c.sha256,
            });
        }
        let next = parts
            .last()
            .and_then(|p| p.part_number)
            .filter(|_| truncated);
        Ok(S3Response::new(dto::ListPartsOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            upload_id: Some(input.upload_id.clone()),
            max_parts: i32::try_from(max).ok(),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            is_truncated: Some(truncated),
            storage_class: Some(dto::StorageClass::from(
                upload.meta.attrs.storage_class.clone(),
            )),
            checksum_algorithm: upload
                .meta
                .checksum_algorithm
                .map(|a| dto::ChecksumAlgorithm::from(a.as_str().to_owned())),
            checksum_type: upload
                .meta
                .checksum_type
                .clone()
                .map(dto::ChecksumType::from),
            parts: Some(parts),
            ..Default::default()
        }))
    }
}

fn completed_checksum(p: &dto::CompletedPart) -> Option<(Algorithm, String)> {
    [
        (Algorithm::Crc32, &p.checksum_crc32),
        (Algorithm::Crc32c, &p.checksum_crc32c),
        (Algorithm::Crc64nvme, &p.checksum_crc64nvme),
        (Algorithm::Sha1, &p.checksum_sha1),
        (Algorithm::Sha256, &p.checksum_sha256),
    ]
    .into_iter()
    .find_map(|(a, v)| v.clone().map(|v| (a, v)))
}
