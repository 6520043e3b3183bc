//! cli-flags: each flag of the contract's Invocation with its observable
//! effect: `--dry-run` (no snapshot, no S3 write), `--no-s3` (no S3 write),
//! `--once` (not due without it: `backup_not_due`, exit 0, nothing done;
//! with it: a backup), `--subvolume` (only that one backed up), restore
//! `--verify full|sample|none` (each exits 0 on a good backup).

use super::guest::{self, note_backups};
use super::hold;
use super::Scenario;
use crate::runner::blame::tool_broke;
use crate::runner::session::{Session, ToolRun};
use crate::s3::server::journal::Record;
use crate::tool::{BackupArgs, RestoreArgs};
use crate::verify::layout::Layout;
use crate::verify::retention::parse_snapshot_name;
use crate::verify::Check;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeSet;

pub const DRY_RUN: &str = "verify.cli.dry_run";
pub const NO_S3: &str = "verify.cli.no_s3";
pub const ONCE: &str = "verify.cli.once";
pub const SUBVOLUME_FILTER: &str = "verify.cli.subvolume_filter";
pub const RESTORE_VERIFY: &str = "verify.cli.restore_verify";

const VERIFY_MODES: [&str; 3] = ["full", "sample", "none"];

/// The variant of `restore --verify full` with the source snapshot gone.
const NO_SOURCE: &str = "no-source";

pub struct CliFlags;

impl Scenario for CliFlags {
    fn needs_embedded(&self) -> Option<&'static str> {
        Some("the journal, to see what each flag uploaded")
    }
    fn name(&self) -> &'static str {
        "cli-flags"
    }
    fn expected_checks(&self, _s: &Session) -> Vec<String> {
        let mut v: Vec<String> = [DRY_RUN, NO_S3, ONCE, SUBVOLUME_FILTER]
            .iter()
            .map(|c| c.to_string())
            .collect();
        v.extend(
            VERIFY_MODES
                .iter()
                .chain(&[NO_SOURCE])
                .map(|m| format!("{RESTORE_VERIFY}[{m}]")),
        );
        v
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let layout = Layout::from_profile(&s.profile)?;
        let subvolumes = s.profile.btrfs.subvolumes.clone();
        let first = subvolumes
            .first()
            .cloned()
            .context("the profile names no subvolume")?;
        if !s.backups.iter().any(|b| b.subvolume == first) {
            // --once needs a recent backup to be meaningful: make one.
            let line = backup(s, &first, |a| a.once = true);
            let run = s.run_tool("cli-precondition-backup", &line)?;
            note_backups(s, "cli-flags", &run)?;
            if run.field("backup_uploaded", "manifest_key").is_none() {
                return Err(tool_broke(
                    format!(
                        "the backup of {first} --once needs as its ground failed ({})",
                        run.status_text()
                    ),
                    Some(&run),
                ));
            }
        }
        let c = dry_run(s, &first)?;
        s.record(c);
        let c = no_s3(s, &first)?;
        s.record(c);
        // After --no-s3, so a real backup follows its snapshot (retention).
        let c = once(s, &first)?;
        s.record(c);
        let c = match subvolumes.get(1) {
            Some(other) => subvolume_filter(s, &layout, other)?,
            None => Check::new(
                SUBVOLUME_FILTER,
                crate::verify::Verdict::Warn,
                json!({"subvolumes": subvolumes}),
                "the profile has one subvolume: the filter cannot be told from no filter",
            ),
        };
        s.record(c);
        // A subvolume this scenario has just backed up (the filter's, else --once's).
        let restored = subvolumes.get(1).unwrap_or(&first).clone();
        for mode in VERIFY_MODES {
            let c = restore_verify(s, &restored, mode)?;
            s.record(c);
        }
        let c = verify_without_source(s, &restored)?;
        s.record(c);
        Ok(())
    }
}

