//! One disposable VM: overlay on the cached base, per-run seed and keys,
//! QEMU in its own process group that dies with us, readiness that fails
//! fast, fixture disk hot-plug, teardown that leaves nothing behind.

use super::console::{ConsoleWatch, BOOT_STALL, BOOT_STALL_REPORTS};
use super::error::{PhaseContext, VmError};
use super::files;
use super::fixture_layers::{fixture_create_args, flatten_args, FixtureDisk, FixtureStack};
use super::keys::KeyPair;
use super::qemu_args::{
    kernel_append, qemu_args, BootDisk, BootSource, QemuSpec, FIXTURE_NODE, RUN_KEY_FW_CFG_SIZE,
    SEED_NODE,
};
use super::qmp::Qmp;
use super::saved::SavedState;
use super::seed;
use crate::accel::Accel;
use crate::events::{self, Scope};
use crate::programs::{self, run_checked};
use crate::ssh::{banner_ready, CommandLog, Ssh, SshTarget};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

mod checkpoint;

/// The immutable description of one VM (built from a validated profile;
/// serialisable: `vm up` hands it to its supervisor).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VmConfig {
    pub run_dir: PathBuf,
    pub run_id: String,
    pub base_image: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub accel: Accel,
    pub memory_mib: u32,
    pub cpus: u32,
    /// Boot to SSH, already scaled for the accelerator.
    pub boot_timeout: Duration,
    /// A hot-plugged disk showing up in the guest, already scaled.
    pub disk_timeout: Duration,
    /// Any single guest command not given its own timeout.
    pub command_timeout: Duration,
    pub keep_disks: bool,
    pub guestfwd: Vec<String>,
    pub extra_append: String,
    /// The root device on the kernel command line (the image's meta says).
    pub root_device: String,
    /// Let the guest reach the outside (provisioning a cloud image only).
    pub internet: bool,
    /// Where saved VM states live (`<cache>/states`); None: always boot cold.
    pub saved_states: Option<PathBuf>,
}

/// Seconds from QEMU's start to each boot milestone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BootTimeline {
    pub qmp_ready: Option<f64>,
    pub first_console_output: Option<f64>,
    pub userspace: Option<f64>,
    pub cloud_init: Option<f64>,
    /// sshd's banner answered (a cold boot only: a resume logs in at once).
    pub ssh_banner: Option<f64>,
    pub ssh_ready: Option<f64>,
    /// Resumed from a saved state (else booted cold).
    #[serde(default)]
    pub resumed: bool,
    /// When the saved state was loaded (resume only).
    #[serde(default)]
    pub state_loaded: Option<f64>,
}

/// Who the harness logs in as at the first SSH session, and the first
/// command it runs there (which proves the session works end to end).
struct Login {
    key_path: PathBuf,
    host_key: Vec<u8>,
    first: FirstCommand,
}

/// The first command of a VM's first SSH session.
enum FirstCommand {
    /// `true`: a cold boot or a restart, already under the run's own key.
    Ready,
    /// A resume, logged in with the provisioning key: set the guest's
    /// clock from the host's (the saved guest is behind by the time since
    /// the save) and make this run's key (its public line) the only one
    /// root accepts, synced (the ext4 root loses its last seconds of writes
    /// at a power cut). The session goes on under the provisioning key's
    /// login; every later login (a reconnect, `vmharness ssh`) is the run
    /// key's. One command: the resume costs one login and one round trip.
    AdoptRunKey(String),
    /// A resume whose guest takes the key sshd accepts from the firmware
    /// file the host gives every start (`run_key_fw_cfg`): logged in with
    /// the run's own key already, set the clock. Nothing is written, so
    /// nothing needs syncing, and a failure can be retried.
    SetClock,
}

impl FirstCommand {
    /// Its log label and command line, made when it runs (the clock then).
    fn line(&self) -> anyhow::Result<(&'static str, String)> {
        Ok(match self {
            FirstCommand::Ready => ("ready", "true".into()),
            FirstCommand::SetClock => (
                "set-clock",
                crate::util::set_clock_command(std::time::SystemTime::now())?,
            ),
            FirstCommand::AdoptRunKey(public_line) => {
                let clock = crate::util::set_clock_command(std::time::SystemTime::now())?;
                let cmd = format!(
                    "{clock} && umask 077 && \
                     printf '%s\\n' {} > /root/.ssh/authorized_keys.new && \
                     mv -f /root/.ssh/authorized_keys.new /root/.ssh/authorized_keys && sync",
                    crate::ssh::shell_quote(public_line)
                );
                ("adopt-run-key", cmd)
            }
        })
    }
}

/// The run key's public line as the firmware file the guest reads it from:
/// padded with newlines (blank lines in an authorized-keys list) to the
/// fixed size every start declares.
fn run_key_fw_cfg(public_line: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = format!("{}\n", public_line.trim()).into_bytes();
    if bytes.len() > RUN_KEY_FW_CFG_SIZE {
        anyhow::bail!(
            "the SSH public key is {} bytes, more than the {RUN_KEY_FW_CFG_SIZE} its firmware file holds",
            bytes.len()
        );
    }
    bytes.resize(RUN_KEY_FW_CFG_SIZE, b'\n');
    Ok(bytes)
}

/// What a run's console.log starts with, before the guest's first byte:
/// nothing for a boot (the console is the guest's from the first byte); for
/// a resume, a line naming the saved state the guest came from and where
/// the boot console that led to it is (the resumed guest prints from there).
fn console_header(incoming: Option<&SavedState>) -> String {
    incoming.map_or_else(String::new, |state| resumed_header(&state.dir))
}

/// The header of a console resumed from the saved state in `state_dir`.
fn resumed_header(state_dir: &Path) -> String {
    format!(
        "[vmharness] resumed from the saved state {}; the boot console that led to it: {}\n",
        state_dir.display(),
        state_dir.join(files::CONSOLE).display()
    )
}

/// What a client needs to reach a running VM (written to `vm.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VmState {
    pub run_id: String,
    pub ssh_port: u16,
    pub user: String,
    pub key_path: PathBuf,
    pub host_key_hex: String,
    pub qemu_pid: u32,
    pub owner_pid: u32,
    pub accel: Accel,
    pub fixture_serial: Option<String>,
    pub timeline: BootTimeline,
}

