//! `[tool]`: how to run the tool under test, where its source lives, and
//! the guest paths of its state.

use anyhow::{anyhow, bail, Result};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The environment variable that replaces `[tool] cmd`.
pub const CMD_ENV: &str = "BTRFS_TO_S3_CMD";

/// Log levels the contract's tool accepts.
pub const LOG_LEVELS: &[&str] = &["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolSection {
    /// argv prefix; the subcommand and flags follow.
    pub cmd: Vec<String>,
    pub config_flag: String,
    /// The tool's source tree on the host (relative: to the project directory).
    pub source_dir: String,
    /// Where that tree is copied in the guest (put on PYTHONPATH).
    pub guest_dir: String,
    /// Extra environment for every tool command (after the harness's own).
    pub env: BTreeMap<String, String>,
    /// `[global] log_level` of the rendered config.
    pub log_level: String,
    /// Absolute guest paths of the rendered config's `[global]` section.
    pub state_path: String,
    pub lock_path: String,
    pub spool_dir: String,
    /// Where the rendered config is written in the guest.
    pub config_path: String,
    /// Words that say an integrity check failed, added to
    /// [`crate::verify::tool_output::DEFAULT_INTEGRITY_WORDS`].
    pub integrity_words: Vec<String>,
    /// Regular expressions that mark a crash when one matches the last lines
    /// of the tool's stderr (see [`crate::verify::tool_output::crash`]).
    pub crash_patterns: Vec<String>,
}

impl Default for ToolSection {
    fn default() -> Self {
        ToolSection {
            cmd: vec!["python3".into(), "-m".into(), "btrfs_to_s3".into()],
            config_flag: "--config".into(),
            source_dir: "reference-tool".into(),
            guest_dir: "/opt/vmharness/tool".into(),
            env: BTreeMap::new(),
            log_level: "INFO".into(),
            state_path: "/var/lib/btrfs_to_s3/state.json".into(),
            lock_path: "/var/lib/btrfs_to_s3/backup.lock".into(),
            spool_dir: "/var/lib/btrfs_to_s3/spool".into(),
            config_path: "/etc/btrfs_to_s3/config.toml".into(),
            integrity_words: Vec::new(),
            crash_patterns: Vec::new(),
        }
    }
}

impl ToolSection {
    pub(super) fn validate(&self, f: &str) -> Result<()> {
        check_cmd(&self.cmd).map_err(|e| anyhow!("profile {f}: [tool] cmd {e}"))?;
        if !self.config_flag.starts_with('-') || self.config_flag.contains(char::is_whitespace) {
            bail!(
                "profile {f}: [tool] config_flag must be one option like \"--config\", got {:?}",
                self.config_flag
            );
        }
        if self.source_dir.is_empty() {
            bail!("profile {f}: [tool] source_dir must name the tool's source tree on the host");
        }
        for (key, value) in [
            ("guest_dir", &self.guest_dir),
            ("state_path", &self.state_path),
            ("lock_path", &self.lock_path),
            ("spool_dir", &self.spool_dir),
            ("config_path", &self.config_path),
        ] {
            if !super::is_clean_absolute(value) {
                bail!("profile {f}: [tool] {key} must be an absolute guest path without \"..\", got {value:?}");
            }
        }
        for name in self.env.keys() {
            let ok = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                bail!("profile {f}: [tool] env key {name:?} is not a variable name ([A-Za-z_][A-Za-z0-9_]*)");
            }
        }
        if !LOG_LEVELS.contains(&self.log_level.as_str()) {
            bail!(
                "profile {f}: [tool] log_level must be one of {}, got {:?}",
                LOG_LEVELS.join(", "),
                self.log_level
            );
        }
        for (i, word) in self.integrity_words.iter().enumerate() {
            if !word.chars().any(char::is_alphanumeric) {
                bail!("profile {f}: [tool] integrity_words[{i}] must contain a letter or a digit, got {word:?}");
            }
        }
        self.crash_regexes()
            .map_err(|e| anyhow!("profile {f}: [tool] {e}"))?;
        Ok(())
    }

    /// `crash_patterns` compiled; the error names the pattern (by index and
    /// text) and says what is wrong with it.
    pub fn crash_regexes(&self) -> Result<Vec<Regex>> {
        let mut out = Vec::with_capacity(self.crash_patterns.len());
        for (i, pattern) in self.crash_patterns.iter().enumerate() {
            let re = Regex::new(pattern).map_err(|e| {
                anyhow!("crash_patterns[{i}] {pattern:?} is not a valid regular expression: {e}")
            })?;
            if re.is_match("") {
                bail!("crash_patterns[{i}] {pattern:?} matches an empty stderr, so every run would count as a crash");
            }
            out.push(re);
        }
        Ok(out)
    }
}

fn check_cmd(cmd: &[String]) -> std::result::Result<(), String> {
    if cmd.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(i) = cmd.iter().position(|a| a.is_empty()) {
        return Err(format!("element {i} is an empty string"));
    }
    if let Some(i) = cmd.iter().position(|a| a.contains('\0')) {
        return Err(format!("element {i} contains a NUL byte"));
    }
    Ok(())
}

