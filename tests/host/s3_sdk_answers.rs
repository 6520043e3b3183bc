//! More conformance of the embedded endpoint, driven by the Rust SDK:
//! CopyObject's source conditions, ListObjects (v1) paging and owners,
//! PutObject's default Content-Type and its Expires.

use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};

use crate::s3_common::{bytes, code, put, start, status};

#[tokio::test]
async fn copy_source_conditions_answer_as_aws() {
    let f = start().await;
    let b = f.ep.bucket();
    let sdk = &f.sdk;
    put(sdk, b, "src", bytes(100, 1)).await;
    let head = sdk.head_object().bucket(b).key("src").send().await.unwrap();
    let etag = head.e_tag().unwrap().to_owned();
    let lm = *head.last_modified().unwrap();
    let before = DateTime::from_secs(lm.secs() - 10);
    let other = "\"0123456789abcdef0123456789abcdef\"".to_owned();
    struct Cond {
        if_match: Option<String>,
        if_none: Option<String>,
        since: Option<DateTime>,
        unmodified: Option<DateTime>,
    }
    let none = || Cond {
        if_match: None,
        if_none: None,
        since: None,
        unmodified: None,
    };
    let copy = |dst: &'static str, c: Cond| {
        sdk.copy_object()
            .bucket(b)
            .key(dst)
            .copy_source(format!("{b}/src"))
            .set_copy_source_if_match(c.if_match)
            .set_copy_source_if_none_match(c.if_none)
            .set_copy_source_if_modified_since(c.since)
            .set_copy_source_if_unmodified_since(c.unmodified)
            .send()
    };
    // If-Match true decides over If-Unmodified-Since false: copied.
    let both = Cond {
        if_match: Some(etag.clone()),
        unmodified: Some(before),
        ..none()
    };
    copy("ok1", both).await.expect("if-match decides");
    // If-None-Match false with If-Modified-Since true: 412.
    let both = Cond {
        if_none: Some(etag.clone()),
        since: Some(before),
        ..none()
    };
    let refused: Vec<(&'static str, Cond)> = vec![
        ("no1", both),
        (
            "no2",
            Cond {
                if_match: Some(other.clone()),
                ..none()
            },
        ),
        (
            "no3",
            Cond {
                unmodified: Some(before),
                ..none()
            },
        ),
        (
            "no4",
            Cond {
                since: Some(lm),
                ..none()
            },
        ),
        (
            "no5",
            Cond {
                if_none: Some("*".to_owned()),
                ..none()
            },
        ),
    ];
    for (dst, c) in refused {
        let e = copy(dst, c).await.expect_err(dst);
        assert_eq!(
            (status(&e), code(&e).as_str()),
            (412, "PreconditionFailed"),
            "{dst}"
        );
        let e = sdk.head_object().bucket(b).key(dst).send().await;
        assert_eq!(status(&e.expect_err("nothing copied")), 404, "{dst}");
    }
    let held = [
        Cond {
            if_none: Some(other.clone()),
            ..none()
        },
        Cond {
            since: Some(before),
            ..none()
        },
        Cond {
            unmodified: Some(lm),
            ..none()
        },
        Cond {
            if_match: Some(etag.clone()),
            if_none: Some(other),
            since: Some(before),
            unmodified: Some(lm),
        },
    ];
    for c in held {
        copy("ok2", c).await.expect("conditions hold");
    }
    assert_eq!(
        f.client.get_bytes("ok2").await.unwrap().as_ref(),
        bytes(100, 1)
    );
}

