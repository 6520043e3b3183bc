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

/// A recipe that starts from a pinned official Debian cloud image
/// (`source = "cloud"`): downloaded and verified, then provisioned at its
/// first boot (cloud-init installs `packages`; the overlay, masked and
/// enabled units are applied over SSH), then kept like a built image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CloudRecipe {
    pub name: String,
    /// Always "cloud".
    pub source: String,
    pub suite: String,
    /// The qcow2 image.
    pub url: String,
    /// Its SHA-512 (128 hex digits)...
    #[serde(default)]
    pub sha512: Option<String>,
    /// ...or the `SHA512SUMS` file that lists it (one of the two).
    #[serde(default)]
    pub sha512_sums_url: Option<String>,
    #[serde(default)]
    pub packages: Vec<String>,
    /// The root device on the kernel command line of every boot.
    #[serde(default = "default_cloud_root")]
    pub root: String,
    #[serde(default)]
    pub overlay: Option<PathBuf>,
    /// Paths in the overlay that this image keeps its own of.
    #[serde(default)]
    pub overlay_skip: Vec<String>,
    #[serde(default)]
    pub mask_units: Vec<String>,
    #[serde(default)]
    pub enable_units: Vec<String>,
    /// Kernel and initrd of the provisioning boot (relative to the recipe);
    /// without them it boots through the image's own bootloader.
    #[serde(default)]
    pub first_boot_kernel: Option<PathBuf>,
    #[serde(default)]
    pub first_boot_initrd: Option<PathBuf>,
}

fn default_cloud_root() -> String {
    "/dev/vda1".into()
}

/// What the shipped cloud recipe holds until a user pins a dated directory.
pub const UNPINNED: &str = "PIN-A-DATE";

impl CloudRecipe {
    fn validate(&self, path: &Path) -> Result<()> {
        let at = path.display();
        if self.source != "cloud" {
            bail!(
                "{at}: `source` is \"cloud\" or absent (mmdebstrap), got {:?}",
                self.source
            );
        }
        if self.sha512.is_some() == self.sha512_sums_url.is_some() {
            bail!("{at}: give exactly one of `sha512` and `sha512_sums_url`");
        }
        if let Some(h) = &self.sha512 {
            super::download::parse_sha512(h).with_context(|| format!("{at}: `sha512`"))?;
        }
        super::download::file_name_of(&self.url).with_context(|| format!("{at}: `url`"))?;
        if self.first_boot_kernel.is_some() != self.first_boot_initrd.is_some() {
            bail!("{at}: `first_boot_kernel` and `first_boot_initrd` go together");
        }
        if !self.root.starts_with("/dev/") || self.root.contains(char::is_whitespace) {
            bail!(
                "{at}: `root` must be a device such as /dev/vda1, got {:?}",
                self.root
            );
        }
        check_words(
            path,
            &self.name,
            &self.packages,
            &self.mask_units,
            &self.enable_units,
        )?;
        for s in &self.overlay_skip {
            if s.is_empty() || s.starts_with('/') || s.split('/').any(|c| c == "..") {
                bail!("{at}: `overlay_skip` holds {s:?}: give paths inside the overlay");
            }
        }
        Ok(())
    }

    /// Refuse a recipe still holding the placeholder, saying how to pin it.
    pub fn check_pinned(&self, path: &Path) -> Result<()> {
        let urls = [Some(&self.url), self.sha512_sums_url.as_ref()];
        if urls.iter().flatten().any(|u| u.contains(UNPINNED)) {
            bail!(
                "{}: the cloud image is not pinned yet. Pick a dated directory of \
                 https://cloud.debian.org/images/cloud/{}/ (named like YYYYMMDD-NNNN; not `latest`), \
                 and replace {UNPINNED} with it in `url` and `sha512_sums_url` (or put the \
                 image's line of that directory's SHA512SUMS in `sha512` instead of \
                 `sha512_sums_url`)",
                path.display(),
                self.suite
            );
        }
        Ok(())
    }
}

/// A recipe with where it came from and its cache key.
#[derive(Debug, Clone)]
pub struct ResolvedRecipe<R = Recipe> {
    pub recipe: R,
    pub path: PathBuf,
    pub overlay_dir: Option<PathBuf>,
    pub key: String,
}

/// A recipe of either kind has a name.
pub trait Named {
    fn name(&self) -> &str;
}

