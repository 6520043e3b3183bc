//! Chunk contents, streamed from S3: every chunk hashes to its manifest
//! SHA-256 and size; the concatenation is one complete send stream; an
//! incremental's stream is an incremental stream from its parent.

use super::layout::Layout;
use super::manifest::{Documents, Manifest};
use super::source::{ObjectError, ObjectSource};
use super::stream::{StreamScanner, StreamSummary};
use super::{names, Check, Problem, Verdict};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// What reading one manifest's chunks found.
#[derive(Debug, Clone)]
struct Scanned {
    problems: Vec<Problem>,
    /// Chunks that could not be read because they are archived.
    unrestored: Vec<String>,
    stream: Option<StreamSummary>,
}

/// Reads every chunk of the given manifests (all readable ones when `only`
/// is None). An S3 error other than "missing" or "archived" is returned as
/// an error: the harness could not look, the tool did not fail.
pub fn verify_chunks(
    source: &dyn ObjectSource,
    docs: &Documents,
    layout: &Layout,
    only: Option<&[String]>,
) -> Result<Vec<Check>, ObjectError> {
    let selected: Vec<(&String, &Manifest)> = docs
        .valid_manifests()
        .filter(|(k, _)| only.is_none_or(|o| o.contains(k)))
        .collect();
    let mut scanned = BTreeMap::new();
    for (key, m) in &selected {
        scanned.insert((*key).clone(), scan_manifest(source, m)?);
    }
    let mut checks = vec![sha_check(&scanned), complete_check(&scanned, docs, layout)];
    if selected
        .iter()
        .any(|(_, m)| m.kind == layout.incremental_kind)
    {
        checks.push(parent_stream_check(&scanned, docs, layout));
    }
    Ok(checks)
}

fn scan_manifest(source: &dyn ObjectSource, m: &Manifest) -> Result<Scanned, ObjectError> {
    let mut out = Scanned {
        problems: Vec::new(),
        unrestored: Vec::new(),
        stream: None,
    };
    let mut scanner = Some(StreamScanner::new());
    for (i, c) in m.chunks.iter().enumerate() {
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let result = source.read(&c.key, &mut |b| {
            hasher.update(b);
            size += b.len() as u64;
            if let Some(s) = scanner.as_mut() {
                s.feed(b);
            }
        });
        match result {
            Ok(()) => {
                let got = hex::encode(hasher.finalize());
                if got != c.sha256 {
                    out.problems.push(
                        Problem::about(
                            &c.key,
                            format!("chunk {i} hashes to {got}, the manifest says {}", c.sha256),
                        )
                        .with(json!({"index": i, "sha256": got, "manifest": c.sha256})),
                    );
                }
                if size != c.size {
                    out.problems.push(Problem::about(
                        &c.key,
                        format!("chunk {i} has {size} bytes, the manifest says {}", c.size),
                    ));
                }
            }
            Err(ObjectError::NotFound(_)) => {
                out.problems
                    .push(Problem::about(&c.key, format!("chunk {i} does not exist")));
                scanner = None;
            }
            Err(ObjectError::NotRestored(_)) => {
                out.unrestored.push(c.key.clone());
                scanner = None;
            }
            Err(e) => return Err(e),
        }
    }
    out.stream = scanner.map(StreamScanner::finish);
    Ok(out)
}

fn sha_check(scanned: &BTreeMap<String, Scanned>) -> Check {
    let problems: Vec<Problem> = scanned.values().flat_map(|s| s.problems.clone()).collect();
    let unrestored: Vec<&String> = scanned.values().flat_map(|s| &s.unrestored).collect();
    let evidence = json!({"manifests": scanned.len(), "unrestored": unrestored});
    if problems.is_empty() && !unrestored.is_empty() {
        return Check::new(
            names::SHA256,
            Verdict::Skip(format!(
                "{} archived chunk(s) not restored: not verified",
                unrestored.len()
            )),
            evidence,
            "archived chunks cannot be read without a restore",
        );
    }
    Check::from_problems(
        names::SHA256,
        problems,
        Verdict::Fail,
        evidence,
        format!(
            "every chunk of {} manifest(s) hashes to its SHA-256 and size",
            scanned.len()
        ),
    )
}

