//! Where vmharness keeps its cache (images) and its runs.

use std::path::PathBuf;

/// The cache directory: `VMHARNESS_CACHE`, else `$XDG_CACHE_HOME/vmharness`,
/// else `~/.cache/vmharness`.
pub fn cache_dir() -> PathBuf {
    cache_dir_from(
        std::env::var_os("VMHARNESS_CACHE"),
        std::env::var_os("XDG_CACHE_HOME"),
        std::env::var_os("HOME"),
    )
}

fn cache_dir_from(
    explicit: Option<std::ffi::OsString>,
    xdg: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> PathBuf {
    if let Some(dir) = explicit.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = xdg.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("vmharness");
    }
    match home.filter(|d| !d.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("vmharness"),
        None => std::env::temp_dir().join("vmharness-cache"),
    }
}

/// The saved VM states (the fast path's resume points) in the cache directory.
pub fn states_dir() -> PathBuf {
    cache_dir().join("states")
}

/// The image cache inside the cache directory.
pub fn images_dir() -> PathBuf {
    cache_dir().join("images")
}

/// The project's files (recipes, profiles, schemas, guest helpers, the
/// reference tool): a vmharness checkout found from the current directory
/// upwards (its files override the built-in ones), else the files built
/// into the binary, unpacked in the cache ([`crate::assets`]).
pub fn project_dir() -> anyhow::Result<PathBuf> {
    static FOUND: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    if let Some(dir) = FOUND.get() {
        return Ok(dir.clone());
    }
    let checkout = std::env::current_dir()
        .ok()
        .and_then(|cwd| cwd.ancestors().find(|d| is_checkout(d)).map(PathBuf::from));
    let dir = match checkout {
        Some(dir) => dir,
        None => crate::assets::unpacked()?,
    };
    Ok(FOUND.get_or_init(|| dir).clone())
}

/// A vmharness checkout (or an unpacked copy of its files): a tool's own
/// repository with an `images/` or `config/` directory is not one.
fn is_checkout(dir: &std::path::Path) -> bool {
    dir.join("images").is_dir()
        && dir.join("config/test.toml").is_file()
        && dir.join("guest/fixture.py").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_cache_wins() {
        let d = cache_dir_from(Some("/c".into()), Some("/x".into()), Some("/h".into()));
        assert_eq!(d, PathBuf::from("/c"));
    }

    #[test]
    fn xdg_then_home() {
        assert_eq!(
            cache_dir_from(None, Some("/x".into()), Some("/h".into())),
            PathBuf::from("/x/vmharness")
        );
        assert_eq!(
            cache_dir_from(Some("".into()), None, Some("/h".into())),
            PathBuf::from("/h/.cache/vmharness")
        );
    }
}
