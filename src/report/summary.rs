//! `run-all --json`: what a program calling the harness needs after a run,
//! as one JSON document on stdout: the run (or suite) and its directory,
//! the outcome and exit code, counts by verdict, the failing checks with
//! their diagnosis, and where the reports are.

use super::outcome::{Counts, FailedCheck};
use super::RunReport;
use crate::exit::Outcome;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The document: `kind` says which.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Summary {
    /// One profile.
    Run(RunSummary),
    /// Several profiles, each a group.
    Suite(SuiteSummary),
    /// The harness failed before it had a report (a bad profile, no image...).
    Error {
        outcome: &'static str,
        exit_code: i32,
        error: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub run_dir: PathBuf,
    pub profile: String,
    /// passed, tool_failed or harness_failed.
    pub outcome: &'static str,
    pub exit_code: i32,
    pub counts: Counts,
    pub failing_checks: Vec<FailedCheck>,
    /// The harness's reasons for exit 2 (infrastructure errors, checks
    /// skipped or missing on the embedded endpoint).
    pub harness_errors: Vec<String>,
    pub reports: RunFiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunFiles {
    pub results_json: PathBuf,
    pub junit_xml: PathBuf,
    pub benchmark_json: PathBuf,
    pub report_html: PathBuf,
}

impl RunFiles {
    /// The report files `report::write_all` writes into `dir`.
    pub fn of(dir: &std::path::Path) -> RunFiles {
        RunFiles {
            results_json: dir.join(super::RESULTS_JSON),
            junit_xml: dir.join(super::JUNIT_XML),
            benchmark_json: dir.join(super::BENCHMARK_JSON),
            report_html: dir.join(super::HTML),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SuiteSummary {
    pub suite_id: String,
    pub suite_dir: PathBuf,
    pub outcome: &'static str,
    pub exit_code: i32,
    /// Every group's counts added up.
    pub counts: Counts,
    pub groups: Vec<GroupSummary>,
    pub reports: SuiteFiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct SuiteFiles {
    pub suite_json: PathBuf,
    /// The groups' reports merged.
    #[serde(flatten)]
    pub merged: RunFiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupSummary {
    pub profile: String,
    pub exit_code: i32,
    /// Why the group has no report (it failed before, or was interrupted).
    pub error: Option<String>,
    pub run: Option<RunSummary>,
}

/// The outcome's name in the summary.
pub fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "passed",
        Outcome::ToolFailed => "tool_failed",
        Outcome::HarnessFailed | Outcome::Code(_) => "harness_failed",
    }
}

/// One run's summary, from its report and directory.
pub fn run(r: &RunReport, run_dir: &Path) -> RunSummary {
    let eval = super::evaluate(r);
    RunSummary {
        run_id: r.run_id.clone(),
        run_dir: run_dir.to_path_buf(),
        profile: r.profile.clone(),
        outcome: outcome_name(eval.outcome),
        exit_code: eval.outcome.code(),
        counts: eval.counts.clone(),
        failing_checks: eval.failures.clone(),
        harness_errors: eval.harness().to_vec(),
        reports: RunFiles::of(run_dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::report;
    use serde_json::json;

    #[test]
    fn run_summary_of_the_sample() {
        let r = report();
        let v = serde_json::to_value(Summary::Run(run(&r, Path::new("/runs/r1")))).unwrap();
        assert_eq!(v["kind"], "run");
        assert_eq!(v["run_id"], "20240101-000000-abcd");
        assert_eq!(v["run_dir"], "/runs/r1");
        assert_eq!(v["profile"], "config/test.toml");
        // The sample skips a check on the embedded endpoint: a harness failure.
        assert_eq!(v["outcome"], "harness_failed");
        assert_eq!(v["exit_code"], 2);
        assert_eq!(
            v["counts"],
            json!({"pass": 1, "fail": 1, "warn": 1, "skip": 1})
        );
        assert_eq!(
            v["failing_checks"],
            json!([{
                "scenario": "full",
                "check": "verify.manifest.sha256",
                "strict_warning": false,
                "diagnosis": "1 problem(s): k: chunk 1 hashes to x"
            }])
        );
        assert_eq!(v["harness_errors"].as_array().unwrap().len(), 1);
        assert!(v["harness_errors"][0]
            .as_str()
            .unwrap()
            .contains("verify.stream.complete was skipped"));
        assert_eq!(v["reports"]["results_json"], "/runs/r1/results.json");
        assert_eq!(v["reports"]["junit_xml"], "/runs/r1/junit.xml");
        assert_eq!(v["reports"]["benchmark_json"], "/runs/r1/benchmark.json");
    }

    #[test]
    fn a_tool_failure_is_1_and_a_pass_is_0() {
        let mut r = report();
        r.scenarios[1].checks.pop();
        r.scenarios[1].expected_checks.pop();
        let s = run(&r, Path::new("/r"));
        assert_eq!((s.outcome, s.exit_code), ("tool_failed", 1));
        assert!(s.harness_errors.is_empty());
        r.scenarios[0].checks[1].verdict = crate::verify::Verdict::Pass;
        let s = run(&r, Path::new("/r"));
        assert_eq!((s.outcome, s.exit_code), ("passed", 0));
        assert!(s.failing_checks.is_empty());
    }

    #[test]
    fn error_summary() {
        let e = serde_json::to_value(Summary::Error {
            outcome: outcome_name(Outcome::HarnessFailed),
            exit_code: 2,
            error: "x".into(),
        })
        .unwrap();
        assert_eq!(
            e,
            json!({"kind": "error", "outcome": "harness_failed", "exit_code": 2, "error": "x"})
        );
    }
}
