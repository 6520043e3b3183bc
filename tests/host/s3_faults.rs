//! The journal and scheduled faults of the embedded endpoint.

use std::time::{Duration, Instant};

use crate::s3_common::{bytes, code, start, start_with, status, MIB};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use vmharness::s3::server::journal::read_file;
use vmharness::s3::{FaultKind, FaultRule};

const WAIT: Duration = Duration::from_secs(20);

async fn put(f: &crate::s3_common::Fixture, key: &str) -> Result<(), String> {
    f.sdk
        .put_object()
        .bucket(f.ep.bucket())
        .key(key)
        .body(ByteStream::from(vec![1, 2, 3]))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{}|{}|{}", status(&e), code(&e), DisplayErrorContext(&e)))
}

#[tokio::test]
async fn journal_records_every_request_to_file_and_subscribers() {
    let f = start().await;
    let mut live = f.ep.journal().subscribe();
    f.sdk
        .put_object()
        .bucket(f.ep.bucket())
        .key("j/one")
        .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
        .content_type("application/json")
        .body(ByteStream::from(bytes(1234, 1)))
        .send()
        .await
        .expect("put");
    f.client.get_bytes("missing").await.expect_err("404");
    let first = tokio::time::timeout(WAIT, live.recv())
        .await
        .expect("live record")
        .expect("channel open");
    assert_eq!(first.op, "PutObject");
    assert_eq!(first.key.as_deref(), Some("j/one"));
    assert_eq!(first.status, Some(200));
    assert!(
        first.bytes_in >= 1234,
        "body bytes counted: {}",
        first.bytes_in
    );
    assert_eq!(first.storage_class.as_deref(), Some("GLACIER"));
    assert_eq!(first.sse.as_deref(), Some("AES256"));
    assert_eq!(first.content_type.as_deref(), Some("application/json"));
    let sum = first.checksum.clone().expect("checksum as sent");
    assert!(sum.starts_with("CRC32"), "{sum}");
    assert!(
        first.start.ends_with('Z') && first.start.len() == 30,
        "{}",
        first.start
    );
    assert!(first.end >= first.start);

    let second = tokio::time::timeout(WAIT, live.recv())
        .await
        .expect("live record")
        .expect("channel open");
    assert_eq!(second.op, "GetObject");
    assert_eq!(second.status, Some(404));
    assert_eq!(second.error_code.as_deref(), Some("NoSuchKey"));
    assert!(second.seq > first.seq);

    let path = f.dir.path().join("s3-journal.jsonl");
    let from_file = read_file(&path).expect("journal file");
    assert_eq!(from_file, f.ep.journal().records());
}

#[tokio::test]
async fn slow_down_and_internal_error_for_a_count() {
    let f = start().await;
    let faults = f.ep.faults();
    let slow = faults
        .add(
            FaultRule::new(FaultKind::SlowDown)
                .op("PutObject")
                .key_glob("*/chunk-*")
                .times(2),
        )
        .expect("rule");
    faults
        .add(
            FaultRule::new(FaultKind::InternalError)
                .op("PutObject")
                .key_regex(r"^m/manifest-\d+\.json$")
                .times(1),
        )
        .expect("rule");
    let e = put(&f, "p/chunk-0.bin").await.expect_err("503");
    assert!(e.starts_with("503|SlowDown|"), "{e}");
    let e = put(&f, "q/chunk-1.bin").await.expect_err("503");
    assert!(e.starts_with("503|SlowDown|"), "{e}");
    put(&f, "p/chunk-0.bin").await.expect("count exhausted");
    put(&f, "other").await.expect("no rule matches");
    assert_eq!(faults.fired(slow), Some(2));
    let e = put(&f, "m/manifest-1.json").await.expect_err("500");
    assert!(e.starts_with("500|InternalError|"), "{e}");
    put(&f, "m/manifest-1.json").await.expect("once only");

    let faulted: Vec<(String, Option<u16>, Option<String>)> =
        f.ep.journal()
            .records()
            .into_iter()
            .filter_map(|r| r.fault.clone().map(|fl| (fl, r.status, r.error_code)))
            .collect();
    assert_eq!(
        faulted,
        vec![
            ("slow_down".into(), Some(503), Some("SlowDown".into())),
            ("slow_down".into(), Some(503), Some("SlowDown".into())),
            (
                "internal_error".into(),
                Some(500),
                Some("InternalError".into())
            ),
        ]
    );
    assert!(f
        .client
        .head("p/chunk-0.bin")
        .await
        .expect("head")
        .is_some());
}

#[tokio::test]
async fn reset_closes_the_connection_with_rst() {
    let f = start().await;
    f.client
        .put("r/obj", vec![5; 100].into())
        .await
        .expect("seed");
    f.ep.faults()
        .add(FaultRule::new(FaultKind::Reset).op("GetObject").times(1))
        .expect("rule");
    let e = f
        .sdk
        .get_object()
        .bucket(f.ep.bucket())
        .key("r/obj")
        .send()
        .await
        .expect_err("reset");
    let msg = format!("{}", DisplayErrorContext(&e));
    assert_eq!(status(&e), 0, "no HTTP response: {msg}");
    assert!(
        msg.contains("Connection reset by peer") || msg.contains("os error 104"),
        "a TCP RST, not a clean close: {msg}"
    );
    let got = f.client.get_bytes("r/obj").await.expect("next one works");
    assert_eq!(got.len(), 100);
    let rec =
        f.ep.journal()
            .wait_finished(|r| r.fault.as_deref() == Some("reset"), 1, WAIT)
            .await
            .expect("journaled");
    assert_eq!(rec.status, None);
    assert_eq!(rec.op, "GetObject");

    // An upload reset mid-request never stores the object.
    f.ep.faults()
        .add(FaultRule::new(FaultKind::Reset).op("PutObject").times(1))
        .expect("rule");
    let e = put(&f, "r/up").await.expect_err("reset upload");
    assert!(e.starts_with("0|"), "{e}");
    assert_eq!(f.client.head("r/up").await.expect("head"), None);
}

