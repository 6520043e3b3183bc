//! Watching the serial console: a guest that dies must fail fast, with the
//! console tail, instead of hanging until a timeout.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Something on the console that means the guest is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFault {
    pub kind: &'static str,
    pub line: String,
}

const FAULTS: &[(&str, &str)] = &[
    ("Kernel panic", "kernel panic"),
    ("Oops:", "kernel oops"),
    ("BUG: ", "kernel BUG"),
    ("general protection fault", "general protection fault"),
    ("blocked for more than", "hung task"),
    ("You are in emergency mode", "emergency shell"),
    ("Give root password for maintenance", "emergency shell"),
    (
        "Cannot open access to console, the root account is locked",
        "emergency shell",
    ),
    ("BTRFS critical", "Btrfs error"),
    ("BTRFS error", "Btrfs error"),
    ("BTRFS: error", "Btrfs error"),
    ("Failed to mount /sysroot", "root filesystem not mounted"),
    // The initramfs (e.g. when another disk took /dev/vda).
    ("as root file system.", "root filesystem not mounted"),
    (
        "Gave up waiting for root file system device",
        "root filesystem not found",
    ),
];

/// The kind of [`GuestFault`] a cold boot reports when the guest kernel
/// keeps saying a CPU made no progress ([`ConsoleWatch::stalls`]): seen
/// under TCG on a loaded host, a vCPU whose timer interrupt was lost sleeps
/// until the boot's deadline. Booting again is the cure.
pub const BOOT_STALL: &str = "kernel stalled during boot (RCU stall reports)";

/// How many RCU stall reports make a booting guest hung: the kernel repeats
/// them every ~21 s of a stall (the first can be a false positive of a
/// loaded host), so three are a minute of no progress.
pub const BOOT_STALL_REPORTS: u32 = 3;

const STALL_REPORT: &str = "detected stalls on CPUs";

/// How many RCU stall reports a console line holds (the kernel prints one
/// per line; a line that quotes it more often counts more).
pub fn stall_reports(line: &str) -> u32 {
    line.matches(STALL_REPORT).count() as u32
}

/// Classify one console line.
pub fn detect_fault(line: &str) -> Option<GuestFault> {
    FAULTS
        .iter()
        .find(|(needle, _)| line.contains(needle))
        .map(|(_, kind)| GuestFault {
            kind,
            line: line.trim_end().to_string(),
        })
}

/// Boot milestones seen on the console, for the phase split.
#[derive(Debug, Clone, Copy, Default)]
pub struct Milestones {
    /// First console output of any kind.
    pub first_output: Option<Instant>,
    /// systemd (userspace) started.
    pub userspace: Option<Instant>,
    /// cloud-init started.
    pub cloud_init: Option<Instant>,
}

pub struct ConsoleWatch {
    path: PathBuf,
    offset: u64,
    partial: String,
    tail: Vec<String>,
    pub milestones: Milestones,
    /// RCU stall reports seen (not a fault on their own: under TCG a loaded
    /// host makes the kernel report stalls that pass).
    pub stalls: u32,
    /// Faults are only fatal while enabled (a scenario that provokes a
    /// Btrfs error on purpose turns Btrfs errors off).
    pub fatal: bool,
}

const TAIL_LINES: usize = 60;

impl ConsoleWatch {
    pub fn new(path: &Path) -> Self {
        ConsoleWatch {
            path: path.to_path_buf(),
            offset: 0,
            partial: String::new(),
            tail: Vec::new(),
            milestones: Milestones::default(),
            stalls: 0,
            fatal: true,
        }
    }

