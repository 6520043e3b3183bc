//! Several runs' reports as one: the groups of a suite, or the shards of a
//! run-all merged by `vmharness report merge`. Each run becomes a group
//! named after its profile's file stem; its scenarios, transfers and phases
//! carry that name. A report that is already a merge brings its own groups.

use super::outcome::embedded_reasons;
use super::results::{Phase, RunReport};
use crate::verify::Verdict;
use std::path::Path;

/// A group's name: its profile's file stem (`config/test.toml` -> `test`).
pub fn group_name(profile: &str) -> String {
    Path::new(profile)
        .file_stem()
        .map_or_else(|| profile.to_string(), |s| s.to_string_lossy().into())
}

/// The separator of the profiles in a merged report's `profile`.
pub const PROFILE_SEP: &str = " + ";

/// Merge `runs` in order into one report named `run_id`. Its seconds are the
/// runs' seconds added (a suite sets its own wall time); it started when the
/// first of them did. Runs whose backend or strictness differ from the
/// merged report's keep their own judgement: strict warnings become
/// failures, and an embedded run's skipped or missing checks become harness
/// errors.
pub fn merge(runs: &[&RunReport], run_id: &str) -> RunReport {
    let first = runs.first();
    // The runs' one value, or their different values sorted and joined.
    let same = |f: fn(&RunReport) -> String| -> String {
        let mut values: Vec<String> = runs.iter().map(|r| f(r)).collect();
        values.sort();
        values.dedup();
        values.join(", ")
    };
    let backend = {
        let b = same(|r| r.backend.clone());
        if b.contains(", ") {
            "mixed".to_string()
        } else {
            b
        }
    };
    let strict = runs.iter().all(|r| r.strict) && !runs.is_empty();
    let mut out = RunReport {
        run_id: run_id.into(),
        profile: runs
            .iter()
            .map(|r| r.profile.as_str())
            .collect::<Vec<_>>()
            .join(PROFILE_SEP),
        accel: same(|r| r.accel.clone()),
        accel_reason: same(|r| r.accel_reason.clone()),
        image: same(|r| r.image.clone()),
        kernel: same(|r| r.kernel.clone()),
        tool_version: first.and_then(|r| r.tool_version.clone()),
        tool_cmd: first.map(|r| r.tool_cmd.clone()).unwrap_or_default(),
        seed: first.map_or(0, |r| r.seed),
        backend: backend.clone(),
        strict,
        started_at: runs
            .iter()
            .map(|r| r.started_at.clone())
            .min()
            .unwrap_or_default(),
        seconds: runs.iter().map(|r| r.seconds).sum(),
        phases: vec![],
        scenarios: vec![],
        transfers: vec![],
        harness_errors: vec![],
        work: Default::default(),
        groups: vec![],
        skipped_scenarios: vec![],
        // Several runs are not one rerun: `vmharness repro` takes each run.
        repro: None,
    };
    for r in runs {
        let mut r = (*r).clone();
        if r.groups.is_empty() {
            let name = unique(group_name(&r.profile), &out.groups);
            name_group(&mut r, &name);
        }
        if r.strict && !strict {
            for c in r.scenarios.iter_mut().flat_map(|s| s.checks.iter_mut()) {
                if c.verdict == Verdict::Warn {
                    c.verdict = Verdict::Fail;
                    c.diagnosis = format!("(warning, strict) {}", c.diagnosis);
                }
            }
        }
        if r.backend == "embedded" && backend != "embedded" {
            for s in &r.scenarios {
                out.harness_errors.extend(embedded_reasons(s));
            }
        }
        out.groups.append(&mut r.groups);
        out.phases.append(&mut r.phases);
        out.scenarios.append(&mut r.scenarios);
        out.transfers.append(&mut r.transfers);
        out.harness_errors.append(&mut r.harness_errors);
        out.skipped_scenarios.append(&mut r.skipped_scenarios);
        out.work.add(&r.work);
    }
    out
}

/// Put one run's scenarios, transfers, phases and harness errors in group `name`.
fn name_group(r: &mut RunReport, name: &str) {
    r.groups = vec![name.to_string()];
    for s in &mut r.scenarios {
        s.group = Some(name.to_string());
    }
    for t in &mut r.transfers {
        t.group = Some(name.to_string());
    }
    for p in &mut r.phases {
        *p = Phase {
            name: format!("{name}/{}", p.name),
            seconds: p.seconds,
        };
    }
    for e in r.harness_errors.iter_mut().chain(&mut r.skipped_scenarios) {
        *e = format!("{name}: {e}");
    }
}

