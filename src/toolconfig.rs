//! The tool's own config file (CONTRACT.md "Config file the harness renders
//! for the tool"), rendered from a validated profile. Every path is an
//! absolute guest path; the snapshot directory is on the fixture filesystem.

use crate::profile::Profile;
use anyhow::{Context, Result};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolConfig {
    pub global: Global,
    pub schedule: Schedule,
    pub snapshots: Snapshots,
    pub subvolumes: Subvolumes,
    pub s3: S3,
    pub restore: Restore,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Global {
    pub log_level: String,
    pub state_path: String,
    pub lock_path: String,
    pub spool_dir: String,
    pub spool_size_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    pub full_every_days: f64,
    pub incremental_every_days: f64,
    pub run_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshots {
    pub base_dir: String,
    pub retain: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subvolumes {
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct S3 {
    pub bucket: String,
    pub region: String,
    pub prefix: String,
    pub chunk_size_bytes: u64,
    pub storage_class_chunks: String,
    pub storage_class_manifest: String,
    pub concurrency: u32,
    pub spool_enabled: bool,
    pub sse: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Restore {
    pub target_base_dir: String,
    pub verify_mode: String,
    pub sample_max_files: u32,
    pub wait_for_restore: bool,
    pub restore_timeout_seconds: u64,
    pub restore_tier: String,
}

impl ToolConfig {
    /// The config of a profile, backing up all of its subvolumes.
    pub fn from_profile(p: &Profile) -> ToolConfig {
        ToolConfig {
            global: Global {
                log_level: p.tool.log_level.clone(),
                state_path: p.tool.state_path.clone(),
                lock_path: p.tool.lock_path.clone(),
                spool_dir: p.tool.spool_dir.clone(),
                spool_size_bytes: p.backup.spool_size_bytes,
            },
            schedule: Schedule {
                full_every_days: p.backup.full_every_days,
                incremental_every_days: p.backup.incremental_every_days,
                run_at: p.backup.run_at.clone(),
            },
            snapshots: Snapshots {
                base_dir: p.btrfs.snapshots_path(),
                retain: p.backup.retain,
            },
            subvolumes: Subvolumes {
                paths: p
                    .btrfs
                    .subvolumes
                    .iter()
                    .map(|s| p.btrfs.subvolume_path(s))
                    .collect(),
            },
            s3: S3 {
                bucket: p.s3.bucket.clone(),
                region: p.s3.region.clone(),
                prefix: p.s3.normalized_prefix(),
                chunk_size_bytes: p.backup.chunk_size_bytes,
                storage_class_chunks: p.s3.storage_class_chunks.clone(),
                storage_class_manifest: p.s3.storage_class_manifest.clone(),
                concurrency: p.backup.concurrency,
                spool_enabled: p.backup.spool_enabled,
                sse: p.s3.sse.clone(),
            },
            restore: Restore {
                target_base_dir: p.btrfs.restore_path(),
                verify_mode: p.restore.verify_mode.clone(),
                sample_max_files: p.restore.sample_max_files,
                wait_for_restore: p.restore.wait_for_restore,
                restore_timeout_seconds: p.restore.restore_timeout_seconds,
                restore_tier: p.restore.restore_tier.clone(),
            },
        }
    }

    /// TOML text, sections in the contract's order, with a header saying
    /// where it came from.
    pub fn render(&self, source: &str) -> Result<String> {
        let body = toml::to_string(self).context("rendering the tool's config as TOML")?;
        Ok(format!(
            "# Rendered by vmharness from {source} (CONTRACT.md: config file the harness renders for the tool).\n\n{body}"
        ))
    }
}

/// The rendered config of a profile (all subvolumes).
pub fn render(p: &Profile, source: &str) -> Result<String> {
    ToolConfig::from_profile(p).render(source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const GOLDEN: &str = r#"# Rendered by vmharness from config/test.toml (CONTRACT.md: config file the harness renders for the tool).

[global]
log_level = "INFO"
state_path = "/var/lib/btrfs_to_s3/state.json"
lock_path = "/var/lib/btrfs_to_s3/backup.lock"
spool_dir = "/var/lib/btrfs_to_s3/spool"
spool_size_bytes = 268435456

[schedule]
full_every_days = 7.0
incremental_every_days = 1.0
run_at = "02:00"

[snapshots]
base_dir = "/mnt/btrfs/.snapshots"
retain = 3

[subvolumes]
paths = ["/mnt/btrfs/data", "/mnt/btrfs/root", "/mnt/btrfs/home"]

[s3]
bucket = "vmharness"
region = "us-east-1"
prefix = "backups/"
chunk_size_bytes = 8388608
storage_class_chunks = "STANDARD"
storage_class_manifest = "STANDARD"
concurrency = 2
spool_enabled = false
sse = "AES256"

[restore]
target_base_dir = "/mnt/btrfs/restore"
verify_mode = "full"
sample_max_files = 100
wait_for_restore = true
restore_timeout_seconds = 600
restore_tier = "Standard"
"#;

    #[test]
    fn golden_default() {
        let text = render(&Profile::default(), "config/test.toml").unwrap();
        assert_eq!(text, GOLDEN);
    }

    #[test]
    fn every_path_is_absolute() {
        let c = ToolConfig::from_profile(&Profile::default());
        let mut paths = vec![
            &c.global.state_path,
            &c.global.lock_path,
            &c.global.spool_dir,
            &c.snapshots.base_dir,
            &c.restore.target_base_dir,
        ];
        paths.extend(c.subvolumes.paths.iter());
        for p in paths {
            assert!(p.starts_with('/'), "{p}");
        }
    }

    /// The reference tool's own loader accepts what we render, for every profile.
    #[test]
    fn reference_tool_accepts_rendered_configs() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = match std::process::Command::new("python3")
            .arg("--version")
            .output()
        {
            Ok(o) if o.status.success() => "python3",
            _ => {
                eprintln!("python3 not found: skipping the reference-tool config check");
                return;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let mut n = 0;
        for entry in std::fs::read_dir(root.join("config")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let profile = crate::profile::load(&path).unwrap();
            let rendered = render(&profile, &path.display().to_string()).unwrap();
            let out = dir.path().join(format!("tool-{n}.toml"));
            std::fs::write(&out, &rendered).unwrap();
            let status = std::process::Command::new(python)
                .arg("-c")
                .arg("import sys; from btrfs_to_s3 import config; c = config.load(sys.argv[1]); print(c.s3.prefix)")
                .arg(&out)
                .env("PYTHONPATH", root.join("reference-tool"))
                .output()
                .unwrap();
            assert!(
                status.status.success(),
                "{}: the reference tool rejects the rendered config:\n{}\n{rendered}",
                path.display(),
                String::from_utf8_lossy(&status.stderr)
            );
            n += 1;
        }
        assert!(n >= 4);
    }

    #[test]
    fn reference_tool_rejects_a_broken_config() {
        // Proves the check above can fail: an unknown key is refused.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        if std::process::Command::new("python3")
            .arg("--version")
            .output()
            .is_err()
        {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let text = render(&Profile::default(), "x").unwrap() + "bogus = 1\n";
        let out = dir.path().join("bad.toml");
        std::fs::write(&out, text).unwrap();
        let status = std::process::Command::new("python3")
            .arg("-c")
            .arg("import sys; from btrfs_to_s3 import config; config.load(sys.argv[1])")
            .arg(&out)
            .env("PYTHONPATH", root.join("reference-tool"))
            .output()
            .unwrap();
        assert!(!status.status.success());
        assert!(String::from_utf8_lossy(&status.stderr).contains("bogus"));
    }
}
