//! `[scenarios]`: which scenarios `run-all` runs, in order, and whether
//! warnings fail the run.

use crate::scenario_id::known_names;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

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
            if !known_names().any(|k| k == name) {
                bail!(
                    "profile {f}: [scenarios] run: unknown scenario {name:?}; known: {}",
                    known_names().collect::<Vec<_>>().join(", ")
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
