//! `vmharness repro RUN`: the same inputs again, into a new run.

use crate::exit::Outcome;
use crate::plan::BootOverrides;
use crate::repro::{self, Inputs, Repro};
use crate::runner::{self, RunOptions};
use anyhow::{Context, Result};
use std::path::PathBuf;

pub fn run(run: Option<&str>, debug: &crate::cli::DebugArgs) -> Result<Outcome> {
    crate::signals::install();
    let runs = crate::workspace::runs_dir()?;
    let dir = crate::report::find_run(&runs, run.unwrap_or("latest"))?;
    let results = dir.join(crate::report::RESULTS_JSON);
    let report = crate::report::load(&dir)?;
    if !report.groups.is_empty() {
        anyhow::bail!(
            "{} is a merged report of {} group(s) ({}): repro reruns one run; give one \
             group's run directory (suite.json lists them)",
            dir.display(),
            report.groups.len(),
            report.groups.join(", ")
        );
    }
    let then = report.repro.with_context(|| {
        format!(
            "{} has no `repro` object (written by an older vmharness): rerun it by hand \
             with --profile {}",
            results.display(),
            report.profile
        )
    })?;
    let saved = dir.join(repro::PROFILE_COPY);
    if !saved.is_file() {
        anyhow::bail!(
            "{} is missing: the run's profile was not saved",
            saved.display()
        );
    }
    let mut opts = options(&then, saved.clone(), runs);
    opts.keep_on_failure = runner::keep::from_env(debug.keep_on_failure);
    let profile = crate::profile::load(&saved)?;
    let image = crate::image::ensure(&profile.vm.image)?;
    let now = Repro::of_run(
        &Inputs {
            profile: &profile,
            profile_file: &saved,
            image: &image,
            scenarios: &then.scenarios,
            overrides: &opts.overrides,
            cmd_override: opts.cmd_override.as_deref(),
            accel: then.accel,
        },
        runner::tool_version(&profile),
    );
    eprintln!(
        "[repro] rerunning {} (scenarios: {}; seed {}; accel {})",
        report.run_id,
        then.scenarios.join(" "),
        then.seed,
        then.accel
    );
    for w in repro::differences(&then, &now) {
        eprintln!("warning: {w}");
    }
    runner::run(&saved, &opts, Some(&then.scenarios))
}

/// The options that give a rerun the recorded inputs.
fn options(r: &Repro, profile: PathBuf, runs_dir: PathBuf) -> RunOptions {
    let path = |f: &Option<repro::FileHash>| f.as_ref().map(|f| PathBuf::from(&f.path));
    RunOptions {
        overrides: BootOverrides {
            profile: Some(profile),
            accel: Some(r.accel),
            kernel: path(&r.kernel_file),
            initrd: path(&r.initrd_file),
            keep: false,
            cold_boot: r.cold_boot,
        },
        cmd_override: r.tool_cmd_override.clone(),
        runs_dir,
        keep_on_failure: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rerun_takes_the_recorded_inputs() {
        let r = crate::repro::sample();
        let o = options(&r, "/runs/r1/profile.toml".into(), "/runs".into());
        assert_eq!(o.overrides.profile, Some("/runs/r1/profile.toml".into()));
        assert_eq!(o.overrides.accel, Some(r.accel));
        assert_eq!(o.overrides.kernel, Some("/k/vmlinuz".into()));
        assert_eq!(o.overrides.initrd, Some("/k/initrd".into()));
        assert_eq!(o.cmd_override.as_deref(), Some(r#"["false"]"#));
        assert!(!o.overrides.cold_boot && !o.keep_on_failure);
    }
}
