//! `report.html`: one self-contained page (inline CSS and SVG, no script,
//! nothing fetched) with what the run ran on, the verdicts, every check
//! with the evidence of the failing ones, harness errors, throughput and
//! phase charts, and the trend across earlier runs of the same profile.

use super::benchmark::TransferKind;
use super::outcome::{effective_verdict, evaluate, Evaluation};
use super::results::RunReport;
use super::svg::{self, Row, BACKUP, RESTORE, SECONDS};
use super::trend::{self, Point};
use crate::exit::Outcome;
use crate::verify::{Check, Verdict};
use std::fmt::Write as _;

/// Escape text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What an exit code means, in words.
pub fn outcome_words(o: Outcome) -> &'static str {
    match o.code() {
        0 => "all checks passed",
        1 => "the tool under test failed a check",
        _ => "the harness or its infrastructure failed",
    }
}

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1a202c; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #e2e8f0; padding-bottom: 4px; }
code, pre { font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
table { border-collapse: collapse; }
table.facts th { text-align: left; padding: 2px 16px 2px 0; color: #4a5568; font-weight: 600; vertical-align: top; }
table.facts td { padding: 2px 0; }
table.checks { width: 100%; }
table.checks th { text-align: left; background: #edf2f7; padding: 4px 8px; }
table.checks td { padding: 4px 8px; border-top: 1px solid #e2e8f0; vertical-align: top; }
table.checks td:first-child { white-space: nowrap; }
pre.more { white-space: pre-wrap; margin: 4px 0 0; }
nav { margin-top: 10px; }
nav a { margin-right: 14px; color: #2b6cb0; }
.outcome { display: inline-block; padding: 6px 12px; border-radius: 4px; font-weight: 600; color: #fff; }
.outcome-0 { background: #2f855a; } .outcome-1 { background: #c53030; } .outcome-2 { background: #6b46c1; }
.counts span { display: inline-block; margin-right: 12px; padding: 2px 8px; border-radius: 3px; }
.verdict { font-weight: 700; padding: 1px 6px; border-radius: 3px; font-size: 12px; }
.verdict-pass .verdict, .count-pass { background: #c6f6d5; color: #22543d; }
.verdict-fail .verdict, .count-fail { background: #fed7d7; color: #822727; }
.verdict-warn .verdict, .count-warn { background: #fefcbf; color: #744210; }
.verdict-skip .verdict, .count-skip { background: #e2e8f0; color: #2d3748; }
.verdict-error .verdict { background: #e9d8fd; color: #44337a; }
tr.verdict-fail td, tr.verdict-error td { background: #fff5f5; }
pre.evidence { background: #f7fafc; border: 1px solid #e2e8f0; padding: 8px; max-height: 360px; overflow: auto; white-space: pre-wrap; word-break: break-all; margin: 6px 0 0; }
ul.reasons li, ul.errors li { margin: 2px 0; }
ul.errors li { color: #822727; white-space: pre-wrap; }
svg.chart { display: block; margin: 8px 0 16px; font: 12px system-ui, sans-serif; }
svg.chart text { fill: #2d3748; }
.note { color: #718096; }
"#;

/// The whole page for `r`, with `trend` (oldest to newest, `r` last).
pub fn render(r: &RunReport, trend: &[Point]) -> String {
    let e = evaluate(r);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>vmharness {} — exit {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&r.run_id),
        e.outcome.code()
    );
    header(&mut out, r, &e);
    out.push_str("<nav><a href=\"#summary\">verdicts</a><a href=\"#checks\">checks</a><a href=\"#throughput\">throughput</a><a href=\"#phases\">phases</a><a href=\"#trend\">trend</a></nav>\n");
    summary(&mut out, r, &e);
    harness_errors(&mut out, r);
    checks(&mut out, r);
    charts(&mut out, r);
    trend_section(&mut out, trend);
    out.push_str("</body>\n</html>\n");
    out
}

fn header(out: &mut String, r: &RunReport, e: &Evaluation) {
    let _ = write!(
        out,
        "<header>\n<h1>vmharness run <code>{}</code></h1>\n<p class=\"outcome outcome-{code}\" id=\"outcome\">exit {code}: {}</p>\n<table class=\"facts\">\n",
        escape(&r.run_id),
        outcome_words(e.outcome),
        code = e.outcome.code()
    );
    let tool = format!(
        "{} ({})",
        r.tool_version.as_deref().unwrap_or("version unknown"),
        r.tool_cmd.join(" ")
    );
    let mut facts = vec![("profile", r.profile.clone())];
    if !r.groups.is_empty() {
        facts.push(("groups", r.groups.join(", ")));
    }
    facts.extend([
        ("accel", format!("{} — {}", r.accel, r.accel_reason)),
        ("image", r.image.clone()),
        ("kernel", r.kernel.clone()),
        ("tool", tool),
        ("seed", r.seed.to_string()),
        (
            "backend",
            format!(
                "{}{}",
                r.backend,
                if r.strict {
                    " (strict: warnings fail)"
                } else {
                    ""
                }
            ),
        ),
        ("started", r.started_at.clone()),
        (
            "seconds",
            format!(
                "{:.1} (tool {:.1}, fixture {:.1}, VM starts {})",
                r.seconds, r.work.tool, r.work.fixture, r.work.vm_starts
            ),
        ),
    ]);
    for (k, v) in facts {
        let _ = writeln!(
            out,
            "<tr><th>{k}</th><td class=\"fact-{k}\">{}</td></tr>",
            escape(&v)
        );
    }
    out.push_str("</table>\n</header>\n");
}

fn summary(out: &mut String, r: &RunReport, e: &Evaluation) {
    let c = &e.counts;
    let _ = write!(
        out,
        "<section id=\"summary\">\n<h2>Verdicts</h2>\n<p class=\"counts\"><span class=\"count-pass\">{} pass</span><span class=\"count-fail\">{} fail</span><span class=\"count-warn\">{} warn</span><span class=\"count-skip\">{} skip</span> in {} scenario(s)</p>\n",
        c.pass, c.fail, c.warn, c.skip, r.scenarios.len()
    );
    if !e.reasons.is_empty() {
        out.push_str("<p>Why the exit code is not 0:</p>\n<ul class=\"reasons\">\n");
        for reason in &e.reasons {
            let _ = writeln!(out, "<li>{}</li>", escape(reason));
        }
        out.push_str("</ul>\n");
    }
    if !r.skipped_scenarios.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"note\" id=\"not-run\">Not run (--keep-on-failure stopped at a failed check): {}</p>",
            escape(&r.skipped_scenarios.join(", "))
        );
    }
    out.push_str("</section>\n");
}

fn harness_errors(out: &mut String, r: &RunReport) {
    let infra: Vec<String> = r
        .scenarios
        .iter()
        .filter_map(|s| {
            s.infra_error
                .as_ref()
                .map(|e| format!("{}: {e}", s.full_name()))
        })
        .collect();
    if r.harness_errors.is_empty() && infra.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"harness-errors\">\n<h2>Harness errors</h2>\n<ul class=\"errors\">\n",
    );
    for e in r.harness_errors.iter().chain(&infra) {
        let _ = writeln!(out, "<li>{}</li>", escape(e));
    }
    out.push_str("</ul>\n</section>\n");
}

fn evidence(c: &Check) -> String {
    escape(&serde_json::to_string_pretty(&c.evidence).unwrap_or_default())
}

fn checks(out: &mut String, r: &RunReport) {
    out.push_str("<section id=\"checks\">\n<h2>Checks</h2>\n<table class=\"checks\">\n<thead><tr><th>scenario</th><th>check</th><th>verdict</th><th>diagnosis</th></tr></thead>\n<tbody>\n");
    for s in &r.scenarios {
        let scenario = escape(&s.full_name());
        if let Some(e) = &s.infra_error {
            let _ = writeln!(
                out,
                "<tr class=\"check verdict-error\" data-scenario=\"{scenario}\" data-check=\"(infrastructure)\"><td>{scenario}</td><td>(infrastructure)</td><td><span class=\"verdict\">ERROR</span></td><td><pre class=\"evidence\">{}</pre></td></tr>",
                escape(e)
            );
        }
        for c in &s.checks {
            let v = effective_verdict(&c.verdict, r.strict);
            let label = match (&v, &c.verdict) {
                (Verdict::Fail, Verdict::Warn) => "FAIL*".to_string(),
                _ => v.label().to_uppercase(),
            };
            let (first, rest) = c.diagnosis.split_once('\n').unwrap_or((&c.diagnosis, ""));
            let more = match (&v, rest.trim().is_empty()) {
                (_, true) => String::new(),
                (Verdict::Fail, false) => format!("<pre class=\"more\">{}</pre>", escape(rest)),
                (_, false) => format!(
                    "<details><summary>more</summary><pre class=\"more\">{}</pre></details>",
                    escape(rest)
                ),
            };
            let detail = match &v {
                Verdict::Fail => format!("{more}<pre class=\"evidence\">{}</pre>", evidence(c)),
                Verdict::Warn => format!(
                    "{more}<details><summary>evidence</summary><pre class=\"evidence\">{}</pre></details>",
                    evidence(c)
                ),
                _ => more,
            };
            let name = escape(&c.name);
            let _ = writeln!(
                out,
                "<tr class=\"check verdict-{}\" data-scenario=\"{scenario}\" data-check=\"{name}\"><td>{scenario}</td><td><code>{name}</code></td><td><span class=\"verdict\">{label}</span></td><td>{}{detail}</td></tr>",
                v.label(),
                escape(first)
            );
        }
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// One row per subvolume (`group/subvolume` in a merged report): backup and
/// restore MiB/s, each all its bytes over all its seconds.
pub fn throughput_rows(r: &RunReport) -> Vec<Row> {
    let mut keys: Vec<(Option<String>, String)> = Vec::new();
    for t in &r.transfers {
        let k = (t.group.clone(), t.subvolume.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(group, sub)| {
            let mine = || {
                r.transfers
                    .iter()
                    .filter(|t| t.group == group && t.subvolume == sub)
            };
            Row {
                label: match &group {
                    Some(g) => format!("{g}/{sub}"),
                    None => sub.clone(),
                },
                values: vec![
                    trend::mib_per_second(mine(), TransferKind::Backup),
                    trend::mib_per_second(mine(), TransferKind::Restore),
                ],
            }
        })
        .collect()
}

fn charts(out: &mut String, r: &RunReport) {
    out.push_str("<section id=\"throughput\">\n<h2>Throughput per subvolume</h2>\n");
    let rows = throughput_rows(r);
    if rows.is_empty() {
        out.push_str("<p class=\"note\">No backup or restore reported its figures.</p>\n");
    } else {
        out.push_str("<p class=\"note\">MiB/s: every backup (or restore) of the subvolume, its bytes over its seconds, from the tool's metrics events.</p>\n");
        out.push_str(&svg::bar_chart(
            "throughput",
            "MiB/s",
            &[BACKUP, RESTORE],
            &rows,
        ));
        out.push('\n');
    }
    out.push_str("</section>\n<section id=\"phases\">\n<h2>Phases</h2>\n");
    if r.phases.is_empty() {
        out.push_str("<p class=\"note\">No phase ran.</p>\n");
    } else {
        let rows: Vec<Row> = r
            .phases
            .iter()
            .map(|p| Row {
                label: p.name.clone(),
                values: vec![Some(p.seconds)],
            })
            .collect();
        out.push_str(&svg::bar_chart("phases", "s", &[SECONDS], &rows));
        out.push('\n');
    }
    out.push_str("</section>\n");
}

fn trend_section(out: &mut String, points: &[Point]) {
    out.push_str("<section id=\"trend\">\n<h2>Trend</h2>\n");
    if points.len() < 2 {
        out.push_str("<p class=\"note\">No earlier run of this profile in this runs directory.</p>\n</section>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<p class=\"note\">The last {} runs of this profile in this runs directory, oldest to newest (at most {}).</p>",
        points.len(),
        trend::MAX_RUNS
    );
    let labels: Vec<String> = points.iter().map(|p| short_id(&p.run_id)).collect();
    out.push_str(&svg::line_chart(
        "trend-seconds",
        "s",
        &[SECONDS],
        &labels,
        &[points.iter().map(|p| Some(p.seconds)).collect()],
    ));
    out.push_str(&svg::line_chart(
        "trend-throughput",
        "MiB/s",
        &[BACKUP, RESTORE],
        &labels,
        &[
            points.iter().map(|p| p.backup_mib_s).collect(),
            points.iter().map(|p| p.restore_mib_s).collect(),
        ],
    ));
    out.push_str("\n<table class=\"checks trend\">\n<thead><tr><th>run</th><th>started</th><th>seconds</th><th>backup MiB/s</th><th>restore MiB/s</th></tr></thead>\n<tbody>\n");
    let fig = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
    for p in points {
        let _ = writeln!(
            out,
            "<tr class=\"trend-run\"><td><code>{}</code></td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
            escape(&p.run_id),
            escape(&p.started_at),
            p.seconds,
            fig(p.backup_mib_s),
            fig(p.restore_mib_s)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// A run id's time of day and suffix (`20240101-000000-abcd` -> `000000-abcd`).
fn short_id(id: &str) -> String {
    let parts: Vec<&str> = id.rsplitn(3, '-').collect();
    if parts.len() == 3 {
        format!("{}-{}", parts[1], parts[0])
    } else {
        id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::report;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn text_from_the_tool_is_escaped_everywhere() {
        let mut r = report();
        r.scenarios[0].checks[1].name = "verify.<script>".into();
        r.scenarios[0].checks[1].diagnosis = "bad </td> & worse".into();
        r.scenarios[0].checks[1].evidence = serde_json::json!({"key": "<b>x</b>"});
        r.harness_errors.push("<img src=x>".into());
        let html = render(&r, &[]);
        assert!(!html.contains("<script>") && !html.contains("<img") && !html.contains("<b>x"));
        assert!(html.contains("data-check=\"verify.&lt;script&gt;\""));
        assert!(html.contains("bad &lt;/td&gt; &amp; worse"));
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
    }

    #[test]
    fn rows_verdicts_and_evidence() {
        let html = render(&report(), &[]);
        assert_eq!(html.matches("<tr class=\"check ").count(), 4);
        assert!(html.contains(
            "<tr class=\"check verdict-fail\" data-scenario=\"full\" data-check=\"verify.manifest.sha256\">"
        ));
        assert!(html.contains(
            "class=\"check verdict-pass\" data-scenario=\"full\" data-check=\"verify.layout\""
        ));
        assert!(html.contains("class=\"check verdict-skip\""));
        // The failing check's evidence is shown; a passing one's is not.
        assert_eq!(
            html.matches("<pre class=\"evidence\">").count(),
            2,
            "fail + warn"
        );
        // The skip on the embedded endpoint outranks the failure.
        assert!(html.contains("outcome-2"));
        assert!(html.contains("exit 2: the harness or its infrastructure failed"));
        assert!(html.contains(">1 pass<") && html.contains(">1 fail<"));
        assert!(html.contains("verify.stream.complete was skipped (archived)"));
        assert!(html.contains("stopped at a failed check): cleanup</p>"));
        // Self-contained: nothing to fetch, no script.
        for fetch in ["<script", "<link", "src=", "href=\"http", "url(", "@import"] {
            assert!(!html.contains(fetch), "{fetch}");
        }
    }

    #[test]
    fn a_long_diagnosis_shows_its_first_line_and_the_rest_on_demand() {
        let mut r = report();
        r.scenarios[0].checks[0].diagnosis = "digest: PASS\nnot compared:\n  inodes".into();
        r.scenarios[0].checks[1].diagnosis = "2 problem(s)\nk1: bad\nk2: bad".into();
        let html = render(&r, &[]);
        assert!(html.contains("<td>digest: PASS<details><summary>more</summary><pre class=\"more\">not compared:\n  inodes</pre></details></td>"), "{html}");
        // A failure shows everything at once.
        assert!(html.contains(
            "<td>2 problem(s)<pre class=\"more\">k1: bad\nk2: bad</pre><pre class=\"evidence\">"
        ));
    }

    #[test]
    fn charts_and_trend() {
        let r = report();
        let html = render(&r, &[Point::of(&r)]);
        assert!(html.contains("<svg class=\"chart throughput\""));
        assert!(html.contains("<svg class=\"chart phases\""));
        assert!(html.contains("No earlier run"));
        let mut old = r.clone();
        old.run_id = "20231231-000000-0000".into();
        let html = render(&r, &[Point::of(&old), Point::of(&r)]);
        assert!(html.contains("<svg class=\"chart trend-seconds\""));
        assert_eq!(html.matches("<tr class=\"trend-run\">").count(), 2);
        assert!(html.contains(">000000-0000</text>"));
    }

    #[test]
    fn throughput_per_subvolume_and_group() {
        let mut r = report();
        let mut t = r.transfers[0].clone();
        t.subvolume = "home".into();
        t.seconds = 3.0;
        r.transfers.push(t.clone());
        t.group = Some("large".into());
        r.transfers.push(t);
        let rows = throughput_rows(&r);
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["data", "home", "large/home"]);
        let mib = 12_000_000.0 / 1048576.0;
        assert!((rows[1].values[0].unwrap() - mib / 3.0).abs() < 1e-9);
        assert_eq!(rows[0].values[1], None, "the restore had no duration");
    }

    #[test]
    fn short_ids() {
        assert_eq!(short_id("20240101-000000-abcd"), "000000-abcd");
        assert_eq!(short_id("x"), "x");
    }
}
