//! The `faults` group (issue 8): what the tool must survive beyond a kill:
//! power loss, a network cut, S3 errors, corrupt chunks, a missing parent,
//! back-to-back runs, publish ordering, missing credentials. Each scenario
//! makes its own backups of the profile's first subvolume, proves its
//! perturbation landed mid-operation (else the harness failed, never the
//! tool), and names the broken promise in its checks.

pub(super) mod corruption;
pub(super) mod missing_parent;
pub(super) mod network_cut;
pub(super) mod no_credentials;
pub(super) mod ordering;
pub(super) mod power_loss;
pub(super) mod rapid_runs;
pub(super) mod s3_errors;

use super::guest::note_backups;
use crate::runner::blame::tool_broke;
use crate::runner::session::{Session, ToolRun};
use crate::scenario_id::{group_members, ScenarioId, FAULTS_GROUP};
use anyhow::Result;

/// The group's name in a run list (`vmharness run faults`).
pub const GROUP: &str = FAULTS_GROUP;

/// The group's scenario names, in the group's order.
pub fn names() -> impl Iterator<Item = &'static str> {
    group_members(GROUP).map(ScenarioId::name)
}

/// One backup of `sv` now, recorded for later scenarios.
pub(super) fn backup(s: &mut Session, scenario: &str, sv: &str, label: &str) -> Result<ToolRun> {
    let line = s.tool.backup_now(sv);
    let run = s.run_tool(label, &line)?;
    note_backups(s, scenario, &run)?;
    Ok(run)
}

/// A backup that must succeed for the scenario to mean anything (the
/// ground it perturbs): when it fails, the tool made the scenario
/// impossible (a FAIL of its precondition, with the tool's cause).
pub(super) fn good_backup(
    s: &mut Session,
    scenario: &str,
    sv: &str,
    label: &str,
) -> Result<(ToolRun, String)> {
    let run = backup(s, scenario, sv, label)?;
    let key = run.field("backup_uploaded", "manifest_key");
    match (run.succeeded(), key) {
        (true, Some(k)) => Ok((run, k)),
        (true, None) => Err(tool_broke(
            format!("the backup {scenario} starts from exited 0 but named no manifest (no backup_uploaded event)"),
            Some(&run),
        )),
        (false, _) => Err(tool_broke(
            format!(
                "the backup {scenario} starts from failed ({}), so its fault cannot be judged",
                run.status_text()
            ),
            Some(&run),
        )),
    }
}

/// Add a chunk and a half of incompressible data to `sv` as file `name`:
/// the next backup spans two chunks, the first full-size (multipart when
/// the profile's chunks are over 5 MiB).
pub(super) fn add_chunk_and_a_half(s: &mut Session, sv: &str, name: &str) -> Result<String> {
    let chunk = s.profile.backup.chunk_size_bytes;
    super::guest::add_random_file(s, sv, name, chunk + chunk / 2)
}

/// `check[variant]`.
pub(super) fn variant(check: &str, v: &str) -> String {
    format!("{check}[{v}]")
}

/// What a restore of `manifest_key` is compared with: the harness's own
/// reference of the backup (see `BackupFact::source`).
pub(super) fn snapshot_of(s: &Session, manifest_key: &str) -> Option<String> {
    s.backup_of(manifest_key).map(|b| b.source().to_string())
}

/// Restore `manifest_key` (by key; None: through the pointer) of `sv` into
/// `<restore_dir>/<sv>-<suffix>` and compare it with `source`; one verdict
/// named `name` over the restore's own checks.
pub(super) fn restore_check(
    s: &mut Session,
    name: &str,
    sv: &str,
    manifest_key: &str,
    source: Option<&str>,
    suffix: &str,
) -> Result<crate::verify::Check> {
    let docs = super::restore::documents(s)?;
    let target = format!("{}/{sv}-{suffix}", s.layout.restore_dir());
    let (parts, _) = super::restore::restore_one(
        s,
        &docs,
        sv,
        Some(manifest_key),
        Some(manifest_key),
        source,
        &target,
    )?;
    Ok(super::restore::all_passed(
        name,
        parts,
        serde_json::json!({"manifest_key": manifest_key, "target": target}),
        &format!("{manifest_key} restored equal to its snapshot"),
        &format!("restoring {manifest_key}"),
    ))
}