impl VmState {
    pub fn target(&self) -> anyhow::Result<SshTarget> {
        Ok(SshTarget {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, self.ssh_port)),
            user: self.user.clone(),
            key_path: self.key_path.clone(),
            host_key: hex::decode(&self.host_key_hex).context("vm.json: bad host key")?,
        })
    }
    pub fn read(run_dir: &Path) -> anyhow::Result<VmState> {
        let p = run_dir.join(files::VM_STATE);
        let text = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_slice(&text).with_context(|| format!("parsing {}", p.display()))
    }
    pub fn write(&self, run_dir: &Path) -> anyhow::Result<()> {
        let p = run_dir.join(files::VM_STATE);
        let tmp = run_dir.join(".vm.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, &p).with_context(|| format!("writing {}", p.display()))
    }
}

pub struct Vm {
    cfg: VmConfig,
    child: Option<Child>,
    qmp: Qmp,
    ssh: Ssh,
    console: ConsoleWatch,
    state: VmState,
    log: CommandLog,
    /// When QEMU started (the timeline's zero).
    started: Instant,
    /// Power cuts so far (numbers the logs set aside at each).
    cuts: u32,
    /// Torn down already (Drop has nothing left to do).
    stopped: bool,
    /// The fixture disk's image files while one is attached.
    fixture: Option<FixtureStack>,
}

/// What `Vm::power_cut` did, and when.
#[derive(Debug, Clone, Serialize)]
pub struct PowerCut {
    /// 1 for this VM's first cut, 2 for the next...
    pub number: u32,
    /// Wall clock when QMP `stop` returned: the guest ran no instruction after.
    pub frozen_at: SystemTime,
    /// Seconds from sending `stop` until it returned (in-flight disk requests
    /// are drained first).
    pub stop_seconds: f64,
    /// Seconds from sending `stop` until QEMU was gone (reaped).
    pub gone_seconds: f64,
    /// Where the console log up to the cut was moved.
    pub console_log: PathBuf,
}

/// What `Vm::restart_same_disks` did.
#[derive(Debug, Clone, Serialize)]
pub struct RestartFacts {
    /// Seconds from QEMU's start until SSH answered the run's key (the
    /// fixture's device included, when there is one).
    pub seconds: f64,
    /// The new boot's milestones (the VM's `state().timeline` stays the
    /// first boot's).
    pub timeline: BootTimeline,
    /// `/dev/disk/by-id/virtio-<serial>` of the fixture re-attached at boot
    /// (not mounted), if the VM had one.
    pub fixture_device: Option<String>,
}

/// A free TCP port on 127.0.0.1 (QEMU binds it right after; a collision is retried).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn secs(since: Instant, at: Option<Instant>) -> Option<f64> {
    at.map(|t| t.saturating_duration_since(since).as_secs_f64())
}

impl Vm {
    /// Start the VM and return once SSH answers with the expected host key:
    /// resumed from the saved state of its image and shape (built first when
    /// there is none or it is stale), or booted cold when `saved_states` is
    /// None or the fast path fails (the reason is printed). On failure
    /// nothing is left running and the run's disks are removed (unless kept).
    pub fn boot(cfg: VmConfig) -> Result<Vm, VmError> {
        let Some(store) = cfg.saved_states.clone() else {
            return Self::boot_cold(cfg);
        };
        let say = |msg: String| events::progress(Scope::Vm(cfg.run_id.clone()), msg);
        match super::resume::ensure_state(&cfg, &store) {
            Ok(state) => match Self::resume(cfg.clone(), &state) {
                Ok(vm) => return Ok(vm),
                Err(e @ VmError::Interrupted { .. }) => return Err(e),
                Err(e) => say(format!(
                    "resuming from the saved state in {} failed, booting cold instead: {e}",
                    state.dir.display()
                )),
            },
            Err(e) if crate::signals::interrupted() => {
                tracing::debug!("{e:#}");
                return Err(VmError::Interrupted {
                    phase: "building the saved VM state",
                });
            }
            Err(e) if e.downcast_ref::<super::resume::BuildError>().is_some() => {
                say(format!(
                    "the cold boot that builds the saved VM state failed ({}); not booting cold again",
                    e
                ));
                return match e.downcast::<super::resume::BuildError>() {
                    Ok(super::resume::BuildError::Boot(vm_error)) => Err(vm_error),
                    Err(e) => Err(VmError::Other {
                        phase: "building the saved VM state",
                        source: e,
                    }),
                };
            }
            Err(e) => say(format!(
                "no saved VM state to resume from, booting cold instead: {e:#}"
            )),
        }
        Self::boot_cold(cfg)
    }

    /// Boot the kernel with a per-run cloud-init seed (the slow path).
    pub fn boot_cold(cfg: VmConfig) -> Result<Vm, VmError> {
        Self::boot_seeded(cfg, "", false)
    }

    /// The first boot of a cloud image being provisioned: cold, with
    /// `user_data_extra` (top-level cloud-config keys) added to the seed,
    /// through the disk's own bootloader when `firmware` (else the
    /// configured kernel). `cfg.internet` opens the network.
    pub fn boot_provisioning(
        cfg: VmConfig,
        user_data_extra: &str,
        firmware: bool,
    ) -> Result<Vm, VmError> {
        Self::boot_seeded(cfg, user_data_extra, firmware)
    }

    /// A cold boot, once more when the guest kernel stalled (see
    /// [`BOOT_STALL`]): the second boot starts from a fresh overlay.
    fn boot_seeded(cfg: VmConfig, user_data_extra: &str, firmware: bool) -> Result<Vm, VmError> {
        match Self::boot_seeded_once(cfg.clone(), user_data_extra, firmware) {
            Err(e) if e.is_boot_stall() => {
                events::progress(
                    Scope::Vm(cfg.run_id.clone()),
                    format!(
                        "the guest kernel stalled while booting (a lost timer interrupt under \
                     emulation; the console is kept in {}): booting again",
                        cfg.run_dir.join(files::STALLED_CONSOLE).display()
                    ),
                );
                let _ = std::fs::rename(
                    cfg.run_dir.join(files::CONSOLE),
                    cfg.run_dir.join(files::STALLED_CONSOLE),
                );
                Self::boot_seeded_once(cfg, user_data_extra, firmware)
            }
            other => other,
        }
    }

