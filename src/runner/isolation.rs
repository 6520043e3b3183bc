//! Isolation between scenarios: after a scenario that leaves known ground,
//! checkpoint what later scenarios build on (the fixture disk, the
//! endpoint's store, the tool's state file, the facts the harness keeps);
//! after one that broke or failed, roll back to the last checkpoint, so
//! one broken scenario never blinds the rest of the run.

use super::session::{BackupFact, Session};
use crate::ssh::shell_quote;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The state after one scenario, ready to be rolled back to.
pub struct Checkpoint {
    /// The scenario after which it was taken ("the start" for a case's template).
    pub after: String,
    /// The journal's last sequence number then.
    journal_seq: u64,
    fixture: Option<crate::vm::FixtureCheckpoint>,
    /// The endpoint's store as it was (None: no embedded endpoint).
    store: Option<PathBuf>,
    /// The tool's state file's bytes (None: there was none).
    tool_state: Option<Vec<u8>>,
    backups: Vec<BackupFact>,
    snapshots: BTreeMap<String, Vec<String>>,
}

/// The run's checkpoints: only the latest is ever rolled back to.
#[derive(Default)]
pub struct Checkpoints {
    latest: Option<Checkpoint>,
    taken: u32,
    /// Seconds spent checkpointing and rolling back (reported as harness work).
    pub seconds: f64,
    /// Journal records (inclusive ranges of sequence numbers) whose effects
    /// a rollback undid.
    pub rolled_back: Vec<(u64, u64)>,
}

impl Checkpoints {
    /// The scenario the latest checkpoint follows.
    pub fn latest_after(&self) -> Option<&str> {
        self.latest.as_ref().map(|c| c.after.as_str())
    }

    /// Forget every checkpoint (a new case starts from a new fixture and store).
    pub fn clear(&mut self) {
        self.latest = None;
        self.rolled_back.clear();
    }
}

/// Guest shell that prints the tool's state file base64-encoded, or `ABSENT`.
fn read_state_script(path: &str) -> String {
    let p = shell_quote(path);
    format!("if [ -e {p} ]; then base64 -w0 {p}; else echo ABSENT; fi")
}

/// Guest shell that stops every tool process (its command line names the
/// rendered config), then puts the state file back as `state` said
/// (None: removed) and removes the lock and the spool.
fn restore_tool_script(tool: &crate::profile::ToolSection, state: Option<&[u8]>) -> String {
    use base64::Engine as _;
    let put = match state {
        Some(bytes) => format!(
            "mkdir -p \"$(dirname {p})\" && echo {} | base64 -d > {p}",
            base64::engine::general_purpose::STANDARD.encode(bytes),
            p = shell_quote(&tool.state_path)
        ),
        None => format!("rm -f {}", shell_quote(&tool.state_path)),
    };
    format!(
        "pkill -KILL -f -- {cfg} 2>/dev/null; for i in $(seq 1 50); do pgrep -f -- {cfg} >/dev/null || break; sleep 0.1; done; \
         rm -rf {lock} {spool} && {put}",
        cfg = shell_quote(&not_itself(&tool.config_path)),
        lock = shell_quote(&tool.lock_path),
        spool = shell_quote(&tool.spool_dir),
    )
}

/// A `pgrep -f` pattern for `text` that does not match the shell running
/// the pattern itself (its first character in brackets: `[/]etc/x.toml`).
fn not_itself(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => format!("[{c}]{}", chars.as_str()),
        None => String::new(),
    }
}

impl Session {
    /// The embedded journal's last sequence number (0 without one).
    fn journal_seq(&self) -> u64 {
        self.endpoint
            .as_ref()
            .and_then(|e| e.journal().all().iter().map(|r| r.seq).max())
            .unwrap_or(0)
    }

