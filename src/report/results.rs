//! `results.json`: every scenario and check with verdict, evidence and
//! durations, plus what the run ran on.

use super::benchmark::Transfer;
use crate::verify::Check;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub run_id: String,
    pub profile: String,
    /// "kvm" or "tcg".
    pub accel: String,
    pub accel_reason: String,
    pub image: String,
    pub kernel: String,
    pub tool_version: Option<String>,
    pub tool_cmd: Vec<String>,
    pub seed: u64,
    /// "embedded", "aws" or "endpoint".
    pub backend: String,
    pub strict: bool,
    /// RFC 3339.
    pub started_at: String,
    pub seconds: f64,
    /// image, boot, seed, each scenario, verification: in the order they ran.
    pub phases: Vec<Phase>,
    pub scenarios: Vec<ScenarioReport>,
    pub transfers: Vec<Transfer>,
    /// Infrastructure errors outside any scenario (boot, image, endpoint).
    pub harness_errors: Vec<String>,
    /// Seconds of the run that were the tool's and the fixture's own work.
    #[serde(default)]
    pub work: WorkSeconds,
    /// A merged report (a suite, `report merge`): the groups it holds, in
    /// order; empty for one run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Scenarios not run because `--keep-on-failure` stopped at a failed check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_scenarios: Vec<String>,
    /// The exact inputs of the run, for `vmharness repro` (absent in older reports).
    #[serde(default)]
    pub repro: Option<crate::repro::Repro>,
}

/// Seconds spent in the tool's own commands and in fixture work (setup,
/// seed, mutate): the rest of a run's wall time is the harness's overhead
/// (boot, verification, orchestration).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkSeconds {
    pub tool: f64,
    pub fixture: f64,
    /// VMs started (booted or resumed) for the run.
    pub vm_starts: u32,
}

impl RunReport {
    /// Seconds of the run's "boot" phase.
    pub fn boot_seconds(&self) -> f64 {
        self.phases
            .iter()
            .filter(|p| p.name == "boot" || p.name.ends_with("/boot"))
            .map(|p| p.seconds)
            .sum()
    }
}

impl WorkSeconds {
    /// Add another run's seconds and starts (the groups of a suite).
    pub fn add(&mut self, other: &WorkSeconds) {
        self.tool += other.tool;
        self.fixture += other.fixture;
        self.vm_starts += other.vm_starts;
    }

    /// Overhead's share of `wall` seconds (0 when `wall` is 0).
    pub fn overhead_share(&self, wall: f64) -> f64 {
        if wall <= 0.0 {
            return 0.0;
        }
        ((wall - self.tool - self.fixture) / wall).clamp(0.0, 1.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    pub name: String,
    pub seconds: f64,
    /// The checks this scenario promises to run (its definition).
    pub expected_checks: Vec<String>,
    pub checks: Vec<Check>,
    /// The harness could not carry the scenario out (with the cause chain).
    pub infra_error: Option<String>,
    /// The group (profile) of a merged report this scenario belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// What isolation did after it: "rolled back to the checkpoint after X".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
}

impl ScenarioReport {
    /// `group/name` in a merged report, else `name`.
    pub fn full_name(&self) -> String {
        match &self.group {
            Some(g) => format!("{g}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

pub fn to_json(report: &RunReport) -> Result<String> {
    let mut s = serde_json::to_string_pretty(report).context("serialising results.json")?;
    s.push('\n');
    Ok(s)
}

pub fn from_json(text: &str) -> Result<RunReport> {
    serde_json::from_str(text).context("parsing results.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = crate::report::sample::report();
        let text = to_json(&r).unwrap();
        assert_eq!(from_json(&text).unwrap(), r);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let check = &v["scenarios"][0]["checks"][1];
        assert_eq!(check["name"], "verify.manifest.sha256");
        assert_eq!(check["verdict"], "fail");
        assert_eq!(v["scenarios"][1]["checks"][1]["reason"], "archived");
        assert_eq!(v["skipped_scenarios"][0], "cleanup");
        assert_eq!(v["repro"]["accel"], "tcg");
        assert_eq!(v["repro"]["image_lock_sha256"], "l1");
        assert_eq!(v["repro"]["kernel_file"]["sha256"], "kk");
        assert_eq!(v["repro"]["scenarios"][1], "full");
    }
}
