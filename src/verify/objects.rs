//! Per-object facts from HeadObject: storage class, content type, stored
//! SSE; and what is left over (incomplete uploads, unreferenced objects).

use super::layout::{KeyClass, Layout};
use super::manifest::Documents;
use super::source::S3State;
use super::{names, Check, Problem, Verdict};
use serde_json::json;
use std::collections::BTreeSet;

/// What the profile says objects must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub storage_class_chunks: String,
    pub storage_class_manifest: String,
    pub sse: String,
}

impl Expected {
    pub fn from_profile(p: &crate::profile::Profile) -> Expected {
        Expected {
            storage_class_chunks: p.s3.storage_class_chunks.clone(),
            storage_class_manifest: p.s3.storage_class_manifest.clone(),
            sse: p.s3.sse.clone(),
        }
    }
}

/// `verify.storage_class`, `verify.content_type`, `verify.sse_stored`.
pub fn verify_objects(state: &S3State, layout: &Layout, expected: &Expected) -> Vec<Check> {
    let docs = Documents::from_state(state, layout);
    vec![
        storage_class_check(state, layout, &docs, expected),
        content_type_check(state, layout),
        sse_stored_check(state, layout, expected),
    ]
}

fn storage_class_check(state: &S3State, layout: &Layout, docs: &Documents, e: &Expected) -> Check {
    let mut problems = Vec::new();
    let mut counted = 0;
    for (key, o) in &state.objects {
        let want = match layout.classify(key) {
            KeyClass::Chunk { .. } => &e.storage_class_chunks,
            KeyClass::Manifest { .. } | KeyClass::Pointer { .. } => &e.storage_class_manifest,
            _ => continue,
        };
        counted += 1;
        if o.class() != want {
            problems.push(Problem::about(
                key,
                format!("stored as {}, expected {want}", o.class()),
            ));
        }
    }
    for (key, m) in docs.valid_manifests() {
        if m.s3.storage_class != e.storage_class_chunks {
            problems.push(Problem::about(
                key,
                format!(
                    "s3.storage_class says {}, the profile's chunk class is {}",
                    m.s3.storage_class, e.storage_class_chunks
                ),
            ));
        }
        for c in &m.chunks {
            if let Some(o) = state.objects.get(&c.key) {
                if o.class() != m.s3.storage_class {
                    problems.push(Problem::about(
                        &c.key,
                        format!(
                            "stored as {} but its manifest records {}",
                            o.class(),
                            m.s3.storage_class
                        ),
                    ));
                }
            }
        }
    }
    problems.dedup();
    Check::from_problems(
        names::STORAGE_CLASS,
        problems,
        Verdict::Fail,
        json!({"objects": counted, "chunks": e.storage_class_chunks, "manifests": e.storage_class_manifest}),
        format!("{counted} object(s) carry their configured storage class"),
    )
}

