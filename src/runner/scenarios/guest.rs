//! Facts scenarios read from the guest and S3 between tool runs: the tool's
//! state file, the snapshot directory, the published backup of a subvolume.

use crate::runner::session::{Session, ToolRun};
use crate::ssh::{shell_quote, Exec};
use crate::verify::layout::{KeyClass, Layout};
use crate::verify::manifest::Documents;
use crate::verify::source::S3State;
use crate::verify::state::verify_state;
use crate::verify::Check;
use anyhow::{anyhow, Result};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// Names in the tool's snapshot directory.
pub fn snapshot_names(s: &mut Session) -> Result<BTreeSet<String>> {
    let dir = s.layout.snapshots_dir();
    let out = s.vm.ssh().run(
        "list-snapshots",
        &format!("mkdir -p {0} && ls -1 {0}", shell_quote(&dir)),
        Duration::from_secs(60),
    )?;
    Ok(out.stdout_text().lines().map(str::to_string).collect())
}

/// The tool's state file, None when there is none.
pub fn state_text(s: &mut Session) -> Result<Option<String>> {
    let path = s.profile.tool.state_path.clone();
    let out = s.vm.ssh().exec(&Exec {
        command: &format!("cat {}", shell_quote(&path)),
        label: "read-state",
        timeout: Duration::from_secs(60),
        echo: false,
    })?;
    Ok(out.success().then(|| out.stdout_text()))
}

/// Add `bytes` of incompressible data to subvolume `sv` as file `name`.
pub fn add_random_file(s: &mut Session, sv: &str, name: &str, bytes: u64) -> Result<String> {
    let path = format!("{}/{name}", s.layout.subvolume(sv));
    let timeout = s.timeout();
    let t = std::time::Instant::now();
    s.vm.ssh().run(
        "add-random-data",
        &format!(
            "head -c {bytes} /dev/urandom > {0} && sync {0}",
            shell_quote(&path)
        ),
        timeout,
    )?;
    s.work.fixture += t.elapsed().as_secs_f64();
    Ok(path)
}

/// The S3 state under the prefix.
pub fn s3_state(s: &Session, layout: &Layout) -> Result<S3State> {
    S3State::collect(&s.objects(), layout).map_err(|e| anyhow!("reading S3: {e}"))
}

/// `verify.state.coherent` now: state file against the snapshot directory
/// and the stored objects.
pub fn state_coherence(s: &mut Session, layout: &Layout) -> Result<Check> {
    let text = state_text(s)?;
    let snapshots = snapshot_names(s)?;
    let state = s3_state(s, layout)?;
    let objects: BTreeSet<String> = state.objects.keys().cloned().collect();
    Ok(verify_state(text.as_deref(), &snapshots, &objects))
}

/// Whether `run` published a complete backup of `sv`: it names a manifest
/// (`backup_uploaded`), the subvolume's pointer names that manifest, and
/// every chunk it lists is stored with its size. Ok(evidence) or
/// Err(problem, evidence).
pub fn published_complete(
    run: &ToolRun,
    sv: &str,
    state: &S3State,
    layout: &Layout,
) -> std::result::Result<Value, (String, Value)> {
    let key = run.field("backup_uploaded", "manifest_key");
    let docs = Documents::from_state(state, layout);
    let pointer = pointer_of(&docs, layout, sv);
    let mut evidence = json!({"manifest_key": key, "pointer_names": pointer});
    let Some(key) = key else {
        return Err(("no backup_uploaded event names a manifest".into(), evidence));
    };
    if pointer.as_deref() != Some(key.as_str()) {
        return Err((
            format!("current.json of {sv} does not name {key}"),
            evidence,
        ));
    }
    let manifest = match docs.manifests.get(&key) {
        Some(Ok(m)) => m,
        Some(Err(e)) => return Err((format!("{key} is unreadable: {e}"), evidence)),
        None => return Err((format!("{key} is not stored"), evidence)),
    };
    let missing = missing_chunks(manifest, state);
    evidence["chunks"] = json!(manifest.chunks.len());
    evidence["missing_or_wrong_size"] = json!(missing);
    if missing.is_empty() {
        Ok(evidence)
    } else {
        Err((
            format!(
                "{} of {} chunk(s) of {key} are missing or the wrong size",
                missing.len(),
                manifest.chunks.len()
            ),
            evidence,
        ))
    }
}

/// The manifest key the pointer of `sv` names (None: no readable pointer).
pub fn pointer_of(docs: &Documents, layout: &Layout, sv: &str) -> Option<String> {
    docs.pointers
        .iter()
        .find(|(k, _)| matches!(layout.classify(k), KeyClass::Pointer { subvol } if subvol == sv))
        .and_then(|(_, p)| p.as_ref().ok())
        .map(|p| p.manifest_key.clone())
}

/// The chunks of `manifest` that are not stored with their size.
pub fn missing_chunks(
    manifest: &crate::verify::manifest::Manifest,
    state: &S3State,
) -> Vec<String> {
    manifest
        .chunks
        .iter()
        .filter(|c| state.objects.get(&c.key).map(|o| o.size) != Some(c.size))
        .map(|c| c.key.clone())
        .collect()
}

/// A check that `run` (`what`, e.g. "the rerun") exited 0 and published a
/// complete backup of `sv` ([`published_complete`]).
pub fn published_check(
    name: &str,
    what: &str,
    run: &ToolRun,
    sv: &str,
    state: &S3State,
    layout: &Layout,
) -> Check {
    let published = published_complete(run, sv, state, layout);
    let evidence = json!({"status": run.status_text(),
        "published": match &published { Ok(v) | Err((_, v)) => v.clone() },
        "stderr_tail": crate::programs::tail(&run.output.stderr_text(), 12)});
    match (run.succeeded(), published) {
        (true, Ok(_)) => Check::pass(
            name,
            evidence,
            format!("{what} exited 0 and current.json names a complete manifest"),
        ),
        (true, Err((problem, _))) => Check::fail(
            name,
            evidence,
            format!("{what} exited 0 but did not publish a complete backup: {problem}"),
        ),
        (false, _) => Check::fail(
            name,
            evidence,
            format!("{what} failed ({})", run.status_text()),
        ),
    }
}

/// Record every backup a run made (one per `snapshot_created`), so the
/// later scenarios know every snapshot, even when a run backed up more
/// subvolumes than asked.
pub fn note_backups(s: &mut Session, scenario: &str, run: &ToolRun) -> Result<()> {
    let subvolumes: Vec<String> = run
        .log
        .events("snapshot_created")
        .filter_map(|r| r.get("subvolume").map(str::to_string))
        .collect();
    for sv in subvolumes {
        let mut one = run.clone();
        // note_backup reads the first record of each event: keep this subvolume's.
        one.log
            .records
            .retain(|r| r.get("subvolume") == Some(sv.as_str()));
        s.note_backup(scenario, &sv, &one)?;
    }
    Ok(())
}
