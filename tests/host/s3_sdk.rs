//! Conformance of the embedded endpoint, driven by the Rust SDK (the same
//! client the verifiers use).

use std::time::Duration;

use crate::s3_common::{bytes, code, put, start, status, MIB};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, RestoreRequest,
    ServerSideEncryption, StorageClass,
};
use sha2::Digest as _;

#[tokio::test]
async fn put_get_head_and_ranges() {
    let f = start().await;
    let b = f.ep.bucket();
    let data = bytes(1000, 7);
    let out = f
        .sdk
        .put_object()
        .bucket(b)
        .key("dir/obj")
        .content_type("application/json")
        .metadata("origin", "test")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .expect("put");
    let md5 = hex::encode(md5_of(&data));
    assert_eq!(out.e_tag(), Some(format!("\"{md5}\"").as_str()));
    assert_eq!(
        out.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert!(out.checksum_crc32().is_some(), "CRC32 echoed");

    let got = f.client.get_bytes("dir/obj").await.expect("get");
    assert_eq!(got.as_ref(), data.as_slice());
    for (range, want) in [
        ("bytes=0-0", &data[0..1]),
        ("bytes=10-19", &data[10..20]),
        ("bytes=990-", &data[990..]),
        ("bytes=-3", &data[997..]),
        ("bytes=900-5000", &data[900..]),
    ] {
        let r = f
            .sdk
            .get_object()
            .bucket(b)
            .key("dir/obj")
            .range(range)
            .send()
            .await
            .expect("ranged get");
        assert!(r.content_range().is_some(), "{range} has Content-Range");
        let body = r.body.collect().await.expect("body").into_bytes();
        assert_eq!(body.as_ref(), want, "{range}");
    }
    let e = f
        .sdk
        .get_object()
        .bucket(b)
        .key("dir/obj")
        .range("bytes=5000-6000")
        .send()
        .await
        .expect_err("unsatisfiable");
    assert_eq!((status(&e), code(&e).as_str()), (416, "InvalidRange"));

    let h = f
        .client
        .head("dir/obj")
        .await
        .expect("head")
        .expect("exists");
    assert_eq!(h.size, 1000);
    assert_eq!(h.storage_class, None, "STANDARD is not shown");
    assert_eq!(h.sse.as_deref(), Some("AES256"));
    assert_eq!(h.content_type.as_deref(), Some("application/json"));
    assert!(h.checksum_crc32.is_some());
    assert_eq!(f.client.head("nope").await.expect("head missing"), None);

    let e = f
        .sdk
        .get_object()
        .bucket(b)
        .key("nope")
        .send()
        .await
        .expect_err("missing");
    assert_eq!((status(&e), code(&e).as_str()), (404, "NoSuchKey"));

    let path = f.ep.store_path_of("dir/obj").expect("stored");
    assert_eq!(std::fs::read(path).expect("read store"), data);
}

fn md5_of(data: &[u8]) -> Vec<u8> {
    use s3s::crypto::Checksum as _;
    s3s::crypto::Md5::checksum(data).as_ref().to_vec()
}

#[tokio::test]
async fn hostile_keys_list_and_page() {
    let f = start().await;
    let b = f.ep.bucket();
    let keys = [
        "a",
        "a/b",
        "a/c/d",
        "a+b",
        "a%2Fb",
        "with space",
        "ü/ñ 文字",
        "a/../b",
        "x//y",
        "tilde~*'()!",
    ];
    for (i, k) in keys.iter().enumerate() {
        put(&f.sdk, b, k, bytes(i + 1, 0)).await;
    }
    let mut sorted: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    sorted.sort();
    let listed: Vec<String> = f
        .client
        .list("")
        .await
        .expect("list")
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(listed, sorted);

    // One key per page.
    let mut paged = Vec::new();
    let mut token = None;
    loop {
        let r = f
            .sdk
            .list_objects_v2()
            .bucket(b)
            .max_keys(1)
            .set_continuation_token(token)
            .send()
            .await
            .expect("page");
        assert!(r.contents().len() <= 1);
        paged.extend(
            r.contents()
                .iter()
                .filter_map(|o| o.key())
                .map(str::to_owned),
        );
        if r.is_truncated() != Some(true) {
            break;
        }
        token = r.next_continuation_token().map(str::to_owned);
    }
    assert_eq!(paged, sorted);

    // Delimiter: common prefixes count towards max-keys and page cleanly.
    let mut entries = Vec::new();
    let mut token = None;
    loop {
        let r = f
            .sdk
            .list_objects_v2()
            .bucket(b)
            .delimiter("/")
            .max_keys(2)
            .set_continuation_token(token)
            .send()
            .await
            .expect("page");
        entries.extend(
            r.contents()
                .iter()
                .filter_map(|o| o.key())
                .map(str::to_owned),
        );
        entries.extend(
            r.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix())
                .map(|p| format!("CP:{p}")),
        );
        if r.is_truncated() != Some(true) {
            break;
        }
        token = r.next_continuation_token().map(str::to_owned);
    }
    entries.sort();
    assert_eq!(
        entries,
        vec![
            "CP:a/",
            "CP:x/",
            "CP:ü/",
            "a",
            "a%2Fb",
            "a+b",
            "tilde~*'()!",
            "with space"
        ]
    );
    let r = f
        .sdk
        .list_objects_v2()
        .bucket(b)
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .expect("prefixed");
    let keys: Vec<&str> = r.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["a/b"]);
    let cps: Vec<&str> = r
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(cps, vec!["a/../", "a/c/"]);

    let r = f
        .sdk
        .list_objects_v2()
        .bucket(b)
        .start_after("a/c/d")
        .max_keys(2)
        .send()
        .await
        .expect("start-after");
    let keys: Vec<&str> = r.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["tilde~*'()!", "with space"]);

    for k in keys_with_content(&f.client, &sorted).await {
        assert!(f.client.get_bytes(&k).await.is_ok(), "{k} readable");
    }
}

