//! Boots real VMs (TCG here, KVM where available) through the CLI, as a
//! non-root user when VMHARNESS_TEST_USER is set and the tests run as root.

use crate::common::*;
use std::time::{Duration, Instant};
use vmharness::vm::{files, VmState};

#[test]
fn vm_up_ssh_fixture_btrfs_down_leaves_nothing() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let up = vmharness(runs.path(), &["vm", "up"]);
    assert!(up.status.success(), "vm up failed");
    let run = only_run(runs.path());
    let state = VmState::read(&run).expect("vm.json of a running VM");
    assert!(
        files::pid_alive(state.qemu_pid as i32),
        "QEMU runs after vm up returned"
    );

    let uname = vmharness(runs.path(), &["vm", "ssh", "--", "uname", "-r"]);
    assert!(uname.status.success());
    assert!(
        stdout(&uname).trim().ends_with("amd64"),
        "kernel release: {}",
        stdout(&uname)
    );

    // Not root on the host (when a test user is set), root in the guest.
    let who = vmharness(runs.path(), &["vm", "ssh", "--", "id", "-u"]);
    assert_eq!(stdout(&who).trim(), "0");

    // The fixture disk is there by its serial, and takes a Btrfs filesystem.
    let btrfs = vmharness(
        runs.path(),
        &[
            "vm",
            "ssh",
            "--",
            "set -e; dev=/dev/disk/by-id/virtio-vmh-fixture; readlink -f $dev; \
             mkfs.btrfs -q -f $dev; mkdir -p /mnt/fx; mount -o compress=zstd $dev /mnt/fx; \
             btrfs subvolume create /mnt/fx/data >/dev/null; echo hello > /mnt/fx/data/f; \
             btrfs subvolume list /mnt/fx; findmnt -n -o FSTYPE /mnt/fx; umount /mnt/fx",
        ],
    );
    assert!(btrfs.status.success());
    let text = stdout(&btrfs);
    let mut lines = text.lines();
    assert!(lines.next().unwrap_or("").starts_with("/dev/vd"), "{text}");
    assert!(text.contains("path data"), "{text}");
    assert!(text.lines().any(|l| l == "btrfs"), "{text}");

    // The remote exit status comes back unchanged.
    let code = vmharness(runs.path(), &["vm", "ssh", "--", "exit", "7"]);
    assert_eq!(code.status.code(), Some(7));

    // A command that outlives its timeout is killed and reported.
    let slow = vmharness(
        runs.path(),
        &["vm", "ssh", "--timeout", "2", "--", "sleep", "60"],
    );
    assert_eq!(slow.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&slow.stderr).contains("timed out"));

    // Every command is recorded.
    let log = std::fs::read_to_string(run.join("ssh.jsonl")).unwrap();
    assert!(log.lines().count() >= 5, "{log}");
    assert!(log.contains("\"command\":\"uname -r\""), "{log}");

    // The host key is verified: a VM presenting another key is refused.
    let good = std::fs::read(run.join(files::VM_STATE)).unwrap();
    let mut forged: serde_json::Value = serde_json::from_slice(&good).unwrap();
    let other = vmharness::vm::keys::KeyPair::generate("other").unwrap();
    forged["host_key_hex"] = hex::encode(&other.public_blob).into();
    std::fs::write(
        run.join(files::VM_STATE),
        serde_json::to_vec(&forged).unwrap(),
    )
    .unwrap();
    let refused = vmharness(runs.path(), &["vm", "ssh", "--", "true"]);
    std::fs::write(run.join(files::VM_STATE), &good).unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("host key"));

    let down = vmharness(runs.path(), &["vm", "down"]);
    assert!(down.status.success());
    assert!(
        qemu_processes_mentioning(&run.to_string_lossy()).is_empty(),
        "QEMU left running"
    );
    assert!(
        !files::pid_alive(state.owner_pid as i32),
        "supervisor left running"
    );
    assert_eq!(
        files::leftovers(&run),
        Vec::<std::path::PathBuf>::new(),
        "run files left behind"
    );
    assert!(
        run.join("console.log").exists(),
        "the console log is kept as an artifact"
    );
}

