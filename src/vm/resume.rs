//! The fast path's preparation: find the saved state a VM can resume from,
//! or build it (boot cold once, bring the guest to a quiet ready state,
//! save it).

use super::error::VmError;
use super::machine::{Vm, VmConfig};
use super::qemu_args::{qemu_args, run_key_guest_path};
use super::saved::{self, SavedState, StateInputs, StateMeta};
use crate::accel::Accel;
use crate::events::{self, Scope};
use crate::programs;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the quiesce script prints when sshd takes the key from the firmware
/// file.
const FW_CFG_MARK: &str = "run-key-from-fw-cfg";

/// Run in the freshly booted guest before it is saved: wait until boot work
/// is done, stop what would wake up after a resume's clock jump, make SSH
/// logins quick and, when the guest reads the firmware file with the key
/// it was logged in with, make sshd take its keys from there only (each
/// start's file holds that run's key; it prints [`FW_CFG_MARK`]), warm the
/// page cache with what every run uses, flush.
fn quiesce_script() -> String {
    format!(
        "\
cloud-init status --wait >/dev/null 2>&1 || true
systemctl is-system-running --wait >/dev/null 2>&1 || true
systemctl stop '*.timer' >/dev/null 2>&1 || true
conf=/etc/ssh/sshd_config.d/00-vmharness-resume.conf
key={key}
modprobe qemu_fw_cfg 2>/dev/null || true
printf 'UsePAM no\\n' > $conf
login_key=$(cut -d' ' -f2 ~/.ssh/authorized_keys 2>/dev/null | head -n1)
if [ -n \"$login_key\" ] && grep -qF \"$login_key\" $key 2>/dev/null; then
  printf 'AuthorizedKeysFile none\\nAuthorizedKeysCommand /usr/bin/cat %s\\nAuthorizedKeysCommandUser root\\n' $key >> $conf
fi
if sshd -t 2>/dev/null; then systemctl reload ssh; else rm -f $conf; fi
grep -q '^AuthorizedKeysCommand ' $conf 2>/dev/null && echo {FW_CFG_MARK}
{{ btrfs --version; mkfs.btrfs --version; python3 -c 'import json, hashlib, subprocess, tempfile'; }} >/dev/null 2>&1 || true
sync",
        key = run_key_guest_path()
    )
}

/// Where the states of one (image, kernel, initrd, shape) live: one
/// subdirectory per set of inputs, so a rebuilt state never replaces files
/// a running VM still reads.
struct Slot {
    dir: PathBuf,
    inputs: StateInputs,
}

impl Slot {
    fn state_dir(&self) -> PathBuf {
        self.dir.join(
            &saved::words_hash(&[serde_json::to_string(&self.inputs).unwrap_or_default()])[..16],
        )
    }
}

/// The cold boot that was to be saved failed: booting cold again would fail
/// the same way, so the caller reports this instead.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Boot(VmError),
}

