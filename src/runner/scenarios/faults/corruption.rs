//! corruption: after a good backup of several chunks, stored chunks are
//! altered in the endpoint's store, behind the S3 API (`flip`: one byte of
//! file data flipped with the send stream's own CRC fixed up, so that
//! `btrfs receive` cannot notice and only the chunk's SHA-256 can;
//! `truncate`: a chunk cut to half; `swap`: the first two chunks' contents
//! exchanged). A restore of that backup (`--verify none`: the chunk
//! SHA-256 checks are not optional) must exit non-zero, leave no
//! subvolume holding the altered data anywhere, and say why in its own
//! words (a broad vocabulary, extended by `[tool] integrity_words`). The
//! original bytes are put back after each variant.

use super::super::{first_subvolume, guest, hold, leftovers, record_variant, Scenario};
use crate::runner::blame::tool_broke;
use crate::runner::session::Session;
use crate::s3::server::store::ObjectMeta;
use crate::verify::layout::Layout;
use crate::verify::manifest::Documents;
use crate::verify::{names, Check, Verdict};
use anyhow::{anyhow, Result};
use serde_json::json;

pub const INTEGRITY_ERROR: &str = "verify.corruption.integrity_error";

const VARIANTS: [&str; 3] = ["flip", "truncate", "swap"];

pub struct Corruption;

impl Scenario for Corruption {
    fn name(&self) -> &'static str {
        "corruption"
    }
    fn needs_embedded(&self) -> Option<&'static str> {
        Some("altering a chunk in the endpoint's store")
    }
    fn expected_checks(&self, _s: &Session) -> Vec<String> {
        VARIANTS
            .iter()
            .map(|v| super::variant(INTEGRITY_ERROR, v))
            .collect()
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let layout = Layout::from_profile(&s.profile)?;
        let sv = first_subvolume(s)?;
        super::add_chunk_and_a_half(s, &sv, "corruption.bin")?;
        let (run, key) = super::good_backup(s, "corruption", &sv, "corruption-backup")?;
        let docs = Documents::from_state(&guest::s3_state(s, &layout)?, &layout);
        let chunks: Vec<String> = match docs.manifests.get(&key) {
            Some(Ok(m)) => m.chunks.iter().map(|c| c.key.clone()).collect(),
            _ => {
                return Err(tool_broke(
                    format!("the manifest {key} of the good backup is not stored or not readable"),
                    Some(&run),
                ))
            }
        };
        if chunks.len() < 2 {
            return Err(tool_broke(
                format!(
                    "the backup {key} of 1.5 chunk sizes of new data has {} chunk(s) ([backup] chunk_size_bytes not honoured); corrupting needs two",
                    chunks.len()
                ),
                Some(&run),
            ));
        }
        for v in VARIANTS {
            let name = super::variant(INTEGRITY_ERROR, v);
            let decided = variant(s, &sv, &key, &chunks, v);
            record_variant(s, &name, decided)?;
        }
        Ok(())
    }
}

/// The altered contents of the chunks `variant` changes (index -> bytes),
/// given every chunk of the backup in stream order.
fn alter(v: &str, chunks: &[Vec<u8>]) -> Vec<(usize, Vec<u8>)> {
    let (a, b) = (&chunks[0], &chunks[1]);
    match v {
        "flip" => crate::verify::stream_edit::flip_write_byte(chunks)
            .map(|e| e.chunks)
            .unwrap_or_else(|| {
                // No file data in the stream: a plain flip (receive may notice).
                let mut x = a.to_vec();
                let i = x.len() / 2;
                x[i] ^= 0x01;
                vec![(0, x)]
            }),
        "truncate" => vec![(1, b[..b.len() / 2].to_vec())],
        _ => vec![(0, b.to_vec()), (1, a.to_vec())],
    }
}