/// `name`, or `name-2`, `name-3`... when a group already has it.
fn unique(name: String, taken: &[String]) -> String {
    if !taken.contains(&name) {
        return name;
    }
    (2..)
        .map(|i| format!("{name}-{i}"))
        .find(|n| !taken.contains(n))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::evaluate;
    use crate::report::sample::report;

    fn passing(profile: &str) -> RunReport {
        let mut r = report();
        r.profile = profile.into();
        r.scenarios[0].checks[1].verdict = Verdict::Pass;
        r.scenarios[1].checks[1].verdict = Verdict::Pass;
        r
    }

    /// (group/scenario, check, verdict) of every check.
    fn triples(r: &RunReport) -> Vec<(String, String, String)> {
        r.scenarios
            .iter()
            .flat_map(|s| {
                s.checks
                    .iter()
                    .map(|c| (s.full_name(), c.name.clone(), c.verdict.label().into()))
            })
            .collect()
    }

    #[test]
    fn groups_are_named_after_profiles_and_everything_is_kept() {
        let a = passing("config/test.toml");
        let mut b = report();
        b.profile = "/x/large.toml".into();
        b.scenarios[1].checks[1].verdict = Verdict::Pass;
        let m = merge(&[&a, &b], "m1");
        assert_eq!(m.groups, ["test", "large"]);
        assert_eq!(m.profile, "config/test.toml + /x/large.toml");
        assert_eq!(m.scenarios.len(), 4);
        assert_eq!(m.scenarios[2].full_name(), "large/full");
        assert_eq!(m.transfers[3].group.as_deref(), Some("large"));
        assert_eq!(m.phases[0].name, "test/boot");
        assert_eq!(m.seconds, 84.0);
        assert_eq!(m.work.vm_starts, 2);
        assert_eq!(m.boot_seconds(), 41.0);
        assert_eq!(m.skipped_scenarios, ["test: cleanup", "large: cleanup"]);
        assert_eq!(m.repro, None);
        // The worst group decides: b fails a check.
        assert_eq!(evaluate(&m).outcome.code(), 1);
        assert_eq!(evaluate(&merge(&[&a], "m")).outcome.code(), 0);
    }

    #[test]
    fn merging_merges_is_the_same_as_merging_the_runs() {
        let runs = [
            passing("a.toml"),
            passing("b.toml"),
            report(),
            passing("d.toml"),
        ];
        let mut whole = runs.clone();
        whole[2].profile = "c.toml".into();
        let all: Vec<&RunReport> = whole.iter().collect();
        let flat = merge(&all, "all");
        // Shards 1/2 and 2/2, round robin: (a, c) and (b, d).
        let s1 = merge(&[&whole[0], &whole[2]], "s1");
        let s2 = merge(&[&whole[1], &whole[3]], "s2");
        let again = merge(&[&s1, &s2], "again");
        let mut want = triples(&flat);
        let mut got = triples(&again);
        want.sort();
        got.sort();
        assert_eq!(got, want);
        assert_eq!(again.groups, ["a", "c", "b", "d"]);
        assert_eq!(evaluate(&again).outcome, evaluate(&flat).outcome);
        assert_eq!(evaluate(&again).counts, evaluate(&flat).counts);
    }

    #[test]
    fn the_same_profile_twice_gets_two_groups() {
        let a = passing("t.toml");
        let m = merge(&[&a, &a], "m");
        assert_eq!(m.groups, ["t", "t-2"]);
    }

    #[test]
    fn differing_judgements_are_kept() {
        let mut strict = passing("s.toml");
        strict.strict = true;
        let mut aws = passing("aws.toml");
        aws.backend = "aws".into();
        let mut embedded = passing("e.toml");
        embedded.scenarios[1].checks[1].verdict = Verdict::Skip("archived".into());
        // The strict run's warning still fails.
        let m = merge(&[&strict, &aws], "m");
        assert!(!m.strict);
        assert_eq!(m.backend, "mixed");
        assert_eq!(evaluate(&m).outcome.code(), 1);
        // The embedded run's skip is still a harness failure.
        let m = merge(&[&embedded, &aws], "m");
        assert_eq!(evaluate(&m).outcome.code(), 2);
        assert!(
            m.harness_errors[0].contains("e/interrupt: verify.stream.complete was skipped"),
            "{:?}",
            m.harness_errors
        );
    }
}
