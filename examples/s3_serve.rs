//! Temporary developer entry point for `vmharness s3 serve` until the
//! top-level CLI wires in `vmharness::s3::cli::ServeArgs`.
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: vmharness::s3::cli::ServeArgs,
}

fn main() {
    std::process::exit(vmharness::s3::cli::run_serve(Cli::parse().serve));
}
