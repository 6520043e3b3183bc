//! Exit codes CI users depend on: 0 all checks passed, 1 the tool under test
//! failed a check, 2 the harness or its infrastructure failed.

/// The result of a command that ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything passed (or the command had nothing to check).
    Passed,
    /// The tool under test failed at least one check.
    ToolFailed,
    /// The harness could not do its job (bad setup, infrastructure, a missing program).
    HarnessFailed,
    /// Pass a remote command's own exit status through (`vm ssh`).
    Code(i32),
}

impl Outcome {
    pub fn code(self) -> i32 {
        match self {
            Outcome::Passed => 0,
            Outcome::ToolFailed => 1,
            Outcome::HarnessFailed => 2,
            Outcome::Code(c) => c,
        }
    }
}

/// Print an error with its whole chain of context and turn the outcome into an exit code.
pub fn report(outcome: anyhow::Result<Outcome>) -> i32 {
    match outcome {
        Ok(o) => o.code(),
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            Outcome::HarnessFailed.code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(Outcome::Passed.code(), 0);
        assert_eq!(Outcome::ToolFailed.code(), 1);
        assert_eq!(Outcome::HarnessFailed.code(), 2);
        assert_eq!(report(Err(anyhow::anyhow!("boom"))), 2);
    }
}
