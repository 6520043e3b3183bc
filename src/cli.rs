//! The command line: parses arguments and hands each subcommand to the library.

use crate::exit::{self, Outcome};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "vmharness",
    version,
    about = "End-to-end tests of Btrfs-to-S3 backup tools inside disposable QEMU VMs",
    after_help = "Exit codes: 0 all checks passed, 1 the tool under test failed a check, \
                  2 the harness or its infrastructure failed (125 with --bisect)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the profile's scenarios against the tool and write the reports (the main job).
    ///
    /// Several --profile: each profile is a group run in a VM of its own, up
    /// to -j at once, and the reports merge into one (run/suite-<id>/).
    ///
    /// Example: vmharness run-all --profile config/test.toml
    RunAll(RunAllArgs),
    /// Run some scenarios by name, in the order given.
    ///
    /// `faults` names the faults group (power-loss, network-cut, s3-errors,
    /// corruption, missing-parent, rapid-runs, ordering, no-credentials),
    /// after setup and seed unless they were named before it.
    ///
    /// Example: vmharness run setup seed full restore verify
    /// Example: vmharness run faults
    Run {
        #[command(flatten)]
        boot: BootArgs,
        #[command(flatten)]
        debug: DebugArgs,
        #[arg(required = true)]
        scenarios: Vec<String>,
    },
    /// Run every defect of the reference tool's catalogue through the scenarios that must catch it.
    ///
    /// One VM per profile; each case starts from a copy of one seeded fixture.
    /// The cases run the profiles' tool (the reference tool, whose
    /// REFTOOL_DEFECT switches the defects on); BTRFS_TO_S3_CMD is not used.
    /// Exit 0: every defect was caught by its named check with the catalogue's
    /// verdict, nothing else failed, and the correct tool passed everything;
    /// 1: a promise of the catalogue did not hold; 2: the harness failed.
    ///
    /// Example: vmharness defects --only wrong-sha256,no-lock
    Defects(DefectsArgs),
    /// Print a past run's summary (the final table) and its report files; exit with its outcome.
    ///
    /// RUN: a run id under the runs directory, a path to a run directory,
    /// or `latest` (default). Writes report.html when the run lacks it.
    /// `report merge DIR...` joins several runs (e.g. the shards of a
    /// run-all) into one report.
    ///
    /// Example: vmharness report
    ///
    /// Example: vmharness report merge run/suite-A run/suite-B
    Report(ReportArgs),
    /// Check the programs, acceleration, disk and memory a run needs, and say how to fix what is missing.
    Doctor,
    /// Build, list and prune guest images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Boot a VM for debugging, run commands in it, and stop it.
    #[command(subcommand)]
    Vm(VmCommand),
    /// Remove what killed runs left behind (QEMU processes, disks, sockets).
    Gc,
    /// Empty the profile's S3 prefix: delete every object under it and abort
    /// its incomplete multipart uploads (aws/endpoint backends; an embedded
    /// run's store lives in its run directory).
    Cleanup {
        /// Profile file (default: config/test.toml).
        #[arg(long)]
        profile: Option<PathBuf>,
    },
    /// The embedded S3 endpoint, standalone (for developers of backup tools, and to debug).
    #[command(subcommand)]
    S3(S3Command),
    /// Measure boot-to-SSH-ready time over several boots.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Open a shell (or run COMMAND) in a running VM with the host's ssh.
    ///
    /// RUN is a run id (default: the latest running VM): a `vm up` VM or a
    /// run kept by --keep-on-failure. Needs openssh-client.
    ///
    /// Example: vmharness ssh 20260101-120000-ab12
    ///
    /// Example: vmharness ssh -- btrfs subvolume list /mnt/btrfs
    Ssh {
        /// Run id (default: the latest running VM).
        run: Option<String>,
        /// Run this in the guest instead of a shell (after `--`; its status is the exit code).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Boot a VM, run the `setup` scenario (fixture, tool installed and
    /// configured, embedded S3 up) and open an interactive shell in the
    /// guest; the VM is torn down when the shell exits.
    ///
    /// Example: vmharness shell --profile config/defects.toml
    Shell(BootArgs),
    /// Rerun a run with the inputs its results.json recorded (its saved
    /// profile, scenarios, seed, BTRFS_TO_S3_CMD, kernel/initrd, accel)
    /// into a new run; first warns of what differs now.
    ///
    /// Example: vmharness repro 20260101-120000-ab12
    Repro {
        /// Run id (default: the latest run, run/latest).
        run: Option<String>,
        #[command(flatten)]
        debug: DebugArgs,
    },
    /// Internal: the supervisor process that owns one VM (started by `vm up`).
    #[command(name = "__supervise", hide = true)]
    Supervise {
        #[arg(long)]
        run_dir: PathBuf,
    },
    /// Internal: relays one guest connection (stdin/stdout) to a host address (run by QEMU).
    #[command(name = "__relay", hide = true)]
    Relay { addr: String },
}

