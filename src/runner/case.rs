//! Many cases on one VM. The seeded fixture is kept as a template disk;
//! each case then gets a copy-on-write copy of it, a fresh endpoint (same
//! port and credentials, so the guest's relay and the tool's environment
//! stay valid; a new store and journal), no tool state, and no facts.

use super::session::Session;
use crate::ssh::shell_quote;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Duration;

impl Session {
    /// Keep the fixture as it is now as the template of every later case.
    pub fn keep_fixture_as_template(&mut self) -> Result<()> {
        let errors = self.layout.teardown(self.vm.ssh())?;
        if !errors.is_empty() {
            bail!(
                "the kernel logged Btrfs errors on the fixture: {}",
                errors.join("; ")
            );
        }
        self.vm.detach_fixture(true)?;
        Ok(())
    }

    /// Start a case whose reports, store and journal go to `dir`, with
    /// `env` added to the tool's environment (replacing same-named entries).
    pub fn begin_case(&mut self, dir: &Path, env: &[(String, String)]) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        // The previous case's fixture and tool state go.
        let script = reset_script(&self.layout.discard_script(), &self.profile.tool);
        self.vm
            .ssh()
            .run("case-reset", &script, Duration::from_secs(300))
            .context("resetting the guest for the next case")?;
        if self.vm.state().fixture_serial.is_some() {
            self.vm.detach_fixture(false)?;
        }
        self.vm
            .attach_fixture_from_template(&self.plan.fixture_serial)?;
        self.layout.mount(self.vm.ssh())?;
        self.restart_endpoint(&dir)?;
        self.run_dir = dir;
        // The previous case's checkpoints belong to its fixture and store.
        self.checkpoints.clear();
        self.quirk_paths.clear();
        self.backups.clear();
        self.snapshots.clear();
        self.transfers.clear();
        // A case runs in the VM already started: no start of its own.
        self.work = Default::default();
        self.tool
            .env
            .retain(|(k, _)| !env.iter().any(|(n, _)| n == k));
        self.tool.env.extend(env.iter().cloned());
        Ok(())
    }

    /// A new endpoint on the same port with the same credentials.
    fn restart_endpoint(&mut self, dir: &Path) -> Result<()> {
        let Some(old) = self.endpoint.take() else {
            bail!("the session has no embedded endpoint to restart");
        };
        let mut cfg = super::session::endpoint_config(&self.profile, dir);
        cfg.port = old.port();
        cfg.credentials = Some(old.credentials().clone());
        cfg.tls = old.tls().cloned();
        self.rt.block_on(old.shutdown());
        let ep = self
            .rt
            .block_on(crate::s3::Endpoint::start(cfg))
            .context("restarting the embedded S3 endpoint for the next case")?;
        self.client = crate::s3::S3Client::for_endpoint(&ep)
            .context("the host's client of the restarted embedded S3 endpoint")?;
        self.endpoint = Some(ep);
        Ok(())
    }
}

/// Unmount the fixture and remove the tool's state, lock and spool.
fn reset_script(unmount: &str, tool: &crate::profile::ToolSection) -> String {
    format!(
        "{unmount}\nrm -rf {} {} {}",
        shell_quote(&tool.state_path),
        shell_quote(&tool.lock_path),
        shell_quote(&tool.spool_dir)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_removes_state_lock_and_spool_after_the_teardown() {
        let tool = crate::profile::ToolSection::default();
        let s = reset_script("umount /mnt/btrfs", &tool);
        assert_eq!(
            s,
            "umount /mnt/btrfs\nrm -rf /var/lib/btrfs_to_s3/state.json \
             /var/lib/btrfs_to_s3/backup.lock /var/lib/btrfs_to_s3/spool"
        );
    }
}
