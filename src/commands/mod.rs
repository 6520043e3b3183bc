//! One module per subcommand; each returns an `Outcome` or an error.

mod bench;
mod bench_s3;
mod cleanup;
mod completions;
mod config;
mod doctor;
pub(crate) mod gc;
mod image;
mod init;
mod report;
mod repro;
mod run;
mod shell;
pub(crate) mod terminal;
pub(crate) mod vm;

use crate::cli::Command;
use crate::exit::Outcome;

pub fn dispatch(cmd: Command) -> anyhow::Result<Outcome> {
    match cmd {
        Command::RunAll(args) => run::run_all(&args),
        Command::Run {
            boot,
            debug,
            scenarios,
        } => run::run(&boot, &debug, Some(&scenarios)),
        Command::Ssh { run, command } => shell::ssh(run.as_deref(), &command),
        Command::Shell(boot) => shell::shell(&boot),
        Command::Repro { run, debug } => repro::run(run.as_deref(), &debug),
        Command::Defects(a) => run::defects(&a),
        Command::Init { force } => init::run(force),
        Command::Report(a) => report::run(a),
        Command::Doctor { json } => doctor::run(json),
        Command::Image(c) => image::run(c),
        Command::Vm(c) => vm::run(c),
        Command::Gc => gc::run(),
        Command::Cleanup { profile } => cleanup::run(profile.as_deref()),
        Command::S3(crate::cli::S3Command::Serve(args)) => {
            Ok(Outcome::Code(crate::s3::server::cli::run_serve(args)))
        }
        Command::Bench(c) => bench::run(c),
        Command::Config(c) => config::run(c),
        Command::Completions { shell } => completions::run(shell),
        Command::Supervise { run_dir } => vm::supervise(&run_dir),
        Command::Relay { addr } => crate::vm::relay::relay(&addr).map(|_| Outcome::Passed),
    }
}
