//! One run's live resources: the endpoint, the VM, the tool's invocation,
//! and the facts scenarios leave for each other.

use crate::events::{self, Scope};
use crate::fixture::FixtureLayout;
use crate::plan::{self, BootOverrides, BootPlan};
use crate::profile::Profile;
use crate::report::{Transfer, TransferKind};
use crate::s3::{Endpoint, S3Client};
use crate::ssh::{Exec, Output};
use crate::tool::{self, ToolInvocation};
use crate::verify::logs::{metrics, parse_log, ParsedLog};
use crate::verify::tool_output::{self, Crash};
use crate::verify::Check;
use crate::vm::{files, relay, Vm};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the command line gives a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub overrides: BootOverrides,
    /// `BTRFS_TO_S3_CMD` as read from the environment.
    pub cmd_override: Option<String>,
    /// Where run directories go.
    pub runs_dir: PathBuf,
    /// Stop at the first failed check and keep the VM for a person (decided
    /// already: a terminal, not CI).
    pub keep_on_failure: bool,
}

/// One backup the tool made, from its log.
#[derive(Debug, Clone)]
pub struct BackupFact {
    pub scenario: String,
    pub subvolume: String,
    /// `full` or `inc`, as `snapshot_created` said.
    pub kind: String,
    pub snapshot_path: String,
    pub manifest_key: String,
    /// The harness's own read-only snapshot of the subvolume taken just
    /// before the backup (the tool may delete its snapshot, rightly or not):
    /// what a restore of this backup is compared with.
    pub reference: Option<String>,
}

impl BackupFact {
    /// The tree a restore of this backup must equal: the harness's own
    /// reference, else the tool's snapshot.
    pub fn source(&self) -> &str {
        self.reference.as_deref().unwrap_or(&self.snapshot_path)
    }
}

/// A tool command's outcome and its parsed log.
#[derive(Clone)]
pub struct ToolRun {
    pub output: Output,
    pub log: ParsedLog,
    /// The tool's own reason when it failed: its last `error=` event, the
    /// exception of a traceback, or its last stderr line.
    pub cause: Option<String>,
    /// How it crashed (an uncaught exception, a signal nobody sent), if it did.
    pub crash: Option<Crash>,
}

