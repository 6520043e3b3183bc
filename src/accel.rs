//! Honest detection of hardware acceleration: KVM only when `/dev/kvm` opens
//! read-write AND the CPU advertises vmx or svm; TCG otherwise.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    /// How much longer than under KVM every guest-side wait may take.
    pub fn timeout_factor(self) -> u32 {
        match self {
            Accel::Kvm => 1,
            Accel::Tcg => 5,
        }
    }
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        })
    }
}

impl std::str::FromStr for Accel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "kvm" => Ok(Accel::Kvm),
            "tcg" => Ok(Accel::Tcg),
            other => Err(format!(
                "unknown accelerator `{other}`: expected kvm or tcg"
            )),
        }
    }
}

/// What was found about KVM, with the reason when it is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvmProbe {
    pub usable: bool,
    pub reason: String,
    /// The command that would fix it, if any.
    pub fix: Option<String>,
}

/// Pure decision from the two observations.
pub fn decide_kvm(dev_kvm: Result<(), std::io::ErrorKind>, cpuinfo: &str) -> KvmProbe {
    let cpu_virt = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    match (dev_kvm, cpu_virt) {
        (Ok(()), true) => KvmProbe {
            usable: true,
            reason: "/dev/kvm opens read-write and the CPU has vmx/svm".into(),
            fix: None,
        },
        (Ok(()), false) => KvmProbe {
            usable: false,
            reason: "/dev/kvm opens but the CPU advertises neither vmx nor svm \
                     (nested virtualisation is off): using TCG"
                .into(),
            fix: None,
        },
        (Err(std::io::ErrorKind::NotFound), _) => KvmProbe {
            usable: false,
            reason: "/dev/kvm does not exist: using TCG".into(),
            fix: cpu_virt.then(|| "modprobe kvm_intel  # or kvm_amd".to_string()),
        },
        (Err(std::io::ErrorKind::PermissionDenied), _) => KvmProbe {
            usable: false,
            reason: "/dev/kvm is not read-write for this user: using TCG".into(),
            fix: cpu_virt.then(|| "sudo usermod -aG kvm $USER  # then log in again".to_string()),
        },
        (Err(kind), _) => KvmProbe {
            usable: false,
            reason: format!("/dev/kvm cannot be opened ({kind:?}): using TCG"),
            fix: None,
        },
    }
}

/// Probe this machine.
pub fn probe_kvm() -> KvmProbe {
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(|_| ())
        .map_err(|e| e.kind());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    decide_kvm(dev, &cpuinfo)
}

/// The accelerator to use: forced, or what the probe allows.
pub fn choose(forced: Option<Accel>) -> (Accel, String) {
    if let Some(a) = forced {
        return (a, format!("{a} (forced by --accel)"));
    }
    let probe = probe_kvm();
    if probe.usable {
        (Accel::Kvm, format!("kvm ({})", probe.reason))
    } else {
        (Accel::Tcg, format!("tcg ({})", probe.reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    const WITH_VMX: &str = "processor\t: 0\nflags\t\t: fpu vme vmx sse\n";
    const NO_VIRT: &str = "processor\t: 0\nflags\t\t: fpu vme sse hypervisor\n";

    #[test]
    fn kvm_needs_both() {
        assert!(decide_kvm(Ok(()), WITH_VMX).usable);
        assert!(!decide_kvm(Ok(()), NO_VIRT).usable);
        assert!(!decide_kvm(Err(ErrorKind::NotFound), WITH_VMX).usable);
    }

    #[test]
    fn permission_problem_names_the_fix() {
        let p = decide_kvm(Err(ErrorKind::PermissionDenied), WITH_VMX);
        assert!(p.fix.unwrap().contains("usermod -aG kvm"));
        let p = decide_kvm(Err(ErrorKind::PermissionDenied), NO_VIRT);
        assert!(p.fix.is_none(), "no fix can help a CPU without vmx/svm");
    }
}
