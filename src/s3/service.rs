//! The S3 operations: the s3s `S3` trait implemented over our [`Store`].
//!
//! Behaviour follows AWS S3 where the backup tool and the verifiers can see
//! it: SSE-S3 on every object, storage classes, archive restore, multipart
//! rules, checksums echoed, exact error codes.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use s3s::dto::{self, ETag, Timestamp};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use time::OffsetDateTime;

use super::blob::{self, ReceiveError, TempBlob};
use super::checksum::{self, Algorithm, StoredChecksum};
use super::conditions::{check_copy, check_read, read_conditions, write_condition, ReadConditions};
use super::ctx::{RequestCtx, StatusOverride};
use super::multipart::CompletedPart;
use super::restore::{self, Phase, RestoreAnswer};
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

fn ctx_of(ext: &http::Extensions) -> Option<RequestCtx> {
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

struct ChecksumFields {
    crc32: Option<String>,
    crc32c: Option<String>,
    crc64nvme: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
    kind: Option<dto::ChecksumType>,
}

fn checksum_fields(c: Option<&StoredChecksum>) -> ChecksumFields {
    let mut f = ChecksumFields {
        crc32: None,
        crc32c: None,
        crc64nvme: None,
        sha1: None,
        sha256: None,
        kind: None,
    };
    if let Some(c) = c {
        let v = Some(c.value.clone());
        match c.algorithm {
            Algorithm::Crc32 => f.crc32 = v,
            Algorithm::Crc32c => f.crc32c = v,
            Algorithm::Crc64nvme => f.crc64nvme = v,
            Algorithm::Sha1 => f.sha1 = v,
            Algorithm::Sha256 => f.sha256 = v,
        }
        f.kind = Some(dto::ChecksumType::from(c.kind.clone()));
    }
    f
}

fn bad_digest(alg: Algorithm) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::BadDigest,
        format!(
            "The {} you specified did not match the calculated checksum.",
            alg.as_str()
        ),
    )
}

fn receive_err(e: ReceiveError) -> S3Error {
    match e {
        ReceiveError::Body(msg) => {
            S3Error::with_message(S3ErrorCode::IncompleteBody, format!("request body: {msg}"))
        }
        ReceiveError::Disk(d) => s3_err(StoreError::Disk(d)),
    }
}

impl Service {
    pub(super) fn bucket(&self, name: &str) -> S3Result<Arc<Bucket>> {
        self.store.bucket(name).map_err(s3_err)
    }

    /// Receive a body, verify Content-MD5 and the announced checksum
    /// (header or trailer), and return it with the checksum to store.
    async fn receive<T>(
        &self,
        req: &S3Request<T>,
        body: Option<dto::StreamingBlob>,
        content_md5: Option<&str>,
        default_algorithm: Option<Algorithm>,
    ) -> S3Result<(TempBlob, Option<StoredChecksum>)> {
        let requested = checksum::requested(&req.headers);
        let algorithm = requested
            .as_ref()
            .map(|r| r.algorithm)
            .or(default_algorithm);
        let expected_md5 = match content_md5 {
            Some(v) => Some(checksum::content_md5_hex(v).ok_or_else(|| {
                api(
                    S3ErrorCode::InvalidDigest,
                    "The Content-MD5 you specified was invalid.",
                )
            })?),
            None => None,
        };
        let tmp = self.store.root().join("tmp");
        let blob = match body {
            Some(b) => blob::receive(&tmp, b, algorithm).await,
            None => {
                let empty: Vec<Result<bytes::Bytes, std::io::Error>> = Vec::new();
                blob::receive(&tmp, futures::stream::iter(empty), algorithm).await
            }
        }
        .map_err(receive_err)?;
        if let Some(md5) = expected_md5 {
            if md5 != blob.md5_hex {
                blob.discard();
                return Err(api(
                    S3ErrorCode::BadDigest,
                    "The Content-MD5 you specified did not match what we received.",
                ));
            }
        }
        let computed = blob.checksum.clone();
        let Some((alg, value)) = computed else {
            return Ok((blob, None));
        };
        let sent = match &requested {
            Some(r) if r.in_trailer => req
                .trailing_headers
                .as_ref()
                .and_then(|t| t.read(|h| checksum::from_trailers(h, r.algorithm)))
                .flatten(),
            Some(r) => r.header_value.clone(),
            None => None,
        };
        if let Some(ctx) = ctx_of(&req.extensions) {
            if let Some(v) = &sent {
                let label = format!("{}:{v}", alg.as_str());
                ctx.note(|r| r.checksum = Some(label));
            }
        }
        if let Some(sent) = sent {
            if sent != value {
                blob.discard();
                return Err(bad_digest(alg));
            }
        }
        Ok((blob, Some(StoredChecksum::full(alg, value))))
    }