fn backup(s: &Session, sv: &str, f: impl FnOnce(&mut BackupArgs)) -> String {
    let mut a = BackupArgs {
        subvolumes: vec![sv.to_string()],
        ..Default::default()
    };
    f(&mut a);
    s.tool.backup(&a)
}

/// What one tool run did: its outcome, new snapshots, S3 writes.
struct Observed {
    run: ToolRun,
    new_snapshots: Vec<String>,
    /// Requests that changed the bucket while it ran.
    writes: Vec<Record>,
}

impl Observed {
    fn evidence(&self) -> Value {
        json!({
            "status": self.run.status_text(),
            "new_snapshots": self.new_snapshots,
            "s3_writes": self.writes.iter().map(hold::describe).collect::<Vec<_>>(),
            "events": self.run.log.records.iter().map(|r| r.event.clone()).collect::<Vec<_>>(),
            "stderr_tail": crate::programs::tail(&self.run.output.stderr_text(), 8),
        })
    }
}

fn observe(s: &mut Session, label: &str, line: &str) -> Result<Observed> {
    let before = guest::snapshot_names(s)?;
    let mark = hold::mark(s)?;
    let run = s.run_tool(label, line)?;
    let writes = hold::since(s, mark)?
        .into_iter()
        .filter(|r| hold::WRITE_OPS.contains(&r.op.as_str()))
        .collect();
    let after = guest::snapshot_names(s)?;
    note_backups(s, "cli-flags", &run)?;
    Ok(Observed {
        run,
        new_snapshots: after.difference(&before).cloned().collect(),
        writes,
    })
}

/// Pass when `problems` is empty.
fn verdict(name: &str, o: &Observed, problems: Vec<String>, ok: &str) -> Check {
    let mut ev = o.evidence();
    if problems.is_empty() {
        Check::pass(name, ev, ok)
    } else {
        ev["problems"] = json!(problems);
        Check::fail(name, ev, problems.join("; "))
    }
}

fn exit_problem(o: &Observed) -> Option<String> {
    (!o.run.succeeded()).then(|| format!("exited with {}, expected 0", o.run.status_text()))
}

fn dry_run(s: &mut Session, sv: &str) -> Result<Check> {
    let line = backup(s, sv, |a| {
        a.once = true;
        a.dry_run = true;
    });
    let o = observe(s, "cli-dry-run", &line)?;
    let mut problems: Vec<String> = exit_problem(&o).into_iter().collect();
    if !o.new_snapshots.is_empty() {
        problems.push(format!(
            "--dry-run created snapshot(s) {:?}",
            o.new_snapshots
        ));
    }
    if !o.writes.is_empty() {
        problems.push(format!(
            "--dry-run wrote to S3 ({} request(s))",
            o.writes.len()
        ));
    }
    Ok(verdict(
        DRY_RUN,
        &o,
        problems,
        "--dry-run exited 0 with no snapshot and no S3 write",
    ))
}

fn no_s3(s: &mut Session, sv: &str) -> Result<Check> {
    let line = backup(s, sv, |a| {
        a.once = true;
        a.no_s3 = true;
    });
    let o = observe(s, "cli-no-s3", &line)?;
    let mut problems: Vec<String> = exit_problem(&o).into_iter().collect();
    if !o.writes.is_empty() {
        problems.push(format!(
            "--no-s3 wrote to S3 ({} request(s))",
            o.writes.len()
        ));
    }
    Ok(verdict(
        NO_S3,
        &o,
        problems,
        "--no-s3 exited 0 with no S3 write",
    ))
}