/// The tool's argv prefix: `BTRFS_TO_S3_CMD` (a JSON array of non-empty
/// strings) when set, else the profile's. Never split on whitespace.
pub fn tool_command(profile_cmd: &[String], env_value: Option<&str>) -> Result<Vec<String>> {
    let Some(raw) = env_value else {
        check_cmd(profile_cmd).map_err(|e| anyhow!("[tool] cmd {e}"))?;
        return Ok(profile_cmd.to_vec());
    };
    let expected =
        "a JSON array of non-empty strings, e.g. '[\"python3\", \"-m\", \"btrfs_to_s3\"]'";
    let value: serde_json::Value = serde_json::from_str(raw)
        .map_err(|e| anyhow!("{CMD_ENV} must be {expected}; it is not JSON ({e}): {raw:?}"))?;
    let serde_json::Value::Array(items) = value else {
        bail!("{CMD_ENV} must be {expected}, got {raw:?}");
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            serde_json::Value::String(s) => out.push(s),
            other => bail!("{CMD_ENV} must be {expected}; element {i} is {other}"),
        }
    }
    check_cmd(&out).map_err(|e| anyhow!("{CMD_ENV} must be {expected}; it {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_cmd() -> Vec<String> {
        ToolSection::default().cmd
    }

    #[test]
    fn env_absent_uses_profile() {
        assert_eq!(tool_command(&default_cmd(), None).unwrap(), default_cmd());
    }

    #[test]
    fn env_json_array_wins() {
        let got = tool_command(
            &default_cmd(),
            Some(r#"["/usr/bin/env", "FOO=a b", "wrap"]"#),
        )
        .unwrap();
        assert_eq!(got, vec!["/usr/bin/env", "FOO=a b", "wrap"]);
    }

    #[test]
    fn env_rejects_everything_else() {
        for bad in [
            "python3 -m btrfs_to_s3",
            "",
            "[]",
            r#"[""]"#,
            r#"["a", 1]"#,
            r#""python3""#,
            r#"{"cmd": ["a"]}"#,
            r#"["a", null]"#,
        ] {
            let err = tool_command(&default_cmd(), Some(bad))
                .unwrap_err()
                .to_string();
            assert!(err.contains(CMD_ENV), "{bad:?}: {err}");
        }
    }

    #[test]
    fn empty_profile_cmd_is_an_error() {
        assert!(tool_command(&[], None).is_err());
        assert!(tool_command(&["".into()], None).is_err());
    }

    #[test]
    fn validation_names_keys() {
        let d = ToolSection::default;
        assert!(d().validate("f").is_ok());
        let e = |t: ToolSection| t.validate("f").unwrap_err().to_string();
        assert!(e(ToolSection { cmd: vec![], ..d() }).contains("[tool] cmd"));
        assert!(e(ToolSection {
            state_path: "state.json".into(),
            ..d()
        })
        .contains("[tool] state_path"));
        assert!(e(ToolSection {
            lock_path: "/a/../b".into(),
            ..d()
        })
        .contains("[tool] lock_path"));
        assert!(e(ToolSection {
            config_flag: "config".into(),
            ..d()
        })
        .contains("[tool] config_flag"));
        assert!(e(ToolSection {
            log_level: "info".into(),
            ..d()
        })
        .contains("[tool] log_level"));
        let mut env = BTreeMap::new();
        env.insert("A B".to_string(), "x".to_string());
        assert!(e(ToolSection { env, ..d() }).contains("[tool] env"));
        assert!(e(ToolSection {
            integrity_words: vec!["blake3".into(), " - ".into()],
            ..d()
        })
        .contains("[tool] integrity_words[1] must contain a letter or a digit, got \" - \""));
    }

    #[test]
    fn crash_patterns_compile_or_say_why_not() {
        let with = |p: &[&str]| ToolSection {
            crash_patterns: p.iter().map(|s| s.to_string()).collect(),
            ..ToolSection::default()
        };
        assert!(ToolSection::default().crash_regexes().unwrap().is_empty());
        let ok = with(&["Fatal Python error", r"(?m)^AddressSanitizer: \w+"]);
        assert!(ok.validate("f").is_ok());
        let res = ok.crash_regexes().unwrap();
        assert!(res[1].is_match("x\nAddressSanitizer: heap-use-after-free"));
        let err = with(&["ok", "(unclosed"])
            .validate("p.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("profile p.toml: [tool] crash_patterns[1] \"(unclosed\" is not a valid regular expression: regex parse error:"),
            "{err}"
        );
        assert!(err.contains("unclosed group"), "{err}");
        for empty in ["", "x*", "^"] {
            let err = with(&[empty]).validate("p.toml").unwrap_err().to_string();
            assert!(err.contains("matches an empty stderr"), "{empty:?}: {err}");
        }
    }
}
