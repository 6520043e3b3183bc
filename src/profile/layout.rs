//! `[layout]`: the tool's S3 key layout as regular expressions (relative to
//! the prefix) and the JSON Schemas of its documents, so a tool with another
//! layout edits its profile rather than the harness.

use anyhow::{anyhow, bail, Result};
use regex::Regex;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LayoutSection {
    /// Named groups `subvol`, `kind`, `ts`, `index`.
    pub chunk: String,
    /// Named groups `subvol`, `kind`, `ts`.
    pub manifest: String,
    /// Named group `subvol`.
    pub pointer: String,
    /// Values of the `kind` group (and of the manifest's `kind`).
    pub full_kind: String,
    pub incremental_kind: String,
    /// JSON Schemas (relative: to the project directory).
    pub manifest_schema: String,
    pub pointer_schema: String,
}

impl Default for LayoutSection {
    fn default() -> Self {
        LayoutSection {
            chunk: r"subvol/(?P<subvol>[^/]+)/(?P<kind>full|incremental)/chunk-(?P<ts>[0-9]{8}T[0-9]{6}Z)-(?P<index>0|[1-9][0-9]*)\.bin".into(),
            manifest: r"subvol/(?P<subvol>[^/]+)/(?P<kind>full|incremental)/manifest-(?P<ts>[0-9]{8}T[0-9]{6}Z)\.json".into(),
            pointer: r"subvol/(?P<subvol>[^/]+)/current\.json".into(),
            full_kind: "full".into(),
            incremental_kind: "incremental".into(),
            manifest_schema: "expected/manifest.schema.json".into(),
            pointer_schema: "expected/current.schema.json".into(),
        }
    }
}

/// The three patterns compiled and anchored (whole key after the prefix).
#[derive(Debug, Clone)]
pub struct KeyPatterns {
    pub chunk: Regex,
    pub manifest: Regex,
    pub pointer: Regex,
}

impl LayoutSection {
    /// Compile the patterns; the error names the key and the missing group.
    pub fn compile(&self) -> Result<KeyPatterns> {
        Ok(KeyPatterns {
            chunk: compile_one("chunk", &self.chunk, &["subvol", "kind", "ts", "index"])?,
            manifest: compile_one("manifest", &self.manifest, &["subvol", "kind", "ts"])?,
            pointer: compile_one("pointer", &self.pointer, &["subvol"])?,
        })
    }

    pub(super) fn validate(&self, f: &str) -> Result<()> {
        self.compile()
            .map_err(|e| anyhow!("profile {f}: [layout] {e}"))?;
        if self.full_kind.is_empty()
            || self.incremental_kind.is_empty()
            || self.full_kind == self.incremental_kind
        {
            bail!("profile {f}: [layout] full_kind and incremental_kind must be two different non-empty names");
        }
        for (key, v) in [
            ("manifest_schema", &self.manifest_schema),
            ("pointer_schema", &self.pointer_schema),
        ] {
            if v.is_empty() {
                bail!("profile {f}: [layout] {key} must name a JSON Schema file");
            }
        }
        Ok(())
    }
}

fn compile_one(key: &str, pattern: &str, groups: &[&str]) -> Result<Regex> {
    let re = Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| anyhow!("{key} is not a valid regular expression: {e}"))?;
    let names: Vec<&str> = re.capture_names().flatten().collect();
    for g in groups {
        if !names.contains(g) {
            bail!(
                "{key} must have the named group (?P<{g}>...) (needs: {}), got {pattern:?}",
                groups.join(", ")
            );
        }
    }
    Ok(re)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_contract_keys() {
        let p = LayoutSection::default().compile().unwrap();
        let c = p
            .chunk
            .captures("subvol/data/full/chunk-20240102T030405Z-12.bin")
            .unwrap();
        assert_eq!(&c["subvol"], "data");
        assert_eq!(&c["index"], "12");
        assert!(!p
            .chunk
            .is_match("subvol/data/full/chunk-20240102T030405Z-01.bin"));
        assert!(!p
            .chunk
            .is_match("x/subvol/data/full/chunk-20240102T030405Z-1.bin"));
        assert!(p
            .manifest
            .is_match("subvol/home/incremental/manifest-20240102T030405Z.json"));
        assert!(!p
            .manifest
            .is_match("subvol/home/inc/manifest-20240102T030405Z.json"));
        assert!(p.pointer.is_match("subvol/root/current.json"));
    }

    #[test]
    fn missing_group_or_bad_regex_is_named() {
        let l = LayoutSection {
            pointer: "current\\.json".into(),
            ..Default::default()
        };
        let e = l.validate("f").unwrap_err().to_string();
        assert!(
            e.contains("[layout] pointer") && e.contains("subvol"),
            "{e}"
        );
        let l = LayoutSection {
            chunk: "(".into(),
            ..Default::default()
        };
        assert!(l
            .validate("f")
            .unwrap_err()
            .to_string()
            .contains("[layout] chunk"));
    }
}