async fn keys_with_content(client: &vmharness::s3::S3Client, keys: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for k in keys {
        if client.head(k).await.expect("head").is_some() {
            out.push(k.clone());
        }
    }
    out
}

#[tokio::test]
async fn delete_and_delete_objects() {
    let f = start().await;
    let b = f.ep.bucket();
    for i in 0..5 {
        put(&f.sdk, b, &format!("d/{i}"), vec![1]).await;
    }
    f.sdk
        .delete_object()
        .bucket(b)
        .key("d/0")
        .send()
        .await
        .expect("delete");
    f.sdk
        .delete_object()
        .bucket(b)
        .key("d/0")
        .send()
        .await
        .expect("delete of a missing key succeeds");
    let ids = |keys: &[&str]| -> Vec<ObjectIdentifier> {
        keys.iter()
            .map(|k| ObjectIdentifier::builder().key(*k).build().expect("id"))
            .collect()
    };
    let r = f
        .sdk
        .delete_objects()
        .bucket(b)
        .delete(
            Delete::builder()
                .set_objects(Some(ids(&["d/1", "d/2"])))
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("delete objects");
    assert_eq!(r.deleted().len(), 2);
    let r = f
        .sdk
        .delete_objects()
        .bucket(b)
        .delete(
            Delete::builder()
                .set_objects(Some(ids(&["d/3", "d/missing"])))
                .quiet(true)
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("quiet delete");
    assert!(r.deleted().is_empty(), "quiet mode lists no deletions");
    assert!(r.errors().is_empty());
    let left: Vec<String> = f
        .client
        .list("d/")
        .await
        .expect("list")
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(left, vec!["d/4"]);

    let many: Vec<String> = (0..1001).map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let e = f
        .sdk
        .delete_objects()
        .bucket(b)
        .delete(
            Delete::builder()
                .set_objects(Some(ids(&refs)))
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect_err("more than 1000 keys");
    assert_eq!((status(&e), code(&e).as_str()), (400, "MalformedXML"));

    put(&f.sdk, b, "p/x", vec![1]).await;
    put(&f.sdk, b, "p/y/z", vec![2]).await;
    assert_eq!(
        f.client
            .delete_prefix("p/")
            .await
            .expect("delete prefix")
            .objects,
        2
    );
    assert!(f.client.list("p/").await.expect("list").is_empty());
}

#[tokio::test]
async fn storage_classes_sse_and_copy() {
    let f = start().await;
    let b = f.ep.bucket();
    for class in [
        StorageClass::Standard,
        StorageClass::StandardIa,
        StorageClass::Glacier,
        StorageClass::DeepArchive,
        StorageClass::GlacierIr,
    ] {
        let key = format!("sc/{}", class.as_str());
        f.sdk
            .put_object()
            .bucket(b)
            .key(&key)
            .storage_class(class.clone())
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(vec![1, 2, 3]))
            .send()
            .await
            .expect("put with class");
        let h = f.client.head(&key).await.expect("head").expect("exists");
        let want = (class != StorageClass::Standard).then(|| class.as_str().to_owned());
        assert_eq!(h.storage_class, want, "{key}");
        assert_eq!(h.sse.as_deref(), Some("AES256"));
    }
    let listed = f.client.list("sc/").await.expect("list");
    assert!(listed
        .iter()
        .all(|o| o.storage_class.as_deref() == Some(o.key.trim_start_matches("sc/"))));

    let e = f
        .sdk
        .put_object()
        .bucket(b)
        .key("bad")
        .storage_class(StorageClass::from("FANCY"))
        .body(ByteStream::from(vec![1]))
        .send()
        .await
        .expect_err("bad class");
    assert_eq!(
        (status(&e), code(&e).as_str()),
        (400, "InvalidStorageClass")
    );

    // The journal records SSE as sent: here asked for, there not.
    put(&f.sdk, b, "no-sse", vec![1]).await;
    let recs = f.ep.journal().records();
    let sent = |key: &str| {
        recs.iter()
            .find(|r| r.is("PutObject", key))
            .map(|r| r.sse.clone())
            .expect("journaled")
    };
    assert_eq!(sent("sc/STANDARD").as_deref(), Some("AES256"));
    assert_eq!(sent("no-sse"), None);
    let stored = f
        .client
        .head("no-sse")
        .await
        .expect("head")
        .expect("exists");
    assert_eq!(stored.sse.as_deref(), Some("AES256"), "encrypted anyway");

    // Copy: new key and class; a no-op copy onto itself is refused.
    f.sdk
        .copy_object()
        .bucket(b)
        .key("copied")
        .copy_source(format!("{b}/sc/STANDARD"))
        .storage_class(StorageClass::StandardIa)
        .send()
        .await
        .expect("copy");
    let h = f
        .client
        .head("copied")
        .await
        .expect("head")
        .expect("copied");
    assert_eq!(h.storage_class.as_deref(), Some("STANDARD_IA"));
    assert_eq!(
        f.client.get_bytes("copied").await.expect("get").as_ref(),
        &[1, 2, 3]
    );
    let e = f
        .sdk
        .copy_object()
        .bucket(b)
        .key("copied")
        .copy_source(format!("{b}/copied"))
        .send()
        .await
        .expect_err("self copy without change");
    assert_eq!((status(&e), code(&e).as_str()), (400, "InvalidRequest"));
    let e = f
        .sdk
        .copy_object()
        .bucket(b)
        .key("x")
        .copy_source(format!("{b}/sc/GLACIER"))
        .send()
        .await
        .expect_err("copy of an unrestored archive");
    assert_eq!((status(&e), code(&e).as_str()), (403, "InvalidObjectState"));
}

#[tokio::test]
async fn restore_archived_objects() {
    let f = start().await;
    let b = f.ep.bucket();
    for (key, class) in [
        ("g", StorageClass::Glacier),
        ("da", StorageClass::DeepArchive),
        ("ir", StorageClass::GlacierIr),
        ("std", StorageClass::Standard),
    ] {
        f.sdk
            .put_object()
            .bucket(b)
            .key(key)
            .storage_class(class)
            .body(ByteStream::from(b"archived".to_vec()))
            .send()
            .await
            .expect("put");
    }
    for key in ["ir", "std"] {
        let e = f
            .sdk
            .restore_object()
            .bucket(b)
            .key(key)
            .restore_request(RestoreRequest::builder().days(1).build())
            .send()
            .await
            .expect_err("not an archive class");
        assert_eq!((status(&e), code(&e).as_str()), (403, "InvalidObjectState"));
        assert!(f.client.get_bytes(key).await.is_ok(), "{key} readable");
    }
    for key in ["g", "da"] {
        let e = f
            .sdk
            .get_object()
            .bucket(b)
            .key(key)
            .send()
            .await
            .expect_err("archived");
        assert_eq!((status(&e), code(&e).as_str()), (403, "InvalidObjectState"));
        assert_eq!(
            f.client
                .head(key)
                .await
                .expect("head")
                .expect("exists")
                .restore,
            None
        );
        f.client.restore(key, 2).await.expect("restore starts");
        let e = f
            .sdk
            .restore_object()
            .bucket(b)
            .key(key)
            .restore_request(RestoreRequest::builder().days(2).build())
            .send()
            .await
            .expect_err("already in progress");
        assert_eq!(
            (status(&e), code(&e).as_str()),
            (409, "RestoreAlreadyInProgress")
        );
        let h = f.client.head(key).await.expect("head").expect("exists");
        assert_eq!(h.restore.as_deref(), Some("ongoing-request=\"true\""));
        assert!(f.client.get_bytes(key).await.is_err(), "still archived");
    }
    tokio::time::sleep(crate::s3_common::RESTORE_DELAY + Duration::from_millis(100)).await;
    for key in ["g", "da"] {
        let h = f.client.head(key).await.expect("head").expect("exists");
        let restore = h.restore.expect("restore header");
        assert!(
            restore.starts_with("ongoing-request=\"false\", expiry-date=\""),
            "{restore}"
        );
        assert!(restore.ends_with(" GMT\""), "{restore}");
        assert_eq!(
            f.client.get_bytes(key).await.expect("restored").as_ref(),
            b"archived"
        );
        f.client
            .restore(key, 3)
            .await
            .expect("restore again is 200");
    }
    let statuses: Vec<(String, Option<u16>)> =
        f.ep.journal()
            .records()
            .into_iter()
            .filter(|r| r.op == "RestoreObject" && r.key.as_deref() == Some("g"))
            .map(|r| (r.error_code.unwrap_or_default(), r.status))
            .collect();
    assert_eq!(
        statuses,
        vec![
            (String::new(), Some(202)),
            ("RestoreAlreadyInProgress".to_owned(), Some(409)),
            (String::new(), Some(200)),
        ]
    );
}

async fn upload_part(
    f: &crate::s3_common::Fixture,
    key: &str,
    id: &str,
    n: i32,
    data: Vec<u8>,
) -> String {
    f.sdk
        .upload_part()
        .bucket(f.ep.bucket())
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(data))
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload part {n}: {e:?}"))
        .e_tag()
        .unwrap_or_default()
        .to_owned()
}

fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(*e).build())
                .collect(),
        ))
        .build()
}

