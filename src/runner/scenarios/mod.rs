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
mod lock;
mod restore;
mod spool;
mod verify;

use super::session::Session;
use crate::verify::Check;
use anyhow::Result;

/// One step of a run: a name, the checks it promises, and what it does.
pub trait Scenario {
    fn name(&self) -> &'static str;
    /// The checks this scenario always reports (a run with fewer is a
    /// harness error on the embedded backend).
    fn expected_checks(&self, s: &Session) -> Vec<String>;
    /// Err: the harness could not carry it out (exit 2), not a tool failure.
    fn run(&self, s: &mut Session) -> Result<Vec<Check>>;
    /// What it needs that only the embedded endpoint has (faults, the
    /// journal, the archive simulation); None: it runs on any backend.
    fn needs_embedded(&self) -> Option<&'static str> {
        None
    }
}

/// The scenario called `name`, if it is implemented.
pub fn find(name: &str) -> Option<Box<dyn Scenario>> {
    Some(match name {
        "setup" => Box::new(fixture::Setup),
        "seed" => Box::new(fixture::Seed),
        "mutate" => Box::new(fixture::Mutate),
        "full" => Box::new(backup::Backup {
            name: "full",
            kind: "full",
        }),
        "incremental" => Box::new(backup::Backup {
            name: "incremental",
            kind: "inc",
        }),
        "interrupt" => Box::new(interrupt::Interrupt),
        "large" => Box::new(large::Large),
        "spool" => Box::new(spool::Spool),
        "lock-contention" => Box::new(lock::LockContention),
        "cli-flags" => Box::new(cli_flags::CliFlags),
        "restore" => Box::new(restore::Restore),
        "archive-restore" => Box::new(archive::ArchiveRestore),
        "verify" => Box::new(verify::Verify),
        "cleanup" => Box::new(cleanup::Cleanup),
        other => return faults::find(other),
    })
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
