//! Fixture checkpoints on one VM: two stacked checkpoints, a rollback to the
//! newer one, then to the older one below it, a checkpoint on top again
//! that a power cut and the restart on the same disks keep, and a detach
//! that flattens the layers into the template later cases start from.

use crate::common::*;
use std::path::Path;
use std::time::Instant;
use vmharness::vm::files;

const MNT: &str = "/mnt/fx";

/// Mount the fixture and list its files.
fn mount_and_list(vm: &mut vmharness::vm::Vm, dev: &str) -> String {
    run_in_guest(
        vm,
        &format!("mkdir -p {MNT} && mount {dev} {MNT} && ls {MNT} | tr '\\n' ' '"),
    )
}

fn write(vm: &mut vmharness::vm::Vm, name: &str) {
    run_in_guest(vm, &format!("echo {name} > {MNT}/{name}"));
}

fn layers(run_dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(run_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("fixture"))
        .collect();
    v.sort();
    v
}

#[test]
fn fixture_checkpoints_roll_back_survive_a_power_cut_and_become_a_template() {
    if !vm_tests_enabled() {
        return;
    }
    let t0 = Instant::now();
    let mut v = boot_library_vm("checkpoint");
    let run_dir = v.run_dir.clone();
    let serial = v.plan.fixture_serial.clone();
    eprintln!("boot: {:.1}s", t0.elapsed().as_secs_f64());
    let vm = &mut v.vm;

    let dev = vm.attach_fixture(256, &serial).expect("fixture");
    run_in_guest(
        vm,
        &format!("mkfs.btrfs -q -f {dev} && mkdir -p {MNT} && mount {dev} {MNT}"),
    );
    write(vm, "a");
    let one = vm.checkpoint_fixture(MNT).expect("checkpoint 1");
    write(vm, "b");
    let two = vm.checkpoint_fixture(MNT).expect("checkpoint 2");
    write(vm, "c");
    assert_eq!(one.layer, run_dir.join("fixture.qcow2"));
    assert_eq!(two.layer, run_dir.join("fixture-layer-1.qcow2"));
    // The filesystem was thawed: writes go on.
    assert_eq!(
        run_in_guest(vm, &format!("ls {MNT} | tr '\\n' ' '")),
        "a b c "
    );

    // Back to 2: a and b, not c.
    run_in_guest(vm, &format!("umount {MNT}"));
    let t = Instant::now();
    let back = vm.rollback_fixture(&two).expect("rollback to 2");
    let rollback_two = t.elapsed().as_secs_f64();
    assert_eq!(back, dev);
    assert_eq!(mount_and_list(vm, &back), "a b ");
    assert_eq!(
        layers(&run_dir),
        [
            "fixture-layer-1.qcow2",
            "fixture-layer-3.qcow2",
            "fixture.qcow2"
        ]
    );

    // Back to 1, below 2: a only; 2 is gone with its layer.
    write(vm, "d");
    run_in_guest(vm, &format!("umount {MNT}"));
    let t = Instant::now();
    let back = vm.rollback_fixture(&one).expect("rollback to 1");
    let rollback_one = t.elapsed().as_secs_f64();
    assert_eq!(mount_and_list(vm, &back), "a ");
    assert_eq!(layers(&run_dir), ["fixture-layer-4.qcow2", "fixture.qcow2"]);
    run_in_guest(vm, &format!("umount {MNT}"));
    assert!(
        vm.rollback_fixture(&two).is_err(),
        "a checkpoint above the one rolled back to was accepted"
    );
    mount_and_list(vm, &back);

    // A checkpoint on top again; what is written after it and synced
    // survives a power cut, booted on the top layer of the chain.
    let three = vm.checkpoint_fixture(MNT).expect("checkpoint 3");
    write(vm, "e");
    run_in_guest(vm, "sync");
    vm.power_cut().expect("power cut");
    let facts = vm.restart_same_disks().expect("restart");
    eprintln!("restart on the same disks: {:.1}s", facts.seconds);
    assert_eq!(facts.fixture_device.as_deref(), Some(dev.as_str()));
    let argv = std::fs::read_to_string(run_dir.join("qemu.argv")).unwrap();
    assert!(argv.contains("fixture-layer-5.qcow2"), "{argv}");
    assert_eq!(mount_and_list(vm, &dev), "a e ");

    // And the checkpoint still works after the restart.
    run_in_guest(vm, &format!("umount {MNT}"));
    vm.rollback_fixture(&three)
        .expect("rollback to 3 after the restart");
    assert_eq!(mount_and_list(vm, &dev), "a ");
    write(vm, "f");
    run_in_guest(vm, &format!("umount {MNT}"));

    // The template: one standalone image, every layer gone.
    vm.detach_fixture(true).expect("detach as template");
    assert_eq!(layers(&run_dir), ["fixture-template.qcow2"]);
    let info = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(run_dir.join("fixture-template.qcow2"))
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(!info.contains("backing-filename"), "{info}");
    let dev = vm
        .attach_fixture_from_template(&serial)
        .expect("from template");
    assert_eq!(mount_and_list(vm, &dev), "a f ");
    run_in_guest(vm, &format!("umount {MNT}"));
    vm.detach_fixture(false).expect("detach");

    eprintln!(
        "checkpoint seconds: {:.3} {:.3} {:.3}; rollback seconds: {rollback_two:.2} (to 2) \
         {rollback_one:.2} (to 1)",
        one.seconds, two.seconds, three.seconds
    );
    assert!(
        [one.seconds, two.seconds, three.seconds]
            .iter()
            .all(|s| *s < 5.0),
        "a checkpoint took seconds"
    );
    let LibraryVm { vm, .. } = v;
    vm.shutdown().expect("shutdown");
    assert!(
        files::leftovers(&run_dir).is_empty(),
        "{:?}",
        files::leftovers(&run_dir)
    );
}
