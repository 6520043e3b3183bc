//! Driving the tool under test in the guest: its command lines (CONTRACT.md
//! "Invocation"), built by pure functions, and installing its source tree.

use crate::profile::Profile;
use crate::ssh::{env_command, Ssh};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Duration;

/// How to run the tool in the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolInvocation {
    /// The command, e.g. `["python3", "-m", "btrfs_to_s3"]`.
    pub cmd: Vec<String>,
    /// The flag that names the config file (`--config`).
    pub config_flag: String,
    /// Absolute guest path of the rendered config.
    pub config_path: String,
    /// Environment passed inline (endpoint, credentials, PYTHONPATH, ...).
    pub env: Vec<(String, String)>,
}

/// The invocation a profile describes: `[tool] cmd` (or `BTRFS_TO_S3_CMD`,
/// given as `cmd_override`), the S3 environment, the tool tree on
/// PYTHONPATH, then the profile's own `[tool] env`.
pub fn invocation(
    p: &Profile,
    cmd_override: Option<&str>,
    s3_env: Vec<(String, String)>,
) -> Result<ToolInvocation> {
    let cmd = crate::profile::tool::tool_command(&p.tool.cmd, cmd_override)?;
    let mut env = s3_env;
    env.push(("PYTHONPATH".into(), p.tool.guest_dir.clone()));
    env.push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
    // No instance-metadata lookups: credentials come from the environment or nowhere.
    env.push(("AWS_EC2_METADATA_DISABLED".into(), "true".into()));
    env.extend(p.tool.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(ToolInvocation {
        cmd,
        config_flag: p.tool.config_flag.clone(),
        config_path: p.tool.config_path.clone(),
        env,
    })
}

/// Copy the tool's source tree into the guest (without the directories in
/// `skip`: the runs directory, when the tree holds it) and write its
/// rendered config.
pub fn install(
    ssh: &mut Ssh,
    p: &Profile,
    project_dir: &Path,
    rendered_config: &str,
    skip: &[std::path::PathBuf],
) -> Result<()> {
    let src = project_dir.join(&p.tool.source_dir);
    if !src.is_dir() {
        bail!(
            "[tool] source_dir {} is not a directory (relative paths start at {})",
            src.display(),
            project_dir.display()
        );
    }
    ssh.upload_dir_skipping(&src, &p.tool.guest_dir, Duration::from_secs(300), skip)
        .with_context(|| format!("installing the tool from {}", src.display()))?;
    ssh.compile_python(&p.tool.guest_dir)?;
    ssh.write_file(&p.tool.config_path, rendered_config.as_bytes(), 0o644)
}

/// Options of one backup run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupArgs {
    pub subvolumes: Vec<String>,
    pub once: bool,
    pub dry_run: bool,
    pub no_s3: bool,
    pub log_level: Option<String>,
}

/// Options of one restore run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreArgs {
    pub subvolume: String,
    pub target: String,
    pub manifest_key: Option<String>,
    /// Some(true) `--wait-restore`, Some(false) `--no-wait-restore`.
    pub wait_restore: Option<bool>,
    pub restore_timeout_secs: Option<u64>,
    /// `full`, `sample` or `none`.
    pub verify: Option<String>,
    pub log_level: Option<String>,
}

impl ToolInvocation {
    fn line(&self, words: Vec<String>) -> String {
        let all: Vec<&String> = self
            .cmd
            .iter()
            .chain(&words)
            .chain([&self.config_flag, &self.config_path])
            .collect();
        env_command(&self.env, &all)
    }

    /// `<cmd> backup [--subvolume N]... [--once] [--dry-run] [--no-s3] [--log-level L] --config PATH`
    pub fn backup(&self, a: &BackupArgs) -> String {
        let mut w = vec!["backup".to_string()];
        for s in &a.subvolumes {
            w.push("--subvolume".into());
            w.push(s.clone());
        }
        if a.once {
            w.push("--once".into());
        }
        if a.dry_run {
            w.push("--dry-run".into());
        }
        if a.no_s3 {
            w.push("--no-s3".into());
        }
        if let Some(l) = &a.log_level {
            w.push("--log-level".into());
            w.push(l.clone());
        }
        self.line(w)
    }

    /// `<cmd> backup --subvolume N --once --config PATH`: back up one subvolume now.
    pub fn backup_now(&self, subvolume: &str) -> String {
        self.backup(&BackupArgs {
            subvolumes: vec![subvolume.to_string()],
            once: true,
            ..Default::default()
        })
    }

    /// `<cmd> restore --subvolume N --target PATH [--manifest-key K] [--wait-restore|--no-wait-restore]
    /// [--restore-timeout S] [--verify M] [--log-level L] --config PATH`
    pub fn restore(&self, a: &RestoreArgs) -> String {
        let mut w = vec![
            "restore".to_string(),
            "--subvolume".into(),
            a.subvolume.clone(),
            "--target".into(),
            a.target.clone(),
        ];
        if let Some(k) = &a.manifest_key {
            w.push("--manifest-key".into());
            w.push(k.clone());
        }
        match a.wait_restore {
            Some(true) => w.push("--wait-restore".into()),
            Some(false) => w.push("--no-wait-restore".into()),
            None => {}
        }
        if let Some(t) = a.restore_timeout_secs {
            w.push("--restore-timeout".into());
            w.push(t.to_string());
        }
        if let Some(v) = &a.verify {
            w.push("--verify".into());
            w.push(v.clone());
        }
        if let Some(l) = &a.log_level {
            w.push("--log-level".into());
            w.push(l.clone());
        }
        self.line(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> ToolInvocation {
        ToolInvocation {
            cmd: vec!["python3".into(), "-m".into(), "btrfs_to_s3".into()],
            config_flag: "--config".into(),
            config_path: "/etc/vmharness/tool.toml".into(),
            env: vec![
                ("PYTHONPATH".into(), "/opt/vmharness/tool".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "s e'cret".into()),
            ],
        }
    }

    #[test]
    fn backup_now_is_one_subvolume_once() {
        let t = inv();
        assert_eq!(
            t.backup_now("data"),
            t.backup(&BackupArgs {
                subvolumes: vec!["data".into()],
                once: true,
                ..Default::default()
            })
        );
        assert!(t
            .backup_now("data")
            .contains("backup --subvolume data --once --config"));
    }

    #[test]
    fn backup_golden() {
        let a = BackupArgs {
            subvolumes: vec!["data".into()],
            once: true,
            ..Default::default()
        };
        assert_eq!(
            inv().backup(&a),
            "env PYTHONPATH=/opt/vmharness/tool 'AWS_SECRET_ACCESS_KEY=s e'\\''cret' python3 -m btrfs_to_s3 \
             backup --subvolume data --once --config /etc/vmharness/tool.toml"
        );
    }

    #[test]
    fn restore_golden() {
        let a = RestoreArgs {
            subvolume: "data".into(),
            target: "/mnt/fixture/restore/data-1".into(),
            manifest_key: Some("p/subvol/data/full/manifest-20260101T000000Z.json".into()),
            wait_restore: Some(true),
            restore_timeout_secs: Some(600),
            verify: Some("full".into()),
            log_level: None,
        };
        let mut i = inv();
        i.env.clear();
        assert_eq!(
            i.restore(&a),
            "python3 -m btrfs_to_s3 restore --subvolume data --target /mnt/fixture/restore/data-1 \
             --manifest-key p/subvol/data/full/manifest-20260101T000000Z.json --wait-restore \
             --restore-timeout 600 --verify full --config /etc/vmharness/tool.toml"
        );
    }
}
