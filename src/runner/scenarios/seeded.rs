//! The session's side of stored seeded fixtures ([`crate::fixture::template`]):
//! the key of this run's fixture, finding a stored one for `setup`, and
//! storing what `seed` made.

use crate::fixture::template::{self, Template, TemplateMeta};
use crate::runner::session::Session;
use crate::vm::fixture_layers::flatten_args;
use anyhow::{Context, Result};
use std::process::Command;

/// The key inputs of this session's seeded fixture.
fn inputs(s: &Session) -> Result<serde_json::Value> {
    // The saved states' memo: the same image hashed once for both.
    let memo = crate::paths::states_dir().join(".hashes");
    let image = crate::vm::saved::content_sha256(&s.plan.vm.base_image, &memo)?;
    let kernel = crate::vm::saved::content_sha256(&s.plan.vm.kernel, &memo)?;
    let generator = template::generator_sha256(&crate::paths::project_dir()?.join("guest"))?;
    Ok(template::inputs(
        &s.profile.btrfs,
        &s.profile.fixture,
        &image,
        &kernel,
        &generator,
    ))
}

/// The stored seeded fixture for this session, when templates are on and
/// one was stored.
pub fn find(s: &Session) -> Option<Template> {
    if !template::enabled() {
        return None;
    }
    match inputs(s) {
        Ok(i) => template::find(&template::root(), &template::key_of(&i)),
        Err(e) => {
            tracing::warn!("no stored seeded fixture: its key could not be made: {e:#}");
            None
        }
    }
}

/// Store the fixture `seed` just made (with its `steps`), unless templates
/// are off or one is stored already. A failure only costs later runs their
/// shortcut: it is logged, never the run's.
pub fn store(s: &mut Session, steps: Vec<(String, crate::fixture::StepSummary)>) {
    if !template::enabled() {
        return;
    }
    let t = std::time::Instant::now();
    if let Err(e) = try_store(s, steps) {
        tracing::warn!("the seeded fixture was not stored for later runs: {e:#}");
    }
    s.work.fixture += t.elapsed().as_secs_f64();
}

fn try_store(s: &mut Session, steps: Vec<(String, crate::fixture::StepSummary)>) -> Result<()> {
    let inputs = inputs(s)?;
    let key = template::key_of(&inputs);
    let root = template::root();
    if template::find(&root, &key).is_some() {
        return Ok(());
    }
    // Frozen consistent (sync, fsfreeze) and never written again: the
    // layer below the new top.
    let mount = s.layout.mount.clone();
    let cp = s.vm.checkpoint_fixture(&mount)?;
    let (staging, image) = template::staging_dir(&root, &key)?;
    let qemu_img = crate::programs::require(crate::programs::QEMU_IMG)?;
    let written = crate::programs::run_checked(
        Command::new(qemu_img).args(flatten_args(&cp.layer, &image, true)),
        "writing the seeded fixture out as a template image",
    );
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    let meta = TemplateMeta {
        key,
        inputs,
        steps,
        base_image: s.plan.vm.base_image.clone(),
        created: crate::util::now_rfc3339(),
    };
    template::publish(&root, &staging, &meta)
        .with_context(|| format!("storing the seeded fixture in {}", root.display()))?;
    Ok(())
}
