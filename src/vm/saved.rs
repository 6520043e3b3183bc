//! Saved VM states: a guest booted once, provisioned, and saved, that every
//! later VM of the same image and shape resumes from in about a second
//! instead of booting.
//!
//! One slot per (base image, kernel, initrd, VM shape) under
//! `<cache>/states/<slot>/`: `disk.qcow2` (the guest's writes up to the
//! save, backed by the base image, never written again), `memory.state` (the
//! QEMU migration stream), `provision_key` (the cache-scoped key the harness
//! first logs in with; each run then installs its own key), and `meta.json`
//! (what the state was built from; any difference from today's inputs makes
//! it stale, and it is rebuilt with the reason printed).

use crate::accel::Accel;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Bump when the provisioning steps change what a saved guest holds.
pub const PROVISION_VERSION: u32 = 2;

pub const DISK: &str = "disk.qcow2";
pub const MEMORY: &str = "memory.state";
pub const PROVISION_KEY: &str = "provision_key";
const META: &str = "meta.json";

/// Everything a saved state depends on. Equal inputs: the state is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateInputs {
    pub image_sha256: String,
    pub kernel_sha256: String,
    pub initrd_sha256: String,
    /// The kernel command line the saved guest booted with.
    pub append: String,
    /// `qemu-system-x86_64 --version`, first line.
    pub qemu_version: String,
    /// Hash of the resume command line with per-run values blanked: machine
    /// type, accelerator, CPU model, memory, CPUs and every device.
    pub shape: String,
    /// The host CPU (KVM's `-cpu host` state only loads on the same model).
    pub host_cpu: Option<String>,
    pub provision_version: u32,
}

/// `meta.json` of a slot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateMeta {
    pub inputs: StateInputs,
    /// The guest's SSH host key (wire format, hex): verified at every resume.
    pub host_key_hex: String,
    /// Whether the state was written with QEMU's `mapped-ram` capability
    /// (else as a plain migration stream).
    pub mapped_ram: bool,
    pub base_image: PathBuf,
    pub accel: Accel,
    pub memory_mib: u32,
    pub cpus: u32,
    pub saved_at: String,
    pub provision_seconds: f64,
    /// The guest's sshd accepts the key of the firmware file each start
    /// gives it (`qemu_args::RUN_KEY_FW_CFG`), and no other: a resume logs
    /// in with the run's own key. Else (a kernel without the fw_cfg sysfs
    /// driver) the resume adopts the run key under the provisioning key.
    #[serde(default)]
    pub run_key_from_fw_cfg: bool,
}

/// A complete, valid slot.
#[derive(Debug, Clone)]
pub struct SavedState {
    pub dir: PathBuf,
    pub meta: StateMeta,
}

impl SavedState {
    pub fn disk(&self) -> PathBuf {
        self.dir.join(DISK)
    }
    pub fn memory(&self) -> PathBuf {
        self.dir.join(MEMORY)
    }
    pub fn provision_key(&self) -> PathBuf {
        self.dir.join(PROVISION_KEY)
    }

    /// The slot at `dir` if it is complete (meta.json is written last).
    pub fn open(dir: &Path) -> Result<Option<SavedState>> {
        Ok(
            crate::util::read_json_if_file(&dir.join(META))?.map(|meta| SavedState {
                dir: dir.to_path_buf(),
                meta,
            }),
        )
    }

    pub fn write_meta(dir: &Path, meta: &StateMeta) -> Result<()> {
        crate::util::write_json(&dir.join(META), meta)
    }
}

/// Why a state built from `recorded` cannot serve `current` (empty: valid).
pub fn stale_reasons(recorded: &StateInputs, current: &StateInputs) -> Vec<String> {
    let mut why = Vec::new();
    let mut differs = |what: &str, a: &str, b: &str| {
        if a != b {
            why.push(format!("{what} changed ({} -> {})", short(a), short(b)));
        }
    };
    differs(
        "the image's content",
        &recorded.image_sha256,
        &current.image_sha256,
    );
    differs(
        "the kernel",
        &recorded.kernel_sha256,
        &current.kernel_sha256,
    );
    differs(
        "the initrd",
        &recorded.initrd_sha256,
        &current.initrd_sha256,
    );
    differs("the kernel command line", &recorded.append, &current.append);
    differs("QEMU", &recorded.qemu_version, &current.qemu_version);
    differs(
        "the VM shape (memory, CPUs, accelerator or devices)",
        &recorded.shape,
        &current.shape,
    );
    differs(
        "the host CPU",
        recorded.host_cpu.as_deref().unwrap_or("-"),
        current.host_cpu.as_deref().unwrap_or("-"),
    );
    differs(
        "the provisioning steps",
        &recorded.provision_version.to_string(),
        &current.provision_version.to_string(),
    );
    why
}

