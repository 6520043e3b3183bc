//! archive-restore: chunks in an archive class (GLACIER, DEEP_ARCHIVE) must
//! be restored with RestoreObject and waited for before they are read; the
//! embedded endpoint keeps each restore ongoing for `restore_delay_secs`.

use super::restore::{
    documents, records_since, restore_latest, RESTORE_CHAIN, RESTORE_EXIT, TARGET_WRITABLE,
};
use super::{for_subvolume, per_subvolume, Scenario};
use crate::runner::session::Session;
use crate::s3::journal::Record;
use crate::verify::manifest::chain_of;
use crate::verify::{names, Check};
use anyhow::Result;
use serde_json::json;

pub const ARCHIVE_WAITED: &str = "verify.restore.archive_waited";

pub struct ArchiveRestore;

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

impl Scenario for ArchiveRestore {
    fn needs_embedded(&self) -> Option<&'static str> {
        Some("the archive simulation and the journal")
    }
    fn name(&self) -> &'static str {
        "archive-restore"
    }
    fn expected_checks(&self, s: &Session) -> Vec<String> {
        per_subvolume(
            s,
            &[
                RESTORE_EXIT,
                TARGET_WRITABLE,
                names::RESTORE_DIGEST,
                RESTORE_CHAIN,
                ARCHIVE_WAITED,
            ],
        )
    }
    fn run(&self, s: &mut Session) -> Result<Vec<Check>> {
        if !s.profile.s3.chunks_archived() {
            anyhow::bail!(
                "archive-restore needs [s3] storage_class_chunks GLACIER or DEEP_ARCHIVE (the profile has {}): use config/archive.toml",
                s.profile.s3.storage_class_chunks
            );
        }
        let docs = documents(s)?;
        let mut checks = Vec::new();
        for sv in s.profile.btrfs.subvolumes.clone() {
            let started = std::time::Instant::now();
            let (got, seq_before) = restore_latest(s, &docs, &sv, "archive")?;
            let seconds = started.elapsed().as_secs_f64();
            let restore_ok = got
                .iter()
                .all(|c| c.verdict == crate::verify::Verdict::Pass);
            checks.extend(got);
            let records = records_since(s, seq_before);
            let head = docs
                .pointer_targets()
                .get(&format!(
                    "{}subvol/{sv}/current.json",
                    s.profile.s3.normalized_prefix()
                ))
                .cloned();
            let chunks: Vec<String> = head
                .as_deref()
                .map(|h| {
                    chain_of(&docs, h)
                        .iter()
                        .flat_map(|m| m.chunks.iter().map(|c| c.key.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let bad = unrestored_reads(&records, &chunks);
            let delay = s.profile.s3.restore_delay_secs as f64;
            let evidence = json!({"chunks": chunks.len(), "read_without_restore": bad, "restore_seconds": seconds, "restore_delay_secs": delay});
            let c = if chunks.is_empty() {
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
            };
            checks.push(for_subvolume(c, &sv));
        }
        Ok(checks)
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
