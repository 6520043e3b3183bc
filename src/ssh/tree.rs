//! Which files of a host directory tree are copied into the guest: all but
//! version control, interpreter caches, virtual environments and the
//! directories the caller names (a tool's repository may hold vmharness's
//! own runs, with their disk images).

use std::path::{Path, PathBuf};

/// Directory names never copied.
pub const SKIPPED_NAMES: &[&str] = &[
    ".git",
    ".hg",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".tox",
    ".venv",
    "venv",
    "node_modules",
];

/// The entries under `root` to copy, as (path on the host, path in the
/// tar), directories before what they hold, in name order.
pub fn entries(root: &Path, skip: &[PathBuf]) -> std::io::Result<Vec<(PathBuf, PathBuf)>> {
    let mut out = Vec::new();
    walk(root, Path::new(""), skip, &mut out)?;
    Ok(out)
}

fn walk(
    dir: &Path,
    rel: &Path,
    skip: &[PathBuf],
    out: &mut Vec<(PathBuf, PathBuf)>,
) -> std::io::Result<()> {
    let mut children: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    children.sort_by_key(|e| e.file_name());
    for e in children {
        let path = e.path();
        let name = e.file_name();
        let is_dir = e.file_type()?.is_dir();
        if is_dir
            && (SKIPPED_NAMES.iter().any(|s| name == *s) || skip.iter().any(|s| same_dir(s, &path)))
        {
            continue;
        }
        let rel = rel.join(&name);
        out.push((path.clone(), rel.clone()));
        if is_dir {
            walk(&path, &rel, skip, out)?;
        }
    }
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_caches_version_control_and_named_directories() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for dir in [
            "pkg/__pycache__",
            ".git/objects",
            "vmharness-runs/r1",
            "pkg/sub",
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for f in [
            "pkg/__init__.py",
            "pkg/__pycache__/x.pyc",
            ".git/HEAD",
            "vmharness-runs/r1/fixture.qcow2",
            "pkg/sub/m.py",
            ".gitignore",
        ] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        let got: Vec<String> = entries(root, &[root.join("vmharness-runs")])
            .unwrap()
            .into_iter()
            .map(|(_, rel)| rel.display().to_string())
            .collect();
        assert_eq!(
            got,
            [
                ".gitignore",
                "pkg",
                "pkg/__init__.py",
                "pkg/sub",
                "pkg/sub/m.py"
            ]
        );
    }
}
