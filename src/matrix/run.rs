//! Running the matrix: one session (VM) per profile, the template fixture,
//! then the baseline and every defect case on copies of it.

use super::judge::{judge, CaseResult, Expect};
use super::recipe::{self, Recipe};
use super::table::{self, DefectRow};
use crate::exit::Outcome;
use crate::runner::{self, RunOptions, Session};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the command line gives the matrix.
#[derive(Debug, Clone)]
pub struct MatrixOptions {
    pub run: RunOptions,
    /// The catalogue (DEFECTS.md).
    pub catalogue: PathBuf,
    /// Only these defects (all when empty).
    pub only: Vec<String>,
}

/// A defect whose catching scenario this build does not have.
#[derive(Debug, Clone, Serialize)]
pub struct NotCovered {
    pub defect: String,
    pub scenario: String,
}

/// `matrix.json`.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixReport {
    pub catalogue: String,
    pub seconds: f64,
    pub cases: Vec<CaseResult>,
    pub not_covered: Vec<NotCovered>,
    /// Errors that stopped a whole profile's cases.
    pub harness_errors: Vec<String>,
}

impl MatrixReport {
    pub fn outcome(&self) -> Outcome {
        if !self.harness_errors.is_empty() || self.cases.iter().any(|c| !c.harness.is_empty()) {
            Outcome::HarnessFailed
        } else if self.cases.iter().any(|c| !c.held()) {
            Outcome::ToolFailed
        } else {
            Outcome::Passed
        }
    }
}

/// The cases of each profile file, in catalogue order.
type Groups = BTreeMap<&'static str, Vec<(DefectRow, Recipe)>>;

/// The rows to run, grouped by profile, and the rows no scenario covers yet.
fn plan(rows: Vec<DefectRow>) -> (Groups, Vec<NotCovered>) {
    let mut groups = Groups::new();
    let mut not_covered = Vec::new();
    for row in rows {
        match recipe::recipe(&row.scenario) {
            Some(r) => groups.entry(r.profile).or_default().push((row, r)),
            None => not_covered.push(NotCovered {
                defect: row.defect,
                scenario: row.scenario,
            }),
        }
    }
    (groups, not_covered)
}

