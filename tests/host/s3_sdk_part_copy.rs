//! UploadPartCopy on the embedded endpoint (boto3's managed copy() uses it
//! above 8 MiB): parts copied from ranges of an object and from a whole
//! object complete into exactly those bytes.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::s3_common::{bytes, code, start, status, MIB};

#[tokio::test]
async fn parts_copied_from_ranges_and_whole_objects_complete_into_the_pieces() {
    let f = start().await;
    let (b, sdk) = (f.ep.bucket(), &f.sdk);
    let src = bytes(11 * MIB, 3);
    let tail = bytes(100, 9);
    for (key, data) in [("src", &src), ("tail", &tail)] {
        sdk.put_object()
            .bucket(b)
            .key(key)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    }
    let up = sdk
        .create_multipart_upload()
        .bucket(b)
        .key("dst")
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("upload id");
    let copy = |n: i32, source: &str, range: Option<String>| {
        sdk.upload_part_copy()
            .bucket(b)
            .key("dst")
            .upload_id(id)
            .part_number(n)
            .copy_source(format!("{b}/{source}"))
            .set_copy_source_range(range)
            .send()
    };
    let six = 6 * MIB;
    let bad = copy(1, "src", Some(format!("bytes=0-{}", src.len())))
        .await
        .expect_err("range past the end");
    assert_eq!(
        (status(&bad), code(&bad).as_str()),
        (400, "InvalidArgument")
    );
    let missing = copy(1, "nope", None).await.expect_err("no source");
    assert_eq!(code(&missing), "NoSuchKey");

    let mut parts = Vec::new();
    for (n, source, range) in [
        (1, "src", Some(format!("bytes=0-{}", six - 1))),
        (2, "src", Some(format!("bytes={six}-{}", src.len() - 1))),
        (3, "tail", None),
    ] {
        let out = copy(n, source, range)
            .await
            .unwrap_or_else(|e| panic!("part {n}: {e:?}"));
        let etag = out
            .copy_part_result()
            .and_then(|r| r.e_tag())
            .expect("CopyPartResult ETag")
            .to_owned();
        parts.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
    }
    sdk.complete_multipart_upload()
        .bucket(b)
        .key("dst")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let got = sdk
        .get_object()
        .bucket(b)
        .key("dst")
        .send()
        .await
        .expect("get")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    let mut want = src.clone();
    want.extend_from_slice(&tail);
    assert_eq!(got.len(), want.len());
    assert!(got[..] == want[..], "the copy equals its pieces");
}