#[tokio::test]
async fn multipart_rules() {
    let f = start().await;
    let b = f.ep.bucket();
    let key = "mp/chunk-0.bin";
    let create = f
        .sdk
        .create_multipart_upload()
        .bucket(b)
        .key(key)
        .storage_class(StorageClass::StandardIa)
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("create");
    let id = create.upload_id().expect("upload id").to_owned();
    let p1 = bytes(5 * MIB, 1);
    let p3 = bytes(5 * MIB, 3);
    let p4 = bytes(100, 4);
    let e1 = upload_part(&f, key, &id, 1, p1.clone()).await;
    let e3 = upload_part(&f, key, &id, 3, p3.clone()).await;
    let e4 = upload_part(&f, key, &id, 4, p4.clone()).await;
    let small = upload_part(&f, key, &id, 2, bytes(10, 2)).await;
    assert_eq!(e1, format!("\"{}\"", hex::encode(md5_of(&p1))));

    let uploads = f.client.list_uploads("mp/").await.expect("list uploads");
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].upload_id, id);
    let parts = f
        .sdk
        .list_parts()
        .bucket(b)
        .key(key)
        .upload_id(&id)
        .max_parts(2)
        .send()
        .await
        .expect("list parts");
    let numbers: Vec<i32> = parts
        .parts()
        .iter()
        .filter_map(|p| p.part_number())
        .collect();
    assert_eq!(numbers, vec![1, 2]);
    assert_eq!(parts.is_truncated(), Some(true));
    assert_eq!(parts.parts()[0].size(), Some(5 * MIB as i64));
    let rest = f
        .sdk
        .list_parts()
        .bucket(b)
        .key(key)
        .upload_id(&id)
        .part_number_marker(parts.next_part_number_marker().expect("marker").to_string())
        .send()
        .await
        .expect("list parts page 2");
    let numbers: Vec<i32> = rest
        .parts()
        .iter()
        .filter_map(|p| p.part_number())
        .collect();
    assert_eq!(numbers, vec![3, 4]);

    let try_complete = |parts: Vec<(i32, String)>| {
        let sdk = f.sdk.clone();
        let id = id.clone();
        async move {
            let refs: Vec<(i32, &str)> = parts.iter().map(|(n, e)| (*n, e.as_str())).collect();
            sdk.complete_multipart_upload()
                .bucket(b)
                .key(key)
                .upload_id(id)
                .multipart_upload(completed(&refs))
                .send()
                .await
        }
    };
    let e = try_complete(vec![(1, e1.clone()), (2, small.clone()), (3, e3.clone())])
        .await
        .expect_err("small middle part");
    assert_eq!((status(&e), code(&e).as_str()), (400, "EntityTooSmall"));
    let e = try_complete(vec![(1, e1.clone()), (3, "\"0000\"".to_owned())])
        .await
        .expect_err("wrong etag");
    assert_eq!((status(&e), code(&e).as_str()), (400, "InvalidPart"));
    let e = try_complete(vec![(3, e3.clone()), (1, e1.clone())])
        .await
        .expect_err("order");
    assert_eq!((status(&e), code(&e).as_str()), (400, "InvalidPartOrder"));
    let e = try_complete(vec![(1, e1.clone()), (5, e3.clone())])
        .await
        .expect_err("missing part");
    assert_eq!((status(&e), code(&e).as_str()), (400, "InvalidPart"));

    // Gaps are fine: 1, 3, 4 (the last part may be small).
    let done = try_complete(vec![(1, e1.clone()), (3, e3.clone()), (4, e4.clone())])
        .await
        .expect("complete");
    let mut md5s = Vec::new();
    for p in [&p1, &p3, &p4] {
        md5s.extend(md5_of(p));
    }
    let want = format!("\"{}-3\"", hex::encode(md5_of(&md5s)));
    assert_eq!(done.e_tag(), Some(want.as_str()));
    let h = f.client.head(key).await.expect("head").expect("exists");
    assert_eq!(h.size, (10 * MIB + 100) as u64);
    assert_eq!(h.storage_class.as_deref(), Some("STANDARD_IA"));
    assert_eq!(h.etag, want);
    let (size, sha) = f.client.sha256(key).await.expect("sha");
    let mut all = p1.clone();
    all.extend(&p3);
    all.extend(&p4);
    assert_eq!(size, all.len() as u64);
    assert_eq!(sha, hex::encode(sha2::Sha256::digest(&all)));
    assert!(f.client.list_uploads("").await.expect("list").is_empty());

    // A retried complete of the finished upload gets the same answer.
    let again = try_complete(vec![(1, e1.clone()), (3, e3.clone()), (4, e4.clone())])
        .await
        .expect("retried complete");
    assert_eq!(again.e_tag(), Some(want.as_str()));

    // Unknown upload ids.
    let e = f
        .sdk
        .upload_part()
        .bucket(b)
        .key(key)
        .upload_id("bogus")
        .part_number(1)
        .body(ByteStream::from(vec![1]))
        .send()
        .await
        .expect_err("unknown upload");
    assert_eq!((status(&e), code(&e).as_str()), (404, "NoSuchUpload"));
    let e = f
        .sdk
        .abort_multipart_upload()
        .bucket(b)
        .key(key)
        .upload_id("bogus")
        .send()
        .await
        .expect_err("unknown upload");
    assert_eq!((status(&e), code(&e).as_str()), (404, "NoSuchUpload"));
    let e = f
        .sdk
        .list_parts()
        .bucket(b)
        .key(key)
        .upload_id("bogus")
        .send()
        .await
        .expect_err("unknown upload");
    assert_eq!((status(&e), code(&e).as_str()), (404, "NoSuchUpload"));

    // Abort removes the upload.
    let id2 = f
        .sdk
        .create_multipart_upload()
        .bucket(b)
        .key("mp/other")
        .send()
        .await
        .expect("create")
        .upload_id()
        .expect("id")
        .to_owned();
    upload_part(&f, "mp/other", &id2, 1, vec![9; 10]).await;
    f.client
        .abort_upload("mp/other", &id2)
        .await
        .expect("abort");
    assert!(f.client.list_uploads("mp/").await.expect("list").is_empty());
}

