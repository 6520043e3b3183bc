//! `[restore]`: the tool's restore settings (rendered into its config).

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

pub const VERIFY_MODES: &[&str] = &["full", "sample", "none"];
pub const RESTORE_TIERS: &[&str] = &["Expedited", "Standard", "Bulk"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestoreSection {
    pub verify_mode: String,
    pub sample_max_files: u32,
    pub wait_for_restore: bool,
    pub restore_timeout_seconds: u64,
    pub restore_tier: String,
}

impl Default for RestoreSection {
    fn default() -> Self {
        RestoreSection {
            verify_mode: "full".into(),
            sample_max_files: 100,
            wait_for_restore: true,
            restore_timeout_seconds: 600,
            restore_tier: "Standard".into(),
        }
    }
}

impl RestoreSection {
    pub(super) fn validate(&self, f: &str) -> Result<()> {
        if !VERIFY_MODES.contains(&self.verify_mode.as_str()) {
            bail!(
                "profile {f}: [restore] verify_mode must be one of {}, got {:?}",
                VERIFY_MODES.join(", "),
                self.verify_mode
            );
        }
        if self.sample_max_files == 0 {
            bail!("profile {f}: [restore] sample_max_files must be at least 1");
        }
        if self.restore_timeout_seconds == 0 {
            bail!("profile {f}: [restore] restore_timeout_seconds must be positive");
        }
        if !RESTORE_TIERS.contains(&self.restore_tier.as_str()) {
            bail!(
                "profile {f}: [restore] restore_tier must be one of {}, got {:?}",
                RESTORE_TIERS.join(", "),
                self.restore_tier
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_keys() {
        let d = RestoreSection::default;
        assert!(d().validate("f").is_ok());
        let e = |r: RestoreSection| r.validate("f").unwrap_err().to_string();
        assert!(e(RestoreSection {
            verify_mode: "some".into(),
            ..d()
        })
        .contains("[restore] verify_mode"));
        assert!(e(RestoreSection {
            sample_max_files: 0,
            ..d()
        })
        .contains("[restore] sample_max_files"));
        assert!(e(RestoreSection {
            restore_timeout_seconds: 0,
            ..d()
        })
        .contains("[restore] restore_timeout_seconds"));
        assert!(e(RestoreSection {
            restore_tier: "fast".into(),
            ..d()
        })
        .contains("[restore] restore_tier"));
    }
}