impl ToolRun {
    /// Judge what a tool command printed and how it ended; `harness_sent`
    /// are the signals the harness itself sent it (not a crash).
    pub fn new(output: Output, harness_sent: &[String], patterns: &[regex::Regex]) -> ToolRun {
        let stderr = output.stderr_text();
        let log = parse_log(&stderr);
        let sent: Vec<&str> = harness_sent.iter().map(String::as_str).collect();
        // A command the harness killed at its timeout did not crash: it hung.
        let signal = (!output.timed_out)
            .then_some(output.signal.as_deref())
            .flatten();
        let crash = tool_output::crash(&stderr, signal, &sent, patterns);
        let cause = (!output.success() || crash.is_some())
            .then(|| tool_output::cause(&stderr))
            .flatten();
        ToolRun {
            output,
            log,
            cause,
            crash,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.output.success()
    }
    /// A field of the first `event=` record.
    pub fn field(&self, event: &str, key: &str) -> Option<String> {
        self.log
            .events(event)
            .next()
            .and_then(|r| r.get(key))
            .map(str::to_string)
    }
    /// "exit 1", "killed by TERM", "timed out".
    pub fn status_text(&self) -> String {
        match (&self.output.signal, self.output.timed_out) {
            (_, true) => "timed out".into(),
            (Some(sig), _) => format!("killed by {sig}"),
            (None, _) => format!("exit {}", self.output.status),
        }
    }
}

pub struct Session {
    pub profile: Profile,
    pub profile_path: PathBuf,
    pub run_id: String,
    pub run_dir: PathBuf,
    pub rt: tokio::runtime::Runtime,
    pub endpoint: Option<Endpoint>,
    /// Test-only: the endpoint standing in for AWS (see `access`).
    stand_in: Option<Endpoint>,
    /// S3 over https (the embedded endpoint's `transport = "https-proxy"`,
    /// an https endpoint, AWS): the guest's egress proxy.
    pub egress: Option<crate::net::egress::EgressProxy>,
    /// Files put in the guest after each boot (the run's CA certificate).
    pub guest_files: Vec<(String, Vec<u8>)>,
    pub client: S3Client,
    pub plan: BootPlan,
    pub vm: Vm,
    pub tool: ToolInvocation,
    pub layout: FixtureLayout,
    pub boot_seconds: f64,
    /// What the guest's command log never shows (S3 secret keys).
    secrets: Vec<String>,
    /// Facts scenarios leave for later ones.
    pub backups: Vec<BackupFact>,
    /// Snapshot paths the tool reported creating, per subvolume, in order.
    pub snapshots: BTreeMap<String, Vec<String>>,
    pub transfers: Vec<Transfer>,
    /// The tool's and the fixture's own seconds (the rest is overhead).
    pub work: crate::report::WorkSeconds,
    /// The scenario running now (its transfers are labelled with it).
    pub scenario: String,
    /// The checks the running scenario has decided so far, in order (a
    /// scenario that breaks later keeps them).
    pub checks: Vec<Check>,
    /// Every tool command the running scenario ran.
    pub invocations: Vec<Invocation>,
    /// `[tool] crash_patterns`, compiled.
    pub crash_patterns: Vec<regex::Regex>,
    /// Reference snapshots taken so far (their names count up).
    pub references: u32,
    /// The reference tool's quirk code paths (`quirk:where`) its commands
    /// logged (the matrix's proof that a quirk really ran).
    pub quirk_paths: std::collections::BTreeSet<String>,
    /// Checkpoints of the state later scenarios build on (isolation).
    pub checkpoints: super::isolation::Checkpoints,
    /// The variants the running scenario was limited to (`name[variant]`);
    /// None: all of them.
    pub only_variants: Option<Vec<String>>,
    /// The scenarios of the run being executed, in order.
    pub planned: Vec<String>,
    /// The stored seeded fixture `setup` attached (then `seed` has nothing
    /// to do).
    pub seeded_from: Option<crate::fixture::template::Template>,
}

/// One tool command of a scenario, for `verify.tool.no_crash`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Invocation {
    pub label: String,
    pub status: String,
    pub crash: Option<Crash>,
    pub cause: Option<String>,
}

impl Session {
    /// Read the profile, make sure of its image, then [`Session::start`].
    pub fn open(profile_path: &Path, opts: &RunOptions) -> Result<Session> {
        let profile = crate::profile::load(profile_path)?;
        let image = crate::image::ensure(&profile.vm.image)?;
        Session::start(profile_path, profile, &image, opts)
    }

