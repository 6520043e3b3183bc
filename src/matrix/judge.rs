//! A case's verdict: with a defect on, the named check reports the verdict
//! the catalogue gives and no unrelated check fails; without one (the
//! baseline), everything passes. Either way the harness must have carried
//! every scenario out.

use super::table::DefectRow;
use crate::report::RunReport;
use crate::verify::Verdict;
use serde::Serialize;

/// What one case showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseResult {
    /// The defect, or "baseline".
    pub case: String,
    /// The scenario that must catch it.
    pub scenario: String,
    pub check: Option<String>,
    /// "fail" or "warn"; None for the baseline.
    pub expected: Option<String>,
    /// The named check's instances (`name[variant]`) and their verdicts.
    pub got: Vec<(String, String)>,
    /// The named check reported the expected verdict.
    pub caught: bool,
    /// Failures of other checks (the defect must not be blamed on them).
    pub unrelated: Vec<String>,
    /// The harness's own errors in this case.
    pub harness: Vec<String>,
    pub seconds: f64,
    /// Where the case's reports are.
    pub report_dir: String,
    /// The quirk code paths (`quirk:where`) the tool logged in this case.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quirk_paths: Vec<String>,
    /// A quirk case: the code paths of the quirk it did not show (it did not really run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unproven: Vec<String>,
}

impl CaseResult {
    /// The catalogue's promise held in this case.
    pub fn held(&self) -> bool {
        self.harness.is_empty()
            && self.unrelated.is_empty()
            && self.caught
            && self.unproven.is_empty()
    }
}

/// `verify.x[data]` → `verify.x`.
pub fn base_name(check: &str) -> &str {
    check.split_once('[').map_or(check, |(b, _)| b)
}

fn verdict_word(v: &Verdict) -> String {
    match v {
        Verdict::Pass => "pass".into(),
        Verdict::Fail => "fail".into(),
        Verdict::Warn => "warn".into(),
        Verdict::Skip(why) => format!("skip ({why})"),
    }
}

/// What a case must show.
#[derive(Debug, Clone, Copy)]
pub enum Expect<'a> {
    /// The correct tool: nothing fails, and none of the `soft` checks (those
    /// a defect must make warn) warns already. Other warnings are allowed
    /// (e.g. objects a killed backup abandoned, which the requirements allow).
    Baseline { soft: &'a [String] },
    /// A defect: its check reports its verdict, and only the `also` checks
    /// (its documented consequences) may fail besides.
    Defect {
        row: &'a DefectRow,
        also: &'a [String],
    },
}

