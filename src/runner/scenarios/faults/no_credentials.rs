//! no-credentials: a backup with no S3 credentials in its environment (and
//! no credentials file to fall back on) must fail non-zero, say why in its
//! own words (an error it logged: judged by the outcome, not by wording),
//! and publish nothing.

use super::super::{first_subvolume, guest::note_backups, hold, Scenario};
use crate::runner::session::Session;
use crate::verify::layout::Layout;
use crate::verify::Check;
use anyhow::Result;
use serde_json::json;

pub const EXIT_NONZERO: &str = "verify.no_credentials.exit_nonzero";

/// The variables a tool could find credentials in; all removed or pointed nowhere.
const CREDENTIAL_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
];

pub struct NoCredentials;

impl Scenario for NoCredentials {
    fn name(&self) -> &'static str {
        "no-credentials"
    }
    fn expected_checks(&self, _s: &Session) -> Vec<String> {
        vec![EXIT_NONZERO.into()]
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let layout = Layout::from_profile(&s.profile)?;
        let sv = first_subvolume(s)?;
        let mut tool = s.tool.clone();
        tool.env
            .retain(|(k, _)| !CREDENTIAL_VARS.contains(&k.as_str()));
        for (k, v) in [
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/vmharness-credentials",
            ),
            ("AWS_CONFIG_FILE", "/nonexistent/vmharness-config"),
        ] {
            tool.env.push((k.into(), v.into()));
        }
        let start = hold::mark(s).unwrap_or(0);
        let run = s.run_tool("no-credentials-backup", &tool.backup_now(&sv))?;
        note_backups(s, "no-credentials", &run)?;
        let published = s
            .endpoint
            .is_some()
            .then(|| hold::since(s, start))
            .transpose()?
            .map(|r| hold::pointer_writes(&layout, &r, &sv))
            .unwrap_or_default();
        let stderr = run.output.stderr_text();
        let said = run.cause.clone();
        let evidence = json!({
            "said": said,
            "removed": CREDENTIAL_VARS,
            "status": run.status_text(),
            "pointer_writes": published,
            "stderr_tail": crate::programs::tail(&stderr, 10),
        });
        let check = if run.succeeded() {
            Check::fail(
                EXIT_NONZERO,
                evidence,
                "the backup without credentials exited 0 (reported success)",
            )
        } else if !published.is_empty() {
            Check::fail(
                EXIT_NONZERO,
                evidence,
                "the backup without credentials failed but a pointer was written",
            )
        } else {
            match &said {
                None => Check::fail(
                    EXIT_NONZERO,
                    evidence,
                    format!(
                        "the backup failed ({}) without saying why (no error logged on stderr)",
                        run.status_text()
                    ),
                ),
                Some(why) => Check::pass(
                    EXIT_NONZERO,
                    evidence,
                    format!(
                        "the backup failed ({}), published nothing, and said why: {why}",
                        run.status_text()
                    ),
                ),
            }
        };
        s.record(check);
        Ok(())
    }
}