fn complete_check(scanned: &BTreeMap<String, Scanned>, docs: &Documents, layout: &Layout) -> Check {
    let mut problems = Vec::new();
    let mut streams = BTreeMap::new();
    let mut unverified = 0;
    for (key, s) in scanned {
        let Some(st) = &s.stream else {
            unverified += usize::from(!s.unrestored.is_empty());
            if s.unrestored.is_empty() {
                problems.push(Problem::about(
                    key,
                    "a chunk is missing: the stream cannot be complete",
                ));
            }
            continue;
        };
        streams.insert(
            key.clone(),
            json!({"bytes": st.bytes, "commands": st.commands, "version": st.version}),
        );
        if let Some(e) = &st.error {
            problems.push(Problem::about(
                key,
                format!("the chunks are not a complete send stream: {e}"),
            ));
        }
        let is_full = docs
            .manifests
            .get(key)
            .and_then(|m| m.as_ref().ok())
            .is_some_and(|m| m.kind == layout.full_kind);
        if is_full && st.is_incremental() {
            problems.push(Problem::about(
                key,
                "a full backup's stream is an incremental stream (starts with SNAPSHOT)",
            ));
        }
    }
    if problems.is_empty() && unverified > 0 {
        return Check::new(
            names::STREAM_COMPLETE,
            Verdict::Skip(format!(
                "{unverified} manifest(s) with archived chunks not restored"
            )),
            json!({"streams": streams}),
            "archived chunks cannot be read without a restore",
        );
    }
    Check::from_problems(
        names::STREAM_COMPLETE,
        problems,
        Verdict::Fail,
        json!({"streams": streams}),
        format!(
            "the chunks of {} manifest(s) are complete send streams ending with END",
            scanned.len()
        ),
    )
}

