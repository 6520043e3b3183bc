//! The guest's login environment for a person in a shell (`vmharness shell`,
//! a run kept by `--keep-on-failure`): the tool's environment exported, a
//! `bts3` function running the tool with its config, and a banner.

use super::session::Session;
use crate::ssh::shell_quote;
use crate::tool::ToolInvocation;
use anyhow::Result;

/// Where the script goes: login shells source it.
pub const GUEST_PATH: &str = "/etc/profile.d/vmharness.sh";

/// The script: exports, the `bts3` function, and a banner for interactive shells.
pub fn profile_script(
    inv: &ToolInvocation,
    run_id: &str,
    mount: &str,
    subvolumes: &[String],
) -> String {
    let mut s =
        String::from("# Written by vmharness for a person in a shell: the tool's environment.\n");
    for (k, v) in &inv.env {
        s.push_str(&format!("export {k}={}\n", shell_quote(v)));
    }
    let cmd: Vec<String> = inv.cmd.iter().map(|w| shell_quote(w)).collect();
    let tool = format!(
        "{} \"$@\" {} {}",
        cmd.join(" "),
        shell_quote(&inv.config_flag),
        shell_quote(&inv.config_path)
    );
    s.push_str(&format!("bts3() {{ {tool}; }}\n"));
    let endpoint = inv
        .env
        .iter()
        .find(|(k, _)| k == "AWS_ENDPOINT_URL_S3")
        .map(|(_, v)| v.as_str())
        .unwrap_or("the profile's S3 (see AWS_* in env)");
    let banner = format!(
        "vmharness run {run_id}\n  fixture: Btrfs at {mount} (subvolumes: {})\n  \
         the tool: bts3 ARGS runs `{} ARGS {} {}`\n    e.g. bts3 backup --subvolume {} --once\n  \
         S3: {endpoint} (AWS_* exported)\n",
        subvolumes.join(", "),
        inv.cmd.join(" "),
        inv.config_flag,
        inv.config_path,
        subvolumes.first().map(String::as_str).unwrap_or("NAME"),
    );
    s.push_str("case $- in *i*) cat <<'VMHARNESS_BANNER'\n");
    s.push_str(&banner);
    s.push_str("VMHARNESS_BANNER\n;; esac\n");
    s
}

/// Write the script into the session's guest.
pub fn install(s: &mut Session) -> Result<()> {
    let script = profile_script(&s.tool, &s.run_id, &s.layout.mount, &s.layout.subvolumes);
    s.vm.ssh().write_file(GUEST_PATH, script.as_bytes(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_exports_the_env_and_wraps_the_tool() {
        let inv = ToolInvocation {
            cmd: vec!["python3".into(), "-m".into(), "btrfs_to_s3".into()],
            config_flag: "--config".into(),
            config_path: "/etc/b/config.toml".into(),
            env: vec![
                ("AWS_ENDPOINT_URL_S3".into(), "http://10.0.2.100:80".into()),
                ("X".into(), "a b'c".into()),
            ],
        };
        let s = profile_script(&inv, "r1", "/mnt/fixture", &["data".into()]);
        assert!(
            s.contains("export AWS_ENDPOINT_URL_S3=http://10.0.2.100:80\n"),
            "{s}"
        );
        assert!(
            s.contains(&format!("export X={}\n", shell_quote("a b'c"))),
            "{s}"
        );
        assert!(
            s.contains("bts3() { python3 -m btrfs_to_s3 \"$@\" --config /etc/b/config.toml; }"),
            "{s}"
        );
        assert!(
            s.contains("Btrfs at /mnt/fixture (subvolumes: data)"),
            "{s}"
        );
        assert!(s.contains("bts3 backup --subvolume data --once"), "{s}");
        assert!(s.contains("S3: http://10.0.2.100:80"), "{s}");
        assert!(s.trim_end().ends_with("esac"), "{s}");
    }

    #[test]
    fn the_script_is_valid_sh() {
        let inv = ToolInvocation {
            cmd: vec!["false".into()],
            config_flag: "--config".into(),
            config_path: "/c".into(),
            env: vec![("A".into(), "1".into())],
        };
        let s = profile_script(&inv, "r", "/m", &[]);
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", &s])
            .output()
            .expect("running sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
