//! The host-side S3 client every verifier uses, built once for the run's
//! backend: list with paging, head, ranged and streaming gets
//! (with SHA-256), multipart upload cleanup, prefix deletion in batches.

use std::ops::Range;

use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use bytes::Bytes;
use sha2::Digest as _;

use super::remote::RemoteConfig;
use crate::s3::server::{Credentials, Endpoint, EndpointTls};
use crate::s3::Backend;
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use std::net::IpAddr;

#[derive(Debug, thiserror::Error)]
pub enum S3ClientError {
    #[error("S3 {op} {target}: {code}: {message}")]
    Request {
        op: &'static str,
        target: String,
        /// The S3 error code (`NoSuchKey`, `SlowDown`, ...) or `-`.
        code: String,
        /// HTTP status, when a response came back.
        status: Option<u16>,
        message: String,
    },
    #[error("S3 {op} {target}: reading body: {message}")]
    Body {
        op: &'static str,
        target: String,
        message: String,
    },
    #[error("S3 client configuration: {0}")]
    Config(String),
}

impl S3ClientError {
    pub fn code(&self) -> Option<&str> {
        match self {
            S3ClientError::Request { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            S3ClientError::Request { status, .. } => *status,
            _ => None,
        }
    }
}

type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

fn request_error<E>(
    op: &'static str,
    target: &str,
    e: aws_sdk_s3::error::SdkError<E, HttpResponse>,
) -> S3ClientError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().unwrap_or("-").to_owned();
    S3ClientError::Request {
        op,
        target: target.to_owned(),
        code,
        status,
        message: DisplayErrorContext(&e).to_string(),
    }
}

/// A listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub storage_class: Option<String>,
}

/// What HeadObject tells about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadInfo {
    pub size: u64,
    pub etag: String,
    /// None means STANDARD (S3 omits the header).
    pub storage_class: Option<String>,
    pub sse: Option<String>,
    pub content_type: Option<String>,
    /// The `x-amz-restore` header.
    pub restore: Option<String>,
    pub checksum_crc32: Option<String>,
}

/// What `delete_prefix` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub objects: u64,
    /// Incomplete multipart uploads aborted.
    pub uploads: u64,
}

/// An in-progress multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    pub key: String,
    pub upload_id: String,
}

/// The host-side client: an SDK client plus the bucket it works in.
#[derive(Clone, Debug)]
pub struct S3Client {
    sdk: aws_sdk_s3::Client,
    bucket: String,
    has_journal: bool,
}

/// An HTTP client for the SDK: rustls (ring) for https, plain for http.
fn http_client() -> aws_sdk_s3::config::SharedHttpClient {
    use aws_smithy_http_client::tls;
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// A TLS context that trusts only the CAs in `ca_pem` (`what` names them
/// in an error).
fn trusting_only(
    ca_pem: &[u8],
    what: &str,
) -> Result<aws_smithy_http_client::tls::TlsContext, S3ClientError> {
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(ca_pem.to_vec());
    tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| S3ClientError::Config(format!("trusting {what}: {e}")))
}

/// An HTTP client for an endpoint serving https under `tls.name`: it
/// trusts only `tls.ca_pem` and resolves only that name, to `ip`.
fn pinned_tls_http_client(
    tls: &EndpointTls,
    ip: IpAddr,
) -> Result<aws_sdk_s3::config::SharedHttpClient, S3ClientError> {
    use aws_smithy_http_client::tls as t;
    let what = format!("the CA of the endpoint's https ({})", tls.name);
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(t::Provider::Rustls(t::rustls_provider::CryptoMode::Ring))
        .tls_context(trusting_only(tls.ca_pem.as_bytes(), &what)?)
        .build_with_resolver(PinnedName {
            name: tls.name.clone(),
            ip,
        }))
}

/// The HTTP client of a remote backend: trusting only `[s3] ca_bundle`'s
/// CAs when the profile names one, else the system's.
fn remote_http_client(
    ca_bundle: Option<&std::path::Path>,
) -> Result<aws_sdk_s3::config::SharedHttpClient, S3ClientError> {
    let Some(path) = ca_bundle else {
        return Ok(http_client());
    };
    let pem = std::fs::read(path)
        .map_err(|e| S3ClientError::Config(format!("[s3] ca_bundle {}: {e}", path.display())))?;
    use aws_smithy_http_client::tls as t;
    let what = format!("[s3] ca_bundle {}", path.display());
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(t::Provider::Rustls(t::rustls_provider::CryptoMode::Ring))
        .tls_context(trusting_only(&pem, &what)?)
        .build_https())
}

