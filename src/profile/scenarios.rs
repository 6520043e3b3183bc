//! `[scenarios]`: which scenarios `run-all` runs, in order, and whether
//! warnings fail the run.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Every scenario name the harness knows: the runner's registry
/// (`runner::scenarios::registered`, which this layer may not import) and
/// `faults`, the group of the fault scenarios. A unit test of the registry
/// keeps the two equal.
pub const KNOWN: &[&str] = &[
    "setup",
    "seed",
    "full",
    "mutate",
    "incremental",
    "interrupt",
    "restore",
    "verify",
    "cli-flags",
    "lock-contention",
    "large",
    "spool",
    "archive-restore",
    "instant-restore",
    "power-loss",
    "network-cut",
    "s3-errors",
    "corruption",
    "missing-parent",
    "rapid-runs",
    "ordering",
    "no-credentials",
    "faults",
    "cleanup",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScenariosSection {
    /// Run in this order by `run-all`.
    pub run: Vec<String>,
    /// Turn every warning (a promise the requirements leave soft) into a failure.
    pub strict: bool,
}

impl Default for ScenariosSection {
    fn default() -> Self {
        ScenariosSection {
            run: [
                "setup",
                "seed",
                "full",
                "mutate",
                "incremental",
                "interrupt",
                "restore",
                "cli-flags",
                "lock-contention",
                "verify",
                "cleanup",
            ]
            .map(String::from)
            .to_vec(),
            strict: false,
        }
    }
}

impl ScenariosSection {
    pub(super) fn validate(&self, f: &str) -> Result<()> {
        if self.run.is_empty() {
            bail!("profile {f}: [scenarios] run must name at least one scenario");
        }
        let mut seen = BTreeSet::new();
        for name in &self.run {
            if !KNOWN.contains(&name.as_str()) {
                bail!(
                    "profile {f}: [scenarios] run: unknown scenario {name:?}; known: {}",
                    KNOWN.join(", ")
                );
            }
            if !seen.insert(name) {
                bail!("profile {f}: [scenarios] run: {name:?} is listed twice");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_keys() {
        let d = ScenariosSection::default;
        assert!(d().validate("f").is_ok());
        let e = |s: ScenariosSection| s.validate("f").unwrap_err().to_string();
        assert!(e(ScenariosSection { run: vec![], ..d() }).contains("[scenarios] run"));
        let err = e(ScenariosSection {
            run: vec!["ful".into()],
            ..d()
        });
        assert!(
            err.contains("\"ful\"") && err.contains("known: setup"),
            "{err}"
        );
        assert!(e(ScenariosSection {
            run: vec!["full".into(), "full".into()],
            ..d()
        })
        .contains("twice"));
    }
}
