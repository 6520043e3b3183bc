//! Seeded fixtures kept across runs: the first run of a fixture key seeds
//! and stores it; the next run of the same key attaches a copy-on-write
//! copy of it (no seeding, the same seed report, a backup and verify that
//! pass: exit 0) and never changes it (hash before and after); another seed makes
//! another template.

use crate::common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use vmharness::fixture::template;

fn profile(dir: &Path, seed: u64) -> PathBuf {
    let p = dir.join(format!("templates-{seed}.toml"));
    std::fs::write(
        &p,
        format!(
            "[btrfs]\nsubvolumes = [\"data\"]\n\n[fixture]\nscale = \"tiny\"\nseed = {seed}\n\n\
             [scenarios]\nrun = [\"setup\", \"seed\", \"full\", \"verify\"]\n"
        ),
    )
    .unwrap();
    p
}

/// Run `run-all` of `profile`; its results.
fn run(profile: &Path) -> Value {
    let runs = runs_dir();
    let out = vmharness(
        runs.path(),
        &["run-all", "--profile", profile.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "run-all of {}",
        profile.display()
    );
    let dir = std::fs::canonicalize(runs.path().join("latest")).expect("run/latest");
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

fn check<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap())
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} ran"))
}

/// The stored templates seeded with `seed`.
fn templates_of(seed: u64) -> Vec<PathBuf> {
    std::fs::read_dir(template::root())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| template::find(&template::root(), &e.file_name().to_string_lossy()))
        .filter(|t| t.meta.inputs["fixture"]["seed"] == seed)
        .map(|t| t.dir)
        .collect()
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn remove(dirs: &[PathBuf]) {
    use std::os::unix::fs::PermissionsExt;
    for d in dirs {
        let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755));
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_seeded_fixture_is_stored_once_reused_unchanged_and_keyed_by_its_seed() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let dir = runs_dir();
    // A seed no earlier run used: this test's first run must seed.
    let seed = 1_000_000
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            % 1_000_000;
    let p = profile(dir.path(), seed);

    let first = run(&p);
    let ready = check(&first, "fixture.ready");
    assert!(ready["evidence"]["template"].is_null(), "{ready}");
    let stored = templates_of(seed);
    assert_eq!(stored.len(), 1, "the first run stored its seeded fixture");
    let image = stored[0].join("fixture.qcow2");
    assert!(std::fs::metadata(&image).unwrap().permissions().readonly());
    let before = sha256(&image);
    let seeded = check(&first, "fixture.items_created[data]")["evidence"].clone();

    let second = run(&p);
    let ready = check(&second, "fixture.ready");
    assert_eq!(
        ready["evidence"]["template"].as_str(),
        Some(stored[0].to_str().unwrap()),
        "the second run attached the stored fixture: {ready}"
    );
    let reused = check(&second, "fixture.items_created[data]");
    assert_eq!(reused["verdict"], "pass");
    assert_eq!(reused["evidence"], seeded, "the stored seed report");
    assert_eq!(sha256(&image), before, "a run on the template changed it");
    assert_eq!(templates_of(seed), stored, "no second template");

    // Another seed: another key, seeded and stored afresh.
    let other = profile(dir.path(), seed + 1);
    let third = run(&other);
    assert!(check(&third, "fixture.ready")["evidence"]["template"].is_null());
    let new = templates_of(seed + 1);
    assert_eq!(new.len(), 1);
    assert_ne!(new, stored);
    remove(&stored);
    remove(&new);
}
