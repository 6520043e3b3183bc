//! The host's `ssh` (OpenSSH) command line that reaches a guest: for a
//! person's interactive shell, where ssh2 has no terminal to offer.

use super::SshTarget;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The known_hosts line that names the guest's host key at the forwarded
/// address (`[127.0.0.1]:PORT ssh-ed25519 AAAA...`).
pub fn known_hosts_line(target: &SshTarget) -> Result<String> {
    let key = ssh_key::PublicKey::from_bytes(&target.host_key)
        .context("the run's recorded host key is not an SSH public key")?;
    let text = key
        .to_openssh()
        .context("encoding the run's host key for known_hosts")?;
    Ok(format!(
        "[{}]:{} {}",
        target.addr.ip(),
        target.addr.port(),
        text.trim()
    ))
}

/// Write `<run_dir>/known_hosts` with the guest's host key: ssh checks the
/// key the run made (no trust on first use, nothing written to the user's
/// own known_hosts).
pub fn write_known_hosts(run_dir: &Path, target: &SshTarget) -> Result<PathBuf> {
    let path = run_dir.join("known_hosts");
    std::fs::write(&path, format!("{}\n", known_hosts_line(target)?))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The arguments of `ssh` (without the program) that log in to `target`
/// with the run's key and run `command` (an interactive login shell when
/// empty; the words are joined by ssh and run by the guest's shell).
/// `tty` forces a terminal (`-t`). The host key is checked against
/// `known_hosts` alone (see [`write_known_hosts`]).
pub fn argv(target: &SshTarget, known_hosts: &Path, command: &[String], tty: bool) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "-i".into(),
        target.key_path.display().to_string(),
        "-p".into(),
        target.addr.port().to_string(),
        "-l".into(),
        target.user.clone(),
    ];
    for opt in [
        "StrictHostKeyChecking=yes".to_string(),
        format!("UserKnownHostsFile={}", known_hosts.display()),
        "GlobalKnownHostsFile=/dev/null".into(),
        "IdentitiesOnly=yes".into(),
        "BatchMode=yes".into(),
        "LogLevel=ERROR".into(),
    ] {
        a.push("-o".into());
        a.push(opt);
    }
    if tty {
        a.push("-t".into());
    }
    a.push("--".into());
    a.push(target.addr.ip().to_string());
    a.extend(command.iter().cloned());
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn target() -> SshTarget {
        SshTarget {
            addr: SocketAddr::from(([127, 0, 0, 1], 40022)),
            user: "root".into(),
            key_path: "/runs/r1/id_ed25519".into(),
            host_key: crate::vm::keys::KeyPair::generate("t")
                .expect("a key")
                .public_blob,
        }
    }

    #[test]
    fn known_hosts_names_the_forwarded_port_and_the_key() {
        let t = target();
        let line = known_hosts_line(&t).unwrap();
        assert!(
            line.starts_with("[127.0.0.1]:40022 ssh-ed25519 AAAA"),
            "{line}"
        );
        let key = ssh_key::PublicKey::from_openssh(line.split_once(' ').unwrap().1).unwrap();
        assert_eq!(key.to_bytes().unwrap(), t.host_key);
    }

    #[test]
    fn an_interactive_shell() {
        let a = argv(&target(), Path::new("/runs/r1/known_hosts"), &[], true);
        let line = a.join(" ");
        assert!(
            line.starts_with("-i /runs/r1/id_ed25519 -p 40022 -l root "),
            "{line}"
        );
        for o in [
            "StrictHostKeyChecking=yes",
            "UserKnownHostsFile=/runs/r1/known_hosts",
            "BatchMode=yes",
        ] {
            let i = a
                .iter()
                .position(|w| w == o)
                .unwrap_or_else(|| panic!("{o} in {line}"));
            assert_eq!(a[i - 1], "-o");
        }
        assert!(line.ends_with(" -t -- 127.0.0.1"), "{line}");
    }

    #[test]
    fn a_command_follows_the_host_as_given() {
        let cmd = vec!["ls".to_string(), "-l".into(), "/mnt/fixture".into()];
        let a = argv(&target(), Path::new("/k"), &cmd, false);
        assert!(!a.contains(&"-t".to_string()));
        assert_eq!(
            &a[a.len() - 5..],
            ["--", "127.0.0.1", "ls", "-l", "/mnt/fixture"]
        );
    }
}
