//! Multipart uploads as the endpoint's journal shows them: how each chunk
//! got its bytes (one PUT, or a multipart upload of so many parts) and
//! whether every upload begun was completed.

use super::journal::Entry;
use super::layout::Layout;
use super::source::MultipartUpload;
use super::{names, Check, Problem, Verdict};
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// Chunks above this size go up by multipart upload (CONTRACT.md).
pub const SINGLE_PUT_MAX: u64 = 5 * 1024 * 1024;

/// One multipart upload begun (CreateMultipartUpload answered 2xx).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upload {
    pub key: String,
    pub upload_id: String,
    /// Distinct part numbers stored (UploadPart answered 2xx).
    pub parts: BTreeSet<u32>,
    pub completed: bool,
    pub aborted: bool,
}

/// The multipart uploads begun among `entries`, in the order they began.
/// Requests for uploads begun elsewhere are ignored.
pub fn uploads<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Vec<Upload> {
    let mut out: Vec<Upload> = Vec::new();
    for e in entries.into_iter().filter(|e| e.ok()) {
        let Some(id) = e.r.upload_id.as_deref() else {
            continue;
        };
        if e.r.op == "CreateMultipartUpload" {
            out.push(Upload {
                key: e.key().to_string(),
                upload_id: id.to_string(),
                parts: BTreeSet::new(),
                completed: false,
                aborted: false,
            });
            continue;
        }
        let Some(u) = out.iter_mut().find(|u| u.upload_id == id) else {
            continue;
        };
        match (e.r.op.as_str(), e.r.part) {
            ("UploadPart", Some(n)) => {
                u.parts.insert(n);
            }
            ("CompleteMultipartUpload", _) => u.completed = true,
            ("AbortMultipartUpload", _) => u.aborted = true,
            _ => {}
        }
    }
    out
}

/// How a chunk got its final bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// One PutObject (or CopyObject).
    Single,
    /// A completed multipart upload of `parts` parts.
    Multipart { upload_id: String, parts: usize },
}

/// Each chunk key stored among `entries`, by its last successful store.
pub fn chunk_stores<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    layout: &Layout,
    uploads: &[Upload],
) -> BTreeMap<String, Stored> {
    let mut out = BTreeMap::new();
    for e in entries.into_iter() {
        if !(e.is_store() && e.ok() && layout.is_chunk(e.key())) {
            continue;
        }
        let how = match (e.r.op.as_str(), e.r.upload_id.as_deref()) {
            ("CompleteMultipartUpload", Some(id)) => Stored::Multipart {
                upload_id: id.to_string(),
                parts: uploads
                    .iter()
                    .find(|u| u.upload_id == id)
                    .map_or(0, |u| u.parts.len()),
            },
            _ => Stored::Single,
        };
        out.insert(e.key().to_string(), how);
    }
    out
}

/// `verify.large.multipart_parts`: every chunk over [`SINGLE_PUT_MAX`] went
/// up by multipart upload, a full-size one (`chunk_size` bytes) in at least
/// `min_parts` parts; and at least one chunk was that large. `sizes`: the
/// stored size of each chunk.
pub fn verify_multipart_parts(
    stores: &BTreeMap<String, Stored>,
    sizes: &BTreeMap<String, u64>,
    chunk_size: u64,
    min_parts: u32,
) -> Check {
    let mut problems = Vec::new();
    let mut chunks = Vec::new();
    let mut large = 0;
    for (key, how) in stores {
        let size = sizes.get(key).copied();
        let parts = match how {
            Stored::Single => None,
            Stored::Multipart { parts, .. } => Some(*parts),
        };
        chunks
            .push(json!({"key": key, "size": size, "multipart": parts.is_some(), "parts": parts}));
        let Some(size) = size else {
            problems.push(Problem::about(key, "stored, but no longer in S3"));
            continue;
        };
        if size <= SINGLE_PUT_MAX {
            continue;
        }
        large += 1;
        match parts {
            None => problems.push(Problem::about(
                key,
                format!("{size} bytes stored with one PUT: chunks over {SINGLE_PUT_MAX} bytes must go up by multipart upload"),
            )),
            Some(n) if size == chunk_size && n < min_parts as usize => {
                problems.push(Problem::about(
                    key,
                    format!("a full-size chunk uploaded in {n} part(s); the profile wants at least {min_parts} ([backup] large_min_parts)"),
                ))
            }
            Some(_) => {}
        }
    }
    if large == 0 {
        problems.push(Problem::new(
            None,
            format!(
                "none of the {} chunk(s) stored is over {SINGLE_PUT_MAX} bytes: nothing went up by multipart upload",
                stores.len()
            ),
        ));
    }
    let counts: Vec<usize> = stores
        .values()
        .filter_map(|h| match h {
            Stored::Multipart { parts, .. } => Some(*parts),
            Stored::Single => None,
        })
        .collect();
    let (lo, hi) = (
        counts.iter().min().copied().unwrap_or(0),
        counts.iter().max().copied().unwrap_or(0),
    );
    Check::from_problems(
        names::MULTIPART_PARTS,
        problems,
        Verdict::Fail,
        json!({"chunk_size": chunk_size, "min_parts": min_parts, "chunks": chunks}),
        format!("{large} chunk(s) over {SINGLE_PUT_MAX} bytes went up by multipart upload, in {lo} to {hi} part(s) each"),
    )
}

