//! interrupt: a backup spanning several chunks is killed mid-upload (SIGTERM,
//! then SIGKILL), at a moment the journal chooses: the first
//! `interrupt_after_chunks` chunks are stored and the next chunk's upload
//! is held by a stall. Then: the state is coherent, a rerun succeeds and
//! publishes a complete backup, the lock was recovered, orphans reported.

use super::guest::{self, note_backups};
use super::hold::{self, Stall};
use super::Scenario;
use crate::runner::blame::tool_broke;
use crate::runner::session::{Session, ToolRun};
use crate::verify::layout::{KeyClass, Layout};
use crate::verify::objects::verify_orphans;
use crate::verify::{names, Check};
use anyhow::{Context, Result};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

pub const KILLED: &str = "verify.interrupt.killed";
pub const RERUN_SUCCEEDS: &str = "verify.interrupt.rerun_succeeds";
pub const LOCK_RECOVERED: &str = "verify.interrupt.lock_recovered";

/// The checks of each variant, in the order they are decided.
const CHECKS: [&str; 6] = [
    KILLED,
    names::STATE_COHERENT,
    RERUN_SUCCEEDS,
    LOCK_RECOVERED,
    names::ORPHAN_UPLOADS,
    names::ORPHAN_OBJECTS,
];

/// The signals of the two variants, as `kill -s` names them.
const VARIANTS: [&str; 2] = ["TERM", "KILL"];

pub struct Interrupt;

fn per_variant(c: &str, sig: &str) -> String {
    format!("{c}[SIG{sig}]")
}

impl Scenario for Interrupt {
    fn needs_embedded(&self) -> Option<&'static str> {
        Some("the stall fault, to hold the backup mid-upload")
    }
    fn name(&self) -> &'static str {
        "interrupt"
    }
    fn expected_checks(&self, _s: &Session) -> Vec<String> {
        let mut v = Vec::new();
        for sig in VARIANTS {
            for c in CHECKS {
                v.push(per_variant(c, sig));
            }
        }
        v
    }
    fn variants(&self) -> &'static [&'static str] {
        &["SIGTERM", "SIGKILL"]
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let layout = Layout::from_profile(&s.profile)?;
        let sv = super::first_subvolume(s)?;
        for sig in VARIANTS {
            if !s.runs_variant(&format!("SIG{sig}")) {
                continue;
            }
            let expected: Vec<String> = CHECKS.iter().map(|c| per_variant(c, sig)).collect();
            let done = variant(s, &layout, &sv, sig)
                .with_context(|| format!("interrupt variant SIG{sig}"));
            super::settle_variant(s, &expected, done)?;
        }
        Ok(())
    }
}

