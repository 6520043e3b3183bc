//! A tool's repository as a vmharness workspace: its `vmharness.toml` (a
//! profile `vmharness init` writes) is found from the current directory
//! upwards, the way cargo finds `Cargo.toml`; its runs go to the directory
//! it names (`[runs] dir`, default `vmharness-runs` beside it).

use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The workspace profile's file name.
pub const FILE: &str = "vmharness.toml";

/// Where a workspace's runs go unless its `[runs] dir` says otherwise.
pub const DEFAULT_RUNS_DIR: &str = "vmharness-runs";

/// The nearest `vmharness.toml` in `dir` or above it.
pub fn find_from(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().map(|d| d.join(FILE)).find(|f| f.is_file())
}

/// The nearest `vmharness.toml` from the current directory upwards.
pub fn find() -> Option<PathBuf> {
    find_from(&std::env::current_dir().ok()?)
}

/// True for a workspace profile: its relative paths start at its directory.
pub fn is_workspace_profile(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == FILE)
}

/// The directory runs go to: `VMHARNESS_RUN_DIR`, else the workspace's
/// (when a `vmharness.toml` is found upwards), else `run/` in the current
/// directory.
pub fn runs_dir() -> Result<PathBuf> {
    if let Some(dir) = from_env() {
        return Ok(dir);
    }
    match find() {
        Some(file) => workspace_runs_dir(&file),
        None => Ok(PathBuf::from("run")),
    }
}

/// The runs directory a profile names (`[runs] dir`, relative to the
/// profile's directory); a workspace profile that names none gets
/// [`DEFAULT_RUNS_DIR`] beside it, another profile [`runs_dir`];
/// `VMHARNESS_RUN_DIR` overrides all.
pub fn runs_dir_for(profile: &Path) -> Result<PathBuf> {
    if let Some(dir) = from_env() {
        return Ok(dir);
    }
    if is_workspace_profile(profile) {
        return workspace_runs_dir(profile);
    }
    match named_runs_dir(profile)? {
        Some(dir) => Ok(dir),
        None => runs_dir(),
    }
}

fn from_env() -> Option<PathBuf> {
    std::env::var_os("VMHARNESS_RUN_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// A workspace profile's runs directory: the one it names, else
/// [`DEFAULT_RUNS_DIR`] beside it.
fn workspace_runs_dir(file: &Path) -> Result<PathBuf> {
    Ok(named_runs_dir(file)?.unwrap_or_else(|| base_of(file).join(DEFAULT_RUNS_DIR)))
}

/// `[runs] dir` of the profile at `file`, resolved against its directory.
fn named_runs_dir(file: &Path) -> Result<Option<PathBuf>> {
    Ok(runs_section(file)?.dir.map(|dir| base_of(file).join(dir)))
}

fn base_of(file: &Path) -> &Path {
    file.parent().unwrap_or(Path::new("."))
}

/// Only the `[runs]` table of a profile (the rest is the profile loader's).
fn runs_section(file: &Path) -> Result<crate::profile::RunsSection> {
    #[derive(Deserialize)]
    struct Partial {
        #[serde(default)]
        runs: crate::profile::RunsSection,
    }
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading profile {}", file.display()))?;
    let partial: Partial = toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "profile {}: {e}(`vmharness config check {}` explains it)",
            file.display(),
            file.display()
        )
    })?;
    Ok(partial.runs)
}

/// What `vmharness init` writes: a profile whose only set key points the
/// tool at the repository, the rest commented (the defaults).
pub const INIT_PROFILE: &str = r#"# vmharness profile of this repository (written by `vmharness init`).
#
# `vmharness run-all` finds this file from this directory or any below it,
# the way cargo finds Cargo.toml. Every key is optional: the unset ones take
# the defaults (`vmharness config show` prints them all, with comments in
# the configuration chapter of the vmharness book, docs/src/configuration.md).
# Relative paths start at this file's directory.

[tool]
# The tool's source tree: this repository. It is copied into the guest
# (without .git, Python caches, virtual environments and the runs
# directory) and put on PYTHONPATH.
source_dir = "."
# The tool's argv prefix; the subcommand and flags follow.
# cmd = ["python3", "-m", "btrfs_to_s3"]

[runs]
# Where runs (logs, reports, disks of failed runs) go; `vmharness init`
# added it to .gitignore.
# dir = "vmharness-runs"

# A run to make before every commit: one subvolume, the tiny fixture.
# [btrfs]
# subvolumes = ["data"]
# [fixture]
# scale = "tiny"
# [scenarios]
# run = ["setup", "seed", "full", "mutate", "incremental", "interrupt", "restore", "verify", "cleanup"]
"#;

