//! archive-restore and instant-restore: restores of chunks in classes
//! other than STANDARD.
//!
//! - `archive-restore`: chunks in an archive class (GLACIER, DEEP_ARCHIVE)
//!   must be restored with RestoreObject and waited for before they are
//!   read; the embedded endpoint keeps each restore ongoing for
//!   `restore_delay_secs`. For the first subvolume a restore with
//!   `--no-wait-restore` runs first (it requests the archive restores and
//!   ends), so the real restore meets restores already in progress (AWS
//!   answers a second RestoreObject 409 RestoreAlreadyInProgress): it must
//!   wait, not crash.
//! - `instant-restore`: chunks in GLACIER_IR are readable at once; AWS
//!   (and the endpoint) refuse RestoreObject for them with 403
//!   InvalidObjectState. The restore must read them directly (a refused
//!   RestoreObject it handles is tolerated) and succeed.

use super::restore::{
    chain_chunks, documents, records_since, restore_latest, RESTORE_CHAIN, RESTORE_EXIT,
    TARGET_WRITABLE,
};
use super::{for_subvolume, per_subvolume, Scenario};
use crate::runner::session::Session;
use crate::s3::server::journal::Record;
use crate::verify::{names, Check};
use anyhow::Result;
use serde_json::json;

pub const ARCHIVE_WAITED: &str = "verify.restore.archive_waited";
pub const ARCHIVE_IN_PROGRESS: &str = "verify.restore.archive_in_progress";
pub const INSTANT_READ: &str = "verify.restore.instant_read";

/// The storage class whose objects are archived yet readable at once.
pub const INSTANT_CLASS: &str = "GLACIER_IR";

pub struct ArchiveRestore {
    /// GLACIER_IR (instant-restore) rather than an archive class.
    pub instant: bool,
}

/// Chunks read before their restore was requested, or never restored.
pub fn unrestored_reads(records: &[Record], chunks: &[String]) -> Vec<String> {
    let mut bad = Vec::new();
    for key in chunks {
        let restore_at = records
            .iter()
            .find(|r| {
                r.op == "RestoreObject"
                    && r.key.as_deref() == Some(key)
                    && r.status.is_some_and(|c| c < 300)
            })
            .map(|r| r.seq);
        let first_read = records
            .iter()
            .find(|r| {
                r.op == "GetObject"
                    && r.key.as_deref() == Some(key)
                    && r.status.is_some_and(|c| c < 300)
            })
            .map(|r| r.seq);
        match (restore_at, first_read) {
            (Some(a), Some(b)) if a < b => {}
            _ => bad.push(key.clone()),
        }
    }
    bad
}

/// Chunks of an instant class that were never read successfully.
pub fn unread(records: &[Record], chunks: &[String]) -> Vec<String> {
    let read = super::restore::fetched(records);
    chunks
        .iter()
        .filter(|k| !read.contains(*k))
        .cloned()
        .collect()
}

