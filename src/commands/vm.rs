//! `vmharness vm up|ssh|down|list` and the supervisor that owns a VM.

use crate::cli::{BootArgs, VmCommand};
use crate::exit::Outcome;
use crate::plan::{self, BootPlan};
use crate::ssh::{Exec, Ssh};
use crate::vm::{files, supervisor, Vm, VmState};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The plan `vm up` made, for its supervisor.
const PLAN_FILE: &str = "plan.json";
const SUPERVISOR_LOG: &str = "supervisor.log";

pub fn run(cmd: VmCommand) -> Result<Outcome> {
    match cmd {
        VmCommand::Up(args) => up(&args),
        VmCommand::Ssh {
            run,
            timeout,
            command,
        } => ssh(run.as_deref(), timeout, &command),
        VmCommand::Down { run } => down(run.as_deref()),
        VmCommand::List => list(),
    }
}

fn up(args: &BootArgs) -> Result<Outcome> {
    crate::signals::install();
    let overrides = args.overrides()?;
    let profile_path = crate::profile::path_or_default(overrides.profile.as_deref())?;
    let profile = crate::profile::load(&profile_path)?;
    // Build the image here, with progress on this terminal, before the supervisor starts.
    let image = crate::image::ensure(&profile.vm.image)?;
    let run_id = files::new_run_id();
    let run_dir = crate::workspace::runs_dir_for(&profile_path)?.join(&run_id);
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let run_dir = run_dir.canonicalize()?;
    // The plan is made once, here; the supervisor boots what it says.
    let plan = plan::plan_boot(&profile, &image, &overrides, &run_dir, &run_id, Vec::new())?;
    std::fs::write(run_dir.join(PLAN_FILE), serde_json::to_vec_pretty(&plan)?)
        .with_context(|| format!("writing {}", run_dir.join(PLAN_FILE).display()))?;
    let log = std::fs::File::create(run_dir.join(SUPERVISOR_LOG))?;
    let exe = std::env::current_exe().context("finding the vmharness executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("__supervise")
        .arg("--run-dir")
        .arg(&run_dir)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own session: the supervisor outlives this command and the terminal's Ctrl-C.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("starting the VM supervisor")?;
    eprintln!(
        "[vm] run {run_id}: booting (supervisor pid {}, log {})",
        child.id(),
        run_dir.join(SUPERVISOR_LOG).display()
    );
    let started = Instant::now();
    let mut shown = 0;
    loop {
        shown = echo_new_lines(&run_dir.join(SUPERVISOR_LOG), shown);
        if let Ok(state) = VmState::read(&run_dir) {
            println!(
                "VM ready in {:.1}s ({}); run: {run_id}\n  vmharness vm ssh --run {run_id} -- uname -r\n  vmharness vm down --run {run_id}",
                started.elapsed().as_secs_f64(),
                state.accel
            );
            return Ok(Outcome::Passed);
        }
        if let Ok(Some(status)) = child.try_wait() {
            echo_new_lines(&run_dir.join(SUPERVISOR_LOG), shown);
            bail!(
                "the VM supervisor exited ({status}) before the VM was ready; see {}",
                run_dir.join(SUPERVISOR_LOG).display()
            );
        }
        if crate::signals::interrupted() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = child.wait();
            bail!("interrupted while booting; the VM was stopped");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Print lines of a log written by another process that were not shown yet.
fn echo_new_lines(path: &Path, shown: usize) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    for l in lines.iter().skip(shown) {
        eprintln!("{l}");
    }
    lines.len().max(shown)
}

/// The supervisor: boots the VM, serves `down` on the control socket, and
/// takes QEMU with it however it ends.
pub fn supervise(run_dir: &Path) -> Result<Outcome> {
    crate::signals::install();
    let request = run_dir.join(PLAN_FILE);
    let plan: BootPlan = serde_json::from_slice(
        &std::fs::read(&request).with_context(|| format!("reading {}", request.display()))?,
    )
    .with_context(|| format!("reading the VM's plan from {}", request.display()))?;
    eprintln!("[vm] accelerator: {}", plan.accel_reason);
    eprintln!(
        "[vm] image {} kernel {}",
        plan.image_name, plan.kernel_release
    );
    let mut vm = Vm::boot(plan.vm.clone())?;
    eprintln!(
        "[vm] SSH ready after {:.1}s",
        vm.state().timeline.ssh_ready.unwrap_or_default()
    );
    let dev = vm.attach_fixture(plan.fixture_size_mib, &plan.fixture_serial)?;
    eprintln!("[vm] fixture disk {} MiB at {dev}", plan.fixture_size_mib);
    match supervisor::serve_until_down(&mut vm, run_dir)? {
        supervisor::Served::Down(reply_to) => {
            vm.shutdown()?;
            let _ = writeln!(&reply_to, "stopped");
            eprintln!("[vm] stopped on request");
        }
        supervisor::Served::Ended(reason) => {
            eprintln!("[vm] stopping ({reason})");
            vm.shutdown()?;
        }
    }
    Ok(Outcome::Passed)
}

/// Run directories in `runs_dir` that have a live VM, oldest first.
pub fn live_runs(runs_dir: &Path) -> Vec<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(runs_dir)
        .into_iter()
        .flatten()
        .flatten()
        // Not `latest`, a symlink to a run listed under its own name.
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| VmState::read(p).is_ok_and(|s| files::pid_alive(s.owner_pid as i32)))
        .collect();
    runs.sort();
    runs
}

