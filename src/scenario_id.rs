//! Which scenarios exist: their names, their groups and their order, in one
//! enum every layer reads (the profile's validator, a group's expansion,
//! the matrix's order). The runner makes each one from its id with an
//! exhaustive `match`, so a scenario added here and not implemented there
//! does not compile.

use strum::{EnumIter, IntoEnumIterator, IntoStaticStr};

/// One implemented scenario. The order is the registry's: the plan's own
/// scenarios, then the faults group in the order the group runs them
/// (cheap first, the VM-level faults last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum ScenarioId {
    Setup,
    Seed,
    Mutate,
    Full,
    Incremental,
    Interrupt,
    Large,
    Spool,
    LockContention,
    CliFlags,
    Restore,
    ArchiveRestore,
    InstantRestore,
    Verify,
    Cleanup,
    Ordering,
    NoCredentials,
    RapidRuns,
    MissingParent,
    Corruption,
    S3Errors,
    NetworkCut,
    PowerLoss,
}

/// The group of the fault scenarios, a name of its own in a run list
/// (`vmharness run faults`).
pub const FAULTS_GROUP: &str = "faults";

impl ScenarioId {
    /// Its name in a run list.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The group it belongs to, if any.
    pub fn group(self) -> Option<&'static str> {
        use ScenarioId::*;
        match self {
            Ordering | NoCredentials | RapidRuns | MissingParent | Corruption | S3Errors
            | NetworkCut | PowerLoss => Some(FAULTS_GROUP),
            _ => None,
        }
    }

    /// The scenario called `name` (a whole name: no variants).
    pub fn from_name(name: &str) -> Option<ScenarioId> {
        ScenarioId::iter().find(|id| id.name() == name)
    }

    /// Every scenario, in the registry's order.
    pub fn all() -> impl Iterator<Item = ScenarioId> {
        ScenarioId::iter()
    }
}

/// The scenarios of `group`, in the group's order.
pub fn group_members(group: &str) -> impl Iterator<Item = ScenarioId> + '_ {
    ScenarioId::all().filter(move |id| id.group() == Some(group))
}

/// The groups a run list may name.
pub const GROUPS: &[&str] = &[FAULTS_GROUP];

/// Every name a run list may hold: each scenario's, then each group's.
pub fn known_names() -> impl Iterator<Item = &'static str> {
    ScenarioId::all()
        .map(ScenarioId::name)
        .chain(GROUPS.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_are_kebab_case_unique_and_found_again() {
        let names: BTreeSet<&str> = known_names().collect();
        assert_eq!(names.len(), known_names().count(), "a name twice");
        for id in ScenarioId::all() {
            assert_eq!(ScenarioId::from_name(id.name()), Some(id));
        }
        assert_eq!(ScenarioId::LockContention.name(), "lock-contention");
        assert_eq!(ScenarioId::S3Errors.name(), "s3-errors");
        assert_eq!(ScenarioId::from_name("faults"), None);
    }

    #[test]
    fn every_group_has_members_and_runs_them_cheap_first() {
        for g in GROUPS {
            assert!(group_members(g).next().is_some(), "{g} is empty");
        }
        let faults: Vec<&str> = group_members(FAULTS_GROUP).map(ScenarioId::name).collect();
        assert_eq!(faults.first(), Some(&"ordering"));
        assert_eq!(faults.last(), Some(&"power-loss"));
        assert_eq!(faults.len(), 8);
    }
}