/// Judge a case's report.
pub fn judge(report: &RunReport, expect: Expect, report_dir: &str) -> CaseResult {
    let eval = crate::report::evaluate(report);
    let row = match expect {
        Expect::Defect { row, .. } => Some(row),
        Expect::Baseline { .. } => None,
    };
    // The baseline has no check of its own to catch.
    let mut caught = row.is_none();
    let mut got = Vec::new();
    let mut unrelated = Vec::new();
    for s in &report.scenarios {
        for c in &s.checks {
            let base = base_name(&c.name);
            if let Some(r) = row.filter(|r| r.check == base) {
                caught |= c.verdict == r.verdict;
                got.push((c.name.clone(), verdict_word(&c.verdict)));
                continue;
            }
            let bad = match expect {
                Expect::Baseline { soft } => {
                    c.verdict == Verdict::Fail
                        || (c.verdict == Verdict::Warn && soft.iter().any(|a| a == base))
                }
                Expect::Defect { also, .. } => {
                    c.verdict == Verdict::Fail && !also.iter().any(|a| a == base)
                }
            };
            if bad {
                unrelated.push(format!(
                    "{}: {} {}: {}",
                    s.name,
                    c.name,
                    verdict_word(&c.verdict),
                    c.diagnosis.lines().next().unwrap_or_default()
                ));
            }
        }
    }
    CaseResult {
        case: row.map_or_else(|| "baseline".to_string(), |r| r.defect.clone()),
        scenario: row.map_or_else(|| "baseline".to_string(), |r| r.scenario.clone()),
        check: row.map(|r| r.check.clone()),
        expected: row.map(|r| verdict_word(&r.verdict)),
        got,
        caught,
        unrelated,
        harness: eval.harness().to_vec(),
        seconds: report.seconds,
        report_dir: report_dir.to_string(),
        quirk_paths: Vec::new(),
        unproven: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::report;
    use crate::verify::Check;
    use serde_json::json;

    fn row(check: &str, verdict: Verdict) -> DefectRow {
        DefectRow {
            defect: "wrong-sha256".into(),
            scenario: "large".into(),
            check: check.into(),
            verdict,
            needs: String::new(),
        }
    }

    /// The sample report with every check passing but the named ones set.
    fn with(verdicts: &[(&str, Verdict)]) -> RunReport {
        let mut r = report();
        for s in &mut r.scenarios {
            for c in &mut s.checks {
                c.verdict = Verdict::Pass;
            }
        }
        for (name, v) in verdicts {
            r.scenarios[0]
                .checks
                .push(Check::new(name, v.clone(), json!({}), "why\nmore"));
        }
        r
    }

    #[test]
    fn a_caught_defect_holds() {
        let r = with(&[("verify.manifest.chunk_order[data]", Verdict::Fail)]);
        let c = judge(
            &r,
            defect(&row("verify.manifest.chunk_order", Verdict::Fail), &[]),
            "d",
        );
        assert!(c.caught && c.held(), "{c:?}");
        assert_eq!(
            c.got,
            [(
                "verify.manifest.chunk_order[data]".to_string(),
                "fail".to_string()
            )]
        );
    }

    #[test]
    fn an_escaped_defect_or_an_unrelated_failure_does_not_hold() {
        let r = with(&[("verify.other", Verdict::Fail)]);
        let c = judge(
            &r,
            defect(&row("verify.manifest.chunk_order", Verdict::Fail), &[]),
            "d",
        );
        assert!(!c.caught && !c.held());
        assert_eq!(c.unrelated, ["full: verify.other fail: why"]);
        let also = ["verify.other".to_string()];
        let r = with(&[
            ("verify.other", Verdict::Fail),
            ("verify.manifest.chunk_order", Verdict::Fail),
        ]);
        assert!(judge(
            &r,
            defect(&row("verify.manifest.chunk_order", Verdict::Fail), &also),
            "d"
        )
        .held());
    }

    #[test]
    fn a_warn_defect_needs_the_warning_not_a_failure() {
        let r = with(&[("verify.orphans.multipart[SIGKILL]", Verdict::Fail)]);
        assert!(
            !judge(
                &r,
                defect(&row("verify.orphans.multipart", Verdict::Warn), &[]),
                "d"
            )
            .caught
        );
        let r = with(&[("verify.orphans.multipart[SIGKILL]", Verdict::Warn)]);
        assert!(judge(
            &r,
            defect(&row("verify.orphans.multipart", Verdict::Warn), &[]),
            "d"
        )
        .held());
    }

    fn defect<'a>(row: &'a DefectRow, also: &'a [String]) -> Expect<'a> {
        Expect::Defect { row, also }
    }

    #[test]
    fn the_baseline_holds_when_nothing_fails_and_no_soft_check_warns() {
        let soft = ["verify.orphans.multipart".to_string()];
        let baseline = Expect::Baseline { soft: &soft };
        assert!(judge(&with(&[]), baseline, "d").held());
        assert!(judge(
            &with(&[("verify.orphans.objects", Verdict::Warn)]),
            baseline,
            "d"
        )
        .held());
        let c = judge(
            &with(&[("verify.orphans.multipart[SIGKILL]", Verdict::Warn)]),
            baseline,
            "d",
        );
        assert!(!c.held());
        assert!(!judge(&with(&[("verify.x", Verdict::Fail)]), baseline, "d").held());
        let mut r = with(&[]);
        r.scenarios[0].infra_error = Some("ssh lost".into());
        let c = judge(&r, baseline, "d");
        assert!(!c.held() && c.harness[0].contains("ssh lost"), "{c:?}");
    }
}