impl Named for Recipe {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for CloudRecipe {
    fn name(&self) -> &str {
        &self.name
    }
}

impl<R: Named> ResolvedRecipe<R> {
    /// Directory name of the cache entry: `<name>-<key>`.
    pub fn entry_name(&self) -> String {
        format!("{}-{}", self.recipe.name(), self.key)
    }
}

/// A loaded recipe of either kind.
#[derive(Debug, Clone)]
pub enum AnyRecipe {
    Mmdebstrap(ResolvedRecipe),
    Cloud(ResolvedRecipe<CloudRecipe>),
}

impl AnyRecipe {
    pub fn key(&self) -> &str {
        match self {
            AnyRecipe::Mmdebstrap(r) => &r.key,
            AnyRecipe::Cloud(r) => &r.key,
        }
    }
    /// Directory name of the cache entry: `<name>-<key>`.
    pub fn entry_name(&self) -> String {
        match self {
            AnyRecipe::Mmdebstrap(r) => r.entry_name(),
            AnyRecipe::Cloud(r) => r.entry_name(),
        }
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
        check_words(
            path,
            &self.name,
            &self.include_list(),
            &self.mask_units,
            &self.enable_units,
        )?;
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

/// A word that is safe on a shell command line: package, unit, module names.
fn ok_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+=:~@".contains(c))
}

/// The recipe's name, packages and units are plain words.
fn check_words(
    path: &Path,
    name: &str,
    packages: &[String],
    mask_units: &[String],
    enable_units: &[String],
) -> Result<()> {
    if !ok_name(name) {
        bail!(
            "{}: `name` must be a non-empty word, got {name:?}",
            path.display()
        );
    }
    for p in packages {
        if !ok_name(p) {
            bail!(
                "{}: `packages` holds an invalid package name {p:?}",
                path.display()
            );
        }
    }
    for u in mask_units.iter().chain(enable_units) {
        if !ok_name(u) || u.contains('/') {
            bail!("{}: invalid unit name {u:?}", path.display());
        }
    }
    Ok(())
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

/// Parse, validate and key a recipe file of either kind (`source = "cloud"`
/// or none).
pub fn load(path: &Path) -> Result<AnyRecipe> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading image recipe {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("image recipe {}", path.display()))?;
    let parse_err = || format!("image recipe {}", path.display());
    if table.contains_key("source") {
        let recipe: CloudRecipe = toml::from_str(&text).with_context(parse_err)?;
        recipe.validate(path)?;
        let overlay = recipe.overlay.clone();
        Ok(AnyRecipe::Cloud(resolve(recipe, path, overlay.as_deref())?))
    } else {
        let recipe: Recipe = toml::from_str(&text).with_context(parse_err)?;
        recipe.validate(path)?;
        let overlay = recipe.overlay.clone();
        Ok(AnyRecipe::Mmdebstrap(resolve(
            recipe,
            path,
            overlay.as_deref(),
        )?))
    }
}

/// Relative paths of a recipe are relative to its file's directory.
pub fn beside(recipe_path: &Path, rel: &Path) -> PathBuf {
    recipe_path.parent().unwrap_or(Path::new(".")).join(rel)
}

fn resolve<R: Serialize>(
    recipe: R,
    path: &Path,
    overlay: Option<&Path>,
) -> Result<ResolvedRecipe<R>> {
    let overlay_dir = overlay.map(|o| beside(path, o));
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
pub fn compute_key(recipe: &impl Serialize, overlay: Option<&Path>) -> Result<String> {
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
        let AnyRecipe::Mmdebstrap(r) = load(&p).unwrap() else {
            panic!("debian-13 is built with mmdebstrap");
        };
        assert_eq!(r.recipe.suite, "trixie");
        assert!(r.recipe.packages.iter().any(|p| p == "btrfs-progs"));
    }

    fn cloud_sample() -> CloudRecipe {
        toml::from_str(&format!(
            "name = 'c'\nsource = 'cloud'\nsuite = 'trixie'\n\
             url = 'https://h/d/x.qcow2'\nsha512 = '{}'\n",
            "ab".repeat(64)
        ))
        .unwrap()
    }

    #[test]
    fn cloud_recipe_needs_exactly_one_hash_source() {
        let mut r = cloud_sample();
        r.validate(Path::new("c.toml")).unwrap();
        assert_eq!(r.root, "/dev/vda1");
        r.sha512_sums_url = Some("https://h/d/SHA512SUMS".into());
        let err = r.validate(Path::new("c.toml")).unwrap_err().to_string();
        assert!(err.contains("exactly one of `sha512`"), "{err}");
        r.sha512 = None;
        r.validate(Path::new("c.toml")).unwrap();
        r.sha512_sums_url = None;
        assert!(r.validate(Path::new("c.toml")).is_err());
        let mut bad = cloud_sample();
        bad.sha512 = Some("1234".into());
        assert!(bad.validate(Path::new("c.toml")).is_err());
        let mut half = cloud_sample();
        half.first_boot_kernel = Some("vmlinuz".into());
        assert!(half.validate(Path::new("c.toml")).is_err());
    }

    #[test]
    fn shipped_cloud_recipe_loads_and_build_refuses_it_until_pinned() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("images/debian-13-cloud.toml");
        let AnyRecipe::Cloud(r) = load(&p).unwrap() else {
            panic!("debian-13-cloud has source = \"cloud\"");
        };
        assert!(r.recipe.packages.iter().any(|p| p == "btrfs-progs"));
        assert!(r.recipe.sha512_sums_url.is_some());
        let err = r.recipe.check_pinned(&p).unwrap_err().to_string();
        assert!(
            err.contains("not pinned yet") && err.contains("sha512_sums_url"),
            "{err}"
        );
        let mut pinned = r.recipe.clone();
        pinned.url = pinned.url.replace(UNPINNED, "20990101-0000");
        pinned.sha512_sums_url = pinned
            .sha512_sums_url
            .map(|u| u.replace(UNPINNED, "20990101-0000"));
        pinned.check_pinned(&p).unwrap();
        // A different kind of recipe never shares a key with a built one.
        let AnyRecipe::Mmdebstrap(built) = load(&p.with_file_name("debian-13.toml")).unwrap()
        else {
            panic!()
        };
        assert_ne!(r.key, built.key);
    }
}
