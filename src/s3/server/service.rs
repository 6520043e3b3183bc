//! The S3 operations: the s3s `S3` trait implemented over our [`Store`].
//!
//! Behaviour follows AWS S3 where the backup tool and the verifiers can see
//! it: SSE-S3 on every object, storage classes, archive restore, multipart
//! rules, checksums echoed, exact error codes.

use std::sync::Arc;
use std::time::Duration;

use s3s::dto::{self, ETag, Timestamp};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use time::OffsetDateTime;

use super::checksum::Algorithm;
use super::conditions::{check_read, copy_source_conditions, read_conditions, write_condition};
use super::ctx::RequestCtx;
use super::receive::checksum_fields;
use super::restore::{self, Phase};
use super::store::{now_ms, Bucket, ObjectAttrs, ObjectMeta, Store, StoreError};

/// Knobs of the simulated S3 behaviour.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// How long a GLACIER / DEEP_ARCHIVE restore stays "ongoing".
    pub restore_delay: Duration,
    /// Minimum size of every multipart part but the last (AWS: 5 MiB).
    pub min_part_size: u64,
    pub region: String,
}

pub(crate) struct Service {
    pub store: Arc<Store>,
    pub behaviour: Behaviour,
}

pub(super) fn s3_err(e: StoreError) -> S3Error {
    match e {
        StoreError::Api { code, message } => S3Error::with_message(
            S3ErrorCode::from_bytes(code.as_bytes()).unwrap_or(S3ErrorCode::InternalError),
            message,
        ),
        other => {
            tracing::error!("embedded S3 store: {other}");
            S3Error::with_message(S3ErrorCode::InternalError, other.to_string())
        }
    }
}

pub(super) fn api(code: S3ErrorCode, msg: &'static str) -> S3Error {
    S3Error::with_message(code, msg)
}