/// A resolver of one name to one address; any other name fails (the
/// host's client of the TLS endpoint resolves nothing else).
#[derive(Debug, Clone)]
struct PinnedName {
    name: String,
    ip: IpAddr,
}

impl ResolveDns for PinnedName {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        DnsFuture::ready(match name == self.name {
            true => Ok(vec![self.ip]),
            false => Err(ResolveDnsError::new(format!(
                "{name}: this client resolves only {}",
                self.name
            ))),
        })
    }
}

/// An SDK client for an S3-compatible URL with static credentials,
/// path-style addressing and `max_attempts` tries per request (1 = no
/// retries, useful when a test wants to see injected faults).
pub fn sdk_client(
    url: &str,
    credentials: &Credentials,
    region: &str,
    max_attempts: u32,
) -> aws_sdk_s3::Client {
    sdk_client_over(url, credentials, region, max_attempts, http_client())
}

fn sdk_client_over(
    url: &str,
    credentials: &Credentials,
    region: &str,
    max_attempts: u32,
    http: aws_sdk_s3::config::SharedHttpClient,
) -> aws_sdk_s3::Client {
    let creds = aws_sdk_s3::config::Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.clone(),
        None,
        None,
        "vmharness",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(url)
        .force_path_style(true)
        .credentials_provider(creds)
        .http_client(http)
        .retry_config(
            aws_sdk_s3::config::retry::RetryConfig::standard()
                .with_max_attempts(max_attempts.max(1)),
        )
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

impl S3Client {
    /// The harness's client for the embedded endpoint (from the host side,
    /// with the key the endpoint never faults); over https when the
    /// endpoint serves it, trusting only its CA.
    pub fn for_endpoint(ep: &Endpoint) -> Result<S3Client, S3ClientError> {
        let http = match ep.tls() {
            Some(tls) => pinned_tls_http_client(tls, ep.addr().ip())?,
            None => http_client(),
        };
        Ok(S3Client {
            sdk: sdk_client_over(&ep.url(), ep.observer_credentials(), ep.region(), 3, http),
            bucket: ep.bucket().to_owned(),
            has_journal: true,
        })
    }

    /// Wrap an SDK client (e.g. one without retries) for `bucket`.
    pub fn from_sdk(sdk: aws_sdk_s3::Client, bucket: &str, has_journal: bool) -> S3Client {
        S3Client {
            sdk,
            bucket: bucket.to_owned(),
            has_journal,
        }
    }

    /// A client for a remote backend (aws or endpoint):
    /// `static_credentials` when given, else aws-config's chain (with
    /// `aws_profile` when the configuration names one).
    pub async fn for_remote(
        cfg: &RemoteConfig,
        static_credentials: Option<&Credentials>,
    ) -> Result<S3Client, S3ClientError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(remote_http_client(cfg.ca_bundle.as_deref())?);
        loader = loader.region(Region::new(cfg.region.clone()));
        if let Some(p) = &cfg.aws_profile {
            loader = loader.profile_name(p);
        }
        if let Some(u) = &cfg.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        if let Some(c) = static_credentials {
            loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                c.access_key_id.clone(),
                c.secret_access_key.clone(),
                None,
                None,
                "vmharness-profile",
            ));
        }
        let shared = loader.load().await;
        let path_style = cfg
            .force_path_style
            .unwrap_or(cfg.backend == Backend::Endpoint);
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(path_style)
            .build();
        Ok(S3Client {
            sdk: aws_sdk_s3::Client::from_conf(config),
            bucket: cfg.bucket.clone(),
            has_journal: false,
        })
    }

    pub fn sdk(&self) -> &aws_sdk_s3::Client {
        &self.sdk
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Whether a journal exists for this backend (embedded only).
    pub fn has_journal(&self) -> bool {
        self.has_journal
    }

    /// Every object under `prefix`, following continuation tokens.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, S3ClientError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .sdk
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| request_error("ListObjectsV2", prefix, e))?;
            for o in page.contents() {
                out.push(ObjectInfo {
                    key: o.key().unwrap_or_default().to_owned(),
                    size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                    etag: o.e_tag().unwrap_or_default().to_owned(),
                    storage_class: o.storage_class().map(|c| c.as_str().to_owned()),
                });
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// HeadObject; Ok(None) when the key does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<HeadInfo>, S3ClientError> {
        let r = self
            .sdk
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await;
        match r {
            Ok(h) => Ok(Some(HeadInfo {
                size: h
                    .content_length()
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(0),
                etag: h.e_tag().unwrap_or_default().to_owned(),
                storage_class: h.storage_class().map(|c| c.as_str().to_owned()),
                sse: h.server_side_encryption().map(|s| s.as_str().to_owned()),
                content_type: h.content_type().map(str::to_owned),
                restore: h.restore().map(str::to_owned),
                checksum_crc32: h.checksum_crc32().map(str::to_owned),
            })),
            Err(e) => {
                let err = request_error("HeadObject", key, e);
                if err.status() == Some(404) {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Bytes `range` of `key` (end exclusive).
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, S3ClientError> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let header = format!("bytes={}-{}", range.start, range.end - 1);
        let r = self
            .sdk
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(header)
            .send()
            .await
            .map_err(|e| request_error("GetObject", key, e))?;
        collect(r.body, key).await
    }

    /// The whole object in memory (for small objects such as manifests).
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, S3ClientError> {
        let r = self
            .sdk
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| request_error("GetObject", key, e))?;
        collect(r.body, key).await
    }

    /// Stream `key` and return (size, lowercase hex SHA-256).
    pub async fn sha256(&self, key: &str) -> Result<(u64, String), S3ClientError> {
        let r = self
            .sdk
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| request_error("GetObject", key, e))?;
        let mut body = r.body;
        let mut hasher = sha2::Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body.try_next().await.map_err(|e| S3ClientError::Body {
            op: "GetObject",
            target: key.to_owned(),
            message: e.to_string(),
        })? {
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok((size, hex::encode(hasher.finalize())))
    }

    /// PutObject with SSE-S3 (setup and tests); returns the ETag.
    pub async fn put(&self, key: &str, body: Bytes) -> Result<String, S3ClientError> {
        let r = self
            .sdk
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| request_error("PutObject", key, e))?;
        Ok(r.e_tag().unwrap_or_default().to_owned())
    }

    /// Multipart uploads in progress under `prefix`, following markers.
    pub async fn list_uploads(&self, prefix: &str) -> Result<Vec<UploadInfo>, S3ClientError> {
        let mut out = Vec::new();
        let mut key_marker: Option<String> = None;
        let mut id_marker: Option<String> = None;
        loop {
            let page = self
                .sdk
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| request_error("ListMultipartUploads", prefix, e))?;
            for u in page.uploads() {
                out.push(UploadInfo {
                    key: u.key().unwrap_or_default().to_owned(),
                    upload_id: u.upload_id().unwrap_or_default().to_owned(),
                });
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            id_marker = page.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                break;
            }
        }
        Ok(out)
    }

    pub async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), S3ClientError> {
        self.sdk
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| request_error("AbortMultipartUpload", key, e))?;
        Ok(())
    }

    /// Delete every object under `prefix` (DeleteObjects, 1000 per call,
    /// quiet) and abort its incomplete multipart uploads.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<Cleaned, S3ClientError> {
        let keys: Vec<String> = self
            .list(prefix)
            .await?
            .into_iter()
            .map(|o| o.key)
            .collect();
        let mut deleted = 0u64;
        for batch in keys.chunks(1000) {
            let ids: Result<Vec<ObjectIdentifier>, _> = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect();
            let ids = ids.map_err(|e| S3ClientError::Config(e.to_string()))?;
            let delete = Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(|e| S3ClientError::Config(e.to_string()))?;
            let r = self
                .sdk
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| request_error("DeleteObjects", prefix, e))?;
            if let Some(err) = r.errors().first() {
                return Err(S3ClientError::Request {
                    op: "DeleteObjects",
                    target: err.key().unwrap_or(prefix).to_owned(),
                    code: err.code().unwrap_or("-").to_owned(),
                    status: None,
                    message: err.message().unwrap_or_default().to_owned(),
                });
            }
            deleted += batch.len() as u64;
        }
        let uploads = self.list_uploads(prefix).await?;
        for u in &uploads {
            self.abort_upload(&u.key, &u.upload_id).await?;
        }
        Ok(Cleaned {
            objects: deleted,
            uploads: uploads.len() as u64,
        })
    }

    /// RestoreObject for `days` (202 started or 200 already restored).
    pub async fn restore(&self, key: &str, days: i32) -> Result<(), S3ClientError> {
        let req = aws_sdk_s3::types::RestoreRequest::builder()
            .days(days)
            .build();
        self.sdk
            .restore_object()
            .bucket(&self.bucket)
            .key(key)
            .restore_request(req)
            .send()
            .await
            .map_err(|e| request_error("RestoreObject", key, e))?;
        Ok(())
    }
}

async fn collect(body: ByteStream, key: &str) -> Result<Bytes, S3ClientError> {
    body.collect()
        .await
        .map(|b| b.into_bytes())
        .map_err(|e| S3ClientError::Body {
            op: "GetObject",
            target: key.to_owned(),
            message: e.to_string(),
        })
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tls_tests;
