//! cleanup: delete the run's prefix (objects and incomplete multipart
//! uploads), then prove it is empty.

use super::Scenario;
use crate::runner::session::Session;
use crate::verify::Check;
use anyhow::{Context, Result};
use serde_json::json;

pub const PREFIX_EMPTY: &str = "cleanup.prefix_empty";

pub struct Cleanup;

impl Scenario for Cleanup {
    fn name(&self) -> &'static str {
        "cleanup"
    }
    fn expected_checks(&self, _s: &Session) -> Vec<String> {
        vec![PREFIX_EMPTY.into()]
    }
    fn needs(&self) -> &'static [&'static str] {
        &[]
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let prefix = s.profile.s3.normalized_prefix();
        let cleaned =
            s.rt.block_on(s.client.delete_prefix(&prefix))
                .context("deleting the prefix")?;
        let left =
            s.rt.block_on(s.client.list(&prefix))
                .context("listing the prefix")?;
        let uploads =
            s.rt.block_on(s.client.list_uploads(&prefix))
                .context("listing uploads")?;
        let evidence = json!({"prefix": prefix, "deleted": cleaned.objects, "uploads_aborted": cleaned.uploads, "objects_left": left.len(), "uploads_left": uploads.len()});
        // A prefix the harness cannot empty is the harness's problem.
        if !left.is_empty() || !uploads.is_empty() {
            anyhow::bail!(
                "cleanup left {} object(s) and {} upload(s) under {prefix}",
                left.len(),
                uploads.len()
            );
        }
        s.record(Check::pass(
            PREFIX_EMPTY,
            evidence,
            format!(
                "{} object(s) deleted, {} upload(s) aborted; nothing left under {prefix}",
                cleaned.objects, cleaned.uploads
            ),
        ));
        Ok(())
    }
}
