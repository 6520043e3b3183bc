//! The scenarios of a run, one module per group, found by name.

mod archive;
mod backup;
mod cleanup;
mod cli_flags;
pub mod faults;
mod fixture;
mod guest;
mod hold;
mod interrupt;
mod large;
pub(crate) mod leftovers;
mod lock;
mod restore;
mod seeded;
mod spool;
mod verify;

use super::session::Session;
use crate::scenario_id::ScenarioId;
use crate::verify::Check;
use anyhow::Result;

/// The scenarios that build on a backup of every subvolume.
pub(crate) const NEEDS_BACKUPS: &[&str] = &["setup", "full"];

/// One step of a run: a name, the checks it promises, and what it does.
pub trait Scenario {
    fn name(&self) -> &'static str;
    /// The checks this scenario always reports (a run with fewer is a
    /// harness error on the embedded backend).
    fn expected_checks(&self, s: &Session) -> Vec<String>;
    /// Carry it out, recording each check with `s.record` as soon as it is
    /// decided (a scenario that breaks later keeps them). Err: it could not
    /// be carried out to its end: a [`super::blame::ToolBroke`] when the
    /// tool under test made it impossible (a FAIL of its precondition,
    /// exit 1), anything else the harness's (exit 2).
    fn run(&self, s: &mut Session) -> Result<()>;
    /// What it needs that only the embedded endpoint has (faults, the
    /// journal, the archive simulation); None: it runs on any backend.
    fn needs_embedded(&self) -> Option<&'static str> {
        None
    }
    /// The scenarios whose success it builds on, when they are in the same
    /// run: if one of them failed, this one is not judged (its checks are
    /// skips the tool caused).
    fn needs(&self) -> &'static [&'static str] {
        &["setup"]
    }
    /// What it leaves is judged by later scenarios (the backups `verify`
    /// checks): a failed check keeps its state instead of rolling it back.
    fn produces(&self) -> bool {
        false
    }
    /// It changes nothing later scenarios build on: no checkpoint after it,
    /// no rollback.
    fn read_only(&self) -> bool {
        false
    }
    /// The variants it has (each an independent part with its own checks,
    /// named `check[variant]`), which `name[variant,...]` may pick.
    fn variants(&self) -> &'static [&'static str] {
        &[]
    }
}

/// `name[a,b]` → (`name`, [`a`, `b`]); None without brackets.
pub fn split_variants(name: &str) -> Option<(&str, Vec<&str>)> {
    let (base, rest) = name.split_once('[')?;
    let list = rest.strip_suffix(']')?;
    Some((base, list.split(',').map(str::trim).collect()))
}

/// Why `name` (`scenario[variant,...]`) names no scenario of this build,
/// when its scenario exists but a variant does not.
pub fn unknown_variant(name: &str) -> Option<String> {
    let (base, picked) = split_variants(name)?;
    let sc = find(base)?;
    let known = sc.variants();
    let bad: Vec<&str> = picked.into_iter().filter(|v| !known.contains(v)).collect();
    (!bad.is_empty()).then(|| {
        format!(
            "{base} has no variant {} (its variants: {})",
            bad.join(", "),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )
    })
}

/// A scenario that runs only the picked ones of its variants: the others
/// are not run and their checks are not expected.
struct Picked {
    inner: Box<dyn Scenario>,
    variants: Vec<String>,
}

impl Scenario for Picked {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn expected_checks(&self, s: &Session) -> Vec<String> {
        let known = self.inner.variants();
        self.inner
            .expected_checks(s)
            .into_iter()
            .filter(|c| match c.split_once('[') {
                Some((_, v)) => {
                    let v = v.trim_end_matches(']');
                    !known.contains(&v) || self.variants.iter().any(|p| p == v)
                }
                None => true,
            })
            .collect()
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        s.only_variants = Some(self.variants.clone());
        let done = self.inner.run(s);
        s.only_variants = None;
        done
    }
    fn needs_embedded(&self) -> Option<&'static str> {
        self.inner.needs_embedded()
    }
    fn needs(&self) -> &'static [&'static str] {
        self.inner.needs()
    }
    fn produces(&self) -> bool {
        self.inner.produces()
    }
    fn read_only(&self) -> bool {
        self.inner.read_only()
    }
    fn variants(&self) -> &'static [&'static str] {
        self.inner.variants()
    }
}

/// The scenario called `name` (`scenario` or `scenario[variant,...]`), if
/// it is implemented (with those variants).
pub fn find(name: &str) -> Option<Box<dyn Scenario>> {
    let Some((base, picked)) = split_variants(name) else {
        return find_whole(name);
    };
    let inner = find_whole(base)?;
    if picked.is_empty() || !picked.iter().all(|v| inner.variants().contains(v)) {
        return None;
    }
    Some(Box::new(Picked {
        inner,
        variants: picked.into_iter().map(str::to_string).collect(),
    }))
}

