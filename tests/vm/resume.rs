//! The fast path: VMs resume from the saved state of their image and shape.
//! The stale state it rebuilds is in a cache of its own (the image shared):
//! other tests resume from the shared state at the same time, and a power
//! cut's restart reopens its disk by path.

use crate::common::*;
use std::time::Duration;
use vmharness::ssh::{Ssh, SshTarget};

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The `saved VM state DIR ready in` line `bench boot` prints.
fn state_dir(bench_stdout: &str) -> std::path::PathBuf {
    let line = bench_stdout
        .lines()
        .find(|l| l.starts_with("saved VM state "))
        .unwrap_or_else(|| panic!("no saved-state line in:\n{bench_stdout}"));
    let dir = line
        .trim_start_matches("saved VM state ")
        .split(" ready in ")
        .next()
        .unwrap();
    std::path::PathBuf::from(dir)
}

#[test]
fn resumed_vms_are_fresh_and_a_stale_state_is_rebuilt() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();

    // 1. A stale saved state (the image's content hash it records differs
    //    from the image's) is rebuilt, and the harness says why.
    let cache = private_cache(runs.path());
    let cache_env = [("VMHARNESS_CACHE", cache.to_str().expect("utf-8 path"))];
    let bench = ["bench", "boot", "--runs", "1", "--cold-runs", "0"];
    let first = vmharness_env(runs.path(), &cache_env, &bench);
    assert!(first.status.success(), "bench boot failed");
    let dir = state_dir(&stdout(&first));
    assert!(
        dir.starts_with(&cache),
        "{} is not in the test's cache",
        dir.display()
    );
    let meta_path = dir.join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).expect("meta.json")).unwrap();
    let real_hash = meta["inputs"]["image_sha256"].as_str().unwrap().to_string();
    assert_eq!(real_hash.len(), 64);
    meta["inputs"]["image_sha256"] = "0".repeat(64).into();
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let second = vmharness_env(runs.path(), &cache_env, &bench);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "bench boot after staling failed");
    assert!(
        err.contains(
            "the saved VM state is stale: the image's content changed (0000000000000000 -> "
        ) && err.contains("booting once to build it"),
        "the rebuild did not say why:\n{err}"
    );
    let rebuilt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).expect("meta.json rebuilt")).unwrap();
    assert_eq!(rebuilt["inputs"]["image_sha256"], real_hash.as_str());
    assert!(stdout(&second).contains("resume to SSH-ready"));

    // 2. Two VMs in turn from the same state: the second has a fresh
    //    fixture, a correct clock, a reseeded RNG, and nothing of the first.
    let ep = TestEndpoint::start();
    let mut a = ep.boot_vm("resume-a");
    assert!(a.vm.state().timeline.resumed, "the VM did not resume");
    let a_key = std::fs::read_to_string(a.run_dir.join("id_ed25519")).unwrap();
    let a_key_path = a.runs.path().join("a-key");
    std::fs::write(&a_key_path, &a_key).unwrap();
    let secret = ep.ep.credentials().secret_access_key.clone();
    let dev =
        a.vm.attach_fixture(a.plan.fixture_size_mib, &a.plan.fixture_serial)
            .expect("fixture A");
    run_in_guest(
        &mut a.vm,
        &format!(
            "mkfs.btrfs -q -f {dev} && mkdir -p /root/.aws && \
             printf '[default]\\naws_secret_access_key = %s\\n' '{secret}' > /root/.aws/credentials"
        ),
    );
    let a_uuid = run_in_guest(&mut a.vm, "cat /proc/sys/kernel/random/uuid");
    a.vm.shutdown().expect("shutdown A");

    let mut b = ep.boot_vm("resume-b");
    let tl = b.vm.state().timeline.clone();
    assert!(tl.resumed, "the second VM did not resume");
    eprintln!("resume B: {tl:?}");
    // This run's key is the only one root accepts: the default image's
    // sshd takes it from the firmware file this start gave the guest.
    let state = vmharness::vm::resume::ensure_state(&b.plan.vm, &vmharness::paths::states_dir())
        .expect("the state B resumed from");
    assert!(
        state.meta.run_key_from_fw_cfg,
        "the default image's saved state takes the run key from fw_cfg"
    );
    let b_pub = vmharness::vm::keys::KeyPair::read_private(&b.run_dir.join("id_ed25519"))
        .unwrap()
        .public_line;
    assert_eq!(accepted_keys(&mut b.vm), [b_pub.trim()]);
    let b_target = b.vm.state().target().unwrap();
    for (who, key) in [
        ("the previous run's key", a_key_path.clone()),
        ("the provisioning key", state.provision_key()),
    ] {
        let t = SshTarget {
            key_path: key,
            ..b_target.clone()
        };
        assert!(
            Ssh::connect(&t, Duration::from_secs(30), None).is_err(),
            "{who} still logs in"
        );
    }
    // The run's own key logs in (the resume's one login was already its).
    let mut own =
        Ssh::connect(&b_target, Duration::from_secs(30), None).expect("the run key logs in");
    assert!(own
        .run("own-key", "true", Duration::from_secs(30))
        .expect("a command")
        .success());
    // Nothing the first run wrote: not its credentials, not its fixture.
    let found = run_in_guest(
        &mut b.vm,
        &format!(
            "test -e /root/.aws && echo /root/.aws; grep -rlF '{secret}' /root /etc /var/lib /tmp /home 2>/dev/null; true"
        ),
    );
    assert!(
        found.trim().is_empty(),
        "the previous run's credentials are in the guest: {found}"
    );
    let dev =
        b.vm.attach_fixture(b.plan.fixture_size_mib, &b.plan.fixture_serial)
            .expect("fixture B");
    let fs = run_in_guest(
        &mut b.vm,
        &format!("blkid -p -o value -s TYPE {dev} || echo blank"),
    );
    assert_eq!(fs.trim(), "blank", "the fixture disk is not fresh");
    run_in_guest(&mut b.vm, &format!("mkfs.btrfs -q -f {dev}"));
    // The clock was corrected from the host's.
    let guest = run_in_guest(&mut b.vm, "date +%s.%N")
        .trim()
        .parse::<f64>()
        .unwrap();
    let offset = guest - now();
    assert!(offset.abs() < 2.0, "guest clock off by {offset:.2}s");
    // The RNG was reseeded (vmgenid): the same saved state does not repeat.
    let b_uuid = run_in_guest(&mut b.vm, "cat /proc/sys/kernel/random/uuid");
    assert_ne!(a_uuid, b_uuid, "both resumes drew the same random numbers");
    let dmesg = run_in_guest(&mut b.vm, "dmesg | grep -c 'virtual machine fork' || true");
    assert_ne!(dmesg.trim(), "0", "the kernel saw no VM generation change");
    b.vm.shutdown().expect("shutdown B");
    ep.shutdown();
}
