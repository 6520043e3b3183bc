//! full and incremental: one backup per subvolume, the kind it produced,
//! and that it was published (the subvolume's pointer names it).

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
            &[
                BACKUP_EXIT,
                names::INCREMENTAL_KIND,
                names::POINTER,
                names::LOG_EVENTS,
            ],
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
            let published = run
                .log
                .events("backup_uploaded")
                .find(|r| r.get("subvolume") == Some(sv.as_str()))
                .and_then(|r| r.get("manifest_key"))
                .map(str::to_string);
            produced.push((sv, fact, previous, run.succeeded(), published));
        }
        let state = S3State::collect(&s.objects(), &layout)
            .map_err(|e| anyhow::anyhow!("reading S3 after the backups: {e}"))?;
        let docs = Documents::from_state(&state, &layout);
        let want = if self.kind == "full" {
            s.profile.layout.full_kind.clone()
        } else {
            s.profile.layout.incremental_kind.clone()
        };
        for (sv, fact, previous, succeeded, published) in produced {
            s.record(for_subvolume(
                pointer_names_published(
                    succeeded,
                    published.as_deref(),
                    &sv,
                    &docs,
                    &state,
                    &layout,
                ),
                &sv,
            ));
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

/// `verify.pointer.target` right after a backup: one that exited 0 has
/// published, so the subvolume's pointer names the manifest it reported
/// (`backup_uploaded`), and every chunk of it is stored. A backup that
/// failed, or reported no manifest, leaves nothing to judge here (its exit
/// or kind check fails).
fn pointer_names_published(
    succeeded: bool,
    published: Option<&str>,
    sv: &str,
    docs: &Documents,
    state: &S3State,
    layout: &Layout,
) -> Check {
    if !succeeded {
        return Check::blocked(names::POINTER, BACKUP_EXIT, "the backup failed");
    }
    let Some(key) = published else {
        return Check::blocked(
            names::POINTER,
            names::INCREMENTAL_KIND,
            "no backup_uploaded event of this subvolume names a manifest",
        );
    };
    let pointer = super::guest::pointer_of(docs, layout, sv);
    let mut evidence = json!({"manifest_key": key, "pointer_names": pointer});
    if pointer.as_deref() != Some(key) {
        return Check::fail(
            names::POINTER,
            evidence,
            format!(
                "the backup exited 0 but current.json of {sv} names {}, not the manifest it published ({key})",
                pointer.as_deref().unwrap_or("nothing (no readable pointer)")
            ),
        );
    }
    let manifest = match docs.manifests.get(key) {
        Some(Ok(m)) => m,
        Some(Err(e)) => {
            return Check::fail(
                names::POINTER,
                evidence,
                format!("current.json names {key}, which is unreadable: {e}"),
            )
        }
        None => {
            return Check::fail(
                names::POINTER,
                evidence,
                format!("current.json names {key}, which is not stored"),
            )
        }
    };
    let missing = super::guest::missing_chunks(manifest, state);
    evidence["chunks"] = json!(manifest.chunks.len());
    evidence["missing_or_wrong_size"] = json!(missing);
    if missing.is_empty() {
        Check::pass(
            names::POINTER,
            evidence,
            "current.json names the manifest the backup published, every chunk stored",
        )
    } else {
        Check::fail(
            names::POINTER,
            evidence,
            format!(
                "current.json names {key}, but {} of its {} chunk(s) are missing or the wrong size",
                missing.len(),
                manifest.chunks.len()
            ),
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testdata::{fixture, put_json, FULL_TS};
    use crate::verify::Verdict;

    fn judge(f: &crate::verify::testdata::Fixture, ok: bool, published: Option<&str>) -> Check {
        let state = f.state();
        let docs = Documents::from_state(&state, &f.layout);
        pointer_names_published(ok, published, "data", &docs, &state, &f.layout)
    }

    #[test]
    fn the_pointer_must_name_what_the_backup_published() {
        let mut f = fixture();
        let inc = f.inc.clone();
        assert_eq!(judge(&f, true, Some(&inc)).verdict, Verdict::Pass);
        // A publish the endpoint refused (412) and the tool ignored: the
        // pointer still names the full.
        let (p, full) = (f.pointer.clone(), f.full.clone());
        put_json(
            &mut f.store,
            &p,
            &json!({"manifest_key": full, "kind": "full", "created_at": FULL_TS}),
        );
        let c = judge(&f, true, Some(&inc));
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(
            c.diagnosis.contains("not the manifest it published"),
            "{c:?}"
        );
        assert_eq!(c.evidence["pointer_names"], json!(full));
        // No pointer at all.
        f.store.objects.remove(&p);
        assert_eq!(judge(&f, true, Some(&inc)).verdict, Verdict::Fail);
    }

    #[test]
    fn a_named_manifest_with_a_missing_chunk_fails() {
        let mut f = fixture();
        let inc = f.inc.clone();
        let chunk = f.manifest(&inc)["chunks"][1]["key"]
            .as_str()
            .unwrap()
            .to_string();
        f.store.objects.remove(&chunk);
        let c = judge(&f, true, Some(&inc));
        assert_eq!(c.verdict, Verdict::Fail);
        assert_eq!(c.evidence["missing_or_wrong_size"], json!([chunk]));
    }

    #[test]
    fn a_failed_or_silent_backup_is_judged_elsewhere() {
        let f = fixture();
        let inc = f.inc.clone();
        let c = judge(&f, false, Some(&inc));
        assert!(c.is_blocked_skip());
        assert_eq!(c.blocked_by.as_deref(), Some(BACKUP_EXIT));
        let c = judge(&f, true, None);
        assert_eq!(c.blocked_by.as_deref(), Some(names::INCREMENTAL_KIND));
    }
}
