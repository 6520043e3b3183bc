//! full and incremental: one backup per subvolume, and the kind it produced.

use super::{for_subvolume, per_subvolume, Scenario};
use crate::runner::session::Session;
use crate::verify::layout::Layout;
use crate::verify::logs::{backup_events, verify_log_events};
use crate::verify::manifest::Documents;
use crate::verify::source::S3State;
use crate::verify::{names, suite, Check};
use anyhow::Result;
use serde_json::json;

pub const BACKUP_EXIT: &str = "verify.backup.exit";

pub struct Backup {
    pub name: &'static str,
    /// `full` or `inc`: what the tool's `snapshot_created` must say.
    pub kind: &'static str,
}

impl Scenario for Backup {
    fn name(&self) -> &'static str {
        self.name
    }
    fn expected_checks(&self, s: &Session) -> Vec<String> {
        per_subvolume(
            s,
            &[BACKUP_EXIT, names::INCREMENTAL_KIND, names::LOG_EVENTS],
        )
    }
    fn needs(&self) -> &'static [&'static str] {
        if self.kind == "full" {
            &["setup", "seed"]
        } else {
            &["setup", "full"]
        }
    }
    fn produces(&self) -> bool {
        true
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let layout = Layout::from_profile(&s.profile)?;
        let mut produced = Vec::new();
        for sv in s.profile.btrfs.subvolumes.clone() {
            let previous = s
                .backups
                .iter()
                .rev()
                .find(|b| b.subvolume == sv)
                .map(|b| b.manifest_key.clone());
            let line = s.tool.backup_now(&sv);
            let run = s.run_tool(&format!("{}-{sv}", self.name), &line)?;
            let evidence = json!({"command": "backup", "status": run.status_text(), "stderr_tail": crate::programs::tail(&run.output.stderr_text(), 15)});
            s.record(for_subvolume(
                if run.succeeded() {
                    Check::pass(BACKUP_EXIT, evidence, "the backup exited 0")
                } else {
                    Check::fail(
                        BACKUP_EXIT,
                        evidence,
                        format!("the backup failed ({})", run.status_text()),
                    )
                },
                &sv,
            ));
            s.record(for_subvolume(
                verify_log_events(&run.log, &backup_events()),
                &sv,
            ));
            let fact = s.note_backup(self.name, &sv, &run)?;
            produced.push((sv, fact, previous));
        }
        let state = S3State::collect(&s.objects(), &layout)
            .map_err(|e| anyhow::anyhow!("reading S3 after the backups: {e}"))?;
        let docs = Documents::from_state(&state, &layout);
        let want = if self.kind == "full" {
            s.profile.layout.full_kind.clone()
        } else {
            s.profile.layout.incremental_kind.clone()
        };
        for (sv, fact, previous) in produced {
            let c = match &fact {
                None => Check::fail(
                    names::INCREMENTAL_KIND,
                    json!({"expected": want}),
                    "no backup was produced (no snapshot_created/backup_uploaded events)",
                ),
                Some(f) if f.kind != self.kind => Check::fail(
                    names::INCREMENTAL_KIND,
                    json!({"expected": self.kind, "snapshot_created.kind": f.kind, "manifest_key": f.manifest_key}),
                    format!(
                        "the tool made a {} snapshot, expected {}",
                        f.kind, self.kind
                    ),
                ),
                Some(f) => {
                    let c = suite::verify_kind_produced(&layout, &state, &f.manifest_key, &want);
                    parent_is_previous(
                        c,
                        &docs,
                        &f.manifest_key,
                        previous.as_deref(),
                        self.kind == "inc",
                    )
                }
            };
            s.record(for_subvolume(c, &sv));
        }
        Ok(())
    }
}

/// An incremental's parent must be the subvolume's previous backup.
fn parent_is_previous(
    c: Check,
    docs: &Documents,
    key: &str,
    previous: Option<&str>,
    incremental: bool,
) -> Check {
    if !incremental || c.verdict != crate::verify::Verdict::Pass {
        return c;
    }
    let parent = docs
        .manifests
        .get(key)
        .and_then(|m| m.as_ref().ok())
        .and_then(|m| m.parent_manifest.clone());
    if parent.as_deref() == previous {
        c
    } else {
        Check::fail(
            names::INCREMENTAL_KIND,
            json!({"manifest_key": key, "parent_manifest": parent, "previous_backup": previous}),
            "the incremental's parent is not the subvolume's previous backup",
        )
    }
}