pub(super) fn ts(ms: i64) -> Timestamp {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

/// A timestamp in milliseconds since the epoch.
fn ms_of(t: &Timestamp) -> i64 {
    let nanos = OffsetDateTime::from(t.clone()).unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// The Content-Type of an object written without one (as on AWS).
const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

pub(super) fn quoted(etag: &str) -> ETag {
    ETag::Strong(etag.to_owned())
}

pub(super) fn ctx_of(ext: &http::Extensions) -> Option<RequestCtx> {
    ext.get::<RequestCtx>().cloned()
}

/// Record the outcome's S3 error code in the journal.
fn journaled<T>(ext: &http::Extensions, r: S3Result<T>) -> S3Result<T> {
    if let (Err(e), Some(ctx)) = (&r, ctx_of(ext)) {
        let code = e.code().as_str().to_owned();
        ctx.note(|rec| rec.error_code = Some(code));
    }
    r
}

fn storage_class(sc: Option<&dto::StorageClass>) -> S3Result<String> {
    let class = sc.map_or("STANDARD", |s| s.as_str());
    if restore::is_valid_storage_class(class) {
        Ok(class.to_owned())
    } else {
        Err(api(
            S3ErrorCode::InvalidStorageClass,
            "The storage class you specified is not valid",
        ))
    }
}

fn sse(requested: Option<&dto::ServerSideEncryption>) -> S3Result<String> {
    match requested.map(|s| s.as_str()) {
        None | Some("AES256") => Ok("AES256".to_owned()),
        Some(v @ ("aws:kms" | "aws:kms:dsse")) => Ok(v.to_owned()),
        Some(_) => Err(api(
            S3ErrorCode::InvalidArgument,
            "The encryption method specified is not supported",
        )),
    }
}

/// StorageClass as returned by GET/HEAD: omitted for STANDARD, like AWS.
fn shown_class(class: &str) -> Option<dto::StorageClass> {
    (class != "STANDARD").then(|| dto::StorageClass::from(class.to_owned()))
}

impl Service {
    pub(super) fn bucket(&self, name: &str) -> S3Result<Arc<Bucket>> {
        self.store.bucket(name).map_err(s3_err)
    }

    pub(super) fn readable(&self, meta: &ObjectMeta) -> S3Result<()> {
        if restore::needs_restore(&meta.attrs.storage_class) {
            let phase = restore::phase_of(meta.restore.as_ref(), now_ms());
            if !matches!(phase, Phase::Restored { .. }) {
                return Err(api(
                    S3ErrorCode::InvalidObjectState,
                    "The operation is not valid for the object's storage class",
                ));
            }
        }
        Ok(())
    }
}

/// Whether a GET or HEAD asked for the object's checksum (`x-amz-checksum-mode`).
fn checksum_enabled(mode: Option<&dto::ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str() == "ENABLED")
}

/// A GET's or HEAD's output (`$out`) with what both answer about an object
/// (`$meta`, its checksum fields `$c`), plus the fields only that one has.
macro_rules! object_output {
    ($out:path, $meta:expr, $c:expr, { $($field:ident $(: $value:expr)?),* $(,)? }) => {{
        let (meta, c) = ($meta, $c);
        $out {
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(quoted(&meta.etag)),
            last_modified: Some(ts(meta.last_modified_ms)),
            content_type: meta.attrs.content_type.as_deref().unwrap_or(DEFAULT_CONTENT_TYPE).parse().ok(),
            content_encoding: meta.attrs.content_encoding.clone(),
            content_disposition: meta.attrs.content_disposition.clone(),
            content_language: meta.attrs.content_language.clone(),
            cache_control: meta.attrs.cache_control.clone(),
            expires: meta.attrs.expires_ms.map(ts),
            metadata: metadata_of(meta),
            storage_class: shown_class(&meta.attrs.storage_class),
            server_side_encryption: Some(dto::ServerSideEncryption::from(meta.attrs.sse.clone())),
            restore: restore_header(meta),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_crc64nvme: c.crc64nvme,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_type: c.kind,
            $($field $(: $value)?,)*
            ..Default::default()
        }
    }};
}

fn restore_header(meta: &ObjectMeta) -> Option<String> {
    restore::header_value(restore::phase_of(meta.restore.as_ref(), now_ms()))
}

fn metadata_of(meta: &ObjectMeta) -> Option<dto::Metadata> {
    (!meta.attrs.metadata.is_empty()).then(|| {
        meta.attrs
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

/// Object attributes from an input that carries the usual content headers
/// (PutObject, CreateMultipartUpload, CopyObject with REPLACE).
macro_rules! attrs_of {
    ($input:expr, $class:expr, $sse:expr) => {
        ObjectAttrs {
            storage_class: $class,
            sse: $sse,
            // AWS's default when the writer gives none.
            content_type: Some(
                $input
                    .content_type
                    .as_ref()
                    .map_or_else(|| DEFAULT_CONTENT_TYPE.to_owned(), ToString::to_string),
            ),
            content_encoding: $input.content_encoding.clone(),
            content_disposition: $input.content_disposition.clone(),
            content_language: $input.content_language.clone(),
            cache_control: $input.cache_control.clone(),
            metadata: $input
                .metadata
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            expires_ms: $input.expires.as_ref().map(ms_of),
        }
    };
}

#[async_trait::async_trait]
impl S3 for Service {
    async fn put_object(
        &self,
        mut req: S3Request<dto::PutObjectInput>,
    ) -> S3Result<S3Response<dto::PutObjectOutput>> {
        let body = req.input.body.take();
        let r = async {
            let input = &req.input;
            let bucket = self.bucket(&input.bucket)?;
            let class = storage_class(input.storage_class.as_ref())?;
            let sse = sse(input.server_side_encryption.as_ref())?;
            let cond = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
            // Refused before the body is read; judged again at the commit.
            cond.judge(bucket.get(&input.key).as_deref())
                .map_err(s3_err)?;
            let (blob, sum) = self
                .receive(&req, body, input.content_md5.as_deref(), None)
                .await?;
            let attrs = attrs_of!(input, class, sse.clone());
            let meta = bucket
                .put(&input.key, blob, attrs, sum, &cond)
                .await
                .map_err(s3_err)?;
            let c = checksum_fields(meta.checksum.as_ref());
            Ok(S3Response::new(dto::PutObjectOutput {
                e_tag: Some(quoted(&meta.etag)),
                server_side_encryption: Some(dto::ServerSideEncryption::from(sse)),
                checksum_crc32: c.crc32,
                checksum_crc32c: c.crc32c,
                checksum_crc64nvme: c.crc64nvme,
                checksum_sha1: c.sha1,
                checksum_sha256: c.sha256,
                checksum_type: c.kind,
                ..Default::default()
            }))
        }
        .await;
        journaled(&req.extensions, r)
    }

    async fn get_object(
        &self,
        req: S3Request<dto::GetObjectInput>,
    ) -> S3Result<S3Response<dto::GetObjectOutput>> {
        let r = async {
            let input = &req.input;
            let bucket = self.bucket(&input.bucket)?;
            let (meta, file) = bucket.open(&input.key).map_err(s3_err)?;
            self.readable(&meta)?;
            check_read(&meta, &read_conditions!(input))?;
            let (range, content_range) = match &input.range {
                Some(r) => {
                    let range = r.check(meta.size).map_err(|_| {
                        api(
                            S3ErrorCode::InvalidRange,
                            "The requested range is not satisfiable",
                        )
                    })?;
                    let cr = format!(
                        "bytes {}-{}/{}",
                        range.start,
                        range.end.saturating_sub(1),
                        meta.size
                    );
                    (range, Some(cr))
                }
                None => (0..meta.size, None),
            };
            let len = range.end - range.start;
            let stream = super::body::FileStream::new(file, range.start, len)
                .map_err(|e| s3_err(StoreError::Disk(e)))?;
            let with_checksum =
                content_range.is_none() && checksum_enabled(input.checksum_mode.as_ref());
            let c = checksum_fields(meta.checksum.as_ref().filter(|_| with_checksum));
            Ok(S3Response::new(
                object_output!(dto::GetObjectOutput, &meta, c, {
                    body: Some(dto::StreamingBlob::new(stream)),
                    content_length: i64::try_from(len).ok(),
                    content_range,
                }),
            ))
        }
        .await;
        journaled(&req.extensions, r)
    }

    async fn head_object(
        &self,
        req: S3Request<dto::HeadObjectInput>,
    ) -> S3Result<S3Response<dto::HeadObjectOutput>> {
        let r = async {
            let input = &req.input;
            let bucket = self.bucket(&input.bucket)?;
            let meta = bucket
                .get(&input.key)
                .ok_or_else(|| s3_err(StoreError::no_such_key()))?;
            check_read(&meta, &read_conditions!(input))?;
            let with_checksum = checksum_enabled(input.checksum_mode.as_ref());
            let c = checksum_fields(meta.checksum.as_ref().filter(|_| with_checksum));
            Ok(S3Response::new(
                object_output!(dto::HeadObjectOutput, &meta, c, {
                    content_length: i64::try_from(meta.size).ok(),
                    parts_count: meta
                        .parts_count
                        .filter(|_| input.part_number.is_some())
                        .and_then(|n| i32::try_from(n).ok()),
                }),
            ))
        }
        .await;
        journaled(&req.extensions, r)
    }

    async fn delete_object(
        &self,
        req: S3Request<dto::DeleteObjectInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectOutput>> {
        let r = async {
            let bucket = self.bucket(&req.input.bucket)?;
            bucket.delete(&req.input.key).await.map_err(s3_err)?;
            Ok(S3Response::new(dto::DeleteObjectOutput::default()))
        }
        .await;
        journaled(&req.extensions, r)
    }

    async fn delete_objects(
        &self,
        req: S3Request<dto::DeleteObjectsInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectsOutput>> {
        let r = async {
            let input = &req.input;
            let bucket = self.bucket(&input.bucket)?;
            let objects = &input.delete.objects;
            if objects.len() > 1000 || objects.is_empty() {
                return Err(api(
                    S3ErrorCode::MalformedXML,
                    "The XML you provided was not well-formed or did not validate against our published schema",
                ));
            }
            let quiet = input.delete.quiet.unwrap_or(false);
            let mut deleted = Vec::new();
            let mut errors = Vec::new();
            for obj in objects {
                match bucket.delete(&obj.key).await {
                    Ok(_) => {
                        if !quiet {
                            deleted.push(dto::DeletedObject {
                                key: Some(obj.key.clone()),
                                ..Default::default()
                            });
                        }
                    }
                    Err(e) => errors.push(dto::Error {
                        code: Some("InternalError".to_owned()),
                        key: Some(obj.key.clone()),
                        message: Some(e.to_string()),
                        version_id: None,
                    }),
                }
            }
            Ok(S3Response::new(dto::DeleteObjectsOutput {
                deleted: Some(deleted),
                errors: (!errors.is_empty()).then_some(errors),
                ..Default::default()
            }))
        }
        .await;
        journaled(&req.extensions, r)
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<dto::ListObjectsV2Input>,
    ) -> S3Result<S3Response<dto::ListObjectsV2Output>> {
        let r = self.list_v2(&req.input).map(S3Response::new);
        journaled(&req.extensions, r)
    }

    async fn list_objects(
        &self,
        req: S3Request<dto::ListObjectsInput>,
    ) -> S3Result<S3Response<dto::ListObjectsOutput>> {
        let r = self.list_v1(&req.input).map(S3Response::new);
        journaled(&req.extensions, r)
    }

    async fn list_object_versions(
        &self,
        req: S3Request<dto::ListObjectVersionsInput>,
    ) -> S3Result<S3Response<dto::ListObjectVersionsOutput>> {
        let r = self.list_versions(&req.input).map(S3Response::new);
        journaled(&req.extensions, r)
    }

    /// An unversioned bucket: an empty VersioningConfiguration, as on AWS.
    async fn get_bucket_versioning(
        &self,
        req: S3Request<dto::GetBucketVersioningInput>,
    ) -> S3Result<S3Response<dto::GetBucketVersioningOutput>> {
        let r = self
            .bucket(&req.input.bucket)
            .map(|_| S3Response::new(dto::GetBucketVersioningOutput::default()));
        journaled(&req.extensions, r)
    }

    async fn copy_object(
        &self,
        req: S3Request<dto::CopyObjectInput>,
    ) -> S3Result<S3Response<dto::CopyObjectOutput>> {
        let r = async {
            let input = &req.input;
            let dst = self.bucket(&input.bucket)?;
            let (src, meta, _) =
                self.copy_source(&input.copy_source, &copy_source_conditions!(input))?;
            let class = storage_class(input.storage_class.as_ref())?;
            let sse = sse(input.server_side_encryption.as_ref())?;
            let replace = input
                .metadata_directive
                .as_ref()
                .is_some_and(|d| d.as_str() == "REPLACE");
            if src.name == input.bucket.as_str()
                && meta.key == input.key.as_str()
                && !replace
                && input.storage_class.is_none()
                && input.server_side_encryption.is_none()
            {
                return Err(api(
                    S3ErrorCode::InvalidRequest,
                    "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
                ));
            }
            let attrs = if replace {
                attrs_of!(input, class, sse.clone())
            } else {
                ObjectAttrs {
                    storage_class: class,
                    sse: sse.clone(),
                    ..meta.attrs.clone()
                }
            };
            let new = dst
                .copy_from(&src, &meta, &input.key, attrs)
                .await
                .map_err(s3_err)?;
            let c = checksum_fields(new.checksum.as_ref());
            Ok(S3Response::new(dto::CopyObjectOutput {
                copy_object_result: Some(dto::CopyObjectResult {
                    e_tag: Some(quoted(&new.etag)),
                    last_modified: Some(ts(new.last_modified_ms)),
                    checksum_crc32: c.crc32,
                    checksum_crc32c: c.crc32c,
                    checksum_crc64nvme: c.crc64nvme,
                    checksum_sha1: c.sha1,
                    checksum_sha256: c.sha256,
                    checksum_type: c.kind,
                }),
                server_side_encryption: Some(dto::ServerSideEncryption::from(sse)),
                ..Default::default()
            }))
        }
        .await;
        journaled(&req.extensions, r)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<dto::CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CreateMultipartUploadOutput>> {
        let r = async {
            let input = &req.input;
            let bucket = self.bucket(&input.bucket)?;
            let class = storage_class(input.storage_class.as_ref())?;
            let sse = sse(input.server_side_encryption.as_ref())?;
            let algorithm = match &input.checksum_algorithm {
                Some(a) => Some(Algorithm::parse(a.as_str()).ok_or_else(|| {
                    api(S3ErrorCode::InvalidRequest, "Invalid checksum algorithm")
                })?),
                None => None,
            };
            let attrs = attrs_of!(input, class, sse.clone());
            let kind = input.checksum_type.as_ref().map(|t| t.as_str().to_owned());
            let upload = bucket
                .create_upload(&input.key, attrs, algorithm, kind)
                .await
                .map_err(s3_err)?;
            if let Some(ctx) = ctx_of(&req.extensions) {
                let id = upload.upload_id.clone();
                ctx.note(|r| r.upload_id = Some(id));
            }
            Ok(S3Response::new(dto::CreateMultipartUploadOutput {
                bucket: Some(input.bucket.clone()),
                key: Some(input.key.clone()),
                upload_id: Some(upload.upload_id),
                server_side_encryption: Some(dto::ServerSideEncryption::from(sse)),
                checksum_algorithm: algorithm
                    .map(|a| dto::ChecksumAlgorithm::from(a.as_str().to_owned())),
                checksum_type: upload.checksum_type.map(dto::ChecksumType::from),
                ..Default::default()
            }))
        }
        .await;
        journaled(&req.extensions, r)
    }

    async fn upload_part(
        &self,
        mut req: S3Request<dto::UploadPartInput>,
    ) -> S3Result<S3Response<dto::UploadPartOutput>> {
        let body = req.input.body.take();
        let r = self.put_part(&req, body).await;
        journaled(&req.extensions, r)
    }
    async fn upload_part_copy(
        &self,
        req: S3Request<dto::UploadPartCopyInput>,
    ) -> S3Result<S3Response<dto::UploadPartCopyOutput>> {
        let r = self.part_copy(&req).await;
        journaled(&req.extensions, r)
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<dto::CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
        let r = self.complete(&req).await;
        journaled(&req.extensions, r)
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<dto::AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
        let r = self.abort(&req).await;
        journaled(&req.extensions, r)
    }
    async fn list_multipart_uploads(
        &self,
        req: S3Request<dto::ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<dto::ListMultipartUploadsOutput>> {
        let r = self.list_uploads(&req).await;
        journaled(&req.extensions, r)
    }
    async fn list_parts(
        &self,
        req: S3Request<dto::ListPartsInput>,
    ) -> S3Result<S3Response<dto::ListPartsOutput>> {
        let r = self.parts(&req).await;
        journaled(&req.extensions, r)
    }
    async fn restore_object(
        &self,
        req: S3Request<dto::RestoreObjectInput>,
    ) -> S3Result<S3Response<dto::RestoreObjectOutput>> {
        let r = self.restore(&req.input).await;
        journaled(&req.extensions, r)
    }

    async fn head_bucket(
        &self,
        req: S3Request<dto::HeadBucketInput>,
    ) -> S3Result<S3Response<dto::HeadBucketOutput>> {
        let r = self.head(&req.input);
        journaled(&req.extensions, r)
    }
    async fn get_bucket_location(
        &self,
        req: S3Request<dto::GetBucketLocationInput>,
    ) -> S3Result<S3Response<dto::GetBucketLocationOutput>> {
        let r = self.location(&req.input);
        journaled(&req.extensions, r)
    }
    async fn list_buckets(
        &self,
        req: S3Request<dto::ListBucketsInput>,
    ) -> S3Result<S3Response<dto::ListBucketsOutput>> {
        journaled(&req.extensions, Ok(self.all_buckets()))
    }
    async fn create_bucket(
        &self,
        req: S3Request<dto::CreateBucketInput>,
    ) -> S3Result<S3Response<dto::CreateBucketOutput>> {
        let r = self.create(&req.input);
        journaled(&req.extensions, r)
    }
    async fn delete_bucket(
        &self,
        req: S3Request<dto::DeleteBucketInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketOutput>> {
        let r = self.remove(&req.input).await;
        journaled(&req.extensions, r)
    }
}