#[derive(Subcommand, Debug)]
pub enum S3Command {
    /// Serve a bucket from a directory; prints the URL and credentials; Ctrl-C stops it.
    ///
    /// Example: vmharness s3 serve --dir /tmp/s3 --port 9000
    Serve(crate::s3::cli::ServeArgs),
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Build the image for a recipe (instant when it is already cached).
    ///
    /// Example: vmharness image build debian-13
    Build {
        /// Recipe name in images/ or path to a recipe file.
        #[arg(default_value = crate::image::DEFAULT_RECIPE)]
        recipe: String,
    },
    /// List cached images.
    List,
    /// Remove cached images not built from the current recipes (all with --all).
    Prune {
        #[arg(long)]
        all: bool,
    },
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: Option<ReportCommand>,
    /// Run id, run directory, or `latest`.
    #[arg(default_value = "latest")]
    pub run: String,
}

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// Merge the results of several runs (run directories, suites, shards)
    /// into one results.json, junit.xml, benchmark.json and report.html.
    ///
    /// Example: vmharness report merge run/suite-A run/suite-B --out run/all
    Merge {
        /// Run directories (each with a results.json), or run ids under the runs directory.
        #[arg(required = true)]
        dirs: Vec<String>,
        /// Where the merged report goes (default: a new run/merged-<id>/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct RunAllArgs {
    #[command(flatten)]
    pub boot: BootArgs,
    /// VMs running groups at once (default: one per core, as many as memory holds).
    #[arg(short, long)]
    pub jobs: Option<usize>,
    /// Run only shard K of N (1-based) of the groups (--profile), split round
    /// robin in the order given; `vmharness report merge` joins the shards.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<crate::runner::shard::Shard>,
    #[command(flatten)]
    pub debug: DebugArgs,
}

/// Options of the commands that run scenarios, for debugging and bisecting.
#[derive(Args, Debug, Clone, Default)]
pub struct DebugArgs {
    /// Stop after the first scenario with a failed check, skip the rest,
    /// and keep the VM (and the embedded S3 endpoint) running in the
    /// foreground: open a shell with `vmharness ssh RUN`; `vmharness vm
    /// down --run RUN` or Ctrl-C ends it. Ignored without a terminal or
    /// when CI is set. One profile only.
    #[arg(long)]
    pub keep_on_failure: bool,
    /// Exit 125 instead of 2 when the harness could not test (for `git bisect run`).
    #[arg(long)]
    pub bisect: bool,
}

impl Command {
    /// Whether `--bisect` was given.
    pub fn bisect(&self) -> bool {
        match self {
            Command::Run { debug, .. } | Command::Repro { debug, .. } => debug.bisect,
            Command::RunAll(a) => a.debug.bisect,
            _ => false,
        }
    }
}

/// Options shared by everything that boots a VM.
#[derive(Args, Debug, Clone)]
pub struct BootArgs {
    /// Profile file (default: config/test.toml); run-all takes several.
    #[arg(long)]
    pub profile: Vec<PathBuf>,
    /// Force the accelerator instead of detecting it.
    #[arg(long)]
    pub accel: Option<crate::accel::Accel>,
    /// Boot this kernel instead of the image's (needs --initrd).
    #[arg(long, requires = "initrd")]
    pub kernel: Option<PathBuf>,
    /// Initrd for --kernel.
    #[arg(long, requires = "kernel")]
    pub initrd: Option<PathBuf>,
    /// Keep the run's disks when the VM stops.
    #[arg(long)]
    pub keep: bool,
    /// Boot the kernel instead of resuming from the saved VM state (the
    /// fast path, used by default and built on first use).
    #[arg(long)]
    pub cold_boot: bool,
}

