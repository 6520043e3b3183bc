//! The Btrfs fixture in a real guest: seed, snapshot, send | receive, digest
//! both sides, compare; negative controls the comparison must flag with the
//! right field; a chain of incrementals with remounts; determinism; and the
//! seed/digest figures.

use crate::common::*;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use vmharness::digest::{compare_texts, render, CompareOptions, ReportLimits};
use vmharness::fixture;
use vmharness::ssh::Ssh;

const LONG: Duration = Duration::from_secs(900);

fn sh(ssh: &mut Ssh, label: &str, cmd: &str) -> String {
    ssh.run(label, &format!("set -eo pipefail; {cmd}"), LONG)
        .unwrap_or_else(|e| panic!("{label}: {e:#}"))
        .stdout_text()
}

/// `btrfs subvolume show` proves `restored` was received from `source`.
fn assert_received(ssh: &mut Ssh, source: &str, restored: &str) {
    let src = fixture::subvolume_show(ssh, source).unwrap();
    let dst = fixture::subvolume_show(ssh, restored).unwrap();
    let evidence = vmharness::digest::receive_evidence(&src, &dst);
    assert!(evidence.proves_receive(), "{restored}: {evidence:?}");
}

fn entries_of(digest: &str) -> u64 {
    digest
        .lines()
        .find_map(|l| l.strip_prefix("#end\tentries="))
        .and_then(|r| r.split('\t').next())
        .and_then(|n| n.parse().ok())
        .expect("digest has an #end line")
}

