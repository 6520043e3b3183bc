//! Compares two digest files written by `guest/fixture.py digest`.
//! Exit status: 0 equal (modulo exceptions), 1 mismatches, 2 unreadable input.
//!
//!     cargo run --example digest_compare -- SOURCE TARGET [--incremental]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use vmharness::digest::{compare_texts, render, CompareOptions, ReportLimits};

#[derive(Parser)]
struct Args {
    source: PathBuf,
    target: PathBuf,
    /// The last stream received was an incremental one.
    #[arg(long)]
    incremental: bool,
    /// Send stream protocol version.
    #[arg(long, default_value_t = 1)]
    protocol: u8,
    /// Do not compare hole maps.
    #[arg(long)]
    no_holes: bool,
    /// Accept differences in this xattr (repeatable).
    #[arg(long)]
    ignore_xattr: Vec<String>,
    /// Accept atime differences.
    #[arg(long)]
    ignore_atime: bool,
    /// Examples printed per group.
    #[arg(long, default_value_t = 5)]
    examples: usize,
    /// Print the comparison as JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn run(args: &Args) -> anyhow::Result<bool> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).with_context(|| format!("reading digest {}", p.display()))
    };
    let options = CompareOptions {
        incremental: args.incremental,
        send_protocol: args.protocol,
        enforce_holes: !args.no_holes,
        ignore_xattrs: args
            .ignore_xattr
            .iter()
            .map(|n| n.as_bytes().to_vec())
            .collect(),
        ignore_atime: args.ignore_atime,
    };
    let started = std::time::Instant::now();
    let comparison = compare_texts(&read(&args.source)?, &read(&args.target)?, &options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        print!(
            "{}",
            render(
                &comparison,
                ReportLimits {
                    examples_per_group: args.examples
                }
            )
        );
        eprintln!("compared in {:.3} s", started.elapsed().as_secs_f64());
    }
    Ok(comparison.passed())
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("digest_compare: {e:#}");
            ExitCode::from(2)
        }
    }
}