pub(crate) fn find_run(run: Option<&str>) -> Result<PathBuf> {
    let runs = crate::workspace::runs_dir()?;
    match run {
        Some(id) => {
            let p = runs.join(id);
            if !p.join(files::VM_STATE).is_file() {
                bail!(
                    "no running VM for run `{id}` in {} (see `vmharness vm list`)",
                    runs.display()
                );
            }
            Ok(p)
        }
        None => live_runs(&runs).pop().with_context(|| {
            format!(
                "no running VM in {}: start one with `vmharness vm up`",
                runs.display()
            )
        }),
    }
}

fn ssh(run: Option<&str>, timeout: u64, command: &[String]) -> Result<Outcome> {
    let run_dir = find_run(run)?;
    let state = VmState::read(&run_dir)?;
    let log = crate::ssh::CommandLog::open(&run_dir)?;
    let mut session = Ssh::connect(&state.target()?, Duration::from_secs(20), Some(log))
        .with_context(|| format!("connecting to the VM of run {}", state.run_id))?;
    // Like ssh(1): the words are joined with spaces and run by the guest's shell.
    let line = command.join(" ");
    let out = session.exec(&Exec {
        command: &line,
        label: "vm-ssh",
        timeout: Duration::from_secs(timeout),
        echo: true,
    })?;
    if out.timed_out {
        bail!("`{line}` timed out after {timeout}s and was killed");
    }
    Ok(Outcome::Code(out.shell_code()))
}

fn down(run: Option<&str>) -> Result<Outcome> {
    let run_dir = find_run(run)?;
    let state = VmState::read(&run_dir)?;
    if let Err(e) = supervisor::ask_down(&run_dir) {
        eprintln!("[vm] {e:#}; stopping by signal");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while files::pid_alive(state.owner_pid as i32) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if files::pid_alive(state.owner_pid as i32) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(state.owner_pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    super::gc::clean_run(&run_dir);
    println!("stopped run {}", state.run_id);
    Ok(Outcome::Passed)
}

fn list() -> Result<Outcome> {
    let dir = crate::workspace::runs_dir()?;
    let runs = live_runs(&dir);
    if runs.is_empty() {
        println!("no running VMs in {}", dir.display());
    }
    for r in runs {
        if let Ok(s) = VmState::read(&r) {
            println!(
                "{}  ssh 127.0.0.1:{}  {}  supervisor pid {}",
                s.run_id, s.ssh_port, s.accel, s.owner_pid
            );
        }
    }
    Ok(Outcome::Passed)
}