fn short(s: &str) -> &str {
    if s.len() > 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        &s[..16]
    } else {
        s
    }
}

/// The slot directory name: which files and which shape (the content is
/// checked against `meta.json`, so a rebuilt image in place is noticed).
pub fn slot_name(base: &Path, kernel: &Path, initrd: &Path, shape: &str) -> String {
    let mut h = Sha256::new();
    for p in [base, kernel, initrd] {
        h.update(p.as_os_str().as_encoded_bytes());
        h.update([0]);
    }
    h.update(shape.as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// Hash of the words of a command line.
pub fn words_hash<S: AsRef<std::ffi::OsStr>>(words: &[S]) -> String {
    let mut h = Sha256::new();
    for w in words {
        h.update(w.as_ref().as_encoded_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// SHA-256 of a file's content, remembered in `memo_dir` under the file's
/// identity (device, inode, size, modification time) so a 500 MB image is
/// read once, not at every VM start.
pub fn content_sha256(path: &Path, memo_dir: &Path) -> Result<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let identity = format!(
        "{} {} {} {} {}",
        path.display(),
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime_nsec() + m.mtime() * 1_000_000_000
    );
    let memo = memo_dir.join(&words_hash(&[identity.as_str()])[..16]);
    if let Ok(text) = std::fs::read_to_string(&memo) {
        if let Some((id, sum)) = text.rsplit_once('\n').map(|(a, b)| (a, b.trim())) {
            if id == identity && sum.len() == 64 {
                return Ok(sum.to_string());
            }
        }
    }
    let sum = crate::util::file_digest::<Sha256>(path)?;
    std::fs::create_dir_all(memo_dir).ok();
    let _ = std::fs::write(&memo, format!("{identity}\n{sum}"));
    Ok(sum)
}

/// The host CPU's model name (for KVM states).
pub fn host_cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> StateInputs {
        StateInputs {
            image_sha256: "a".repeat(64),
            kernel_sha256: "b".repeat(64),
            initrd_sha256: "c".repeat(64),
            append: "root=/dev/vda".into(),
            qemu_version: "QEMU emulator version 10.0.2".into(),
            shape: "d".repeat(64),
            host_cpu: None,
            provision_version: PROVISION_VERSION,
        }
    }

    #[test]
    fn equal_inputs_are_valid_and_each_difference_is_named() {
        let a = inputs();
        assert!(stale_reasons(&a, &a).is_empty());
        let mut b = a.clone();
        b.image_sha256 = "e".repeat(64);
        assert_eq!(
            stale_reasons(&a, &b),
            ["the image's content changed (aaaaaaaaaaaaaaaa -> eeeeeeeeeeeeeeee)"]
        );
        let mut c = a.clone();
        c.qemu_version = "QEMU emulator version 10.1.0".into();
        c.shape = "f".repeat(64);
        let why = stale_reasons(&a, &c);
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].starts_with("QEMU changed"));
        assert!(why[1].starts_with("the VM shape"));
    }

    #[test]
    fn content_hash_is_remembered_until_the_file_changes() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("img");
        std::fs::write(&f, b"one").unwrap();
        let memo = d.path().join("memo");
        let h1 = content_sha256(&f, &memo).unwrap();
        assert_eq!(
            h1,
            "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"
        );
        assert_eq!(std::fs::read_dir(&memo).unwrap().count(), 1);
        assert_eq!(content_sha256(&f, &memo).unwrap(), h1);
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&f, b"two").unwrap();
        assert_ne!(content_sha256(&f, &memo).unwrap(), h1);
    }

    #[test]
    fn slots_differ_by_files_and_shape() {
        let s = |b: &str, sh: &str| slot_name(Path::new(b), Path::new("/k"), Path::new("/i"), sh);
        assert_eq!(s("/b", "x"), s("/b", "x"));
        assert_ne!(s("/b", "x"), s("/b2", "x"));
        assert_ne!(s("/b", "x"), s("/b", "y"));
        assert_eq!(s("/b", "x").len(), 16);
    }
}
