//! `vmharness completions SHELL`: the completion script on stdout.

use crate::exit::Outcome;
use anyhow::Result;
use clap::CommandFactory;

pub fn run(shell: clap_complete::Shell) -> Result<Outcome> {
    clap_complete::generate(
        shell,
        &mut crate::cli::Cli::command(),
        "vmharness",
        &mut std::io::stdout(),
    );
    Ok(Outcome::Passed)
}
