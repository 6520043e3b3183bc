//! Checkpoints of the fixture disk and rollbacks to them (see
//! `fixture_layers` for the layer stack they build).

use super::{remove_layers, Vm};
use crate::programs::{self, run_checked};
use crate::ssh::shell_quote;
use crate::vm::error::{PhaseContext, VmError};
use crate::vm::fixture_layers::{fixture_create_args, FixtureCheckpoint, FixtureDisk};
use crate::vm::qemu_args::FIXTURE_NODE;
use anyhow::Context;
use std::process::Command;
use std::time::Instant;

impl Vm {
    /// Checkpoint the fixture as it is now: quiesce the guest's filesystem
    /// mounted at `mount` (`sync`, `fsfreeze -f`), freeze the fixture's
    /// current image over QMP (it becomes a read-only layer, a new empty
    /// overlay takes the guest's writes), and thaw the filesystem again,
    /// also when the snapshot failed. Costs two guest commands and one QMP
    /// command. Later checkpoints stack on this one.
    pub fn checkpoint_fixture(&mut self, mount: &str) -> Result<FixtureCheckpoint, VmError> {
        const PHASE: &str = "checkpointing the fixture disk";
        let start = Instant::now();
        self.check_alive(PHASE)?;
        let Some(stack) = self.fixture.as_ref() else {
            return Err(no_fixture(PHASE));
        };
        let frozen = stack.top();
        let node = stack.top_node().to_string();
        let (overlay, overlay_node) = stack.next_layer();
        let timeout = self.cfg.command_timeout;
        let m = shell_quote(mount);
        let freeze = self
            .ssh
            .run(
                "fixture-freeze",
                &format!("sync -f {m} && fsfreeze --freeze {m}"),
                timeout,
            )
            .with_context(|| format!("freezing the filesystem at {mount} in the guest"));
        let snapshot = match &freeze {
            Ok(_) => self
                .qmp
                .snapshot_disk(&node, &overlay, &overlay_node)
                .with_context(|| {
                    format!(
                        "freezing {} under the new layer {} (QMP blockdev-snapshot-sync)",
                        frozen.display(),
                        overlay.display()
                    )
                }),
            Err(_) => Err(anyhow::anyhow!("not frozen")),
        };
        if snapshot.is_ok() {
            if let Some(stack) = self.fixture.as_mut() {
                stack.push_snapshot();
            }
        }
        // Always: a freeze that timed out on our side may have happened.
        let thaw = self
            .ssh
            .run("fixture-thaw", &format!("fsfreeze --unfreeze {m}"), timeout)
            .with_context(|| format!("thawing the filesystem at {mount} in the guest"));
        freeze.phase(PHASE)?;
        self.qmp_result(PHASE, snapshot)?;
        thaw.phase(PHASE)?;
        self.check_alive(PHASE)?;
        Ok(FixtureCheckpoint {
            layer: frozen,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// Put the fixture back as it was at checkpoint `cp` (made on this
    /// fixture, and not below a checkpoint rolled back to since). The
    /// caller has unmounted it in the guest. Unplugs the fixture, deletes
    /// the layers above `cp`'s, hot-plugs a fresh overlay on `cp`'s layer
    /// with the same serial and waits for
    /// `/dev/disk/by-id/virtio-<serial>`, which it returns (not mounted).
    /// `cp` and the checkpoints below it can be rolled back to again; the
    /// ones above it are gone.
    pub fn rollback_fixture(&mut self, cp: &FixtureCheckpoint) -> Result<String, VmError> {
        const PHASE: &str = "rolling the fixture disk back to a checkpoint";
        self.check_alive(PHASE)?;
        let (Some(serial), Some(stack)) = (self.state.fixture_serial.clone(), &self.fixture) else {
            return Err(no_fixture(PHASE));
        };
        let Some(index) = stack.position(cp) else {
            return Err(VmError::Other {
                phase: PHASE,
                source: anyhow::anyhow!(
                    "the checkpoint's layer {} is not in the fixture's stack {:?} \
                     (the fixture was detached, or rolled back below that checkpoint)",
                    cp.layer.display(),
                    stack.files()
                ),
            });
        };
        self.unplug_fixture(PHASE)?;
        let Some(stack) = self.fixture.as_mut() else {
            return Err(no_fixture(PHASE));
        };
        let dropped = stack.truncate_above(index);
        let base = stack.top();
        let (overlay, _) = stack.next_layer();
        // On record before it exists, so a failure below leaves nothing
        // the teardown does not know about.
        stack.push_overlay();
        remove_layers(&dropped).phase(PHASE)?;
        let qemu_img = programs::require(programs::QEMU_IMG).phase(PHASE)?;
        run_checked(
            Command::new(qemu_img).args(fixture_create_args(&FixtureDisk::CopyOf(base), &overlay)),
            "creating the fixture's new top layer",
        )
        .phase(PHASE)?;
        // Btrfs remembers each device of an unmounted filesystem with the
        // generation it last saw; the rolled-back disk is older, and should
        // it come back under another name the kernel would refuse it
        // ("already registered with a higher generation").
        self.ssh
            .run(
                "fixture-forget",
                "btrfs device scan --forget >/dev/null 2>&1; true",
                self.cfg.command_timeout,
            )
            .context("forgetting the unplugged Btrfs device in the guest")
            .phase(PHASE)?;
        let plugged = self
            .qmp
            .hotplug_disk(FIXTURE_NODE, &overlay, &serial)
            .with_context(|| format!("hot-plugging {}", overlay.display()));
        self.qmp_result(PHASE, plugged)?;
        self.await_disk(&serial, PHASE)
    }
}

fn no_fixture(phase: &'static str) -> VmError {
    VmError::Other {
        phase,
        source: anyhow::anyhow!("no fixture disk is attached"),
    }
}
