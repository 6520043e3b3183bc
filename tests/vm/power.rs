//! The VM layer of the faults scenarios on one VM: a power cut, the restart
//! on the same disks (same host key, the run's key, the fixture by its
//! serial, Btrfs consistent, fsync'd data there), then a network cut that
//! the SSH session survives, a fresh login after it, and a normal teardown.

use crate::common::*;
use std::time::{Duration, Instant};
use vmharness::ssh::{Exec, Ssh};

const T: Duration = Duration::from_secs(120);

/// The live output log of the guest command labelled `label`.
fn live_log(run_dir: &std::path::Path, label: &str) -> Option<std::path::PathBuf> {
    std::fs::read_dir(run_dir.join("logs"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(&format!("-{label}.out")))
        })
}

fn size(p: &Option<std::path::PathBuf>) -> u64 {
    p.as_ref()
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len())
}

#[test]
fn power_cut_restart_on_the_same_disks_then_a_network_cut() {
    if !vm_tests_enabled() {
        return;
    }
    let t0 = Instant::now();
    let mut v = boot_library_vm("power");
    let run_dir = v.run_dir.clone();
    eprintln!("boot: {:.1}s", t0.elapsed().as_secs_f64());
    assert!(v.vm.state().timeline.resumed, "the VM did not resume");
    let host_key = v.vm.state().host_key_hex.clone();
    let run_pub = vmharness::vm::keys::KeyPair::read_private(&run_dir.join("id_ed25519"))
        .unwrap()
        .public_line;

    // A resumed VM's console.log names the saved state it came from, then
    // holds what the guest prints on its console from the resume on.
    run_in_guest(
        &mut v.vm,
        "echo vmharness-console-after-resume > /dev/ttyS0",
    );
    let console = run_dir.join("console.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&console).unwrap_or_default();
        if text.contains("vmharness-console-after-resume") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("[vmharness] resumed from the saved state ")
            && first.contains("/console.log"),
        "{text}"
    );
    let boot_console = first.rsplit(": ").next().unwrap_or_default();
    assert!(
        std::path::Path::new(boot_console).is_file(),
        "the saved state's boot console {boot_console} is not there"
    );
    assert!(text.contains("vmharness-console-after-resume"), "{text}");

    // A Btrfs fixture with one fsync'd file and one that is not.
    let dev =
        v.vm.attach_fixture(v.plan.fixture_size_mib, &v.plan.fixture_serial)
            .expect("fixture");
    let synced_sum = run_in_guest(
        &mut v.vm,
        &format!(
            "mkfs.btrfs -q -f {dev} && mkdir -p /mnt/fx && mount {dev} /mnt/fx && \
             seq 1 100000 > /mnt/fx/synced && sync /mnt/fx/synced /mnt/fx && \
             seq 1 1000 > /mnt/fx/unsynced && sha256sum < /mnt/fx/synced"
        ),
    );

    // 1. The power cut.
    let cut = v.vm.power_cut().expect("power cut");
    eprintln!("cut: {cut:?}");
    assert_eq!(cut.number, 1);
    assert!(
        qemu_processes_mentioning(&run_dir.to_string_lossy()).is_empty(),
        "QEMU still runs after the cut"
    );
    for disk in ["overlay.qcow2", "fixture.qcow2"] {
        assert!(run_dir.join(disk).is_file(), "{disk} went at the cut");
    }
    assert!(
        cut.console_log.is_file() && !run_dir.join("console.log").exists(),
        "the console log before the cut was not set aside"
    );
    assert!(v.vm.check_alive("test").is_err(), "a cut VM looks alive");

    // 2. The restart on the same disks.
    let facts = v.vm.restart_same_disks().expect("restart");
    eprintln!("restart: {facts:?}");
    assert_eq!(facts.fixture_device.as_deref(), Some(dev.as_str()));
    assert!(!facts.timeline.resumed);
    v.vm.check_alive("test").expect("alive after the restart");
    assert_eq!(v.vm.state().host_key_hex, host_key, "the host key changed");
    assert_eq!(v.vm.state().key_path, run_dir.join("id_ed25519"));
    // The run's key is the one root accepts after the restart too.
    assert_eq!(accepted_keys(&mut v.vm), [run_pub.trim()]);
    let cmdline = run_in_guest(&mut v.vm, "cat /proc/cmdline");
    assert!(cmdline.contains("cloud-init=disabled"), "{cmdline}");
    let argv = std::fs::read_to_string(run_dir.join("qemu.argv")).unwrap();
    assert!(!argv.contains("seed"), "{argv}");
    let pid: u32 = std::fs::read_to_string(run_dir.join("qemu.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, v.vm.state().qemu_pid);
    // Btrfs: consistent before mounting, the fsync'd file intact after.
    let check = v.vm.ssh().exec(&Exec {
        command: &format!("btrfs check --readonly {dev}"),
        label: "btrfs-check",
        timeout: T,
        echo: false,
    });
    let check = check.expect("btrfs check");
    assert!(
        check.success(),
        "btrfs check --readonly failed: {}{}",
        check.stdout_text(),
        check.stderr_text()
    );
    let after = run_in_guest(
        &mut v.vm,
        // The mount point was made seconds before the cut: the ext4 root lost it.
        &format!("mkdir -p /mnt/fx && mount {dev} /mnt/fx && sha256sum < /mnt/fx/synced"),
    );
    assert_eq!(after, synced_sum, "the fsync'd file changed");
    eprintln!(
        "the file not fsync'd: {}",
        run_in_guest(
            &mut v.vm,
            "stat -c '%s bytes' /mnt/fx/unsynced 2>/dev/null || echo missing"
        )
        .trim()
    );

    // 3. A 5 s network cut while a command streams over the session.
    let (ssh, qmp) = v.vm.ssh_and_qmp();
    let (out, stalled) = std::thread::scope(|sc| {
        let stream = sc.spawn(move || {
            ssh.exec(&Exec {
                command: "for i in $(seq 1 20); do echo line $i; sleep 0.5; done",
                label: "net-stream",
                timeout: T,
                echo: false,
            })
        });
        std::thread::sleep(Duration::from_secs(2));
        let log = live_log(&run_dir, "net-stream");
        assert!(size(&log) > 0, "no output before the cut");
        qmp.set_link(false).expect("link down");
        let down = Instant::now();
        std::thread::sleep(Duration::from_secs(1));
        let at_1s = size(&log);
        std::thread::sleep(Duration::from_secs(4));
        let at_5s = size(&log);
        qmp.set_link(true).expect("link up");
        eprintln!("link down for {:.2}s", down.elapsed().as_secs_f64());
        (stream.join().unwrap(), at_5s.saturating_sub(at_1s))
    });
    let out = out.expect("the streaming command");
    assert!(out.success(), "the streaming command failed: {out:?}");
    assert_eq!(out.stdout_text().lines().count(), 20);
    assert_eq!(stalled, 0, "output arrived while the link was down");

    // 4. A short cut through Vm::set_link, then fresh connections.
    v.vm.set_link(false).expect("link down");
    std::thread::sleep(Duration::from_secs(2));
    v.vm.set_link(true).expect("link up");
    let took =
        v.vm.reconnect_ssh(Duration::from_secs(60))
            .expect("reconnect");
    eprintln!("reconnected {:.2}s after link up", took.as_secs_f64());
    run_in_guest(&mut v.vm, "true");
    let t = Instant::now();
    let mut other = Ssh::connect(
        &v.vm.state().target().unwrap(),
        Duration::from_secs(30),
        None,
    )
    .expect("a new SSH connection");
    other.run("new", "true", T).expect("a command on it");
    other.disconnect();
    eprintln!("new connection: {:.2}s", t.elapsed().as_secs_f64());

    // 5. The fixture attached at boot unplugs like a hot-plugged one; teardown as usual.
    run_in_guest(&mut v.vm, "umount /mnt/fx");
    v.vm.detach_fixture(false).expect("detach the fixture");
    v.vm.shutdown().expect("shutdown");
    assert!(
        qemu_processes_mentioning(&run_dir.to_string_lossy()).is_empty(),
        "QEMU still runs after shutdown"
    );
    for f in ["overlay.qcow2", "fixture.qcow2", "id_ed25519", "qemu.pid"] {
        assert!(!run_dir.join(f).exists(), "{f} left behind");
    }
    assert!(run_dir.join("console-before-cut-1.log").is_file());
    assert!(run_dir.join("console.log").is_file());
    eprintln!("total: {:.1}s", t0.elapsed().as_secs_f64());
}
