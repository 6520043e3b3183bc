//! What the embedded endpoint answers about the request itself, as AWS
//! does: request ids on every answer and in error bodies, 403
//! InvalidAccessKeyId for an unknown access key.

use aws_sdk_s3::operation::RequestId as _;
use aws_sdk_s3::primitives::ByteStream;

use vmharness::s3::client::sdk_client;
use vmharness::s3::Credentials;

use crate::s3_common::{code, start, status};

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
