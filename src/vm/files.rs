//! The files of one run directory, and which of them are disposable (removed
//! at teardown unless kept, and by `gc` after a killed run).

use std::path::{Path, PathBuf};

pub const OVERLAY: &str = "overlay.qcow2";
pub const SEED: &str = "seed.img";
pub const FIXTURE: &str = "fixture.qcow2";
/// A seeded fixture kept to start many cases from (copy-on-write backing file).
pub const FIXTURE_TEMPLATE: &str = "fixture-template.qcow2";
/// The template being written (from a fixture with checkpoint layers)
/// before it replaces `FIXTURE_TEMPLATE`.
pub const FIXTURE_TEMPLATE_PART: &str = "fixture-template.qcow2.part";
/// The fixture's layers above `FIXTURE`: `fixture-layer-<n>.qcow2`, one per
/// checkpoint or rollback (see `fixture_layer`).
pub const FIXTURE_LAYER_PREFIX: &str = "fixture-layer-";
pub const QMP: &str = "qmp.sock";
pub const USER_KEY: &str = "id_ed25519";
/// The run key's public line as the guest's firmware file (`qemu_args`).
pub const RUN_KEY_FW_CFG: &str = "run-key.fw_cfg";
pub const QEMU_PID: &str = "qemu.pid";
pub const OWNER_PID: &str = "owner.pid";
pub const CONTROL: &str = "control.sock";
pub const VM_STATE: &str = "vm.json";
pub const CONSOLE: &str = "console.log";
/// The console of a cold boot whose kernel stalled (booted again after).
pub const STALLED_CONSOLE: &str = "console.stalled.log";
pub const QEMU_ARGV: &str = "qemu.argv";
pub const QEMU_STDERR: &str = "qemu.stderr";
/// The run's own copy of the executable QEMU runs to relay guest connections.
pub const RELAY_EXE: &str = "relay-exe";
/// Present when the run's disks were kept on purpose (`--keep`): gc leaves them.
pub const KEPT: &str = "kept";

/// Disks, sockets, secrets and liveness files. Logs are artifacts and stay.
pub const DISPOSABLE: &[&str] = &[
    OVERLAY,
    SEED,
    FIXTURE,
    FIXTURE_TEMPLATE,
    FIXTURE_TEMPLATE_PART,
    QMP,
    USER_KEY,
    QEMU_PID,
    OWNER_PID,
    CONTROL,
    VM_STATE,
    RELAY_EXE,
];

/// Disk images, which `--keep` preserves (with the fixture's layers).
pub const DISKS: &[&str] = &[
    OVERLAY,
    SEED,
    FIXTURE,
    FIXTURE_TEMPLATE,
    FIXTURE_TEMPLATE_PART,
];

/// The file name of the fixture's layer number `n`.
pub fn fixture_layer(n: u32) -> String {
    format!("{FIXTURE_LAYER_PREFIX}{n}.qcow2")
}

