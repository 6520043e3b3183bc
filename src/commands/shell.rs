//! `vmharness ssh RUN [-- COMMAND]` and `vmharness shell`: a person's
//! terminal in a guest, through the host's ssh.

use crate::cli::BootArgs;
use crate::exit::Outcome;
use crate::runner::{keep, scenarios, shell_env, Session};
use crate::ssh::openssh;
use crate::vm::{files, VmState};
use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::os::unix::process::CommandExt;

/// `vmharness ssh`: replace this process with ssh to the run's VM.
pub fn ssh(run: Option<&str>, command: &[String]) -> Result<Outcome> {
    let run_dir = super::vm::find_run(run)?;
    let state = VmState::read(&run_dir)?;
    if !files::pid_alive(state.owner_pid as i32) {
        bail!(
            "the VM of run {} is not running (its owner, pid {}, is gone); see `vmharness vm list`",
            state.run_id,
            state.owner_pid
        );
    }
    let exe = crate::programs::require(crate::programs::OPENSSH)?;
    let target = state.target()?;
    let known_hosts = openssh::write_known_hosts(&run_dir, &target)?;
    let args = openssh::argv(&target, &known_hosts, command, false);
    let err = std::process::Command::new(&exe).args(&args).exec();
    Err(err).with_context(|| format!("running {}", exe.display()))
}

/// `vmharness shell`: boot, `setup`, a login shell, teardown.
pub fn shell(boot: &BootArgs) -> Result<Outcome> {
    let forced = std::env::var_os(keep::FORCE_ENV).is_some_and(|v| v == "1");
    if !std::io::stdin().is_terminal() && !forced {
        bail!(
            "vmharness shell opens an interactive shell, and stdin is not a terminal; \
             from a script use `vmharness vm up`, `vmharness vm ssh -- COMMAND` and `vmharness vm down`"
        );
    }
    let exe = crate::programs::require(crate::programs::OPENSSH)?;
    let (profile, opts) = super::run::one_profile(boot, &crate::cli::DebugArgs::default())?;
    let mut s = Session::open(&profile, &opts)?;
    // Every error after the boot still reaches the teardown below.
    let status = prepare(&mut s).and_then(|()| {
        let target = s.vm.state().target()?;
        let known_hosts = openssh::write_known_hosts(&s.run_dir, &target)?;
        let args = openssh::argv(&target, &known_hosts, &[], true);
        std::process::Command::new(&exe)
            .args(&args)
            .status()
            .with_context(|| format!("running {}", exe.display()))
    });
    let run_id = s.run_id.clone();
    let finished = s.finish();
    let status = status?;
    finished.context("stopping the VM")?;
    eprintln!("[shell] run {run_id}: the VM is stopped");
    Ok(Outcome::Code(
        status.code().unwrap_or(Outcome::HarnessFailed.code()),
    ))
}

/// The `setup` scenario, the tool's environment for login shells, and
/// `vm.json` (so `vmharness ssh RUN` reaches it from another terminal too).
fn prepare(s: &mut Session) -> Result<()> {
    let setup = scenarios::find("setup").context("the setup scenario is missing")?;
    s.begin_scenario("setup");
    setup.run(s).context("the setup scenario")?;
    for c in s
        .checks
        .iter()
        .filter(|c| c.verdict != crate::verify::Verdict::Pass)
    {
        eprintln!("[shell] {}: {:?}: {}", c.name, c.verdict, c.diagnosis);
    }
    shell_env::install(s)?;
    s.vm.state().write(&s.run_dir)?;
    eprintln!(
        "[shell] run {}: the VM is torn down when this shell exits",
        s.run_id
    );
    Ok(())
}
