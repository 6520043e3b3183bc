//! Profiles (`config/*.toml`): plain serde structs that reject unknown keys,
//! validated into an immutable plan.

use crate::accel::Accel;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub mod backup;
pub mod diagnose;
pub mod fixture;
pub mod layout;
pub mod restore;
pub mod s3;
pub mod scenarios;
pub mod show;
pub mod tool;

pub use backup::BackupSection;
pub use fixture::FixtureSection;
pub use layout::{KeyPatterns, LayoutSection};
pub use restore::RestoreSection;
pub use s3::{Backend, S3Section};
pub use scenarios::ScenariosSection;
pub use tool::{tool_command, ToolSection, CMD_ENV};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub vm: VmSection,
    #[serde(default)]
    pub btrfs: BtrfsSection,
    #[serde(default)]
    pub tool: ToolSection,
    #[serde(default)]
    pub s3: S3Section,
    #[serde(default)]
    pub backup: BackupSection,
    #[serde(default)]
    pub restore: RestoreSection,
    #[serde(default)]
    pub fixture: FixtureSection,
    #[serde(default)]
    pub scenarios: ScenariosSection,
    #[serde(default)]
    pub layout: LayoutSection,
    #[serde(default)]
    pub runs: RunsSection,
}

/// `[runs]`: where runs go (read by [`crate::workspace`] before the profile
/// is loaded, since the run directory comes first).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsSection {
    /// Relative to the profile's directory; default: `run/` in the current
    /// directory (`vmharness-runs/` beside a `vmharness.toml`).
    pub dir: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccelChoice {
    Auto,
    Kvm,
    Tcg,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VmSection {
    pub image: String,
    pub memory_mib: u32,
    pub cpus: u32,
    pub accel: AccelChoice,
    pub boot_timeout_secs: u64,
    pub command_timeout_secs: u64,
    /// How long a hot-plugged disk may take to show up in the guest.
    pub disk_timeout_secs: u64,
}

impl Default for VmSection {
    fn default() -> Self {
        VmSection {
            image: crate::image::DEFAULT_RECIPE.into(),
            memory_mib: 1024,
            cpus: 2,
            accel: AccelChoice::Auto,
            boot_timeout_secs: 60,
            command_timeout_secs: 900,
            disk_timeout_secs: 20,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BtrfsSection {
    pub disk_size_mib: u64,
    pub disk_serial: String,
    /// Where the fixture filesystem is mounted in the guest (its top level).
    pub mount_point: String,
    /// `mount -o` options.
    pub mount_options: String,
    /// Subvolumes created at the top level and backed up.
    pub subvolumes: Vec<String>,
    /// The tool's snapshot directory, relative to `mount_point` (so it is on
    /// the same filesystem as the subvolumes, as the contract requires).
    pub snapshots_dir: String,
    /// The tool's restore target base, relative to `mount_point`.
    pub restore_dir: String,
}

impl Default for BtrfsSection {
    fn default() -> Self {
        BtrfsSection {
            disk_size_mib: 2048,
            disk_serial: "vmh-fixture".into(),
            mount_point: "/mnt/btrfs".into(),
            mount_options: "compress=zstd,noatime".into(),
            subvolumes: vec!["data".into(), "root".into(), "home".into()],
            snapshots_dir: ".snapshots".into(),
            restore_dir: "restore".into(),
        }
    }
}

impl BtrfsSection {
    /// Absolute guest path of a subvolume.
    pub fn subvolume_path(&self, name: &str) -> String {
        join_guest(&self.mount_point, name)
    }

    pub fn snapshots_path(&self) -> String {
        join_guest(&self.mount_point, &self.snapshots_dir)
    }

    pub fn restore_path(&self) -> String {
        join_guest(&self.mount_point, &self.restore_dir)
    }
}

/// `base` + `/` + `rel`, without doubled slashes.
pub fn join_guest(base: &str, rel: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), rel.trim_matches('/'))
}

/// An absolute path with no `.`/`..` segment (a guest path the harness renders).
pub(crate) fn is_clean_absolute(p: &str) -> bool {
    p.starts_with('/') && !p.contains('\0') && p.split('/').all(|s| s != "." && s != "..")
}

/// A relative path below a directory: non-empty, no `..`, not absolute.
fn is_clean_relative(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\0')
        && p.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

/// The default profile's path: the `vmharness.toml` found from the current
/// directory upwards, else the project's `config/test.toml`.
pub fn default_path() -> Result<PathBuf> {
    match crate::workspace::find() {
        Some(file) => Ok(file),
        None => Ok(crate::paths::project_dir()?
            .join("config")
            .join("test.toml")),
    }
}

/// The profile given, else [`default_path`].
pub fn path_or_default(given: Option<&Path>) -> Result<PathBuf> {
    match given {
        Some(p) => Ok(p.to_path_buf()),
        None => default_path(),
    }
}

/// The profiles given, else the one [`default_path`].
pub fn paths_or_default(given: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if given.is_empty() {
        Ok(vec![default_path()?])
    } else {
        Ok(given.to_vec())
    }
}

/// Read and validate a profile file.
pub fn load(path: &Path) -> Result<Profile> {
    let text = std::fs::read_to_string(path).with_context(|| {
        let theirs = match crate::paths::project_dir() {
            Ok(dir) => format!("the project's are in {}", dir.join("config").display()),
            Err(e) => format!("the project's could not be found: {e:#}"),
        };
        format!(
            "reading profile {} (pass an existing file to --profile, or run `vmharness init` \
             in your tool's repository; {theirs})",
            path.display(),
        )
    })?;
    parse(&text, path)
}

/// Deserialise and validate; an error names the file, the line and column,
/// the key path, what was expected and the fix (see [`diagnose`]).
pub fn parse(text: &str, path: &Path) -> Result<Profile> {
    let file = path.display().to_string();
    let p: Profile = serde_path_to_error::deserialize(toml::Deserializer::new(text))
        .map_err(|e| anyhow::anyhow!(diagnose::explain(&e, text, &file)))?;
    validate(&p, path)
        .map_err(|e| anyhow::anyhow!(diagnose::locate_validation(&e.to_string(), text, &file)))?;
    Ok(resolve_workspace_paths(p, path))
}

/// In a `vmharness.toml`, a relative `[tool] source_dir` starts at the
/// file's directory (the tool's repository); in other profiles, at the
/// project directory. A relative `[s3] ca_bundle` starts at the file's
/// directory in every profile.
fn resolve_workspace_paths(mut p: Profile, path: &Path) -> Profile {
    let base = path.parent().unwrap_or(Path::new(""));
    if let Some(ca) = p.s3.ca_bundle.take() {
        let ca = base.join(ca);
        p.s3.ca_bundle = Some(std::path::absolute(&ca).unwrap_or(ca));
    }
    if crate::workspace::is_workspace_profile(path) && Path::new(&p.tool.source_dir).is_relative() {
        let dir = base.join(&p.tool.source_dir);
        p.tool.source_dir = std::path::absolute(&dir)
            .unwrap_or(dir)
            .display()
            .to_string();
    }
    p
}

fn validate(p: &Profile, path: &Path) -> Result<()> {
    let f = path.display();
    if !(256..=65536).contains(&p.vm.memory_mib) {
        bail!(
            "profile {f}: [vm] memory_mib must be between 256 and 65536, got {}",
            p.vm.memory_mib
        );
    }
    if !(1..=64).contains(&p.vm.cpus) {
        bail!(
            "profile {f}: [vm] cpus must be between 1 and 64, got {}",
            p.vm.cpus
        );
    }
    if p.vm.boot_timeout_secs == 0 || p.vm.command_timeout_secs == 0 || p.vm.disk_timeout_secs == 0
    {
        bail!("profile {f}: [vm] timeouts must be positive");
    }
    if p.btrfs.disk_size_mib < 128 {
        bail!(
            "profile {f}: [btrfs] disk_size_mib must be at least 128 (mkfs.btrfs needs ~109 MiB), got {}",
            p.btrfs.disk_size_mib
        );
    }
    let s = &p.btrfs.disk_serial;
    if s.is_empty()
        || s.len() > 20
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("profile {f}: [btrfs] disk_serial must be 1-20 characters of [A-Za-z0-9_-] (virtio's limit), got {s:?}");
    }
    validate_btrfs_paths(&p.btrfs, &f.to_string())?;
    let f = f.to_string();
    p.tool.validate(&f)?;
    p.s3.validate(&f)?;
    p.backup.validate(&f)?;
    p.restore.validate(&f)?;
    p.fixture.validate(&f)?;
    p.scenarios.validate(&f)?;
    p.layout.validate(&f)?;
    Ok(())
}

fn validate_btrfs_paths(b: &BtrfsSection, f: &str) -> Result<()> {
    if !is_clean_absolute(&b.mount_point) || b.mount_point == "/" {
        bail!(
            "profile {f}: [btrfs] mount_point must be an absolute guest path other than /, got {:?}",
            b.mount_point
        );
    }
    if b.mount_options.contains(char::is_whitespace) {
        bail!(
            "profile {f}: [btrfs] mount_options must be one comma-separated list without spaces, got {:?}",
            b.mount_options
        );
    }
    if b.subvolumes.is_empty() {
        bail!("profile {f}: [btrfs] subvolumes must name at least one subvolume");
    }
    let mut names = std::collections::BTreeSet::new();
    for name in &b.subvolumes {
        let ok = !name.is_empty()
            && name != "."
            && name != ".."
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !ok {
            bail!(
                "profile {f}: [btrfs] subvolumes: {name:?} must be a plain name of [A-Za-z0-9._-]"
            );
        }
        if name.contains("__") {
            bail!("profile {f}: [btrfs] subvolumes: {name:?} must not contain \"__\" (the snapshot name separator)");
        }
        if !names.insert(name) {
            bail!("profile {f}: [btrfs] subvolumes: {name:?} is listed twice");
        }
    }
    for (key, v) in [
        ("snapshots_dir", &b.snapshots_dir),
        ("restore_dir", &b.restore_dir),
    ] {
        if !is_clean_relative(v) {
            bail!("profile {f}: [btrfs] {key} must be a path relative to mount_point without \"..\", got {v:?}");
        }
        let first = v.split('/').next().unwrap_or_default();
        if b.subvolumes.iter().any(|s| s == first) {
            bail!("profile {f}: [btrfs] {key} {v:?} must not be inside the subvolume {first:?}");
        }
    }
    if b.snapshots_dir == b.restore_dir {
        bail!("profile {f}: [btrfs] snapshots_dir and restore_dir must differ");
    }
    Ok(())
}

impl Profile {
    /// The accelerator: forced on the command line, else the profile's, else detected.
    pub fn accel(&self, forced: Option<Accel>) -> (Accel, String) {
        let from_profile = match self.vm.accel {
            AccelChoice::Auto => None,
            AccelChoice::Kvm => Some(Accel::Kvm),
            AccelChoice::Tcg => Some(Accel::Tcg),
        };
        match (forced, from_profile) {
            (Some(a), _) => crate::accel::choose(Some(a)),
            (None, Some(a)) => (a, format!("{a} (set by the profile's [vm] accel)")),
            (None, None) => crate::accel::choose(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_file_matches_defaults() {
        let p = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/test.toml")).unwrap();
        let d = Profile::default();
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::to_value(&d).unwrap()
        );
    }

    #[test]
    fn every_profile_in_config_validates() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut seen = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                load(&path).unwrap_or_else(|e| panic!("{e:#}"));
                seen.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                "archive.toml",
                "cli.toml",
                "defects.toml",
                "faults.toml",
                "glacier-ir.toml",
                "large.toml",
                "quick.toml",
                "spool.toml",
                "test.toml"
            ]
        );
    }

    #[test]
    fn default_profile_file_sets_every_key() {
        // Every key of every section appears in config/test.toml (documented defaults).
        let text = std::fs::read_to_string(default_path_in_tree()).unwrap();
        let file: toml::Table = toml::from_str(&text).unwrap();
        let defaults = toml::Table::try_from(Profile::default()).unwrap();
        for (section, table) in &defaults {
            let table = table.as_table().unwrap();
            let in_file = file
                .get(section)
                .and_then(|t| t.as_table())
                .unwrap_or_else(|| panic!("config/test.toml lacks [{section}]"));
            for key in table.keys() {
                assert!(
                    in_file.contains_key(key),
                    "config/test.toml lacks [{section}] {key}"
                );
            }
        }
    }

    fn default_path_in_tree() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/test.toml")
    }

    #[test]
    fn btrfs_paths_are_checked() {
        let bad = [
            ("[btrfs]\nmount_point = \"mnt\"\n", "[btrfs] mount_point"),
            ("[btrfs]\nsubvolumes = []\n", "[btrfs] subvolumes"),
            ("[btrfs]\nsubvolumes = [\"a/b\"]\n", "[btrfs] subvolumes"),
            ("[btrfs]\nsubvolumes = [\"a__b\"]\n", "[btrfs] subvolumes"),
            (
                "[btrfs]\nsnapshots_dir = \"../x\"\n",
                "[btrfs] snapshots_dir",
            ),
            ("[btrfs]\nrestore_dir = \"data/r\"\n", "[btrfs] restore_dir"),
        ];
        for (text, want) in bad {
            let err = parse(text, Path::new("x.toml")).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
        let b = BtrfsSection::default();
        assert_eq!(b.subvolume_path("data"), "/mnt/btrfs/data");
        assert_eq!(b.snapshots_path(), "/mnt/btrfs/.snapshots");
    }

    #[test]
    fn sections_reject_unknown_keys() {
        for section in [
            "tool",
            "s3",
            "backup",
            "restore",
            "fixture",
            "scenarios",
            "layout",
        ] {
            let err = parse(&format!("[{section}]\nbogus = 1\n"), Path::new("/p/y.toml"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("bogus") && err.contains("/p/y.toml"),
                "{section}: {err}"
            );
        }
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let err = parse("[vm]\nmemroy_mib = 4\n", Path::new("/p/x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/p/x.toml"), "{err}");
        assert!(err.contains("memroy_mib"), "{err}");
    }

    #[test]
    fn unknown_section_is_an_error() {
        let err = parse("[vmm]\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("vmm"), "{err}");
    }

    fn parse_err(text: &str) -> String {
        parse(text, Path::new("config/x.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn typo_key_names_file_line_table_and_the_closest_key() {
        let err = parse_err("[backup]\nretain = 2\nchunk_sise_bytes = 4096\n");
        assert!(
            err.starts_with(
                "profile config/x.toml, line 3 column 1: unknown key `chunk_sise_bytes` in [backup]; \
                 did you mean `chunk_size_bytes`? (keys of [backup]: `chunk_size_bytes`, `concurrency`"
            ),
            "{err}"
        );
        assert!(
            err.contains("\n     3 | chunk_sise_bytes = 4096\n       | ^^^^^^^^^^^^^^^^"),
            "{err}"
        );
        // Nested tables and arrays of tables.
        let err = parse_err("[s3.embedded]\nprot = 9000\n");
        assert!(
            err.contains("unknown key `prot` in [s3.embedded]; did you mean `port`?"),
            "{err}"
        );
        let err = parse_err("[[s3.faults]]\nop = \"PutObject\"\nactoin = \"slow_down\"\n");
        assert!(
            err.contains("unknown key `actoin` in [[s3.faults]] #1; did you mean `action`?"),
            "{err}"
        );
        // Nothing close: the known keys only.
        let err = parse_err("[vm]\nzzz = 1\n");
        assert!(
            err.contains("unknown key `zzz` in [vm] (keys of [vm]: `image`"),
            "{err}"
        );
    }

    #[test]
    fn tool_output_keys_are_suggested_typed_and_located() {
        let err = parse_err("[tool]\ncrash_pattern = []\n");
        assert!(
            err.contains("unknown key `crash_pattern` in [tool]; did you mean `crash_patterns`?"),
            "{err}"
        );
        let err = parse_err("[tool]\nintegrity_word = [\"blake3\"]\n");
        assert!(
            err.contains("unknown key `integrity_word` in [tool]; did you mean `integrity_words`?"),
            "{err}"
        );
        assert!(err.contains("`integrity_words`, `crash_patterns`"), "{err}");
        let err = parse_err("[tool]\ncrash_patterns = \"Fatal\"\n");
        assert!(
            err.contains("[tool] crash_patterns: expected an array, found a string (\"Fatal\")"),
            "{err}"
        );
        let err = parse_err("[tool]\ncmd = [\"t\"]\ncrash_patterns = ['ok', '(x']\n");
        assert!(
            err.starts_with(
                "profile config/x.toml, line 3 column 1: [tool] crash_patterns[1] \"(x\" is not a valid regular expression"
            ),
            "{err}"
        );
        let p = parse(
            "[tool]\nintegrity_words = [\"blake3\"]\ncrash_patterns = ['Fatal Python error']\n",
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(p.tool.integrity_words, ["blake3"]);
        assert_eq!(p.tool.crash_regexes().unwrap().len(), 1);
    }

    #[test]
    fn unknown_section_suggests_the_closest() {
        let err = parse_err("[bakup]\n");
        assert!(
            err.starts_with("profile config/x.toml, line 1 column 2: unknown section [bakup]; did you mean [backup]? (sections: [vm], [btrfs]"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_says_expected_and_found() {
        let err = parse_err("[backup]\nchunk_size_bytes = \"8M\"\n");
        assert!(
            err.starts_with(
                "profile config/x.toml, line 2 column 20: [backup] chunk_size_bytes: expected a non-negative integer, \
                 found a string (\"8M\") (write the value without quotes)"
            ),
            "{err}"
        );
        let err = parse_err("[scenarios]\nrun = [\"setup\", 3]\n");
        assert!(
            err.contains(
                "line 2 column 17: [scenarios] run[1]: expected a string, found an integer (3)"
            ),
            "{err}"
        );
        let err = parse_err("vm = 3\n");
        assert!(
            err.contains("[vm]: expected a table, found an integer (3)"),
            "{err}"
        );
        let err = parse_err("[btrfs]\nsubvolumes = \"data\"\n");
        assert!(
            err.contains("[btrfs] subvolumes: expected an array, found a string (\"data\")"),
            "{err}"
        );
    }

    #[test]
    fn out_of_range_integer_and_unknown_value() {
        let err = parse_err("[vm]\ncpus = -1\n");
        assert!(
            err.contains(
                "line 2 column 8: [vm] cpus: expected an integer from 0 to 4294967295, found -1"
            ),
            "{err}"
        );
        let err = parse_err("[vm]\naccel = \"kvmm\"\n");
        assert!(
            err.contains("[vm] accel: unknown value \"kvmm\"; did you mean \"kvm\"? (expected one of \"auto\", \"kvm\", \"tcg\")"),
            "{err}"
        );
        // Validation after parsing: the range and the key.
        let err = parse_err("[vm]\nmemory_mib = 64\n");
        assert!(
            err.contains(
                "profile config/x.toml, line 2 column 1: [vm] memory_mib must be between 256 and 65536, got 64"
            ),
            "{err}"
        );
    }

    #[test]
    fn missing_required_key_and_section() {
        let err = parse_err("[s3.guest_credentials]\naccess_key_id_env = \"K\"\n");
        assert!(
            err.contains("line 1 column 1: [s3.guest_credentials] is missing the required key `secret_access_key_env`"),
            "{err}"
        );
        let err = parse_err("[s3]\nbackend = \"aws\"\n");
        assert!(
            err.starts_with(
                "profile config/x.toml: [s3.guest_credentials] is required with backend = \"aws\""
            ),
            "{err}"
        );
        assert!(err.contains("secret_access_key_env = "), "{err}");
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = parse_err("[vm]\ncpus = 2\n[backup\n");
        assert!(
            err.starts_with(
                "profile config/x.toml, line 3 column 8: TOML syntax error: invalid table header"
            ),
            "{err}"
        );
        let err = parse_err("[vm]\ncpus = = 2\n");
        assert!(err.contains("line 2 column 8: TOML syntax error"), "{err}");
    }

    #[test]
    fn missing_file_says_where_profiles_are() {
        let err = format!("{:#}", load(Path::new("/nonexistent/p.toml")).unwrap_err());
        assert!(
            err.contains("reading profile /nonexistent/p.toml (pass an existing file to --profile"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_section_and_key() {
        let err = parse("[btrfs]\ndisk_size_mib = 64\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("[btrfs] disk_size_mib"), "{err}");
        let err = parse("[vm]\ncpus = \"two\"\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cpus"), "{err}");
    }
}