/// Without --once a backup that is not due does nothing; with it, it runs.
fn once(s: &mut Session, sv: &str) -> Result<Check> {
    let line = backup(s, sv, |_| {});
    let not_due = observe(s, "cli-not-due", &line)?;
    let line = backup(s, sv, |a| a.once = true);
    let forced = observe(s, "cli-once", &line)?;
    let mut problems: Vec<String> = Vec::new();
    if let Some(p) = exit_problem(&not_due) {
        problems.push(format!("without --once: {p}"));
    }
    if not_due.run.log.events("backup_not_due").count() == 0 {
        problems.push("without --once: no event=backup_not_due".into());
    }
    if !not_due.new_snapshots.is_empty() || !not_due.writes.is_empty() {
        problems.push(format!(
            "without --once a backup that is not due still made {} snapshot(s) and {} S3 write(s)",
            not_due.new_snapshots.len(),
            not_due.writes.len()
        ));
    }
    if let Some(p) = exit_problem(&forced) {
        problems.push(format!("with --once: {p}"));
    }
    if forced
        .run
        .field("backup_uploaded", "manifest_key")
        .is_none()
    {
        problems.push("with --once: no backup_uploaded".into());
    }
    let mut ev = json!({"without_once": not_due.evidence(), "with_once": forced.evidence()});
    Ok(if problems.is_empty() {
        Check::pass(
            ONCE,
            ev,
            "not due without --once (backup_not_due, exit 0, nothing done); with --once a backup ran",
        )
    } else {
        ev["problems"] = json!(problems);
        Check::fail(ONCE, ev, problems.join("; "))
    })
}

fn subvolume_filter(s: &mut Session, layout: &Layout, sv: &str) -> Result<Check> {
    let line = backup(s, sv, |a| a.once = true);
    let o = observe(s, "cli-subvolume-filter", &line)?;
    let mut problems: Vec<String> = exit_problem(&o).into_iter().collect();
    let backed_up: BTreeSet<String> = o
        .run
        .log
        .events("snapshot_created")
        .filter_map(|r| r.get("subvolume").map(str::to_string))
        .collect();
    let others: Vec<&String> = backed_up.iter().filter(|b| *b != sv).collect();
    if !others.is_empty() {
        problems.push(format!("--subvolume {sv} also backed up {others:?}"));
    }
    let foreign_snapshots: Vec<&String> = o
        .new_snapshots
        .iter()
        .filter(|n| parse_snapshot_name(n).map(|(v, _)| v) != Some(sv))
        .collect();
    if !foreign_snapshots.is_empty() {
        problems.push(format!(
            "snapshots of other subvolumes appeared: {foreign_snapshots:?}"
        ));
    }
    // The journal: every write under the prefix belongs to `sv`.
    let foreign_writes: Vec<String> = o
        .writes
        .iter()
        .filter(|r| {
            r.key
                .as_deref()
                .and_then(|k| layout.subvolume_of(k))
                .is_some_and(|owner| owner != sv)
        })
        .map(hold::describe)
        .collect();
    if !foreign_writes.is_empty() {
        problems.push(format!(
            "{} S3 write(s) for other subvolumes",
            foreign_writes.len()
        ));
    }
    if o.run.field("backup_uploaded", "manifest_key").is_none() {
        problems.push(format!("no backup of {sv} was uploaded"));
    }
    Ok(verdict(
        SUBVOLUME_FILTER,
        &o,
        problems,
        &format!("only {sv} was snapshotted and uploaded"),
    ))
}

fn restore_verify(s: &mut Session, sv: &str, mode: &str) -> Result<Check> {
    let target = format!("{}/{sv}-verify-{mode}", s.layout.restore_dir());
    let line = s.tool.restore(&RestoreArgs {
        verify: Some(mode.into()),
        ..super::restore::restore_args(s, sv, &target, None)
    });
    let (run, left) = super::leftovers::restore_run(
        s,
        &format!("cli-restore-verify-{mode}"),
        &line,
        &target,
        false,
    )?;
    let complete = run.field("restore_complete", "status");
    let verified = run.field("restore_verify_complete", "status");
    let evidence = json!({"target": target, "status": run.status_text(), "restore_complete": complete,
        "restore_verify_complete": verified,
        "leftovers": left.map(|c| c.evidence),
        "events": run.log.records.iter().map(|r| r.event.clone()).collect::<Vec<_>>(),
        "stderr_tail": crate::programs::tail(&run.output.stderr_text(), 8)});
    let name = format!("{RESTORE_VERIFY}[{mode}]");
    let mut c = if mode == "none" && verified.as_deref() == Some("ok") {
        Check::fail(
            RESTORE_VERIFY,
            evidence,
            "restore --verify none logged restore_verify_complete status=ok: nothing was compared",
        )
    } else if run.succeeded() && complete.as_deref() == Some("ok") {
        Check::pass(
            RESTORE_VERIFY,
            evidence,
            format!("restore --verify {mode} exited 0 with restore_complete status=ok"),
        )
    } else {
        Check::fail(
            RESTORE_VERIFY,
            evidence,
            format!(
                "restore --verify {mode} of a good backup ended with {} (restore_complete {:?})",
                run.status_text(),
                complete
            ),
        )
    };
    c.name = name;
    Ok(c)
}

