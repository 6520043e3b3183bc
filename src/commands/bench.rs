//! `vmharness bench boot`: boot-to-SSH-ready seconds split by phase.

use crate::cli::BenchCommand;
use crate::exit::Outcome;
use crate::plan::{self, BootOverrides};
use crate::report::benchmark::met;
use crate::stats::summarize;
use crate::vm::{files, BootTimeline, Vm};
use anyhow::Result;
use std::time::{Duration, Instant};

/// The phases of one start, in seconds, from the milestones (a missing
/// milestone folds its phase into the next one). A resume has its own.
pub fn phases(t: &BootTimeline) -> Vec<(&'static str, f64)> {
    let marks = if t.resumed {
        vec![
            ("QEMU start", t.qmp_ready),
            ("state load", t.state_loaded),
            // No banner probe on a resume: the login waits for sshd.
            ("SSH login, clock set", t.ssh_ready),
        ]
    } else {
        vec![
            ("QEMU start", t.qmp_ready),
            ("kernel", t.userspace),
            ("userspace", t.cloud_init),
            ("cloud-init to sshd", t.ssh_banner),
            ("SSH login", t.ssh_ready),
        ]
    };
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
        BenchCommand::Boot {
            boot,
            runs,
            cold_runs,
        } => bench_boot(&boot, runs, cold_runs),
        BenchCommand::Fixture { boot, runs, seed } => bench_fixture(&boot, runs, seed),
        BenchCommand::RunAll { boot, runs, jobs } => bench_run_all(&boot, runs, jobs),
        BenchCommand::S3 { size_mib, runs } => super::bench_s3::bench_s3(size_mib, runs),
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
    let overrides = boot.overrides()?;
    let profile = plan::load_profile(&overrides)?;
    let image = crate::image::ensure(&profile.vm.image)?;
    let run_id = format!("bench-fixture-{}", files::new_run_id());
    let run_dir = crate::workspace::runs_dir()?.join(&run_id);
    let plan = plan::plan_boot(&profile, &image, &overrides, &run_dir, &run_id, Vec::new())?;
    let mut vm = Vm::boot(plan.vm.clone())?;
    let t = Instant::now();
    let layout = fixture::prepare(&mut vm, &plan, &profile)?;
    let prepare_s = t.elapsed().as_secs_f64();
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
    // What a run on a stored seeded fixture does instead of making and
    // seeding one: attach a copy-on-write copy of it and mount it.
    layout.teardown(vm.ssh())?;
    vm.detach_fixture(true)?;
    let mut attach_s = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        vm.attach_fixture_from_template(&plan.fixture_serial)?;
        layout.mount(vm.ssh())?;
        attach_s.push(t.elapsed().as_secs_f64());
        vm.ssh()
            .run("bench-umount", &layout.discard_script(), long)?;
        vm.detach_fixture(false)?;
    }
    vm.shutdown()?;
    println!(
        "fixture seed {seed}: {entries} entries, {:.1} MB of file data; accelerator {}",
        bytes as f64 / 1e6,
        plan.accel_reason
    );
    println!("  new fixture (disk, mkfs, guest programs) {prepare_s:.2}s, then seeding:");
    print_summary("seed", "s", &seed_s);
    print_summary("stored seeded fixture: attach + mount", "s", &attach_s);
    print_summary("digest", "s", &digest_s);
    print_summary("digest rate", "entries/s", &rate);
    Ok(Outcome::Passed)
}

/// Resume to SSH-ready, median, under TCG on an idle machine (issue 17).
const RESUME_TARGET_S: f64 = 1.0;

