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
