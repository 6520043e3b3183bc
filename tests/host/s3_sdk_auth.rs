//! What the embedded endpoint answers about the request itself, as AWS
//! does: request ids on every answer and in error bodies.

use aws_sdk_s3::operation::RequestId as _;
use aws_sdk_s3::primitives::ByteStream;

use crate::s3_common::{code, start};

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