pub fn run(opts: &MatrixOptions) -> Result<Outcome> {
    let started = Instant::now();
    let text = std::fs::read_to_string(&opts.catalogue)
        .with_context(|| format!("reading the defect catalogue {}", opts.catalogue.display()))?;
    let mut rows = table::parse(&text).with_context(|| format!("{}", opts.catalogue.display()))?;
    if !opts.only.is_empty() {
        let unknown: Vec<&String> = opts
            .only
            .iter()
            .filter(|n| !rows.iter().any(|r| &r.defect == *n))
            .collect();
        if !unknown.is_empty() {
            bail!("defect(s) not in {}: {unknown:?}", opts.catalogue.display());
        }
        rows.retain(|r| opts.only.contains(&r.defect));
    }
    let also =
        table::consequences(&text).with_context(|| format!("{}", opts.catalogue.display()))?;
    let (groups, not_covered) = plan(rows);
    let dir = opts
        .run
        .runs_dir
        .join(format!("matrix-{}", crate::vm::files::new_run_id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut report = MatrixReport {
        catalogue: opts.catalogue.display().to_string(),
        seconds: 0.0,
        cases: Vec::new(),
        not_covered,
        harness_errors: Vec::new(),
    };
    let config = crate::paths::project_dir().join("config");
    for (profile, cases) in &groups {
        let mut run_opts = opts.run.clone();
        run_opts.runs_dir = dir.clone();
        if let Err(e) = run_profile(
            &config.join(profile),
            &run_opts,
            cases,
            &also,
            &mut report.cases,
        ) {
            report
                .harness_errors
                .push(format!("profile {profile}: {e:#}"));
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    let json = serde_json::to_string_pretty(&report)? + "\n";
    std::fs::write(dir.join("matrix.json"), json)?;
    println!("{}", render(&report));
    println!("reports: {}", dir.display());
    Ok(report.outcome())
}

/// The cases of one profile on one VM: template, baseline, defects.
fn run_profile(
    profile: &Path,
    opts: &RunOptions,
    cases: &[(DefectRow, Recipe)],
    also: &BTreeMap<String, Vec<String>>,
    out: &mut Vec<CaseResult>,
) -> Result<()> {
    let p = crate::profile::load(profile)?;
    crate::image::ensure(&p.vm.image)?;
    let mut s = Session::start(profile, opts)?;
    let result = run_cases(&mut s, profile, cases, also, out);
    let stopped = s.finish();
    result?;
    stopped.context("stopping the VM")
}

fn run_cases(
    s: &mut Session,
    profile: &Path,
    cases: &[(DefectRow, Recipe)],
    also: &BTreeMap<String, Vec<String>>,
    out: &mut Vec<CaseResult>,
) -> Result<()> {
    let template = runner::execute(s, runner::choose(recipe::TEMPLATE, profile)?);
    let problems: Vec<String> = template
        .reports
        .iter()
        .flat_map(|r| {
            r.infra_error.iter().cloned().chain(
                r.checks
                    .iter()
                    .filter(|c| c.verdict != crate::verify::Verdict::Pass)
                    .map(|c| format!("{}: {}", c.name, c.diagnosis)),
            )
        })
        .collect();
    if !problems.is_empty() {
        bail!(
            "the template fixture could not be made: {}",
            problems.join("; ")
        );
    }
    s.keep_fixture_as_template()?;
    let recipes: Vec<&Recipe> = cases.iter().map(|(_, r)| r).collect();
    // Checks a defect must make warn: the correct tool must not warn there.
    let soft: Vec<String> = cases
        .iter()
        .filter(|(row, _)| row.verdict == crate::verify::Verdict::Warn)
        .map(|(row, _)| row.check.clone())
        .collect();
    let baseline = recipe::baseline(&recipes);
    let root = s.run_dir.join("cases");
    let mut all: Vec<(Option<&DefectRow>, Vec<&str>)> = vec![(None, baseline)];
    all.extend(
        cases
            .iter()
            .map(|(row, r)| (Some(row), r.scenarios.to_vec())),
    );
    for (row, scenarios) in all {
        let name = row.map_or("baseline", |r| r.defect.as_str());
        let case_dir = root.join(name);
        let defect = row.map_or(String::new(), |r| r.defect.clone());
        eprintln!("[matrix] case {name}: {}", scenarios.join(" "));
        let started_at = crate::util::now_rfc3339();
        let t = Instant::now();
        s.begin_case(&case_dir, &[(super::DEFECT_ENV.to_string(), defect)])
            .with_context(|| format!("preparing case {name}"))?;
        let ex = runner::execute(s, runner::choose(&scenarios, profile)?);
        let mut report = runner::run_report(s, profile, started_at, ex.phases, ex.reports);
        report.seconds = t.elapsed().as_secs_f64();
        crate::report::write_all(&case_dir, &report)?;
        let expect = match row {
            Some(row) => Expect::Defect {
                row,
                also: also.get(name).map(Vec::as_slice).unwrap_or_default(),
            },
            None => Expect::Baseline { soft: &soft },
        };
        let r = judge(&report, expect, &case_dir.display().to_string());
        eprintln!("[matrix] case {name}: {} in {:.0}s", summary(&r), r.seconds);
        out.push(r);
    }
    Ok(())
}

fn summary(r: &CaseResult) -> String {
    let mut s = if r.held() {
        "held".to_string()
    } else if !r.harness.is_empty() {
        format!("HARNESS ERROR: {}", r.harness.join("; "))
    } else if !r.caught {
        format!(
            "NOT CAUGHT: {} expected {}, got {:?}",
            r.check.as_deref().unwrap_or_default(),
            r.expected.as_deref().unwrap_or_default(),
            r.got
        )
    } else {
        "caught, but".to_string()
    };
    if !r.unrelated.is_empty() {
        s.push_str(&format!(
            " — other checks failed: {}",
            r.unrelated.join("; ")
        ));
    }
    s
}

/// The matrix as a table: one line per case, then what is not covered.
pub fn render(r: &MatrixReport) -> String {
    let mut out = format!(
        "{:<30} {:<16} {:<40} {:<6} {:>6}  result\n",
        "case", "scenario", "check", "want", "secs"
    );
    for c in &r.cases {
        out.push_str(&format!(
            "{:<30} {:<16} {:<40} {:<6} {:>6.0}  {}\n",
            c.case,
            c.scenario,
            c.check.as_deref().unwrap_or("(every check passes)"),
            c.expected.as_deref().unwrap_or("pass"),
            c.seconds,
            summary(c)
        ));
    }
    for n in &r.not_covered {
        out.push_str(&format!(
            "{:<30} {:<16} not covered: this build has no scenario {}\n",
            n.defect, n.scenario, n.scenario
        ));
    }
    for e in &r.harness_errors {
        out.push_str(&format!("harness error: {e}\n"));
    }
    let held = r.cases.iter().filter(|c| c.held()).count();
    out.push_str(&format!(
        "{held}/{} case(s) held, {} defect(s) not covered, {:.0}s",
        r.cases.len(),
        r.not_covered.len(),
        r.seconds
    ));
    out
}