fn bench_boot(boot: &crate::cli::BootArgs, runs: usize, cold_runs: usize) -> Result<Outcome> {
    let mut overrides = boot.overrides()?;
    let profile = plan::load_profile(&overrides)?;
    let image = crate::image::ensure(&profile.vm.image)?;
    let new_plan = |o: &BootOverrides, kind: &str| {
        let run_id = format!("bench-{kind}-{}", files::new_run_id());
        let run_dir = crate::workspace::runs_dir()?.join(&run_id);
        plan::plan_boot(&profile, &image, o, &run_dir, &run_id, Vec::new())
    };
    let mut accel_line = String::new();
    let (mut resumes, mut ready, mut with_fixture) = (Vec::new(), Vec::new(), Vec::new());
    if runs > 0 && !overrides.cold_boot {
        let plan = new_plan(&overrides, "resume")?;
        accel_line = plan.accel_reason.clone();
        if let Some(store) = &plan.vm.saved_states {
            let t = Instant::now();
            let state = crate::vm::resume::ensure_state(&plan.vm, store)?;
            println!(
                "saved VM state {} ready in {:.1}s (built in {:.1}s when it was made)",
                state.dir.display(),
                t.elapsed().as_secs_f64(),
                state.meta.provision_seconds
            );
        }
        for i in 1..=runs {
            let plan = new_plan(&overrides, "resume")?;
            let t = Instant::now();
            let mut vm = Vm::boot(plan.vm.clone())?;
            let up = t.elapsed().as_secs_f64();
            if !vm.state().timeline.resumed {
                anyhow::bail!("boot {i} did not resume from the saved state (see above why)");
            }
            let dev = vm.attach_fixture(plan.fixture_size_mib, &plan.fixture_serial)?;
            vm.ssh().run(
                "bench-mkfs",
                &format!("mkfs.btrfs -q -f {dev}"),
                Duration::from_secs(300),
            )?;
            let all = t.elapsed().as_secs_f64();
            let timeline = vm.state().timeline.clone();
            vm.shutdown()?;
            eprintln!("[bench] resume {i}/{runs}: SSH ready after {up:.2}s, fixture formatted after {all:.2}s");
            ready.push(up);
            with_fixture.push(all);
            resumes.push(timeline);
        }
    }
    let mut colds = Vec::new();
    overrides.cold_boot = true;
    for i in 1..=cold_runs {
        let plan = new_plan(&overrides, "cold")?;
        accel_line = plan.accel_reason.clone();
        let vm = Vm::boot(plan.vm)?;
        let t = vm.state().timeline.clone();
        vm.shutdown()?;
        eprintln!(
            "[bench] cold boot {i}/{cold_runs}: SSH ready after {:.2}s",
            t.ssh_ready.unwrap_or_default()
        );
        colds.push(t);
    }
    println!("accelerator {accel_line}");
    if !resumes.is_empty() {
        println!("resume from the saved state, {} run(s):", resumes.len());
        print_phases(&resumes);
        print_summary("resume to SSH-ready", "s", &ready);
        if let Some(s) = summarize(&ready) {
            println!(
                "  target: resume to SSH-ready <= {RESUME_TARGET_S:.1}s median: {:.2}s {}",
                s.median,
                met(s.median <= RESUME_TARGET_S)
            );
        }
        print_summary("+ fixture + mkfs", "s", &with_fixture);
    }
    if !colds.is_empty() {
        println!("cold boot (kernel, cloud-init), {} run(s):", colds.len());
        print_phases(&colds);
        let total: Vec<f64> = colds.iter().filter_map(|t| t.ssh_ready).collect();
        print_summary("cold boot to SSH", "s", &total);
    }
    Ok(Outcome::Passed)
}

/// Figures of one suite run.
struct SuiteFigures {
    wall: f64,
    overhead_share: f64,
    /// The tool's and the fixture work's shares of the runs' wall time.
    tool_share: f64,
    fixture_share: f64,
    boot_per_start: f64,
}

fn suite_figures(
    suite: &crate::runner::suite::SuiteReport,
    reports: &[crate::report::RunReport],
) -> SuiteFigures {
    let mut work = crate::report::WorkSeconds::default();
    for r in reports {
        work.add(&r.work);
    }
    let wall: f64 = reports.iter().map(|r| r.seconds).sum();
    let boot: f64 = reports.iter().map(|r| r.boot_seconds()).sum();
    let share = |x: f64| if wall > 0.0 { x / wall } else { 0.0 };
    SuiteFigures {
        wall: suite.seconds,
        overhead_share: work.overhead_share(wall),
        tool_share: share(work.tool),
        fixture_share: share(work.fixture),
        boot_per_start: if work.vm_starts > 0 {
            boot / f64::from(work.vm_starts)
        } else {
            0.0
        },
    }
}

