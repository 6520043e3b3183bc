//! A run's exact inputs (`repro` in results.json) and what differs between
//! them and the inputs a rerun would have now (`vmharness repro`).

use crate::accel::Accel;
use crate::image::cache::Entry;
use crate::plan::BootOverrides;
use crate::profile::Profile;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The run directory's copy of the profile the run read.
pub const PROFILE_COPY: &str = "profile.toml";

/// A file given on the command line and its content's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    pub path: String,
    /// None when the file could not be read.
    pub sha256: Option<String>,
}

/// Everything a rerun needs to be the same run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repro {
    /// The vmharness that ran it (`CARGO_PKG_VERSION`).
    pub vmharness_version: String,
    /// SHA-256 of the profile file (copied into the run directory as `profile.toml`).
    pub profile_sha256: Option<String>,
    /// The profile's `[vm] image` recipe, and its content hash (the cache key).
    pub image_recipe: String,
    pub recipe_hash: String,
    /// SHA-256 of the image's `packages.lock` (every guest package and version).
    pub image_lock_sha256: Option<String>,
    /// `--kernel` / `--initrd`, when given.
    pub kernel_file: Option<FileHash>,
    pub initrd_file: Option<FileHash>,
    pub seed: u64,
    /// `git describe` of the tool's source tree.
    pub tool_version: Option<String>,
    /// `BTRFS_TO_S3_CMD`, when set.
    pub tool_cmd_override: Option<String>,
    /// The scenarios asked for (the command line's, or the profile's list).
    pub scenarios: Vec<String>,
    /// The accelerator the run used (a rerun forces it).
    pub accel: Accel,
    pub cold_boot: bool,
}

/// What a run (or a rerun about to start) is made of.
pub struct Inputs<'a> {
    pub profile: &'a Profile,
    /// The profile file whose bytes the run reads.
    pub profile_file: &'a Path,
    pub image: &'a Entry,
    pub scenarios: &'a [String],
    /// The command line's kernel, initrd and boot choices.
    pub overrides: &'a BootOverrides,
    /// `BTRFS_TO_S3_CMD`, when set.
    pub cmd_override: Option<&'a str>,
    pub accel: Accel,
}

impl Repro {
    /// The record of `inputs` (files are hashed now).
    pub fn of_run(inputs: &Inputs, tool_version: Option<String>) -> Repro {
        let o = inputs.overrides;
        Repro {
            vmharness_version: env!("CARGO_PKG_VERSION").into(),
            profile_sha256: sha256_file(inputs.profile_file).ok(),
            image_recipe: inputs.profile.vm.image.clone(),
            recipe_hash: inputs.image.meta.key.clone(),
            image_lock_sha256: sha256_file(&inputs.image.lock()).ok(),
            kernel_file: o.kernel.as_deref().map(file_hash),
            initrd_file: o.initrd.as_deref().map(file_hash),
            seed: inputs.profile.fixture.seed,
            tool_version,
            tool_cmd_override: inputs.cmd_override.map(str::to_string),
            scenarios: inputs.scenarios.to_vec(),
            accel: inputs.accel,
            cold_boot: o.cold_boot,
        }
    }
}

/// Lower-case hex SHA-256 of a file's content.
pub fn sha256_file(path: &Path) -> Result<String> {
    crate::util::file_digest::<sha2::Sha256>(path)
}

fn file_hash(path: &Path) -> FileHash {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    FileHash {
        sha256: sha256_file(&abs).ok(),
        path: abs.display().to_string(),
    }
}

/// Copy the profile a run reads into its directory.
pub fn save_profile(profile: &Path, run_dir: &Path) -> Result<()> {
    let to = run_dir.join(PROFILE_COPY);
    std::fs::copy(profile, &to)
        .map(|_| ())
        .with_context(|| format!("copying {} to {}", profile.display(), to.display()))
}

