//! `vmharness run-all` and `vmharness run NAME...`.

use crate::cli::BootArgs;
use crate::exit::Outcome;
use crate::plan::BootOverrides;
use crate::runner::{self, RunOptions};
use anyhow::Result;

pub fn run(boot: &BootArgs, names: Option<&[String]>) -> Result<Outcome> {
    crate::signals::install();
    let overrides = BootOverrides::from(boot);
    let profile = overrides
        .profile
        .clone()
        .unwrap_or_else(crate::profile::default_path);
    let opts = RunOptions {
        overrides,
        cmd_override: std::env::var(crate::profile::tool::CMD_ENV).ok(),
        runs_dir: crate::paths::runs_dir(),
    };
    runner::run(&profile, &opts, names)
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
    let catalogue = a.catalogue.clone().unwrap_or_else(|| {
        crate::paths::project_dir()
            .join("reference-tool")
            .join("DEFECTS.md")
    });
    crate::matrix::run(&crate::matrix::MatrixOptions {
        run: RunOptions {
            overrides,
            cmd_override: None,
            runs_dir: crate::paths::runs_dir(),
        },
        catalogue,
        only: a.only.clone(),
        jobs: a.jobs,
    })
}
