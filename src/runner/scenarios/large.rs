//! large: the multi-chunk, multipart case. `large_data_bytes` of
//! incompressible data go into the first subvolume; one backup of it must
//! publish several chunks, upload every chunk over 5 MiB by multipart (a
//! full-size one in at least `large_min_parts` parts, journal), complete
//! every multipart upload it began, and restore equal to its snapshot.

use super::guest::{self, note_backups};
use super::hold;
use super::restore::{all_passed, documents, restore_latest};
use super::Scenario;
use crate::runner::session::{Session, ToolRun};
use crate::verify::layout::Layout;
use crate::verify::manifest::Documents;
use crate::verify::multipart::{self, SINGLE_PUT_MAX};
use crate::verify::{names, Check};
use anyhow::{bail, Result};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

pub const BACKUP: &str = "verify.large.backup";
pub const CHUNKS: &str = "verify.large.chunks";
pub const RESTORE: &str = "verify.large.restore";

pub struct Large;

impl Scenario for Large {
    fn needs_embedded(&self) -> Option<&'static str> {
        Some("the journal, to count each chunk's multipart parts")
    }
    fn name(&self) -> &'static str {
        "large"
    }
    fn expected_checks(&self, _s: &Session) -> Vec<String> {
        [
            BACKUP,
            CHUNKS,
            names::MULTIPART_PARTS,
            names::MULTIPART_COMPLETED,
            RESTORE,
        ]
        .map(String::from)
        .to_vec()
    }
    fn produces(&self) -> bool {
        true
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let b = s.profile.backup.clone();
        if b.chunk_size_bytes <= SINGLE_PUT_MAX {
            bail!(
                "the large scenario needs chunks over {SINGLE_PUT_MAX} bytes (multipart); [backup] chunk_size_bytes is {}",
                b.chunk_size_bytes
            );
        }
        let layout = Layout::from_profile(&s.profile)?;
        let sv = super::first_subvolume(s)?;
        guest::add_random_file(s, &sv, "large.bin", b.large_data_bytes)?;
        let mark = hold::mark(s)?;
        let line = s.tool.backup_now(&sv);
        let run = s.run_tool(&format!("large-{sv}"), &line)?;
        note_backups(s, "large", &run)?;
        let state = guest::s3_state(s, &layout)?;
        let backup = guest::published_check(BACKUP, "the large backup", &run, &sv, &state, &layout);
        let published = backup.verdict == crate::verify::Verdict::Pass;
        let docs = Documents::from_state(&state, &layout);
        s.record(backup);
        s.record(chunks_check(&run, &docs));

        // The journal of this backup: how each chunk went up.
        let journal = s.journal()?;
        let ours: Vec<_> = journal.entries.iter().filter(|e| e.r.seq > mark).collect();
        let begun = multipart::uploads(ours.iter().copied());
        let stores = multipart::chunk_stores(ours.iter().copied(), &layout, &begun);
        let sizes: BTreeMap<String, u64> = stores
            .keys()
            .filter_map(|k| state.objects.get(k).map(|o| (k.clone(), o.size)))
            .collect();
        s.record(multipart::verify_multipart_parts(
            &stores,
            &sizes,
            b.chunk_size_bytes,
            b.large_min_parts,
        ));
        let keys: BTreeSet<&str> = begun.iter().map(|u| u.key.as_str()).collect();
        let open: Vec<_> = state
            .uploads
            .iter()
            .filter(|u| keys.contains(u.key.as_str()))
            .cloned()
            .collect();
        s.record(multipart::verify_uploads_completed(&begun, &open));

        let c = if published {
            let docs = documents(s)?;
            let (parts, _) = restore_latest(s, &docs, &sv, "large")?;
            all_passed(
                RESTORE,
                parts,
                json!({"subvolume": sv}),
                "the large backup restored equal to its snapshot, every chunk fetched",
                "restoring the large backup",
            )
        } else {
            Check::blocked(
                RESTORE,
                BACKUP,
                "nothing to restore: the large backup was not published",
            )
        };
        s.record(c);
        Ok(())
    }
}

/// `verify.large.chunks`: the backup's manifest lists at least two chunks.
fn chunks_check(run: &ToolRun, docs: &Documents) -> Check {
    let key = run.field("backup_uploaded", "manifest_key");
    let manifest = key
        .as_deref()
        .and_then(|k| docs.manifests.get(k))
        .and_then(|m| m.as_ref().ok());
    let Some(m) = manifest else {
        return Check::fail(
            CHUNKS,
            json!({"manifest_key": key}),
            "the large backup published no readable manifest",
        );
    };
    verify_chunk_count(
        key.as_deref().unwrap_or_default(),
        &m.chunks.iter().map(|c| c.size).collect::<Vec<_>>(),
    )
}

/// Pass when a manifest's chunk sizes number at least two.
fn verify_chunk_count(manifest_key: &str, sizes: &[u64]) -> Check {
    let evidence = json!({"manifest_key": manifest_key, "chunks": sizes.len(), "sizes": sizes});
    if sizes.len() >= 2 {
        Check::pass(
            CHUNKS,
            evidence,
            format!("the backup spans {} chunks", sizes.len()),
        )
    } else {
        Check::fail(
            CHUNKS,
            evidence,
            format!(
                "the backup has {} chunk(s), expected at least 2 ([backup] large_data_bytes is at least 2.5 chunk sizes)",
                sizes.len()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Verdict;

    #[test]
    fn two_chunks_at_least() {
        assert_eq!(verify_chunk_count("m", &[8, 8, 3]).verdict, Verdict::Pass);
        let c = verify_chunk_count("m", &[20]);
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.diagnosis.contains("1 chunk(s)"), "{}", c.diagnosis);
    }
}
