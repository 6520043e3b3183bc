//! `[fixture]`: what `guest/fixture.py seed` builds, and what the restore
//! comparison ignores.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// `fixture.py --scale` choices.
pub const SCALES: &[&str] = &["tiny", "small", "medium"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FixtureSection {
    pub seed: u64,
    pub scale: String,
    /// Catalogue items to seed; empty means all (`fixture.py list`).
    pub items: Vec<String>,
    /// Xattr names whose differences the restore comparison accepts.
    pub ignore_xattrs: Vec<String>,
}

impl Default for FixtureSection {
    fn default() -> Self {
        FixtureSection {
            seed: 1,
            scale: "small".into(),
            items: Vec::new(),
            ignore_xattrs: vec!["security.selinux".into()],
        }
    }
}

impl FixtureSection {
    pub(super) fn validate(&self, f: &str) -> Result<()> {
        if !SCALES.contains(&self.scale.as_str()) {
            bail!(
                "profile {f}: [fixture] scale must be one of {}, got {:?}",
                SCALES.join(", "),
                self.scale
            );
        }
        let mut seen = BTreeSet::new();
        for item in &self.items {
            let ok = !item.is_empty()
                && item
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                bail!("profile {f}: [fixture] items: {item:?} is not a catalogue item name ([A-Za-z0-9_-]+)");
            }
            if !seen.insert(item) {
                bail!("profile {f}: [fixture] items: {item:?} is listed twice");
            }
        }
        for x in &self.ignore_xattrs {
            if x.is_empty() || x.contains(['\0', ',']) || !x.contains('.') {
                bail!("profile {f}: [fixture] ignore_xattrs: {x:?} is not an xattr name like \"security.selinux\"");
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
        let d = FixtureSection::default;
        assert!(d().validate("f").is_ok());
        let e = |x: FixtureSection| x.validate("f").unwrap_err().to_string();
        assert!(e(FixtureSection {
            scale: "huge".into(),
            ..d()
        })
        .contains("[fixture] scale"));
        assert!(e(FixtureSection {
            items: vec!["a b".into()],
            ..d()
        })
        .contains("[fixture] items"));
        assert!(e(FixtureSection {
            items: vec!["a".into(), "a".into()],
            ..d()
        })
        .contains("twice"));
        assert!(e(FixtureSection {
            ignore_xattrs: vec!["selinux".into()],
            ..d()
        })
        .contains("[fixture] ignore_xattrs"));
    }
}
