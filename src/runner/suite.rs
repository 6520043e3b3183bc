//! Several profiles in one `run-all`: each profile is a group run in a VM
//! of its own (own endpoint, port, run directory), up to `-j` at once, and
//! one merged report in `run/suite-<id>/`: `suite.json`, the groups' reports
//! merged (results.json, junit.xml, benchmark.json, report.html; see
//! `report::merge`), and a table with one line per group.

use super::{run_group, GroupDone, RunOptions};
use crate::events::{self, Scope};
use crate::exit::Outcome;
use crate::report::{self, summary, RunReport};
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One group's line of `suite.json`.
#[derive(Debug, Clone, Serialize)]
pub struct GroupLine {
    pub profile: String,
    pub run_id: Option<String>,
    pub run_dir: Option<String>,
    pub exit: i32,
    pub counts: report::outcome::Counts,
    pub seconds: f64,
    pub error: Option<String>,
}

/// `suite.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    pub suite_id: String,
    pub jobs: usize,
    pub jobs_reason: String,
    pub seconds: f64,
    pub groups: Vec<GroupLine>,
}

impl SuiteReport {
    /// The worst group's: a harness failure outranks a tool failure.
    pub fn outcome(&self) -> Outcome {
        match self.groups.iter().map(|g| g.exit).max().unwrap_or(0) {
            0 => Outcome::Passed,
            1 => Outcome::ToolFailed,
            _ => Outcome::HarnessFailed,
        }
    }
}

/// Run the groups, write and print the merged report.
pub fn run(profiles: &[PathBuf], opts: &RunOptions, jobs: Option<usize>) -> Result<Outcome> {
    Ok(run_suite(profiles, opts, jobs)?.0.outcome())
}

/// `run`, with the suite's report and every group's report.
pub fn run_suite(
    profiles: &[PathBuf],
    opts: &RunOptions,
    jobs: Option<usize>,
) -> Result<(SuiteReport, Vec<RunReport>)> {
    let started = Instant::now();
    let started_at = crate::util::now_rfc3339();
    // Bad profiles and a bad BTRFS_TO_S3_CMD are usage errors: before any VM.
    let mut memory = 0;
    for p in profiles {
        let profile = crate::profile::load(p)?;
        crate::profile::tool::tool_command(&profile.tool.cmd, opts.cmd_override.as_deref())?;
        memory = memory.max(profile.vm.memory_mib);
    }
    let jobs = crate::jobs::here(jobs, memory);
    let suite_id = crate::vm::files::new_run_id();
    let dir = suite_dir(&opts.runs_dir, &suite_id);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    events::progress(
        Scope::Suite(suite_id.clone()),
        format!(
            "{} group(s), {} VM(s) at once: {}",
            profiles.len(),
            jobs.n.min(profiles.len()),
            jobs.reason
        ),
    );
    let done = crate::jobs::map(
        jobs.n,
        profiles.to_vec(),
        crate::signals::interrupted,
        |_, p: PathBuf| {
            let t = Instant::now();
            (run_group(&p, opts, None), t.elapsed().as_secs_f64())
        },
    );
    let mut groups = Vec::new();
    let mut reports: Vec<RunReport> = Vec::new();
    for (p, d) in profiles.iter().zip(done) {
        let (line, r) = group_line(p, d);
        groups.push(line);
        reports.extend(r);
    }
    let suite = SuiteReport {
        suite_id,
        jobs: jobs.n,
        jobs_reason: jobs.reason,
        seconds: started.elapsed().as_secs_f64(),
        groups,
    };
    std::fs::write(
        dir.join(SUITE_JSON),
        serde_json::to_string_pretty(&suite)? + "\n",
    )?;
    let mut m = merged(&suite, profiles, &reports);
    if m.started_at.is_empty() {
        m.started_at = started_at;
    }
    report::write_all(&dir, &m)?;
    let _ = report::update_latest(&opts.runs_dir, &format!("suite-{}", suite.suite_id));
    events::emit(events::Event::Report {
        text: format!(
            "{}\nreports: {}\nreport: {}",
            render(&suite),
            dir.display(),
            dir.join(report::HTML).display()
        ),
    });
    Ok((suite, reports))
}

