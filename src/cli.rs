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
    ///
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
    ///
    /// Example: vmharness doctor
    ///
    /// Example: vmharness doctor --json | jq '.checks[] | select(.status != "ok")'
    Doctor {
        /// Print the checks as JSON on stdout (name, status ok/warn/fail, detail, fix).
        #[arg(long)]
        json: bool,
    },
    /// Make the current directory (your tool's repository) a vmharness workspace.
    ///
    /// Writes a commented `vmharness.toml` whose `[tool] source_dir` is this
    /// directory, and adds the runs directory (`vmharness-runs/`) to
    /// `.gitignore`. `run-all` and the other commands then find it from here
    /// or any directory below, the way cargo finds Cargo.toml.
    ///
    /// Example: vmharness init   (in ~/src/btrfs_to_s3, then `vmharness run-all`)
    Init {
        /// Replace an existing vmharness.toml.
        #[arg(long)]
        force: bool,
    },
    /// Build, list and prune guest images.
    ///
    /// Example: vmharness image list
    #[command(subcommand)]
    Image(ImageCommand),
    /// Boot a VM for debugging, run commands in it, and stop it.
    ///
    /// Example: vmharness vm up && vmharness vm ssh -- uname -r && vmharness vm down
    #[command(subcommand)]
    Vm(VmCommand),
    /// Remove what killed runs left behind (QEMU processes, disks, sockets).
    ///
    /// Example: vmharness gc
    Gc,
    /// Empty the profile's S3 prefix: delete every object under it and abort
    /// its incomplete multipart uploads (aws/endpoint backends; an embedded
    /// run's store lives in its run directory).
    ///
    /// Example: vmharness cleanup --profile my-aws-profile.toml
    Cleanup {
        /// Profile file (default: config/test.toml).
        #[arg(long)]
        profile: Option<PathBuf>,
    },
    /// The embedded S3 endpoint, standalone (for developers of backup tools, and to debug).
    ///
    /// Example: vmharness s3 serve --dir /tmp/s3 --port 9000
    #[command(subcommand)]
    S3(S3Command),
    /// Measure boot-to-SSH-ready time over several boots.
    ///
    /// Example: vmharness bench boot --runs 5
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Check profiles and show the effective one, without booting anything.
    ///
    /// Example: vmharness config check --profile config/test.toml --profile config/faults.toml
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script on stdout.
    ///
    /// Example: vmharness completions bash > ~/.local/share/bash-completion/completions/vmharness
    ///
    /// Example: vmharness completions zsh > ~/.zfunc/_vmharness
    ///
    /// Example: vmharness completions fish > ~/.config/fish/completions/vmharness.fish
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
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
    Serve(crate::s3::server::cli::ServeArgs),
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
    ///
    /// Example: vmharness image list
    ///
    /// Example: vmharness image list --json
    List {
        /// Print the images as JSON on stdout (name, recipe hash, path, size,
        /// built time, packages.lock).
        #[arg(long)]
        json: bool,
    },
    /// Remove cached images not built from the current recipes (all with --all).
    ///
    /// Example: vmharness image prune
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
    /// After the run, print a JSON summary on stdout (run id and directory,
    /// outcome and exit code, counts by verdict, failing checks, report
    /// paths); everything else goes to stderr.
    #[arg(long)]
    pub json: bool,
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
    /// Only these defects or quirks (comma-separated names from the catalogues).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// The quirk catalogue: each quirk runs as a case on its scenarios, and
    /// every baseline runs with all quirks on (default:
    /// reference-tool/QUIRKS.md when the default defect catalogue is used).
    #[arg(long)]
    pub quirks: Option<PathBuf>,
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
    /// the book's reference-tool chapter (docs/src/reference-tool.md),
    /// between its detection-table markers. `--update-readme` (from when
    /// the table was in README.md) still works.
    #[arg(long, alias = "update-readme")]
    pub update_docs: bool,
}