    /// Reach the profile's S3 (starting the embedded endpoint) and boot the
    /// VM the profile describes from `image` (the profile's, read and made
    /// sure of once by the caller).
    pub fn start(
        profile_path: &Path,
        mut profile: crate::profile::Profile,
        image: &crate::image::cache::Entry,
        opts: &RunOptions,
    ) -> Result<Session> {
        let run_id = files::new_run_id();
        let run_dir = opts.runs_dir.join(&run_id);
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("creating {}", run_dir.display()))?;
        let run_dir = run_dir.canonicalize()?;
        let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
        if profile.s3.backend == crate::profile::Backend::Aws {
            profile.s3.prefix = plan::s3::run_prefix(&profile.s3.prefix, &run_id);
        }
        let s3 = super::access::open(&profile, profile_path, &run_dir, &rt, &|n| {
            std::env::var(n).ok()
        })
        .inspect_err(|_| {
            // Refused before anything ran: leave no empty run directory.
            let _ = std::fs::remove_dir(&run_dir);
        })?;
        let tool = tool::invocation(&profile, opts.cmd_override.as_deref(), s3.tool_env)?;
        let exe = relay_exe(&run_dir)?;
        let plan = plan::plan_boot(
            &profile,
            image,
            &opts.overrides,
            &run_dir,
            &run_id,
            s3.forwards.iter().map(|f| f.rule(&exe)).collect(),
        )?;
        events::progress(
            Scope::Run(run_id.clone()),
            format!("profile {}", profile_path.display()),
        );
        let project = crate::paths::project_dir()?;
        events::progress(
            Scope::Run(run_id.clone()),
            format!(
                "tool from {}; recipes, schemas and guest helpers from {}",
                project.join(&profile.tool.source_dir).display(),
                project.display()
            ),
        );
        events::progress(
            Scope::Run(run_id.clone()),
            format!("accelerator: {}", plan.accel_reason),
        );
        events::progress(
            Scope::Run(run_id.clone()),
            format!("image {} kernel {}", plan.image_name, plan.kernel_release),
        );
        if profile.s3.backend == crate::profile::Backend::Aws {
            events::progress(
                Scope::Run(run_id.clone()),
                format!(
                    "AWS bucket {}, this run's prefix {}",
                    profile.s3.bucket,
                    profile.s3.normalized_prefix()
                ),
            );
        }
        if let Some(egress) = &s3.egress {
            events::progress(
                Scope::Run(run_id.clone()),
                format!(
                    "S3 over https through the egress proxy ({} in the guest, \
                     {} on the host; CONNECTs in {})",
                    relay::guest_proxy_url(),
                    egress.addr(),
                    plan::s3::EGRESS_FILE
                ),
            );
        }
        let (vm, boot_seconds) = boot_vm(&plan, &s3.secrets, &run_id, &s3.guest_files)?;
        let layout = FixtureLayout::new(&profile.btrfs);
        let crash_patterns = profile.tool.crash_regexes()?;
        Ok(Session {
            profile,
            profile_path: profile_path.to_path_buf(),
            run_id,
            run_dir,
            rt,
            endpoint: s3.endpoint,
            stand_in: s3.stand_in,
            egress: s3.egress,
            guest_files: s3.guest_files,
            client: s3.client,
            plan,
            vm,
            tool,
            layout,
            boot_seconds,
            secrets: s3.secrets,
            backups: Vec::new(),
            snapshots: BTreeMap::new(),
            transfers: Vec::new(),
            work: crate::report::WorkSeconds {
                vm_starts: 1,
                ..Default::default()
            },
            scenario: String::new(),
            checks: Vec::new(),
            invocations: Vec::new(),
            crash_patterns,
            references: 0,
            quirk_paths: Default::default(),
            checkpoints: Default::default(),
            only_variants: None,
            planned: Vec::new(),
            seeded_from: None,
        })
    }

    /// The running scenario is to carry out its variant `v`.
    pub fn runs_variant(&self, v: &str) -> bool {
        self.only_variants
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == v))
    }

    /// Start recording for scenario `name`.
    pub fn begin_scenario(&mut self, name: &str) {
        self.scenario = name.to_string();
        self.checks.clear();
        self.invocations.clear();
    }

    /// Record a check as soon as it is decided. A failing check's diagnosis
    /// ends with the tool's own cause when the scenario's latest tool
    /// command failed or crashed and said why.
    pub fn record(&mut self, mut c: Check) {
        if c.verdict == crate::verify::Verdict::Fail {
            if let Some(cause) = self.invocations.last().and_then(|i| i.cause.as_deref()) {
                if !c.diagnosis.contains(cause) {
                    c.diagnosis = format!("{}; the tool said: {cause}", c.diagnosis);
                }
            }
        }
        self.checks.push(c);
    }

    /// Note a finished tool command (its crash and cause) for the scenario.
    pub fn note_invocation(&mut self, label: &str, run: &ToolRun) {
        for r in run.log.events(crate::matrix::quirks::PROOF_EVENT) {
            if let (Some(q), Some(w)) = (r.get("quirk"), r.get("where")) {
                self.quirk_paths
                    .insert(crate::matrix::quirks::proof_key(q, w));
            }
        }
        self.invocations.push(Invocation {
            label: label.to_string(),
            status: run.status_text(),
            crash: run.crash.clone(),
            cause: run.cause.clone(),
        });
    }

    /// The command timeout of the profile.
    pub fn timeout(&self) -> Duration {
        self.plan.vm.command_timeout
    }

    /// Run a tool command line in the guest and parse its log.
    pub fn run_tool(&mut self, label: &str, line: &str) -> Result<ToolRun> {
        let timeout = self.timeout();
        let output = self.vm.ssh().exec(&Exec {
            command: line,
            label,
            timeout,
            echo: false,
        })?;
        self.work.tool += output.duration.as_secs_f64();
        self.vm.check_alive("running the tool")?;
        let run = ToolRun::new(output, &[], &self.crash_patterns);
        self.note_invocation(label, &run);
        Ok(run)
    }

    /// Record a backup's facts and throughput from its log, and take the
    /// harness's own reference of what it backed up: a read-only snapshot
    /// of the live subvolume (which only the harness changes, and not
    /// since the backup began), kept outside the tool's snapshot directory.
    pub fn note_backup(
        &mut self,
        scenario: &str,
        subvolume: &str,
        run: &ToolRun,
    ) -> Result<Option<BackupFact>> {
        if let Some(m) = run
            .log
            .events("backup_metrics")
            .next()
            .and_then(|r| metrics(r).ok())
        {
            self.transfers.push(Transfer {
                kind: TransferKind::Backup,
                scenario: scenario.into(),
                subvolume: subvolume.into(),
                bytes: m.bytes,
                seconds: m.seconds,
                group: None,
            });
        }
        let Some(path) = run.field("snapshot_created", "path") else {
            return Ok(None);
        };
        self.snapshots
            .entry(subvolume.into())
            .or_default()
            .push(path.clone());
        let (Some(kind), Some(manifest_key)) = (
            run.field("snapshot_created", "kind"),
            run.field("backup_uploaded", "manifest_key"),
        ) else {
            return Ok(None);
        };
        let reference = self.take_reference(subvolume)?;
        let fact = BackupFact {
            scenario: scenario.into(),
            subvolume: subvolume.into(),
            kind,
            snapshot_path: path,
            manifest_key,
            reference: Some(reference),
        };
        self.backups.push(fact.clone());
        Ok(Some(fact))
    }

    /// A read-only snapshot of subvolume `sv` as it is now, under the
    /// harness's reference directory; its path.
    fn take_reference(&mut self, sv: &str) -> Result<String> {
        self.references += 1;
        let dir = self.layout.references_dir();
        let path = format!("{dir}/{:04}-{sv}", self.references);
        let cmd = format!(
            "mkdir -p {} && btrfs -q subvolume snapshot -r {} {}",
            crate::ssh::shell_quote(&dir),
            crate::ssh::shell_quote(&self.layout.subvolume(sv)),
            crate::ssh::shell_quote(&path)
        );
        self.vm
            .ssh()
            .run("reference-snapshot", &cmd, Duration::from_secs(120))
            .with_context(|| format!("taking the harness's reference snapshot of {sv}"))?;
        Ok(path)
    }

    /// The backup whose manifest is `manifest_key`, as this run recorded it.
    pub fn backup_of(&self, manifest_key: &str) -> Option<&BackupFact> {
        self.backups
            .iter()
            .rev()
            .find(|b| b.manifest_key == manifest_key)
    }

    /// Record a restore's throughput from its log.
    pub fn note_restore(&mut self, scenario: &str, subvolume: &str, run: &ToolRun) {
        if let Some(m) = run
            .log
            .events("restore_metrics")
            .next()
            .and_then(|r| metrics(r).ok())
        {
            self.transfers.push(Transfer {
                kind: TransferKind::Restore,
                scenario: scenario.into(),
                subvolume: subvolume.into(),
                bytes: m.bytes,
                seconds: m.seconds,
                group: None,
            });
        }
    }

    /// The verifiers' view of S3.
    pub fn objects(&self) -> super::objects::ClientSource<'_> {
        super::objects::ClientSource {
            client: &self.client,
            rt: &self.rt,
            embedded: self.endpoint.as_ref(),
        }
    }

    /// The journal so far, in the verifiers' form, without what rollbacks undid.
    pub fn journal(&self) -> Result<crate::verify::journal::Journal> {
        if let Some(why) = self.profile.s3.journal_missing() {
            anyhow::bail!("no journal to read: {why}");
        }
        let path = self.run_dir.join(crate::s3::server::journal::JOURNAL_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(crate::verify::journal::Journal::parse_jsonl(&text)?
            .without(&self.checkpoints.rolled_back))
    }

    /// Put a new VM, booted as the first was, in place of one whose guest
    /// stopped answering (stopped first: both live in the run directory).
    /// Only for a VM nothing was built in yet: the new one starts from the
    /// image, and the S3 endpoint and what it holds stay.
    pub fn replace_vm(&mut self) -> Result<()> {
        if let Err(e) = self.vm.stop() {
            tracing::debug!("stopping the VM that stopped answering: {e:#}");
        }
        // Its logs stay, as `console-unanswered.log` and so on; the relay
        // executable went with its disposable files.
        files::set_logs_aside(&self.run_dir, "unanswered");
        relay_exe(&self.run_dir)?;
        let (vm, seconds) = boot_vm(&self.plan, &self.secrets, &self.run_id, &self.guest_files)?;
        self.vm = vm;
        self.boot_seconds += seconds;
        self.work.vm_starts += 1;
        self.checkpoints = Default::default();
        self.layout = FixtureLayout::new(&self.profile.btrfs);
        self.seeded_from = None;
        Ok(())
    }

    /// Stop the VM and the endpoint.
    pub fn finish(self) -> Result<()> {
        let Session {
            vm,
            endpoint,
            stand_in,
            egress,
            rt,
            run_id,
            ..
        } = self;
        let r = vm.shutdown();
        if let Some(proxy) = egress {
            rt.block_on(proxy.shutdown_and_report())
                .into_iter()
                .for_each(|line| events::progress(Scope::Run(run_id.clone()), line));
        }
        for ep in [endpoint, stand_in].into_iter().flatten() {
            rt.block_on(ep.shutdown());
        }
        r.map_err(Into::into)
    }
}