fn variant(s: &mut Session, sv: &str, key: &str, chunks: &[String], v: &str) -> Result<Check> {
    let ep = s
        .endpoint
        .as_ref()
        .ok_or_else(|| anyhow!("corrupting a chunk needs the embedded endpoint"))?;
    let originals: Vec<(ObjectMeta, Vec<u8>)> = chunks
        .iter()
        .map(|k| {
            ep.object(k).ok_or_else(|| {
                tool_broke(
                    format!("{k}, a chunk the manifest {key} lists, is not stored"),
                    None,
                )
            })
        })
        .collect::<Result<_>>()?;
    let bytes: Vec<Vec<u8>> = originals.iter().map(|(_, b)| b.clone()).collect();
    let changes = alter(v, &bytes);
    let altered: Vec<String> = changes.iter().map(|(i, _)| chunks[*i].clone()).collect();
    for (i, new) in changes {
        s.rt.block_on(ep.tamper(&originals[i].0, new))
            .map_err(|e| anyhow!("altering {}: {e}", chunks[i]))?;
    }
    let target = format!("{}/{sv}-corrupt-{v}", s.layout.restore_dir());
    // `--verify none`: the chunks' SHA-256 checks are not optional, so they
    // alone must catch it (a comparison with the source would hide a tool
    // that never checks them).
    let line = s.tool.restore(&crate::tool::RestoreArgs {
        verify: Some("none".into()),
        ..super::super::restore::restore_args(s, sv, &target, Some(key))
    });
    let start = hold::mark(s)?;
    let run = leftovers::restore_run(s, &format!("corruption-restore-{v}"), &line, &target, true);
    // Put the chunks back before judging, so nothing later sees the damage.
    if let Some(ep) = s.endpoint.as_ref() {
        for (meta, bytes) in &originals {
            s.rt.block_on(ep.tamper(meta, bytes.clone()))
                .map_err(|e| anyhow!("putting {} back: {e}", meta.key))?;
        }
    }
    let (run, left) = run?;
    let read: Vec<String> = hold::since(s, start)?
        .iter()
        .filter(|r| {
            (r.op == "GetObject" || r.op == "HeadObject")
                && r.key.as_ref().is_some_and(|k| altered.contains(k))
        })
        .map(hold::describe)
        .collect();
    let stderr = run.output.stderr_text();
    let said =
        crate::verify::tool_output::integrity_error(&stderr, &s.profile.tool.integrity_words);
    let evidence = json!({
        "manifest_key": key,
        "altered": altered,
        "reads_of_altered": read,
        "status": run.status_text(),
        "integrity_error_said": said,
        "target": target,
        "leftovers": left.as_ref().map(|c| c.evidence.clone()),
        "stderr_tail": crate::programs::tail(&stderr, 10),
    });
    if run.succeeded() {
        // A restore that exits 0 leaves its target: clear it for what follows.
        let before = leftovers::list(s)?;
        leftovers::judge_and_clear(s, &before, &target, true)?;
        return Ok(Check::fail(
            INTEGRITY_ERROR,
            evidence,
            format!("the restore of a backup with a {v} chunk exited 0"),
        ));
    }
    let left = left.unwrap_or_else(|| Check::pass(names::NO_LEFTOVERS, json!({}), ""));
    let mut named_left = left.clone();
    named_left.name = super::variant(names::NO_LEFTOVERS, v);
    s.record(named_left);
    if read.is_empty() {
        return Err(tool_broke(
            format!(
                "the restore failed ({}) before it read the altered chunk(s) {altered:?}, so the {v} corruption could not be judged",
                run.status_text()
            ),
            Some(&run),
        ));
    }
    Ok(if left.verdict != Verdict::Pass {
        Check::fail(
            INTEGRITY_ERROR,
            evidence,
            format!(
                "the restore failed ({}) but left the altered data behind: {}",
                run.status_text(),
                left.diagnosis
            ),
        )
    } else if let Some(line) = said {
        Check::pass(
            INTEGRITY_ERROR,
            evidence,
            format!(
                "the {v} chunk was detected ({}) and nothing was left behind; the tool said: {line}",
                run.status_text()
            ),
        )
    } else {
        Check::fail(
            INTEGRITY_ERROR,
            evidence,
            format!(
                "the restore failed ({}) without saying why in words of integrity (hash, checksum, digest, mismatch, corrupt...; extend with [tool] integrity_words): the {v} chunk's SHA-256 was not checked",
                run.status_text()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::alter;

    #[test]
    fn each_alteration_changes_what_it_says() {
        let (a, b) = (vec![0u8; 8], vec![1u8; 8]);
        let chunks = vec![a.clone(), b.clone()];
        // Not a send stream: the flip falls back to a plain byte flip.
        let f = alter("flip", &chunks);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].1.iter().filter(|x| **x != 0).count(), 1);
        let t = alter("truncate", &chunks);
        assert_eq!((t[0].0, t[0].1.len()), (1, 4));
        let s = alter("swap", &chunks);
        assert_eq!(s, vec![(0, b.clone()), (1, a.clone())]);
    }
}
