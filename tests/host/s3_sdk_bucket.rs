//! Bucket calls a tool may make, answered as AWS does for a bucket that
//! never had versioning: GetBucketVersioning, ListObjectVersions, and
//! DeleteBucket (409 BucketNotEmpty while objects exist).

use aws_sdk_s3::primitives::ByteStream;

use crate::s3_common::{code, start, status};

#[tokio::test]
async fn an_unversioned_bucket_answers_versioning_calls_as_aws() {
    let f = start().await;
    let (b, sdk) = (f.ep.bucket(), &f.sdk);
    let v = sdk
        .get_bucket_versioning()
        .bucket(b)
        .send()
        .await
        .expect("versioning");
    assert!(v.status().is_none() && v.mfa_delete().is_none(), "{v:?}");
    for key in ["a", "b", "c"] {
        sdk.put_object()
            .bucket(b)
            .key(key)
            .body(ByteStream::from_static(b"v"))
            .send()
            .await
            .expect("put");
    }
    let first = sdk
        .list_object_versions()
        .bucket(b)
        .max_keys(2)
        .send()
        .await
        .expect("versions");
    assert_eq!(first.is_truncated(), Some(true));
    assert_eq!(first.next_key_marker(), Some("b"));
    assert_eq!(first.next_version_id_marker(), Some("null"));
    let rest = sdk
        .list_object_versions()
        .bucket(b)
        .key_marker("b")
        .version_id_marker("null")
        .send()
        .await
        .expect("versions after b");
    assert_eq!(rest.is_truncated(), Some(false));
    let all: Vec<_> = first.versions().iter().chain(rest.versions()).collect();
    let keys: Vec<_> = all.iter().filter_map(|v| v.key()).collect();
    assert_eq!(keys, ["a", "b", "c"]);
    for v in all {
        assert_eq!(v.version_id(), Some("null"));
        assert_eq!(v.is_latest(), Some(true));
        assert_eq!(v.size(), Some(1));
    }
    assert!(first.delete_markers().is_empty());
}

#[tokio::test]
async fn delete_bucket_refuses_a_bucket_with_objects() {
    let f = start().await;
    let sdk = &f.sdk;
    sdk.create_bucket()
        .bucket("second")
        .send()
        .await
        .expect("create");
    sdk.put_object()
        .bucket("second")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .expect("put");
    let err = sdk
        .delete_bucket()
        .bucket("second")
        .send()
        .await
        .expect_err("not empty");
    assert_eq!((status(&err), code(&err).as_str()), (409, "BucketNotEmpty"));
    sdk.delete_object()
        .bucket("second")
        .key("k")
        .send()
        .await
        .expect("delete object");
    sdk.delete_bucket()
        .bucket("second")
        .send()
        .await
        .expect("empty bucket deleted");
    let gone = sdk
        .head_bucket()
        .bucket("second")
        .send()
        .await
        .expect_err("bucket gone");
    assert_eq!(status(&gone), 404);
    // The endpoint's own bucket is untouched.
    sdk.head_bucket()
        .bucket(f.ep.bucket())
        .send()
        .await
        .expect("own bucket");
}