#[tokio::test]
async fn bad_requests_get_aws_error_codes() {
    let f = start().await;
    let e = f
        .sdk
        .put_object()
        .bucket("no-such-bucket")
        .key("k")
        .body(ByteStream::from(vec![1]))
        .send()
        .await
        .expect_err("unknown bucket");
    assert_eq!((status(&e), code(&e).as_str()), (404, "NoSuchBucket"));

    let wrong = vmharness::s3::Credentials {
        access_key_id: f.ep.credentials().access_key_id.clone(),
        secret_access_key: "wrong-secret".to_owned(),
    };
    let bad = vmharness::s3::client::sdk_client(&f.ep.url(), &wrong, f.ep.region(), 1);
    let e = bad
        .list_objects_v2()
        .bucket(f.ep.bucket())
        .send()
        .await
        .expect_err("bad signature");
    assert_eq!(
        (status(&e), code(&e).as_str()),
        (403, "SignatureDoesNotMatch")
    );
    let unknown = vmharness::s3::Credentials {
        access_key_id: "AKIANOTKNOWN".to_owned(),
        secret_access_key: "x".to_owned(),
    };
    let e = vmharness::s3::client::sdk_client(&f.ep.url(), &unknown, f.ep.region(), 1)
        .list_objects_v2()
        .bucket(f.ep.bucket())
        .send()
        .await
        .expect_err("unknown key");
    assert_eq!(status(&e), 403);

    let e = f
        .sdk
        .put_object()
        .bucket(f.ep.bucket())
        .key("k")
        .checksum_crc32("AAAAAA==")
        .body(ByteStream::from(vec![1, 2, 3]))
        .send()
        .await
        .expect_err("wrong checksum");
    assert_eq!((status(&e), code(&e).as_str()), (400, "BadDigest"));
    assert_eq!(f.client.head("k").await.expect("head"), None, "not stored");

    let e = f
        .sdk
        .put_object()
        .bucket(f.ep.bucket())
        .key("k")
        .content_md5("XrY7u+Ae7tCTyyK7j1rNww==")
        .body(ByteStream::from(vec![1, 2, 3]))
        .send()
        .await
        .expect_err("wrong content-md5");
    assert_eq!((status(&e), code(&e).as_str()), (400, "BadDigest"));

    // Every request, good or bad, is in the journal, in order.
    let recs = f.ep.journal().all();
    assert!(recs.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(recs
        .iter()
        .any(|r| r.error_code.as_deref() == Some("SignatureDoesNotMatch")));
    assert!(recs.iter().all(|r| r.finished()));
}

#[tokio::test]
async fn conditional_writes_and_reads_answer_as_aws() {
    use aws_sdk_s3::primitives::DateTime;
    let f = start().await;
    let b = f.ep.bucket();
    let sdk = &f.sdk;
    let put_if =
        |key: &'static str, data: Vec<u8>, if_match: Option<&str>, if_none: Option<&str>| {
            sdk.put_object()
                .bucket(b)
                .key(key)
                .set_if_match(if_match.map(str::to_owned))
                .set_if_none_match(if_none.map(str::to_owned))
                .body(ByteStream::from(data))
                .send()
        };
    let e1 = put_if("c", bytes(100, 1), None, None).await.expect("v1");
    let e1 = e1.e_tag().unwrap().to_owned();
    // If-None-Match: * on an existing key, a wrong If-Match: 412, nothing written.
    let e = put_if("c", bytes(100, 2), None, Some("*"))
        .await
        .expect_err("exists");
    assert_eq!((status(&e), code(&e).as_str()), (412, "PreconditionFailed"));
    let e = put_if("c", bytes(100, 3), Some("\"0123\""), None)
        .await
        .expect_err("stale");
    assert_eq!((status(&e), code(&e).as_str()), (412, "PreconditionFailed"));
    assert_eq!(
        f.client.get_bytes("c").await.unwrap().as_ref(),
        bytes(100, 1)
    );
    // The right If-Match overwrites; If-Match on a missing key is 404.
    let e2 = put_if("c", bytes(100, 4), Some(&e1), None)
        .await
        .expect("if-match");
    let e2 = e2.e_tag().unwrap().to_owned();
    assert_ne!(e1, e2);
    let e = put_if("none", bytes(1, 1), Some(&e1), None)
        .await
        .expect_err("missing");
    assert_eq!((status(&e), code(&e).as_str()), (404, "NoSuchKey"));
    // If-None-Match takes only `*` on a write (as on AWS).
    let e = put_if("c", bytes(1, 1), None, Some(&e2))
        .await
        .expect_err("etag");
    assert_eq!((status(&e), code(&e).as_str()), (501, "NotImplemented"));
    // Of racing creates with If-None-Match: *, exactly one wins.
    let racers: Vec<_> = (0..8u8)
        .map(|i| put_if("race", bytes(50_000, i), None, Some("*")))
        .collect();
    let results = futures::future::join_all(racers).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(status(e), 412, "{e:?}");
    }

    // CompleteMultipartUpload: both conditions; a refused one keeps the upload.
    let up = sdk
        .create_multipart_upload()
        .bucket(b)
        .key("c")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let part = upload_part(&f, "c", &id, 1, bytes(10, 9)).await;
    let done = completed(&[(1, &part)]);
    let complete = |if_match: Option<&str>, if_none: Option<&str>| {
        sdk.complete_multipart_upload()
            .bucket(b)
            .key("c")
            .upload_id(&id)
            .multipart_upload(done.clone())
            .set_if_match(if_match.map(str::to_owned))
            .set_if_none_match(if_none.map(str::to_owned))
            .send()
    };
    let e = complete(None, Some("*")).await.expect_err("exists");
    assert_eq!((status(&e), code(&e).as_str()), (412, "PreconditionFailed"));
    let e = complete(Some(&e1), None).await.expect_err("stale");
    assert_eq!(status(&e), 412);
    complete(Some(&e2), None)
        .await
        .expect("the upload was kept: completes now");
    assert_eq!(
        f.client.get_bytes("c").await.unwrap().as_ref(),
        bytes(10, 9)
    );

    // Reads by date: whole seconds of Last-Modified.
    let head = sdk.head_object().bucket(b).key("c").send().await.unwrap();
    let lm = *head.last_modified().unwrap();
    let before = DateTime::from_secs(lm.secs() - 10);
    let get = |since: Option<DateTime>, unmodified: Option<DateTime>, if_match: Option<String>| {
        sdk.get_object()
            .bucket(b)
            .key("c")
            .set_if_modified_since(since)
            .set_if_unmodified_since(unmodified)
            .set_if_match(if_match)
            .send()
    };
    let e = get(Some(lm), None, None)
        .await
        .expect_err("not modified since");
    assert_eq!(status(&e), 304);
    get(Some(before), None, None).await.expect("modified since");
    let e = get(None, Some(before), None)
        .await
        .expect_err("modified after");
    assert_eq!((status(&e), code(&e).as_str()), (412, "PreconditionFailed"));
    get(None, Some(lm), None).await.expect("unmodified since");
    // If-Match holding wins over a failing If-Unmodified-Since (as on AWS).
    let etag = head.e_tag().unwrap().to_owned();
    get(None, Some(before), Some(etag))
        .await
        .expect("if-match decides");
    let e = sdk
        .head_object()
        .bucket(b)
        .key("c")
        .if_modified_since(DateTime::from_secs(lm.secs() + 3600))
        .send()
        .await
        .expect_err("head not modified");
    assert_eq!(status(&e), 304);
}