/// Whether `name` is one of the fixture's layers (`fixture_layer`).
pub fn is_fixture_layer(name: &str) -> bool {
    name.strip_prefix(FIXTURE_LAYER_PREFIX)
        .and_then(|rest| rest.strip_suffix(".qcow2"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The disposable files of a run directory that exist, and whether each is a disk.
fn disposable_present(run_dir: &Path) -> Vec<(PathBuf, bool)> {
    let mut found: Vec<(PathBuf, bool)> = DISPOSABLE
        .iter()
        .map(|n| (run_dir.join(n), DISKS.contains(n)))
        .filter(|(p, _)| p.exists())
        .collect();
    // The layers are not known by name to a `gc` after a killed run.
    let mut layers: Vec<PathBuf> = std::fs::read_dir(run_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| is_fixture_layer(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    layers.sort();
    found.extend(layers.into_iter().map(|p| (p, true)));
    found
}

/// Remove the disposable files of a run; disks too unless `keep_disks`.
pub fn remove_disposable(run_dir: &Path, keep_disks: bool) -> Vec<PathBuf> {
    disposable_present(run_dir)
        .into_iter()
        .filter(|(_, disk)| !(keep_disks && *disk))
        .filter(|(p, _)| std::fs::remove_file(p).is_ok())
        .map(|(p, _)| p)
        .collect()
}

/// Disposable files still present (kept disks are not leftovers).
pub fn leftovers(run_dir: &Path) -> Vec<PathBuf> {
    let kept = run_dir.join(KEPT).exists();
    disposable_present(run_dir)
        .into_iter()
        .filter(|(_, disk)| !(kept && *disk))
        .map(|(p, _)| p)
        .collect()
}

/// The logs a new QEMU of the run would overwrite.
const QEMU_LOGS: [&str; 3] = [CONSOLE, QEMU_STDERR, QEMU_ARGV];

/// Where a log `launch` would overwrite (`QEMU_LOGS`) is set aside at
/// power cut `n`: `console-before-cut-1.log`.
pub fn before_cut(name: &str, n: u32) -> String {
    aside(name, &cut_tag(n))
}

/// The tag of the logs set aside at power cut `n`.
pub fn cut_tag(n: u32) -> String {
    format!("before-cut-{n}")
}

/// Rename the run's `QEMU_LOGS` with `tag` (those present), so that a new
/// QEMU of the run starts its own.
pub fn set_logs_aside(run_dir: &Path, tag: &str) {
    for name in QEMU_LOGS {
        let _ = std::fs::rename(run_dir.join(name), run_dir.join(aside(name, tag)));
    }
}

/// A log set aside with `tag`: `console.log` -> `console-TAG.log`.
pub fn aside(name: &str, tag: &str) -> String {
    match name.split_once('.') {
        Some((stem, ext)) => format!("{stem}-{tag}.{ext}"),
        None => format!("{name}-{tag}"),
    }
}

/// Read a pid file.
pub fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether a process is alive (and not a zombie).
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the parenthesised command name.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// A new run id: sortable time plus a random suffix.
pub fn new_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    format!(
        "{}-{}",
        now.format(&fmt).unwrap_or_default(),
        crate::util::random_hex(2)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_preserves_disks_only() {
        let d = tempfile::tempdir().unwrap();
        let layers = [fixture_layer(1), fixture_layer(12)];
        for n in DISPOSABLE.iter().chain([&CONSOLE]) {
            std::fs::write(d.path().join(n), "x").unwrap();
        }
        for n in &layers {
            std::fs::write(d.path().join(n), "x").unwrap();
        }
        remove_disposable(d.path(), true);
        let left = leftovers(d.path());
        assert_eq!(left.len(), DISKS.len() + layers.len());
        remove_disposable(d.path(), false);
        assert!(leftovers(d.path()).is_empty());
        assert!(d.path().join(CONSOLE).exists(), "logs stay");
    }

    #[test]
    fn fixture_layers_are_named_by_number() {
        assert_eq!(fixture_layer(3), "fixture-layer-3.qcow2");
        assert!(is_fixture_layer(&fixture_layer(17)));
        for other in [
            FIXTURE,
            FIXTURE_TEMPLATE,
            "fixture-layer-.qcow2",
            "fixture-layer-1.qcow2.part",
            "fixture-layer-x.qcow2",
        ] {
            assert!(!is_fixture_layer(other), "{other}");
        }
    }

    #[test]
    fn logs_set_aside_at_a_cut_keep_their_extension() {
        assert_eq!(before_cut(CONSOLE, 1), "console-before-cut-1.log");
        assert_eq!(before_cut(QEMU_STDERR, 2), "qemu-before-cut-2.stderr");
        assert_eq!(before_cut("x", 3), "x-before-cut-3");
    }

    #[test]
    fn liveness() {
        assert!(pid_alive(std::process::id() as i32));
        assert!(!pid_alive(i32::MAX));
    }
}
