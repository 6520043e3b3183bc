//! missing-parent: the parent of the next incremental disappears before it
//! runs: the parent snapshot in the guest (variant `snapshot`), or the
//! parent manifest in S3 (variant `manifest`, removed behind the S3 API and
//! put back afterwards). The tool must back up a full or fail clearly
//! (non-zero, the pointer unchanged), never publish an incremental nobody
//! can restore; whatever it published is restored to prove it.

use super::super::{first_subvolume, guest, record_variant, Scenario};
use crate::runner::blame::tool_broke;
use crate::runner::session::{Session, ToolRun};
use crate::ssh::shell_quote;
use crate::verify::layout::Layout;
use crate::verify::manifest::Documents;
use crate::verify::Check;
use anyhow::{anyhow, bail, Result};
use serde_json::json;
use std::time::Duration;

pub const FALLBACK: &str = "verify.missing_parent.fallback";

// The manifest first: a tool that wedges after a missing snapshot
// (every later backup failing) must still show what it does with a
// missing manifest.
const VARIANTS: [&str; 2] = ["manifest", "snapshot"];

pub struct MissingParent;

impl Scenario for MissingParent {
    fn name(&self) -> &'static str {
        "missing-parent"
    }
    fn needs_embedded(&self) -> Option<&'static str> {
        Some("removing a manifest behind the S3 API")
    }
    fn expected_checks(&self, _s: &Session) -> Vec<String> {
        VARIANTS
            .iter()
            .map(|v| super::variant(FALLBACK, v))
            .collect()
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let layout = Layout::from_profile(&s.profile)?;
        let sv = first_subvolume(s)?;
        for v in VARIANTS {
            let name = super::variant(FALLBACK, v);
            let decided = one(s, &layout, &sv, v);
            record_variant(s, &name, decided)?;
        }
        Ok(())
    }
}

fn one(s: &mut Session, layout: &Layout, sv: &str, v: &str) -> Result<Check> {
    let (_, parent_key) = super::good_backup(
        s,
        "missing-parent",
        sv,
        &format!("missing-parent-{v}-parent"),
    )?;
    // The tool's own snapshot (the one its next incremental would send from).
    let parent_snapshot = s
        .backup_of(&parent_key)
        .map(|b| b.snapshot_path.clone())
        .ok_or_else(|| {
            tool_broke(
                format!("the parent backup {parent_key} reported no snapshot (snapshot_created)"),
                None,
            )
        })?;
    let mut put_back = None;
    let removed = match v {
        "snapshot" => {
            let out = s.vm.ssh().run(
                "missing-parent-delete-snapshot",
                &format!(
                    "if ! test -e {0}; then echo gone; else btrfs -q subvolume delete {0} && ! test -e {0}; fi",
                    shell_quote(&parent_snapshot)
                ),
                Duration::from_secs(120),
            )?;
            if out.stdout_text().trim() == "gone" {
                return Err(tool_broke(
                    format!("the parent snapshot {parent_snapshot} of {parent_key} was already gone (the tool removed its own newest snapshot)"),
                    None,
                ));
            }
            parent_snapshot.clone()
        }
        _ => {
            let ep = s
                .endpoint
                .as_ref()
                .ok_or_else(|| anyhow!("removing a manifest needs the embedded endpoint"))?;
            let saved = ep.object(&parent_key).ok_or_else(|| {
                tool_broke(
                    format!("the manifest {parent_key} the parent backup named is not stored"),
                    None,
                )
            })?;
            if !s.rt.block_on(ep.vanish(&parent_key))? {
                bail!("{parent_key} was not removed");
            }
            put_back = Some(saved);
            parent_key.clone()
        }
    };
    guest::add_random_file(s, sv, &format!("missing-parent-{v}.bin"), 64 * 1024)?;
    let run = super::backup(s, "missing-parent", sv, &format!("missing-parent-{v}"))?;
    let verdict = judge(s, layout, sv, v, &parent_key, &removed, &run);
    if let Some((meta, bytes)) = put_back {
        if let Some(ep) = s.endpoint.as_ref() {
            s.rt.block_on(ep.tamper(&meta, bytes))
                .map_err(|e| anyhow!("putting {parent_key} back: {e}"))?;
        }
    }
    verdict
}

fn judge(
    s: &mut Session,
    layout: &Layout,
    sv: &str,
    v: &str,
    parent_key: &str,
    removed: &str,
    run: &ToolRun,
) -> Result<Check> {
    let state = guest::s3_state(s, layout)?;
    let docs = Documents::from_state(&state, layout);
    let head = guest::pointer_of(&docs, layout, sv);
    let new_key = run.field("backup_uploaded", "manifest_key");
    let mut evidence = json!({
        "removed": removed,
        "status": run.status_text(),
        "parent_missing_events": run.log.events("parent_missing").map(|r| format!("{r:?}")).collect::<Vec<_>>(),
        "manifest_key": new_key,
        "pointer_names": head,
        "stderr_tail": crate::programs::tail(&run.output.stderr_text(), 10),
    });
    if !run.succeeded() {
        let unchanged = head.as_deref() == Some(parent_key);
        return Ok(if unchanged {
            Check::pass(
                FALLBACK,
                evidence,
                format!(
                    "with the parent {v} gone the backup failed ({}) and published nothing",
                    run.status_text()
                ),
            )
        } else {
            Check::fail(
                FALLBACK,
                evidence,
                format!(
                    "the backup failed ({}) but the pointer moved from {parent_key} to {head:?}",
                    run.status_text()
                ),
            )
        });
    }
    let Some(key) = new_key else {
        return Ok(Check::fail(
            FALLBACK,
            evidence,
            "the backup exited 0 without naming the manifest it uploaded",
        ));
    };
    let parent = match docs.manifests.get(&key) {
        Some(Ok(m)) => m.parent_manifest.clone(),
        _ => {
            return Ok(Check::fail(
                FALLBACK,
                evidence,
                format!("the backup exited 0 but {key} is not stored or unreadable"),
            ))
        }
    };
    evidence["parent_manifest"] = json!(parent);
    let source = super::snapshot_of(s, &key);
    let restored = super::restore_check(
        s,
        FALLBACK,
        sv,
        &key,
        source.as_deref(),
        &format!("missing-{v}"),
    )?;
    let restore_ok = restored.verdict == crate::verify::Verdict::Pass;
    evidence["restore"] = json!(restored);
    Ok(match (parent, restore_ok) {
        (None, true) => Check::pass(FALLBACK, evidence, format!("with the parent {v} gone the tool backed up a full, and it restores")),
        (Some(p), _) if p == parent_key && v == "manifest" => Check::fail(
            FALLBACK,
            evidence,
            format!("published an incremental on the vanished parent manifest {p}: nobody can restore it (restore {})", if restore_ok { "passed?" } else { "failed" }),
        ),
        (Some(p), true) => Check::pass(FALLBACK, evidence, format!("with the parent {v} gone the tool backed up an incremental on {p}, and it restores")),
        (_, false) => Check::fail(FALLBACK, evidence, format!("with the parent {v} gone the tool published {key}, which does not restore: {}", restored.diagnosis)),
    })
}