/// `application/json`, parameters (e.g. charset) allowed.
fn is_json(ct: Option<&str>) -> bool {
    ct.and_then(|c| c.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

fn content_type_check(state: &S3State, layout: &Layout) -> Check {
    let mut problems = Vec::new();
    let mut counted = 0;
    for (key, o) in &state.objects {
        if matches!(
            layout.classify(key),
            KeyClass::Manifest { .. } | KeyClass::Pointer { .. }
        ) {
            counted += 1;
            if !is_json(o.content_type.as_deref()) {
                problems.push(Problem::about(
                    key,
                    format!(
                        "Content-Type is {:?}, expected application/json",
                        o.content_type
                    ),
                ));
            }
        }
    }
    Check::from_problems(
        names::CONTENT_TYPE,
        problems,
        Verdict::Fail,
        json!({"documents": counted}),
        format!("{counted} manifest(s) and pointer(s) are application/json"),
    )
}

fn sse_stored_check(state: &S3State, layout: &Layout, e: &Expected) -> Check {
    let mut problems = Vec::new();
    for (key, o) in &state.objects {
        if matches!(layout.classify(key), KeyClass::Outside) {
            continue;
        }
        if o.sse.as_deref() != Some(e.sse.as_str()) {
            problems.push(Problem::about(
                key,
                format!("stored with SSE {:?}, expected {}", o.sse, e.sse),
            ));
        }
    }
    Check::from_problems(
        names::SSE_STORED,
        problems,
        Verdict::Fail,
        json!({"objects": state.objects.len(), "note": "S3 encrypts every object; verify.sse_requested checks what the tool asked for"}),
        format!(
            "{} object(s) are stored with SSE {}",
            state.objects.len(),
            e.sse
        ),
    )
}

/// `verify.orphans.multipart` and `verify.orphans.objects`, as warnings
/// (the requirements allow abandoning partial uploads; `strict` fails them).
pub fn verify_orphans(state: &S3State, layout: &Layout) -> Vec<Check> {
    let uploads: Vec<Problem> = state
        .uploads
        .iter()
        .filter(|u| u.key.starts_with(&layout.prefix))
        .map(|u| {
            Problem::about(
                &u.key,
                format!("incomplete multipart upload {}", u.upload_id),
            )
            .with(json!({"upload_id": u.upload_id, "initiated": u.initiated}))
        })
        .collect();
    let docs = Documents::from_state(state, layout);
    let mut referenced: BTreeSet<&str> = BTreeSet::new();
    for (key, m) in docs.valid_manifests() {
        referenced.insert(key);
        referenced.extend(m.chunks.iter().map(|c| c.key.as_str()));
    }
    let mut objects = Vec::new();
    for key in state.objects.keys() {
        let orphan = match layout.classify(key) {
            KeyClass::Pointer { .. } | KeyClass::Outside => false,
            KeyClass::Manifest { .. } => docs.manifests.get(key).is_some_and(|m| m.is_err()),
            KeyClass::Chunk { .. } | KeyClass::Unknown => !referenced.contains(key.as_str()),
        };
        if orphan {
            objects.push(Problem::about(
                key,
                "not referenced by any readable manifest",
            ));
        }
    }
    vec![
        Check::from_problems(
            names::ORPHAN_UPLOADS,
            uploads,
            Verdict::Warn,
            json!({"prefix": layout.prefix}),
            "no incomplete multipart uploads under the prefix",
        ),
        Check::from_problems(
            names::ORPHAN_OBJECTS,
            objects,
            Verdict::Warn,
            json!({"prefix": layout.prefix, "objects": state.objects.len()}),
            "every object under the prefix is a pointer, a manifest or a chunk a manifest lists",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testdata::*;
    use crate::verify::MultipartUpload;

    fn expected() -> Expected {
        Expected::from_profile(&crate::profile::Profile::default())
    }

    #[test]
    fn consistent_store_passes() {
        let f = fixture();
        let state = f.state();
        assert_only(
            &verify_objects(&state, &f.layout, &expected()),
            &[],
            Verdict::Pass,
        );
        assert_only(&verify_orphans(&state, &f.layout), &[], Verdict::Pass);
    }

    #[test]
    fn wrong_storage_class() {
        // Chunks stored with the manifest class while the manifest says GLACIER.
        let mut f = fixture();
        let (full, inc) = (f.full.clone(), f.inc.clone());
        for k in [&full, &inc] {
            f.edit(k, |m| {
                m["s3"]["storage_class"] = serde_json::json!("GLACIER")
            });
        }
        let e = Expected {
            storage_class_chunks: "GLACIER".into(),
            ..expected()
        };
        let checks = verify_objects(&f.state(), &f.layout, &e);
        assert_only(&checks, &[names::STORAGE_CLASS], Verdict::Fail);
        assert!(find(&checks, names::STORAGE_CLASS)
            .diagnosis
            .contains("stored as STANDARD, expected GLACIER"));
    }

    #[test]
    fn wrong_content_type_and_sse() {
        let mut f = fixture();
        let full = f.full.clone();
        f.store.info_mut(&full).unwrap().content_type = Some("binary/octet-stream".into());
        let p = f.pointer.clone();
        f.store.info_mut(&p).unwrap().content_type = Some("application/json; charset=utf-8".into());
        f.store.info_mut(&p).unwrap().sse = None;
        let checks = verify_objects(&f.state(), &f.layout, &expected());
        assert_only(
            &checks,
            &[names::CONTENT_TYPE, names::SSE_STORED],
            Verdict::Fail,
        );
        assert_eq!(
            find(&checks, names::CONTENT_TYPE).evidence["problem_count"],
            1
        );
    }

    #[test]
    fn orphans_warn() {
        let mut f = fixture();
        f.store.put(
            "backups/subvol/data/full/chunk-20240103T000000Z-0.bin",
            vec![1],
            None,
            None,
        );
        f.store.uploads.push(MultipartUpload {
            key: "backups/subvol/data/full/chunk-20240103T000000Z-1.bin".into(),
            upload_id: "u1".into(),
            initiated: None,
        });
        f.store.uploads.push(MultipartUpload {
            key: "other/x".into(),
            upload_id: "u2".into(),
            initiated: None,
        });
        let checks = verify_orphans(&f.state(), &f.layout);
        assert_only(
            &checks,
            &[names::ORPHAN_UPLOADS, names::ORPHAN_OBJECTS],
            Verdict::Warn,
        );
        assert_eq!(
            find(&checks, names::ORPHAN_UPLOADS).evidence["problem_count"],
            1
        );
    }
}
