//! A tool command running in the background in the guest, in its own
//! process group, so a scenario can act while it runs (signal it, start a
//! second one) and collect its exit status and log afterwards.
//!
//! The guest keeps the command's pid (= its process group), stderr, stdout
//! and exit status in a directory of its own; the exit status is written by
//! a wrapper shell in another session, so it survives the command's death.

use super::session::{Session, ToolRun};
use crate::ssh::{shell_quote, Exec, Output};
use anyhow::{anyhow, bail, Context, Result};
use std::time::{Duration, Instant};

pub struct BackgroundRun {
    pub label: String,
    /// The command's pid, which is also its process group id.
    pub pgid: u32,
    dir: String,
    started: Instant,
    /// Signals the harness sent it (its death by one of them is no crash).
    sent: Vec<String>,
    /// A command of the tool under test (judged for crashes), not a helper of the harness's.
    tool: bool,
}

/// How a signal was delivered.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Delivery {
    pub signal: String,
    pub pgid: u32,
    /// Seconds since the command started.
    pub at_seconds: f64,
}

impl BackgroundRun {
    /// Start a command of the tool under test (`line`, a shell command
    /// line) in the background.
    pub fn start(s: &mut Session, label: &str, line: &str) -> Result<BackgroundRun> {
        Self::launch(s, label, line, true)
    }

    /// Start one of the harness's own guest helpers in the background.
    pub fn start_helper(s: &mut Session, label: &str, line: &str) -> Result<BackgroundRun> {
        Self::launch(s, label, line, false)
    }

    fn launch(s: &mut Session, label: &str, line: &str, tool: bool) -> Result<BackgroundRun> {
        let dir = format!("/tmp/vmharness-bg/{label}-{}", std::process::id());
        let q = shell_quote(&dir);
        // setsid from a non-leader does not fork: $! is the command's own
        // pid and the leader of a new session and process group.
        let inner = format!(
            "setsid {line} >{q}/stdout 2>{q}/stderr </dev/null & echo $! > {q}/pid.tmp && mv {q}/pid.tmp {q}/pid; \
             wait $!; echo $? > {q}/rc.tmp; mv {q}/rc.tmp {q}/rc"
        );
        let script = format!(
            "rm -rf {q} && mkdir -p {q} && \
             {{ setsid bash -c {} </dev/null >/dev/null 2>&1 & }} && \
             for i in $(seq 1 600); do [ -s {q}/pid ] && break; sleep 0.05; done; cat {q}/pid",
            shell_quote(&inner)
        );
        let out =
            s.vm.ssh()
                .run(&format!("{label}-start"), &script, Duration::from_secs(120))
                .with_context(|| format!("starting {label} in the background"))?;
        let pgid: u32 = out.stdout_text().trim().parse().map_err(|_| {
            anyhow!(
                "{label}: no pid from the background start ({:?})",
                out.stdout_text()
            )
        })?;
        Ok(BackgroundRun {
            label: label.into(),
            pgid,
            dir,
            started: Instant::now(),
            sent: Vec::new(),
            tool,
        })
    }

    /// Whether the command has ended (its exit status is recorded).
    pub fn finished(&self, s: &mut Session) -> Result<bool> {
        let out = s.vm.ssh().exec(&Exec {
            command: &format!("test -e {}/rc", shell_quote(&self.dir)),
            label: "bg-status",
            timeout: Duration::from_secs(60),
            echo: false,
        })?;
        Ok(out.success())
    }

    /// Send `signal` (e.g. `TERM`, `KILL`) to the command's process group.
    /// Fails when no process of the group is left (it already ended).
    pub fn signal(&mut self, s: &mut Session, signal: &str) -> Result<Delivery> {
        let at_seconds = self.started.elapsed().as_secs_f64();
        self.sent.push(signal.to_string());
        let out = s.vm.ssh().exec(&Exec {
            command: &format!("kill -s {signal} -- -{}", self.pgid),
            label: &format!("{}-kill-{signal}", self.label),
            timeout: Duration::from_secs(60),
            echo: false,
        })?;
        if !out.success() {
            let why = format!(
                "{}: it had already ended when SIG{signal} was to be sent to process group {} ({})",
                self.label,
                self.pgid,
                out.stderr_text().trim()
            );
            // The tool ended on its own while the harness held it: its doing.
            if self.tool {
                return Err(crate::runner::blame::tool_broke(why, None));
            }
            bail!(why);
        }
        Ok(Delivery {
            signal: signal.into(),
            pgid: self.pgid,
            at_seconds,
        })
    }

    /// Wait for the command to end; its exit status and parsed log.
    pub fn wait(self, s: &mut Session, timeout: Duration) -> Result<ToolRun> {
        let q = shell_quote(&self.dir);
        let secs = timeout.as_secs().max(1);
        let waited = s.vm.ssh().exec(&Exec {
            command: &format!(
                "timeout {secs} bash -c 'while [ ! -e {q}/rc ]; do sleep 0.1; done'; cat {q}/rc"
            ),
            label: &format!("{}-wait", self.label),
            timeout: timeout + Duration::from_secs(30),
            echo: false,
        })?;
        let rc = waited.stdout_text().trim().parse::<i32>().ok();
        let stderr = s.vm.ssh().exec(&Exec {
            command: &format!("cat {q}/stderr"),
            label: &format!("{}-stderr", self.label),
            timeout: Duration::from_secs(60),
            echo: false,
        })?;
        let Some(rc) = rc else {
            // Still running: do not leave it behind.
            let mut this = self;
            let _ = this.signal(s, "KILL");
            return Err(crate::runner::blame::tool_broke(
                format!(
                    "{}: still running after {secs}s (it hangs; the harness killed it); log tail: {}",
                    this.label,
                    crate::programs::tail(&stderr.stdout_text(), 10)
                ),
                None,
            ));
        };
        let output = Output {
            status: if rc > 128 { 0 } else { rc },
            signal: (rc > 128).then(|| signal_name(rc - 128)),
            stdout: vec![],
            stderr: stderr.stdout,
            duration: self.started.elapsed(),
            timed_out: false,
        };
        let run = ToolRun::new(output, &self.sent, &s.crash_patterns);
        if self.tool {
            s.work.tool += run.output.duration.as_secs_f64();
            s.note_invocation(&self.label, &run);
        }
        Ok(run)
    }
}

/// The name ssh would report for signal `n` (the shell gives 128+n).
fn signal_name(n: i32) -> String {
    match n {
        1 => "HUP".into(),
        2 => "INT".into(),
        6 => "ABRT".into(),
        9 => "KILL".into(),
        11 => "SEGV".into(),
        13 => "PIPE".into(),
        15 => "TERM".into(),
        n => format!("SIG{n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_codes_name_signals() {
        assert_eq!(signal_name(15), "TERM");
        assert_eq!(signal_name(9), "KILL");
        assert_eq!(signal_name(64), "SIG64");
    }
}
