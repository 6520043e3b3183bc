//! The access gate: s3s calls it once a request is authenticated and its
//! operation is known, before the body is read. It fills in the journal
//! record (operation, key, what the client asked for) and applies faults.

use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::checksum;
use super::ctx::RequestCtx;
use super::faults::{Decision, Faults};

pub(crate) struct Gate {
    pub faults: Arc<Faults>,
    /// Requests signed with this access key are never faulted (the harness's).
    pub exempt_access_key: String,
}

/// The decoded value of query parameter `name`.
pub(super) fn query_param(uri: &http::Uri, name: &str) -> Option<String> {
    let q = uri.query()?;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| {
            urlencoding::decode(v)
                .map(|s| s.into_owned())
                .unwrap_or_else(|_| v.to_owned())
        })
    })
}

fn header(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[async_trait::async_trait]
impl S3Access for Gate {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let op = cx.s3_op().name().to_owned();
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let headers = cx.headers();
        let uri = cx.uri();
        let storage_class = header(headers, "x-amz-storage-class");
        let sse = header(headers, "x-amz-server-side-encryption");
        let content_type = header(headers, "content-type");
        let sent_checksum = checksum::requested(headers).map(|r| match r.header_value {
            Some(v) => format!("{}:{v}", r.algorithm.as_str()),
            None => r.algorithm.as_str().to_owned(),
        });
        let upload_id = query_param(uri, "uploadId");
        let part = query_param(uri, "partNumber").and_then(|p| p.parse().ok());
        let authenticated = cx.credentials().is_some();
        let exempt = cx
            .credentials()
            .is_some_and(|c| c.access_key == self.exempt_access_key);
        let ctx = cx.extensions_mut().get::<RequestCtx>().cloned();
        if let Some(ctx) = &ctx {
            ctx.note(|r| {
                r.op = op.clone();
                r.bucket = bucket;
                r.key = key.clone();
                r.upload_id = upload_id;
                r.part = part;
                r.storage_class = storage_class;
                r.sse = sse;
                r.checksum = sent_checksum;
                r.content_type = content_type;
            });
        }
        if !authenticated {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Access Denied",
            ));
        }
        if exempt {
            return Ok(());
        }
        let Some(decision) = self.faults.decide(&op, key.as_deref()) else {
            return Ok(());
        };
        if let Some(ctx) = &ctx {
            let label = decision.label();
            ctx.note(|r| r.fault = Some(label));
        }
        match decision {
            Decision::SlowDown => Err(S3Error::with_message(
                S3ErrorCode::SlowDown,
                "Please reduce your request rate.",
            )),
            Decision::InternalError => Err(S3Error::with_message(
                S3ErrorCode::InternalError,
                "We encountered an internal error. Please try again.",
            )),
            Decision::Reset => {
                if let Some(ctx) = &ctx {
                    ctx.request_reset();
                }
                Err(S3Error::new(S3ErrorCode::InternalError))
            }
            Decision::Latency(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Decision::Stall(release) => {
                self.faults.hold(release).await;
                Ok(())
            }
        }
    }
}