    fn boot_seeded_once(
        cfg: VmConfig,
        user_data_extra: &str,
        firmware: bool,
    ) -> Result<Vm, VmError> {
        Self::cleaning_up(cfg, |cfg| {
            let host_key = KeyPair::generate("vmharness-host").phase("generating keys")?;
            let user_key = Self::prepare_run(cfg, &cfg.base_image)?;
            let seed_path = cfg.run_dir.join(files::SEED);
            seed::write_seed(
                &seed_path,
                &(seed::user_data(&host_key, &user_key) + user_data_extra),
                &seed::meta_data(&format!("vmh-{}", cfg.run_id)),
            )
            .phase("writing the cloud-init seed")?;
            let source = if firmware {
                BootSource::Firmware { seed: seed_path }
            } else {
                BootSource::Kernel {
                    kernel: cfg.kernel.clone(),
                    initrd: cfg.initrd.clone(),
                    append: kernel_append(&cfg.root_device, &cfg.extra_append),
                    seed: seed_path,
                }
            };
            let login = Login {
                key_path: cfg.run_dir.join(files::USER_KEY),
                host_key: host_key.public_blob.clone(),
                first: FirstCommand::Ready,
            };
            let log = CommandLog::open(&cfg.run_dir).phase("opening ssh.jsonl")?;
            Self::launch(cfg, source, &login, None, &log)
        })
    }

    /// Resume from a saved state on a fresh overlay, then install this run's
    /// key (replacing the provisioning key) and set the guest's clock.
    fn resume(cfg: VmConfig, state: &SavedState) -> Result<Vm, VmError> {
        Self::cleaning_up(cfg, |cfg| {
            let user_key = Self::prepare_run(cfg, &state.disk())?;
            let host_key = hex::decode(&state.meta.host_key_hex)
                .context("meta.json: bad host key")
                .phase("reading the saved VM state")?;
            let key_path = cfg.run_dir.join(files::USER_KEY);
            let login = if state.meta.run_key_from_fw_cfg {
                Login {
                    key_path: key_path.clone(),
                    host_key,
                    first: FirstCommand::SetClock,
                }
            } else {
                Login {
                    key_path: state.provision_key(),
                    host_key,
                    first: FirstCommand::AdoptRunKey(user_key.public_line.clone()),
                }
            };
            let log = CommandLog::open(&cfg.run_dir).phase("opening ssh.jsonl")?;
            let mut vm = Self::launch(cfg, Self::incoming(cfg), &login, Some(state), &log)?;
            // The run's key is the one sshd accepts: later logins use it.
            vm.ssh.set_key_path(key_path.clone());
            vm.state.key_path = key_path;
            Ok(vm)
        })
    }

    /// Run `start`; on failure remove the run's disposable files.
    fn cleaning_up(
        cfg: VmConfig,
        start: impl FnOnce(&VmConfig) -> Result<Vm, VmError>,
    ) -> Result<Vm, VmError> {
        crate::signals::install();
        start(&cfg).inspect_err(|_| {
            files::remove_disposable(&cfg.run_dir, cfg.keep_disks);
        })
    }

    /// The run directory, the overlay on `backing`, and the run's own SSH
    /// key (written to `id_ed25519`).
    fn prepare_run(cfg: &VmConfig, backing: &Path) -> Result<KeyPair, VmError> {
        std::fs::create_dir_all(&cfg.run_dir).phase("preparing the run directory")?;
        std::fs::write(
            cfg.run_dir.join(files::OWNER_PID),
            std::process::id().to_string(),
        )
        .phase("preparing the run directory")?;
        let qemu_img =
            programs::require(programs::QEMU_IMG).phase("preparing the run directory")?;
        run_checked(
            Command::new(&qemu_img)
                .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
                .arg(backing)
                .arg(cfg.run_dir.join(files::OVERLAY)),
            "creating the run's overlay disk",
        )
        .phase("creating disks")?;
        let user_key =
            KeyPair::generate(&format!("vmharness-{}", cfg.run_id)).phase("generating keys")?;
        user_key
            .write_private(&cfg.run_dir.join(files::USER_KEY))
            .phase("generating keys")?;
        std::fs::write(
            cfg.run_dir.join(files::RUN_KEY_FW_CFG),
            run_key_fw_cfg(&user_key.public_line).phase("generating keys")?,
        )
        .phase("generating keys")?;
        Ok(user_key)
    }

    /// A resume's boot source: the kernel the saved state was booted with.
    pub fn incoming(cfg: &VmConfig) -> BootSource {
        BootSource::Incoming {
            kernel: cfg.kernel.clone(),
            initrd: cfg.initrd.clone(),
            append: kernel_append(&cfg.root_device, &cfg.extra_append),
        }
    }

    /// The QEMU spec of this VM (`ssh_port` and `source` vary per start).
    pub fn spec(cfg: &VmConfig, source: BootSource, ssh_port: u16) -> QemuSpec {
        QemuSpec {
            name: format!("vmh-{}", cfg.run_id),
            accel: cfg.accel,
            memory_mib: cfg.memory_mib,
            cpus: cfg.cpus,
            source,
            overlay: cfg.run_dir.join(files::OVERLAY),
            ssh_port,
            qmp_socket: cfg.run_dir.join(files::QMP),
            console_log: cfg.run_dir.join(files::CONSOLE),
            run_key: cfg.run_dir.join(files::RUN_KEY_FW_CFG),
            guestfwd: cfg.guestfwd.clone(),
            internet: cfg.internet,
        }
    }

