//! Journal promises against hand-made journals.

use super::*;
use crate::verify::layout::tests::layout;
use std::collections::BTreeMap;

const C0: &str = "backups/subvol/data/full/chunk-20240101T000000Z-0.bin";
const C1: &str = "backups/subvol/data/full/chunk-20240101T000000Z-1.bin";
const M: &str = "backups/subvol/data/full/manifest-20240101T000000Z.json";
const PTR: &str = "backups/subvol/data/current.json";

fn rec(seq: u64, t: u32, op: &str, key: &str, sse: Option<&str>) -> JournalRecord {
    JournalRecord {
        seq,
        start: format!("2024-01-01T00:00:{t:02}.000000001Z"),
        end: format!("2024-01-01T00:00:{t:02}.500000000Z"),
        op: op.into(),
        bucket: Some("vmharness".into()),
        key: Some(key.into()),
        upload_id: None,
        part: None,
        bytes_in: 10,
        bytes_out: 0,
        status: Some(200),
        error_code: None,
        storage_class: None,
        sse: sse.map(str::to_string),
        checksum: None,
        fault: None,
        pointer_manifest_key: None,
    }
}

/// A correct run: chunk 0 single PUT, chunk 1 multipart, manifest, pointer.
fn good() -> Vec<JournalRecord> {
    vec![
        rec(1, 1, "PutObject", C0, Some("AES256")),
        rec(2, 2, "CreateMultipartUpload", C1, Some("AES256")),
        rec(3, 3, "UploadPart", C1, None),
        rec(4, 4, "CompleteMultipartUpload", C1, None),
        rec(5, 5, "PutObject", M, Some("AES256")),
        rec(6, 6, "PutObject", PTR, Some("AES256")),
    ]
}

fn lists() -> (BTreeMap<String, Vec<String>>, BTreeMap<String, String>) {
    (
        BTreeMap::from([(M.to_string(), vec![C0.to_string(), C1.to_string()])]),
        BTreeMap::from([(PTR.to_string(), M.to_string())]),
    )
}

fn journal(r: Vec<JournalRecord>) -> Journal {
    Journal::from_records(r).unwrap()
}

#[test]
fn parses_jsonl_and_ignores_unknown_fields() {
    let mut text = String::new();
    for r in good() {
        let mut v = serde_json::to_value(&r).unwrap();
        v["extra"] = serde_json::json!(1);
        text.push_str(&serde_json::to_string(&v).unwrap());
        text.push('\n');
    }
    text.push('\n');
    let j = Journal::parse_jsonl(&text).unwrap();
    assert_eq!(j.entries.len(), 6);
    assert!(j.entries[0].end_ns > j.entries[0].start_ns);
    let err = Journal::parse_jsonl("{\"seq\": 1}\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 1"), "{err}");
    let mut bad = rec(1, 1, "PutObject", C0, None);
    bad.start = "yesterday".into();
    assert!(Journal::from_records(vec![bad])
        .unwrap_err()
        .to_string()
        .contains("RFC 3339"));
}

#[test]
fn correct_run_passes_everything() {
    let j = journal(good());
    let (chunks, ptrs) = lists();
    let l = layout();
    assert_eq!(
        verify_sse_requested(&j, &l, "AES256").verdict,
        Verdict::Pass
    );
    let c = verify_publish_order(&j, &l, &chunks, &ptrs);
    assert_eq!(c.verdict, Verdict::Pass, "{}", c.diagnosis);
    assert_eq!(
        c.evidence["pointer_writes"][0]["named_by"],
        "current content"
    );
    assert_eq!(verify_no_overwrite(&j, &l).verdict, Verdict::Pass);
}

#[test]
fn manifest_without_sse() {
    let mut r = good();
    r[4].sse = None;
    let c = verify_sse_requested(&journal(r), &layout(), "AES256");
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(c.diagnosis.contains(M), "{}", c.diagnosis);
}

