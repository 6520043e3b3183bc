//! Profiles (`config/*.toml`): plain serde structs that reject unknown keys,
//! validated into an immutable plan.

use crate::accel::Accel;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub vm: VmSection,
    #[serde(default)]
    pub btrfs: BtrfsSection,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccelChoice {
    Auto,
    Kvm,
    Tcg,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VmSection {
    pub image: String,
    pub memory_mib: u32,
    pub cpus: u32,
    pub accel: AccelChoice,
    pub boot_timeout_secs: u64,
    pub command_timeout_secs: u64,
}

impl Default for VmSection {
    fn default() -> Self {
        VmSection {
            image: crate::image::DEFAULT_RECIPE.into(),
            memory_mib: 1024,
            cpus: 2,
            accel: AccelChoice::Auto,
            boot_timeout_secs: 60,
            command_timeout_secs: 900,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BtrfsSection {
    pub disk_size_mib: u64,
    pub disk_serial: String,
    pub mount_options: String,
    pub subvolumes: Vec<String>,
}

impl Default for BtrfsSection {
    fn default() -> Self {
        BtrfsSection {
            disk_size_mib: 2048,
            disk_serial: "vmh-fixture".into(),
            mount_options: "compress=zstd".into(),
            subvolumes: vec!["data".into(), "root".into(), "home".into()],
        }
    }
}

/// The default profile's path.
pub fn default_path() -> PathBuf {
    crate::paths::project_dir().join("config").join("test.toml")
}

/// Read and validate a profile file.
pub fn load(path: &Path) -> Result<Profile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading profile {}", path.display()))?;
    parse(&text, path)
}

pub fn parse(text: &str, path: &Path) -> Result<Profile> {
    let p: Profile = toml::from_str(text)
        .map_err(|e| anyhow::anyhow!("profile {}: {}", path.display(), e.to_string().trim_end()))?;
    validate(&p, path)?;
    Ok(p)
}

fn validate(p: &Profile, path: &Path) -> Result<()> {
    let f = path.display();
    if !(256..=65536).contains(&p.vm.memory_mib) {
        bail!(
            "profile {f}: [vm] memory_mib must be between 256 and 65536, got {}",
            p.vm.memory_mib
        );
    }
    if !(1..=64).contains(&p.vm.cpus) {
        bail!(
            "profile {f}: [vm] cpus must be between 1 and 64, got {}",
            p.vm.cpus
        );
    }
    if p.vm.boot_timeout_secs == 0 || p.vm.command_timeout_secs == 0 {
        bail!("profile {f}: [vm] timeouts must be positive");
    }
    if p.btrfs.disk_size_mib < 128 {
        bail!(
            "profile {f}: [btrfs] disk_size_mib must be at least 128 (mkfs.btrfs needs ~109 MiB), got {}",
            p.btrfs.disk_size_mib
        );
    }
    let s = &p.btrfs.disk_serial;
    if s.is_empty()
        || s.len() > 20
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("profile {f}: [btrfs] disk_serial must be 1-20 characters of [A-Za-z0-9_-] (virtio's limit), got {s:?}");
    }
    if p.btrfs.subvolumes.is_empty() {
        bail!("profile {f}: [btrfs] subvolumes must name at least one subvolume");
    }
    for sv in &p.btrfs.subvolumes {
        let ok = !sv.is_empty()
            && !sv.starts_with('.')
            && sv
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok || sv == "restore" {
            bail!("profile {f}: [btrfs] subvolumes: {sv:?} is not a plain name ([A-Za-z0-9_.-], not starting with '.', not `restore`)");
        }
    }
    if p.btrfs.mount_options.contains(char::is_whitespace) {
        bail!("profile {f}: [btrfs] mount_options must be a comma-separated list without spaces, got {:?}", p.btrfs.mount_options);
    }
    Ok(())
}

impl Profile {
    /// The accelerator: forced on the command line, else the profile's, else detected.
    pub fn accel(&self, forced: Option<Accel>) -> (Accel, String) {
        let from_profile = match self.vm.accel {
            AccelChoice::Auto => None,
            AccelChoice::Kvm => Some(Accel::Kvm),
            AccelChoice::Tcg => Some(Accel::Tcg),
        };
        match (forced, from_profile) {
            (Some(a), _) => crate::accel::choose(Some(a)),
            (None, Some(a)) => (a, format!("{a} (set by the profile's [vm] accel)")),
            (None, None) => crate::accel::choose(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_file_matches_defaults() {
        let p = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/test.toml")).unwrap();
        let d = Profile::default();
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::to_value(&d).unwrap()
        );
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let err = parse("[vm]\nmemroy_mib = 4\n", Path::new("/p/x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/p/x.toml"), "{err}");
        assert!(err.contains("memroy_mib"), "{err}");
    }

    #[test]
    fn unknown_section_is_an_error() {
        let err = parse("[vmm]\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("vmm"), "{err}");
    }

    #[test]
    fn bad_values_name_section_and_key() {
        let err = parse("[btrfs]\ndisk_size_mib = 64\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("[btrfs] disk_size_mib"), "{err}");
        let err = parse("[vm]\ncpus = \"two\"\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cpus"), "{err}");
    }
}