fn bench_run_all(boot: &crate::cli::BootArgs, runs: usize, jobs: Option<usize>) -> Result<Outcome> {
    use crate::report::benchmark::{BOOT_PER_START_TARGET_S, OVERHEAD_TARGET};
    crate::signals::install();
    let profiles = crate::profile::paths_or_default(&boot.profile)?;
    let opts = super::run::suite_options(boot)?;
    let mut memory = 0;
    for p in &profiles {
        memory = memory.max(crate::profile::load(p)?.vm.memory_mib);
    }
    let parallel = crate::jobs::here(jobs, memory).n;
    let mut outcome = Outcome::Passed;
    let mut figures: Vec<(usize, Vec<SuiteFigures>)> = vec![(1, Vec::new())];
    if parallel > 1 {
        figures.push((parallel, Vec::new()));
    }
    for i in 1..=runs {
        for (j, figs) in figures.iter_mut() {
            eprintln!("[bench] run-all -j {j}, run {i}/{runs}");
            let (suite, reports) = crate::runner::suite::run_suite(&profiles, &opts, Some(*j))?;
            if suite.outcome() != Outcome::Passed {
                outcome = suite.outcome();
            }
            figs.push(suite_figures(&suite, &reports));
        }
    }
    let names: Vec<String> = profiles.iter().map(|p| p.display().to_string()).collect();
    println!(
        "run-all of {} group(s): {}",
        profiles.len(),
        names.join(", ")
    );
    let median = |v: Vec<f64>| summarize(&v).map_or(0.0, |s| s.median);
    for (j, figs) in &figures {
        print_summary(
            &format!("wall, -j {j}"),
            "s",
            &figs.iter().map(|f| f.wall).collect::<Vec<_>>(),
        );
    }
    if let [(_, one), (n, many)] = figures.as_slice() {
        let (a, b) = (
            median(one.iter().map(|f| f.wall).collect()),
            median(many.iter().map(|f| f.wall).collect()),
        );
        println!(
            "  target: -j {n} not slower than -j 1: {b:.1}s vs {a:.1}s ({:.2}x) {}",
            a / b.max(f64::MIN_POSITIVE),
            met(b <= a)
        );
    } else {
        println!("  (one core or memory for one VM: no parallel figure)");
    }
    let all: Vec<&SuiteFigures> = figures.iter().flat_map(|(_, f)| f).collect();
    let share = median(all.iter().map(|f| f.overhead_share).collect());
    println!(
        "  harness overhead share median {:.0}% (target <= {:.0}%): {}",
        share * 100.0,
        OVERHEAD_TARGET * 100.0,
        met(share <= OVERHEAD_TARGET)
    );
    println!(
        "  the tool's share median {:.0}%, fixture work {:.0}%",
        median(all.iter().map(|f| f.tool_share).collect()) * 100.0,
        median(all.iter().map(|f| f.fixture_share).collect()) * 100.0,
    );
    let per = median(all.iter().map(|f| f.boot_per_start).collect());
    println!(
        "  boot per VM start median {per:.1}s (target <= {BOOT_PER_START_TARGET_S:.0} s): {}",
        met(per <= BOOT_PER_START_TARGET_S)
    );
    Ok(outcome)
}

/// Each phase's median and spread over the timelines (all of one kind).
fn print_phases(timelines: &[BootTimeline]) {
    let Some(first) = timelines.first() else {
        return;
    };
    for (idx, (name, _)) in phases(first).iter().enumerate() {
        let v: Vec<f64> = timelines.iter().map(|t| phases(t)[idx].1).collect();
        print_summary(name, "s", &v);
    }
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
            ..Default::default()
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

    #[test]
    fn a_resume_has_its_own_phases() {
        let t = BootTimeline {
            qmp_ready: Some(0.05),
            state_loaded: Some(0.3),
            ssh_ready: Some(1.3),
            resumed: true,
            ..Default::default()
        };
        let p = phases(&t);
        let names: Vec<&str> = p.iter().map(|x| x.0).collect();
        assert_eq!(names, ["QEMU start", "state load", "SSH login, clock set"]);
        let sum: f64 = p.iter().map(|x| x.1).sum();
        assert!((sum - 1.3).abs() < 1e-9);
    }
}