/// `vm up`, then send `signal` to the supervisor.
fn vm_up_then_signal(signal: nix::sys::signal::Signal) -> (RunsDir, std::path::PathBuf, VmState) {
    ensure_image();
    let runs = runs_dir();
    assert!(vmharness(runs.path(), &["vm", "up"]).status.success());
    let run = only_run(runs.path());
    let state = VmState::read(&run).unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(state.owner_pid as i32), signal).unwrap();
    (runs, run, state)
}

#[test]
fn sigkill_of_the_supervisor_takes_qemu_down_and_gc_cleans() {
    if !vm_tests_enabled() {
        return;
    }
    let (runs, run, state) = vm_up_then_signal(nix::sys::signal::Signal::SIGKILL);
    let start = Instant::now();
    while files::pid_alive(state.qemu_pid as i32) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !files::pid_alive(state.qemu_pid as i32),
        "QEMU outlived its supervisor by {:?}",
        start.elapsed()
    );
    eprintln!(
        "QEMU exited {:?} after its supervisor was killed",
        start.elapsed()
    );
    assert!(
        !files::leftovers(&run).is_empty(),
        "a killed run leaves files for gc"
    );
    let gc = vmharness(runs.path(), &["gc"]);
    assert!(gc.status.success());
    assert!(
        stdout(&gc).contains("1 dead run(s) cleaned"),
        "{}",
        stdout(&gc)
    );
    assert!(
        files::leftovers(&run).is_empty(),
        "gc left {:?}",
        files::leftovers(&run)
    );
}

#[test]
fn a_guest_that_cannot_boot_fails_fast_with_the_console_tail() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let profile = vmharness::profile::Profile::default();
    let run_dir = runs.path().join("broken");
    let mut plan = default_plan(&profile, &run_dir, "broken");
    // PID 1 exits at once: the kernel panics (and with panic=-1, -no-reboot, QEMU exits).
    plan.vm.extra_append = "init=/bin/false".into();
    let start = Instant::now();
    let err = match vmharness::vm::Vm::boot(plan.vm.clone()) {
        Ok(_) => panic!("a guest whose init exits at once booted"),
        Err(e) => e,
    };
    let text = err.to_string();
    eprintln!("{text}");
    assert!(
        start.elapsed() < plan.vm.boot_timeout / 2,
        "took {:?}: not fast",
        start.elapsed()
    );
    assert!(
        matches!(
            err,
            vmharness::vm::VmError::QemuExited { .. } | vmharness::vm::VmError::GuestFault { .. }
        ),
        "{text}"
    );
    assert!(text.contains("console tail"), "{text}");
    assert!(
        text.contains("Kernel panic") && text.contains("kill init"),
        "{text}"
    );
    assert!(qemu_processes_mentioning(&run_dir.to_string_lossy()).is_empty());
    assert!(
        files::leftovers(&run_dir).is_empty(),
        "{:?}",
        files::leftovers(&run_dir)
    );
}

#[test]
fn a_cold_boot_whose_kernel_stalls_is_booted_again_once() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let profile = vmharness::profile::Profile::default();
    let run_dir = runs.path().join("stalled");
    let mut plan = default_plan(&profile, &run_dir, "stalled");
    // The kernel prints its command line twice early in the boot (notices:
    // shown at loglevel 7, the later `loglevel=` wins): with the RCU stall
    // report quoted twice in it, the console holds four reports within
    // seconds, as a guest whose vCPU lost its timer does in a minute.
    plan.vm.extra_append =
        "loglevel=7 vmh.a=\"detected stalls on CPUs\" vmh.b=\"detected stalls on CPUs\"".into();
    let start = Instant::now();
    let err = match vmharness::vm::Vm::boot_cold(plan.vm.clone()) {
        Ok(_) => panic!("a guest reporting stalls was taken as booted"),
        Err(e) => e,
    };
    let text = err.to_string();
    eprintln!("{text}");
    assert!(err.is_boot_stall(), "{text}");
    assert!(text.contains("kernel stalled during boot"), "{text}");
    assert!(
        start.elapsed() < plan.vm.boot_timeout / 2,
        "took {:?}: the stall was not seen",
        start.elapsed()
    );
    // Booted twice: the first boot's console was set aside, the second's
    // is the run's console.log; both show the reports.
    for name in ["console.stalled.log", "console.log"] {
        let console = std::fs::read_to_string(run_dir.join(name)).unwrap_or_default();
        assert!(
            console.contains("detected stalls on CPUs"),
            "{name}: {console}"
        );
    }
    assert!(qemu_processes_mentioning(&run_dir.to_string_lossy()).is_empty());
    assert!(
        files::leftovers(&run_dir).is_empty(),
        "{:?}",
        files::leftovers(&run_dir)
    );
}

