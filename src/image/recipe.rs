//! Guest image recipes (`images/*.toml`) and their content-addressed key.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Bumped whenever the build steps change what an entry contains.
const BUILD_FORMAT: &str = "vmharness-image-v1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub name: String,
    pub suite: String,
    pub mirror: String,
    #[serde(default = "default_components")]
    pub components: Vec<String>,
    #[serde(default = "default_variant")]
    pub variant: String,
    pub kernel_package: String,
    #[serde(default)]
    pub kernel_version: Option<String>,
    pub packages: Vec<String>,
    pub disk_size_mib: u64,
    #[serde(default)]
    pub overlay: Option<PathBuf>,
    #[serde(default)]
    pub mask_units: Vec<String>,
    #[serde(default)]
    pub enable_units: Vec<String>,
    #[serde(default)]
    pub initramfs_modules: Vec<String>,
}

fn default_components() -> Vec<String> {
    vec!["main".into()]
}
fn default_variant() -> String {
    "apt".into()
}

/// A recipe with where it came from and its cache key.
#[derive(Debug, Clone)]
pub struct ResolvedRecipe {
    pub recipe: Recipe,
    pub path: PathBuf,
    pub overlay_dir: Option<PathBuf>,
    pub key: String,
}

impl ResolvedRecipe {
    /// Directory name of the cache entry: `<name>-<key>`.
    pub fn entry_name(&self) -> String {
        format!("{}-{}", self.recipe.name, self.key)
    }
}

impl Recipe {
    /// The package list for mmdebstrap's `--include`, kernel included.
    pub fn include_list(&self) -> Vec<String> {
        let kernel = match &self.kernel_version {
            Some(v) => format!("{}={}", self.kernel_package, v),
            None => self.kernel_package.clone(),
        };
        let mut all = vec![kernel];
        all.extend(self.packages.iter().cloned());
        all
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let ok_name = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.+=:~@".contains(c))
        };
        if !ok_name(&self.name) {
            bail!(
                "{}: `name` must be a non-empty word, got {:?}",
                path.display(),
                self.name
            );
        }
        for p in self.include_list() {
            if !ok_name(&p) {
                bail!(
                    "{}: `packages` holds an invalid package name {p:?}",
                    path.display()
                );
            }
        }
        for u in self.mask_units.iter().chain(&self.enable_units) {
            if !ok_name(u) || u.contains('/') {
                bail!("{}: invalid unit name {u:?}", path.display());
            }
        }
        for m in &self.initramfs_modules {
            if !ok_name(m) {
                bail!(
                    "{}: invalid module name {m:?} in `initramfs_modules`",
                    path.display()
                );
            }
        }
        if self.disk_size_mib < 512 {
            bail!(
                "{}: `disk_size_mib` must be at least 512, got {}",
                path.display(),
                self.disk_size_mib
            );
        }
        Ok(())
    }
}

/// Find a recipe by name (`images/<name>.toml`) or path.
pub fn locate(images_src: &Path, name_or_path: &str) -> Result<PathBuf> {
    let as_path = PathBuf::from(name_or_path);
    if name_or_path.ends_with(".toml") || as_path.components().count() > 1 {
        return Ok(as_path);
    }
    let p = images_src.join(format!("{name_or_path}.toml"));
    if !p.is_file() {
        bail!(
            "no image recipe `{name_or_path}`: expected {} (recipes available: {})",
            p.display(),
            available(images_src).join(", ")
        );
    }
    Ok(p)
}

/// Names of the recipes in a directory.
pub fn available(images_src: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(images_src)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            if p.extension()? != "toml" {
                return None;
            }
            Some(p.file_stem()?.to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
}

/// Parse, validate and key a recipe file.
pub fn load(path: &Path) -> Result<ResolvedRecipe> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading image recipe {}", path.display()))?;
    let recipe: Recipe =
        toml::from_str(&text).with_context(|| format!("image recipe {}", path.display()))?;
    recipe.validate(path)?;
    let overlay_dir = recipe
        .overlay
        .as_ref()
        .map(|o| path.parent().unwrap_or(Path::new(".")).join(o));
    if let Some(dir) = &overlay_dir {
        if !dir.is_dir() {
            bail!(
                "{}: `overlay` directory {} does not exist",
                path.display(),
                dir.display()
            );
        }
    }
    let key = compute_key(&recipe, overlay_dir.as_deref())?;
    Ok(ResolvedRecipe {
        recipe,
        path: path.to_path_buf(),
        overlay_dir,
        key,
    })
}

/// Hash of the recipe's meaning (not its formatting) and the overlay's files.
pub fn compute_key(recipe: &Recipe, overlay: Option<&Path>) -> Result<String> {
    let mut h = Sha256::new();
    h.update(BUILD_FORMAT.as_bytes());
    h.update(serde_json::to_vec(recipe)?);
    if let Some(dir) = overlay {
        let mut files = Vec::new();
        collect_files(dir, dir, &mut files)?;
        files.sort();
        for rel in files {
            let data = std::fs::read(dir.join(&rel))
                .with_context(|| format!("reading overlay file {}", dir.join(&rel).display()))?;
            h.update(rel.to_string_lossy().as_bytes());
            h.update([0]);
            h.update((data.len() as u64).to_le_bytes());
            h.update(&data);
        }
    }
    Ok(hex::encode(&h.finalize()[..8]))
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let p = entry.path();
        if entry.file_type()?.is_dir() {
            collect_files(root, &p, out)?;
        } else {
            out.push(p.strip_prefix(root).unwrap_or(&p).to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Recipe {
        toml::from_str(
            r#"
name = "t"
suite = "trixie"
mirror = "http://deb.debian.org/debian"
kernel_package = "linux-image-amd64"
packages = ["btrfs-progs"]
disk_size_mib = 1024
"#,
        )
        .unwrap()
    }

    #[test]
    fn key_changes_with_meaning_only() {
        let a = sample();
        let mut b = sample();
        assert_eq!(
            compute_key(&a, None).unwrap(),
            compute_key(&b, None).unwrap()
        );
        b.kernel_version = Some("6.12.1-1".into());
        assert_ne!(
            compute_key(&a, None).unwrap(),
            compute_key(&b, None).unwrap()
        );
    }

    #[test]
    fn key_covers_overlay_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "one").unwrap();
        let k1 = compute_key(&sample(), Some(dir.path())).unwrap();
        std::fs::write(dir.path().join("f"), "two").unwrap();
        let k2 = compute_key(&sample(), Some(dir.path())).unwrap();
        assert_ne!(k1, k2);
    }

    #[test]
    fn pinned_kernel_in_include_list() {
        let mut r = sample();
        r.kernel_package = "linux-image-6.12.41+deb13-amd64".into();
        r.kernel_version = Some("6.12.41-1".into());
        assert_eq!(
            r.include_list()[0],
            "linux-image-6.12.41+deb13-amd64=6.12.41-1"
        );
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name() {
        let err = toml::from_str::<Recipe>("name='x'\nsuite='s'\nmirror='m'\nkernel_package='k'\npackages=[]\ndisk_size_mib=1024\nkernal='y'\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("kernal"), "{err}");
    }

    #[test]
    fn shell_metacharacters_are_refused() {
        let mut r = sample();
        r.packages.push("btrfs-progs; rm -rf /".into());
        assert!(r.validate(Path::new("x.toml")).is_err());
    }

    #[test]
    fn default_recipe_parses() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("images/debian-13.toml");
        let r = load(&p).unwrap();
        assert_eq!(r.recipe.suite, "trixie");
        assert!(r.recipe.packages.iter().any(|p| p == "btrfs-progs"));
    }
}