/// The valid saved state for `cfg`, built now when there is none (or it is
/// stale: the reason is printed).
pub fn ensure_state(cfg: &VmConfig, store: &Path) -> Result<SavedState> {
    let slot = slot_for(cfg, store)?;
    std::fs::create_dir_all(&slot.dir)
        .with_context(|| format!("creating {}", slot.dir.display()))?;
    // A concurrent run building the same state: wait for it, then use it.
    let _lock = crate::util::lock_exclusive(&slot.dir.join("lock"))?;
    let dir = slot.state_dir();
    if let Some(state) = SavedState::open(&dir)? {
        let complete = [state.disk(), state.memory(), state.provision_key()]
            .iter()
            .all(|p| p.is_file());
        if complete && saved::stale_reasons(&state.meta.inputs, &slot.inputs).is_empty() {
            return Ok(state);
        }
    }
    let reason = why_building(&slot);
    events::progress(
        Scope::Vm(cfg.run_id.clone()),
        format!("{reason}: booting once to build it in {}", dir.display()),
    );
    let started = Instant::now();
    let state = provision(cfg, &dir, &slot.inputs).with_context(|| {
        format!(
            "building the saved VM state (the console log of that boot is in {})",
            dir.with_extension("failed").display()
        )
    })?;
    remove_other_states(&slot.dir, &dir);
    events::progress(
        Scope::Vm(cfg.run_id.clone()),
        format!(
            "saved VM state built in {:.1}s",
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(state)
}

/// Why there is no usable state: the differences from an earlier one in the
/// slot, or that there was none.
fn why_building(slot: &Slot) -> String {
    let earlier = std::fs::read_dir(&slot.dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| SavedState::open(&e.path()).ok().flatten());
    for old in earlier {
        let why = saved::stale_reasons(&old.meta.inputs, &slot.inputs);
        if !why.is_empty() {
            return format!("the saved VM state is stale: {}", why.join("; "));
        }
    }
    "no saved VM state for this image and VM shape yet".into()
}

/// Remove the slot's other states (stale ones, failed builds). A VM still
/// running from one keeps its open files.
fn remove_other_states(slot_dir: &Path, keep: &Path) {
    for e in std::fs::read_dir(slot_dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && p != keep {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}

/// What a state for `cfg` depends on, and the slot it belongs in.
fn slot_for(cfg: &VmConfig, store: &Path) -> Result<Slot> {
    let memo = store.join(".hashes");
    let mut shape_cfg = cfg.clone();
    shape_cfg.run_dir = PathBuf::from("/run");
    shape_cfg.run_id = "x".into();
    shape_cfg.guestfwd.clear();
    let shape = saved::words_hash(&qemu_args(&Vm::spec(
        &shape_cfg,
        Vm::incoming(&shape_cfg),
        0,
    )));
    let qemu = programs::require(programs::QEMU)?;
    let qemu_version = programs::version_of(&qemu, "--version")
        .with_context(|| format!("{} --version printed nothing", qemu.display()))?;
    let inputs = StateInputs {
        image_sha256: saved::content_sha256(&cfg.base_image, &memo)?,
        kernel_sha256: saved::content_sha256(&cfg.kernel, &memo)?,
        initrd_sha256: saved::content_sha256(&cfg.initrd, &memo)?,
        append: super::qemu_args::kernel_append(&cfg.root_device, &cfg.extra_append),
        qemu_version,
        shape: shape.clone(),
        host_cpu: match cfg.accel {
            Accel::Kvm => saved::host_cpu_model(),
            Accel::Tcg => None,
        },
        provision_version: saved::PROVISION_VERSION,
    };
    Ok(Slot {
        dir: store.join(saved::slot_name(
            &cfg.base_image,
            &cfg.kernel,
            &cfg.initrd,
            &shape,
        )),
        inputs,
    })
}

/// Boot cold once in a build directory, quiesce, save, and move the result
/// to `dir`. A failed build's logs stay in `<dir>.failed`.
fn provision(cfg: &VmConfig, dir: &Path, inputs: &StateInputs) -> Result<SavedState> {
    let build = dir.with_extension("build");
    let failed = dir.with_extension("failed");
    for d in [&build, &failed] {
        if d.exists() {
            std::fs::remove_dir_all(d).with_context(|| format!("removing {}", d.display()))?;
        }
    }
    let mut pcfg = cfg.clone();
    pcfg.run_dir = build.clone();
    pcfg.run_id = format!("{}-provision", cfg.run_id);
    pcfg.keep_disks = false;
    pcfg.guestfwd.clear();
    let started = Instant::now();
    let result = (|| -> Result<SavedState> {
        let mut vm = Vm::boot_cold(pcfg).map_err(BuildError::Boot)?;
        let wait = Duration::from_secs(300) * cfg.accel.timeout_factor();
        let quiesced = vm.ssh().run("quiesce", &quiesce_script(), wait)?;
        let host_key_hex = vm.state().host_key_hex.clone();
        let mapped_ram = vm.save_into(&build)?;
        let meta = StateMeta {
            inputs: inputs.clone(),
            host_key_hex,
            mapped_ram,
            base_image: cfg.base_image.clone(),
            accel: cfg.accel,
            memory_mib: cfg.memory_mib,
            cpus: cfg.cpus,
            saved_at: crate::util::now_rfc3339(),
            provision_seconds: started.elapsed().as_secs_f64(),
            run_key_from_fw_cfg: quiesced.stdout_text().contains(FW_CFG_MARK),
        };
        SavedState::write_meta(&build, &meta)?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        std::fs::rename(&build, dir)
            .with_context(|| format!("moving {} to {}", build.display(), dir.display()))?;
        match SavedState::open(dir)? {
            Some(s) => Ok(s),
            None => bail!("{} has no meta.json after the build", dir.display()),
        }
    })();
    if result.is_err() && build.exists() {
        let _ = std::fs::rename(&build, &failed);
    }
    result
}

/// Remove saved states whose base image is gone (pruned or rebuilt), and
/// slots left with no state. Returns what was removed.
pub fn prune_orphans(store: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for slot in std::fs::read_dir(store).into_iter().flatten().flatten() {
        let slot = slot.path();
        if !slot.is_dir() || slot.ends_with(".hashes") {
            continue;
        }
        let mut live = 0;
        for e in std::fs::read_dir(&slot).into_iter().flatten().flatten() {
            let p = e.path();
            // A build in progress (another process) has no meta.json yet.
            if !p.is_dir() || p.extension().is_some_and(|x| x == "build") {
                live += usize::from(p.is_dir());
                continue;
            }
            match SavedState::open(&p) {
                Ok(Some(s)) if s.meta.base_image.is_file() => live += 1,
                _ => {
                    if std::fs::remove_dir_all(&p).is_ok() {
                        removed.push(p);
                    }
                }
            }
        }
        if live == 0 && std::fs::remove_dir_all(&slot).is_ok() {
            removed.push(slot);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(base: &Path) -> StateMeta {
        StateMeta {
            inputs: StateInputs {
                image_sha256: String::new(),
                kernel_sha256: String::new(),
                initrd_sha256: String::new(),
                append: String::new(),
                qemu_version: String::new(),
                shape: String::new(),
                host_cpu: None,
                provision_version: saved::PROVISION_VERSION,
            },
            host_key_hex: String::new(),
            mapped_ram: true,
            base_image: base.to_path_buf(),
            accel: Accel::Tcg,
            memory_mib: 1024,
            cpus: 2,
            saved_at: String::new(),
            provision_seconds: 1.0,
            run_key_from_fw_cfg: true,
        }
    }

    #[test]
    fn states_of_vanished_images_are_pruned() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("base.qcow2");
        std::fs::write(&base, "x").unwrap();
        let store = d.path().join("states");
        let mk = |rel: &str, m: Option<StateMeta>| {
            let p = store.join(rel);
            std::fs::create_dir_all(&p).unwrap();
            if let Some(m) = m {
                SavedState::write_meta(&p, &m).unwrap();
            }
            p
        };
        let live = mk("slot1/live", Some(meta(&base)));
        let gone = mk("slot1/gone", Some(meta(&d.path().join("missing.qcow2"))));
        let building = mk("slot1/next.build", None);
        let broken = mk("slot2/broken", None);
        let mut removed = prune_orphans(&store);
        removed.sort();
        assert_eq!(removed, [gone, store.join("slot2"), broken]);
        assert!(live.is_dir() && building.is_dir());
    }
}
