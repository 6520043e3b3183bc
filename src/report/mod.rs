//! The run report: one model ([`RunReport`]) written as `results.json`,
//! `junit.xml`, `benchmark.json`, `report.html` and the final terminal
//! table, and the exit code it implies.

pub mod benchmark;
pub mod html;
pub mod junit;
pub mod merge;
pub mod outcome;
pub mod results;
pub mod summary;
pub mod svg;
pub mod table;
pub mod trend;

pub use benchmark::{Benchmark, Transfer, TransferKind};
pub use outcome::{effective_verdict, evaluate, Evaluation};
pub use results::{Phase, RunReport, ScenarioReport, WorkSeconds};

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The report files of a run directory.
pub const RESULTS_JSON: &str = "results.json";
/// A suite's report (several groups' runs).
pub const SUITE_JSON: &str = "suite.json";
pub const JUNIT_XML: &str = "junit.xml";
pub const BENCHMARK_JSON: &str = "benchmark.json";
/// The page written beside results.json.
pub const HTML: &str = "report.html";

/// Write `results.json`, `junit.xml`, `benchmark.json` and `report.html`
/// into `dir` (the page's trend from the runs beside `dir`).
pub fn write_all(dir: &Path, report: &RunReport) -> Result<Vec<PathBuf>> {
    let files = [
        (RESULTS_JSON, results::to_json(report)?),
        (JUNIT_XML, junit::to_xml(report)?),
        (BENCHMARK_JSON, benchmark::to_json(report)?),
        (HTML, html_for(dir, report)),
    ];
    let mut out = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        out.push(path);
    }
    Ok(out)
}

/// `report.html` for the run in `dir`, with the trend of the runs beside it.
pub fn html_for(dir: &Path, report: &RunReport) -> String {
    html::render(report, &trend::pick(report, &trend::siblings(dir)))
}

/// Write `report.html` alone (for a run whose directory lacks it).
pub fn write_html(dir: &Path, report: &RunReport) -> Result<PathBuf> {
    let path = dir.join(HTML);
    write_atomic(&path, html_for(dir, report).as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A run named on the command line: `<runs>/<name>` (a run id, `latest`)
/// when it holds a results.json, else `name` as a path.
pub fn find_run(runs: &Path, name: &str) -> Result<PathBuf> {
    let candidates = [runs.join(name), PathBuf::from(name)];
    if let Some(dir) = candidates.iter().find(|d| d.join(RESULTS_JSON).is_file()) {
        return Ok(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone()));
    }
    if let Some(dir) = candidates.iter().find(|d| d.join(SUITE_JSON).is_file()) {
        anyhow::bail!(
            "{} is a suite from before suites wrote a results.json: merge its groups' run directories (suite.json names them) with `vmharness report merge DIR...`",
            dir.display()
        );
    }
    anyhow::bail!(
        "no run {name:?}: neither {} nor {} holds a results.json (give a run id under the runs directory {} — VMHARNESS_RUN_DIR, else ./run — a run directory, or `latest`)",
        candidates[0].display(),
        candidates[1].display(),
        runs.display()
    )
}

/// Read `dir/results.json`.
pub fn load(dir: &Path) -> Result<RunReport> {
    let path = dir.join(RESULTS_JSON);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    results::from_json(&text).with_context(|| format!("in {}", path.display()))
}

/// Write to a temporary file beside `path`, then rename: a reader never
/// sees half a report.
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

/// Point `<runs>/latest` at `<runs>/<run_id>` (relative link, replaced atomically).
pub fn update_latest(runs: &Path, run_id: &str) -> Result<()> {
    let link = runs.join("latest");
    let tmp = runs.join(format!(".latest.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(run_id, &tmp)
        .with_context(|| format!("creating symlink {} -> {run_id}", tmp.display()))?;
    std::fs::rename(&tmp, &link).with_context(|| format!("replacing {}", link.display()))?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod sample;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_points_at_newest_run() {
        let dir = tempfile::tempdir().unwrap();
        for id in ["r1", "r2"] {
            std::fs::create_dir(dir.path().join(id)).unwrap();
            update_latest(dir.path(), id).unwrap();
        }
        let target = std::fs::read_link(dir.path().join("latest")).unwrap();
        assert_eq!(target, Path::new("r2"));
        assert!(dir.path().join("latest").is_dir());
    }

    #[test]
    fn writes_four_files() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_all(dir.path(), &sample::report()).unwrap();
        assert_eq!(files.len(), 4);
        let html = std::fs::read_to_string(dir.path().join(HTML)).unwrap();
        assert!(html.contains("data-check=\"verify.manifest.sha256\""));
        assert_eq!(load(dir.path()).unwrap(), sample::report());
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("results.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(v["run_id"], "20240101-000000-abcd");
    }

    #[test]
    fn a_run_is_found_by_id_latest_or_path() {
        let runs = tempfile::tempdir().unwrap();
        let run = runs.path().join("r1");
        std::fs::create_dir(&run).unwrap();
        std::fs::write(run.join("results.json"), "{}").unwrap();
        update_latest(runs.path(), "r1").unwrap();
        let want = std::fs::canonicalize(&run).unwrap();
        assert_eq!(find_run(runs.path(), "r1").unwrap(), want);
        assert_eq!(find_run(runs.path(), "latest").unwrap(), want);
        assert_eq!(
            find_run(Path::new("/nonexistent"), run.to_str().unwrap()).unwrap(),
            want
        );
        let e = find_run(runs.path(), "nope").unwrap_err().to_string();
        assert!(
            e.contains("no run \"nope\"") && e.contains("VMHARNESS_RUN_DIR"),
            "{e}"
        );
        std::fs::create_dir(runs.path().join("suite-old")).unwrap();
        std::fs::write(runs.path().join("suite-old/suite.json"), "{}").unwrap();
        let e = find_run(runs.path(), "suite-old").unwrap_err().to_string();
        assert!(e.contains("vmharness report merge"), "{e}");
    }
}