    /// Start QEMU (retrying when the chosen SSH port was taken) and wait
    /// until SSH answers. Guest commands are recorded in `log`.
    fn launch(
        cfg: &VmConfig,
        source: BootSource,
        login: &Login,
        incoming: Option<&SavedState>,
        log: &CommandLog,
    ) -> Result<Vm, VmError> {
        let qemu = programs::require(programs::QEMU).phase("starting QEMU")?;
        let mut last_err = String::new();
        for attempt in 1..=5 {
            let port = free_port().phase("choosing an SSH port")?;
            let spec = Self::spec(cfg, source.clone(), port);
            let args = qemu_args(&spec);
            let argv_text: String = std::iter::once(qemu.as_os_str())
                .chain(args.iter().map(|a| a.as_os_str()))
                .map(|a| crate::ssh::shell_quote(&a.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(" ");
            std::fs::write(cfg.run_dir.join(files::QEMU_ARGV), argv_text + "\n")
                .phase("starting QEMU")?;
            let _ = std::fs::remove_file(&spec.qmp_socket);
            // QEMU appends to it (see qemu_args): the header stays first.
            std::fs::write(&spec.console_log, console_header(incoming)).phase("starting QEMU")?;
            let stderr = std::fs::File::create(cfg.run_dir.join(files::QEMU_STDERR))
                .phase("starting QEMU")?;
            // QEMU prints to stdout too (e.g. "Formatting ..." for each
            // overlay a fixture checkpoint creates): into its log, not
            // through the harness's terminal.
            let stdout = stderr.try_clone().phase("starting QEMU")?;
            let started = Instant::now();
            let child = spawn_owned(
                Command::new(&qemu)
                    .args(&args)
                    .stdout(stdout)
                    .stderr(stderr),
            )
            .phase("starting QEMU")?;
            std::fs::write(cfg.run_dir.join(files::QEMU_PID), child.id().to_string())
                .phase("starting QEMU")?;
            match Self::await_ready(cfg, child, started, &spec, login, incoming, log) {
                Ok(vm) => return Ok(vm),
                Err(VmError::QemuExited { stderr_tail, .. })
                    if stderr_tail.contains("host forwarding") && attempt < 5 =>
                {
                    last_err = stderr_tail;
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(VmError::Other {
            phase: "starting QEMU",
            source: anyhow::anyhow!("no free SSH port after 5 attempts: {last_err}"),
        })
    }

    fn await_ready(
        cfg: &VmConfig,
        mut child: Child,
        started: Instant,
        spec: &QemuSpec,
        login: &Login,
        incoming: Option<&SavedState>,
        log: &CommandLog,
    ) -> Result<Vm, VmError> {
        let port = spec.ssh_port;
        let mut console =
            ConsoleWatch::new(&spec.console_log).from_offset(console_header(incoming).len() as u64);
        let stderr_path = cfg.run_dir.join(files::QEMU_STDERR);
        let mut timeline = BootTimeline::default();
        let deadline = started + cfg.boot_timeout;
        let mut phase = "starting QEMU";
        let mut last_error = String::from("nothing tried yet");
        let mut qmp: Option<Qmp> = None;
        let target = SshTarget {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            user: "root".into(),
            key_path: login.key_path.clone(),
            host_key: login.host_key.clone(),
        };
        let kill = |child: &mut Child| {
            kill_group(child.id());
            let _ = child.wait();
        };
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                console.poll();
                let stderr_tail = programs::tail(
                    &std::fs::read_to_string(&stderr_path).unwrap_or_default(),
                    20,
                );
                return Err(VmError::QemuExited {
                    phase,
                    status: status.to_string(),
                    waited: started.elapsed(),
                    stderr_tail,
                    console_tail: console.tail(),
                });
            }
            if let Some(fault) = console.poll() {
                kill(&mut child);
                return Err(VmError::GuestFault {
                    phase,
                    waited: started.elapsed(),
                    kind: fault.kind,
                    line: fault.line,
                    console_tail: console.tail(),
                });
            }
            if incoming.is_none() && console.stalls >= BOOT_STALL_REPORTS {
                kill(&mut child);
                return Err(VmError::GuestFault {
                    phase,
                    waited: started.elapsed(),
                    kind: BOOT_STALL,
                    line: format!("{} RCU stall reports before SSH answered", console.stalls),
                    console_tail: console.tail(),
                });
            }
            if crate::signals::interrupted() {
                kill(&mut child);
                return Err(VmError::Interrupted { phase });
            }
            if Instant::now() > deadline {
                kill(&mut child);
                return Err(VmError::Timeout {
                    phase,
                    waited: started.elapsed(),
                    last_error,
                    console_tail: console.tail(),
                });
            }
            if qmp.is_none() {
                match Qmp::connect(&spec.qmp_socket, Duration::from_millis(200)) {
                    Ok(mut q) => {
                        timeline.qmp_ready = Some(started.elapsed().as_secs_f64());
                        if let Some(inc) = incoming {
                            phase = "loading the saved VM state";
                            let left = deadline.saturating_duration_since(Instant::now());
                            if let Err(e) = q.load_state(&inc.memory(), inc.meta.mapped_ram, left) {
                                kill(&mut child);
                                return Err(e).phase(phase);
                            }
                            timeline.state_loaded = Some(started.elapsed().as_secs_f64());
                        }
                        qmp = Some(q);
                        phase = "booting the guest (waiting for the SSH banner)";
                    }
                    Err(e) => last_error = format!("{e:#}"),
                }
                continue;
            }
            // A booting guest is probed for sshd's banner before a login is
            // tried. A resumed one had sshd listening when it was saved: the
            // login goes first (a probe would cost the guest a second sshd
            // session, measured ~0.3 s of a 1.2 s resume under TCG).
            if incoming.is_none() {
                match banner_ready(target.addr, Duration::from_secs(1)) {
                    Err(e) => {
                        last_error = e;
                        std::thread::sleep(Duration::from_millis(250));
                        continue;
                    }
                    Ok(()) => {
                        timeline
                            .ssh_banner
                            .get_or_insert(started.elapsed().as_secs_f64());
                    }
                }
            }
            phase = "logging in over SSH";
            match Ssh::connect(&target, Duration::from_secs(15), Some(log.clone())) {
                Ok(mut ssh) => {
                    // The first command gets the boot's whole remaining time
                    // (at least 30 s): an adoption cannot be retried (it may
                    // have swapped the keys), and on a host busy with other
                    // VMs its write and `sync` can take longer than 30 s.
                    let budget = deadline
                        .saturating_duration_since(Instant::now())
                        .max(Duration::from_secs(30));
                    let first = login
                        .first
                        .line()
                        .and_then(|(label, cmd)| ssh.run(label, &cmd, budget));
                    if let Err(e) = first {
                        last_error = format!("{e:#}");
                        if matches!(login.first, FirstCommand::AdoptRunKey(_)) {
                            // It may have swapped the keys before it failed:
                            // another login with the provisioning key would
                            // be refused until the boot's deadline.
                            kill(&mut child);
                            return Err(VmError::Other {
                                phase: "adopting the run's key in the resumed guest",
                                source: e,
                            });
                        }
                        continue;
                    }
                    timeline.ssh_ready = Some(started.elapsed().as_secs_f64());
                    let m = console.milestones;
                    timeline.first_console_output = secs(started, m.first_output);
                    timeline.userspace = secs(started, m.userspace);
                    timeline.cloud_init = secs(started, m.cloud_init);
                    timeline.resumed = incoming.is_some();
                    let state = VmState {
                        run_id: cfg.run_id.clone(),
                        ssh_port: port,
                        user: target.user.clone(),
                        key_path: login.key_path.clone(),
                        host_key_hex: hex::encode(&login.host_key),
                        qemu_pid: child.id(),
                        owner_pid: std::process::id(),
                        accel: cfg.accel,
                        fixture_serial: None,
                        timeline,
                    };
                    let qmp = qmp.take().ok_or_else(|| VmError::Other {
                        phase,
                        source: anyhow::anyhow!("QMP connection lost"),
                    })?;
                    return Ok(Vm {
                        cfg: cfg.clone(),
                        child: Some(child),
                        qmp,
                        ssh,
                        console,
                        state,
                        log: log.clone(),
                        started,
                        cuts: 0,
                        stopped: false,
                        fixture: None,
                    });
                }
                Err(e) => {
                    last_error = format!("{e:#}");
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
    }

    pub fn state(&self) -> &VmState {
        &self.state
    }
    pub fn config(&self) -> &VmConfig {
        &self.cfg
    }
    pub fn ssh(&mut self) -> &mut Ssh {
        &mut self.ssh
    }
    pub fn qmp(&mut self) -> &mut Qmp {
        &mut self.qmp
    }
    pub fn command_log(&self) -> &CommandLog {
        &self.log
    }

    /// The SSH session and the QMP connection at once, e.g. to cut the
    /// network (`Qmp::set_link`) from one thread while a command runs over
    /// the session in another.
    pub fn ssh_and_qmp(&mut self) -> (&mut Ssh, &mut Qmp) {
        (&mut self.ssh, &mut self.qmp)
    }

    /// Unplug (`false`) or plug back (`true`) the guest's network cable (QMP
    /// `set_link` on `net0`). While it is down the guest has no carrier, no
    /// address and no route: new connections fail at once with ENETUNREACH,
    /// established ones (this VM's SSH session included) stall and resume
    /// after it is back. Do not open new SSH sessions meanwhile (each one
    /// hangs until its connect timeout); after plugging back, call
    /// `reconnect_ssh` before the next guest command.
    pub fn set_link(&mut self, up: bool) -> Result<(), VmError> {
        const PHASE: &str = "switching the guest's network link";
        self.check_alive(PHASE)?;
        let linked = self.qmp.set_link(up);
        self.qmp_result(PHASE, linked)
    }

    /// Wait until the guest answers on SSH again and log in afresh (the run's
    /// key, the VM's host key), replacing the session. The banner is polled
    /// with fresh connections and a short timeout: right after the link
    /// comes back, a SYN sent before the guest has its address again is
    /// lost and would cost slirp's ~6 s retry. Returns the time until the
    /// new session ran its first command.
    pub fn reconnect_ssh(&mut self, timeout: Duration) -> Result<Duration, VmError> {
        const PHASE: &str = "reconnecting to the guest over SSH";
        let start = Instant::now();
        let target = self.ssh.target().clone();
        let mut last_error;
        loop {
            self.check_alive(PHASE)?;
            if crate::signals::interrupted() {
                return Err(VmError::Interrupted { phase: PHASE });
            }
            match banner_ready(target.addr, Duration::from_millis(500)) {
                Ok(()) => {
                    let left = timeout.saturating_sub(start.elapsed());
                    let connect = Duration::from_secs(15)
                        .min(left)
                        .max(Duration::from_secs(1));
                    match Ssh::connect(&target, connect, Some(self.log.clone()))
                        .and_then(|mut ssh| ssh.run("ready", "true", connect).map(|_| ssh))
                    {
                        Ok(ssh) => {
                            let mut old = std::mem::replace(&mut self.ssh, ssh);
                            old.disconnect();
                            return Ok(start.elapsed());
                        }
                        Err(e) => last_error = format!("{e:#}"),
                    }
                }
                Err(e) => last_error = e,
            }
            if start.elapsed() > timeout {
                return Err(VmError::Timeout {
                    phase: PHASE,
                    waited: start.elapsed(),
                    last_error,
                    console_tail: self.console.tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Cut the power: QMP `stop` (the guest freezes; what it had submitted
    /// to its disks is drained to the images, its page cache is lost) then
    /// `quit`, no guest shutdown, no sync. The overlay and fixture images
    /// stay for `restart_same_disks`; the console log, QEMU's stderr and
    /// argv are set aside as `*-before-cut-N.*`. Until the restart the SSH
    /// session is dead and `check_alive` fails; dropping or shutting the VM
    /// down then removes its files as usual.
    pub fn power_cut(&mut self) -> Result<PowerCut, VmError> {
        const PHASE: &str = "cutting the power";
        let Some(mut child) = self.child.take() else {
            return Err(VmError::Other {
                phase: PHASE,
                source: anyhow::anyhow!("the VM is not running"),
            });
        };
        self.cuts += 1;
        let sent = Instant::now();
        let stop = self.qmp.stop();
        let stop_seconds = sent.elapsed().as_secs_f64();
        let frozen_at = SystemTime::now();
        if stop.is_ok() {
            if let Err(e) = self.qmp.quit() {
                // QEMU may close the socket before its reply arrives.
                tracing::debug!("QMP quit: {e:#}");
            }
        }
        let reaped = reap(&mut child, Duration::from_secs(5));
        let gone_seconds = sent.elapsed().as_secs_f64();
        self.console.poll();
        let run_dir = self.cfg.run_dir.clone();
        files::set_logs_aside(&run_dir, &files::cut_tag(self.cuts));
        stop.context("QMP stop").phase(PHASE)?;
        reaped.context("collecting QEMU").phase(PHASE)?;
        Ok(PowerCut {
            number: self.cuts,
            frozen_at,
            stop_seconds,
            gone_seconds,
            console_log: run_dir.join(files::before_cut(files::CONSOLE, self.cuts)),
        })
    }

    /// Boot cold again on the same overlay after `power_cut`: the image's
    /// kernel, no seed, cloud-init disabled (so the host key and the run's
    /// `authorized_keys` stay), the fixture (if the VM had one) attached at
    /// boot with the same serial, not mounted. Logs in with the run's key
    /// and the VM's host key; the VM is then as before (same `state()`
    /// except `ssh_port` and `qemu_pid`), and shutdown/Drop stop this QEMU.
    /// Waits up to the boot timeout. On failure QEMU is stopped and the VM
    /// stays powered off.
    pub fn restart_same_disks(&mut self) -> Result<RestartFacts, VmError> {
        const PHASE: &str = "restarting on the same disks";
        if self.child.is_some() || self.stopped {
            return Err(VmError::Other {
                phase: PHASE,
                source: anyhow::anyhow!("the VM is not powered off (power_cut first)"),
            });
        }
        let fixture = match (&self.state.fixture_serial, &self.fixture) {
            (Some(serial), Some(stack)) => {
                // The top layer, with its chain below it (QEMU opens the
                // backing files its header names).
                if let Some(gone) = stack.files().into_iter().find(|f| !f.is_file()) {
                    return Err(VmError::Other {
                        phase: PHASE,
                        source: anyhow::anyhow!("the fixture disk {} is gone", gone.display()),
                    });
                }
                Some(BootDisk {
                    file: stack.top(),
                    serial: serial.clone(),
                })
            }
            (Some(serial), None) => {
                return Err(VmError::Other {
                    phase: PHASE,
                    source: anyhow::anyhow!("the fixture {serial} has no image files on record"),
                })
            }
            (None, _) => None,
        };
        let source = BootSource::Reboot {
            kernel: self.cfg.kernel.clone(),
            initrd: self.cfg.initrd.clone(),
            append: kernel_append(&self.cfg.root_device, &self.cfg.extra_append),
            fixture,
        };
        let login = Login {
            key_path: self.state.key_path.clone(),
            host_key: hex::decode(&self.state.host_key_hex)
                .context("bad host key")
                .phase(PHASE)?,
            first: FirstCommand::Ready,
        };
        let mut new = Self::launch(&self.cfg, source, &login, None, &self.log)?;
        // The new QEMU, its QMP, session and console become this VM's; the
        // husk keeps the dead ones and must not tear anything down.
        new.console.fatal = self.console.fatal;
        std::mem::swap(&mut self.child, &mut new.child);
        std::mem::swap(&mut self.qmp, &mut new.qmp);
        std::mem::swap(&mut self.ssh, &mut new.ssh);
        std::mem::swap(&mut self.console, &mut new.console);
        new.stopped = true;
        self.state.ssh_port = new.state.ssh_port;
        self.state.qemu_pid = new.state.qemu_pid;
        if let Some(stack) = self.fixture.as_mut() {
            stack.reattached();
        }
        let timeline = new.state.timeline.clone();
        let started = new.started;
        drop(new);
        if self.cfg.run_dir.join(files::VM_STATE).exists() {
            // `vm ssh` and friends read it.
            self.state.write(&self.cfg.run_dir).phase(PHASE)?;
        }
        let fixture_device = match self.state.fixture_serial.clone() {
            Some(serial) => Some(self.await_disk(&serial, PHASE)?),
            None => None,
        };
        Ok(RestartFacts {
            seconds: started.elapsed().as_secs_f64(),
            timeline,
            fixture_device,
        })
    }

    /// The result of a QMP command, as a `VmError` of `phase`. When the
    /// command failed because QEMU closed the connection, what QEMU's end
    /// says comes first: its exit status, stderr and the console's last
    /// lines (a guest that panicked or powered off ends QEMU too), not the
    /// broken pipe.
    pub(crate) fn qmp_result<T>(
        &mut self,
        phase: &'static str,
        result: anyhow::Result<T>,
    ) -> Result<T, VmError> {
        let error = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if self.qmp.is_closed() {
            if let Some(child) = self.child.as_mut() {
                // QEMU closes its sockets just before it exits.
                let deadline = Instant::now() + Duration::from_secs(5);
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            self.check_alive(phase)?;
        }
        Err(VmError::Other {
            phase,
            source: error,
        })
    }

    /// Fail fast if the guest died or the console shows a fault.
    pub fn check_alive(&mut self, phase: &'static str) -> Result<(), VmError> {
        if self.child.is_none() && !self.stopped {
            return Err(VmError::Other {
                phase,
                source: anyhow::anyhow!(
                    "the VM is powered off (cut {} was not followed by a restart)",
                    self.cuts
                ),
            });
        }
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                self.console.poll();
                return Err(VmError::QemuExited {
                    phase,
                    status: status.to_string(),
                    waited: Duration::ZERO,
                    stderr_tail: programs::tail(
                        &std::fs::read_to_string(self.cfg.run_dir.join(files::QEMU_STDERR))
                            .unwrap_or_default(),
                        20,
                    ),
                    console_tail: self.console.tail(),
                });
            }
        }
        if let Some(f) = self.console.poll() {
            return Err(VmError::GuestFault {
                phase,
                waited: Duration::ZERO,
                kind: f.kind,
                line: f.line,
                console_tail: self.console.tail(),
            });
        }
        Ok(())
    }

    /// Save this freshly booted guest into `dir` (its run directory): unplug
    /// the seed, close SSH, pause, write `memory.state`, quit. The overlay
    /// becomes `disk.qcow2` (read-only from now on) and the run's key
    /// `provision_key`. Returns whether the state is in `mapped-ram` form.
    pub(super) fn save_into(mut self, dir: &Path) -> Result<bool, VmError> {
        const PHASE: &str = "saving the VM state";
        let timeout = Duration::from_secs(30) * self.cfg.accel.timeout_factor();
        self.qmp.unplug_disk(SEED_NODE, timeout).phase(PHASE)?;
        self.ssh.disconnect();
        // Let the guest's sshd see the connection close before it is frozen.
        std::thread::sleep(Duration::from_millis(300));
        self.check_alive(PHASE)?;
        let mapped_ram = self.qmp.has_mapped_ram().phase(PHASE)?;
        self.qmp
            .save_state(&dir.join(super::saved::MEMORY), mapped_ram, timeout)
            .phase(PHASE)?;
        let _ = self.qmp.quit();
        if let Some(mut child) = self.child.take() {
            let _ = reap(&mut child, Duration::from_secs(10));
        }
        let disk = dir.join(super::saved::DISK);
        std::fs::rename(self.cfg.run_dir.join(files::OVERLAY), &disk).phase(PHASE)?;
        std::fs::set_permissions(&disk, std::fs::Permissions::from_mode(0o444)).phase(PHASE)?;
        std::fs::rename(
            self.cfg.run_dir.join(files::USER_KEY),
            dir.join(super::saved::PROVISION_KEY),
        )
        .phase(PHASE)?;
        files::remove_disposable(&self.cfg.run_dir, false);
        self.stopped = true;
        Ok(mapped_ram)
    }

    /// Create a fresh qcow2 fixture disk, hot-plug it with `serial`, and wait
    /// until the guest shows `/dev/disk/by-id/virtio-<serial>`. Returns that path.
    pub fn attach_fixture(&mut self, size_mib: u64, serial: &str) -> Result<String, VmError> {
        self.attach_fixture_disk(FixtureDisk::Empty { size_mib }, serial)
    }

    /// Hot-plug a copy-on-write copy of the template `keep_fixture_as_template` made.
    pub fn attach_fixture_from_template(&mut self, serial: &str) -> Result<String, VmError> {
        let template = self.cfg.run_dir.join(files::FIXTURE_TEMPLATE);
        self.attach_fixture_copy(&template, serial)
    }

    /// Hot-plug a copy-on-write copy of `image` (never written).
    pub fn attach_fixture_copy(&mut self, image: &Path, serial: &str) -> Result<String, VmError> {
        self.attach_fixture_disk(FixtureDisk::CopyOf(image.to_path_buf()), serial)
    }

    fn attach_fixture_disk(&mut self, disk: FixtureDisk, serial: &str) -> Result<String, VmError> {
        const PHASE: &str = "attaching the fixture disk";
        let stack = FixtureStack::new(&self.cfg.run_dir, matches!(disk, FixtureDisk::Empty { .. }))
            .phase(PHASE)?;
        let path = stack.top();
        let qemu_img = programs::require(programs::QEMU_IMG).phase(PHASE)?;
        let mut create = Command::new(qemu_img);
        create.args(fixture_create_args(&disk, &path));
        run_checked(&mut create, "creating the fixture disk").phase(PHASE)?;
        self.fixture = Some(stack);
        let plugged = self.qmp.hotplug_disk(FIXTURE_NODE, &path, serial);
        self.qmp_result(PHASE, plugged)?;
        self.freeze_if_asked();
        let dev = self.await_disk(serial, PHASE)?;
        self.state.fixture_serial = Some(serial.to_string());
        Ok(dev)
    }

    /// Wait until the guest shows `/dev/disk/by-id/virtio-<serial>`; that path.
    fn await_disk(&mut self, serial: &str, phase: &'static str) -> Result<String, VmError> {
        let dev = format!("/dev/disk/by-id/virtio-{serial}");
        let wait = self.cfg.disk_timeout.as_secs().max(1);
        let timeout = Duration::from_secs(wait + 30);
        let started = Instant::now();
        let out = match self.ssh.exec(&crate::ssh::Exec {
            command: &disk_wait_command(&dev, wait),
            label: "fixture-wait",
            timeout,
            echo: false,
        }) {
            Ok(out) if out.timed_out => {
                return Err(self.unresponsive(phase, format!("the wait for {dev}"), out.duration))
            }
            Ok(out) => out,
            Err(e) if crate::signals::interrupted() => return Err(e).phase(phase),
            // The SSH session itself failed (a channel that did not open).
            Err(e) => {
                let what = format!("the wait for {dev} ({e:#})");
                return Err(self.unresponsive(phase, what, started.elapsed()));
            }
        };
        if !out.success() {
            return Err(VmError::Other {
                phase,
                source: anyhow::anyhow!(
                    "{dev} did not show up in the guest (status {}): {}",
                    out.status,
                    programs::tail(&out.stderr_text(), 20)
                ),
            });
        }
        self.check_alive(phase)?;
        Ok(dev)
    }

    /// The harness's own tests of a VM that stops answering after a
    /// hot-plug (seen rarely under TCG): with `VMHARNESS_FAULT_FREEZE_AT_HOTPLUG`
    /// set, the first hot-plug of this process freezes its QEMU (SIGSTOP).
    fn freeze_if_asked(&self) {
        static FROZEN_ONCE: std::sync::atomic::AtomicBool =
            std::sync::atomic::AtomicBool::new(false);
        if std::env::var_os(FREEZE_AT_HOTPLUG).is_none()
            || FROZEN_ONCE.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        if let Some(child) = &self.child {
            tracing::warn!("{FREEZE_AT_HOTPLUG}: freezing QEMU (pid {})", child.id());
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGSTOP,
            );
        }
    }

    /// A guest command ran out of time: what the VM is doing. A guest that
    /// still takes a new login only ran a slow command; one that does not is
    /// `Unresponsive`, with QEMU's threads' CPU and whether QMP answers.
    fn unresponsive(&mut self, phase: &'static str, what: String, waited: Duration) -> VmError {
        self.check_alive(phase).err().unwrap_or_else(|| {
            // A login takes about a second under TCG, a few when loaded.
            match self.ssh.answers(Duration::from_secs(20)) {
                Ok(()) => VmError::Other {
                    phase,
                    source: anyhow::anyhow!(
                        "{what} got no answer in {waited:.1?}, though the guest still takes a new login"
                    ),
                },
                Err(probe) => {
                    let cpu = match &self.child {
                        Some(child) => super::hang::cpu_of(child.id(), Duration::from_secs(2)),
                        None => "QEMU is not running".to_string(),
                    };
                    let qmp = match self.qmp.execute_within(
                        "query-status",
                        serde_json::json!({}),
                        Duration::from_secs(5),
                    ) {
                        Ok(v) => format!("QMP answers: {v}"),
                        Err(e) => format!("QMP does not answer: {e:#}"),
                    };
                    self.console.poll();
                    VmError::Unresponsive {
                        phase,
                        what,
                        waited,
                        evidence: format!("the new login: {probe:#}\n{cpu}\n{qmp}"),
                        console_tail: self.console.tail(),
                    }
                }
            }
        })
    }

    /// Unplug the fixture disk (the guest must have unmounted it) and delete
    /// its images (every checkpoint layer too), or keep what it holds as the
    /// template of later cases: one standalone `fixture-template.qcow2`.
    pub fn detach_fixture(&mut self, keep_as_template: bool) -> Result<(), VmError> {
        const PHASE: &str = "detaching the fixture disk";
        self.unplug_fixture(PHASE)?;
        self.state.fixture_serial = None;
        let Some(stack) = self.fixture.take() else {
            return Err(VmError::Other {
                phase: PHASE,
                source: anyhow::anyhow!("the fixture has no image files on record"),
            });
        };
        if keep_as_template {
            self.keep_as_template(&stack).phase(PHASE)?;
        }
        remove_layers(&stack.files()).phase(PHASE)
    }

    /// Unplug the fixture's device and free its images in QEMU.
    fn unplug_fixture(&mut self, phase: &'static str) -> Result<(), VmError> {
        let timeout = Duration::from_secs(20) * self.cfg.accel.timeout_factor();
        let unplugged = self.qmp.unplug_disk(FIXTURE_NODE, timeout);
        self.qmp_result(phase, unplugged)?;
        self.check_alive(phase)
    }

    /// Make `fixture-template.qcow2` hold what the (unplugged) fixture holds:
    /// its one image renamed, or its chain of layers written out as one image.
    fn keep_as_template(&self, stack: &FixtureStack) -> anyhow::Result<()> {
        let template = self.cfg.run_dir.join(files::FIXTURE_TEMPLATE);
        if stack.is_standalone() {
            let top = stack.top();
            return std::fs::rename(&top, &template)
                .with_context(|| format!("renaming {} to {}", top.display(), template.display()));
        }
        // The chain may have the old template at its bottom: write beside it.
        let part = self.cfg.run_dir.join(files::FIXTURE_TEMPLATE_PART);
        let qemu_img = programs::require(programs::QEMU_IMG)?;
        let flattened = run_checked(
            Command::new(qemu_img).args(flatten_args(&stack.top(), &part, false)),
            "writing the fixture's layers out as one template image",
        )
        .and_then(|_| {
            std::fs::rename(&part, &template)
                .with_context(|| format!("renaming {} to {}", part.display(), template.display()))
        });
        if flattened.is_err() {
            let _ = std::fs::remove_file(&part);
        }
        flattened
    }

    /// Stop the VM: a clean poweroff when disks are kept (so the guest's
    /// writes reach them), else an immediate quit. Then remove the run's
    /// disposable files.
    pub fn shutdown(mut self) -> Result<(), VmError> {
        self.stop()
    }

    /// `shutdown` for a VM that is replaced in place (nothing left running,
    /// its disposable files removed; a second call does nothing).
    pub fn stop(&mut self) -> Result<(), VmError> {
        if std::mem::replace(&mut self.stopped, true) {
            return Ok(());
        }
        let Some(mut child) = self.child.take() else {
            // Powered off by a cut and not restarted: only files are left.
            self.remove_files();
            return Ok(());
        };
        // Kept disks get a clean poweroff even after Ctrl-C or SIGTERM (a
        // second signal exits at once).
        if self.cfg.keep_disks {
            let _ = self.ssh.exec_in_teardown(&crate::ssh::Exec {
                command: "sync; systemctl poweroff --no-block",
                label: "poweroff",
                timeout: Duration::from_secs(10),
                echo: false,
            });
        } else if let Err(e) = self.qmp.quit() {
            tracing::debug!("QMP quit: {e:#}");
        }
        // A guest powering off (kept disks) gets its shutdown time first.
        let shutdown = if self.cfg.keep_disks {
            Duration::from_secs(30) * self.cfg.accel.timeout_factor()
        } else {
            Duration::ZERO
        };
        let result = reap(&mut child, shutdown + Duration::from_secs(5)).phase("stopping QEMU");
        self.remove_files();
        result
    }

    /// The teardown's files: disposable ones removed (disks kept with `--keep`).
    fn remove_files(&self) {
        if self.cfg.keep_disks {
            let _ = std::fs::write(self.cfg.run_dir.join(files::KEPT), "disks kept by --keep\n");
        }
        files::remove_disposable(&self.cfg.run_dir, self.cfg.keep_disks);
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The guest loop that waits (seconds, not tries: a try of `udevadm settle`
/// takes up to 1 s when udev is busy) for the hot-plugged disk `dev`, and
/// gives up after `wait` seconds listing what the guest has and the kernel's
/// last words. A hot-plug the guest has not acted on after 15 s is looked for
/// with a PCI rescan, then every 15 s (not sooner: a rescan while the kernel
/// is still adding the device only competes with it).
fn disk_wait_command(dev: &str, wait: u64) -> String {
    format!(
        "start=$(date +%s); end=$((start + {wait})); rescan=$((start + 15)); i=0; \
         while [ ! -e {dev} ]; do i=$((i+1)); now=$(date +%s); \
         if [ $now -ge $end ]; then echo \"after {wait}s and $i tries: by-id:\" $(ls /dev/disk/by-id) \"block:\" $(ls /sys/block) >&2; dmesg | tail -n 15 >&2; exit 1; fi; \
         if [ $now -ge $rescan ]; then rescan=$((now + 15)); echo 1 > /sys/bus/pci/rescan; fi; \
         udevadm settle -t 1 2>/dev/null; [ -e {dev} ] || sleep 0.1; done; readlink -f {dev}"
    )
}

/// The environment variable that makes the first hot-plug freeze its VM.
pub const FREEZE_AT_HOTPLUG: &str = "VMHARNESS_FAULT_FREEZE_AT_HOTPLUG";

/// Delete image files; one already gone is fine.
fn remove_layers(layers: &[PathBuf]) -> anyhow::Result<()> {
    for f in layers {
        match std::fs::remove_file(f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", f.display())),
        }
    }
    Ok(())
}

/// Spawn a child in its own process group that receives SIGKILL when this
/// thread's process dies (so QEMU never outlives the harness).
pub fn spawn_owned(cmd: &mut Command) -> anyhow::Result<Child> {
    let parent = std::process::id() as i32;
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    cmd.stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))
}

/// Wait up to `grace` for QEMU to exit by itself, then SIGKILL its process
/// group and collect it.
fn reap(child: &mut Child, grace: Duration) -> std::io::Result<()> {
    let deadline = Instant::now() + grace;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(()),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                kill_group(child.id());
                return child.wait().map(|_| ());
            }
        }
    }
}

/// SIGKILL a whole process group.
pub fn kill_group(pgid: u32) {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_key_firmware_file_is_the_key_line_padded_to_its_fixed_size() {
        let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB vmharness-x";
        let f = run_key_fw_cfg(&format!("{line}\n")).unwrap();
        assert_eq!(f.len(), RUN_KEY_FW_CFG_SIZE);
        let text = String::from_utf8(f).unwrap();
        // What sshd reads: the key line, then blank lines only.
        let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines, [line]);
        assert!(run_key_fw_cfg(&"x".repeat(RUN_KEY_FW_CFG_SIZE)).is_err());
    }

    #[test]
    fn the_disk_wait_finds_a_late_disk_and_gives_up_on_a_missing_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dev = dir.path().join("disk");
        let late = format!(
            "(sleep 0.5; touch {}) & {}",
            dev.display(),
            disk_wait_command(&dev.to_string_lossy(), 5)
        );
        let out = Command::new("sh")
            .arg("-c")
            .arg(&late)
            .output()
            .expect("sh");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            dev.to_string_lossy()
        );

        let missing = dir.path().join("never");
        let t = Instant::now();
        let out = Command::new("sh")
            .arg("-c")
            .arg(disk_wait_command(&missing.to_string_lossy(), 1))
            .output()
            .expect("sh");
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("after 1s and ") && err.contains("by-id:"),
            "{err}"
        );
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn a_resumes_console_starts_with_the_saved_state_and_its_boot_console() {
        assert_eq!(console_header(None), "");
        let h = resumed_header(Path::new("/c/states/s/v"));
        assert_eq!(h.lines().count(), 1);
        assert!(h.ends_with('\n'));
        assert!(h.contains("saved state /c/states/s/v;"), "{h}");
        assert!(h.contains(": /c/states/s/v/console.log"), "{h}");
    }
}
