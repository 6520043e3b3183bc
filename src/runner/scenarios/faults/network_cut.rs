//! network-cut: the guest's link goes down (QMP `set_link`) for
//! [`CUT`] while a backup (variant `backup`) and then a restore (variant
//! `restore`) is in flight: held by the endpoint at a chunk, the link is
//! cut, the held request is answered into the dead link, and the link
//! comes back. The operation must complete, or fail cleanly and succeed
//! when rerun; nothing half-published, nothing restored that is not equal.

use super::super::{first_subvolume, guest, hold, record_variant, Scenario};
use crate::runner::background::BackgroundRun;
use crate::runner::blame::tool_broke;
use crate::runner::session::Session;
use crate::verify::layout::{KeyClass, Layout};
use crate::verify::source::S3State;
use crate::verify::{Check, Verdict};
use anyhow::{anyhow, Result};
use serde_json::json;
use std::time::{Duration, Instant};

pub const BACKUP: &str = "verify.network_cut.backup";
pub const RESTORE: &str = "verify.network_cut.restore";

/// How long the link stays down: long enough that TCP's retransmission
/// backoff (the next retry ~25 s after the cut) and a client's read timeout
/// come into play, short of the tool's whole retry budget.
pub const CUT: Duration = Duration::from_secs(20);

pub struct NetworkCut;

impl Scenario for NetworkCut {
    fn name(&self) -> &'static str {
        "network-cut"
    }
    fn needs_embedded(&self) -> Option<&'static str> {
        Some("the stall fault, to cut the link while a request is in flight")
    }
    fn expected_checks(&self, _s: &Session) -> Vec<String> {
        vec![BACKUP.into(), RESTORE.into()]
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let layout = Layout::from_profile(&s.profile)?;
        let sv = first_subvolume(s)?;
        let decided = backup(s, &layout, &sv);
        let backup = record_variant(s, BACKUP, decided)?;
        let key = backup
            .evidence
            .get("published")
            .and_then(|p| p.get("manifest_key"))
            .and_then(|k| k.as_str())
            .map(str::to_string);
        match (backup.verdict == Verdict::Pass, key) {
            (true, Some(key)) => {
                let decided = restore(s, &layout, &sv, &key);
                record_variant(s, RESTORE, decided)?;
            }
            _ => s.record(Check::blocked(
                RESTORE,
                BACKUP,
                "nothing to restore: the backup across the cut published nothing",
            )),
        }
        Ok(())
    }
}

/// Cut the link for [`CUT`] while `bg` is held by `stall`, answering the
/// held request into the dead link; the facts for the evidence.
fn cut_while_held(s: &mut Session, stall: hold::Stall) -> Result<serde_json::Value> {
    s.vm.set_link(false)?;
    let t = Instant::now();
    stall.release();
    std::thread::sleep(CUT);
    s.vm.set_link(true)?;
    let cut_seconds = t.elapsed().as_secs_f64();
    let reconnect = s.vm.reconnect_ssh(Duration::from_secs(120))?;
    Ok(json!({"cut_seconds": cut_seconds, "ssh_back_after_seconds": reconnect.as_secs_f64()}))
}

fn backup(s: &mut Session, layout: &Layout, sv: &str) -> Result<Check> {
    super::add_chunk_and_a_half(s, sv, "network-cut.bin")?;
    // The first request for chunk 1, whatever it is (the last chunk may go
    // by a single PUT where full ones go by multipart).
    // Every request for chunk 1 (a retry too) is held until the cut.
    let stall = hold::Stall::chunks(s, None, &[("subvol", sv), ("index", "1")], false)?;
    let start = hold::mark(s)?;
    let line = s.tool.backup_now(sv);
    let (bg, stall) = hold::start_held(s, stall, "network-cut-backup", &line, "at chunk 1")?;
    let at_cut = hold::since(s, start)?;
    let early = hold::pointer_writes(layout, &at_cut, sv);
    if !early.is_empty() {
        return Err(tool_broke(
            format!("the backup published current.json while its chunk 1 was still held (not stored): {early:?}"),
            None,
        ));
    }
    let bg = hold::still_running(s, bg, "the network cut")?;
    let cut = cut_while_held(s, stall)?;
    let timeout = s.timeout();
    let run = bg.wait(s, timeout)?;
    guest::note_backups(s, "network-cut", &run)?;
    let mut evidence = json!({"cut": cut, "writes_before_cut": hold::writes(&at_cut), "status": run.status_text(),
        "retries_logged": run.log.events("s3_retry").count(),
        "stderr_tail": crate::programs::tail(&run.output.stderr_text(), 8)});
    let state = guest::s3_state(s, layout)?;
    if run.succeeded() {
        let mut c = guest::published_check(
            BACKUP,
            "the backup across the network cut",
            &run,
            sv,
            &state,
            layout,
        );
        c.evidence["cut"] = evidence;
        return Ok(c);
    }
    // Failed: it must not have published, and a rerun must succeed.
    if let Ok(p) = guest::published_complete(&run, sv, &state, layout) {
        evidence["published"] = p;
    }
    if let Some(why) = pointer_names_incomplete(&state, layout, sv) {
        return Ok(Check::fail(
            BACKUP,
            evidence,
            format!(
                "the backup failed across the cut ({}) and left a half-published backup: {why}",
                run.status_text()
            ),
        ));
    }
    let rerun = super::backup(s, "network-cut", sv, "network-cut-rerun")?;
    let state = guest::s3_state(s, layout)?;
    let c = guest::published_check(
        BACKUP,
        "the rerun after the backup failed across the network cut",
        &rerun,
        sv,
        &state,
        layout,
    );
    Ok(after_clean_failure(
        c,
        evidence,
        &format!(
            "the backup failed cleanly across the cut ({}) and",
            run.status_text()
        ),
    ))
}

