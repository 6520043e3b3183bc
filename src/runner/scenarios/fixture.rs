//! setup, seed, mutate: the fixture filesystem and its content.

use super::{for_subvolume, per_subvolume, Scenario};
use crate::runner::session::Session;
use crate::verify::Check;
use anyhow::Result;
use serde_json::json;
use std::path::Path;

pub const FIXTURE_READY: &str = "fixture.ready";
pub const ITEMS_CREATED: &str = "fixture.items_created";

pub struct Setup;

impl Scenario for Setup {
    fn name(&self) -> &'static str {
        "setup"
    }
    fn expected_checks(&self, _s: &Session) -> Vec<String> {
        vec![FIXTURE_READY.into()]
    }
    fn needs(&self) -> &'static [&'static str] {
        &[]
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let t = std::time::Instant::now();
        // A run that seeds next starts from the stored seeded fixture, if any.
        s.seeded_from = None;
        let stored = if s.planned.iter().any(|n| n == "seed") {
            super::seeded::find(s)
        } else {
            None
        };
        let layout = match &stored {
            Some(tpl) => {
                crate::fixture::prepare_from_template(&mut s.vm, &s.plan, &s.profile, tpl)?
            }
            None => crate::fixture::prepare(&mut s.vm, &s.plan, &s.profile)?,
        };
        s.seeded_from = stored;
        s.work.fixture += t.elapsed().as_secs_f64();
        let rendered = crate::toolconfig::render(&s.profile, &s.profile_path.to_string_lossy())?;
        std::fs::write(s.run_dir.join("tool-config.toml"), &rendered)?;
        let runs: Vec<_> = s
            .run_dir
            .parent()
            .map(Path::to_path_buf)
            .into_iter()
            .collect();
        crate::tool::install(
            s.vm.ssh(),
            &s.profile,
            &crate::paths::project_dir()?,
            &rendered,
            &runs,
        )?;
        s.layout = layout;
        let mut evidence = json!({"device": s.layout.device, "mount": s.layout.mount, "subvolumes": s.layout.subvolumes});
        let diagnosis = match &s.seeded_from {
            Some(tpl) => {
                evidence["template"] = json!(tpl.dir);
                "Btrfs fixture attached as a copy of the stored seeded fixture, tool installed"
            }
            None => "Btrfs fixture made, subvolumes created, tool installed",
        };
        s.record(Check::pass(FIXTURE_READY, evidence, diagnosis));
        Ok(())
    }
}

/// Refused items mean the fixture lacks cases: a warning with the list.
fn items_check(sv: &str, summary: &crate::fixture::StepSummary) -> Check {
    let evidence = json!({
        "entries": summary.entries,
        "file_bytes": summary.file_bytes,
        "seconds": summary.seconds,
        "problems": summary.problems.iter().map(|p| json!({"item": p.name, "status": p.status, "detail": p.detail})).collect::<Vec<_>>(),
    });
    let c = if summary.problems.is_empty() {
        Check::pass(
            ITEMS_CREATED,
            evidence,
            format!("{} entries created and checked", summary.entries),
        )
    } else {
        Check::new(
            ITEMS_CREATED,
            crate::verify::Verdict::Warn,
            evidence,
            format!(
                "{} fixture item(s) refused or failed their check",
                summary.problems.len()
            ),
        )
    };
    for_subvolume(c, sv)
}

pub struct Seed;

impl Scenario for Seed {
    fn name(&self) -> &'static str {
        "seed"
    }
    fn expected_checks(&self, s: &Session) -> Vec<String> {
        per_subvolume(s, &[ITEMS_CREATED])
    }
    fn produces(&self) -> bool {
        true
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        if let Some(tpl) = s.seeded_from.clone() {
            // Seeded when the template was stored: what it reported then.
            for (sv, summary) in &tpl.meta.steps {
                let mut c = items_check(sv, summary);
                c.diagnosis = format!("{} (seeded in {})", c.diagnosis, tpl.dir.display());
                s.record(c);
            }
            return Ok(());
        }
        let knobs = crate::fixture::Knobs::from_profile(&s.profile.fixture);
        let mut steps = Vec::new();
        for (i, sv) in s.profile.btrfs.subvolumes.clone().iter().enumerate() {
            let root = s.layout.subvolume(sv);
            let seed = s.profile.fixture.seed + i as u64;
            let timeout = s.timeout();
            let step = crate::fixture::seed(s.vm.ssh(), &root, seed, &knobs, timeout)?;
            s.work.fixture += step.wall.as_secs_f64();
            s.record(items_check(sv, &step.summary));
            steps.push((sv.clone(), step.summary));
        }
        super::seeded::store(s, steps);
        Ok(())
    }
}

pub struct Mutate;

impl Scenario for Mutate {
    fn name(&self) -> &'static str {
        "mutate"
    }
    fn expected_checks(&self, s: &Session) -> Vec<String> {
        per_subvolume(s, &[ITEMS_CREATED])
    }
    fn needs(&self) -> &'static [&'static str] {
        &["setup", "seed"]
    }
    fn produces(&self) -> bool {
        true
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        for (i, sv) in s.profile.btrfs.subvolumes.clone().iter().enumerate() {
            let root = s.layout.subvolume(sv);
            let seed = s.profile.fixture.seed + i as u64;
            let timeout = s.timeout();
            let knobs = crate::fixture::Knobs::from_profile(&s.profile.fixture);
            let step = crate::fixture::mutate(s.vm.ssh(), &root, 1, seed, &knobs, "all", timeout)?;
            s.work.fixture += step.wall.as_secs_f64();
            s.record(items_check(sv, &step.summary));
        }
        Ok(())
    }
}
