//! The store's unit tests: conditions, reopen, checkpoint and rollback.

use super::*;

async fn blob(store: &Store, bytes: &'static [u8]) -> TempBlob {
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        vec![Ok(bytes::Bytes::from_static(bytes))];
    super::super::blob::receive(&store.tmp, futures::stream::iter(chunks), None)
        .await
        .expect("receive")
}

#[test]
fn write_conditions_are_judged_as_aws_does() {
    let cur = ObjectMeta {
        key: "k".into(),
        size: 1,
        etag: "abc".into(),
        last_modified_ms: 0,
        attrs: ObjectAttrs::default(),
        checksum: None,
        parts_count: None,
        data_file: "f".into(),
        restore: None,
    };
    let code = |r: StoreResult<()>| match r {
        Ok(()) => "ok",
        Err(StoreError::Api { code, .. }) => code,
        Err(_) => "other",
    };
    let none = WriteCondition::default();
    let absent = WriteCondition {
        absent: true,
        matches: None,
    };
    let etag = |e: Option<&str>| WriteCondition {
        absent: false,
        matches: Some(e.map(str::to_owned)),
    };
    assert_eq!(code(none.judge(None)), "ok");
    assert_eq!(code(none.judge(Some(&cur))), "ok");
    assert_eq!(code(absent.judge(None)), "ok");
    assert_eq!(code(absent.judge(Some(&cur))), "PreconditionFailed");
    assert_eq!(code(etag(Some("abc")).judge(Some(&cur))), "ok");
    assert_eq!(
        code(etag(Some("abd")).judge(Some(&cur))),
        "PreconditionFailed"
    );
    assert_eq!(code(etag(None).judge(Some(&cur))), "ok");
    assert_eq!(code(etag(Some("abc")).judge(None)), "NoSuchKey");
    assert_eq!(code(etag(None).judge(None)), "NoSuchKey");
}

#[tokio::test]
async fn holds_a_and_a_slash_b_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let buckets = vec!["b".to_owned()];
    {
        let store = Store::open(dir.path(), &buckets).expect("open");
        let b = store.bucket("b").expect("bucket");
        for (k, v) in [("a", &b"1"[..]), ("a/b", b"22"), ("a/../b", b"333")] {
            let t = blob(&store, v).await;
            b.put(k, t, ObjectAttrs::default(), None, &Default::default())
                .await
                .expect("put");
        }
        let t = blob(&store, b"4444").await;
        b.put("a", t, ObjectAttrs::default(), None, &Default::default())
            .await
            .expect("overwrite");
    }
    let store = Store::open(dir.path(), &buckets).expect("reopen");
    let b = store.bucket("b").expect("bucket");
    assert_eq!(b.get("a").expect("a").size, 4);
    assert_eq!(b.get("a/b").expect("a/b").size, 2);
    assert_eq!(b.get("a/../b").expect("a/../b").size, 3);
    let data_files = std::fs::read_dir(dir.path().join("buckets/b/data"))
        .expect("list")
        .count();
    assert_eq!(data_files, 3, "the overwritten data file is gone");
    assert!(b.delete("a").await.expect("delete"));
    assert!(!b.delete("a").await.expect("delete again"));
}

fn read_all(b: &Bucket, key: &str) -> Option<Vec<u8>> {
    let (_, mut f) = b.open(key).ok()?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut bytes).ok()?;
    Some(bytes)
}

fn glacier() -> ObjectAttrs {
    ObjectAttrs {
        storage_class: "GLACIER".to_owned(),
        ..ObjectAttrs::default()
    }
}

/// Everything the bucket serves, in a comparable form.
fn contents(b: &Bucket) -> Vec<String> {
    let mut out: Vec<String> = b.scan("", |it| {
        it.map(|(k, m)| format!("{k}={:?} restore={:?}", read_all(b, k), m.restore))
            .collect()
    });
    for u in b.uploads() {
        let parts = b.upload(&u.upload_id, &u.key).expect("upload").parts;
        out.push(format!(
            "upload {} {} parts={:?}",
            u.key,
            u.upload_id,
            parts.keys()
        ));
    }
    out
}