#[test]
fn sigterm_to_the_supervisor_stops_the_vm_and_removes_its_files() {
    if !vm_tests_enabled() {
        return;
    }
    let (_runs, run, state) = vm_up_then_signal(nix::sys::signal::Signal::SIGTERM);
    let start = Instant::now();
    while files::pid_alive(state.owner_pid as i32) && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !files::pid_alive(state.owner_pid as i32),
        "the supervisor ignored SIGTERM"
    );
    assert!(
        !files::pid_alive(state.qemu_pid as i32),
        "QEMU left running"
    );
    assert!(
        files::leftovers(&run).is_empty(),
        "graceful stop left {:?}",
        files::leftovers(&run)
    );
    let log = std::fs::read_to_string(run.join("supervisor.log")).unwrap();
    assert!(log.contains("stopping (signal)"), "{log}");
}

/// What [`signal_run`] saw: how the run ended, how long after the signal,
/// what it printed on stderr, and its run directory.
struct Signalled {
    status: std::process::ExitStatus,
    took: Duration,
    stderr: Vec<String>,
    run: std::path::PathBuf,
}

impl Signalled {
    /// The run ended within `within` of the signal, as the harness's (exit
    /// 2), and left no QEMU behind.
    fn assert_interrupted(&self, within: Duration) {
        assert!(self.took < within, "took {:?}", self.took);
        assert_eq!(
            self.status.code(),
            Some(2),
            "an interrupted run is the harness's"
        );
        assert!(qemu_processes_mentioning(&self.run.to_string_lossy()).is_empty());
    }
}

/// Start vmharness with `args`, wait for a stderr line containing
/// `trigger`, wait `delay` more, send SIGTERM to the run's owner process and
/// wait for it to end (panics after 60 s).
fn signal_run(runs: &std::path::Path, args: &[&str], trigger: &str, delay: Duration) -> Signalled {
    use std::io::BufRead;
    let mut child = vmharness_command(runs, &[], args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting vmharness");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("{line}");
            let _ = tx.send(line);
        }
    });
    let start = Instant::now();
    // The run's directory: named by the `[run ID]` prefix of its lines (the
    // `latest` link comes only after the boot).
    let mut run_id = None;
    loop {
        match rx.recv_timeout(Duration::from_secs(600)) {
            Ok(line) => {
                if let Some(id) = line.strip_prefix("[run ").and_then(|l| l.split(']').next()) {
                    run_id = Some(id.to_string());
                }
                if line.contains(trigger) {
                    break;
                }
            }
            Err(e) => panic!("vmharness {args:?} never printed {trigger:?}: {e}"),
        }
    }
    std::thread::sleep(delay);
    let run = runs.join(run_id.expect("a [run ID] line before the trigger"));
    // The owner's pid is written when QEMU starts.
    let owner = loop {
        if let Some(pid) = files::read_pid(&run.join(files::OWNER_PID)) {
            break pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "no {}",
            files::OWNER_PID
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(owner),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signalling the run");
    let signalled = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for vmharness") {
            break s;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(60),
            "vmharness still running {:?} after SIGTERM",
            signalled.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = signalled.elapsed();
    let _ = reader.join();
    let stderr = rx.try_iter().collect();
    eprintln!(
        "vmharness {args:?} ended {took:?} after SIGTERM ({:?} into the run)",
        signalled - start
    );
    Signalled {
        status,
        took,
        stderr,
        run,
    }
}

/// SIGTERM while the VM boots (a cold boot: the kernel, then the wait for
/// SSH): the run ends at once with the signal named, and no QEMU is left.
#[test]
fn sigterm_during_boot_ends_the_run_at_once() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let r = signal_run(
        runs.path(),
        &[
            "run",
            "--cold-boot",
            "--profile",
            "config/quick.toml",
            "setup",
        ],
        "accelerator:",
        Duration::from_secs(3),
    );
    r.assert_interrupted(Duration::from_secs(10));
    assert!(
        r.stderr
            .iter()
            .any(|l| l.contains("interrupted by SIGTERM")),
        "the signal is named: {:?}",
        r.stderr
    );
    assert!(
        r.stderr.iter().all(|l| !l.contains("timed out")),
        "{:?}",
        r.stderr
    );
}