#[tokio::test]
async fn list_objects_v1_markers_and_owners_answer_as_aws() {
    let f = start().await;
    let b = f.ep.bucket();
    let sdk = &f.sdk;
    for k in ["a/1", "a/2", "b", "c/1", "d"] {
        put(sdk, b, k, bytes(3, 1)).await;
    }
    let v1 = |marker: Option<&str>, delimiter: Option<&str>| {
        sdk.list_objects()
            .bucket(b)
            .max_keys(2)
            .set_marker(marker.map(str::to_owned))
            .set_delimiter(delimiter.map(str::to_owned))
            .send()
    };
    let keys = |o: &aws_sdk_s3::operation::list_objects::ListObjectsOutput| -> Vec<String> {
        let mut out: Vec<String> = o
            .contents()
            .iter()
            .filter_map(|c| c.key().map(str::to_owned))
            .collect();
        out.extend(
            o.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(|p| format!("CP:{p}"))),
        );
        out
    };
    // Without a delimiter: no NextMarker, the client resumes after the last key.
    let p = v1(None, None).await.unwrap();
    assert_eq!(keys(&p), ["a/1", "a/2"]);
    assert_eq!((p.is_truncated(), p.next_marker()), (Some(true), None));
    for o in p.contents() {
        let owner = o.owner().expect("v1 lists each object's owner");
        assert!(owner.id().is_some_and(|id| !id.is_empty()));
    }
    let p = v1(Some("a/2"), None).await.unwrap();
    assert_eq!(keys(&p), ["b", "c/1"]);
    assert_eq!(p.is_truncated(), Some(true));
    let p = v1(Some("c/1"), None).await.unwrap();
    assert_eq!(keys(&p), ["d"]);
    assert_eq!((p.is_truncated(), p.next_marker()), (Some(false), None));
    // With one: NextMarker is the last key or common prefix.
    let p = v1(None, Some("/")).await.unwrap();
    assert_eq!(keys(&p), ["b", "CP:a/"]);
    assert_eq!((p.is_truncated(), p.next_marker()), (Some(true), Some("b")));
    let p = v1(Some("b"), Some("/")).await.unwrap();
    assert_eq!(keys(&p), ["d", "CP:c/"]);
    assert_eq!((p.is_truncated(), p.next_marker()), (Some(false), None));
    let p = v1(Some("a/"), Some("/")).await.unwrap();
    assert_eq!(keys(&p), ["b", "CP:c/"]);
    assert_eq!(
        (p.is_truncated(), p.next_marker()),
        (Some(true), Some("c/"))
    );
    // An empty delimiter is none: no prefixes, no NextMarker.
    let p = v1(None, Some("")).await.unwrap();
    assert_eq!(keys(&p), ["a/1", "a/2"]);
    assert_eq!((p.is_truncated(), p.next_marker()), (Some(true), None));

    // V2: owners only with FetchOwner=true; an empty delimiter is none.
    let v2 = |fetch: Option<bool>, delimiter: Option<&str>| {
        sdk.list_objects_v2()
            .bucket(b)
            .set_fetch_owner(fetch)
            .set_delimiter(delimiter.map(str::to_owned))
            .send()
    };
    for fetch in [None, Some(false)] {
        let p = v2(fetch, None).await.unwrap();
        assert_eq!(p.contents().len(), 5);
        assert!(
            p.contents().iter().all(|o| o.owner().is_none()),
            "{fetch:?}"
        );
    }
    let p = v2(Some(true), None).await.unwrap();
    assert!(p
        .contents()
        .iter()
        .all(|o| o.owner().and_then(|o| o.id()).is_some()));
    let p = v2(None, Some("")).await.unwrap();
    assert_eq!(p.contents().len(), 5);
    assert!(p.common_prefixes().is_empty());
    assert_eq!(p.key_count(), Some(5));
}

#[tokio::test]
async fn put_object_content_type_default_and_expires_answer_as_aws() {
    let f = start().await;
    let b = f.ep.bucket();
    let sdk = &f.sdk;
    // The SDK sends `Content-Type: application/octet-stream` on a body
    // without one; a request with none (curl, other clients) gets AWS's
    // default.
    sdk.put_object()
        .bucket(b)
        .key("plain")
        .body(ByteStream::from(bytes(10, 1)))
        .customize()
        .mutate_request(|req| {
            req.headers_mut().remove("content-type");
        })
        .send()
        .await
        .unwrap();
    let get = sdk
        .get_object()
        .bucket(b)
        .key("plain")
        .send()
        .await
        .unwrap();
    assert_eq!(get.content_type(), Some("binary/octet-stream"));
    assert_eq!(get.expires_string(), None);
    let head = sdk
        .head_object()
        .bucket(b)
        .key("plain")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("binary/octet-stream"));

    let expires = DateTime::from_secs(1_900_000_000);
    sdk.put_object()
        .bucket(b)
        .key("typed")
        .content_type("text/plain")
        .expires(expires)
        .body(ByteStream::from(bytes(10, 2)))
        .send()
        .await
        .unwrap();
    let shown = expires.fmt(DateTimeFormat::HttpDate).unwrap();
    let get = sdk
        .get_object()
        .bucket(b)
        .key("typed")
        .send()
        .await
        .unwrap();
    assert_eq!(get.content_type(), Some("text/plain"));
    assert_eq!(get.expires_string(), Some(shown.as_str()));
    let head = sdk
        .head_object()
        .bucket(b)
        .key("typed")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(head.expires_string(), Some(shown.as_str()));
}