/// One kill and its rerun, each check recorded (`name[SIGx]`) as decided.
fn variant(s: &mut Session, layout: &Layout, sv: &str, sig: &str) -> Result<()> {
    let record = |s: &mut Session, mut c: Check| {
        c.name = per_variant(&c.name, sig);
        s.record(c);
    };
    let b = s.profile.backup.clone();
    let timeout = s.timeout();
    let file = format!("interrupt-{}.bin", sig.to_lowercase());
    guest::add_random_file(s, sv, &file, b.interrupt_data_bytes)?;

    // Hold the upload of chunk number `after` (0-based): chunks before it are stored.
    let after = b.interrupt_after_chunks.to_string();
    let op = hold::chunk_data_op(b.chunk_size_bytes);
    let stall = Stall::chunks(s, Some(op), &[("subvol", sv), ("index", &after)], false)?;
    let start = hold::mark(s)?;
    let line = s.tool.backup_now(sv);
    let label = format!("interrupt-{}", sig.to_lowercase());
    let (mut bg, stall) = hold::start_held(s, stall, &label, &line, &format!("at chunk {after}"))?;
    let n = b.interrupt_after_chunks as usize;
    if let Err(e) = hold::wait_chunks_stored(s, layout, sv, start, n, timeout) {
        return Err(tool_broke(
            format!("chunk {after}'s upload is held but {n} earlier chunk(s) were not stored: {e}"),
            None,
        ));
    }

    // The journal at the moment of the signal: mid-upload, nothing published.
    let at_signal = hold::since(s, start)?;
    let published = hold::pointer_writes(layout, &at_signal, sv);
    if !published.is_empty() {
        return Err(tool_broke(
            format!("the backup published current.json while chunk {after} was still held (not stored): {published:?}"),
            None,
        ));
    }
    let chunks_stored = at_signal
        .iter()
        .filter(|r| hold::is_chunk_stored(layout, r, sv))
        .count();
    let held: Vec<String> = at_signal
        .iter()
        .filter(|r| !r.finished() && r.fault.as_deref() == Some("stall"))
        .map(hold::describe)
        .collect();
    let delivery = bg.signal(s, sig)?;
    stall.release();
    let killed = bg.wait(s, timeout)?;
    note_backups(s, "interrupt", &killed)?;
    let after_kill = hold::since(s, start)?;
    let evidence = json!({
        "signal": delivery,
        "status": killed.status_text(),
        "chunks_stored_before_signal": chunks_stored,
        "held_at_signal": held,
        "writes_before_signal": hold::writes(&at_signal),
        "writes_after_signal": hold::writes(&after_kill[at_signal.len().min(after_kill.len())..]),
        "stderr_tail": crate::programs::tail(&killed.output.stderr_text(), 10),
    });
    record(s, killed_check(&killed, sig, evidence));

    // Before the rerun: the state names only what exists.
    let c = guest::state_coherence(s, layout)?;
    record(s, c);

    // The rerun.
    let lock_before = lock_file(s)?;
    let rerun = s.run_tool(&format!("interrupt-rerun-{}", sig.to_lowercase()), &line)?;
    note_backups(s, "interrupt", &rerun)?;
    let state = guest::s3_state(s, layout)?;
    let c = guest::published_check(
        RERUN_SUCCEEDS,
        &format!("the rerun after SIG{sig}"),
        &rerun,
        sv,
        &state,
        layout,
    );
    record(s, c);
    let lock_failed = rerun.log.events("backup_lock_failed").count() > 0;
    let evidence = json!({"lock_before_rerun": lock_before, "rerun_status": rerun.status_text(),
        "backup_lock_failed": rerun.log.events("backup_lock_failed").map(|r| r.get("error").unwrap_or_default().to_string()).collect::<Vec<_>>()});
    let c = if lock_failed || !rerun.succeeded() {
        Check::fail(
            LOCK_RECOVERED,
            evidence,
            if lock_failed {
                format!("the rerun could not take the lock the SIG{sig}-killed run left")
            } else {
                format!("the rerun failed ({})", rerun.status_text())
            },
        )
    } else {
        Check::pass(
            LOCK_RECOVERED,
            evidence,
            "the rerun took the lock (no backup_lock_failed)",
        )
    };
    record(s, c);

    // Orphans this variant left (what earlier scenarios left is not ours).
    let ours = hold::since(s, start)?;
    let written: BTreeSet<String> = ours
        .iter()
        .filter(|r| hold::WRITE_OPS.contains(&r.op.as_str()))
        .filter_map(|r| r.key.clone())
        .collect();
    let mut scoped = state.clone();
    scoped.uploads.retain(|u| written.contains(&u.key));
    scoped.objects.retain(|k, _| {
        !matches!(layout.classify(k), KeyClass::Chunk { .. }) || written.contains(k)
    });
    for c in verify_orphans(&scoped, layout) {
        record(s, c);
    }
    Ok(())
}

/// `verify.interrupt.killed`: the tool died of the signal, or exited with
/// 128+N after cleaning up (both are "killed by a signal" to systemd).
fn killed_check(run: &ToolRun, sig: &str, evidence: serde_json::Value) -> Check {
    let code = crate::ssh::signal_number(sig).map(|n| 128 + n);
    if run.output.signal.as_deref() == Some(sig)
        || (run.output.signal.is_none() && Some(run.output.status) == code)
    {
        Check::pass(
            KILLED,
            evidence,
            format!("SIG{sig} landed mid-upload and the tool died of it"),
        )
    } else {
        Check::fail(
            KILLED,
            evidence,
            format!(
                "after SIG{sig} the tool ended with {}, not as killed by the signal (128+N)",
                run.status_text()
            ),
        )
    }
}

/// The lock file's content and whether its pid is alive (None: no file).
fn lock_file(s: &mut Session) -> Result<serde_json::Value> {
    let path = crate::ssh::shell_quote(&s.profile.tool.lock_path);
    let out = s.vm.ssh().run(
        "read-lock",
        &format!(
            "if [ -e {path} ]; then p=$(head -c 64 {path} | tr -dc 0-9); echo \"present $p\"; \
             [ -n \"$p\" ] && kill -0 \"$p\" 2>/dev/null && echo alive || echo dead; else echo absent; fi"
        ),
        Duration::from_secs(60),
    )?;
    let text = out.stdout_text();
    let mut lines = text.lines();
    Ok(json!({"file": lines.next().unwrap_or_default(), "holder": lines.next()}))
}
