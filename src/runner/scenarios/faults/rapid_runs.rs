//! rapid-runs: three backups of one subvolume back to back, the last two
//! with the guest clock held inside the first one's second (set again
//! every 50 ms while they run), so a tool that names backups by the clock
//! alone collides. No chunk or manifest may be stored twice, no manifest
//! may name itself or a later one as its parent, every run must succeed
//! and every manifest they published must restore.

use super::super::{first_subvolume, guest::note_backups, hold, Scenario};
use crate::runner::blame::tool_broke;
use crate::runner::session::Session;
use crate::verify::journal::verify_no_overwrite;
use crate::verify::layout::{KeyClass, Layout};
use crate::verify::manifest::Documents;
use crate::verify::{names, Check, Problem, Verdict};
use anyhow::{bail, Context, Result};
use serde_json::json;

pub const PARENTS: &str = "verify.rapid_runs.parents";
pub const EXIT: &str = "verify.rapid_runs.exit";
pub const RESTORE: &str = "verify.rapid_runs.restore";

/// Runs with the clock held in the first run's second.
const PINNED_RUNS: usize = 2;

pub struct RapidRuns;

impl Scenario for RapidRuns {
    fn name(&self) -> &'static str {
        "rapid-runs"
    }
    fn needs_embedded(&self) -> Option<&'static str> {
        Some("the request journal, to see every PUT key")
    }
    fn expected_checks(&self, _s: &Session) -> Vec<String> {
        vec![
            names::NO_OVERWRITE.into(),
            EXIT.into(),
            PARENTS.into(),
            RESTORE.into(),
        ]
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let layout = Layout::from_profile(&s.profile)?;
        let sv = first_subvolume(s)?;
        let start = hold::mark(s)?;
        let (first, first_key) = super::good_backup(s, "rapid-runs", &sv, "rapid-runs-1")?;
        let ts = match layout.classify(&first_key) {
            KeyClass::Manifest { ts, .. } => ts,
            other => {
                return Err(tool_broke(
                    format!("the first rapid run's manifest key {first_key} is not a manifest key of the layout ({other:?})"),
                    Some(&first),
                ))
            }
        };
        let epoch = ts_epoch(&ts)?;
        let mut runs =
            vec![json!({"run": 1, "status": first.status_text(), "manifest_key": first_key})];
        let mut keys = vec![first_key];
        let mut all_ok = true;
        for i in 0..PINNED_RUNS {
            let line = pinned(&s.tool.backup_now(&sv), epoch);
            let run = s.run_tool(&format!("rapid-runs-{}", i + 2), &line)?;
            note_backups(s, "rapid-runs", &run)?;
            // The harness's line comes first (the tool may print on stdout too).
            let seen = run
                .output
                .stdout_text()
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            if seen != ts {
                set_clock_from_host(s)?;
                bail!("the clock was to be held in {ts} for rapid run {}, but the guest read {seen:?}: the runs were not in one second", i + 2);
            }
            let key = run.field("backup_uploaded", "manifest_key");
            all_ok &= run.succeeded();
            runs.push(json!({"run": i + 2, "clock": seen, "status": run.status_text(), "manifest_key": key,
                "stderr_tail": crate::programs::tail(&run.output.stderr_text(), 6)}));
            keys.extend(key);
        }
        set_clock_from_host(s)?;

        let mut overwrite = verify_no_overwrite(&s.journal()?.since(start), &layout);
        overwrite.evidence["runs"] = json!(runs);
        s.record(overwrite);
        s.record(if all_ok {
            Check::pass(
                EXIT,
                json!({"runs": runs}),
                format!("all {} runs in one second exited 0", PINNED_RUNS + 1),
            )
        } else {
            Check::fail(
                EXIT,
                json!({"runs": runs}),
                "a backup run in the same second as the one before failed",
            )
        });
        let state = super::super::guest::s3_state(s, &layout)?;
        let docs = Documents::from_state(&state, &layout);
        keys.sort();
        keys.dedup();
        s.record(parents_check(&docs, &layout, &keys));
        let mut parts = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let source = super::snapshot_of(s, key);
            parts.push(super::restore_check(
                s,
                RESTORE,
                &sv,
                key,
                source.as_deref(),
                &format!("rapid-{i}"),
            )?);
        }
        s.record(super::super::restore::all_passed(
            RESTORE,
            parts,
            json!({"manifests": keys}),
            "every manifest the rapid runs published restored equal to its snapshot",
            "a manifest of the rapid runs did not restore",
        ));
        Ok(())
    }
}

