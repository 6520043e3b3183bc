//! `vmharness init`: make the current directory a workspace.

use crate::exit::Outcome;
use anyhow::{Context, Result};

pub fn run(force: bool) -> Result<Outcome> {
    let here = std::env::current_dir().context("reading the current directory")?;
    let done = crate::workspace::init(&here, force)?;
    println!("wrote {}", done.profile.display());
    if let Some(ignore) = &done.gitignore {
        println!(
            "added /{}/ to {}",
            crate::workspace::DEFAULT_RUNS_DIR,
            ignore.display()
        );
    }
    println!("next: `vmharness run-all` (from here or any directory below)");
    Ok(Outcome::Passed)
}