impl Scenario for ArchiveRestore {
    fn needs_embedded(&self) -> Option<&'static str> {
        Some("the archive simulation and the journal")
    }
    fn needs(&self) -> &'static [&'static str] {
        super::NEEDS_BACKUPS
    }
    fn name(&self) -> &'static str {
        if self.instant {
            "instant-restore"
        } else {
            "archive-restore"
        }
    }
    fn expected_checks(&self, s: &Session) -> Vec<String> {
        let own = if self.instant {
            INSTANT_READ
        } else {
            ARCHIVE_WAITED
        };
        let mut v = per_subvolume(
            s,
            &[
                RESTORE_EXIT,
                TARGET_WRITABLE,
                names::RESTORE_DIGEST,
                RESTORE_CHAIN,
                own,
            ],
        );
        if let (false, Some(sv)) = (self.instant, s.profile.btrfs.subvolumes.first()) {
            v.push(format!("{ARCHIVE_IN_PROGRESS}[{sv}]"));
        }
        v
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let class = s.profile.s3.storage_class_chunks.clone();
        if self.instant && class != INSTANT_CLASS {
            anyhow::bail!(
                "instant-restore needs [s3] storage_class_chunks = \"{INSTANT_CLASS}\" (the profile has {class}): use config/glacier-ir.toml"
            );
        }
        if !self.instant && !s.profile.s3.chunks_archived() {
            anyhow::bail!(
                "archive-restore needs [s3] storage_class_chunks GLACIER or DEEP_ARCHIVE (the profile has {class}): use config/archive.toml"
            );
        }
        let docs = documents(s)?;
        let first = s.profile.btrfs.subvolumes.first().cloned();
        for sv in s.profile.btrfs.subvolumes.clone() {
            let mark = super::hold::mark(s)?;
            let in_progress = if !self.instant && first.as_deref() == Some(sv.as_str()) {
                Some(request_without_waiting(s, &sv)?)
            } else {
                None
            };
            let started = std::time::Instant::now();
            let (got, seq_before) = restore_latest(s, &docs, &sv, "archive")?;
            let seconds = started.elapsed().as_secs_f64();
            let restore_ok = got
                .iter()
                .all(|c| c.verdict == crate::verify::Verdict::Pass);
            for c in got {
                s.record(c);
            }
            // From before the restore that only requested, when there was one.
            let records = records_since(
                s,
                if in_progress.is_some() {
                    mark
                } else {
                    seq_before
                },
            );
            let head = docs
                .pointer_targets()
                .get(&format!(
                    "{}subvol/{sv}/current.json",
                    s.profile.s3.normalized_prefix()
                ))
                .cloned();
            let chunks: Vec<String> = head
                .as_deref()
                .map(|h| chain_chunks(&docs, h))
                .unwrap_or_default();
            let c = if self.instant {
                instant_check(&records, &chunks, restore_ok, seconds)
            } else {
                let delay = s.profile.s3.restore_delay_secs as f64;
                waited_check(&records, &chunks, restore_ok, seconds, delay)
            };
            s.record(for_subvolume(c, &sv));
            if let Some(first_run) = in_progress {
                let second: Vec<Record> = records_since(s, seq_before);
                s.record(for_subvolume(
                    in_progress_check(&first_run, &second, restore_ok),
                    &sv,
                ));
            }
        }
        Ok(())
    }
}

/// What the `--no-wait-restore` run did: its status and the archive
/// restores it requested.
struct Requested {
    status: String,
    requested: usize,
}

/// A restore of `sv` with `--no-wait-restore`: it requests the archive
/// restores and ends without waiting (whatever it leaves is cleared).
fn request_without_waiting(s: &mut Session, sv: &str) -> Result<Requested> {
    let target = format!("{}/{sv}-archive-request", s.layout.restore_dir());
    let line = s.tool.restore(&crate::tool::RestoreArgs {
        wait_restore: Some(false),
        ..super::restore::restore_args(s, sv, &target, None)
    });
    let mark = super::hold::mark(s)?;
    let before = super::leftovers::list(s)?;
    let run = s.run_tool(&format!("archive-request-{sv}"), &line)?;
    // Whatever it did at the target is not judged here: clear it.
    super::leftovers::judge_and_clear(s, &before, &target, false)?;
    let requested = records_since(s, mark)
        .iter()
        .filter(|r| r.op == "RestoreObject" && r.status.is_some_and(|c| c < 300))
        .count();
    Ok(Requested {
        status: run.status_text(),
        requested,
    })
}

/// `verify.restore.archive_in_progress`: after a run that only requested
/// the archive restores, the next restore met them in progress and still
/// completed (waiting, not crashing).
fn in_progress_check(first: &Requested, second: &[Record], restore_ok: bool) -> Check {
    let conflicts = second
        .iter()
        .filter(|r| r.op == "RestoreObject" && r.status == Some(409))
        .count();
    let evidence = json!({"no_wait_status": first.status, "restores_requested": first.requested,
        "restore_already_in_progress_answers": conflicts});
    if first.requested == 0 {
        Check::fail(
            ARCHIVE_IN_PROGRESS,
            evidence,
            format!(
                "restore --no-wait-restore ({}) requested no archive restore",
                first.status
            ),
        )
    } else if !restore_ok {
        Check::fail(
            ARCHIVE_IN_PROGRESS,
            evidence,
            format!(
                "with {} archive restore(s) already in progress ({conflicts} RestoreObject answered 409), the restore did not complete",
                first.requested
            ),
        )
    } else {
        Check::pass(
            ARCHIVE_IN_PROGRESS,
            evidence,
            format!(
                "with {} archive restore(s) already in progress ({conflicts} RestoreObject answered 409), the restore waited and completed",
                first.requested
            ),
        )
    }
}

