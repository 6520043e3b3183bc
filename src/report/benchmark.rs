//! `benchmark.json`: bytes, seconds and throughput of every backup and
//! restore, and the duration of every phase.

use super::results::{Phase, RunReport};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferKind {
    Backup,
    Restore,
}

/// One backup or restore, from the tool's `*_metrics` event (or measured).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    pub kind: TransferKind,
    pub scenario: String,
    pub subvolume: String,
    pub bytes: u64,
    pub seconds: f64,
    /// The group (profile) of a merged report this transfer belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl Transfer {
    /// Bytes per second; None for a zero duration.
    pub fn bytes_per_second(&self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.bytes as f64 / self.seconds)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferFigure {
    #[serde(flatten)]
    pub transfer: Transfer,
    pub bytes_per_second: Option<f64>,
    /// MB/s (powers of 1000), as the tool's logs show it.
    pub mb_per_second: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Benchmark {
    pub run_id: String,
    pub accel: String,
    pub transfers: Vec<TransferFigure>,
    pub phases: Vec<Phase>,
    pub total_seconds: f64,
    pub work: super::WorkSeconds,
    /// Wall time outside the tool's commands and fixture work, over wall time.
    pub overhead_share: f64,
    /// Seconds of the "boot" phase per VM start.
    pub boot_seconds_per_start: Option<f64>,
}

/// Harness overhead share of run-all's wall time (issue 7's target).
pub const OVERHEAD_TARGET: f64 = 0.25;
/// Boot seconds per VM start (issue 7's target).
pub const BOOT_PER_START_TARGET_S: f64 = 3.0;

/// The word printed after a figure and its target.
pub fn met(ok: bool) -> &'static str {
    if ok {
        "OK"
    } else {
        "MISS"
    }
}

/// The boot-per-start figure next to its target, as run-all and the defect
/// matrix print it.
pub fn boot_per_start_line(per: f64, starts: u32) -> String {
    format!(
        "boot {per:.1} s per VM start over {starts} start(s) (target <= {BOOT_PER_START_TARGET_S:.0} s): {}",
        met(per <= BOOT_PER_START_TARGET_S)
    )
}

impl Benchmark {
    pub fn from_report(r: &RunReport) -> Benchmark {
        Benchmark {
            run_id: r.run_id.clone(),
            accel: r.accel.clone(),
            transfers: r
                .transfers
                .iter()
                .map(|t| {
                    let bps = t.bytes_per_second();
                    TransferFigure {
                        transfer: t.clone(),
                        bytes_per_second: bps.map(round3),
                        mb_per_second: bps.map(|b| round3(b / 1e6)),
                    }
                })
                .collect(),
            phases: r.phases.clone(),
            total_seconds: r.seconds,
            work: r.work.clone(),
            overhead_share: round3(r.work.overhead_share(r.seconds)),
            boot_seconds_per_start: (r.work.vm_starts > 0)
                .then(|| round3(r.boot_seconds() / f64::from(r.work.vm_starts))),
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn to_json(r: &RunReport) -> Result<String> {
    let mut s = serde_json::to_string_pretty(&Benchmark::from_report(r))
        .context("serialising benchmark.json")?;
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden() {
        let text = to_json(&crate::report::sample::report()).unwrap();
        let want = r#"{
  "run_id": "20240101-000000-abcd",
  "accel": "tcg",
  "transfers": [
    {
      "kind": "backup",
      "scenario": "full",
      "subvolume": "data",
      "bytes": 12000000,
      "seconds": 1.5,
      "bytes_per_second": 8000000.0,
      "mb_per_second": 8.0
    },
    {
      "kind": "restore",
      "scenario": "restore",
      "subvolume": "data",
      "bytes": 5,
      "seconds": 0.0,
      "bytes_per_second": null,
      "mb_per_second": null
    }
  ],
  "phases": [
    {
      "name": "boot",
      "seconds": 20.5
    },
    {
      "name": "full",
      "seconds": 3.25
    }
  ],
  "total_seconds": 42.0,
  "work": {
    "tool": 20.0,
    "fixture": 11.5,
    "vm_starts": 1
  },
  "overhead_share": 0.25,
  "boot_seconds_per_start": 20.5
}
"#;
        assert_eq!(text, want);
    }
}