#[tokio::test]
async fn latency_delays_matching_requests() {
    let f = start_with(|cfg| {
        cfg.faults = vec![FaultRule::latency(300).op("HeadObject")];
    })
    .await;
    f.client.put("l", vec![1].into()).await.expect("put");
    let t = Instant::now();
    f.client.head("l").await.expect("head").expect("exists");
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    f.client.get_bytes("l").await.expect("get");
    let rec =
        f.ep.journal()
            .records()
            .into_iter()
            .find(|r| r.op == "HeadObject")
            .expect("head journaled");
    assert_eq!(rec.fault.as_deref(), Some("latency:300ms"));
    assert!(rec.duration_us >= 300_000);
    let get =
        f.ep.journal()
            .records()
            .into_iter()
            .find(|r| r.op == "GetObject")
            .expect("get journaled");
    assert_eq!(get.fault, None, "GET not delayed");
}

#[tokio::test]
async fn stall_holds_the_second_part_until_released() {
    let f = start().await;
    let key = "s/chunk-0.bin";
    let stall =
        f.ep.faults()
            .add(
                FaultRule::new(FaultKind::Stall)
                    .op("UploadPart")
                    .key_glob(key)
                    .skip(1)
                    .times(1),
            )
            .expect("rule");
    let sdk = f.sdk.clone();
    let bucket = f.ep.bucket().to_owned();
    let upload = tokio::spawn(async move {
        let id = sdk
            .create_multipart_upload()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .expect("create")
            .upload_id()
            .expect("id")
            .to_owned();
        for n in 1..=3 {
            sdk.upload_part()
                .bucket(&bucket)
                .key(key)
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(bytes(MIB, n as u8)))
                .send()
                .await
                .expect("part");
        }
        id
    });
    let second =
        f.ep.journal()
            .wait_arrived(|r| r.is("UploadPart", key), 2, WAIT)
            .await
            .expect("second part arrives");
    assert_eq!(second.part, Some(2));
    f.ep.faults().wait_stalled(1, WAIT).await.expect("held");
    let held =
        f.ep.journal()
            .in_flight()
            .into_iter()
            .find(|r| r.seq == second.seq)
            .expect("still in flight");
    assert_eq!(held.fault.as_deref(), Some("stall"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!upload.is_finished(), "the tool is waiting on the stall");
    assert_eq!(
        f.ep.journal()
            .records()
            .iter()
            .filter(|r| r.op == "UploadPart")
            .count(),
        1
    );
    f.ep.faults().release(stall).expect("release");
    let id = tokio::time::timeout(WAIT, upload)
        .await
        .expect("upload finishes")
        .expect("task");
    let parts = f
        .sdk
        .list_parts()
        .bucket(f.ep.bucket())
        .key(key)
        .upload_id(id)
        .send()
        .await
        .expect("parts");
    assert_eq!(parts.parts().len(), 3);
}

#[tokio::test]
async fn seeded_probability_repeats_across_runs() {
    async fn pattern() -> Vec<bool> {
        let f = start_with(|cfg| {
            cfg.faults = vec![FaultRule::new(FaultKind::InternalError)
                .op("HeadObject")
                .probability(0.5, 42)];
        })
        .await;
        f.client.put("k", vec![1].into()).await.expect("put");
        let mut out = Vec::new();
        for _ in 0..24 {
            out.push(f.client.head("k").await.is_err());
        }
        out
    }
    let a = pattern().await;
    let b = pattern().await;
    assert_eq!(a, b, "same seed, same faults");
    let failed = a.iter().filter(|x| **x).count();
    assert!((4..=20).contains(&failed), "about half failed: {failed}");
}

#[tokio::test]
async fn clear_removes_all_rules() {
    let f = start().await;
    f.ep.faults()
        .add(FaultRule::new(FaultKind::SlowDown))
        .expect("rule");
    assert!(put(&f, "c").await.is_err());
    f.ep.faults().clear();
    put(&f, "c").await.expect("no faults left");
}

#[tokio::test]
async fn the_harness_client_is_never_faulted_and_does_not_use_up_the_schedule() {
    let f = start().await;
    put(&f, "h/obj").await.expect("put");
    f.ep.faults()
        .add(FaultRule::new(FaultKind::SlowDown).op("GetObject").times(1))
        .expect("rule");
    // The harness's client (the observer key) reads through the rule...
    let harness = vmharness::s3::S3Client::for_endpoint(&f.ep).expect("host client");
    assert_eq!(
        harness.get_bytes("h/obj").await.expect("not faulted"),
        vec![1, 2, 3]
    );
    // ...and leaves its one fault for the tool's key.
    let e = f
        .client
        .get_bytes("h/obj")
        .await
        .expect_err("the tool's GET is faulted");
    assert!(format!("{e:#}").contains("SlowDown"), "{e:#}");
    f.client.get_bytes("h/obj").await.expect("only once");
}
