//! The run report: one model ([`RunReport`]) written as `results.json`,
//! `junit.xml`, `benchmark.json` and the final terminal table, and the exit
//! code it implies.

pub mod benchmark;
pub mod junit;
pub mod outcome;
pub mod results;
pub mod summary;
pub mod table;

pub use benchmark::{Benchmark, Transfer, TransferKind};
pub use outcome::{effective_verdict, evaluate, Evaluation};
pub use results::{Phase, RunReport, ScenarioReport, WorkSeconds};

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The report files of a run directory.
pub const RESULTS_JSON: &str = "results.json";
pub const JUNIT_XML: &str = "junit.xml";
pub const BENCHMARK_JSON: &str = "benchmark.json";

/// Write `results.json`, `junit.xml` and `benchmark.json` into `dir`.
pub fn write_all(dir: &Path, report: &RunReport) -> Result<Vec<PathBuf>> {
    let files = [
        (RESULTS_JSON, results::to_json(report)?),
        (JUNIT_XML, junit::to_xml(report)?),
        (BENCHMARK_JSON, benchmark::to_json(report)?),
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
    fn writes_three_files() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_all(dir.path(), &sample::report()).unwrap();
        assert_eq!(files.len(), 3);
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("results.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(v["run_id"], "20240101-000000-abcd");
    }
}