#[derive(Subcommand, Debug)]
pub enum VmCommand {
    /// Boot a VM with a fresh fixture disk; returns once SSH answers.
    ///
    /// Example: vmharness vm up && vmharness vm ssh -- uname -r && vmharness vm down
    Up(BootArgs),
    /// Run a command in a running VM (the latest one unless --run names another).
    ///
    /// Example: vmharness vm ssh -- btrfs filesystem show
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
    ///
    /// Example: vmharness vm down --run 20240101-000000-abcd
    Down {
        #[arg(long)]
        run: Option<String>,
    },
    /// List running VMs.
    ///
    /// Example: vmharness vm list
    List,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Start VMs several times: resume to SSH, resume plus fixture hot-plug
    /// plus mkfs, and cold boot to SSH, per phase (median and spread), next
    /// to the targets.
    ///
    /// Example: vmharness bench boot --runs 5 --cold-runs 2
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
    /// PUT and GET large objects on the embedded endpoint from the host,
    /// next to the host's hash bound (MD5 and SHA-256 of the same bytes,
    /// computed at once): seconds, MiB/s and the ratio to the bound. No VM.
    ///
    /// Example: vmharness bench s3 --size-mib 64 --runs 3
    S3 {
        /// Object size in MiB.
        #[arg(long, default_value_t = 64)]
        size_mib: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Seed and digest the fixture in one VM several times: seconds and entries per second in the guest.
    ///
    /// Example: vmharness bench fixture --runs 3 --seed 42
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

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate profiles without booting anything.
    ///
    /// Parses and validates each profile, then checks what the host can: the
    /// tool tree, the JSON Schema files, the image recipe, the scenarios on
    /// the backend, the S3 settings. Prints "ok: <file>" or the errors.
    /// Exit 0: all valid; 2: not.
    ///
    /// Example: vmharness config check
    ///
    /// Example: vmharness config check --profile config/test.toml --profile config/faults.toml
    Check {
        /// Profile file (default: config/test.toml); several allowed.
        #[arg(long)]
        profile: Vec<PathBuf>,
    },
    /// Print the effective profile: every key, defaults filled in.
    ///
    /// Secret values (keys naming a secret, password or token, but not the
    /// `*_env` keys that name a host variable) are masked as "****", and the
    /// masked keys are named.
    ///
    /// Example: vmharness config show --profile config/faults.toml
    ///
    /// Example: vmharness config show --json | jq .s3
    Show {
        /// Profile file (default: config/test.toml).
        #[arg(long)]
        profile: Option<PathBuf>,
        /// JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
}

pub fn main() -> i32 {
    crate::logging::init();
    crate::events::set_sink(std::sync::Arc::new(
        crate::commands::terminal::Terminal::detect(),
    ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every visible subcommand, as (its path after `vmharness`, its long help).
    fn visible(cmd: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let here = format!("{path} {}", sub.get_name()).trim().to_string();
            let help = sub
                .get_long_about()
                .or(sub.get_about())
                .map(|s| s.to_string())
                .unwrap_or_default();
            // Two examples in one paragraph would be joined into one line.
            assert!(
                help.lines().all(|l| !l.contains("Example:")
                    || l.starts_with("Example:") && l.matches("Example:").count() == 1),
                "{here}: put a blank `///` line between examples:\n{help}"
            );
            out.push((here.clone(), help));
            visible(sub, &here, out);
        }
    }

    #[test]
    fn every_visible_subcommand_has_an_example_of_itself() {
        let mut all = Vec::new();
        visible(&Cli::command(), "", &mut all);
        assert!(all.len() > 20, "{} subcommands", all.len());
        let missing: Vec<&str> = all
            .iter()
            .filter(|(path, help)| {
                !help.lines().any(|l| {
                    l.trim_start()
                        .starts_with(&format!("Example: vmharness {path}"))
                })
            })
            .map(|(path, _)| path.as_str())
            .collect();
        assert!(
            missing.is_empty(),
            "add an `Example: vmharness <subcommand> ...` line to the doc comment of: {}",
            missing.join(", ")
        );
    }

    #[test]
    fn the_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn json_flags_parse() {
        let cli = Cli::try_parse_from(["vmharness", "run-all", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::RunAll(RunAllArgs { json: true, .. })
        ));
        let cli = Cli::try_parse_from(["vmharness", "image", "list", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Image(ImageCommand::List { json: true })
        ));
        let cli = Cli::try_parse_from(["vmharness", "completions", "zsh"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Completions {
                shell: clap_complete::Shell::Zsh
            }
        ));
        assert!(Cli::try_parse_from(["vmharness", "completions", "tcsh"]).is_err());
    }

    /// The detection table moved from README.md into the book: the flag's
    /// old name still works.
    #[test]
    fn update_docs_and_its_old_name_parse() {
        for flag in ["--update-docs", "--update-readme"] {
            let cli = Cli::try_parse_from(["vmharness", "defects", flag]).unwrap();
            assert!(
                matches!(
                    cli.command,
                    Command::Defects(DefectsArgs {
                        update_docs: true,
                        ..
                    })
                ),
                "{flag}"
            );
        }
    }
}
