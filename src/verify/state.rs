//! `verify.state.coherent`: the tool's state file names only snapshots and
//! manifests that exist (checked after a killed run, before the rerun).

use super::{names, Check, Problem, Verdict};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// `state_json`: the state file's text (None: no state file, which is
/// coherent); `snapshots`: names in the snapshot directory; `objects`: keys
/// stored in S3.
pub fn verify_state(
    state_json: Option<&str>,
    snapshots: &BTreeSet<String>,
    objects: &BTreeSet<String>,
) -> Check {
    let Some(text) = state_json else {
        return Check::pass(
            names::STATE_COHERENT,
            json!({"state": null}),
            "no state file yet",
        );
    };
    let state: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Check::fail(
                names::STATE_COHERENT,
                json!({"state": text}),
                format!("the state file is not JSON: {e}"),
            )
        }
    };
    let mut problems = Vec::new();
    let subvols = state.get("subvolumes").and_then(Value::as_object);
    if state.get("subvolumes").is_some() && subvols.is_none() {
        problems.push(Problem::new(None, "\"subvolumes\" is not an object"));
    }
    for (name, s) in subvols.into_iter().flatten() {
        if let Some(snap) = s.get("last_snapshot").and_then(Value::as_str) {
            let base = snap.rsplit('/').next().unwrap_or(snap);
            if !snapshots.contains(base) {
                problems.push(Problem::about(
                    name,
                    format!("last_snapshot {snap} does not exist"),
                ));
            }
        }
        if let Some(m) = s.get("last_manifest").and_then(Value::as_str) {
            if !objects.contains(m) {
                problems.push(Problem::about(
                    name,
                    format!("last_manifest {m} was never stored"),
                ));
            }
        }
    }
    Check::from_problems(
        names::STATE_COHERENT,
        problems,
        Verdict::Fail,
        json!({"state": state}),
        "the state file names only snapshots and manifests that exist",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coherence() {
        let snaps = BTreeSet::from(["data__20240101T000000Z__full".to_string()]);
        let objs =
            BTreeSet::from(["p/subvol/data/full/manifest-20240101T000000Z.json".to_string()]);
        let good = r#"{"last_run_at": "x", "subvolumes": {"data": {"last_full_at": "x",
            "last_manifest": "p/subvol/data/full/manifest-20240101T000000Z.json",
            "last_snapshot": "/mnt/btrfs/.snapshots/data__20240101T000000Z__full"}}}"#;
        assert_eq!(
            verify_state(Some(good), &snaps, &objs).verdict,
            Verdict::Pass
        );
        assert_eq!(verify_state(None, &snaps, &objs).verdict, Verdict::Pass);
        // state-before-upload: the manifest was never stored.
        let bad = good.replace("20240101T000000Z.json", "20240102T000000Z.json");
        let c = verify_state(Some(&bad), &snaps, &objs);
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.diagnosis.contains("never stored"));
        assert_eq!(
            verify_state(Some("{"), &snaps, &objs).verdict,
            Verdict::Fail
        );
    }
}
