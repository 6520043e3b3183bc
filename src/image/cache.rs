//! The image cache: one directory per built recipe, complete or absent.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const META: &str = "meta.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntryMeta {
    pub name: String,
    pub key: String,
    pub suite: String,
    pub kernel_release: String,
    pub packages: usize,
    pub built_at: String,
    pub build_seconds: f64,
    /// The root device on the kernel command line (a cloud image's root is
    /// a partition).
    #[serde(default = "default_root")]
    pub root: String,
}

/// Where a built image's root filesystem is: the whole disk.
pub const DEFAULT_ROOT: &str = "/dev/vda";

fn default_root() -> String {
    DEFAULT_ROOT.into()
}

impl EntryMeta {
    pub fn write(&self, dir: &Path) -> Result<()> {
        crate::util::write_json(&dir.join(META), self)
    }
}

/// A complete cache entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub dir: PathBuf,
    pub meta: EntryMeta,
}

impl Entry {
    /// The entry at `dir`, or None when there is none (a build moves a
    /// finished directory into place, so a present one is complete).
    pub fn open(dir: &Path) -> Result<Option<Entry>> {
        Ok(
            crate::util::read_json_if_file(&dir.join(META))?.map(|meta| Entry {
                dir: dir.to_path_buf(),
                meta,
            }),
        )
    }
    pub fn base(&self) -> PathBuf {
        self.dir.join("base.qcow2")
    }
    pub fn kernel(&self) -> PathBuf {
        self.dir.join("vmlinuz")
    }
    pub fn initrd(&self) -> PathBuf {
        self.dir.join("initrd.img")
    }
    pub fn lock(&self) -> PathBuf {
        self.dir.join("packages.lock")
    }
    /// Bytes on disk (allocated).
    pub fn disk_usage(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.blocks() * 512)
            .sum()
    }
}

/// Every complete entry in the cache, sorted by name then build time.
pub fn list(images_dir: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(images_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("listing {}", images_dir.display())),
    };
    for e in rd.flatten() {
        if let Some(entry) = Entry::open(&e.path())? {
            out.push(entry);
        }
    }
    out.sort_by(|a, b| (&a.meta.name, &a.meta.built_at).cmp(&(&b.meta.name, &b.meta.built_at)));
    Ok(out)
}

/// What `prune` removed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub entries: Vec<PathBuf>,
    pub partial: Vec<PathBuf>,
}

/// Remove entries whose key is not in `keep`, and half-built directories of
/// builders that are gone.
pub fn prune(images_dir: &Path, keep: &[String]) -> Result<Pruned> {
    let mut pruned = Pruned::default();
    for entry in list(images_dir)? {
        if !keep.contains(&entry.meta.key) {
            std::fs::remove_dir_all(&entry.dir)
                .with_context(|| format!("removing {}", entry.dir.display()))?;
            pruned.entries.push(entry.dir);
        }
    }
    for e in std::fs::read_dir(images_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(".build-") {
            let pid: Option<i32> = rest.rsplit('-').next().and_then(|p| p.parse().ok());
            let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                std::fs::remove_dir_all(e.path())
                    .with_context(|| format!("removing {}", e.path().display()))?;
                pruned.partial.push(e.path());
            }
        }
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_entry(images: &Path, name: &str, key: &str) -> PathBuf {
        let dir = images.join(format!("{name}-{key}"));
        std::fs::create_dir_all(&dir).unwrap();
        EntryMeta {
            name: name.into(),
            key: key.into(),
            suite: "trixie".into(),
            kernel_release: "6.12".into(),
            packages: 1,
            built_at: "2026-01-01T00:00:00Z".into(),
            build_seconds: 1.0,
            root: DEFAULT_ROOT.into(),
        }
        .write(&dir)
        .unwrap();
        dir
    }

    #[test]
    fn directory_without_meta_is_not_an_entry() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("x-1")).unwrap();
        assert!(list(t.path()).unwrap().is_empty());
    }

    #[test]
    fn prune_keeps_current_and_removes_dead_partials() {
        let t = tempfile::tempdir().unwrap();
        let keep = fake_entry(t.path(), "a", "k1");
        let old = fake_entry(t.path(), "a", "k0");
        let dead = t.path().join(".build-a-k2-999999999");
        std::fs::create_dir_all(&dead).unwrap();
        let live = t.path().join(format!(".build-a-k3-{}", std::process::id()));
        std::fs::create_dir_all(&live).unwrap();
        let p = prune(t.path(), &["k1".to_string()]).unwrap();
        assert_eq!(p.entries, vec![old.clone()]);
        assert_eq!(p.partial, vec![dead.clone()]);
        assert!(keep.exists() && !old.exists() && !dead.exists() && live.exists());
    }
}