    /// Checkpoint the state now, after scenario `after`.
    pub fn checkpoint(&mut self, after: &str) -> Result<()> {
        let t = Instant::now();
        let n = self.checkpoints.taken + 1;
        let fixture = if self.vm.state().fixture_serial.is_some() {
            let mount = self.layout.mount.clone();
            Some(
                self.vm
                    .checkpoint_fixture(&mount)
                    .with_context(|| format!("checkpointing the fixture after {after}"))?,
            )
        } else {
            None
        };
        let store = match &self.endpoint {
            Some(ep) => {
                let dir = self.run_dir.join("checkpoints").join(format!("s3-{n}"));
                self.rt
                    .block_on(ep.checkpoint(&dir))
                    .with_context(|| format!("checkpointing the S3 store after {after}"))?;
                Some(dir)
            }
            None => None,
        };
        let out = self.vm.ssh().run(
            "checkpoint-tool-state",
            &read_state_script(&self.profile.tool.state_path),
            Duration::from_secs(60),
        )?;
        let text = out.stdout_text();
        let tool_state = match text.trim() {
            "ABSENT" => None,
            b64 => {
                use base64::Engine as _;
                Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .context("decoding the tool's state file")?,
                )
            }
        };
        // The previous checkpoint's store copy is no longer needed.
        if let Some(old) = self.checkpoints.latest.take() {
            if let Some(dir) = old.store {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        self.checkpoints.latest = Some(Checkpoint {
            after: after.to_string(),
            journal_seq: self.journal_seq(),
            fixture,
            store,
            tool_state,
            backups: self.backups.clone(),
            snapshots: self.snapshots.clone(),
        });
        self.checkpoints.taken = n;
        self.checkpoints.seconds += t.elapsed().as_secs_f64();
        Ok(())
    }

    /// Roll back to the latest checkpoint: the tool's processes stopped,
    /// the fixture disk, the store, the tool's state and the facts as they
    /// were. Returns what it rolled back to, for the report.
    pub fn rollback(&mut self) -> Result<String> {
        let t = Instant::now();
        let Some(cp) = self.checkpoints.latest.as_ref() else {
            bail!("there is no checkpoint to roll back to");
        };
        let after = cp.after.clone();
        let (fixture, store, tool_state) =
            (cp.fixture.clone(), cp.store.clone(), cp.tool_state.clone());
        let (backups, snapshots, journal_seq) =
            (cp.backups.clone(), cp.snapshots.clone(), cp.journal_seq);
        // Nothing of the tool may run while its ground is replaced.
        let script = format!(
            "{}\n{}",
            restore_tool_script(&self.profile.tool, tool_state.as_deref()),
            self.layout.discard_script()
        );
        self.vm
            .ssh()
            .run("rollback-stop-tool", &script, Duration::from_secs(120))
            .context("stopping the tool and unmounting the fixture for the rollback")?;
        if let Some(fx) = fixture {
            self.vm
                .rollback_fixture(&fx)
                .with_context(|| format!("rolling the fixture back to after {after}"))?;
            self.layout.mount(self.vm.ssh())?;
        }
        if let (Some(ep), Some(dir)) = (&self.endpoint, store) {
            self.rt
                .block_on(ep.rollback(&dir))
                .with_context(|| format!("rolling the S3 store back to after {after}"))?;
        }
        self.backups = backups;
        self.snapshots = snapshots;
        let undone = (journal_seq + 1, self.journal_seq());
        if undone.0 <= undone.1 {
            self.checkpoints.rolled_back.push(undone);
        }
        let seconds = t.elapsed().as_secs_f64();
        self.checkpoints.seconds += seconds;
        Ok(format!(
            "rolled back to the checkpoint after {after} ({seconds:.1}s)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_file_is_read_whole_or_said_absent() {
        assert_eq!(
            read_state_script("/var/lib/t/state.json"),
            "if [ -e /var/lib/t/state.json ]; then base64 -w0 /var/lib/t/state.json; else echo ABSENT; fi"
        );
    }

    #[test]
    fn the_tool_is_stopped_before_its_state_is_put_back() {
        let tool = crate::profile::ToolSection::default();
        let s = restore_tool_script(&tool, Some(b"{\"a\": 1}"));
        let kill = s.find("pkill -KILL -f -- ").expect("kills the tool");
        let put = s.find("base64 -d >").expect("writes the state back");
        assert!(kill < put, "{s}");
        let pattern = not_itself(&tool.config_path);
        assert!(s.contains(&pattern), "{s}");
        assert!(
            !s.contains(&tool.config_path),
            "the shell would match itself: {s}"
        );
        assert!(regex::Regex::new(&pattern)
            .unwrap()
            .is_match(&tool.config_path));
        assert!(s.contains("eyJhIjogMX0="), "{s}");
        assert!(
            s.contains(&format!("rm -rf {} {}", tool.lock_path, tool.spool_dir)),
            "{s}"
        );
        let s = restore_tool_script(&tool, None);
        assert!(s.ends_with(&format!("rm -f {}", tool.state_path)), "{s}");
    }
}
