use crate::cli::BenchCommand;
use crate::exit::Outcome;
pub fn run(_c: BenchCommand) -> anyhow::Result<Outcome> { anyhow::bail!("todo") }
