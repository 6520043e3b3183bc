//! The exit code a report implies: 0 nothing failed; 1 the tool failed a
//! check (or a check could not be judged because the tool failed what it
//! needed: a skip blocked by the tool); 2 the harness failed (an
//! infrastructure error anywhere, or, on the embedded endpoint, a check
//! skipped for a reason of the harness's or a promised check that never
//! ran). A harness failure outranks a tool failure: its verdicts cannot be
//! trusted.

use super::results::{RunReport, ScenarioReport};
use crate::exit::Outcome;
use crate::verify::Verdict;
use serde::Serialize;

/// A check's verdict after `strict` (warnings become failures).
pub fn effective_verdict(v: &Verdict, strict: bool) -> Verdict {
    match v {
        Verdict::Warn if strict => Verdict::Fail,
        other => other.clone(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub skip: usize,
}

impl Counts {
    /// Add another run's counts (the groups of a suite).
    pub fn add(&mut self, o: &Counts) {
        self.pass += o.pass;
        self.fail += o.fail;
        self.warn += o.warn;
        self.skip += o.skip;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub outcome: Outcome,
    /// Why the outcome is not Passed, one line each: the harness's
    /// reasons first.
    pub reasons: Vec<String>,
    /// How many of `reasons` are the harness's.
    pub harness_reasons: usize,
    pub counts: Counts,
    /// The checks that failed (after `strict`), in the order they ran.
    pub failures: Vec<FailedCheck>,
}

/// A check that failed, with its whole diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedCheck {
    pub scenario: String,
    pub check: String,
    /// A warning that `strict` turned into a failure.
    pub strict_warning: bool,
    pub diagnosis: String,
}

pub fn evaluate(r: &RunReport) -> Evaluation {
    let embedded = r.backend == "embedded";
    let mut harness = Vec::new();
    let mut failures = Vec::new();
    let mut counts = Counts::default();
    // Skips the tool caused (what they needed failed): the tool's failure too.
    let mut blocked = Vec::new();
    for e in &r.harness_errors {
        harness.push(format!("harness error: {e}"));
    }
    for s in &r.scenarios {
        let name = s.full_name();
        if let Some(e) = &s.infra_error {
            harness.push(format!("{name}: infrastructure error: {e}"));
        }
        for c in &s.checks {
            match effective_verdict(&c.verdict, r.strict) {
                Verdict::Pass => counts.pass += 1,
                Verdict::Warn => counts.warn += 1,
                Verdict::Fail => {
                    counts.fail += 1;
                    failures.push(FailedCheck {
                        scenario: name.clone(),
                        check: c.name.clone(),
                        strict_warning: c.verdict == Verdict::Warn,
                        diagnosis: c.diagnosis.clone(),
                    });
                }
                Verdict::Skip(reason) => {
                    counts.skip += 1;
                    if let Some(by) = &c.blocked_by {
                        blocked.push(format!("{name}: {} {reason} ({by} failed)", c.name));
                    }
                }
            }
        }
        if embedded {
            harness.extend(embedded_reasons(s));
        }
    }
    let mut tool: Vec<String> = failures.iter().map(FailedCheck::reason).collect();
    tool.extend(blocked);
    let outcome = if !harness.is_empty() {
        Outcome::HarnessFailed
    } else if !tool.is_empty() {
        Outcome::ToolFailed
    } else {
        Outcome::Passed
    };
    let harness_reasons = harness.len();
    harness.extend(tool);
    Evaluation {
        outcome,
        reasons: harness,
        harness_reasons,
        counts,
        failures,
    }
}

impl FailedCheck {
    /// "scenario: check failed: first line of the diagnosis".
    pub fn reason(&self) -> String {
        let strict = if self.strict_warning {
            " (warning, strict)"
        } else {
            ""
        };
        format!(
            "{}: {} failed{strict}: {}",
            self.scenario,
            self.check,
            first_line(&self.diagnosis)
        )
    }
}

/// On the embedded endpoint every promised check must run and none may be
/// skipped: what broke that promise in one scenario, one line each.
pub fn embedded_reasons(s: &ScenarioReport) -> Vec<String> {
    let name = s.full_name();
    let mut out = Vec::new();
    for c in &s.checks {
        match &c.verdict {
            Verdict::Skip(_) if c.blocked_by.is_some() => {}
            Verdict::Skip(reason) => out.push(format!(
                "{name}: {} was skipped ({reason}); on the embedded endpoint no check may be skipped unless the tool failed what it needs",
                c.name
            )),
            _ => {}
        }
    }
    if s.infra_error.is_none() {
        for want in &s.expected_checks {
            if !s.checks.iter().any(|c| &c.name == want) {
                out.push(format!("{name}: check {want} did not run"));
            }
        }
    }
    out
}

impl Evaluation {
    /// The harness's reasons (infrastructure errors, skipped or missing checks).
    pub fn harness(&self) -> &[String] {
        &self.reasons[..self.harness_reasons]
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::{check, report};
    use crate::verify::Check;

    fn passing() -> RunReport {
        let mut r = report();
        r.scenarios[0].checks[1].verdict = Verdict::Pass;
        r.scenarios[1].checks[1].verdict = Verdict::Pass;
        r
    }

    #[test]
    fn all_pass_with_a_warning_is_0() {
        let e = evaluate(&passing());
        assert_eq!(e.outcome, Outcome::Passed);
        assert_eq!(e.outcome.code(), 0);
        assert_eq!(
            e.counts,
            Counts {
                pass: 3,
                fail: 0,
                warn: 1,
                skip: 0
            }
        );
    }

    #[test]
    fn strict_turns_warning_into_1() {
        let mut r = passing();
        r.strict = true;
        let e = evaluate(&r);
        assert_eq!(e.outcome, Outcome::ToolFailed);
        assert!(
            e.reasons[0].contains("verify.orphans.multipart failed (warning, strict)"),
            "{:?}",
            e.reasons
        );
    }

    #[test]
    fn failed_check_is_1() {
        let mut r = report();
        r.scenarios[1].checks[1].verdict = Verdict::Pass;
        let e = evaluate(&r);
        assert_eq!(e.outcome.code(), 1);
        assert_eq!(
            e.reasons,
            vec!["full: verify.manifest.sha256 failed: 1 problem(s): k: chunk 1 hashes to x"]
        );
    }

    #[test]
    fn skip_on_embedded_is_2_but_not_on_aws() {
        let mut r = passing();
        r.scenarios[1].checks[1].verdict = Verdict::Skip("archived".into());
        assert_eq!(evaluate(&r).outcome.code(), 2);
        r.backend = "aws".into();
        assert_eq!(evaluate(&r).outcome.code(), 0);
    }

    #[test]
    fn a_skip_the_tool_caused_is_1_not_2() {
        let mut r = passing();
        r.scenarios[1].checks[1] = Check::blocked(
            "verify.stream.complete",
            "full: verify.backup.exit[data]",
            "the backup it needs failed",
        );
        let e = evaluate(&r);
        assert_eq!(e.outcome, Outcome::ToolFailed, "{:?}", e.reasons);
        assert_eq!(e.harness_reasons, 0);
        assert_eq!(e.counts.skip, 1);
        assert!(
            e.reasons[0].contains("verify.stream.complete not judged: the backup it needs failed"),
            "{:?}",
            e.reasons
        );
    }

    #[test]
    fn missing_check_on_embedded_is_2() {
        let mut r = passing();
        r.scenarios[0].checks.pop();
        let e = evaluate(&r);
        assert_eq!(e.outcome.code(), 2);
        assert!(e.reasons[0].contains("verify.manifest.sha256 did not run"));
    }

    #[test]
    fn infra_error_outranks_tool_failure() {
        let mut r = report();
        r.scenarios[1].infra_error =
            Some("the tool had already finished when the signal was sent".into());
        r.scenarios[1].checks = vec![check("verify.x", Verdict::Pass, "")];
        assert_eq!(evaluate(&r).outcome.code(), 2);
        let mut r = passing();
        r.harness_errors.push("QEMU exited during boot".into());
        assert_eq!(evaluate(&r).outcome.code(), 2);
    }
}
