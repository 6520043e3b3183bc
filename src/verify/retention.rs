//! `verify.retention`: per subvolume, the snapshot directory holds the
//! newest `retain` snapshots plus the next incremental's parent, nothing else.

use super::{names, Check, Problem, Verdict};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// `<subvol>__<TS>__<full|inc>` -> (subvol, TS).
pub fn parse_snapshot_name(name: &str) -> Option<(&str, &str)> {
    let (rest, kind) = name.rsplit_once("__")?;
    let (subvol, ts) = rest.rsplit_once("__")?;
    let ts_ok = ts.len() == 16
        && ts.as_bytes()[8] == b'T'
        && ts.ends_with('Z')
        && ts
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 8 || i == 15 || b.is_ascii_digit());
    (!subvol.is_empty() && ts_ok && (kind == "full" || kind == "inc")).then_some((subvol, ts))
}

/// `present`: names in the snapshot directory now; `created`: names the
/// tool reported creating (`snapshot_created` events; they may be gone);
/// `next_parent`: per subvolume, the snapshot the next incremental needs
/// (from the state file or the newest manifest).
pub fn verify_retention(
    present: &[String],
    created: &[String],
    retain: u32,
    next_parent: &BTreeMap<String, String>,
) -> Check {
    let mut problems = Vec::new();
    let mut known: BTreeMap<&str, BTreeSet<(&str, &str)>> = BTreeMap::new();
    for name in present.iter().chain(created) {
        match parse_snapshot_name(name) {
            Some((subvol, ts)) => {
                known.entry(subvol).or_default().insert((ts, name.as_str()));
            }
            None if present.contains(name) => problems.push(Problem::about(
                name,
                "is not a snapshot name <subvol>__<TS>__<full|inc>",
            )),
            None => {}
        }
    }
    let present_set: BTreeSet<&str> = present.iter().map(String::as_str).collect();
    let mut expected_all = BTreeMap::new();
    for (subvol, names) in &known {
        let mut expected: BTreeSet<&str> = names
            .iter()
            .rev()
            .take(retain as usize)
            .map(|(_, n)| *n)
            .collect();
        if let Some(p) = next_parent.get(*subvol) {
            expected.insert(p.as_str());
        }
        for n in &expected {
            if !present_set.contains(n) {
                problems.push(Problem::about(
                    n,
                    format!("missing: one of the newest {retain} or the next parent of {subvol}"),
                ));
            }
        }
        for (_, n) in names {
            if present_set.contains(n) && !expected.contains(n) {
                problems.push(Problem::about(
                    n,
                    format!("kept beyond retain = {retain} and is not the next parent"),
                ));
            }
        }
        expected_all.insert(
            subvol.to_string(),
            expected.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        );
    }
    Check::from_problems(
        names::RETENTION,
        problems,
        Verdict::Fail,
        json!({"retain": retain, "present": present, "expected": expected_all}),
        format!("each subvolume keeps its newest {retain} snapshot(s) and the next parent"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(s: &str, day: u32, kind: &str) -> String {
        format!("{s}__202401{day:02}T000000Z__{kind}")
    }

    #[test]
    fn names() {
        assert_eq!(
            parse_snapshot_name("data__20240101T000000Z__full"),
            Some(("data", "20240101T000000Z"))
        );
        assert_eq!(
            parse_snapshot_name("a__b__20240101T000000Z__inc"),
            Some(("a__b", "20240101T000000Z"))
        );
        assert_eq!(parse_snapshot_name("data__2024__full"), None);
        assert_eq!(
            parse_snapshot_name("data__20240101T000000Z__incremental"),
            None
        );
    }

    #[test]
    fn keeps_newest_and_parent() {
        let all: Vec<String> = (1..=5)
            .map(|d| snap("data", d, if d == 1 { "full" } else { "inc" }))
            .collect();
        let present = all[2..].to_vec();
        let parent = BTreeMap::from([("data".to_string(), all[4].clone())]);
        let c = verify_retention(&present, &all, 3, &parent);
        assert_eq!(c.verdict, Verdict::Pass, "{}", c.diagnosis);
    }

    #[test]
    fn deleted_newest_fails() {
        // retention-deletes-parent: the snapshot just taken is gone.
        let all: Vec<String> = (1..=3).map(|d| snap("data", d, "full")).collect();
        let present = all[..2].to_vec();
        let c = verify_retention(&present, &all, 2, &BTreeMap::new());
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(
            c.diagnosis.contains(&all[2]) && c.diagnosis.contains("missing"),
            "{}",
            c.diagnosis
        );
        assert!(
            c.diagnosis.contains(&all[0]) && c.diagnosis.contains("kept beyond"),
            "{}",
            c.diagnosis
        );
    }

    #[test]
    fn stray_entry_fails() {
        let c = verify_retention(&["junk".into()], &[], 1, &BTreeMap::new());
        assert_eq!(c.verdict, Verdict::Fail);
    }
}