impl BootArgs {
    /// The overrides of a command that starts one VM (one profile at most).
    pub fn overrides(&self) -> anyhow::Result<crate::plan::BootOverrides> {
        if self.profile.len() > 1 {
            anyhow::bail!(
                "--profile given {} times: this command runs one profile (run-all runs several)",
                self.profile.len()
            );
        }
        Ok(crate::plan::BootOverrides {
            profile: self.profile.first().cloned(),
            accel: self.accel,
            kernel: self.kernel.clone(),
            initrd: self.initrd.clone(),
            keep: self.keep,
            cold_boot: self.cold_boot,
        })
    }
}

#[derive(Args, Debug, Clone)]
pub struct DefectsArgs {
    /// The catalogue (default: reference-tool/DEFECTS.md in the project).
    #[arg(long)]
    pub catalogue: Option<PathBuf>,
    /// Only these defects (comma-separated names from the catalogue).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Force the accelerator instead of detecting it.
    #[arg(long)]
    pub accel: Option<crate::accel::Accel>,
    /// Keep the disks when the VMs stop.
    #[arg(long)]
    pub keep: bool,
    /// Boot the kernel instead of resuming from the saved VM state.
    #[arg(long)]
    pub cold_boot: bool,
    /// VMs running cases at once (default: one per core, as many as memory holds).
    #[arg(short, long)]
    pub jobs: Option<usize>,
    /// Write the detection table (defect -> the check that caught it) into
    /// the project's README.md, between its detection-table markers.
    #[arg(long)]
    pub update_readme: bool,
}

#[derive(Subcommand, Debug)]
pub enum VmCommand {
    /// Boot a VM with a fresh fixture disk; returns once SSH answers.
    ///
    /// Example: vmharness vm up && vmharness vm ssh -- uname -r && vmharness vm down
    Up(BootArgs),
    /// Run a command in a running VM (the latest one unless --run names another).
    Ssh {
        #[arg(long)]
        run: Option<String>,
        /// Seconds before the command is killed.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
    /// Stop a running VM and remove its disks.
    Down {
        #[arg(long)]
        run: Option<String>,
    },
    /// List running VMs.
    List,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Start VMs several times: resume to SSH, resume plus fixture hot-plug
    /// plus mkfs, and cold boot to SSH, per phase (median and spread), next
    /// to the targets.
    Boot {
        #[command(flatten)]
        boot: BootArgs,
        /// Resumes from the saved state (each also hot-plugs and formats a fixture disk).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Cold boots (kernel, cloud-init) for comparison.
        #[arg(long, default_value_t = 2)]
        cold_runs: usize,
    },
    /// Run run-all of some profiles (as groups) with -j 1 and with -j N, several
    /// times: wall time, harness overhead share and boot seconds per VM start.
    ///
    /// Example: vmharness bench run-all --profile config/defects.toml --profile config/archive.toml
    RunAll {
        #[command(flatten)]
        boot: BootArgs,
        #[arg(long, default_value_t = 1)]
        runs: usize,
        /// The parallel figure's -j (default: one per core, as many as memory holds).
        #[arg(short, long)]
        jobs: Option<usize>,
    },
    /// Seed and digest the fixture in one VM several times: seconds and entries per second in the guest.
    Fixture {
        #[command(flatten)]
        boot: BootArgs,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Fixture seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

pub fn main() -> i32 {
    crate::logging::init();
    let cli = Cli::parse();
    let bisect = cli.command.bisect();
    let code = exit::report(crate::commands::dispatch(cli.command));
    if bisect {
        exit::for_bisect(code)
    } else {
        code
    }
}

/// For the `Outcome` type's users.
pub type Result = std::result::Result<Outcome, anyhow::Error>;