/// The scenario `id` names: the one place each is made (a new
/// [`ScenarioId`] without a scenario here does not compile).
pub fn make(id: ScenarioId) -> Box<dyn Scenario> {
    use ScenarioId as S;
    match id {
        S::Setup => Box::new(fixture::Setup),
        S::Seed => Box::new(fixture::Seed),
        S::Mutate => Box::new(fixture::Mutate),
        S::Full => Box::new(backup::Backup {
            name: "full",
            kind: "full",
        }),
        S::Incremental => Box::new(backup::Backup {
            name: "incremental",
            kind: "inc",
        }),
        S::Interrupt => Box::new(interrupt::Interrupt),
        S::Large => Box::new(large::Large),
        S::Spool => Box::new(spool::Spool),
        S::LockContention => Box::new(lock::LockContention),
        S::CliFlags => Box::new(cli_flags::CliFlags),
        S::Restore => Box::new(restore::Restore),
        S::ArchiveRestore => Box::new(archive::ArchiveRestore { instant: false }),
        S::InstantRestore => Box::new(archive::ArchiveRestore { instant: true }),
        S::Verify => Box::new(verify::Verify),
        S::Cleanup => Box::new(cleanup::Cleanup),
        S::Ordering => Box::new(faults::ordering::Ordering),
        S::NoCredentials => Box::new(faults::no_credentials::NoCredentials),
        S::RapidRuns => Box::new(faults::rapid_runs::RapidRuns),
        S::MissingParent => Box::new(faults::missing_parent::MissingParent),
        S::Corruption => Box::new(faults::corruption::Corruption),
        S::S3Errors => Box::new(faults::s3_errors::S3Errors),
        S::NetworkCut => Box::new(faults::network_cut::NetworkCut),
        S::PowerLoss => Box::new(faults::power_loss::PowerLoss),
    }
}

fn find_whole(name: &str) -> Option<Box<dyn Scenario>> {
    ScenarioId::from_name(name).map(make)
}

/// After a variant of a scenario: when the tool made it impossible
/// (`done` is a [`super::blame::ToolBroke`]), the first of its `expected`
/// checks not decided yet fails with the tool's error and the rest are
/// skips the tool caused, and the scenario goes on with its next variant;
/// a harness error stops the scenario.
pub(crate) fn settle_variant(s: &mut Session, expected: &[String], done: Result<()>) -> Result<()> {
    use super::blame::{classify, Blame};
    let Err(e) = done else { return Ok(()) };
    let Blame::Tool(t) = classify(&e) else {
        return Err(e);
    };
    let evidence = t.evidence.clone();
    let message = format!("{e:#}");
    let undecided: Vec<&String> = expected
        .iter()
        .filter(|c| !s.checks.iter().any(|d| &d.name == *c))
        .collect();
    if let Some((first, rest)) = undecided.split_first() {
        s.record(Check::fail(first, evidence, message.clone()));
        for c in rest {
            s.record(Check::blocked(c, first, message.clone()));
        }
    }
    Ok(())
}

/// Record the one check of a variant as `name`: what it decided, or (see
/// [`settle_variant`]) a FAIL with the tool's error when the tool made it
/// impossible; the recorded check is returned.
pub(crate) fn record_variant(s: &mut Session, name: &str, decided: Result<Check>) -> Result<Check> {
    let done = decided.map(|mut c| {
        c.name = name.to_string();
        s.record(c);
    });
    settle_variant(s, &[name.to_string()], done)?;
    s.checks
        .last()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("{name} was not recorded"))
}

/// `name` with `.subvolume` appended: one check per subvolume.
pub(crate) fn per_subvolume(s: &Session, names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for sv in &s.profile.btrfs.subvolumes {
        for n in names {
            out.push(format!("{n}[{sv}]"));
        }
    }
    out
}

/// A check renamed for one subvolume (`name[subvolume]`).
pub(crate) fn for_subvolume(mut c: Check, sv: &str) -> Check {
    c.name = format!("{}[{sv}]", c.name);
    c
}

/// The profile's first subvolume (the one single-subvolume scenarios use).
pub(crate) fn first_subvolume(s: &Session) -> Result<String> {
    use anyhow::Context;
    s.profile
        .btrfs
        .subvolumes
        .first()
        .cloned()
        .context("the profile names no subvolume")
}

#[cfg(test)]
mod registry_tests {
    use super::*;

    /// Each id makes the scenario of its name, and `find` reaches it.
    #[test]
    fn each_id_makes_its_scenario() {
        for id in ScenarioId::all() {
            assert_eq!(make(id).name(), id.name(), "{id:?} makes another scenario");
            assert!(find(id.name()).is_some(), "{id:?} cannot be found");
        }
    }
}