fn parent_stream_check(
    scanned: &BTreeMap<String, Scanned>,
    docs: &Documents,
    layout: &Layout,
) -> Check {
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for (key, s) in scanned {
        let Some(Ok(m)) = docs.manifests.get(key) else {
            continue;
        };
        if m.kind != layout.incremental_kind {
            continue;
        }
        let Some(st) = &s.stream else {
            problems.push(Problem::about(key, "the stream could not be read whole"));
            continue;
        };
        seen.push(json!({"manifest": key, "first_command": st.first_command, "parent_uuid": st.parent_uuid}));
        if !st.is_incremental() {
            let why = match st.first_command {
                Some(c) => format!("an incremental backup's stream is a full stream (first command {c}, not SNAPSHOT)"),
                None => format!(
                    "an incremental backup's stream has no first command: it does not read as a send stream ({})",
                    st.error.as_deref().unwrap_or("no command before the end")
                ),
            };
            problems.push(Problem::about(key, why));
            continue;
        }
        let parent_uuid = m
            .parent_manifest
            .as_ref()
            .and_then(|p| docs.manifests.get(p))
            .and_then(|p| p.as_ref().ok())
            .and_then(|p| p.snapshot.uuid.clone());
        if let (Some(want), Some(got)) = (parent_uuid, &st.parent_uuid) {
            if !want.eq_ignore_ascii_case(got) {
                problems.push(Problem::about(
                    key,
                    format!(
                        "the stream's parent is {got}, the parent manifest's snapshot is {want}"
                    ),
                ));
            }
        }
    }
    Check::from_problems(
        names::STREAM_HAS_PARENT,
        problems,
        Verdict::Fail,
        json!({"incrementals": seen}),
        "every incremental's stream is an incremental stream from its parent snapshot",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testdata::*;

    fn run(f: &Fixture) -> Vec<Check> {
        let state = f.state();
        let docs = Documents::from_state(&state, &f.layout);
        verify_chunks(&f.store, &docs, &f.layout, None).unwrap()
    }

    #[test]
    fn consistent_chain_passes() {
        let checks = run(&fixture());
        assert_eq!(checks.len(), 3);
        assert_only(&checks, &[], Verdict::Pass);
        let c = find(&checks, names::STREAM_COMPLETE);
        assert_eq!(c.evidence["streams"].as_object().unwrap().len(), 2);
    }

    #[test]
    fn wrong_sha256() {
        // Cumulative hashes: chunk 0 right, later ones wrong.
        let mut f = fixture();
        let key = f.full.clone();
        f.edit(&key, |m| {
            m["chunks"][1]["sha256"] = serde_json::json!("ab".repeat(32))
        });
        let checks = run(&f);
        assert_only(&checks, &[names::SHA256], Verdict::Fail);
        assert!(find(&checks, names::SHA256)
            .diagnosis
            .contains("chunk 1 hashes to"));
    }

    #[test]
    fn truncated_stream() {
        // last-chunk-missing: the manifest drops its last entry.
        let mut f = fixture();
        let key = f.full.clone();
        f.edit(&key, |m| {
            m["chunks"].as_array_mut().unwrap().pop();
        });
        let checks = run(&f);
        assert_only(&checks, &[names::STREAM_COMPLETE], Verdict::Fail);
    }

    #[test]
    fn incremental_without_parent() {
        // A full stream stored as an incremental.
        let mut f = fixture();
        let full_stream = crate::verify::stream::build::stream(None, 1, 10);
        let inc = f.inc.clone();
        let k0 = chunk_key("incremental", INC_TS, 0);
        f.store.put(&k0, full_stream.clone(), None, None);
        f.store.objects.remove(&chunk_key("incremental", INC_TS, 1));
        f.edit(&inc, |m| {
            m["chunks"] = serde_json::json!([{"key": k0, "size": full_stream.len(),
                "sha256": hex::encode(Sha256::digest(&full_stream)), "etag": null}]);
        });
        let checks = run(&f);
        assert_only(&checks, &[names::STREAM_HAS_PARENT], Verdict::Fail);
        assert!(find(&checks, names::STREAM_HAS_PARENT)
            .diagnosis
            .contains("full stream"));
    }

    #[test]
    fn chunks_listed_backwards_are_not_called_a_full_stream() {
        // chunks-out-of-order on the incremental: its stream no longer begins with a header.
        let mut f = fixture();
        let inc = f.inc.clone();
        f.edit(&inc, |m| {
            m["chunks"].as_array_mut().unwrap().reverse();
        });
        let checks = run(&f);
        let d = &find(&checks, names::STREAM_HAS_PARENT).diagnosis;
        assert!(
            d.contains("does not read as a send stream") && !d.contains("full stream"),
            "{d}"
        );
    }

    #[test]
    fn stream_from_another_parent() {
        let mut f = fixture();
        let full = f.full.clone();
        f.edit(&full, |m| {
            m["snapshot"]["uuid"] = serde_json::json!("22222222-2222-2222-2222-222222222222")
        });
        let checks = run(&f);
        assert_only(&checks, &[names::STREAM_HAS_PARENT], Verdict::Fail);
    }

    #[test]
    fn archived_chunks_are_not_verified_and_missing_ones_fail() {
        let mut f = fixture();
        for k in [chunk_key("full", FULL_TS, 0), chunk_key("full", FULL_TS, 1)] {
            f.store.info_mut(&k).unwrap().restore = crate::verify::RestoreState::Archived;
        }
        let checks = run(&f);
        assert!(matches!(
            find(&checks, names::SHA256).verdict,
            Verdict::Skip(_)
        ));
        assert!(matches!(
            find(&checks, names::STREAM_COMPLETE).verdict,
            Verdict::Skip(_)
        ));
        let mut f = fixture();
        f.store.objects.remove(&chunk_key("full", FULL_TS, 1));
        let checks = run(&f);
        assert_eq!(find(&checks, names::SHA256).verdict, Verdict::Fail);
        assert_eq!(find(&checks, names::STREAM_COMPLETE).verdict, Verdict::Fail);
    }

    #[test]
    fn only_selected_manifests() {
        let f = fixture();
        let state = f.state();
        let docs = Documents::from_state(&state, &f.layout);
        let checks = verify_chunks(
            &f.store,
            &docs,
            &f.layout,
            Some(std::slice::from_ref(&f.full)),
        )
        .unwrap();
        assert_eq!(checks.len(), 2, "no incremental selected: no parent check");
    }
}