use crate::report::SUITE_JSON;

/// Where a suite's merged reports go.
pub fn suite_dir(runs: &Path, suite_id: &str) -> PathBuf {
    runs.join(format!("suite-{suite_id}"))
}

/// The suite's one report: every group's merged, the suite's wall time, and
/// a harness error for each group that left no report.
fn merged(suite: &SuiteReport, profiles: &[PathBuf], reports: &[RunReport]) -> RunReport {
    let refs: Vec<&RunReport> = reports.iter().collect();
    let mut m = report::merge::merge(&refs, &suite.suite_id);
    m.profile = profiles
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(report::merge::PROFILE_SEP);
    m.seconds = suite.seconds;
    for g in &suite.groups {
        if let Some(e) = &g.error {
            m.harness_errors
                .push(format!("{}: {e}", report::merge::group_name(&g.profile)));
        }
    }
    m
}

/// `run-all --json` of a suite: its groups in order, each with its run's
/// summary when it has a report (`reports`, matched by run id).
pub fn summary(s: &SuiteReport, runs: &Path, reports: &[RunReport]) -> summary::SuiteSummary {
    let dir = suite_dir(runs, &s.suite_id);
    let mut counts = report::outcome::Counts::default();
    let groups = s
        .groups
        .iter()
        .map(|g| {
            let run = g.run_id.as_ref().and_then(|id| {
                let r = reports.iter().find(|r| &r.run_id == id)?;
                Some(summary::run(r, Path::new(g.run_dir.as_deref()?)))
            });
            counts.add(&g.counts);
            summary::GroupSummary {
                profile: g.profile.clone(),
                exit_code: g.exit,
                error: g.error.clone(),
                run,
            }
        })
        .collect();
    summary::SuiteSummary {
        suite_id: s.suite_id.clone(),
        outcome: summary::outcome_name(s.outcome()),
        exit_code: s.outcome().code(),
        counts,
        groups,
        reports: summary::SuiteFiles {
            suite_json: dir.join(SUITE_JSON),
            merged: summary::RunFiles::of(&dir),
        },
        suite_dir: dir,
    }
}

fn group_line(p: &Path, done: Option<(Result<GroupDone>, f64)>) -> (GroupLine, Option<RunReport>) {
    let mut line = GroupLine {
        profile: p.display().to_string(),
        run_id: None,
        run_dir: None,
        exit: Outcome::HarnessFailed.code(),
        counts: Default::default(),
        seconds: 0.0,
        error: None,
    };
    match done {
        None => {
            line.error = Some("not run: interrupted".into());
            (line, None)
        }
        Some((Err(e), secs)) => {
            line.seconds = secs;
            line.error = Some(format!("{e:#}"));
            (line, None)
        }
        Some((Ok(g), secs)) => {
            line.seconds = secs;
            line.run_id = Some(g.report.run_id.clone());
            line.run_dir = Some(g.run_dir.display().to_string());
            line.exit = g.outcome.code();
            line.counts = report::evaluate(&g.report).counts;
            (line, Some(g.report))
        }
    }
}

