//! restore: the latest backup of every subvolume (via the pointer) and an
//! older one by manifest key, each into a new subvolume, compared with the
//! source snapshot's digest; the receive is proven by what was fetched.

use super::{for_subvolume, per_subvolume, Scenario};
use crate::digest::CompareOptions;
use crate::runner::session::Session;
use crate::tool::RestoreArgs;
use crate::verify::layout::Layout;
use crate::verify::manifest::{chain_of, Documents};
use crate::verify::restore::verify_restore_digest;
use crate::verify::source::S3State;
use crate::verify::{names, Check};
use anyhow::{anyhow, Result};
use serde_json::json;
use std::collections::BTreeSet;

pub const RESTORE_EXIT: &str = "verify.restore.exit";
pub const TARGET_WRITABLE: &str = "verify.restore.target_writable";
pub const RESTORE_CHAIN: &str = "verify.restore.chain";
pub const RESTORE_BY_KEY: &str = "verify.restore.by_manifest_key";

pub struct Restore;

impl Scenario for Restore {
    fn name(&self) -> &'static str {
        "restore"
    }
    fn expected_checks(&self, s: &Session) -> Vec<String> {
        let mut v = per_subvolume(
            s,
            &[
                RESTORE_EXIT,
                TARGET_WRITABLE,
                names::RESTORE_DIGEST,
                RESTORE_CHAIN,
            ],
        );
        if let Some(sv) = older_candidate(s) {
            v.push(format!("{RESTORE_BY_KEY}[{sv}]"));
        }
        v
    }
    fn needs(&self) -> &'static [&'static str] {
        super::NEEDS_BACKUPS
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let docs = documents(s)?;
        for sv in s.profile.btrfs.subvolumes.clone() {
            let (checks, _) = restore_latest(s, &docs, &sv, "latest")?;
            for c in checks {
                s.record(c);
            }
        }
        if let Some(sv) = older_candidate(s) {
            let older = older_backup(s, &sv)?;
            let target = format!("{}/{sv}-by-key", s.layout.restore_dir());
            let (got, _) = restore_one(
                s,
                &docs,
                &sv,
                Some(&older.manifest_key),
                Some(&older.manifest_key),
                Some(older.source()),
                &target,
            )?;
            let evidence = json!({"manifest_key": older.manifest_key, "target": target});
            s.record(for_subvolume(
                all_passed(
                    RESTORE_BY_KEY,
                    got,
                    evidence,
                    "the older backup, named by its manifest key, restored equal to its snapshot",
                    &format!("restoring {} by key", older.manifest_key),
                ),
                &sv,
            ));
        }
        Ok(())
    }
}

/// One verdict for a restore made of several checks: pass when every part
/// passed or was skipped (the skips named); else fail with `failing` and the
/// first part that failed or warned.
/// The parts go into the evidence (an object) as `checks`.
pub(super) fn all_passed(
    name: &str,
    parts: Vec<Check>,
    mut evidence: serde_json::Value,
    ok: &str,
    failing: &str,
) -> Check {
    use crate::verify::Verdict;
    let failed = parts
        .iter()
        .find(|c| matches!(c.verdict, Verdict::Fail | Verdict::Warn))
        .map(|c| c.diagnosis.clone());
    // A part skipped for a reason of the backend's (no journal) is not a failure.
    let skipped: Vec<String> = parts
        .iter()
        .filter_map(|c| match &c.verdict {
            Verdict::Skip(why) => Some(format!("{} skipped: {why}", c.name)),
            _ => None,
        })
        .collect();
    evidence["checks"] = json!(parts);
    match failed {
        None if skipped.is_empty() => Check::pass(name, evidence, ok),
        None => Check::pass(name, evidence, format!("{ok} ({})", skipped.join("; "))),
        Some(why) => Check::fail(name, evidence, format!("{failing}: {why}")),
    }
}

/// The manifests and pointers under the prefix, read once before restores.
pub(super) fn documents(s: &Session) -> Result<Documents> {
    let layout = Layout::from_profile(&s.profile)?;
    let state = S3State::collect(&s.objects(), &layout)
        .map_err(|e| anyhow!("reading S3 before the restores: {e}"))?;
    Ok(Documents::from_state(&state, &layout))
}

