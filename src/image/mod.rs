//! Guest images: recipes, building, the cache.

pub mod build;
pub mod cache;
pub mod cloud;
pub mod download;
pub mod recipe;

use anyhow::Result;

/// Load the recipe named (or the default) and make sure its image is built.
pub fn ensure(recipe: &str) -> Result<cache::Entry> {
    let path = recipe::locate(&crate::paths::project_dir()?.join("images"), recipe)?;
    match recipe::load(&path)? {
        recipe::AnyRecipe::Mmdebstrap(r) => build::build(&r, &crate::paths::images_dir()),
        recipe::AnyRecipe::Cloud(r) => cloud::build(&r, &crate::paths::images_dir()),
    }
}

/// The recipe every profile uses unless it says otherwise.
pub const DEFAULT_RECIPE: &str = "debian-13";