/// What `init` did in a directory.
#[derive(Debug, PartialEq, Eq)]
pub struct Initialised {
    pub profile: PathBuf,
    /// The `.gitignore` that now names the runs directory, when it had to change.
    pub gitignore: Option<PathBuf>,
}

/// Write [`INIT_PROFILE`] as `dir/vmharness.toml` (an existing one is kept
/// unless `force`) and name the runs directory in `dir/.gitignore`.
pub fn init(dir: &Path, force: bool) -> Result<Initialised> {
    let profile = dir.join(FILE);
    if profile.exists() && !force {
        anyhow::bail!(
            "{} exists: edit it, or pass --force to replace it with the commented default",
            profile.display()
        );
    }
    std::fs::write(&profile, INIT_PROFILE)
        .with_context(|| format!("writing {}", profile.display()))?;
    let ignore = dir.join(".gitignore");
    let old = match std::fs::read_to_string(&ignore) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", ignore.display())),
    };
    let gitignore = match gitignore_with(&old, DEFAULT_RUNS_DIR) {
        Some(new) => {
            std::fs::write(&ignore, new)
                .with_context(|| format!("writing {}", ignore.display()))?;
            Some(ignore)
        }
        None => None,
    };
    Ok(Initialised { profile, gitignore })
}

/// `text` with a line ignoring the top-level directory `dir`, or None when
/// a line already ignores it.
pub fn gitignore_with(text: &str, dir: &str) -> Option<String> {
    let already = text.lines().map(str::trim).any(|l| {
        let l = l.trim_start_matches('/').trim_end_matches('/');
        l == dir
    });
    if already {
        return None;
    }
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!(
        "# vmharness runs (logs, reports, disks of failed runs)\n/{dir}/\n"
    ));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_upwards_from_a_subdirectory() {
        let repo = tempfile::tempdir().unwrap();
        let sub = repo.path().join("src/deep");
        std::fs::create_dir_all(&sub).unwrap();
        assert_eq!(find_from(&sub), None);
        std::fs::write(repo.path().join(FILE), "").unwrap();
        assert_eq!(find_from(&sub), Some(repo.path().join(FILE)));
    }

    #[test]
    fn runs_go_beside_the_workspace_profile_or_where_it_says() {
        let repo = tempfile::tempdir().unwrap();
        let file = repo.path().join(FILE);
        std::fs::write(&file, "[tool]\nsource_dir = \".\"\n").unwrap();
        assert_eq!(
            workspace_runs_dir(&file).unwrap(),
            repo.path().join(DEFAULT_RUNS_DIR)
        );
        std::fs::write(&file, "[runs]\ndir = \"out/runs\"\n").unwrap();
        assert_eq!(
            workspace_runs_dir(&file).unwrap(),
            repo.path().join("out/runs")
        );
        std::fs::write(&file, "[runs]\ndir = 3\n").unwrap();
        let e = workspace_runs_dir(&file).unwrap_err().to_string();
        assert!(
            e.contains("vmharness.toml") && e.contains("config check"),
            "{e}"
        );
    }

    #[test]
    fn the_init_profile_loads_and_points_at_its_directory() {
        let repo = tempfile::tempdir().unwrap();
        let done = init(repo.path(), false).unwrap();
        let p = crate::profile::load(&done.profile).unwrap();
        assert_eq!(p.tool.source_dir, repo.path().display().to_string());
        // The rest are the defaults.
        assert_eq!(
            p.btrfs.subvolumes,
            crate::profile::Profile::default().btrfs.subvolumes
        );
        assert_eq!(done.gitignore, Some(repo.path().join(".gitignore")));
        let ignore = std::fs::read_to_string(repo.path().join(".gitignore")).unwrap();
        assert!(ignore.contains("/vmharness-runs/"), "{ignore}");
        // A second init keeps the file unless forced.
        let e = init(repo.path(), false).unwrap_err().to_string();
        assert!(e.contains("--force"), "{e}");
        std::fs::write(&done.profile, "[vm]\ncpus = 1\n").unwrap();
        let again = init(repo.path(), true).unwrap();
        assert_eq!(
            std::fs::read_to_string(&again.profile).unwrap(),
            INIT_PROFILE
        );
        assert_eq!(again.gitignore, None, ".gitignore already names the runs");
    }

    #[test]
    fn gitignore_gets_one_line_for_the_runs() {
        let added = gitignore_with("target\n*.pyc", "vmharness-runs").unwrap();
        assert!(added.starts_with("target\n*.pyc\n"), "{added}");
        assert!(added.ends_with("/vmharness-runs/\n"), "{added}");
        assert_eq!(gitignore_with(&added, "vmharness-runs"), None);
        assert_eq!(gitignore_with("vmharness-runs/\n", "vmharness-runs"), None);
        assert!(gitignore_with("", "vmharness-runs")
            .unwrap()
            .starts_with("# vmharness"));
    }
}