/// Restore `sv`'s latest backup (through its pointer) into
/// `<restore_dir>/<sv>-<suffix>` and check it against the last snapshot.
pub(super) fn restore_latest(
    s: &mut Session,
    docs: &Documents,
    sv: &str,
    suffix: &str,
) -> Result<(Vec<Check>, u64)> {
    let pointer_key = format!(
        "{}subvol/{sv}/current.json",
        s.profile.s3.normalized_prefix()
    );
    let head = docs.pointer_targets().get(&pointer_key).cloned();
    // What the pointer names must be a backup this run saw made.
    let source = head
        .as_deref()
        .and_then(|h| s.backup_of(h))
        .map(|b| b.source().to_string());
    let target = format!("{}/{sv}-{suffix}", s.layout.restore_dir());
    restore_one(
        s,
        docs,
        sv,
        None,
        head.as_deref(),
        source.as_deref(),
        &target,
    )
}

/// The journal's records after sequence number `seq`.
pub(super) fn records_since(s: &Session, seq: u64) -> Vec<crate::s3::server::journal::Record> {
    s.endpoint
        .as_ref()
        .map(|e| e.journal().records())
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.seq > seq)
        .collect()
}

/// The keys `records` read successfully (GetObject 2xx).
pub(super) fn fetched(records: &[crate::s3::server::journal::Record]) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| r.op == "GetObject" && r.status.is_some_and(|c| c < 300))
        .filter_map(|r| r.key.clone())
        .collect()
}

/// Every chunk key of the chain that ends at manifest `head`, oldest first.
pub(super) fn chain_chunks(docs: &Documents, head: &str) -> Vec<String> {
    chain_of(docs, head)
        .iter()
        .flat_map(|m| m.chunks.iter().map(|c| c.key.clone()))
        .collect()
}

/// The first subvolume with at least two backups (so "older" means something).
fn older_candidate(s: &Session) -> Option<String> {
    s.profile
        .btrfs
        .subvolumes
        .iter()
        .find(|sv| s.backups.iter().filter(|b| &b.subvolume == *sv).count() >= 2)
        .cloned()
}

/// The newest backup of `sv` before its latest (compared with the
/// harness's own reference of it, whatever retention left).
fn older_backup(s: &Session, sv: &str) -> Result<crate::runner::session::BackupFact> {
    let of_sv: Vec<_> = s.backups.iter().filter(|b| b.subvolume == sv).collect();
    of_sv
        .len()
        .checked_sub(2)
        .and_then(|i| of_sv.get(i))
        .map(|b| (*b).clone())
        .ok_or_else(|| anyhow!("no older backup of {sv}"))
}

/// A restore of `sv` into `target` (by `manifest_key`, or through the
/// pointer) with the profile's `[restore]` settings (a scenario changes
/// what it tests: `RestoreArgs { verify: ..., ..restore_args(...) }`).
pub(super) fn restore_args(
    s: &Session,
    sv: &str,
    target: &str,
    manifest_key: Option<&str>,
) -> RestoreArgs {
    let r = &s.profile.restore;
    RestoreArgs {
        subvolume: sv.into(),
        target: target.into(),
        manifest_key: manifest_key.map(str::to_string),
        wait_restore: Some(r.wait_for_restore),
        restore_timeout_secs: Some(r.restore_timeout_seconds),
        verify: Some(r.verify_mode.clone()),
        log_level: None,
    }
}

/// The tool's restore command of [`restore_args`].
pub(super) fn restore_line(
    s: &Session,
    sv: &str,
    target: &str,
    manifest_key: Option<&str>,
) -> String {
    s.tool.restore(&restore_args(s, sv, target, manifest_key))
}

/// `verify.restore.digest`: the tree at `target` (a restore of `head`'s
/// chain) against `source`; both digests are kept in the run directory.
pub(super) fn digest_check(
    s: &mut Session,
    docs: &Documents,
    sv: &str,
    head: Option<&str>,
    source: &str,
    target: &str,
) -> Result<Check> {
    let timeout = s.timeout();
    let ignore = s.profile.fixture.ignore_xattrs.clone();
    let a = crate::fixture::digest(s.vm.ssh(), source, &ignore, timeout)?;
    let b = crate::fixture::digest(s.vm.ssh(), target, &ignore, timeout)?;
    std::fs::write(s.run_dir.join(format!("digest-{sv}-source.txt")), &a)?;
    std::fs::write(
        s.run_dir.join(format!(
            "digest-{sv}-{}.txt",
            target.rsplit('/').next().unwrap_or("target")
        )),
        &b,
    )?;
    let incremental = head.is_some_and(|h| chain_of(docs, h).len() > 1);
    let options = CompareOptions {
        incremental,
        ignore_xattrs: ignore.iter().map(|x| x.as_bytes().to_vec()).collect(),
        ..CompareOptions::default()
    };
    Ok(verify_restore_digest(&a, &b, &options)?)
}

