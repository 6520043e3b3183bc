//! Checkpoints of the embedded endpoint over the wire: what a scenario did
//! after a checkpoint is gone after the rollback, an upload open at the
//! checkpoint is open again with its part, and the endpoint keeps its port,
//! credentials and journal.

use crate::s3_common::{bytes, start};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

async fn put(f: &crate::s3_common::Fixture, key: &str, data: &[u8]) {
    f.sdk
        .put_object()
        .bucket(f.ep.bucket())
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

async fn keys(f: &crate::s3_common::Fixture) -> Vec<String> {
    let listed = f.client.list("").await.expect("list");
    listed.into_iter().map(|o| o.key).collect()
}

async fn parts(f: &crate::s3_common::Fixture, key: &str, id: &str) -> Vec<i32> {
    f.sdk
        .list_parts()
        .bucket(f.ep.bucket())
        .key(key)
        .upload_id(id)
        .send()
        .await
        .expect("list parts")
        .parts()
        .iter()
        .filter_map(|p| p.part_number())
        .collect()
}

#[tokio::test]
async fn rollback_over_the_wire_keeps_port_credentials_and_journal() {
    let f = start().await;
    let cps = tempfile::tempdir().expect("checkpoints");
    let (one, two) = (cps.path().join("one"), cps.path().join("two"));
    let (url, creds) = (f.ep.url(), f.ep.credentials().clone());
    let old_a = bytes(1000, 1);
    put(&f, "a", &old_a).await;
    let id = f
        .sdk
        .create_multipart_upload()
        .bucket(f.ep.bucket())
        .key("u")
        .send()
        .await
        .expect("create upload")
        .upload_id()
        .expect("upload id")
        .to_owned();
    let etag = f
        .sdk
        .upload_part()
        .bucket(f.ep.bucket())
        .key("u")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(bytes(100, 2)))
        .send()
        .await
        .expect("upload part")
        .e_tag()
        .unwrap_or_default()
        .to_owned();
    f.ep.checkpoint(&one).await.expect("checkpoint");

    put(&f, "b", b"b").await;
    put(&f, "a", b"new").await;
    f.sdk
        .complete_multipart_upload()
        .bucket(f.ep.bucket())
        .key("u")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(&etag).build())
                .build(),
        )
        .send()
        .await
        .expect("complete");
    assert_eq!(keys(&f).await, ["a", "b", "u"]);
    let journal_before = f.ep.journal().records().len();

    f.ep.rollback(&one).await.expect("rollback");
    assert_eq!((f.ep.url(), f.ep.credentials()), (url.clone(), &creds));
    assert_eq!(keys(&f).await, ["a"]);
    let got = f.client.get_bytes("a").await.expect("get a");
    assert_eq!(&got[..], &old_a[..]);
    let uploads = f.client.list_uploads("").await.expect("list uploads");
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].upload_id, id);
    assert_eq!(parts(&f, "u", &id).await, [1]);
    let journal = f.ep.journal().records();
    assert!(
        journal.len() > journal_before && journal.iter().any(|r| r.op == "CompleteMultipartUpload"),
        "the journal was rolled back"
    );

    // Twice to the same checkpoint, and a second one after a rollback.
    put(&f, "c", b"c").await;
    f.ep.rollback(&one).await.expect("rollback again");
    assert_eq!(keys(&f).await, ["a"]);
    put(&f, "d", b"d").await;
    f.ep.checkpoint(&two).await.expect("second checkpoint");
    put(&f, "e", b"e").await;
    f.ep.rollback(&two).await.expect("rollback to the second");
    assert_eq!(keys(&f).await, ["a", "d"]);
    f.ep.rollback(&one).await.expect("rollback to the first");
    assert_eq!(keys(&f).await, ["a"]);
    assert_eq!(parts(&f, "u", &id).await, [1]);
}
