//! The defect catalogue as `reference-tool/DEFECTS.md` states it: one row per
//! defect with the scenario that must catch it, the check that must report
//! it, and the verdict that check must give.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

/// One row of the catalogue's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefectRow {
    /// `REFTOOL_DEFECT` value, e.g. `wrong-sha256`.
    pub defect: String,
    /// Scenario that must catch it, e.g. `large`.
    pub scenario: String,
    /// Check that must report it, e.g. `verify.manifest.sha256`.
    pub check: String,
    /// `fail` or `warn`.
    pub verdict: crate::verify::Verdict,
    /// What the case needs (free text from the table).
    pub needs: String,
}

const HEADER: &[&str] = &["defect", "breaks", "scenario", "check", "verdict", "needs"];
const ALSO_HEADER: &[&str] = &["defect", "also fails"];

/// The rows (cells, with their 1-based line numbers) of the first Markdown
/// table whose header is `header`; None when there is no such table.
/// A table row: its line number and its cells.
pub(super) type Row = (usize, Vec<String>);

pub(super) fn table_rows(text: &str, header: &[&str]) -> Result<Option<Vec<Row>>> {
    let mut lines = text.lines().map(str::trim).enumerate();
    let Some((header_at, _)) = lines.by_ref().find(|(_, l)| {
        cells(l).is_some_and(|c| c.iter().map(String::as_str).eq(header.iter().copied()))
    }) else {
        return Ok(None);
    };
    let mut rows = Vec::new();
    for (i, line) in lines {
        let Some(c) = cells(line) else { break };
        if c.iter().all(|x| x.chars().all(|ch| ch == '-' || ch == ':')) {
            continue;
        }
        if c.len() != header.len() {
            bail!(
                "line {}: {} cells, the header (line {}) has {}",
                i + 1,
                c.len(),
                header_at + 1,
                header.len()
            );
        }
        rows.push((i + 1, c));
    }
    Ok(Some(rows))
}

/// Parse the catalogue's table (`| defect | breaks | scenario | check | verdict | needs |`).
pub fn parse(text: &str) -> Result<Vec<DefectRow>> {
    let table = table_rows(text, HEADER)?
        .with_context(|| format!("no table with the header | {} |", HEADER.join(" | ")))?;
    let mut rows = Vec::new();
    for (line, c) in table {
        let verdict = match c[4].as_str() {
            "fail" => crate::verify::Verdict::Fail,
            "warn" => crate::verify::Verdict::Warn,
            other => bail!("line {line}: verdict {other:?} is neither fail nor warn"),
        };
        rows.push(DefectRow {
            defect: unquote(&c[0]),
            scenario: unquote(&c[2]),
            check: unquote(&c[3]),
            verdict,
            needs: c[5].clone(),
        });
    }
    if rows.is_empty() {
        bail!("the defect table has no rows");
    }
    Ok(rows)
}

/// The checks each defect may make fail besides its own (the table
/// `| defect | also fails |`, checks as backquoted names, anything else in
/// the cell being commentary); defects absent from it have none.
pub fn consequences(text: &str) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out = BTreeMap::new();
    for (line, c) in table_rows(text, ALSO_HEADER)?.unwrap_or_default() {
        // The backquoted names; the rest of the cell is commentary.
        let checks: Vec<String> = c[1]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        if out.insert(unquote(&c[0]), checks).is_some() {
            bail!("line {line}: defect {} is listed twice", c[0]);
        }
    }
    Ok(out)
}

/// `| a | b |` → `["a", "b"]`; None for a line that is not a table row.
fn cells(line: &str) -> Option<Vec<String>> {
    let inner = line.strip_prefix('|')?.strip_suffix('|')?;
    Some(inner.split('|').map(|c| c.trim().to_string()).collect())
}

pub(super) fn unquote(s: &str) -> String {
    s.trim_matches('`').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Verdict;

    #[test]
    fn parses_rows_and_stops_at_the_table_end() {
        let text = "intro\n\n| defect | breaks | scenario | check | verdict | needs |\n\
                    |---|---|---|---|---|---|\n\
                    | `a-b` | 1 | full | `verify.x` | fail | |\n\
                    | `c` | 5 | interrupt | `verify.y` | warn | kill mid-upload |\n\
                    \nafter\n| not | a | row |\n";
        let rows = parse(text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].defect, "a-b");
        assert_eq!(rows[0].check, "verify.x");
        assert_eq!(rows[0].verdict, Verdict::Fail);
        assert_eq!(rows[1].scenario, "interrupt");
        assert_eq!(rows[1].verdict, Verdict::Warn);
        assert_eq!(rows[1].needs, "kill mid-upload");
    }

    #[test]
    fn consequences_are_optional_and_listed_per_defect() {
        assert!(consequences("no table").unwrap().is_empty());
        let text =
            "| defect | also fails |\n|---|---|\n| `a` | `verify.x`, `verify.y` (why) |\n| `b` | |\n";
        let c = consequences(text).unwrap();
        assert_eq!(c["a"], ["verify.x", "verify.y"]);
        assert!(c["b"].is_empty());
        assert!(consequences("| defect | also fails |\n| a | x |\n| a | y |\n").is_err());
    }

    #[test]
    fn bad_verdicts_and_missing_tables_are_errors() {
        let bad = "| defect | breaks | scenario | check | verdict | needs |\n|---|---|---|---|---|---|\n| a | 1 | full | x | maybe | |\n";
        assert!(format!("{:#}", parse(bad).unwrap_err()).contains("maybe"));
        assert!(parse("no table").is_err());
    }

    #[test]
    fn the_reference_tool_catalogue_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/reference-tool/DEFECTS.md");
        let rows = parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(rows.len() >= 30, "{} rows", rows.len());
        assert!(rows.iter().all(|r| r.check.starts_with("verify.")));
        let mut names: Vec<_> = rows.iter().map(|r| &r.defect).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), rows.len(), "a defect is listed twice");
        let also = consequences(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(!also.is_empty());
        for (defect, checks) in &also {
            assert!(names.contains(&defect), "{defect} is not in the catalogue");
            assert!(
                !checks.is_empty() && checks.iter().all(|c| c.starts_with("verify.")),
                "{defect}: {checks:?}"
            );
        }
    }
}
