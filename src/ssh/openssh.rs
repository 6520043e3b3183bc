//! The host's `ssh` (OpenSSH) command line that reaches a guest: for a
//! person's interactive shell, where ssh2 has no terminal to offer.

use super::SshTarget;

/// The arguments of `ssh` (without the program) that log in to `target`
/// with the run's key and run `command` (an interactive login shell when
/// empty; the words are joined by ssh and run by the guest's shell).
/// `tty` forces a terminal (`-t`). The guest's host key is new for every
/// run and the port is reused: no known_hosts entry is read or written.
pub fn argv(target: &SshTarget, command: &[String], tty: bool) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "-i".into(),
        target.key_path.display().to_string(),
        "-p".into(),
        target.addr.port().to_string(),
        "-l".into(),
        target.user.clone(),
    ];
    for opt in [
        "StrictHostKeyChecking=no",
        "UserKnownHostsFile=/dev/null",
        "GlobalKnownHostsFile=/dev/null",
        "IdentitiesOnly=yes",
        "BatchMode=yes",
        "LogLevel=ERROR",
    ] {
        a.push("-o".into());
        a.push(opt.into());
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
            host_key: vec![],
        }
    }

    #[test]
    fn an_interactive_shell() {
        let a = argv(&target(), &[], true);
        let line = a.join(" ");
        assert!(
            line.starts_with("-i /runs/r1/id_ed25519 -p 40022 -l root "),
            "{line}"
        );
        for o in [
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
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
        let a = argv(&target(), &cmd, false);
        assert!(!a.contains(&"-t".to_string()));
        assert_eq!(
            &a[a.len() - 5..],
            ["--", "127.0.0.1", "ls", "-l", "/mnt/fixture"]
        );
    }
}
