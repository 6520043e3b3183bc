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

/// The directory that holds one subdirectory per run: `VMHARNESS_RUN_DIR`,
/// else `run/` in the current directory.
pub fn runs_dir() -> PathBuf {
    match std::env::var_os("VMHARNESS_RUN_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from("run"),
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

/// The project's source directory (recipes, profiles, cloud-init templates),
/// found from the current directory upwards, else the directory the binary
/// was built from.
pub fn project_dir() -> PathBuf {
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            if dir.join("images").is_dir() && dir.join("config").is_dir() {
                return dir.to_path_buf();
            }
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
