//! The verifiers grouped the way scenarios call them: everything S3 state
//! can show, and everything the journal adds.

use super::chunks::verify_chunks;
use super::journal::{verify_no_overwrite, verify_publish_order, verify_sse_requested, Journal};
use super::layout::{verify_layout, KeyClass, Layout};
use super::manifest::{verify_manifests, Documents};
use super::objects::{verify_objects, verify_orphans, Expected};
use super::schema::Schemas;
use super::source::{ObjectError, ObjectSource, S3State};
use super::{names, Check, Verdict};
use serde_json::json;

/// Reads the prefix once and runs layout, manifest, chunk, object and
/// orphan checks. `expect_pointer_for`: subvolumes that must have a pointer.
/// An S3 error (other than a missing or archived chunk) is the harness's.
pub fn s3_checks(
    source: &dyn ObjectSource,
    layout: &Layout,
    schemas: &Schemas,
    expected: &Expected,
    expect_pointer_for: &[String],
) -> Result<(S3State, Vec<Check>), ObjectError> {
    let state = S3State::collect(source, layout)?;
    let docs = Documents::from_state(&state, layout);
    let mut checks = vec![verify_layout(
        layout,
        state.objects.keys().map(String::as_str),
    )];
    checks.extend(verify_manifests(
        &state,
        layout,
        schemas,
        expect_pointer_for,
    ));
    checks.extend(verify_chunks(source, &docs, layout, None)?);
    checks.extend(verify_objects(&state, layout, expected));
    checks.extend(verify_orphans(&state, layout));
    Ok((state, checks))
}

/// The checks `s3_checks` makes (the parent-stream check only where a
/// chain has an incremental): a test holds it to what the function returns.
pub const S3_CHECKS: [&str; 16] = [
    names::LAYOUT,
    names::MANIFEST_SCHEMA,
    names::MANIFEST_KIND,
    names::CHUNK_ORDER,
    names::CHUNKS_STORED,
    names::TOTAL_BYTES,
    names::PARENT_CHAIN,
    names::POINTER,
    names::SHA256,
    names::STREAM_COMPLETE,
    names::STREAM_HAS_PARENT,
    names::STORAGE_CLASS,
    names::CONTENT_TYPE,
    names::SSE_STORED,
    names::ORPHAN_UPLOADS,
    names::ORPHAN_OBJECTS,
];

/// The checks `journal_checks` makes, in its order.
pub const JOURNAL_CHECKS: [&str; 3] = [
    names::SSE_REQUESTED,
    names::PUBLISH_ORDER,
    names::NO_OVERWRITE,
];

/// `journal_checks` skipped, each with `why` (a backend without a journal)
/// and why S3's own answers cannot stand in for the journal there.
pub fn journal_skipped(why: &str) -> Vec<Check> {
    JOURNAL_CHECKS
        .iter()
        .map(|n| {
            let instead = match *n {
                names::SSE_REQUESTED => {
                    "HeadObject shows the encryption applied, which a bucket default applies \
                     whether the tool asked for it or not"
                }
                names::PUBLISH_ORDER => {
                    "LastModified has one-second resolution: it cannot prove that the chunks \
                     and the manifest were stored before the pointer"
                }
                _ => {
                    "a listing shows only the last write of a key, not whether one was overwritten"
                }
            };
            Check::skip(n, format!("{why}; {instead}"))
        })
        .collect()
}

/// SSE as requested, publish order and no overwrite, from the journal and
/// the S3 state read after the run.
pub fn journal_checks(
    journal: &Journal,
    state: &S3State,
    layout: &Layout,
    sse: &str,
) -> Vec<Check> {
    let docs = Documents::from_state(state, layout);
    vec![
        verify_sse_requested(journal, layout, sse),
        verify_publish_order(
            journal,
            layout,
            &docs.chunk_lists(),
            &docs.pointer_targets(),
        ),
        verify_no_overwrite(journal, layout),
    ]
}

/// `verify.incremental.kind`: the backup a scenario ran produced the kind
/// it expects (`manifest_key` from the tool's `backup_uploaded` event).
pub fn verify_kind_produced(
    layout: &Layout,
    state: &S3State,
    manifest_key: &str,
    expected_kind: &str,
) -> Check {
    let docs = Documents::from_state(state, layout);
    let evidence = json!({"manifest_key": manifest_key, "expected": expected_kind});
    let got = match (
        layout.classify(manifest_key),
        docs.manifests.get(manifest_key),
    ) {
        (KeyClass::Manifest { kind, .. }, Some(Ok(m))) if kind == m.kind => kind,
        (KeyClass::Manifest { kind, .. }, Some(Ok(m))) => {
            return Check::fail(
                names::INCREMENTAL_KIND,
                evidence,
                format!("key says {kind}, manifest says {}", m.kind),
            )
        }
        (_, Some(Err(e))) => {
            return Check::fail(
                names::INCREMENTAL_KIND,
                evidence,
                format!("manifest unreadable: {e}"),
            )
        }
        (_, None) => {
            return Check::fail(
                names::INCREMENTAL_KIND,
                evidence,
                format!("{manifest_key} is not a stored manifest"),
            )
        }
        (_, Some(Ok(m))) => m.kind.clone(),
    };
    let verdict = if got == expected_kind {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    Check::new(
        names::INCREMENTAL_KIND,
        verdict,
        evidence,
        format!("the backup produced a {got} (expected {expected_kind})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testdata::*;

    #[test]
    fn whole_suite_on_a_consistent_store() {
        let f = fixture();
        let expected = Expected::from_profile(&crate::profile::Profile::default());
        let (state, checks) =
            s3_checks(&f.store, &f.layout, &schemas(), &expected, &["data".into()]).unwrap();
        assert_only(&checks, &[], Verdict::Pass);
        let names: std::collections::BTreeSet<&str> =
            checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), checks.len(), "check names are unique");
        let declared: std::collections::BTreeSet<&str> = S3_CHECKS.into_iter().collect();
        assert_eq!(names, declared, "S3_CHECKS is what s3_checks makes");
        assert_eq!(
            verify_kind_produced(&f.layout, &state, &f.inc, "incremental").verdict,
            Verdict::Pass
        );
        let c = verify_kind_produced(&f.layout, &state, &f.full, "incremental");
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.diagnosis.contains("produced a full"));
        assert_eq!(
            verify_kind_produced(&f.layout, &state, "nope", "full").verdict,
            Verdict::Fail
        );
        let j = Journal::default();
        let jc = journal_checks(&j, &state, &f.layout, "AES256");
        let jc_names: Vec<&str> = jc.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(jc_names, JOURNAL_CHECKS);
        let skipped = journal_skipped("no journal here");
        assert_eq!(skipped.len(), JOURNAL_CHECKS.len());
        assert!(skipped
            .iter()
            .all(|c| matches!(&c.verdict, Verdict::Skip(r) if r.starts_with("no journal here; "))));
        let order = skipped
            .iter()
            .find(|c| c.name == names::PUBLISH_ORDER)
            .expect("publish order");
        assert!(
            matches!(&order.verdict, Verdict::Skip(r) if r.contains("one-second resolution")),
            "{:?}",
            order.verdict
        );
    }
}
