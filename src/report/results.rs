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
    }
}