#[test]
fn seed_send_receive_digest_compare_in_the_guest() {
    if !vm_tests_enabled() {
        return;
    }
    let LibraryVm {
        runs: _runs,
        profile,
        plan,
        mut vm,
        ..
    } = boot_library_vm("fixture");
    let layout = fixture::prepare(&mut vm, &plan, &profile).expect("fixture setup");
    let ssh = vm.ssh();
    let data = layout.subvolume("data");
    let snaps = layout.snapshots_dir();
    let restore = layout.restore_dir();

    // Seed: every catalogue item created and checked, none refused.
    let seeded = fixture::seed(ssh, &data, 42, &Default::default(), LONG).expect("seed");
    assert!(
        seeded.summary.problems.is_empty(),
        "items refused or failed: {:#?}",
        seeded.summary.problems
    );
    sh(
        ssh,
        "snap1",
        &format!("btrfs -q subvolume snapshot -r {data} {snaps}/s1"),
    );
    let t = Instant::now();
    let d_s1 = fixture::digest(ssh, &format!("{snaps}/s1"), &[], LONG).unwrap();
    let digest_secs = t.elapsed().as_secs_f64();
    let entries = entries_of(&d_s1);

    // Full send | receive; equal except the documented exceptions.
    sh(
        ssh,
        "full",
        &format!(
            "mkdir {restore}/full && btrfs send -q {snaps}/s1 | btrfs receive -q {restore}/full"
        ),
    );
    let d_full = fixture::digest(ssh, &format!("{restore}/full/s1"), &[], LONG).unwrap();
    let full = compare_texts(&d_s1, &d_full, &CompareOptions::default()).unwrap();
    println!("{}", render(&full, ReportLimits::default()));
    assert!(
        full.passed(),
        "full restore differs:\n{}",
        render(&full, ReportLimits::default())
    );
    assert!(full.expected_failures.is_empty());

    // The receive was real: received UUID and transids while still read-only.
    assert_received(ssh, &format!("{snaps}/s1"), &format!("{restore}/full/s1"));

    // Negative controls: each flagged on its field, and only there.
    for case in [
        "flip-bit",
        "mode-bit",
        "drop-xattr",
        "split-hardlink",
        "fill-hole",
        "symlink-target",
        "mtime-1ns",
    ] {
        let dir = format!("{restore}/neg-{case}");
        sh(
            ssh,
            "neg-snap",
            &format!("btrfs -q subvolume snapshot {restore}/full/s1 {dir}"),
        );
        let expect: BTreeSet<String> = fixture::corrupt(ssh, &dir, case)
            .unwrap()
            .into_iter()
            .collect();
        let d = fixture::digest(ssh, &dir, &[], LONG).unwrap();
        let c = compare_texts(&d_s1, &d, &CompareOptions::default()).unwrap();
        let got: BTreeSet<String> = c.mismatches.iter().map(|m| m.field.to_string()).collect();
        assert!(!c.passed(), "{case}: the comparison did not notice");
        assert_eq!(
            got,
            expect,
            "{case}: flagged fields\n{}",
            render(&c, ReportLimits::default())
        );
        println!(
            "negative control {case}: flagged {got:?} ({} mismatch(es))",
            c.mismatches.len()
        );
    }

    // A chain: two rounds of mutations with a remount in each (inode reuse),
    // full + two incrementals received in order, the last compared.
    for (round, snap) in [(1u32, "s2"), (2, "s3")] {
        fixture::mutate(ssh, &data, round, 42, &Default::default(), "prepare", LONG)
            .expect("mutate prepare");
        layout.remount(ssh).expect("remount");
        let m = fixture::mutate(ssh, &data, round, 42, &Default::default(), "main", LONG)
            .expect("mutate main");
        assert!(
            m.summary.problems.is_empty(),
            "round {round}: {:#?}",
            m.summary.problems
        );
        sh(
            ssh,
            "snap",
            &format!("btrfs -q subvolume snapshot -r {data} {snaps}/{snap}"),
        );
    }
    sh(
        ssh,
        "chain",
        &format!(
            "mkdir {restore}/chain && btrfs send -q {snaps}/s1 | btrfs receive -q {restore}/chain && \
             btrfs send -q -p {snaps}/s1 {snaps}/s2 | btrfs receive -q {restore}/chain && \
             btrfs send -q -p {snaps}/s2 {snaps}/s3 | btrfs receive -q {restore}/chain"
        ),
    );
    let d_s3 = fixture::digest(ssh, &format!("{snaps}/s3"), &[], LONG).unwrap();
    let d_chain = fixture::digest(ssh, &format!("{restore}/chain/s3"), &[], LONG).unwrap();
    let chain_opts = CompareOptions {
        incremental: true,
        ..CompareOptions::default()
    };
    let chain = compare_texts(&d_s3, &d_chain, &chain_opts).unwrap();
    println!("{}", render(&chain, ReportLimits::default()));
    assert!(
        chain.passed(),
        "chain restore differs:\n{}",
        render(&chain, ReportLimits::default())
    );
    assert_received(ssh, &format!("{snaps}/s3"), &format!("{restore}/chain/s3"));
    for hit in &chain.expected_failures {
        println!(
            "expected failure {:?} at {} ({})",
            hit.case, hit.mismatch.path, hit.mismatch.field
        );
    }

    // Determinism: the same seed gives the same tree, byte for byte.
    sh(
        ssh,
        "data2",
        &format!("btrfs -q subvolume create {}", layout.subvolume("data2")),
    );
    fixture::seed(
        ssh,
        &layout.subvolume("data2"),
        42,
        &Default::default(),
        LONG,
    )
    .expect("second seed");
    sh(
        ssh,
        "snap-b",
        &format!(
            "btrfs -q subvolume snapshot -r {} {snaps}/s1b",
            layout.subvolume("data2")
        ),
    );
    let d_s1b = fixture::digest(ssh, &format!("{snaps}/s1b"), &[], LONG).unwrap();
    assert!(d_s1b == d_s1, "two seeds with the same value differ");

    let errors = layout.teardown(ssh).unwrap();
    assert!(
        errors.is_empty(),
        "the kernel logged Btrfs errors: {errors:?}"
    );
    vm.check_alive("fixture test").unwrap();

    println!(
        "BENCH fixture (guest, {}): seed {:.2}s wall ({:.2}s in the guest) for {} entries / {:.1} MB; \
         digest {:.2}s = {:.0} entries/s",
        plan.vm.accel,
        seeded.wall.as_secs_f64(),
        seeded.summary.seconds,
        entries,
        seeded.summary.file_bytes as f64 / 1e6,
        digest_secs,
        entries as f64 / digest_secs
    );
}
