//! `junit.xml`: one testsuite per scenario, one testcase per check.
//! fail -> failure (diagnosis, evidence); warn -> passed with system-out, or
//! failure under strict; skip -> skipped; an infrastructure error or a
//! promised check that never ran -> error.

use super::outcome::effective_verdict;
use super::results::RunReport;
use crate::verify::{Check, Verdict};
use anyhow::{anyhow, Result};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

fn evidence_text(c: &Check) -> String {
    serde_json::to_string_pretty(&c.evidence).unwrap_or_default()
}

fn failure(kind: NonSuccessKind, message: &str, description: String) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(kind);
    s.set_message(message.lines().next().unwrap_or_default());
    s.set_description(description);
    s
}

fn case(c: &Check, scenario: &str, strict: bool) -> TestCase {
    let status = match effective_verdict(&c.verdict, strict) {
        Verdict::Pass | Verdict::Warn => TestCaseStatus::success(),
        Verdict::Fail => failure(
            NonSuccessKind::Failure,
            &c.diagnosis,
            format!("{}\n\nevidence:\n{}", c.diagnosis, evidence_text(c)),
        ),
        Verdict::Skip(reason) => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(reason);
            s
        }
    };
    let mut t = TestCase::new(c.name.as_str(), status);
    t.set_classname(format!("vmharness.{scenario}"));
    if c.verdict == Verdict::Warn && !strict {
        t.set_system_out(format!(
            "WARNING: {}\n\nevidence:\n{}",
            c.diagnosis,
            evidence_text(c)
        ));
    }
    t
}

pub fn to_xml(r: &RunReport) -> Result<String> {
    let mut report = Report::new("vmharness");
    report.set_time(Duration::from_secs_f64(r.seconds.max(0.0)));
    add_suites(&mut report, r);
    serialise(report)
}

fn serialise(report: Report) -> Result<String> {
    report
        .to_string()
        .map_err(|e| anyhow!("serialising junit.xml: {e}"))
}

/// A run's suites: its harness errors, then one per scenario.
/// A merged report's scenarios are named `group/scenario`.
fn add_suites(report: &mut Report, r: &RunReport) {
    if !r.harness_errors.is_empty() {
        let mut suite = TestSuite::new("harness");
        for (i, e) in r.harness_errors.iter().enumerate() {
            let mut t = TestCase::new(
                format!("harness.error.{i}"),
                failure(NonSuccessKind::Error, e, e.clone()),
            );
            t.set_classname("vmharness.harness");
            suite.add_test_case(t);
        }
        report.add_test_suite(suite);
    }
    for s in &r.scenarios {
        let mut suite = TestSuite::new(s.full_name());
        suite.set_time(Duration::from_secs_f64(s.seconds.max(0.0)));
        if let Some(e) = &s.infra_error {
            let mut t = TestCase::new(
                format!("{}.infrastructure", s.name),
                failure(NonSuccessKind::Error, e, e.clone()),
            );
            t.set_classname(format!("vmharness.{}", s.name));
            suite.add_test_case(t);
        }
        for c in &s.checks {
            suite.add_test_case(case(c, &s.name, r.strict));
        }
        if s.infra_error.is_none() && r.backend == "embedded" {
            for want in s
                .expected_checks
                .iter()
                .filter(|w| !s.checks.iter().any(|c| &&c.name == w))
            {
                let msg = format!("check {want} did not run");
                let mut t = TestCase::new(
                    want.as_str(),
                    failure(NonSuccessKind::Error, &msg, msg.clone()),
                );
                t.set_classname(format!("vmharness.{}", s.name));
                suite.add_test_case(t);
            }
        }
        report.add_test_suite(suite);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::report;

    #[test]
    fn golden() {
        let xml = to_xml(&report()).unwrap();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/report/testdata/junit.xml");
        if std::env::var_os("VMH_BLESS").is_some() {
            std::fs::write(path, &xml).unwrap();
        }
        let want = std::fs::read_to_string(path).unwrap();
        assert_eq!(xml, want, "\n--- got ---\n{xml}");
    }

    #[test]
    fn merged_runs_keep_their_suites_apart() {
        let (mut a, b) = (report(), report());
        a.profile = "config/large.toml".into();
        let xml = to_xml(&crate::report::merge::merge(&[&a, &b], "m")).unwrap();
        assert!(xml.contains(r#"<testsuite name="test/full""#), "{xml}");
        assert!(xml.contains(r#"<testsuite name="large/full""#), "{xml}");
        assert!(xml.contains(r#"<testsuite name="test/interrupt""#), "{xml}");
        assert_eq!(
            xml.matches("<failure").count(),
            2 * to_xml(&a).unwrap().matches("<failure").count()
        );
    }

    #[test]
    fn strict_warning_is_a_failure_and_missing_check_an_error() {
        let mut r = report();
        r.strict = true;
        r.scenarios[0].checks.pop();
        let xml = to_xml(&r).unwrap();
        assert!(
            xml.contains(
                r#"<testcase name="verify.orphans.multipart" classname="vmharness.interrupt">"#
            ),
            "{xml}"
        );
        assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
        assert!(xml.contains("check verify.manifest.sha256 did not run"));
        assert_eq!(xml.matches("<error").count(), 1);
    }
}
