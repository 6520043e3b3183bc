//! Holding a backup mid-upload with the endpoint's stall fault, and what
//! the journal says about a stretch of a run (writes, stored chunks).

use crate::runner::background::BackgroundRun;
use crate::runner::blame::tool_broke;
use crate::runner::session::Session;
use crate::s3::server::faults::{FaultKind, FaultRule, RuleId};
use crate::s3::server::journal::{Journal, Record};
use crate::verify::layout::{key_regex, KeyClass, Layout};
use anyhow::{anyhow, Context, Result};
use std::sync::Arc;
use std::time::Duration;

/// Operations that change the bucket.
pub const WRITE_OPS: &[&str] = &[
    "PutObject",
    "CopyObject",
    "DeleteObject",
    "DeleteObjects",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "RestoreObject",
];

/// A stall rule that is released when dropped, so an error on the way can
/// never leave the endpoint holding requests for later scenarios.
pub struct Stall {
    faults: Arc<crate::s3::server::faults::Faults>,
    id: Option<RuleId>,
    /// The key pattern it holds.
    pub key_regex: String,
}

impl Stall {
    /// Hold requests (`op`, or any when None) to chunk keys of the profile's
    /// layout with `pins` (e.g. subvol, index); `once`: only the first.
    pub fn chunks(
        s: &Session,
        op: Option<&str>,
        pins: &[(&str, &str)],
        once: bool,
    ) -> Result<Stall> {
        let ep = s
            .endpoint
            .as_ref()
            .ok_or_else(|| anyhow!("holding a request needs the embedded endpoint"))?;
        let key_regex = key_regex(
            &s.profile.layout.chunk,
            &s.profile.s3.normalized_prefix(),
            pins,
        )?;
        let mut rule = FaultRule::new(FaultKind::Stall).key_regex(&key_regex);
        if let Some(op) = op {
            rule = rule.op(op);
        }
        if once {
            rule = rule.times(1);
        }
        let id = ep
            .faults()
            .add(rule)
            .context("adding the stall rule to the endpoint")?;
        Ok(Stall {
            faults: ep.faults().clone(),
            id: Some(id),
            key_regex,
        })
    }

    /// Wait until a request is held, or `bg` ended first (a command that
    /// ended, e.g. crashed, sends nothing more: no use waiting it out).
    pub fn wait_held(&self, s: &mut Session, bg: &BackgroundRun, timeout: Duration) -> Result<()> {
        let started = std::time::Instant::now();
        let slice = Duration::from_secs(2);
        loop {
            if s.rt.block_on(self.faults.wait_stalled(1, slice)).is_ok() {
                return Ok(());
            }
            if bg.finished(s)? {
                anyhow::bail!(
                    "{} ended before a request to {} was held",
                    bg.label,
                    self.key_regex
                );
            }
            if started.elapsed() > timeout {
                anyhow::bail!(
                    "waiting for a request to {} to be held: none came within {timeout:?}",
                    self.key_regex
                );
            }
        }
    }

    /// Let the held requests go and retire the rule.
    pub fn release(mut self) {
        self.release_now();
    }

    fn release_now(&mut self) {
        if let Some(id) = self.id.take() {
            let _ = self.faults.release(id);
        }
    }
}

impl Drop for Stall {
    fn drop(&mut self) {
        self.release_now();
    }
}

/// The request that carries a chunk's data for chunks of `chunk_size`:
/// `UploadPart` when they go by multipart, else `PutObject`.
pub fn chunk_data_op(chunk_size: u64) -> &'static str {
    if chunk_size > crate::verify::multipart::SINGLE_PUT_MAX {
        "UploadPart"
    } else {
        "PutObject"
    }
}

/// Fault rules added for one stretch of a scenario, removed (and their
/// stalls released) when dropped, so no error on the way leaves them in
/// place for later scenarios.
pub struct Rules {
    faults: Arc<crate::s3::server::faults::Faults>,
    ids: Vec<RuleId>,
}

impl Rules {
    pub fn new(s: &Session) -> Result<Rules> {
        let ep = s
            .endpoint
            .as_ref()
            .ok_or_else(|| anyhow!("injecting S3 faults needs the embedded endpoint"))?;
        Ok(Rules {
            faults: ep.faults().clone(),
            ids: Vec::new(),
        })
    }

    pub fn add(&mut self, rule: FaultRule) -> Result<RuleId> {
        let what = format!("{rule:?}");
        let id = self
            .faults
            .add(rule)
            .with_context(|| format!("adding the fault rule {what}"))?;
        self.ids.push(id);
        Ok(id)
    }

    /// How often the rules fired so far.
    pub fn fired(&self) -> u64 {
        self.ids
            .iter()
            .filter_map(|id| self.faults.fired(*id))
            .sum()
    }
}

