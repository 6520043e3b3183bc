//! verify: everything S3 state and the journal can show, retention in the
//! guest's snapshot directory, and the tool's state file.

use super::Scenario;
use crate::runner::session::Session;
use crate::verify::layout::Layout;
use crate::verify::objects::Expected;
use crate::verify::retention::verify_retention;
use crate::verify::schema::Schemas;
use crate::verify::state::verify_state;
use crate::verify::{names, suite};
use anyhow::{anyhow, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub struct Verify;

/// The checks this scenario makes itself, after the suite's.
const OURS: [&str; 2] = [names::RETENTION, names::STATE_COHERENT];

fn basename(p: &str) -> String {
    p.rsplit('/').next().unwrap_or(p).to_string()
}

impl Scenario for Verify {
    fn name(&self) -> &'static str {
        "verify"
    }
    fn expected_checks(&self, s: &Session) -> Vec<String> {
        // The parent-stream check exists only where there are incrementals.
        let incrementals = s.backups.iter().any(|b| b.kind == "inc");
        suite::S3_CHECKS
            .iter()
            .chain(&suite::JOURNAL_CHECKS)
            .chain(&OURS)
            .filter(|c| incrementals || **c != names::STREAM_HAS_PARENT)
            .map(|c| c.to_string())
            .collect()
    }
    fn needs(&self) -> &'static [&'static str] {
        super::NEEDS_BACKUPS
    }
    fn read_only(&self) -> bool {
        true
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let layout = Layout::from_profile(&s.profile)?;
        let schemas = Schemas::for_profile(&s.profile, &crate::paths::project_dir()?)?;
        let expected = Expected::from_profile(&s.profile);
        let subvolumes = s.profile.btrfs.subvolumes.clone();
        let (state, mut checks) =
            suite::s3_checks(&s.objects(), &layout, &schemas, &expected, &subvolumes)
                .map_err(|e| anyhow!("reading S3 for verification: {e}"))?;
        match s.profile.s3.journal_missing() {
            Some(why) => checks.extend(suite::journal_skipped(&why)),
            None => checks.extend(suite::journal_checks(
                &s.journal()?,
                &state,
                &layout,
                &s.profile.s3.sse,
            )),
        }

        // Retention and state, from the guest.
        let snaps_dir = s.layout.snapshots_dir();
        let listing =
            s.vm.ssh()
                .run(
                    "list-snapshots",
                    &format!("ls -1 {}", crate::ssh::shell_quote(&snaps_dir)),
                    Duration::from_secs(60),
                )?
                .stdout_text();
        let present: Vec<String> = listing.lines().map(str::to_string).collect();
        let created: Vec<String> = s
            .snapshots
            .values()
            .flatten()
            .map(|p| basename(p))
            .collect();
        let state_path = s.profile.tool.state_path.clone();
        let state_out = s.vm.ssh().exec(&crate::ssh::Exec {
            command: &format!("cat {}", crate::ssh::shell_quote(&state_path)),
            label: "read-state",
            timeout: Duration::from_secs(60),
            echo: false,
        })?;
        let state_text = state_out.success().then(|| state_out.stdout_text());
        let next_parent: BTreeMap<String, String> = state_text
            .as_deref()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .and_then(|v| v.get("subvolumes").cloned())
            .and_then(|v| v.as_object().cloned())
            .map(|m| {
                m.into_iter()
                    .filter_map(|(k, v)| Some((k, basename(v.get("last_snapshot")?.as_str()?))))
                    .collect()
            })
            .unwrap_or_default();
        checks.push(verify_retention(
            &present,
            &created,
            s.profile.backup.retain,
            &next_parent,
        ));
        let snapshot_set: BTreeSet<String> = present.iter().cloned().collect();
        let object_set: BTreeSet<String> = state.objects.keys().cloned().collect();
        checks.push(verify_state(
            state_text.as_deref(),
            &snapshot_set,
            &object_set,
        ));
        for c in checks {
            s.record(c);
        }
        Ok(())
    }
}