/// Boot the plan's VM with `secrets` kept out of its command log; the VM
/// and its boot seconds.
fn boot_vm(
    plan: &BootPlan,
    secrets: &[String],
    run_id: &str,
    guest_files: &[(String, Vec<u8>)],
) -> Result<(Vm, f64)> {
    let t = Instant::now();
    let mut vm = Vm::boot(plan.vm.clone())?;
    for secret in secrets {
        vm.command_log().redact(secret);
    }
    for (path, content) in guest_files {
        vm.ssh()
            .write_file(path, content, 0o644)
            .with_context(|| format!("putting {path} in the guest after boot"))?;
    }
    let seconds = t.elapsed().as_secs_f64();
    events::emit(events::Event::VmReady {
        run_id: run_id.to_string(),
        seconds,
        resumed: vm.state().timeline.resumed,
    });
    Ok((vm, seconds))
}

/// The embedded endpoint of a profile, its store and journal in `dir`.
pub(crate) fn endpoint_config(profile: &Profile, dir: &Path) -> crate::s3::EndpointConfig {
    let mut cfg = plan::s3::endpoint_config(&profile.s3, &dir.join("s3-store"));
    cfg.journal_file = Some(dir.join(crate::s3::server::journal::JOURNAL_FILE));
    cfg
}

/// The executable QEMU runs for each guest connection to the endpoint: a
/// copy in the run directory of this binary (or of the one
/// `VMHARNESS_RELAY_EXE` names, e.g. from a test binary), so that rebuilding
/// or upgrading vmharness during a run cannot break the run's connections.
/// This binary is copied through `/proc/self/exe`, which still reads it
/// after a rebuild has replaced the file it was started from.
fn relay_exe(run_dir: &Path) -> Result<PathBuf> {
    let exe = match std::env::var_os("VMHARNESS_RELAY_EXE") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from("/proc/self/exe"),
    };
    let copy = run_dir.join(files::RELAY_EXE);
    std::fs::copy(&exe, &copy)
        .with_context(|| format!("copying {} to {}", exe.display(), copy.display()))?;
    Ok(copy)
}