    /// Watch from byte `offset` on: what the harness wrote ahead of the
    /// guest (a resume's header line) is neither output nor a fault.
    pub fn from_offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Read what is new; return the first fault seen, if any.
    pub fn poll(&mut self) -> Option<GuestFault> {
        let mut buf = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&self.path) {
            if f.seek(SeekFrom::Start(self.offset)).is_ok() {
                let _ = f.read_to_end(&mut buf);
            }
        }
        if buf.is_empty() {
            return None;
        }
        let now = Instant::now();
        self.milestones.first_output.get_or_insert(now);
        self.offset += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let mut fault = None;
        while let Some(pos) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=pos).collect();
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            if self.milestones.userspace.is_none()
                && (line.contains("Welcome to") || line.contains("systemd["))
            {
                self.milestones.userspace = Some(now);
            }
            if self.milestones.cloud_init.is_none() && line.contains("cloud-init") {
                self.milestones.cloud_init = Some(now);
            }
            self.stalls += stall_reports(&line);
            if fault.is_none() && self.fatal {
                fault = detect_fault(&line);
            }
            self.tail.push(line);
            if self.tail.len() > TAIL_LINES {
                self.tail.remove(0);
            }
        }
        fault
    }

    /// The last lines of the console, for error messages.
    pub fn tail(&self) -> String {
        let mut t = self.tail.join("\n");
        if !self.partial.is_empty() {
            t.push('\n');
            t.push_str(&self.partial);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_faults() {
        for (line, kind) in [
            (
                "[    1.2] Kernel panic - not syncing: VFS: Unable to mount root fs",
                "kernel panic",
            ),
            (
                "[  5.0] BUG: kernel NULL pointer dereference, address: 0000",
                "kernel BUG",
            ),
            (
                "[ 99.0] INFO: task btrfs:123 blocked for more than 120 seconds.",
                "hung task",
            ),
            (
                "You are in emergency mode. After logging in, type ...",
                "emergency shell",
            ),
            (
                "[ 3.0] BTRFS error (device vdc): bad tree block start",
                "Btrfs error",
            ),
            (
                "[ 1.0] Oops: general protection fault, probably for non-canonical address",
                "kernel oops",
            ),
            (
                "Failed to mount /dev/vda as root file system.",
                "root filesystem not mounted",
            ),
        ] {
            assert_eq!(detect_fault(line).map(|f| f.kind), Some(kind), "{line}");
        }
        assert_eq!(
            detect_fault("[  OK  ] Started ssh.service - OpenBSD Secure Shell server."),
            None
        );
        assert_eq!(
            detect_fault("BTRFS info (device vdc): first mount of filesystem"),
            None
        );
        assert_eq!(
            detect_fault("Warning: fsck not present, so skipping root file system"),
            None
        );
        assert_eq!(
            detect_fault("Begin: Mounting root file system ... done."),
            None
        );
    }

    #[test]
    fn reads_incrementally_and_keeps_a_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("console.log");
        let mut w = ConsoleWatch::new(&p);
        assert!(w.poll().is_none());
        std::fs::write(&p, "hello\nWelcome to Debian\npart").unwrap();
        assert!(w.poll().is_none());
        assert!(w.milestones.userspace.is_some());
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        use std::io::Write;
        f.write_all(b"ial line\n[ 9.9] Kernel panic - not syncing\n")
            .unwrap();
        let fault = w.poll().unwrap();
        assert_eq!(fault.kind, "kernel panic");
        assert!(w.tail().contains("partial line"));
        assert!(w.tail().starts_with("hello\n"));
    }

    #[test]
    fn counts_rcu_stall_reports_without_calling_them_faults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("console.log");
        // What a cold boot printed under TCG when a vCPU's timer was lost.
        let report = "[   85.501411] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:\n\
                      [   85.502359] rcu: \t1-....: (0 ticks this GP) idle=55b8/0/0x0 softirq=9/9 fqs=2 (false positive?)\n\
                      [   85.508203] rcu: rcu_preempt kthread timer wakeup didn't happen for 15751 jiffies!\n";
        std::fs::write(&p, report.repeat(2)).unwrap();
        let mut w = ConsoleWatch::new(&p);
        assert_eq!(w.poll(), None);
        assert_eq!(w.stalls, 2);
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        use std::io::Write;
        f.write_all(report.as_bytes()).unwrap();
        assert_eq!(w.poll(), None);
        assert_eq!(w.stalls, BOOT_STALL_REPORTS);
        assert_eq!(stall_reports("[  OK  ] Started rcu-something.service"), 0);
    }
}
