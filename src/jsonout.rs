//! `--json` of a long command: stdout carries one JSON document and nothing
//! else. While the command runs, file descriptor 1 points at stderr, so
//! progress lines, tables and child processes that inherit stdout all land
//! there; the document goes to the real stdout at the end.

use anyhow::{Context, Result};
use serde::Serialize;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The real stdout, set aside until [`Reserved::emit`].
pub struct Reserved {
    saved: Option<OwnedFd>,
}

impl Reserved {
    /// Point fd 1 at stderr, keeping the real stdout.
    pub fn take() -> Result<Reserved> {
        std::io::stdout().flush().context("flushing stdout")?;
        // SAFETY: dup of an open descriptor; the new one is owned here.
        let fd = unsafe { libc::dup(1) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("saving stdout for --json");
        }
        // SAFETY: `fd` was just returned by dup and is owned by nobody else.
        let saved = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: dup2 between two open descriptors of this process.
        if unsafe { libc::dup2(2, 1) } < 0 {
            return Err(std::io::Error::last_os_error())
                .context("pointing stdout at stderr for --json");
        }
        Ok(Reserved { saved: Some(saved) })
    }

    /// Give stdout back and print `doc` on it as pretty JSON.
    pub fn emit(mut self, doc: &impl Serialize) -> Result<()> {
        let text = serde_json::to_string_pretty(doc)?;
        self.restore()?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").context("writing the JSON summary")?;
        out.flush().context("writing the JSON summary")
    }

    fn restore(&mut self) -> Result<()> {
        if let Some(saved) = self.saved.take() {
            std::io::stdout().flush().context("flushing stdout")?;
            // SAFETY: dup2 between two open descriptors of this process.
            if unsafe { libc::dup2(saved.as_raw_fd(), 1) } < 0 {
                return Err(std::io::Error::last_os_error()).context("restoring stdout");
            }
        }
        Ok(())
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        let _ = self.restore();
    }
}
