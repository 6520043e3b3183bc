//! `vmharness bench boot`: boot-to-SSH-ready seconds split by phase.

use crate::cli::BenchCommand;
use crate::exit::Outcome;
use crate::plan::{self, BootOverrides};
use crate::stats::summarize;
use crate::vm::{files, BootTimeline, Vm};
use anyhow::Result;

/// The phases of one boot, in seconds, from the milestones (a missing
/// milestone folds its phase into the next one).
pub fn phases(t: &BootTimeline) -> Vec<(&'static str, f64)> {
    let marks = [
        ("QEMU start", t.qmp_ready),
        ("kernel", t.userspace),
        ("userspace", t.cloud_init),
        ("cloud-init to sshd", t.ssh_banner),
        ("SSH login", t.ssh_ready),
    ];
    let mut out = Vec::new();
    let mut prev = 0.0;
    for (name, at) in marks {
        if let Some(at) = at {
            out.push((name, (at - prev).max(0.0)));
            prev = at;
        } else {
            out.push((name, 0.0));
        }
    }
    out
}

pub fn run(cmd: BenchCommand) -> Result<Outcome> {
    match cmd {
        BenchCommand::Boot { boot, runs } => bench_boot(&boot, runs),
        BenchCommand::Fixture { boot, runs, seed } => bench_fixture(&boot, runs, seed),
    }
}

fn print_summary(name: &str, unit: &str, values: &[f64]) {
    if let Some(s) = summarize(values) {
        if unit == "s" {
            println!("  {name:<20} {s}");
        } else {
            println!(
                "  {name:<20} median {:8.0} {unit}  (min {:.0}, max {:.0}, n={})",
                s.median, s.min, s.max, s.n
            );
        }
    }
}

fn bench_fixture(boot: &crate::cli::BootArgs, runs: usize, seed: u64) -> Result<Outcome> {
    use crate::fixture;
    let overrides = BootOverrides::from(boot);
    let profile = plan::load_profile(&overrides)?;
    let run_id = format!("bench-fixture-{}", files::new_run_id());
    let run_dir = crate::paths::runs_dir().join(&run_id);
    let plan = plan::plan_boot(&profile, &overrides, &run_dir, &run_id)?;
    let mut vm = Vm::boot(plan.vm.clone())?;
    let layout = fixture::prepare(&mut vm, &plan, &profile)?;
    let long = std::time::Duration::from_secs(1800);
    let (mut seed_s, mut digest_s, mut rate, mut entries, mut bytes) =
        (vec![], vec![], vec![], 0, 0);
    for i in 0..runs {
        let sv = layout.subvolume(&format!("bench{i}"));
        let snap = format!("{}/bench{i}", layout.snapshots_dir());
        vm.ssh().run(
            "bench-subvolume",
            &format!("btrfs -q subvolume create {sv}"),
            long,
        )?;
        let s = fixture::seed(vm.ssh(), &sv, seed, &Default::default(), long)?;
        vm.ssh().run(
            "bench-snapshot",
            &format!("btrfs -q subvolume snapshot -r {sv} {snap}"),
            long,
        )?;
        let t = std::time::Instant::now();
        fixture::digest(vm.ssh(), &snap, &[], long)?;
        let d = t.elapsed().as_secs_f64();
        entries = s.summary.entries;
        bytes = s.summary.file_bytes;
        seed_s.push(s.wall.as_secs_f64());
        digest_s.push(d);
        rate.push(entries as f64 / d);
        eprintln!(
            "[bench] fixture {}/{runs}: seed {:.2}s, digest {d:.2}s",
            i + 1,
            s.wall.as_secs_f64()
        );
    }
    vm.shutdown()?;
    println!(
        "fixture seed {seed}: {entries} entries, {:.1} MB of file data; accelerator {}",
        bytes as f64 / 1e6,
        plan.accel_reason
    );
    print_summary("seed", "s", &seed_s);
    print_summary("digest", "s", &digest_s);
    print_summary("digest rate", "entries/s", &rate);
    Ok(Outcome::Passed)
}

fn bench_boot(boot: &crate::cli::BootArgs, runs: usize) -> Result<Outcome> {
    let overrides = BootOverrides::from(boot);
    let profile = plan::load_profile(&overrides)?;
    let mut timelines = Vec::new();
    let mut accel_line = String::new();
    for i in 1..=runs {
        let run_id = format!("bench-{}", files::new_run_id());
        let run_dir = crate::paths::runs_dir().join(&run_id);
        let plan = plan::plan_boot(&profile, &overrides, &run_dir, &run_id)?;
        accel_line = plan.accel_reason.clone();
        let vm = Vm::boot(plan.vm)?;
        let t = vm.state().timeline.clone();
        vm.shutdown()?;
        eprintln!(
            "[bench] boot {i}/{runs}: SSH ready after {:.2}s",
            t.ssh_ready.unwrap_or_default()
        );
        timelines.push(t);
    }
    println!("boot-to-SSH-ready over {runs} cold boot(s); accelerator {accel_line}");
    let names: Vec<&str> = phases(&BootTimeline::default())
        .iter()
        .map(|(n, _)| *n)
        .collect();
    for (idx, name) in names.iter().enumerate() {
        let v: Vec<f64> = timelines.iter().map(|t| phases(t)[idx].1).collect();
        print_summary(name, "s", &v);
    }
    let total: Vec<f64> = timelines.iter().filter_map(|t| t.ssh_ready).collect();
    print_summary("total", "s", &total);
    Ok(Outcome::Passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_differences() {
        let t = BootTimeline {
            qmp_ready: Some(0.1),
            first_console_output: Some(0.5),
            userspace: Some(8.0),
            cloud_init: Some(15.0),
            ssh_banner: Some(30.0),
            ssh_ready: Some(31.0),
        };
        let p = phases(&t);
        assert_eq!(
            p.iter().map(|x| x.0).collect::<Vec<_>>(),
            [
                "QEMU start",
                "kernel",
                "userspace",
                "cloud-init to sshd",
                "SSH login"
            ]
        );
        let v: Vec<f64> = p.iter().map(|x| (x.1 * 10.0).round() / 10.0).collect();
        assert_eq!(v, [0.1, 7.9, 7.0, 15.0, 1.0]);
        let sum: f64 = p.iter().map(|x| x.1).sum();
        assert!((sum - 31.0).abs() < 1e-9);
    }
}
