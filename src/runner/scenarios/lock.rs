//! lock-contention, deterministic: a first backup is held mid-upload by a
//! stall (the endpoint says when), a second backup of the same subvolume
//! must then be refused by the lock; released, the first completes. Then a
//! lock left by a SIGKILLed holder must not block the next backup.

use super::guest::note_backups;
use super::hold::{self, Stall};
use super::Scenario;
use crate::runner::background::BackgroundRun;
use crate::runner::blame::tool_broke;
use crate::runner::session::{Session, ToolRun};
use crate::verify::layout::Layout;
use crate::verify::Check;
use anyhow::Result;
use serde_json::json;

pub const SECOND_REJECTED: &str = "verify.lock.second_run_rejected";
pub const FIRST_COMPLETES: &str = "verify.lock.first_run_completes";
pub const STALE_RECOVERED: &str = "verify.lock.stale_recovered";

pub struct LockContention;

impl Scenario for LockContention {
    fn needs_embedded(&self) -> Option<&'static str> {
        Some("the stall fault, to hold the first backup mid-upload")
    }
    fn name(&self) -> &'static str {
        "lock-contention"
    }
    fn expected_checks(&self, _s: &Session) -> Vec<String> {
        vec![
            SECOND_REJECTED.into(),
            FIRST_COMPLETES.into(),
            STALE_RECOVERED.into(),
        ]
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let layout = Layout::from_profile(&s.profile)?;
        let sv = super::first_subvolume(s)?;
        contention(s, &layout, &sv)?;
        let c = stale_lock(s, &sv)?;
        s.record(c);
        Ok(())
    }
}

/// Start a backup in the background and wait until its first chunk
/// request is held; Err (with the run's end) when it never gets there.
fn start_held(s: &mut Session, sv: &str, label: &str) -> Result<(BackgroundRun, Stall)> {
    // A change, so the backup has something to send.
    let marker = format!("{}/lock-marker", s.layout.subvolume(sv));
    s.vm.ssh().run(
        "lock-marker",
        &format!("date +%s%N >> {}", crate::ssh::shell_quote(&marker)),
        std::time::Duration::from_secs(60),
    )?;
    // Any request on one of its chunks, once: later runs pass freely.
    let stall = Stall::chunks(s, None, &[("subvol", sv)], true)?;
    let line = s.tool.backup_now(sv);
    hold::start_held(s, stall, label, &line, "mid-upload")
}

fn lock_errors(run: &ToolRun) -> Vec<String> {
    run.log
        .events("backup_lock_failed")
        .map(|r| r.get("error").unwrap_or_default().to_string())
        .collect()
}

/// First held, second refused, first completes (each recorded as decided).
fn contention(s: &mut Session, layout: &Layout, sv: &str) -> Result<()> {
    let (first, stall) = start_held(s, sv, "lock-first")?;
    let held = hold::journal(s)?
        .in_flight()
        .iter()
        .filter(|r| r.fault.as_deref() == Some("stall"))
        .map(hold::describe)
        .collect::<Vec<_>>();
    let mark = hold::mark(s)?;
    let line = s.tool.backup_now(sv);
    let second = s.run_tool("lock-second", &line)?;
    let second_writes = hold::writes(&hold::since(s, mark)?);
    let first = hold::still_running(s, first, "the second backup's contention")?;
    note_backups(s, "lock-contention", &second)?;
    let errors = lock_errors(&second);
    let rejected =
        !second.succeeded() && second.output.signal.is_none() && !second.output.timed_out;
    let evidence = json!({
        "first_held_at": held,
        "second_status": second.status_text(),
        "backup_lock_failed": errors,
        "second_s3_writes": second_writes,
        "stderr_tail": crate::programs::tail(&second.output.stderr_text(), 10),
    });
    let c = match (rejected, errors.is_empty()) {
        (true, false) => Check::pass(
            SECOND_REJECTED,
            evidence,
            format!(
                "the second backup logged backup_lock_failed and ended with {}",
                second.status_text()
            ),
        ),
        (true, true) => Check::fail(
            SECOND_REJECTED,
            evidence,
            format!(
                "the second backup failed ({}) without logging backup_lock_failed",
                second.status_text()
            ),
        ),
        (false, _) => Check::fail(
            SECOND_REJECTED,
            evidence,
            format!(
                "a second backup ran while the first held the lock ({})",
                second.status_text()
            ),
        ),
    };
    s.record(c);
    stall.release();
    let timeout = s.timeout();
    let first = first.wait(s, timeout)?;
    note_backups(s, "lock-contention", &first)?;
    let state = super::guest::s3_state(s, layout)?;
    let c = super::guest::published_check(
        FIRST_COMPLETES,
        "released, the first backup",
        &first,
        sv,
        &state,
        layout,
    );
    s.record(c);
    Ok(())
}

/// A holder killed with SIGKILL leaves its lock behind; the next backup
/// must recover it.
fn stale_lock(s: &mut Session, sv: &str) -> Result<Check> {
    let (mut holder, stall) = start_held(s, sv, "lock-stale-holder")?;
    let delivery = holder.signal(s, "KILL")?;
    stall.release();
    let timeout = s.timeout();
    let killed = holder.wait(s, timeout)?;
    if killed.output.signal.as_deref() != Some("KILL") {
        return Err(tool_broke(
            format!(
                "the lock holder did not die of SIGKILL ({}): no stale lock to recover",
                killed.status_text()
            ),
            Some(&killed),
        ));
    }
    note_backups(s, "lock-contention", &killed)?;
    let line = s.tool.backup_now(sv);
    let next = s.run_tool("lock-after-stale", &line)?;
    note_backups(s, "lock-contention", &next)?;
    let errors = lock_errors(&next);
    let evidence = json!({"holder_killed": delivery, "holder_status": killed.status_text(),
        "next_status": next.status_text(), "backup_lock_failed": errors,
        "stderr_tail": crate::programs::tail(&next.output.stderr_text(), 10)});
    Ok(if next.succeeded() && errors.is_empty() {
        Check::pass(
            STALE_RECOVERED,
            evidence,
            "the backup after a SIGKILLed holder took the lock and exited 0",
        )
    } else if !errors.is_empty() {
        Check::fail(
            STALE_RECOVERED,
            evidence,
            "the lock of a dead holder blocks the next backup (backup_lock_failed)",
        )
    } else {
        Check::fail(
            STALE_RECOVERED,
            evidence,
            format!(
                "the backup after a SIGKILLed holder failed ({})",
                next.status_text()
            ),
        )
    })
}
