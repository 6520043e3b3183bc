//! Manifest rules against a consistent chain with one defect at a time.

use super::*;
use crate::verify::names;
use crate::verify::testdata::*;
use serde_json::json;

fn run(f: &Fixture) -> Vec<Check> {
    verify_manifests(&f.state(), &f.layout, &schemas(), &["data".to_string()])
}

#[test]
fn consistent_chain_passes() {
    let checks = run(&fixture());
    assert_eq!(checks.len(), 7);
    assert_only(&checks, &[], Verdict::Pass);
}

#[test]
fn chunks_out_of_order() {
    let mut f = fixture();
    let key = f.full.clone();
    f.edit(&key, |m| m["chunks"].as_array_mut().unwrap().reverse());
    let checks = run(&f);
    assert_only(&checks, &[names::CHUNK_ORDER], Verdict::Fail);
    assert!(find(&checks, names::CHUNK_ORDER)
        .diagnosis
        .contains("not in stream order"));
}

#[test]
fn total_bytes_off() {
    let mut f = fixture();
    let key = f.full.clone();
    f.edit(&key, |m| m["total_bytes"] = json!(3 * 2500));
    assert_only(&run(&f), &[names::TOTAL_BYTES], Verdict::Fail);
}

#[test]
fn wrong_parent_pointer_loops() {
    let mut f = fixture();
    let key = f.inc.clone();
    let k2 = key.clone();
    f.edit(&key, |m| m["parent_manifest"] = json!(k2));
    let checks = run(&f);
    let c = find(&checks, names::PARENT_CHAIN);
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(
        c.diagnosis.contains("loops") || c.diagnosis.contains("not older"),
        "{}",
        c.diagnosis
    );
    // The pointer names a manifest whose chain is broken.
    assert_eq!(find(&checks, names::POINTER).verdict, Verdict::Fail);
}

#[test]
fn missing_parent_and_full_with_parent() {
    let mut f = fixture();
    let (inc, full) = (f.inc.clone(), f.full.clone());
    f.edit(&inc, |m| {
        m["parent_manifest"] = json!("backups/subvol/data/full/manifest-20231201T000000Z.json")
    });
    f.edit(&full, |m| m["parent_manifest"] = json!("x"));
    let checks = run(&f);
    let c = find(&checks, names::PARENT_CHAIN);
    assert!(
        c.diagnosis.contains("does not exist") && c.diagnosis.contains("a full backup has parent"),
        "{}",
        c.diagnosis
    );
    // A full with a parent also breaks its schema.
    assert_eq!(find(&checks, names::MANIFEST_SCHEMA).verdict, Verdict::Fail);
}

#[test]
fn last_chunk_missing_from_store() {
    let mut f = fixture();
    f.store.objects.remove(&chunk_key("full", FULL_TS, 2));
    let checks = run(&f);
    assert_only(
        &checks,
        &[names::CHUNKS_STORED, names::POINTER],
        Verdict::Fail,
    );
    assert!(
        find(&checks, names::POINTER).diagnosis.contains("broken")
            || find(&checks, names::POINTER)
                .diagnosis
                .contains("incomplete")
    );
}

#[test]
fn kind_segment_mismatch() {
    let mut f = fixture();
    let key = f.full.clone();
    f.edit(&key, |m| m["created_at"] = json!("20240101T000001Z"));
    assert_only(&run(&f), &[names::MANIFEST_KIND], Verdict::Fail);
}

#[test]
fn pointer_to_nothing() {
    let mut f = fixture();
    let p = f.pointer.clone();
    put_json(
        &mut f.store,
        &p,
        &json!({"manifest_key": manifest_key("full", "20250101T000000Z"), "kind": "full", "created_at": "20250101T000000Z"}),
    );
    let checks = run(&f);
    assert_only(&checks, &[names::POINTER], Verdict::Fail);
    assert!(find(&checks, names::POINTER)
        .diagnosis
        .contains("does not exist"));
}

#[test]
fn missing_pointer_and_garbage_manifest() {
    let mut f = fixture();
    let p = f.pointer.clone();
    f.store.objects.remove(&p);
    let full = f.full.clone();
    f.store
        .put(&full, b"{not json".to_vec(), None, Some("application/json"));
    let checks = run(&f);
    assert!(find(&checks, names::POINTER)
        .diagnosis
        .contains("has no pointer"));
    assert!(find(&checks, names::MANIFEST_SCHEMA)
        .diagnosis
        .contains("not JSON"));
    assert_eq!(find(&checks, names::PARENT_CHAIN).verdict, Verdict::Fail);
}
