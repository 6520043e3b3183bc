//! The final plain-text table printed on the terminal: one line per check,
//! the reasons for the exit code, and the benchmark figures.

use super::benchmark::Benchmark;
use super::outcome::{effective_verdict, evaluate};
use super::results::RunReport;
use crate::verify::Verdict;
use std::fmt::Write as _;

/// Diagnoses are cut to this many characters in the table (results.json has them whole).
const DIAGNOSIS_WIDTH: usize = 90;

pub fn render(r: &RunReport) -> String {
    let mut out = String::new();
    let name_w = r
        .scenarios
        .iter()
        .flat_map(|s| s.checks.iter().map(|c| c.name.len()))
        .max()
        .unwrap_or(5)
        .max(5);
    let scen_w = r
        .scenarios
        .iter()
        .map(|s| s.full_name().len())
        .max()
        .unwrap_or(8)
        .max(8);
    let _ = writeln!(
        out,
        "{:<scen_w$}  {:<name_w$}  {:<7}  DIAGNOSIS",
        "SCENARIO", "CHECK", "VERDICT"
    );
    for s in &r.scenarios {
        let scenario = s.full_name();
        if let Some(e) = &s.infra_error {
            let _ = writeln!(
                out,
                "{:<scen_w$}  {:<name_w$}  {:<7}  {}",
                scenario,
                "(infrastructure)",
                "ERROR",
                cut(e)
            );
        }
        for c in &s.checks {
            let v = effective_verdict(&c.verdict, r.strict);
            let label = match (&v, &c.verdict) {
                (Verdict::Fail, Verdict::Warn) => "FAIL*".to_string(),
                _ => v.label().to_uppercase(),
            };
            let _ = writeln!(
                out,
                "{:<scen_w$}  {:<name_w$}  {:<7}  {}",
                scenario,
                c.name,
                label,
                cut(&c.diagnosis)
            );
        }
    }
    let e = evaluate(r);
    let _ = writeln!(
        out,
        "\nchecks: {} pass, {} fail, {} warn, {} skip{}",
        e.counts.pass,
        e.counts.fail,
        e.counts.warn,
        e.counts.skip,
        if r.strict {
            " (strict: warnings fail, marked FAIL*)"
        } else {
            ""
        }
    );
    for reason in &e.reasons {
        let _ = writeln!(out, "  {reason}");
    }
    let b = Benchmark::from_report(r);
    if !b.transfers.is_empty() || !b.phases.is_empty() {
        let _ = writeln!(out, "\nbenchmark ({}):", r.accel);
        for t in &b.transfers {
            let rate = t
                .mb_per_second
                .map_or_else(|| "-".to_string(), |m| format!("{m:.2} MB/s"));
            let kind = match t.transfer.kind {
                super::TransferKind::Backup => "backup",
                super::TransferKind::Restore => "restore",
            };
            let _ = writeln!(
                out,
                "  {kind:<7} {:<12} {:<10} {:>12} bytes {:>9.3} s  {rate}",
                t.transfer.scenario, t.transfer.subvolume, t.transfer.bytes, t.transfer.seconds
            );
        }
        for p in &b.phases {
            let _ = writeln!(out, "  phase   {:<23} {:>9.3} s", p.name, p.seconds);
        }
        let _ = writeln!(out, "  total   {:<23} {:>9.3} s", "", r.seconds);
        let _ = writeln!(
            out,
            "  harness overhead {:.0}% of wall (tool {:.1} s, fixture {:.1} s; target <= {:.0}%): {}",
            b.overhead_share * 100.0,
            b.work.tool,
            b.work.fixture,
            super::benchmark::OVERHEAD_TARGET * 100.0,
            super::benchmark::met(b.overhead_share <= super::benchmark::OVERHEAD_TARGET)
        );
        if let Some(per) = b.boot_seconds_per_start {
            let _ = writeln!(
                out,
                "  {}",
                super::benchmark::boot_per_start_line(per, b.work.vm_starts)
            );
        }
    }
    let _ = writeln!(out, "exit {}", e.outcome.code());
    out
}

fn cut(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    if line.chars().count() <= DIAGNOSIS_WIDTH {
        line.to_string()
    } else {
        let head: String = line.chars().take(DIAGNOSIS_WIDTH - 3).collect();
        format!("{head}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden() {
        let got = render(&crate::report::sample::report());
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/report/testdata/table.txt");
        if std::env::var_os("VMH_BLESS").is_some() {
            std::fs::write(path, &got).unwrap();
        }
        let want = std::fs::read_to_string(path).unwrap();
        assert_eq!(got, want, "\n--- got ---\n{got}");
    }

    #[test]
    fn long_diagnosis_is_cut() {
        let long = "x".repeat(200);
        assert_eq!(cut(&long).chars().count(), DIAGNOSIS_WIDTH);
        assert_eq!(cut("a\nb"), "a");
    }
}