/// `line` run with the guest clock held at `epoch` + 0.3 s; prints the
/// second the guest read just before starting it (`YYYYMMDDTHHMMSSZ`).
fn pinned(line: &str, epoch: i64) -> String {
    format!(
        "( while :; do date -s @{epoch}.3 >/dev/null 2>&1; sleep 0.05; done ) & pin=$!; \
         sleep 0.1; date -u +%Y%m%dT%H%M%SZ; {line}; rc=$?; kill $pin 2>/dev/null; wait $pin 2>/dev/null; exit $rc"
    )
}

/// Set the guest's clock to the host's again.
fn set_clock_from_host(s: &mut Session) -> Result<()> {
    let cmd = crate::util::set_clock_command(std::time::SystemTime::now())?;
    s.vm.ssh()
        .run("clock-from-host", &cmd, std::time::Duration::from_secs(60))?;
    Ok(())
}

/// Seconds since the epoch of a contract TS (`YYYYMMDDTHHMMSSZ`).
fn ts_epoch(ts: &str) -> Result<i64> {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(ts, &fmt)
        .with_context(|| format!("the TS {ts:?} is not YYYYMMDDTHHMMSSZ"))?;
    Ok(t.assume_utc().unix_timestamp())
}

/// `verify.rapid_runs.parents`: no manifest of `keys` names itself, a
/// missing manifest or one not older than itself as its parent.
fn parents_check(docs: &Documents, layout: &Layout, keys: &[String]) -> Check {
    let ts_of = |k: &str| match layout.classify(k) {
        KeyClass::Manifest { ts, .. } => Some(ts),
        _ => None,
    };
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for key in keys {
        let Some(Ok(m)) = docs.manifests.get(key) else {
            problems.push(Problem::about(key, "not stored or unreadable"));
            continue;
        };
        let Some(parent) = &m.parent_manifest else {
            seen.push(json!({"manifest": key, "parent": null}));
            continue;
        };
        seen.push(json!({"manifest": key, "parent": parent}));
        if parent == key {
            problems.push(Problem::about(key, "names itself as its parent"));
        } else if !docs.manifests.contains_key(parent) {
            problems.push(Problem::about(
                key,
                format!("names {parent}, which is not stored, as its parent"),
            ));
        } else if ts_of(parent) >= ts_of(key) {
            problems.push(Problem::about(
                key,
                format!("names {parent}, which is not older, as its parent"),
            ));
        }
    }
    Check::from_problems(
        PARENTS,
        problems,
        Verdict::Fail,
        json!({"manifests": seen}),
        format!(
            "{} manifest(s), each with an older stored parent or none",
            keys.len()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_epoch_reads_the_contract_ts() {
        assert_eq!(ts_epoch("20261127T205300Z").unwrap(), 1795812780);
        assert!(ts_epoch("2026-11-27").is_err());
    }

    #[test]
    fn pinned_holds_the_clock_around_the_line_and_keeps_its_status() {
        let l = pinned("tool backup", 1795812780);
        assert!(l.contains("date -s @1795812780.3"), "{l}");
        assert!(l.contains("tool backup; rc=$?"), "{l}");
        assert!(l.ends_with("exit $rc"), "{l}");
    }
}