/// `restore --verify full` while the tool's source snapshot of the backup
/// is renamed away: the tool cannot compare, so it must never say it did
/// (`restore_verify_complete status=ok`); exiting 0 it says `skipped`.
fn verify_without_source(s: &mut Session, sv: &str) -> Result<Check> {
    let name = format!("{RESTORE_VERIFY}[{NO_SOURCE}]");
    let Some(snapshot) = s
        .backups
        .iter()
        .rev()
        .find(|b| b.subvolume == sv)
        .map(|b| b.snapshot_path.clone())
    else {
        return Err(tool_broke(
            format!("no backup of {sv} is known to restore"),
            None,
        ));
    };
    let hidden = format!("{snapshot}.vmharness-hidden");
    let moved = rename(s, "cli-hide-source", &snapshot, &hidden)?;
    let target = format!("{}/{sv}-verify-{NO_SOURCE}", s.layout.restore_dir());
    let line = s.tool.restore(&RestoreArgs {
        verify: Some("full".into()),
        ..super::restore::restore_args(s, sv, &target, None)
    });
    let run =
        super::leftovers::restore_run(s, "cli-restore-verify-no-source", &line, &target, false);
    if moved {
        rename(s, "cli-unhide-source", &hidden, &snapshot)?;
    }
    let (run, left) = run?;
    let verified = run.field("restore_verify_complete", "status");
    let evidence = json!({"source_hidden": snapshot, "was_there": moved, "target": target,
        "status": run.status_text(), "restore_verify_complete": verified,
        "reason": run.field("restore_verify_complete", "reason"),
        "leftovers": left.map(|c| c.evidence),
        "stderr_tail": crate::programs::tail(&run.output.stderr_text(), 8)});
    let mut c = match (verified.as_deref(), run.succeeded()) {
        (Some("ok"), _) => Check::fail(
            RESTORE_VERIFY,
            evidence,
            format!("with the source snapshot {snapshot} gone, restore --verify full logged restore_verify_complete status=ok: it compared nothing"),
        ),
        (Some("skipped"), true) => Check::pass(
            RESTORE_VERIFY,
            evidence,
            "with the source snapshot gone, restore --verify full said it skipped the comparison",
        ),
        (_, true) => Check::fail(
            RESTORE_VERIFY,
            evidence,
            format!("with the source snapshot gone, restore --verify full exited 0 without restore_verify_complete status=skipped (got {verified:?})"),
        ),
        (_, false) => Check::pass(
            RESTORE_VERIFY,
            evidence,
            format!("with the source snapshot gone, restore --verify full refused ({}) and claimed no comparison", run.status_text()),
        ),
    };
    c.name = name;
    Ok(c)
}

/// Rename `from` to `to` in the guest when `from` exists; whether it did.
fn rename(s: &mut Session, label: &str, from: &str, to: &str) -> Result<bool> {
    let out = s.vm.ssh().run(
        label,
        &format!(
            "if test -e {0}; then mv {0} {1} && echo moved; fi",
            crate::ssh::shell_quote(from),
            crate::ssh::shell_quote(to)
        ),
        std::time::Duration::from_secs(60),
    )?;
    Ok(out.stdout_text().trim() == "moved")
}