/// One line per input that differs between the run (`then`) and a rerun now.
pub fn differences(then: &Repro, now: &Repro) -> Vec<String> {
    fn text(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or("(none)")
    }
    fn hash(f: &Option<FileHash>) -> Option<String> {
        f.as_ref().map(|f| {
            format!(
                "{} sha256 {}",
                f.path,
                f.sha256.as_deref().unwrap_or("(unreadable)")
            )
        })
    }
    let mut out = Vec::new();
    let mut diff = |what: &str, a: &str, b: &str| {
        if a != b {
            out.push(format!("{what} differs: the run had {a}, now {b}"));
        }
    };
    diff(
        "vmharness version",
        &then.vmharness_version,
        &now.vmharness_version,
    );
    diff(
        "profile sha256",
        text(&then.profile_sha256),
        text(&now.profile_sha256),
    );
    diff("image recipe", &then.image_recipe, &now.image_recipe);
    diff("image recipe hash", &then.recipe_hash, &now.recipe_hash);
    diff(
        "image lock (packages.lock) sha256",
        text(&then.image_lock_sha256),
        text(&now.image_lock_sha256),
    );
    diff(
        "--kernel",
        text(&hash(&then.kernel_file)),
        text(&hash(&now.kernel_file)),
    );
    diff(
        "--initrd",
        text(&hash(&then.initrd_file)),
        text(&hash(&now.initrd_file)),
    );
    diff(
        "tool version",
        text(&then.tool_version),
        text(&now.tool_version),
    );
    out
}

#[cfg(test)]
pub(crate) fn sample() -> Repro {
    Repro {
        vmharness_version: "0.1.0".into(),
        profile_sha256: Some("aa".into()),
        image_recipe: "debian-13".into(),
        recipe_hash: "k1".into(),
        image_lock_sha256: Some("l1".into()),
        kernel_file: Some(FileHash {
            path: "/k/vmlinuz".into(),
            sha256: Some("kk".into()),
        }),
        initrd_file: Some(FileHash {
            path: "/k/initrd".into(),
            sha256: Some("ii".into()),
        }),
        seed: 42,
        tool_version: Some("v1-3-gabc".into()),
        tool_cmd_override: Some(r#"["false"]"#.into()),
        scenarios: vec!["setup".into(), "full".into()],
        accel: Accel::Tcg,
        cold_boot: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_inputs_differ_in_nothing() {
        assert!(differences(&sample(), &sample()).is_empty());
    }

    #[test]
    fn what_changed_is_named_with_both_values() {
        let then = sample();
        let mut now = sample();
        now.image_lock_sha256 = Some("l2".into());
        now.tool_version = Some("v1-4-gdef-dirty".into());
        now.kernel_file.as_mut().unwrap().sha256 = None;
        let d = differences(&then, &now);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(
            d[0].starts_with("image lock (packages.lock) sha256 differs")
                && d[0].contains("l1")
                && d[0].contains("l2"),
            "{d:?}"
        );
        assert!(
            d[1].contains("--kernel") && d[1].contains("(unreadable)"),
            "{d:?}"
        );
        assert!(
            d[2].contains("v1-3-gabc") && d[2].contains("v1-4-gdef-dirty"),
            "{d:?}"
        );
        // Inputs a rerun takes from the record itself are not "differences".
        now = sample();
        now.seed = 7;
        now.scenarios.clear();
        assert!(differences(&then, &now).is_empty());
    }

    #[test]
    fn files_are_hashed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, "abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let f = file_hash(&p);
        assert!(f.path.ends_with("/f") && f.sha256.is_some());
        assert_eq!(file_hash(&d.path().join("missing")).sha256, None);
    }

    #[test]
    fn an_older_results_json_without_repro_still_parses() {
        let mut r = crate::report::sample::report();
        let mut v = serde_json::to_value(&r).unwrap();
        let obj = v.as_object_mut().unwrap();
        obj.remove("repro");
        obj.remove("skipped_scenarios");
        let old = crate::report::results::from_json(&v.to_string()).unwrap();
        assert_eq!(old.repro, None);
        assert!(old.skipped_scenarios.is_empty());
        r.repro = None;
        r.skipped_scenarios.clear();
        assert_eq!(old, r);
    }
}
