//! `vmharness run-all` and `vmharness run NAME...`.

use crate::cli::{BootArgs, DebugArgs};
use crate::exit::Outcome;
use crate::plan::BootOverrides;
use crate::report::summary::{self, Summary};
use crate::runner::{self, RunOptions};
use anyhow::Result;
use std::path::PathBuf;

/// `vmharness run NAME...`: one profile.
pub fn run(boot: &BootArgs, debug: &DebugArgs, names: Option<&[String]>) -> Result<Outcome> {
    let (profile, opts) = one_profile(boot, debug)?;
    runner::run(&profile, &opts, names)
}

/// The profile and options of a command that runs one profile.
pub(crate) fn one_profile(boot: &BootArgs, debug: &DebugArgs) -> Result<(PathBuf, RunOptions)> {
    crate::signals::install();
    let overrides = boot.overrides()?;
    let profile = crate::profile::path_or_default(overrides.profile.as_deref())?;
    let runs_dir = crate::workspace::runs_dir_for(&profile)?;
    let opts = RunOptions {
        keep_on_failure: runner::keep::from_env(debug.keep_on_failure),
        ..options(overrides, runs_dir)
    };
    Ok((profile, opts))
}

/// `vmharness run-all`: one profile, or several as parallel groups; with
/// `--shard K/N`, only shard K's groups (a shard of several profiles is a
/// suite, even of one group).
pub fn run_all(a: &crate::cli::RunAllArgs) -> Result<Outcome> {
    let all = crate::profile::paths_or_default(&a.boot.profile)?;
    let profiles = match a.shard {
        None => all.clone(),
        Some(shard) => {
            let mine = shard.pick(&all);
            if mine.is_empty() {
                eprintln!(
                    "note: shard {shard} has no group: {} profile(s) split round robin over {} shard(s); nothing to run (exit 0)",
                    all.len(),
                    shard.n
                );
                return Ok(Outcome::Passed);
            }
            eprintln!(
                "shard {shard}: {} of {} group(s): {}",
                mine.len(),
                all.len(),
                mine.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            mine
        }
    };
    // A shard of several profiles is a suite, even of one group.
    let suite = all.len() > 1;
    if suite && runner::keep::from_env(a.debug.keep_on_failure) {
        anyhow::bail!(
            "--keep-on-failure keeps one VM, and run-all got {} profiles (run as parallel \
             groups): rerun the failing group's profile alone, e.g. \
             `vmharness run-all --keep-on-failure --profile {}`",
            all.len(),
            all[0].display()
        );
    }
    if a.json {
        return run_all_json(a, &profiles, suite);
    }
    if !suite {
        return run(&a.boot, &a.debug, None);
    }
    crate::signals::install();
    runner::suite::run(&profiles, &suite_options(&a.boot)?, a.jobs)
}

/// `run-all --json`: everything the run prints goes to stderr; stdout gets
/// the summary (or, when the harness failed before a report, the error).
fn run_all_json(a: &crate::cli::RunAllArgs, profiles: &[PathBuf], suite: bool) -> Result<Outcome> {
    let stdout = crate::jsonout::Reserved::take()?;
    match run_all_summary(a, profiles, suite) {
        Ok((summary, outcome)) => {
            stdout.emit(&summary)?;
            Ok(outcome)
        }
        Err(e) => {
            let outcome = Outcome::HarnessFailed;
            stdout.emit(&Summary::Error {
                outcome: summary::outcome_name(outcome),
                exit_code: outcome.code(),
                error: format!("{e:#}"),
            })?;
            Err(e)
        }
    }
}

fn run_all_summary(
    a: &crate::cli::RunAllArgs,
    profiles: &[PathBuf],
    suite: bool,
) -> Result<(Summary, Outcome)> {
    if !suite {
        let (profile, opts) = one_profile(&a.boot, &a.debug)?;
        let done = runner::run_group(&profile, &opts, None)?;
        let s = summary::run(&done.report, &done.run_dir);
        return Ok((Summary::Run(s), done.outcome));
    }
    crate::signals::install();
    let opts = suite_options(&a.boot)?;
    let (suite, reports) = runner::suite::run_suite(profiles, &opts, a.jobs)?;
    let s = runner::suite::summary(&suite, &opts.runs_dir, &reports);
    Ok((Summary::Suite(s), suite.outcome()))
}

/// The options every group of a suite shares: the command line's, without
/// its profiles (each group has its own).
pub(crate) fn suite_options(boot: &BootArgs) -> Result<RunOptions> {
    let mut shared = boot.clone();
    shared.profile.clear();
    Ok(options(shared.overrides()?, crate::workspace::runs_dir()?))
}

pub(crate) fn options(overrides: BootOverrides, runs_dir: PathBuf) -> RunOptions {
    RunOptions {
        overrides,
        cmd_override: std::env::var(crate::profile::tool::CMD_ENV).ok(),
        runs_dir,
        keep_on_failure: false,
    }
}

/// `vmharness defects`.
pub fn defects(a: &crate::cli::DefectsArgs) -> Result<Outcome> {
    crate::signals::install();
    let overrides = BootOverrides {
        accel: a.accel,
        keep: a.keep,
        cold_boot: a.cold_boot,
        ..Default::default()
    };
    let project = crate::paths::project_dir()?;
    let catalogue = a
        .catalogue
        .clone()
        .unwrap_or_else(|| project.join("reference-tool").join("DEFECTS.md"));
    crate::matrix::run(&crate::matrix::MatrixOptions {
        run: RunOptions {
            cmd_override: None,
            ..options(overrides, crate::workspace::runs_dir()?)
        },
        catalogue,
        only: a.only.clone(),
        jobs: a.jobs,
        update_docs: a
            .update_docs
            .then(|| project.join(crate::matrix::detection::DOCS_PAGE)),
        quirks: match &a.quirks {
            Some(p) => Some(p.clone()),
            None => Some(project.join("reference-tool").join("QUIRKS.md"))
                .filter(|p| p.is_file() && a.catalogue.is_none()),
        },
    })
}
