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
    let BenchCommand::Boot { boot, runs } = cmd;
    let overrides = BootOverrides::from(&boot);
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
        if let Some(s) = summarize(&v) {
            println!("  {name:<20} {s}");
        }
    }
    let total: Vec<f64> = timelines.iter().filter_map(|t| t.ssh_ready).collect();
    if let Some(s) = summarize(&total) {
        println!("  {:<20} {s}", "total");
    }
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
