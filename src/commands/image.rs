//! `vmharness image build|list|prune`.

use crate::cli::ImageCommand;
use crate::exit::Outcome;
use crate::image::{cache, recipe};
use crate::paths;
use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;

pub fn run(cmd: ImageCommand) -> Result<Outcome> {
    match cmd {
        ImageCommand::Build { recipe } => {
            let entry = crate::image::ensure(&recipe)?;
            println!(
                "{} {} kernel {} ({} packages) at {}",
                entry.meta.name,
                entry.meta.key,
                entry.meta.kernel_release,
                entry.meta.packages,
                entry.dir.display()
            );
            Ok(Outcome::Passed)
        }
        ImageCommand::List { json } => {
            let entries = cache::list(&paths::images_dir())?;
            if json {
                let lines: Vec<ImageLine> = entries.iter().map(ImageLine::of).collect();
                println!("{}", serde_json::to_string_pretty(&lines)?);
                return Ok(Outcome::Passed);
            }
            if entries.is_empty() {
                println!("no images in {}", paths::images_dir().display());
            }
            for e in entries {
                println!(
                    "{:<12} {}  kernel {:<24} {:>6} MiB  built {}",
                    e.meta.name,
                    e.meta.key,
                    e.meta.kernel_release,
                    e.disk_usage() / (1 << 20),
                    e.meta.built_at
                );
            }
            Ok(Outcome::Passed)
        }
        ImageCommand::Prune { all } => {
            let keep = if all { Vec::new() } else { current_keys()? };
            let pruned = cache::prune(&paths::images_dir(), &keep)?;
            for p in pruned.entries.iter().chain(&pruned.partial) {
                println!("removed {}", p.display());
            }
            let states = crate::vm::resume::prune_orphans(&paths::states_dir());
            for p in &states {
                println!("removed {}", p.display());
            }
            let generator =
                crate::fixture::template::generator_sha256(&paths::project_dir()?.join("guest"))?;
            let fixtures =
                crate::fixture::template::prune(&crate::fixture::template::root(), &generator, all);
            let assets = crate::assets::prune_others()?;
            for p in fixtures.iter().chain(&assets) {
                println!("removed {}", p.display());
            }
            println!(
                "{} image(s), {} partial build(s), {} saved VM state(s), {} seeded fixture(s) \
                 and {} copies of other builds' built-in files removed",
                pruned.entries.len(),
                pruned.partial.len(),
                states.len(),
                fixtures.len(),
                assets.len()
            );
            Ok(Outcome::Passed)
        }
    }
}

/// One image of `image list --json`.
#[derive(Debug, Serialize)]
pub struct ImageLine {
    pub name: String,
    /// The recipe's hash: the cache key.
    pub recipe_hash: String,
    pub path: PathBuf,
    /// Bytes on disk.
    pub size_bytes: u64,
    pub built_at: String,
    pub kernel_release: String,
    pub packages: usize,
    pub packages_lock: PathBuf,
}

impl ImageLine {
    fn of(e: &cache::Entry) -> ImageLine {
        ImageLine {
            name: e.meta.name.clone(),
            recipe_hash: e.meta.key.clone(),
            path: e.dir.clone(),
            size_bytes: e.disk_usage(),
            built_at: e.meta.built_at.clone(),
            kernel_release: e.meta.kernel_release.clone(),
            packages: e.meta.packages,
            packages_lock: e.lock(),
        }
    }
}

/// Keys of the recipes in the project's images/ directory as they are now.
fn current_keys() -> Result<Vec<String>> {
    let dir = paths::project_dir()?.join("images");
    recipe::available(&dir)
        .iter()
        .map(|name| {
            Ok(recipe::load(&recipe::locate(&dir, name)?)?
                .key()
                .to_string())
        })
        .collect()
}