/// Restore one subvolume and check exit, target, digest and the chain
/// fetched. Returns the checks and the last journal sequence number before
/// the restore started.
pub(super) fn restore_one(
    s: &mut Session,
    docs: &Documents,
    sv: &str,
    manifest_key: Option<&str>,
    head: Option<&str>,
    source_snapshot: Option<&str>,
    target: &str,
) -> Result<(Vec<Check>, u64)> {
    let line = restore_line(s, sv, target, manifest_key);
    let seq_before = s
        .endpoint
        .as_ref()
        .and_then(|e| e.journal().records().last().map(|r| r.seq))
        .unwrap_or(0);
    let (run, leftovers) =
        super::leftovers::restore_run(s, &format!("restore-{sv}"), &line, target, false)?;
    let scenario = s.scenario.clone();
    s.note_restore(&scenario, sv, &run);
    let mut checks = Vec::new();
    let ok = run.succeeded() && run.field("restore_complete", "status").as_deref() == Some("ok");
    let evidence = json!({"target": target, "manifest_key": manifest_key, "status": run.status_text(),
        "stderr_tail": crate::programs::tail(&run.output.stderr_text(), 15)});
    checks.push(if ok {
        Check::pass(
            RESTORE_EXIT,
            evidence,
            "the restore exited 0 with restore_complete status=ok",
        )
    } else {
        Check::fail(
            RESTORE_EXIT,
            evidence,
            format!("the restore did not complete ({})", run.status_text()),
        )
    });

    // The target: a writable subvolume, not a plain directory.
    let show = crate::fixture::subvolume_show(s.vm.ssh(), target);
    checks.push(match &show {
        Ok(sh) if !sh.readonly() => Check::pass(
            TARGET_WRITABLE,
            json!({"target": target}),
            "a writable subvolume",
        ),
        Ok(_) => Check::fail(
            TARGET_WRITABLE,
            json!({"target": target}),
            "the target is a read-only subvolume",
        ),
        Err(e) => Check::fail(
            TARGET_WRITABLE,
            json!({"target": target, "error": format!("{e:#}")}),
            "the target is not a subvolume",
        ),
    });

    // The tree equals its source snapshot.
    checks.push(match (source_snapshot, ok && show.is_ok()) {
        (Some(src), true) => digest_check(s, docs, sv, head, src, target)?,
        (None, _) => Check::fail(
            names::RESTORE_DIGEST,
            json!({"head": head}),
            "the manifest restored is not one this run saw the tool back up (no reference to compare with)",
        ),
        (_, false) => Check::fail(
            names::RESTORE_DIGEST,
            json!({"target": target}),
            "nothing to compare: the restore failed",
        ),
    });

    // Every chunk of every manifest in the chain was fetched by this restore.
    let fetched = fetched(&records_since(s, seq_before));
    let chain: Vec<String> = head.map(|h| chain_chunks(docs, h)).unwrap_or_default();
    let missing: Vec<&String> = chain.iter().filter(|k| !fetched.contains(*k)).collect();
    let manifests = head.map(|h| chain_of(docs, h).len()).unwrap_or(0);
    let evidence = json!({"head": head, "manifests_in_chain": manifests, "chunks_in_chain": chain.len(), "not_fetched": missing});
    let no_journal = s.profile.s3.journal_missing();
    checks.push(if head.is_none() {
        Check::fail(
            RESTORE_CHAIN,
            evidence,
            "no current.json names a manifest for this subvolume",
        )
    } else if let Some(why) = no_journal {
        Check::skip(
            RESTORE_CHAIN,
            format!("what the restore fetched is unknown: {why}"),
        )
    } else if missing.is_empty() && !chain.is_empty() {
        Check::pass(
            RESTORE_CHAIN,
            evidence,
            format!(
                "all {} chunk(s) of the {manifests}-manifest chain were fetched",
                chain.len()
            ),
        )
    } else {
        Check::fail(
            RESTORE_CHAIN,
            evidence,
            format!("{} chunk(s) of the chain were never fetched", missing.len()),
        )
    });
    checks.extend(leftovers);
    Ok((
        checks.into_iter().map(|c| for_subvolume(c, sv)).collect(),
        seq_before,
    ))
}