impl Drop for Rules {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            self.faults.remove(id);
        }
    }
}

/// Start `line` in the background and wait until `stall` holds one of its
/// requests. When it is never held, the stall is let go and the tool is
/// blamed with how the run ended (`at` says where it should have been
/// held): it failed first, or it never sent that request (a chunk larger
/// than asked, not uploaded as the contract says).
pub fn start_held(
    s: &mut Session,
    stall: Stall,
    label: &str,
    line: &str,
    at: &str,
) -> Result<(BackgroundRun, Stall)> {
    let bg = BackgroundRun::start(s, label, line)?;
    let timeout = s.timeout();
    if let Err(e) = stall.wait_held(s, &bg, timeout) {
        drop(stall);
        let run = bg.wait(s, timeout)?;
        return Err(tool_broke(
            format!(
                "the backup was never held {at} ({e:#}); it ended with {}",
                run.status_text()
            ),
            Some(&run),
        ));
    }
    Ok((bg, stall))
}

/// Blame the tool unless `bg` is still running in the guest: a command
/// that ended while its request was held gave up (or crashed), and a
/// perturbation about to hit an operation that already ended would prove
/// nothing.
pub fn still_running(s: &mut Session, bg: BackgroundRun, what: &str) -> Result<BackgroundRun> {
    if !bg.finished(s)? {
        return Ok(bg);
    }
    let label = bg.label.clone();
    let timeout = s.timeout();
    let run = bg.wait(s, timeout)?;
    Err(tool_broke(
        format!(
            "{label} had already ended ({}) while its request was held, before {what} could hit it",
            run.status_text()
        ),
        Some(&run),
    ))
}

/// The endpoint's journal (the embedded backend is required).
pub fn journal(s: &Session) -> Result<Arc<Journal>> {
    s.endpoint
        .as_ref()
        .map(|e| e.journal().clone())
        .ok_or_else(|| {
            anyhow!(
                "this scenario needs the embedded endpoint's journal ({})",
                s.profile.s3.journal_missing().unwrap_or_default()
            )
        })
}

/// The highest sequence number so far (requests after it are "new").
pub fn mark(s: &Session) -> Result<u64> {
    Ok(journal(s)?.all().last().map(|r| r.seq).unwrap_or(0))
}

/// Requests that arrived after `since` (finished or in flight).
pub fn since(s: &Session, since: u64) -> Result<Vec<Record>> {
    Ok(journal(s)?
        .all()
        .into_iter()
        .filter(|r| r.seq > since)
        .collect())
}

/// Write requests among `records`, as short evidence lines.
pub fn writes(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter(|r| WRITE_OPS.contains(&r.op.as_str()))
        .map(describe)
        .collect()
}

/// "PutObject key -> 200" for evidence.
pub fn describe(r: &Record) -> String {
    let status = match (r.finished(), r.status) {
        (false, _) => format!(
            "in flight{}",
            r.fault
                .as_deref()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default()
        ),
        (true, Some(c)) => c.to_string(),
        (true, None) => "reset".into(),
    };
    format!(
        "#{} {} {} -> {status}",
        r.seq,
        r.op,
        r.key.as_deref().unwrap_or("-")
    )
}

/// A chunk of `subvol` stored successfully (single PUT or multipart completion).
pub fn is_chunk_stored(layout: &Layout, r: &Record, subvol: &str) -> bool {
    (r.op == "PutObject" || r.op == "CompleteMultipartUpload")
        && r.finished()
        && r.status.is_some_and(|c| (200..300).contains(&c))
        && r.key.as_deref().is_some_and(
            |k| matches!(layout.classify(k), KeyClass::Chunk { subvol: sv, .. } if sv == subvol),
        )
}

/// Wait until `n` chunks of `subvol` were stored after `since` (a tool that
/// uploads chunks concurrently may still be storing earlier chunks when a
/// later one is held). The error says how many were stored by the deadline.
pub fn wait_chunks_stored(
    s: &Session,
    layout: &Layout,
    subvol: &str,
    since: u64,
    n: usize,
    timeout: Duration,
) -> Result<(), String> {
    if n == 0 {
        return Ok(());
    }
    let journal = journal(s).map_err(|e| format!("{e:#}"))?;
    s.rt.block_on(journal.wait_finished(
        |r| r.seq > since && is_chunk_stored(layout, r, subvol),
        n,
        timeout,
    ))
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Pointer writes (the backup was published) of `subvol` among `records`.
pub fn pointer_writes(layout: &Layout, records: &[Record], subvol: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.op == "PutObject" || r.op == "CopyObject")
        .filter(|r| {
            r.key.as_deref().is_some_and(
                |k| matches!(layout.classify(k), KeyClass::Pointer { subvol: sv } if sv == subvol),
            )
        })
        .map(describe)
        .collect()
}
