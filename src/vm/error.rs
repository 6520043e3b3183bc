//! Typed VM errors: which phase broke, how long it waited, the last error
//! seen, and the console tail.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("{phase}: timed out after {waited:.1?} (last error: {last_error})\n--- console tail ---\n{console_tail}")]
    Timeout {
        phase: &'static str,
        waited: Duration,
        last_error: String,
        console_tail: String,
    },
    #[error("{phase}: QEMU exited ({status}) after {waited:.1?}\n--- QEMU stderr ---\n{stderr_tail}\n--- console tail ---\n{console_tail}")]
    QemuExited {
        phase: &'static str,
        status: String,
        waited: Duration,
        stderr_tail: String,
        console_tail: String,
    },
    #[error("{phase}: the guest failed after {waited:.1?}: {kind}: {line}\n--- console tail ---\n{console_tail}")]
    GuestFault {
        phase: &'static str,
        waited: Duration,
        kind: &'static str,
        line: String,
        console_tail: String,
    },
    /// A guest command did not end in time and a new login got no answer
    /// either: the VM is of no more use (the caller may replace it).
    #[error("{phase}: the guest stopped answering: {what} got no answer in {waited:.1?}, and a new SSH login failed too\n--- evidence ---\n{evidence}\n--- console tail ---\n{console_tail}")]
    Unresponsive {
        phase: &'static str,
        what: String,
        waited: Duration,
        /// The new login's error, QEMU's threads' CPU, whether QMP answers.
        evidence: String,
        console_tail: String,
    },
    #[error("{phase}: interrupted by {}", crate::signals::name())]
    Interrupted { phase: &'static str },
    #[error("{phase}: {source:#}")]
    Other {
        phase: &'static str,
        #[source]
        source: anyhow::Error,
    },
}

/// Attach a phase to any error.
pub trait PhaseContext<T> {
    fn phase(self, phase: &'static str) -> Result<T, VmError>;
}

impl<T, E: Into<anyhow::Error>> PhaseContext<T> for Result<T, E> {
    fn phase(self, phase: &'static str) -> Result<T, VmError> {
        self.map_err(|e| VmError::Other {
            phase,
            source: e.into(),
        })
    }
}

impl VmError {
    /// Whether a cold boot failed because the guest kernel stalled: it said
    /// so often enough ([`super::console::BOOT_STALL`]), or it reported a
    /// stall and never answered before the deadline.
    pub fn is_boot_stall(&self) -> bool {
        match self {
            VmError::GuestFault { kind, .. } => *kind == super::console::BOOT_STALL,
            VmError::Timeout { console_tail, .. } => {
                super::console::stall_reports(console_tail) > 0
            }
            _ => false,
        }
    }

    /// Whether `e` (or an error it wraps) says the guest stopped answering.
    pub fn is_unresponsive(e: &anyhow::Error) -> bool {
        e.chain().any(|c| {
            matches!(
                c.downcast_ref::<VmError>(),
                Some(VmError::Unresponsive { .. })
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boot_stall_is_the_stall_fault_or_a_timeout_after_a_stall_report() {
        let timeout = |tail: &str| VmError::Timeout {
            phase: "booting the guest (waiting for the SSH banner)",
            waited: Duration::from_secs(300),
            last_error: "no SSH banner yet".into(),
            console_tail: tail.into(),
        };
        assert!(
            timeout("[ 22.4] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:")
                .is_boot_stall()
        );
        assert!(!timeout("[ 22.4] Run /init as init process").is_boot_stall());
        let fault = |kind| VmError::GuestFault {
            phase: "booting the guest (waiting for the SSH banner)",
            waited: Duration::from_secs(90),
            kind,
            line: String::new(),
            console_tail: String::new(),
        };
        assert!(fault(super::super::console::BOOT_STALL).is_boot_stall());
        assert!(!fault("kernel panic").is_boot_stall());
    }
}