/// One line per group, then the suite's wall time and exit code.
pub fn render(s: &SuiteReport) -> String {
    let mut out = format!(
        "{:<28} {:<24} {:>5} {:>5} {:>5} {:>5} {:>8}  exit\n",
        "group", "run", "pass", "fail", "warn", "skip", "secs"
    );
    for g in &s.groups {
        out.push_str(&format!(
            "{:<28} {:<24} {:>5} {:>5} {:>5} {:>5} {:>8.1}  {}{}\n",
            g.profile,
            g.run_id.as_deref().unwrap_or("-"),
            g.counts.pass,
            g.counts.fail,
            g.counts.warn,
            g.counts.skip,
            g.seconds,
            g.exit,
            g.error
                .as_deref()
                .map(|e| format!("  {}", e.lines().next().unwrap_or_default()))
                .unwrap_or_default()
        ));
    }
    out.push_str(&format!(
        "suite {}: {} group(s), -j {}, {:.1}s, exit {}",
        s.suite_id,
        s.groups.len(),
        s.jobs,
        s.seconds,
        s.outcome().code()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(profile: &str, exit: i32) -> GroupLine {
        GroupLine {
            profile: profile.into(),
            run_id: Some("r".into()),
            run_dir: None,
            exit,
            counts: Default::default(),
            seconds: 1.0,
            error: None,
        }
    }

    #[test]
    fn the_worst_group_decides_and_errors_are_harness_failures() {
        let mut s = SuiteReport {
            suite_id: "x".into(),
            jobs: 2,
            jobs_reason: String::new(),
            seconds: 2.0,
            groups: vec![line("a.toml", 0), line("b.toml", 0)],
        };
        assert_eq!(s.outcome(), Outcome::Passed);
        s.groups[1].exit = 1;
        assert_eq!(s.outcome(), Outcome::ToolFailed);
        s.groups[0].exit = 2;
        assert_eq!(s.outcome(), Outcome::HarnessFailed);
        let (l, r) = group_line(Path::new("c.toml"), None);
        assert_eq!((l.exit, r.is_none()), (2, true));
        let (l, _) = group_line(
            Path::new("d.toml"),
            Some((Err(anyhow::anyhow!("boot failed")), 3.0)),
        );
        assert_eq!((l.exit, l.error.as_deref()), (2, Some("boot failed")));
        assert!(render(&s).ends_with("exit 2"));
    }

    #[test]
    fn the_merged_report_names_every_group_and_a_lost_one_is_a_harness_error() {
        let mut a = crate::report::sample::report();
        a.profile = "config/a.toml".into();
        let mut s = SuiteReport {
            suite_id: "s1".into(),
            jobs: 2,
            jobs_reason: String::new(),
            seconds: 7.5,
            groups: vec![line("config/a.toml", 2), line("config/b.toml", 2)],
        };
        s.groups[1].error = Some("boot failed".into());
        let profiles = [
            PathBuf::from("config/a.toml"),
            PathBuf::from("config/b.toml"),
        ];
        let m = merged(&s, &profiles, &[a]);
        assert_eq!(m.run_id, "s1");
        assert_eq!(m.profile, "config/a.toml + config/b.toml");
        assert_eq!(m.groups, ["a"]);
        assert_eq!(m.seconds, 7.5, "the suite's wall time");
        assert_eq!(m.harness_errors, ["b: boot failed"]);
        assert_eq!(report::evaluate(&m).outcome, s.outcome());
    }

    #[test]
    fn json_summary_has_every_group_and_adds_counts_up() {
        let r = crate::report::sample::report();
        let mut with_run = line("a.toml", 2);
        with_run.run_id = Some(r.run_id.clone());
        with_run.run_dir = Some("/runs/a".into());
        with_run.counts = report::evaluate(&r).counts;
        let mut failed = line("b.toml", 2);
        failed.run_id = None;
        failed.error = Some("boot failed".into());
        let s = SuiteReport {
            suite_id: "s1".into(),
            jobs: 2,
            jobs_reason: String::new(),
            seconds: 2.0,
            groups: vec![with_run, failed],
        };
        let v = serde_json::to_value(summary::Summary::Suite(summary(
            &s,
            Path::new("/runs"),
            &[r],
        )))
        .unwrap();
        assert_eq!(v["kind"], "suite");
        assert_eq!(v["suite_dir"], "/runs/suite-s1");
        assert_eq!(
            (v["outcome"].as_str(), v["exit_code"].as_i64()),
            (Some("harness_failed"), Some(2))
        );
        assert_eq!(v["counts"]["fail"], 1);
        assert_eq!(v["counts"]["pass"], 1);
        assert_eq!(v["groups"][0]["run"]["run_dir"], "/runs/a");
        assert_eq!(
            v["groups"][0]["run"]["failing_checks"][0]["check"],
            "verify.manifest.sha256"
        );
        assert_eq!(v["groups"][1]["error"], "boot failed");
        assert_eq!(v["groups"][1]["run"], serde_json::Value::Null);
        assert_eq!(v["reports"]["suite_json"], "/runs/suite-s1/suite.json");
        assert_eq!(v["reports"]["junit_xml"], "/runs/suite-s1/junit.xml");
    }
}
