//! External programs: where they are, which package provides them, and
//! running them with errors that say what was being done.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// An external program the harness uses and the Debian package that has it.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    pub name: &'static str,
    pub package: &'static str,
    pub why: &'static str,
    /// The flag that makes it print its version.
    pub version_flag: &'static str,
}

pub const QEMU: Program = Program {
    name: "qemu-system-x86_64",
    package: "qemu-system-x86",
    why: "runs the guest VM",
    version_flag: "--version",
};
pub const QEMU_IMG: Program = Program {
    name: "qemu-img",
    package: "qemu-utils",
    why: "creates overlays and fixture disks",
    version_flag: "--version",
};
pub const MMDEBSTRAP: Program = Program {
    name: "mmdebstrap",
    package: "mmdebstrap",
    why: "builds the guest image from Debian packages",
    version_flag: "--version",
};
pub const MKFS_EXT4: Program = Program {
    name: "mkfs.ext4",
    package: "e2fsprogs",
    why: "turns the guest root tree into a disk image",
    version_flag: "-V",
};
pub const TAR: Program = Program {
    name: "tar",
    package: "tar",
    why: "unpacks the guest root tree",
    version_flag: "--version",
};
pub const UNSHARE: Program = Program {
    name: "unshare",
    package: "util-linux",
    why: "builds images without root (user namespaces)",
    version_flag: "--version",
};
pub const NEWUIDMAP: Program = Program {
    name: "newuidmap",
    package: "uidmap",
    why: "maps subordinate ids for rootless image builds",
    version_flag: "--version",
};

pub const OPENSSH: Program = Program {
    name: "ssh",
    package: "openssh-client",
    why: "opens interactive shells in the guest (vmharness ssh, vmharness shell)",
    version_flag: "-V",
};

/// Every program `doctor` checks, with whether a run needs it (image
/// building needs more than booting a cached image).
pub const ALL: &[(Program, Need)] = &[
    (QEMU, Need::Run),
    (QEMU_IMG, Need::Run),
    (MMDEBSTRAP, Need::Build),
    (MKFS_EXT4, Need::Build),
    (TAR, Need::Build),
    (UNSHARE, Need::Build),
    (NEWUIDMAP, Need::Build),
    (OPENSSH, Need::Optional),
];

/// When a program is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// By every run.
    Run,
    /// To build the guest image (a run with the image cached does without).
    Build,
    /// By some commands only (`vmharness ssh`): never blocks a run.
    Optional,
}

/// Find a program on PATH, also looking in the sbin directories that a
/// normal user's PATH may lack.
pub fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Find a program or explain how to install it.
pub fn require(p: Program) -> Result<PathBuf> {
    find(p.name).with_context(|| {
        format!(
            "`{}` is not installed ({}): run `sudo apt-get install {}`",
            p.name, p.why, p.package
        )
    })
}

/// Run a command to completion; a non-zero exit is an error that shows what
/// was being done and the end of stderr.
pub fn run_checked(cmd: &mut Command, what: &str) -> Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{what}: could not start {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{what}: {:?} failed ({}): {}",
            cmd.get_program(),
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), 20)
        );
    }
    Ok(out)
}

/// The last `n` lines of a text.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The first line a program prints for its version flag.
pub fn version_of(path: &std::path::Path, flag: &str) -> Option<String> {
    let out = Command::new(path)
        .arg(flag)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_program_names_package() {
        let p = Program {
            name: "surely-not-installed-xyz",
            package: "pkg-xyz",
            why: "tests",
            version_flag: "--version",
        };
        let err = require(p).unwrap_err().to_string();
        assert!(err.contains("apt-get install pkg-xyz"), "{err}");
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
