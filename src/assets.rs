//! The project files built into the binary (image recipes and overlays,
//! profiles, JSON Schemas, the guest helpers, the reference tool: see
//! `build.rs`), unpacked on first use into the cache, one directory per
//! content digest. A vmharness checkout on disk overrides them (see
//! [`crate::paths::project_dir`]).

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The tar `build.rs` packed.
static TAR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/assets.tar"));

/// The directory under the cache that holds one unpacked copy per digest.
pub fn root() -> PathBuf {
    crate::paths::cache_dir().join("assets")
}

/// The first 16 hex digits of the built-in files' SHA-256: their directory's name.
pub fn digest() -> String {
    hex::encode(&Sha256::digest(TAR)[..8])
}

/// The built-in files, unpacked (once per digest) under [`root`].
pub fn unpacked() -> Result<PathBuf> {
    unpack_into(&root(), &digest(), TAR)
}

/// Unpack `tar` as `parent/name`, atomically: into a temporary directory
/// beside it, then renamed, so a directory of that name is always complete
/// (two processes unpacking at once both end with the same files).
fn unpack_into(parent: &Path, name: &str, tar: &[u8]) -> Result<PathBuf> {
    let dest = parent.join(name);
    if dest.is_dir() {
        return Ok(dest);
    }
    let fix = "set VMHARNESS_CACHE to a writable directory, or run from a vmharness checkout";
    std::fs::create_dir_all(parent).with_context(|| {
        format!(
            "creating {} for the built-in files ({fix})",
            parent.display()
        )
    })?;
    let tmp = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(parent)
        .with_context(|| {
            format!(
                "unpacking the built-in files in {} ({fix})",
                parent.display()
            )
        })?;
    tar::Archive::new(tar)
        .unpack(tmp.path())
        .with_context(|| format!("unpacking the built-in files into {}", tmp.path().display()))?;
    // tempdir makes 0700: other users (a CI test user) read the same copy.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    let tmp = tmp.keep();
    if let Err(e) = std::fs::rename(&tmp, &dest) {
        let _ = std::fs::remove_dir_all(&tmp);
        if !dest.is_dir() {
            return Err(e)
                .with_context(|| format!("moving the built-in files to {}", dest.display()));
        }
    }
    Ok(dest)
}

/// Remove the unpacked copies of other builds (`image prune`); returns their paths.
pub fn prune_others() -> Result<Vec<PathBuf>> {
    let keep = digest();
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(root()) else {
        return Ok(removed);
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy() != keep && e.path().is_dir() {
            std::fs::remove_dir_all(e.path())
                .with_context(|| format!("removing {}", e.path().display()))?;
            removed.push(e.path());
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_files_hold_what_a_run_reads() {
        let mut names = Vec::new();
        for e in tar::Archive::new(TAR).entries().unwrap() {
            names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
        }
        for needed in [
            "images/debian-13.toml",
            "config/test.toml",
            "config/quick.toml",
            "expected/manifest.schema.json",
            "guest/fixture.py",
            "reference-tool/btrfs_to_s3/__main__.py",
        ] {
            assert!(
                names.iter().any(|n| n == needed),
                "{needed} missing from {names:?}"
            );
        }
        assert!(!names.iter().any(|n| n.contains("__pycache__")));
    }

    #[test]
    fn unpacks_once_and_completely() {
        let dir = tempfile::tempdir().unwrap();
        let a = unpack_into(dir.path(), "d1", TAR).unwrap();
        assert!(a.join("config/test.toml").is_file());
        // The same name is reused as it is (not unpacked again).
        std::fs::write(a.join("marker"), "x").unwrap();
        let b = unpack_into(dir.path(), "d1", TAR).unwrap();
        assert_eq!(a, b);
        assert!(b.join("marker").is_file());
        // Nothing half-unpacked is left beside it.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1);
        // The files match the checkout's.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(
            std::fs::read(a.join("images/debian-13.toml")).unwrap(),
            std::fs::read(root.join("images/debian-13.toml")).unwrap()
        );
    }
}
