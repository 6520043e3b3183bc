//! `vmharness report [RUN]`: a past run's summary and report files, exit
//! code = its outcome; `vmharness report merge DIR...`: several runs as one.

use crate::cli::{ReportArgs, ReportCommand};
use crate::exit::Outcome;
use crate::report::{self, RunReport};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub fn run(a: ReportArgs) -> Result<Outcome> {
    let runs = crate::workspace::runs_dir()?;
    match a.command {
        Some(ReportCommand::Merge { dirs, out }) => merge(&runs, &dirs, out),
        None => show(&runs, &a.run),
    }
}

fn show(runs: &Path, name: &str) -> Result<Outcome> {
    let dir = report::find_run(runs, name)?;
    let r = report::load(&dir)?;
    if !dir.join(report::HTML).is_file() {
        match report::write_html(&dir, &r) {
            Ok(p) => eprintln!("wrote {} (the run had none)", p.display()),
            Err(e) => eprintln!("note: {} not written: {e:#}", report::HTML),
        }
    }
    Ok(print(&dir, &r))
}

/// The final table, then where the files are; the report's outcome.
fn print(dir: &Path, r: &RunReport) -> Outcome {
    println!(
        "{}run: {}\nresults: {}\nreport: {}",
        report::table::render(r),
        dir.display(),
        dir.join(report::RESULTS_JSON).display(),
        dir.join(report::HTML).display()
    );
    report::evaluate(r).outcome
}

fn merge(runs: &Path, names: &[String], out: Option<PathBuf>) -> Result<Outcome> {
    let mut reports = Vec::new();
    for n in names {
        reports.push(report::load(&report::find_run(runs, n)?)?);
    }
    let id = format!("merged-{}", crate::vm::files::new_run_id());
    let dir = out.unwrap_or_else(|| runs.join(&id));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let refs: Vec<&RunReport> = reports.iter().collect();
    let merged = report::merge::merge(&refs, &id);
    report::write_all(&dir, &merged)?;
    eprintln!(
        "merged {} run(s), {} group(s): {}",
        reports.len(),
        merged.groups.len(),
        merged.groups.join(", ")
    );
    Ok(print(&dir, &merged))
}
