//! The VM library API the scenarios use: boot, fixture hot-plug, upload,
//! command timeouts, and teardown on drop.

use crate::common::*;
use sha2::{Digest, Sha256};
use std::time::Duration;
use vmharness::ssh::Exec;
use vmharness::vm::files;

#[test]
fn upload_timeout_and_drop_through_the_library() {
    if !vm_tests_enabled() {
        return;
    }
    let LibraryVm {
        runs: _runs,
        run_dir,
        mut vm,
        ..
    } = boot_library_vm("lib");
    let qemu_pid = vm.state().qemu_pid as i32;

    let dev = vm.attach_fixture(256, "lib-fixture").expect("hot-plug");
    assert_eq!(dev, "/dev/disk/by-id/virtio-lib-fixture");

    // A tree with nesting, an empty file, a symlink and 3 MiB of data.
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("pkg/sub dir")).unwrap();
    std::fs::write(src.path().join("pkg/__init__.py"), b"").unwrap();
    let big: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(src.path().join("pkg/sub dir/big.bin"), &big).unwrap();
    std::os::unix::fs::symlink("sub dir/big.bin", src.path().join("pkg/link")).unwrap();
    vm.ssh()
        .upload_dir(src.path(), "/opt/uploaded", Duration::from_secs(120))
        .expect("upload");
    let out = vm
        .ssh()
        .run(
            "check-upload",
            "cd /opt/uploaded/pkg && sha256sum 'sub dir/big.bin' | cut -d' ' -f1 && readlink link && stat -c %s __init__.py",
            Duration::from_secs(60),
        )
        .unwrap();
    let want = hex::encode(Sha256::digest(&big));
    assert_eq!(out.stdout_text(), format!("{want}\nsub dir/big.bin\n0\n"));

    // A command past its timeout is killed with its whole process group.
    let out = vm
        .ssh()
        .exec(&Exec {
            command: "sleep 300 & sleep 301; echo never",
            label: "timeout",
            timeout: Duration::from_secs(3),
            echo: false,
        })
        .unwrap();
    assert!(out.timed_out && !out.success());
    assert!(!out.stdout_text().contains("never"));
    let left = vm
        .ssh()
        .run(
            "pgrep",
            "pgrep -c -f 'sleep 30[01]' || true",
            Duration::from_secs(30),
        )
        .unwrap();
    assert_eq!(
        left.stdout_text().trim(),
        "0",
        "the timed-out command's children survived"
    );

    // stdout, stderr and the exit status come back separately.
    let out = vm
        .ssh()
        .exec(&Exec {
            command: "echo out; echo err >&2; exit 4",
            label: "streams",
            timeout: Duration::from_secs(30),
            echo: false,
        })
        .unwrap();
    assert_eq!(
        (
            out.stdout_text().as_str(),
            out.stderr_text().as_str(),
            out.status
        ),
        ("out\n", "err\n", 4)
    );
    let log = std::fs::read_to_string(run_dir.join("ssh.jsonl")).unwrap();
    assert!(
        log.contains("\"label\":\"streams\"") && log.contains("\"status\":4"),
        "{log}"
    );

    drop(vm);
    assert!(!files::pid_alive(qemu_pid), "QEMU outlived the dropped Vm");
    assert!(
        files::leftovers(&run_dir).is_empty(),
        "{:?}",
        files::leftovers(&run_dir)
    );
}
