//! Packs the project files a run reads at run time (image recipes and their
//! overlays, profiles, JSON Schemas, the guest helpers, the reference tool)
//! into one tar that the binary embeds (`src/assets.rs`), so that an
//! installed `vmharness` works from any directory.

use std::fs::File;
use std::path::{Path, PathBuf};

/// The directories an installed binary carries, relative to the project root.
const DIRS: &[&str] = &["images", "config", "expected", "guest", "reference-tool"];

fn main() {
    let root = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("assets.tar");
    let file = File::create(&out).unwrap_or_else(|e| panic!("creating {}: {e}", out.display()));
    let mut tar = tar::Builder::new(file);
    // Same bytes for the same files: no owners or times in the headers.
    tar.mode(tar::HeaderMode::Deterministic);
    println!("cargo:rerun-if-changed=build.rs");
    for dir in DIRS {
        println!("cargo:rerun-if-changed={dir}");
        add(&mut tar, &root, Path::new(dir));
    }
    tar.finish()
        .unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

/// Append `rel` (a directory below `root`) in name order, without the
/// interpreter's caches.
fn add(tar: &mut tar::Builder<File>, root: &Path, rel: &Path) {
    let dir = root.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name == "__pycache__" || name == ".pytest_cache" || name.ends_with(".pyc") {
            continue;
        }
        let path = e.path();
        let rel = rel.join(&*name);
        if path.is_dir() {
            add(tar, root, &rel);
        } else {
            tar.append_path_with_name(&path, &rel)
                .unwrap_or_else(|e| panic!("packing {}: {e}", path.display()));
        }
    }
}