    fn readable(&self, meta: &ObjectMeta) -> S3Result<()> {
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

    async fn copy_object(
        &self,
        req: S3Request<dto::CopyObjectInput>,
    ) -> S3Result<S3Response<dto::CopyObjectOutput>> {
        let r = async {
            let input = &req.input;
            let dst = self.bucket(&input.bucket)?;
            let dto::CopySource::Bucket {
                bucket: src_bucket,
                key: src_key,
                ..
            } = &input.copy_source
            else {
                return Err(api(
                    S3ErrorCode::NotImplemented,
                    "Access point copy sources are not supported",
                ));
            };
            let src = self.bucket(src_bucket)?;
            let meta = src
                .get(src_key)
                .ok_or_else(|| s3_err(StoreError::no_such_key()))?;
            check_copy(&meta, &ReadConditions::of_copy(input))?;
            self.readable(&meta)?;
            let class = storage_class(input.storage_class.as_ref())?;
            let sse = sse(input.server_side_encryption.as_ref())?;
            let replace = input
                .metadata_directive
                .as_ref()
                .is_some_and(|d| d.as_str() == "REPLACE");
            if src_bucket.as_ref() == input.bucket.as_str()
                && src_key.as_ref() == input.key.as_str()
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
        let r = async {
            let input = &req.input;
            let bucket = self.bucket(&input.bucket)?;
            let upload = bucket
                .upload(&input.upload_id, &input.key)
                .map_err(s3_err)?;
            let (blob, sum) = self
                .receive(
                    &req,
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
        .await;
        journaled(&req.extensions, r)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<dto::CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
        let r = async {
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
                server_side_encryption: Some(dto::ServerSideEncryption::from(
                    meta.attrs.sse.clone(),
                )),
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

    async fn abort_multipart_upload(
        &self,
        req: S3Request<dto::AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
        let r = async {
            let input = &req.input;
            let bucket = self.bucket(&input.bucket)?;
            bucket
                .abort_upload(&input.upload_id, &input.key)
                .await
                .map_err(s3_err)?;
            Ok(S3Response::new(dto::AbortMultipartUploadOutput::default()))
        }
        .await;
        journaled(&req.extensions, r)
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<dto::ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<dto::ListMultipartUploadsOutput>> {
        let r = async {
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
        .await;
        journaled(&req.extensions, r)
    }

    async fn list_parts(
        &self,
        req: S3Request<dto::ListPartsInput>,
    ) -> S3Result<S3Response<dto::ListPartsOutput>> {
        let r = async {
            let input = &req.input;
            let bucket = self.bucket(&input.bucket)?;
            let upload = bucket
                .upload(&input.upload_id, &input.key)
                .map_err(s3_err)?;
            let max =
                usize::try_from(input.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
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
        .await;
        journaled(&req.extensions, r)
    }

    async fn restore_object(
        &self,
        req: S3Request<dto::RestoreObjectInput>,
    ) -> S3Result<S3Response<dto::RestoreObjectOutput>> {
        let r = async {
            let input = &req.input;
            let bucket = self.bucket(&input.bucket)?;
            let meta = bucket
                .get(&input.key)
                .ok_or_else(|| s3_err(StoreError::no_such_key()))?;
            let days = input
                .restore_request
                .as_ref()
                .and_then(|r| r.days)
                .unwrap_or(1);
            let delay_ms =
                i64::try_from(self.behaviour.restore_delay.as_millis()).unwrap_or(i64::MAX);
            let answer = restore::answer(
                &meta.attrs.storage_class,
                meta.restore.as_ref(),
                now_ms(),
                delay_ms,
                days,
            );
            let (state, status) = match answer {
                RestoreAnswer::NotArchived => {
                    return Err(api(
                        S3ErrorCode::InvalidObjectState,
                        "Restore is not allowed for the object's current storage class",
                    ))
                }
                RestoreAnswer::InProgress => {
                    return Err(api(
                        S3ErrorCode::RestoreAlreadyInProgress,
                        "Object restore is already in progress",
                    ))
                }
                RestoreAnswer::Started(s) => (s, StatusCode::ACCEPTED),
                RestoreAnswer::AlreadyRestored(s) => (s, StatusCode::OK),
            };
            let mut updated = (*meta).clone();
            updated.restore = Some(state);
            bucket.commit(updated).await.map_err(s3_err)?;
            let mut resp = S3Response::new(dto::RestoreObjectOutput::default());
            resp.extensions.insert(StatusOverride(status));
            Ok(resp)
        }
        .await;
        journaled(&req.extensions, r)
    }

    async fn head_bucket(
        &self,
        req: S3Request<dto::HeadBucketInput>,
    ) -> S3Result<S3Response<dto::HeadBucketOutput>> {
        let r = self.bucket(&req.input.bucket).map(|_| {
            S3Response::new(dto::HeadBucketOutput {
                bucket_region: Some(self.behaviour.region.clone()),
                ..Default::default()
            })
        });
        journaled(&req.extensions, r)
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<dto::GetBucketLocationInput>,
    ) -> S3Result<S3Response<dto::GetBucketLocationOutput>> {
        let r = self.bucket(&req.input.bucket).map(|_| {
            let region = &self.behaviour.region;
            S3Response::new(dto::GetBucketLocationOutput {
                location_constraint: (region != "us-east-1")
                    .then(|| dto::BucketLocationConstraint::from(region.clone())),
            })
        });
        journaled(&req.extensions, r)
    }

    async fn list_buckets(
        &self,
        req: S3Request<dto::ListBucketsInput>,
    ) -> S3Result<S3Response<dto::ListBucketsOutput>> {
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
        journaled(
            &req.extensions,
            Ok(S3Response::new(dto::ListBucketsOutput {
                buckets: Some(buckets),
                ..Default::default()
            })),
        )
    }

    async fn create_bucket(
        &self,
        req: S3Request<dto::CreateBucketInput>,
    ) -> S3Result<S3Response<dto::CreateBucketOutput>> {
        let r = self
            .store
            .create_bucket(&req.input.bucket)
            .map_err(s3_err)
            .map(|_| {
                S3Response::new(dto::CreateBucketOutput {
                    location: Some(format!("/{}", req.input.bucket)),
                })
            });
        journaled(&req.extensions, r)
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