/// `verify.large.multipart_completed`: every multipart upload begun was
/// completed (or aborted), and none is still open. `open`: the uploads
/// ListMultipartUploads shows for the keys of `begun`.
pub fn verify_uploads_completed(begun: &[Upload], open: &[MultipartUpload]) -> Check {
    let listed: BTreeSet<&str> = open.iter().map(|u| u.upload_id.as_str()).collect();
    let mut problems: Vec<Problem> = begun
        .iter()
        .filter(|u| !u.completed && !u.aborted)
        .map(|u| {
            Problem::about(
                &u.key,
                format!(
                    "upload {} ({} part(s)) was neither completed nor aborted{}",
                    u.upload_id,
                    u.parts.len(),
                    if listed.contains(u.upload_id.as_str()) {
                        "; it is still open"
                    } else {
                        ""
                    }
                ),
            )
        })
        .collect();
    let known: BTreeSet<&str> = begun.iter().map(|u| u.upload_id.as_str()).collect();
    problems.extend(
        open.iter()
            .filter(|u| !known.contains(u.upload_id.as_str()))
            .map(|u| Problem::about(&u.key, format!("upload {} is still open", u.upload_id))),
    );
    if begun.is_empty() {
        problems.push(Problem::new(None, "no multipart upload was begun"));
    }
    let aborted: Vec<&str> = begun
        .iter()
        .filter(|u| u.aborted)
        .map(|u| u.upload_id.as_str())
        .collect();
    Check::from_problems(
        names::MULTIPART_COMPLETED,
        problems,
        Verdict::Fail,
        json!({"uploads": begun.len(), "aborted": aborted, "still_open": open.len()}),
        format!(
            "{} multipart upload(s) begun, every one completed or aborted, none left open",
            begun.len()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::journal::{Journal, JournalRecord};
    use crate::verify::layout::tests::layout;

    const C0: &str = "backups/subvol/data/full/chunk-20240101T000000Z-0.bin";
    const C1: &str = "backups/subvol/data/full/chunk-20240101T000000Z-1.bin";
    const C2: &str = "backups/subvol/data/full/chunk-20240101T000000Z-2.bin";
    const MIB: u64 = 1024 * 1024;

    fn rec(seq: u64, op: &str, key: &str, id: Option<&str>, part: Option<u32>) -> JournalRecord {
        JournalRecord {
            seq,
            start: format!("2024-01-01T00:00:{:02}.000000001Z", seq % 60),
            end: format!("2024-01-01T00:00:{:02}.500000000Z", seq % 60),
            op: op.into(),
            bucket: Some("vmharness".into()),
            key: Some(key.into()),
            upload_id: id.map(str::to_string),
            part,
            bytes_in: 0,
            bytes_out: 0,
            status: Some(200),
            error_code: None,
            storage_class: None,
            sse: None,
            checksum: None,
            fault: None,
            pointer_manifest_key: None,
        }
    }

    /// Chunk 0 in three parts (part 2 retried after a 503), chunk 1 in
    /// two, chunk 2 one PUT; an upload of chunk 1 aborted and redone.
    fn records() -> Vec<JournalRecord> {
        let mut failed = rec(4, "UploadPart", C0, Some("u0"), Some(2));
        failed.status = Some(503);
        vec![
            rec(1, "CreateMultipartUpload", C0, Some("u0"), None),
            rec(2, "UploadPart", C0, Some("u0"), Some(1)),
            rec(3, "UploadPart", C0, Some("u9"), Some(1)),
            failed,
            rec(5, "UploadPart", C0, Some("u0"), Some(2)),
            rec(6, "UploadPart", C0, Some("u0"), Some(3)),
            rec(7, "CompleteMultipartUpload", C0, Some("u0"), None),
            rec(8, "CreateMultipartUpload", C1, Some("ua"), None),
            rec(9, "AbortMultipartUpload", C1, Some("ua"), None),
            rec(10, "CreateMultipartUpload", C1, Some("u1"), None),
            rec(11, "UploadPart", C1, Some("u1"), Some(1)),
            rec(12, "UploadPart", C1, Some("u1"), Some(2)),
            rec(13, "CompleteMultipartUpload", C1, Some("u1"), None),
            rec(14, "PutObject", C2, None, None),
        ]
    }

    fn analysed(r: Vec<JournalRecord>) -> (Vec<Upload>, BTreeMap<String, Stored>) {
        let j = Journal::from_records(r).unwrap();
        let ups = uploads(&j.entries);
        let stores = chunk_stores(&j.entries, &layout(), &ups);
        (ups, stores)
    }

    fn sizes(c0: u64, c1: u64, c2: u64) -> BTreeMap<String, u64> {
        BTreeMap::from([(C0.into(), c0), (C1.into(), c1), (C2.into(), c2)])
    }

    #[test]
    fn parts_are_counted_per_upload() {
        let (ups, stores) = analysed(records());
        let ids: Vec<(&str, usize, bool, bool)> = ups
            .iter()
            .map(|u| (u.upload_id.as_str(), u.parts.len(), u.completed, u.aborted))
            .collect();
        assert_eq!(
            ids,
            [
                ("u0", 3, true, false),
                ("ua", 0, false, true),
                ("u1", 2, true, false)
            ]
        );
        assert_eq!(
            stores[C0],
            Stored::Multipart {
                upload_id: "u0".into(),
                parts: 3
            }
        );
        assert_eq!(stores[C2], Stored::Single);
    }

    #[test]
    fn full_size_chunks_need_the_profiles_parts() {
        let (_, stores) = analysed(records());
        let s = sizes(24 * MIB, 24 * MIB, 3 * MIB);
        let c = verify_multipart_parts(&stores, &s, 24 * MIB, 2);
        assert_eq!(c.verdict, Verdict::Pass, "{c:?}");
        assert!(c.diagnosis.contains("2 chunk(s)"), "{}", c.diagnosis);
        let c = verify_multipart_parts(&stores, &s, 24 * MIB, 3);
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(
            c.diagnosis.contains(C1) && c.diagnosis.contains("2 part(s)"),
            "{}",
            c.diagnosis
        );
        // A last, partial chunk may have fewer parts.
        let s = sizes(24 * MIB, 12 * MIB, 3 * MIB);
        assert_eq!(
            verify_multipart_parts(&stores, &s, 24 * MIB, 3).verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn a_large_chunk_in_one_put_fails() {
        let (_, stores) = analysed(records());
        let c = verify_multipart_parts(&stores, &sizes(8 * MIB, 8 * MIB, 6 * MIB), 8 * MIB, 1);
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.diagnosis.contains(C2), "{}", c.diagnosis);
    }

    #[test]
    fn small_chunks_only_show_no_multipart() {
        let (_, stores) = analysed(records());
        let c = verify_multipart_parts(&stores, &sizes(MIB, MIB, MIB), 8 * MIB, 1);
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.diagnosis.contains("nothing went up by multipart"));
    }

    #[test]
    fn every_upload_must_end() {
        let (ups, _) = analysed(records());
        let c = verify_uploads_completed(&ups, &[]);
        assert_eq!(c.verdict, Verdict::Pass, "{c:?}");
        assert_eq!(c.evidence["aborted"], json!(["ua"]));

        let mut r = records();
        r.retain(|r| r.seq != 13);
        let (ups, _) = analysed(r);
        let open = [MultipartUpload {
            key: C1.into(),
            upload_id: "u1".into(),
            initiated: None,
        }];
        let c = verify_uploads_completed(&ups, &open);
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.diagnosis.contains("still open"), "{}", c.diagnosis);
        assert_eq!(c.evidence["problem_count"], json!(1));

        let c = verify_uploads_completed(&[], &[]);
        assert_eq!(c.verdict, Verdict::Fail);
    }
}
