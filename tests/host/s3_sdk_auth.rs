//! What the embedded endpoint answers about the request itself, as AWS
//! does: request ids on every answer and in error bodies, 403
//! InvalidAccessKeyId for an unknown access key, presigned URLs refused
//! when expired (403) or meant to live over a week (400).

use aws_sdk_s3::operation::RequestId as _;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

use vmharness::s3::client::sdk_client;
use vmharness::s3::Credentials;

use crate::s3_common::{code, start, status, Fixture};

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let f = start().await;
    let b = f.ep.bucket();
    let put = f
        .sdk
        .put_object()
        .bucket(b)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    let put_id = put
        .request_id()
        .expect("PutObject has a request id")
        .to_owned();
    assert_eq!(put_id.len(), 16, "{put_id}");
    let err = f
        .sdk
        .get_object()
        .bucket(b)
        .key("missing")
        .send()
        .await
        .expect_err("no such key");
    assert_eq!(code(&err), "NoSuchKey");
    let svc = err.as_service_error().expect("a service error");
    let err_id = svc.request_id().expect("the error has a request id");
    assert_ne!(err_id, put_id, "ids are per request");
    let raw = err.raw_response().expect("raw response");
    let body = std::str::from_utf8(raw.body().bytes().expect("in memory")).expect("utf-8");
    assert!(
        body.contains(&format!("<RequestId>{err_id}</RequestId>")),
        "{body}"
    );
    assert!(body.contains("<HostId>"), "{body}");
    assert!(
        body.contains(&format!("<Resource>/{b}/missing</Resource>")),
        "{body}"
    );
    assert!(raw.headers().get("x-amz-id-2").is_some());
}

#[tokio::test]
async fn an_unknown_access_key_is_invalid_access_key_id() {
    let f = start().await;
    let stranger = Credentials {
        access_key_id: "AKIAUNKNOWNKEY000000".to_owned(),
        secret_access_key: f.ep.credentials().secret_access_key.clone(),
    };
    let sdk = sdk_client(&f.ep.url(), &stranger, f.ep.region(), 1);
    let err = sdk
        .get_object()
        .bucket(f.ep.bucket())
        .key("k")
        .send()
        .await
        .expect_err("unknown key refused");
    assert_eq!(code(&err), "InvalidAccessKeyId");
    assert_eq!(status(&err), 403);
}

/// GET `url` with a plain HTTP client: (status, body).
fn fetch(url: &str) -> (u16, String) {
    match ureq::get(url).call() {
        Ok(r) => (r.status(), r.into_string().expect("body")),
        Err(ureq::Error::Status(s, r)) => (s, r.into_string().expect("error body")),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

async fn presigned_get(f: &Fixture, key: &str, cfg: PresigningConfig) -> String {
    f.sdk
        .get_object()
        .bucket(f.ep.bucket())
        .key(key)
        .presigned(cfg)
        .await
        .expect("presigned")
        .uri()
        .to_owned()
}

#[tokio::test]
async fn presigned_urls_expire_and_live_at_most_a_week() {
    let f = start().await;
    f.sdk
        .put_object()
        .bucket(f.ep.bucket())
        .key("k")
        .body(ByteStream::from_static(b"presigned"))
        .send()
        .await
        .expect("put");
    let minute = PresigningConfig::expires_in(Duration::from_secs(60)).expect("config");
    let url = presigned_get(&f, "k", minute).await;
    let (s, body) = tokio::task::spawn_blocking(move || fetch(&url))
        .await
        .expect("join");
    assert_eq!((s, body.as_str()), (200, "presigned"));

    // Signed two hours ago for one minute: expired.
    let old = PresigningConfig::builder()
        .start_time(SystemTime::now() - Duration::from_secs(7200))
        .expires_in(Duration::from_secs(60))
        .build()
        .expect("config");
    let url = presigned_get(&f, "k", old).await;
    let (s, body) = tokio::task::spawn_blocking(move || fetch(&url))
        .await
        .expect("join");
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(body.contains("Request has expired"), "{body}");

    // A week is the most; one second more is refused before the signature
    // (which the edit broke) is looked at.
    let week = PresigningConfig::expires_in(Duration::from_secs(604_800)).expect("config");
    let url = presigned_get(&f, "k", week).await;
    assert!(url.contains("X-Amz-Expires=604800"), "{url}");
    let url = url.replace("X-Amz-Expires=604800", "X-Amz-Expires=604801");
    let (s, body) = tokio::task::spawn_blocking(move || fetch(&url))
        .await
        .expect("join");
    assert_eq!(s, 400, "{body}");
    assert!(
        body.contains("<Code>AuthorizationQueryParametersError</Code>"),
        "{body}"
    );
    assert!(body.contains("<RequestId>"), "{body}");
}
