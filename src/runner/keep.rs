//! `--keep-on-failure`: whether it applies here (a person at a terminal),
//! and keeping a failed run's VM and embedded S3 endpoint up until
//! `vmharness vm down` or Ctrl-C.

use super::session::Session;
use crate::events::{self, Scope};
use anyhow::Result;
use std::io::{IsTerminal, Write};

/// For tests only: treat this process as interactive (a terminal, no CI),
/// so `--keep-on-failure` can be tested where stdin is not a terminal.
pub const FORCE_ENV: &str = "VMHARNESS_FORCE_INTERACTIVE";

/// What `--keep-on-failure` does in this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not asked for.
    Off,
    On,
    /// Asked for but ignored: why (printed once).
    Ignored(String),
}

/// Keeping a VM waits for a person: only with stdin and stderr on a
/// terminal and outside CI (unless `forced`, for tests).
pub fn decide(
    requested: bool,
    stdin_tty: bool,
    stderr_tty: bool,
    ci: Option<&str>,
    forced: bool,
) -> Decision {
    if !requested {
        return Decision::Off;
    }
    if forced {
        return Decision::On;
    }
    if super::progress::in_ci(ci) {
        return Decision::Ignored(
            "CI is set: a kept VM would wait for a person who is not there".into(),
        );
    }
    if !stdin_tty || !stderr_tty {
        let which = if !stdin_tty { "stdin" } else { "stderr" };
        return Decision::Ignored(format!(
            "{which} is not a terminal: a kept VM would wait for a person who is not there"
        ));
    }
    Decision::On
}

/// The decision for this process; prints the line saying why when ignored.
pub fn from_env(requested: bool) -> bool {
    let d = decide(
        requested,
        std::io::stdin().is_terminal(),
        std::io::stderr().is_terminal(),
        std::env::var("CI").ok().as_deref(),
        std::env::var_os(FORCE_ENV).is_some_and(|v| v == "1"),
    );
    if let Decision::Ignored(why) = &d {
        events::emit(events::Event::Notice {
            text: format!("--keep-on-failure ignored: {why}"),
        });
    }
    d == Decision::On
}

/// The lines a kept run prints: how to reach the VM and how to end it.
pub fn kept_message(run_id: &str, failed: &str, s3_url: Option<&str>) -> String {
    let mut out = format!(
        "\nkept run {run_id} after {failed}: the VM is still running\n  \
         open a shell in it:  vmharness ssh {run_id}\n"
    );
    match s3_url {
        Some(url) => out.push_str(&format!(
            "  the embedded S3 endpoint stays up while this command runs ({url})\n"
        )),
        None => out.push_str("  S3: the profile's own backend (not the embedded endpoint)\n"),
    }
    out.push_str(&format!(
        "  stop it:  vmharness vm down --run {run_id}   (or Ctrl-C here)\n"
    ));
    out
}

/// Keep the session's VM up, reachable by `vmharness ssh` and the `vm`
/// commands (the supervisor's control socket), until `vm down` or a
/// signal; then stop the VM and the endpoint. `failed` names what failed.
pub fn hold(mut s: Session, failed: &str) -> Result<()> {
    if let Err(e) = super::shell_env::install(&mut s) {
        events::progress(
            Scope::Run(s.run_id.clone()),
            format!("the shell's tool environment was not written: {e:#}"),
        );
    }
    let url = s
        .endpoint
        .as_ref()
        .map(|ep| format!("http://127.0.0.1:{}", ep.port()));
    events::emit(events::Event::Report {
        text: kept_message(&s.run_id, failed, url.as_deref()),
    });
    let _ = std::io::stdout().flush();
    let served = crate::vm::supervisor::serve_until_down(&mut s.vm, &s.run_dir);
    let finished = s.finish();
    if let Ok(crate::vm::supervisor::Served::Down(reply_to)) = &served {
        let _ = writeln!(&*reply_to, "stopped");
    }
    served?;
    finished
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_only_for_a_person_at_a_terminal() {
        assert_eq!(decide(false, true, true, None, false), Decision::Off);
        assert_eq!(decide(false, false, false, Some("1"), true), Decision::Off);
        assert_eq!(decide(true, true, true, None, false), Decision::On);
        assert_eq!(decide(true, true, true, Some("false"), false), Decision::On);
        let Decision::Ignored(why) = decide(true, true, true, Some("true"), false) else {
            panic!("CI must disable it")
        };
        assert!(why.contains("CI"), "{why}");
        let Decision::Ignored(why) = decide(true, false, true, None, false) else {
            panic!("no terminal on stdin must disable it")
        };
        assert!(why.contains("stdin"), "{why}");
        let Decision::Ignored(why) = decide(true, true, false, None, false) else {
            panic!("no terminal on stderr must disable it")
        };
        assert!(why.contains("stderr"), "{why}");
        assert_eq!(
            decide(true, false, false, Some("true"), true),
            Decision::On,
            "forced (tests)"
        );
    }

    #[test]
    fn the_message_names_the_ssh_command_and_the_way_out() {
        let m = kept_message(
            "r1",
            "full: verify.backup.exit[data]",
            Some("http://127.0.0.1:9"),
        );
        assert!(m.contains("vmharness ssh r1\n"), "{m}");
        assert!(m.contains("vmharness vm down --run r1"), "{m}");
        assert!(m.contains("http://127.0.0.1:9"), "{m}");
        assert!(kept_message("r1", "x", None).contains("not the embedded"));
    }
}
