//! Whose fault it is when a scenario cannot be carried out as planned.
//!
//! Exit 2 means vmharness or its infrastructure failed (VM, SSH, endpoint,
//! image, a harness bug). When the tool under test makes a scenario
//! impossible (it failed, crashed, hung, published nothing, left something
//! behind), the scenario returns a [`ToolBroke`] error instead: the runner
//! records it as a FAIL of the scenario's precondition check, with the
//! tool's own cause, and the checks it could not reach as skips the tool
//! caused (exit 1), never as a harness error.

use super::session::{Invocation, ToolRun};
use crate::verify::{names, Check};
use serde_json::{json, Value};

/// The tool made the scenario impossible to carry out as planned.
#[derive(Debug)]
pub struct ToolBroke {
    /// What the scenario needed and did not get, in a sentence.
    pub message: String,
    /// The tool run that broke it (status, stderr tail), when there was one.
    pub evidence: Value,
}

impl std::fmt::Display for ToolBroke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ToolBroke {}

/// A [`ToolBroke`] error: `message`, with `run`'s status and log tail as
/// evidence (the runner appends the tool's own cause to the diagnosis).
pub fn tool_broke(message: impl Into<String>, run: Option<&ToolRun>) -> anyhow::Error {
    let evidence = match run {
        Some(r) => json!({
            "status": r.status_text(),
            "cause": r.cause,
            "stderr_tail": crate::programs::tail(&r.output.stderr_text(), 12),
        }),
        None => Value::Null,
    };
    anyhow::Error::new(ToolBroke {
        message: message.into(),
        evidence,
    })
}

/// Who an error of a scenario is blamed on.
#[derive(Debug)]
pub enum Blame<'a> {
    /// The tool under test (exit 1).
    Tool(&'a ToolBroke),
    /// vmharness or its infrastructure (exit 2).
    Harness,
}

/// The blame of a scenario's error: the tool's when a [`ToolBroke`] is
/// anywhere in its chain (context added on the way keeps it), else the
/// harness's.
pub fn classify(e: &anyhow::Error) -> Blame<'_> {
    match e.downcast_ref::<ToolBroke>() {
        Some(t) => Blame::Tool(t),
        None => Blame::Harness,
    }
}

/// `verify.<scenario>.precondition`: the check a scenario fails when the
/// tool left it nothing to judge (`s3-errors` -> `verify.s3_errors.precondition`).
pub fn precondition_check(scenario: &str) -> String {
    format!("verify.{}.precondition", scenario.replace('-', "_"))
}

/// `verify.tool.no_crash` over every tool command of a scenario: none
/// ended on an uncaught exception or a signal the harness did not send,
/// even where the scenario expected the command to fail.
pub fn no_crash(invocations: &[Invocation]) -> Check {
    let crashed: Vec<&Invocation> = invocations.iter().filter(|i| i.crash.is_some()).collect();
    let evidence = json!({
        "commands": invocations.len(),
        "crashed": crashed,
    });
    match crashed.first() {
        None => Check::pass(
            names::NO_CRASH,
            evidence,
            format!(
                "none of the {} tool command(s) crashed (no uncaught exception, no signal the harness did not send)",
                invocations.len()
            ),
        ),
        Some(first) => {
            let how = first
                .crash
                .as_ref()
                .map(|c| c.summary.clone())
                .unwrap_or_default();
            Check::fail(
                names::NO_CRASH,
                evidence,
                format!(
                    "{} of {} tool command(s) crashed; {} ({}): {how}",
                    crashed.len(),
                    invocations.len(),
                    first.label,
                    first.status
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    fn invocation(label: &str, crash: Option<&str>) -> Invocation {
        Invocation {
            label: label.into(),
            status: "exit 1".into(),
            crash: crash.map(|c| crate::verify::tool_output::Crash {
                kind: crate::verify::tool_output::CrashKind::PythonTraceback,
                summary: c.into(),
            }),
            cause: None,
        }
    }

    #[test]
    fn a_crash_in_any_command_fails_no_crash_and_names_it() {
        let ok = no_crash(&[invocation("backup", None), invocation("restore", None)]);
        assert_eq!(ok.verdict, crate::verify::Verdict::Pass);
        let bad = no_crash(&[
            invocation("backup", None),
            invocation(
                "s3-errors-fatal",
                Some("botocore.exceptions.ClientError: boom"),
            ),
        ]);
        assert_eq!(bad.verdict, crate::verify::Verdict::Fail);
        assert_eq!(
            bad.diagnosis,
            "1 of 2 tool command(s) crashed; s3-errors-fatal (exit 1): botocore.exceptions.ClientError: boom"
        );
    }

    #[test]
    fn a_tool_error_keeps_its_blame_through_context() {
        let e = tool_broke("the good backup failed (exit 1)", None);
        let e = Err::<(), _>(e)
            .context("interrupt variant SIGTERM")
            .unwrap_err();
        match classify(&e) {
            Blame::Tool(t) => assert_eq!(t.message, "the good backup failed (exit 1)"),
            Blame::Harness => panic!("blamed on the harness: {e:#}"),
        }
        assert_eq!(
            format!("{e:#}"),
            "interrupt variant SIGTERM: the good backup failed (exit 1)"
        );
    }

    #[test]
    fn anything_else_is_the_harness() {
        let e = anyhow::anyhow!("ssh: connection reset");
        assert!(matches!(classify(&e), Blame::Harness));
        let io = std::io::Error::other("qemu exited");
        let e = anyhow::Error::new(io).context("attaching the fixture disk");
        assert!(matches!(classify(&e), Blame::Harness));
    }

    #[test]
    fn precondition_names_follow_the_check_names() {
        assert_eq!(
            precondition_check("s3-errors"),
            "verify.s3_errors.precondition"
        );
        assert_eq!(precondition_check("restore"), "verify.restore.precondition");
    }
}