/// The rerun's check `c` after an operation failed cleanly across the cut:
/// the failed run's evidence kept, and on a pass the diagnosis says both.
fn after_clean_failure(mut c: Check, cut_run: serde_json::Value, failed: &str) -> Check {
    c.evidence["cut_run"] = cut_run;
    if c.verdict == Verdict::Pass {
        c.diagnosis = format!("{failed} {}", c.diagnosis);
    }
    c
}

/// Why the subvolume's pointer names an incomplete backup in `state`, if it does.
fn pointer_names_incomplete(state: &S3State, layout: &Layout, sv: &str) -> Option<String> {
    let docs = crate::verify::manifest::Documents::from_state(state, layout);
    let key = guest::pointer_of(&docs, layout, sv)?;
    match docs.manifests.get(&key) {
        Some(Ok(m)) => {
            let missing = guest::missing_chunks(m, state);
            (!missing.is_empty()).then(|| {
                format!(
                    "current.json names {key}, {} of whose chunks are missing",
                    missing.len()
                )
            })
        }
        _ => Some(format!("current.json names {key}, which is not stored")),
    }
}

fn restore(s: &mut Session, layout: &Layout, sv: &str, key: &str) -> Result<Check> {
    let ts = match layout.classify(key) {
        KeyClass::Manifest { ts, .. } => ts,
        _ => {
            return Err(tool_broke(
                format!("{key}, which the backup named, is not a manifest key of the layout"),
                None,
            ))
        }
    };
    let stall = hold::Stall::chunks(
        s,
        Some("GetObject"),
        &[("subvol", sv), ("ts", &ts), ("index", "0")],
        false,
    )?;
    let target = format!("{}/{sv}-network-cut", s.layout.restore_dir());
    let line = super::super::restore::restore_line(s, sv, &target, Some(key));
    let before = super::super::leftovers::list(s)?;
    let bg = BackgroundRun::start(s, "network-cut-restore", &line)?;
    let timeout = s.timeout();
    if let Err(e) = stall.wait_held(s, &bg, timeout) {
        drop(stall);
        let run = bg.wait(s, timeout)?;
        return Err(tool_broke(
            format!(
                "the restore never fetched chunk 0 of {key} ({e:#}); it ended with {}",
                run.status_text()
            ),
            Some(&run),
        ));
    }
    let bg = hold::still_running(s, bg, "the network cut")?;
    let cut = cut_while_held(s, stall)?;
    let run = bg.wait(s, timeout)?;
    s.note_restore("network-cut", sv, &run);
    let evidence = json!({"cut": cut, "status": run.status_text(), "target": target,
        "stderr_tail": crate::programs::tail(&run.output.stderr_text(), 8)});
    let source =
        super::snapshot_of(s, key).ok_or_else(|| anyhow!("no snapshot is known for {key}"))?;
    if run.succeeded() {
        let docs = super::super::restore::documents(s)?;
        let equal = super::super::restore::digest_check(s, &docs, sv, Some(key), &source, &target)?;
        let ok = equal.verdict == Verdict::Pass;
        let mut evidence = evidence;
        evidence["digest"] = json!(equal);
        return Ok(if ok {
            Check::pass(
                RESTORE,
                evidence,
                "the restore across the network cut completed, equal to its snapshot",
            )
        } else {
            Check::fail(
                RESTORE,
                evidence,
                format!(
                    "the restore across the network cut exited 0 but: {}",
                    equal.diagnosis
                ),
            )
        });
    }
    let left = super::super::leftovers::judge_and_clear(s, &before, &target, false)?;
    if left.verdict != Verdict::Pass {
        let mut evidence = evidence;
        evidence["leftovers"] = left.evidence.clone();
        return Ok(Check::fail(
            RESTORE,
            evidence,
            format!(
                "the restore failed across the cut ({}) and left: {}",
                run.status_text(),
                left.diagnosis
            ),
        ));
    }
    let c = super::restore_check(s, RESTORE, sv, key, Some(&source), "network-cut-rerun")?;
    Ok(after_clean_failure(
        c,
        evidence,
        &format!(
            "the restore failed cleanly across the cut ({}) and the rerun",
            run.status_text()
        ),
    ))
}
