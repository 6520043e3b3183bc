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

/// What `git bisect run` reads as "this commit cannot be tested": skip it.
pub const BISECT_SKIP: i32 = 125;

/// The exit code under `--bisect`: a harness failure (2) becomes 125 so
/// `git bisect run` skips the commit instead of calling it bad; 0 (good)
/// and 1 (bad: the tool failed a check) are unchanged. Other codes (a
/// remote command's own status) pass through.
pub fn for_bisect(code: i32) -> i32 {
    if code == Outcome::HarnessFailed.code() {
        BISECT_SKIP
    } else {
        code
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

    #[test]
    fn bisect_skips_what_could_not_be_tested() {
        assert_eq!(for_bisect(Outcome::Passed.code()), 0, "good stays good");
        assert_eq!(for_bisect(Outcome::ToolFailed.code()), 1, "bad stays bad");
        assert_eq!(for_bisect(Outcome::HarnessFailed.code()), 125);
        assert_eq!(for_bisect(report(Err(anyhow::anyhow!("no qemu")))), 125);
        assert_eq!(for_bisect(Outcome::Code(7).code()), 7);
    }
}