#[test]
fn multipart_without_sse() {
    let mut r = good();
    r[1].sse = None;
    let c = verify_sse_requested(&journal(r), &layout(), "AES256");
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(
        c.diagnosis.contains("CreateMultipartUpload"),
        "{}",
        c.diagnosis
    );
}

#[test]
fn pointer_before_last_chunk() {
    // The pointer is written before chunk 1 completes and before the manifest.
    let mut r = good();
    r[5].start = "2024-01-01T00:00:03.600000000Z".into();
    r[5].end = "2024-01-01T00:00:03.700000000Z".into();
    let (chunks, ptrs) = lists();
    let c = verify_publish_order(&journal(r.clone()), &layout(), &chunks, &ptrs);
    assert_eq!(c.verdict, Verdict::Fail);
    assert_eq!(
        c.evidence["problems"][0]["details"]["not_yet_stored"],
        serde_json::json!([M, C1])
    );
    // Without the current content the inference still sees no manifest before it.
    let c = verify_publish_order(&journal(r), &layout(), &chunks, &BTreeMap::new());
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(
        c.diagnosis.contains("before any manifest"),
        "{}",
        c.diagnosis
    );
}

#[test]
fn recorded_pointer_target_is_used() {
    let mut r = good();
    r[5].pointer_manifest_key =
        Some("backups/subvol/data/full/manifest-20990101T000000Z.json".into());
    let (chunks, ptrs) = lists();
    let c = verify_publish_order(&journal(r), &layout(), &chunks, &ptrs);
    assert_eq!(c.verdict, Verdict::Fail);
    assert_eq!(c.evidence["pointer_writes"][0]["named_by"], "recorded");
}

#[test]
fn failed_pointer_writes_do_not_count() {
    let mut r = good();
    let mut early = rec(0, 0, "PutObject", PTR, Some("AES256"));
    early.status = Some(503);
    r.insert(0, early);
    let (chunks, ptrs) = lists();
    assert_eq!(
        verify_publish_order(&journal(r), &layout(), &chunks, &ptrs).verdict,
        Verdict::Pass
    );
    let c = verify_publish_order(&journal(vec![]), &layout(), &chunks, &ptrs);
    assert!(matches!(c.verdict, Verdict::Skip(_)));
}

#[test]
fn same_second_overwrite() {
    let mut r = good();
    r.push(rec(7, 7, "PutObject", C0, Some("AES256")));
    r.push(rec(8, 8, "PutObject", PTR, Some("AES256")));
    let c = verify_no_overwrite(&journal(r), &layout());
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(
        c.diagnosis.contains(C0) && c.diagnosis.contains("2 times"),
        "{}",
        c.diagnosis
    );
}

#[test]
fn retried_store_after_fault_is_not_an_overwrite() {
    let mut r = good();
    let mut again = rec(7, 7, "PutObject", C0, Some("AES256"));
    again.fault = Some(serde_json::json!("reset"));
    r.push(again);
    let c = verify_no_overwrite(&journal(r), &layout());
    assert_eq!(c.verdict, Verdict::Pass, "{}", c.diagnosis);
    assert_eq!(c.evidence["faulted_stores"].as_array().unwrap().len(), 1);
}

#[test]
fn a_request_that_got_no_answer_parses_and_is_not_ok() {
    let line = r#"{"seq":9,"start":"2026-11-27T21:39:57.360581680Z","end":"2026-11-27T21:39:57.453279853Z","op":"CreateMultipartUpload","key":"p/c","status":null,"fault":"stall"}"#;
    let j = Journal::parse_jsonl(line).expect("a reset or cut connection is a record");
    assert!(!j.entries[0].ok() && j.entries[0].faulted());
}

#[test]
fn what_a_rollback_undid_is_left_out() {
    let j = journal(good()).without(&[(2, 4), (6, 6)]);
    let seqs: Vec<u64> = j.entries.iter().map(|e| e.r.seq).collect();
    assert_eq!(seqs, [1, 5]);
    assert_eq!(journal(good()).without(&[]).entries.len(), 6);
}