/// `verify.restore.archive_waited`: every archived chunk was restored
/// (RestoreObject) before it was read, and the restore succeeded.
fn waited_check(
    records: &[Record],
    chunks: &[String],
    restore_ok: bool,
    seconds: f64,
    delay: f64,
) -> Check {
    let bad = unrestored_reads(records, chunks);
    let evidence = json!({"chunks": chunks.len(), "read_without_restore": bad, "restore_seconds": seconds, "restore_delay_secs": delay});
    if chunks.is_empty() {
        Check::fail(ARCHIVE_WAITED, evidence, "no archived chunks to restore")
    } else if !bad.is_empty() {
        Check::fail(
            ARCHIVE_WAITED,
            evidence,
            format!(
                "{} archived chunk(s) were read without a RestoreObject first",
                bad.len()
            ),
        )
    } else if !restore_ok {
        Check::fail(
            ARCHIVE_WAITED,
            evidence,
            "every chunk was restored first, but the restore did not succeed",
        )
    } else {
        Check::pass(
            ARCHIVE_WAITED,
            evidence,
            format!(
                "all {} archived chunk(s) restored, waited for ({seconds:.1}s) and read",
                chunks.len()
            ),
        )
    }
}

/// `verify.restore.instant_read`: every GLACIER_IR chunk was read
/// directly and the restore succeeded.
fn instant_check(records: &[Record], chunks: &[String], restore_ok: bool, seconds: f64) -> Check {
    let missing = unread(records, chunks);
    let refused = records
        .iter()
        .filter(|r| r.op == "RestoreObject" && r.status.is_some_and(|c| c >= 400))
        .count();
    let evidence = json!({"chunks": chunks.len(), "not_read": missing, "restore_object_refused": refused, "restore_seconds": seconds});
    if chunks.is_empty() {
        Check::fail(INSTANT_READ, evidence, "no GLACIER_IR chunks to restore")
    } else if !restore_ok {
        Check::fail(
            INSTANT_READ,
            evidence,
            format!(
                "the restore of {INSTANT_CLASS} chunks did not succeed ({refused} RestoreObject refused with InvalidObjectState)"
            ),
        )
    } else if !missing.is_empty() {
        Check::fail(
            INSTANT_READ,
            evidence,
            format!("{} chunk(s) of the chain were never read", missing.len()),
        )
    } else {
        Check::pass(
            INSTANT_READ,
            evidence,
            format!(
                "all {} {INSTANT_CLASS} chunk(s) read directly ({refused} RestoreObject refused and handled), restored in {seconds:.1}s",
                chunks.len()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64, op: &str, key: &str, status: u16) -> Record {
        Record {
            seq,
            op: op.into(),
            key: Some(key.into()),
            status: Some(status),
            ..Record::default()
        }
    }

    #[test]
    fn reads_must_follow_a_restore() {
        let chunks = vec!["c0".to_string(), "c1".to_string(), "c2".to_string()];
        let records = vec![
            rec(1, "RestoreObject", "c0", 202),
            rec(2, "GetObject", "c1", 403),
            rec(3, "GetObject", "c0", 200),
            rec(4, "GetObject", "c1", 200),
            rec(5, "RestoreObject", "c2", 202),
            rec(6, "RestoreObject", "c1", 202),
            rec(7, "GetObject", "c2", 200),
        ];
        assert_eq!(unrestored_reads(&records, &chunks), vec!["c1".to_string()]);
    }
}
