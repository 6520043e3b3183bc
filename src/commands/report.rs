//! `vmharness report [RUN]`: a past run's summary and report files, exit
//! code = its outcome; `vmharness report merge DIR...`: several runs as one.

use crate::cli::{ReportArgs, ReportCommand};
use crate::exit::Outcome;
use crate::report::{self, RunReport};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub fn run(a: ReportArgs) -> Result<Outcome> {
    let runs = crate::paths::runs_dir();
    match a.command {
        Some(ReportCommand::Merge { dirs, out }) => merge(&runs, &dirs, out),
        None => show(&runs, &a.run),
    }
}

/// A run named on the command line: `<runs>/<name>` (a run id, `latest`)
/// when it holds a results.json, else `name` as a path.
pub fn resolve(runs: &Path, name: &str) -> Result<PathBuf> {
    let candidates = [runs.join(name), PathBuf::from(name)];
    if let Some(dir) = candidates.iter().find(|d| d.join("results.json").is_file()) {
        return Ok(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone()));
    }
    if let Some(dir) = candidates.iter().find(|d| d.join("suite.json").is_file()) {
        bail!(
            "{} is a suite from before suites wrote a results.json: merge its groups' run directories (suite.json names them) with `vmharness report merge DIR...`",
            dir.display()
        );
    }
    bail!(
        "no run {name:?}: neither {} nor {} holds a results.json (give a run id under the runs directory {} — VMHARNESS_RUN_DIR, else ./run — a run directory, or `latest`)",
        candidates[0].display(),
        candidates[1].display(),
        runs.display()
    )
}

fn show(runs: &Path, name: &str) -> Result<Outcome> {
    let dir = resolve(runs, name)?;
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
        dir.join("results.json").display(),
        dir.join(report::HTML).display()
    );
    report::evaluate(r).outcome
}

fn merge(runs: &Path, names: &[String], out: Option<PathBuf>) -> Result<Outcome> {
    let mut reports = Vec::new();
    for n in names {
        reports.push(report::load(&resolve(runs, n)?)?);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_found_by_id_latest_or_path() {
        let runs = tempfile::tempdir().unwrap();
        let run = runs.path().join("r1");
        std::fs::create_dir(&run).unwrap();
        std::fs::write(run.join("results.json"), "{}").unwrap();
        report::update_latest(runs.path(), "r1").unwrap();
        let want = std::fs::canonicalize(&run).unwrap();
        assert_eq!(resolve(runs.path(), "r1").unwrap(), want);
        assert_eq!(resolve(runs.path(), "latest").unwrap(), want);
        assert_eq!(
            resolve(Path::new("/nonexistent"), run.to_str().unwrap()).unwrap(),
            want
        );
        let e = resolve(runs.path(), "nope").unwrap_err().to_string();
        assert!(
            e.contains("no run \"nope\"") && e.contains("VMHARNESS_RUN_DIR"),
            "{e}"
        );
    }
}
