//! corruption: after a good backup of several chunks, one stored chunk is
//! altered in the endpoint's store, behind the S3 API (`flip`: one byte
//! flipped; `truncate`: cut to half; `swap`: the first two chunks'
//! contents exchanged). A restore of that backup must exit non-zero with an
//! integrity error and leave no writable subvolume at the target that
//! looks like a successful restore. The original bytes are put back after
//! each variant.

use super::super::{first_subvolume, guest, hold, Scenario};
use crate::runner::session::Session;
use crate::s3::store::ObjectMeta;
use crate::ssh::shell_quote;
use crate::verify::layout::Layout;
use crate::verify::manifest::Documents;
use crate::verify::Check;
use anyhow::{anyhow, bail, Result};
use serde_json::json;
use std::time::Duration;

pub const INTEGRITY_ERROR: &str = "verify.corruption.integrity_error";

const VARIANTS: [&str; 3] = ["flip", "truncate", "swap"];

/// What a tool's log must contain to count as an integrity error: the
/// reference tool's event, or words no `btrfs receive` failure prints.
const INTEGRITY_WORDS: [&str; 4] = ["chunk_integrity_failed", "integrity", "sha256", "sha-256"];

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
    fn run(&self, s: &mut Session) -> Result<Vec<Check>> {
        let layout = Layout::from_profile(&s.profile)?;
        let sv = first_subvolume(s)?;
        super::add_chunk_and_a_half(s, &sv, "corruption.bin")?;
        let (_, key) = super::good_backup(s, "corruption", &sv, "corruption-backup")?;
        let docs = Documents::from_state(&guest::s3_state(s, &layout)?, &layout);
        let chunks: Vec<String> = match docs.manifests.get(&key) {
            Some(Ok(m)) => m.chunks.iter().map(|c| c.key.clone()).collect(),
            _ => bail!("the manifest {key} of the good backup is not readable"),
        };
        if chunks.len() < 2 {
            bail!(
                "the backup {key} has {} chunk(s); corrupting needs two",
                chunks.len()
            );
        }
        let mut checks = Vec::new();
        for v in VARIANTS {
            let mut c = variant(s, &sv, &key, &chunks, v)?;
            c.name = super::variant(INTEGRITY_ERROR, v);
            checks.push(c);
        }
        Ok(checks)
    }
}

/// The altered contents of the chunks `variant` changes (key -> bytes).
fn alter(v: &str, a: &[u8], b: &[u8]) -> Vec<(usize, Vec<u8>)> {
    match v {
        "flip" => {
            let mut x = a.to_vec();
            let i = x.len() / 2;
            x[i] ^= 0x01;
            vec![(0, x)]
        }
        "truncate" => vec![(1, b[..b.len() / 2].to_vec())],
        _ => vec![(0, b.to_vec()), (1, a.to_vec())],
    }
}

fn variant(s: &mut Session, sv: &str, key: &str, chunks: &[String], v: &str) -> Result<Check> {
    let ep = s
        .endpoint
        .as_ref()
        .ok_or_else(|| anyhow!("corrupting a chunk needs the embedded endpoint"))?;
    let originals: Vec<(ObjectMeta, Vec<u8>)> = chunks[..2]
        .iter()
        .map(|k| ep.object(k).ok_or_else(|| anyhow!("{k} is not stored")))
        .collect::<Result<_>>()?;
    let changes = alter(v, &originals[0].1, &originals[1].1);
    let altered: Vec<String> = changes.iter().map(|(i, _)| chunks[*i].clone()).collect();
    for (i, bytes) in changes {
        s.rt.block_on(ep.tamper(&originals[i].0, bytes))
            .map_err(|e| anyhow!("altering {}: {e}", chunks[i]))?;
    }
    let target = format!("{}/{sv}-corrupt-{v}", s.layout.restore_dir());
    let line = super::super::restore::restore_line(s, sv, &target, Some(key));
    let start = hold::mark(s)?;
    let run = s.run_tool(&format!("corruption-restore-{v}"), &line);
    // Put the chunks back before judging, so nothing later sees the damage.
    if let Some(ep) = s.endpoint.as_ref() {
        for (meta, bytes) in &originals {
            s.rt.block_on(ep.tamper(meta, bytes.clone()))
                .map_err(|e| anyhow!("putting {} back: {e}", meta.key))?;
        }
    }
    let run = run?;
    let read: Vec<String> = hold::since(s, start)?
        .iter()
        .filter(|r| {
            (r.op == "GetObject" || r.op == "HeadObject")
                && r.key.as_ref().is_some_and(|k| altered.contains(k))
        })
        .map(hold::describe)
        .collect();
    let target_state = guest::left_at(s, &target);
    let stderr = run.output.stderr_text();
    let lower = stderr.to_lowercase();
    let integrity = INTEGRITY_WORDS.iter().any(|w| lower.contains(w));
    let evidence = json!({
        "manifest_key": key,
        "altered": altered,
        "reads_of_altered": read,
        "status": run.status_text(),
        "integrity_error_logged": integrity,
        "target": target,
        "target_left": target_state,
        "stderr_tail": crate::programs::tail(&stderr, 10),
    });
    // Leave nothing at the target for later restores.
    s.vm.ssh().run(
        "corruption-clear-target",
        &format!("t={0}; if btrfs subvolume show $t >/dev/null 2>&1; then btrfs property set -f $t ro false 2>/dev/null; btrfs -q subvolume delete $t; fi; rm -rf $t", shell_quote(&target)),
        Duration::from_secs(120),
    )?;
    if run.succeeded() {
        return Ok(Check::fail(
            INTEGRITY_ERROR,
            evidence,
            format!("the restore of a backup with a {v} chunk exited 0"),
        ));
    }
    if read.is_empty() {
        bail!("the restore ({}) never read the altered chunk(s) {altered:?}: the corruption hit nothing: {}", run.status_text(), crate::programs::tail(&stderr, 6));
    }
    Ok(if !integrity {
        Check::fail(INTEGRITY_ERROR, evidence, format!("the restore failed ({}) without an integrity error: the {v} chunk was not detected by its SHA-256", run.status_text()))
    } else if target_state == guest::WRITABLE_SUBVOLUME {
        Check::fail(
            INTEGRITY_ERROR,
            evidence,
            "the restore reported the integrity error but left a writable subvolume at the target",
        )
    } else {
        Check::pass(INTEGRITY_ERROR, evidence, format!("the {v} chunk was detected (integrity error, {}), {target_state} left at the target", run.status_text()))
    })
}

#[cfg(test)]
mod tests {
    use super::alter;

    #[test]
    fn each_alteration_changes_what_it_says() {
        let (a, b) = (vec![0u8; 8], vec![1u8; 8]);
        let f = alter("flip", &a, &b);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].1.iter().filter(|x| **x != 0).count(), 1);
        let t = alter("truncate", &a, &b);
        assert_eq!((t[0].0, t[0].1.len()), (1, 4));
        let s = alter("swap", &a, &b);
        assert_eq!(s, vec![(0, b.clone()), (1, a.clone())]);
    }
}