/// SIGTERM while the interrupt scenario waits for the tool to reach its
/// kill point (the upload of its second chunk, held by the endpoint): the
/// run ends in seconds, the scenario says the signal stopped it.
#[test]
fn sigterm_during_the_interrupt_scenarios_wait_ends_the_run_in_seconds() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let r = signal_run(
        runs.path(),
        &[
            "run",
            "--profile",
            "config/quick.toml",
            "setup",
            "interrupt",
        ],
        "scenario interrupt ...",
        Duration::from_secs(4),
    );
    r.assert_interrupted(Duration::from_secs(20));
    let v = read_results(&r.run);
    let interrupt = v["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .find(|s| s["name"] == "interrupt")
        .expect("the interrupt scenario is reported")
        .clone();
    let why = interrupt["infra_error"].as_str().unwrap_or_default();
    assert!(
        why.contains("interrupted by SIGTERM"),
        "interrupt: {interrupt}"
    );
    assert!(!why.contains("timed out"), "interrupt: {why}");
    let failed: Vec<&serde_json::Value> = interrupt["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["verdict"] == "fail")
        .collect();
    assert!(failed.is_empty(), "the tool is blamed: {failed:?}");
}

/// The issue's report: SIGTERM during a long wait left the harness in an
/// SSH read until the command's timeout (and, asking the guest to kill the
/// command over sessions that were themselves cut short, filled the guest's
/// memory with SSH logins), then blamed the tool for a "timed out" backup.
#[test]
fn sigterm_during_a_tool_command_ends_the_run_in_seconds_and_blames_the_signal() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    // Signalled while the full backup runs (the tool is importing boto3 for
    // its first seconds: the harness is in the command's SSH read).
    let r = signal_run(
        runs.path(),
        &["run-all", "--profile", "config/quick.toml"],
        "scenario full ...",
        Duration::from_secs(2),
    );
    r.assert_interrupted(Duration::from_secs(20));
    let v = read_results(&r.run);
    let scenarios = v["scenarios"].as_array().expect("scenarios");
    let full = scenarios
        .iter()
        .find(|s| s["name"] == "full")
        .expect("the full scenario is reported");
    let why = full["infra_error"].as_str().unwrap_or_default();
    assert!(why.contains("interrupted by SIGTERM"), "full: {why:?}");
    assert!(
        !why.contains("AWS_SECRET_ACCESS_KEY"),
        "the error names the command, not its credentials: {why}"
    );
    let after: Vec<&serde_json::Value> = scenarios
        .iter()
        .skip_while(|s| s["name"] != "full")
        .skip(1)
        .collect();
    assert!(!after.is_empty());
    for s in after {
        assert_eq!(
            s["infra_error"].as_str(),
            Some("not run: interrupted by SIGTERM"),
            "{s}"
        );
    }
    let failed: Vec<&serde_json::Value> = scenarios
        .iter()
        .flat_map(|s| s["checks"].as_array().into_iter().flatten())
        .filter(|c| c["verdict"] == "fail")
        .collect();
    assert!(failed.is_empty(), "the tool is blamed: {failed:?}");
}
