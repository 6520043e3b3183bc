//! power-loss: during a multi-chunk backup, held by the endpoint at chunk
//! 1, the VM's power is cut (QMP `stop`, then `quit`: no guest sync), and
//! the same disks are booted again. Then: the Btrfs fixture is intact
//! (`btrfs check --readonly` on the unmounted device), the tool's state
//! names only what exists, a rerun succeeds and publishes a complete
//! backup, and that backup restores equal to its snapshot.

use super::super::{first_subvolume, guest, hold, Scenario};
use crate::runner::blame::tool_broke;
use crate::runner::session::Session;
use crate::ssh::shell_quote;
use crate::verify::layout::Layout;
use crate::verify::{names, Check};
use anyhow::Result;
use serde_json::json;
use std::time::Duration;

pub const FIXTURE_INTACT: &str = "verify.power_loss.fixture_intact";
pub const RERUN_SUCCEEDS: &str = "verify.power_loss.rerun_succeeds";
pub const RESTORE: &str = "verify.power_loss.restore";

pub struct PowerLoss;

impl Scenario for PowerLoss {
    fn name(&self) -> &'static str {
        "power-loss"
    }
    fn needs_embedded(&self) -> Option<&'static str> {
        Some("the stall fault, to cut the power mid-upload")
    }
    fn expected_checks(&self, _s: &Session) -> Vec<String> {
        vec![
            FIXTURE_INTACT.into(),
            names::STATE_COHERENT.into(),
            RERUN_SUCCEEDS.into(),
            RESTORE.into(),
        ]
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let layout = Layout::from_profile(&s.profile)?;
        let sv = first_subvolume(s)?;
        super::add_chunk_and_a_half(s, &sv, "power-loss.bin")?;
        // The first request for chunk 1, whatever it is (the last chunk may
        // go by a single PUT where full ones go by multipart).
        // Every request for chunk 1 (a retry too) is held until the cut.
        let stall = hold::Stall::chunks(s, None, &[("subvol", &sv), ("index", "1")], false)?;
        let start = hold::mark(s)?;
        let line = s.tool.backup_now(&sv);
        let (bg, stall) = hold::start_held(s, stall, "power-loss-backup", &line, "at chunk 1")?;
        // Cut after chunk 0 is stored, so that the cut finds a stored chunk
        // and a held one even when the tool uploads chunks concurrently; a
        // tool that stores nothing before chunk 1 is still cut (the
        // evidence says 0 stored).
        let settle = Duration::from_secs(60).min(s.timeout());
        let _ = hold::wait_chunks_stored(s, &layout, &sv, start, 1, settle);
        let at_cut = hold::since(s, start)?;
        let early = hold::pointer_writes(&layout, &at_cut, &sv);
        if !early.is_empty() {
            return Err(tool_broke(
                format!("the backup published current.json while its chunk 1 was still held (not stored): {early:?}"),
                None,
            ));
        }
        let chunks_stored = at_cut
            .iter()
            .filter(|r| hold::is_chunk_stored(&layout, r, &sv))
            .count();
        let bg = hold::still_running(s, bg, "the power cut")?;
        let cut = s.vm.power_cut()?;
        stall.release();
        // The backup died with the guest: nothing to wait for.
        drop(bg);
        let restart = s.vm.restart_same_disks()?;
        s.work.vm_starts += 1;
        let cut_evidence = json!({
            "chunks_stored_before_cut": chunks_stored,
            "writes_before_cut": hold::writes(&at_cut),
            "stop_seconds": cut.stop_seconds,
            "gone_seconds": cut.gone_seconds,
            "console_tail_before_cut": std::fs::read_to_string(&cut.console_log)
                .map(|t| crate::programs::tail(&t, 10))
                .unwrap_or_default(),
            "restart_seconds": restart.seconds,
        });

        // The fixture, unmounted, as the cut left it.
        let device = restart
            .fixture_device
            .clone()
            .unwrap_or_else(|| s.layout.device.clone());
        let out = s.vm.ssh().exec(&crate::ssh::Exec {
            command: &format!(
                "umount {0} 2>/dev/null; btrfs check --readonly {1} 2>&1",
                shell_quote(&s.layout.mount),
                shell_quote(&device)
            ),
            label: "power-loss-btrfs-check",
            timeout: Duration::from_secs(600),
            echo: false,
        })?;
        let report = crate::programs::tail(&out.stdout_text(), 15);
        s.record(if out.success() {
            Check::pass(
                FIXTURE_INTACT,
                json!({"power_cut": cut_evidence, "btrfs_check": report}),
                "btrfs check --readonly found no error after the power cut",
            )
        } else {
            Check::fail(
                FIXTURE_INTACT,
                json!({"power_cut": cut_evidence, "btrfs_check": report}),
                format!(
                    "btrfs check --readonly failed after the power cut (exit {})",
                    out.status
                ),
            )
        });
        s.layout.mount(s.vm.ssh())?;

        let mut coherent = guest::state_coherence(s, &layout)?;
        coherent.diagnosis = format!("after the power cut: {}", coherent.diagnosis);
        s.record(coherent);

        let rerun = super::backup(s, "power-loss", &sv, "power-loss-rerun")?;
        let state = guest::s3_state(s, &layout)?;
        let mut c = guest::published_check(
            RERUN_SUCCEEDS,
            "the rerun after the power cut",
            &rerun,
            &sv,
            &state,
            &layout,
        );
        if rerun.log.events("backup_lock_failed").count() > 0 {
            c.diagnosis = format!(
                "{} (the lock the cut run left was not recovered)",
                c.diagnosis
            );
        }
        s.record(c);
        let c = match rerun.field("backup_uploaded", "manifest_key") {
            Some(key) if rerun.succeeded() => {
                let source = super::snapshot_of(s, &key);
                super::restore_check(s, RESTORE, &sv, &key, source.as_deref(), "power-loss")?
            }
            _ => Check::blocked(
                RESTORE,
                RERUN_SUCCEEDS,
                "nothing to restore: the rerun published no backup",
            ),
        };
        s.record(c);
        Ok(())
    }
}