#[tokio::test]
async fn rollback_restores_objects_uploads_and_restore_state() {
    use super::super::multipart::CompletedPart;
    let dir = tempfile::tempdir().expect("tempdir");
    let cps = tempfile::tempdir().expect("checkpoints");
    let (one, two) = (cps.path().join("one"), cps.path().join("two"));
    let buckets = vec!["b".to_owned()];
    let store = Store::open(&dir.path().join("store"), &buckets).expect("open");
    let b = store.bucket("b").expect("bucket");
    let put = |key: &'static str, bytes: &'static [u8]| {
        let (store, b) = (&store, b.clone());
        async move {
            let t = blob(store, bytes).await;
            b.put(key, t, ObjectAttrs::default(), None, &Default::default())
                .await
                .expect("put");
        }
    };
    put("a", b"a-old").await;
    put("c", b"c").await;
    let t = blob(&store, b"cold").await;
    b.put("g", t, glacier(), None, &Default::default())
        .await
        .expect("put g");
    let u = b
        .create_upload("u", ObjectAttrs::default(), None, None)
        .await
        .expect("create upload");
    let t = blob(&store, b"part one").await;
    let part = b
        .upload_part(&u.upload_id, "u", 1, t, None)
        .await
        .expect("upload part");
    store.checkpoint(&one).await.expect("checkpoint one");
    let at_one = contents(&b);

    // Everything a scenario may do afterwards.
    put("b", b"b").await;
    put("a", b"a-new").await;
    assert!(b.delete("c").await.expect("delete"));
    let listed = [CompletedPart {
        number: 1,
        etag: Some(part.md5_hex.clone()),
        checksum: None,
    }];
    b.complete_upload(&u.upload_id, "u", &listed, 5 << 20, &Default::default())
        .await
        .expect("complete");
    let mut g = (*b.get("g").expect("g")).clone();
    g.restore = Some(RestoreState::new(now_ms(), 0, 1));
    b.commit(g).await.expect("restore g");
    b.create_upload("v", ObjectAttrs::default(), None, None)
        .await
        .expect("create upload v");
    assert_ne!(contents(&b), at_one);

    store.rollback(&one).await.expect("rollback");
    assert_eq!(contents(&b), at_one);
    assert_eq!(read_all(&b, "a").as_deref(), Some(&b"a-old"[..]));
    assert!(b.get("b").is_none() && b.get("u").is_none());
    assert!(b.get("g").expect("g").restore.is_none());
    assert!(lock(&b.completed).is_empty());
    // The upload is open again and completes again.
    b.complete_upload(&u.upload_id, "u", &listed, 5 << 20, &Default::default())
        .await
        .expect("complete after the rollback");
    assert_eq!(read_all(&b, "u").as_deref(), Some(&b"part one"[..]));

    // The same checkpoint again, then a second one on top.
    put("a", b"a-newer").await;
    store.rollback(&one).await.expect("second rollback");
    assert_eq!(contents(&b), at_one);
    put("d", b"d").await;
    store.checkpoint(&two).await.expect("checkpoint two");
    let at_two = contents(&b);
    put("e", b"e").await;
    store.rollback(&two).await.expect("rollback to two");
    assert_eq!(contents(&b), at_two);
    assert!(b.get("d").is_some() && b.get("e").is_none());
    store.rollback(&one).await.expect("rollback to one");
    assert_eq!(contents(&b), at_one);

    // What a rollback left is durable, and no staging tree is left.
    drop(b);
    drop(store);
    let store = Store::open(&dir.path().join("store"), &buckets).expect("reopen");
    assert_eq!(contents(&store.bucket("b").expect("bucket")), at_one);
    let left: Vec<_> = std::fs::read_dir(dir.path().join("store/buckets/b"))
        .expect("list")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 4, "{left:?}");
}

#[tokio::test]
async fn rollback_refuses_what_is_no_checkpoint_and_drops_new_buckets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("store"), &["b".to_owned()]).expect("open");
    let not_one = dir.path().join("not-a-checkpoint");
    std::fs::create_dir_all(&not_one).expect("mkdir");
    std::fs::write(not_one.join("precious"), "x").expect("write");
    assert!(matches!(
        store.rollback(&not_one).await,
        Err(StoreError::Checkpoint { .. })
    ));
    assert!(store.checkpoint(&not_one).await.is_err());
    assert!(
        not_one.join("precious").exists(),
        "a foreign directory was replaced"
    );

    let cp = dir.path().join("cp");
    store.checkpoint(&cp).await.expect("checkpoint");
    store.create_bucket("later").expect("create bucket");
    store.rollback(&cp).await.expect("rollback");
    assert!(store.bucket("later").is_err());
    assert!(!dir.path().join("store/buckets/later").exists());
    assert!(store.bucket("b").is_ok());
}
