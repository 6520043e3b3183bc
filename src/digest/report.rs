//! Human-readable rendering of a [`Comparison`]: grouped and counted, each
//! rule's reason printed once, a bounded number of examples per group.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::compare::{Comparison, Mismatch};
use super::exceptions::{Rule, NOT_COMPARED};

/// How much of each group to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportLimits {
    pub examples_per_group: usize,
}

impl Default for ReportLimits {
    fn default() -> Self {
        Self {
            examples_per_group: 5,
        }
    }
}

/// Renders the comparison as plain text.
pub fn render(c: &Comparison, limits: ReportLimits) -> String {
    let mut out = String::new();
    let fields = by_field(c.mismatches.iter());
    let verdict = if c.passed() { "PASS" } else { "FAIL" };
    let _ = writeln!(
        out,
        "digest comparison: {verdict}: {} mismatch(es) in {} field(s); {} source / {} target entries; {} excused, {} expected failure(s)",
        c.mismatches.len(),
        fields.len(),
        c.source_entries,
        c.target_entries,
        c.excused.len(),
        c.expected_failures.len(),
    );
    out.push_str("not compared:\n");
    for nc in NOT_COMPARED {
        let _ = writeln!(out, "  {}: {}", nc.what, nc.reason);
    }
    out.push_str("exceptions:\n");
    for e in &c.active_exceptions {
        let hits: Vec<&Mismatch> = c
            .excused
            .iter()
            .filter(|x| x.exception == *e)
            .map(|x| &x.mismatch)
            .collect();
        rule_block(&mut out, e.rule(), &hits, limits);
    }
    let mut cases: Vec<_> = c.expected_failures.iter().map(|x| x.case).collect();
    cases.sort();
    cases.dedup();
    if !cases.is_empty() {
        out.push_str("expected failures (known kernel losses, not hidden):\n");
        for case in cases {
            let hits: Vec<&Mismatch> = c
                .expected_failures
                .iter()
                .filter(|x| x.case == case)
                .map(|x| &x.mismatch)
                .collect();
            rule_block(&mut out, case.rule(), &hits, limits);
        }
    }
    if !fields.is_empty() {
        out.push_str("mismatches by field:\n");
        for (field, list) in &fields {
            let _ = writeln!(out, "  {field}: {}", list.len());
            examples(&mut out, list, limits);
        }
    }
    out
}

fn by_field<'a>(list: impl Iterator<Item = &'a Mismatch>) -> BTreeMap<String, Vec<&'a Mismatch>> {
    let mut map: BTreeMap<String, Vec<&Mismatch>> = BTreeMap::new();
    for m in list {
        map.entry(m.field.to_string()).or_default().push(m);
    }
    map
}

fn rule_block(out: &mut String, rule: Rule, hits: &[&Mismatch], limits: ReportLimits) {
    let _ = writeln!(
        out,
        "  {} [{}]: {} hit(s)",
        rule.name,
        rule.field,
        hits.len()
    );
    let _ = writeln!(out, "      when: {}", rule.condition);
    let _ = writeln!(out, "      why:  {}", rule.reason);
    examples(out, hits, limits);
}

fn examples(out: &mut String, list: &[&Mismatch], limits: ReportLimits) {
    for m in list.iter().take(limits.examples_per_group) {
        let _ = write!(
            out,
            "      {}: source={} target={}",
            m.path, m.source, m.target
        );
        if let Some(note) = &m.note {
            let _ = write!(out, " ({note})");
        }
        out.push('\n');
    }
    if list.len() > limits.examples_per_group {
        let _ = writeln!(
            out,
            "      ... and {} more",
            list.len() - limits.examples_per_group
        );
    }
}
