//! An installed vmharness works in a tool's own repository, outside any
//! vmharness checkout: the built binary alone in a temporary root's `bin/`
//! (what `cargo install --root` leaves), `vmharness init` in a scratch git
//! repository holding a copy of the reference tool, then `run-all` from a
//! subdirectory of it. The run finds `vmharness.toml` upwards, uses the
//! recipes, profiles and guest helpers built into the binary (unpacked in
//! the cache), copies the repository's tool into the guest, and leaves its
//! run in the repository's `vmharness-runs/`, which git ignores (init added
//! it to the tool's own `.gitignore`).

use crate::common::*;
use std::path::Path;
use std::process::Command;

#[test]
fn an_installed_binary_runs_a_tools_repository_from_a_subdirectory() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let scratch = runs_dir();
    let bin = scratch.path().join("root/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let exe = bin.join("vmharness");
    std::fs::copy(env!("CARGO_BIN_EXE_vmharness"), &exe).expect("installing the binary");

    // The tool's repository: the reference tool's files, committed.
    let repo = scratch.path().join("btrfs-to-s3");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("reference-tool"),
        &repo,
    );
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    commit(&repo, "tool");
    chown_tree(&repo);

    // Unset: the runs go where the workspace says.
    let env = [("VMHARNESS_RUN_DIR", String::new())];
    let init = as_test_user(&exe, &repo, &env)
        .arg("init")
        .output()
        .expect("running vmharness init");
    assert!(init.status.success(), "init: {init:?}");
    let profile = std::fs::read_to_string(repo.join("vmharness.toml")).unwrap();
    assert!(profile.contains("source_dir = \".\""), "{profile}");
    // The run before a commit: one subvolume, the tiny fixture, the cycle.
    std::fs::write(
        repo.join("vmharness.toml"),
        format!(
            "{profile}\n[btrfs]\nsubvolumes = [\"data\"]\n[fixture]\nscale = \"tiny\"\n\
             [scenarios]\nrun = [\"setup\", \"seed\", \"full\", \"restore\", \"verify\", \"cleanup\"]\n"
        ),
    )
    .unwrap();
    // As its developer would: the workspace files are committed.
    git(&repo, &["add", "vmharness.toml", ".gitignore"]);
    commit(&repo, "vmharness");
    let head = git(&repo, &["rev-parse", "--short", "HEAD"]);
    chown_tree(&repo);

    let started = std::time::Instant::now();
    let run = as_test_user(&exe, &repo.join("btrfs_to_s3"), &env)
        .arg("run-all")
        .output()
        .expect("running vmharness run-all");
    eprintln!(
        "$ vmharness run-all (installed, in {}) -> {} in {:.0} s\n{}{}",
        repo.display(),
        run.status,
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(run.status.code(), Some(0), "run-all of the workspace");

    // The run is in the workspace, and ran the repository's tool.
    let run_dir = only_run(&repo.join("vmharness-runs"));
    let results = read_results(&run_dir);
    assert_eq!(
        results["profile"],
        repo.join("vmharness.toml").display().to_string()
    );
    assert_eq!(
        results["tool_version"],
        head.as_str(),
        "the tool is the repository's"
    );
    // `report` (no arguments) finds the same run from the workspace.
    let report = as_test_user(&exe, &repo.join("btrfs_to_s3"), &env)
        .arg("report")
        .output()
        .expect("running vmharness report");
    let printed = String::from_utf8_lossy(&report.stdout);
    let id = run_dir.file_name().unwrap().to_string_lossy();
    assert_eq!(report.status.code(), Some(0), "report: {report:?}");
    assert!(
        printed.contains(&*id),
        "report names the run {id}: {printed}"
    );
    // The built-in files, unpacked, served: no checkout was found from there.
    let assets = vmharness::assets::root().join(vmharness::assets::digest());
    assert!(
        assets.join("images/debian-13.toml").is_file(),
        "{}",
        assets.display()
    );
    let said = String::from_utf8_lossy(&run.stderr);
    let from = format!(
        "tool from {}; recipes, schemas and guest helpers from {}",
        repo.display(),
        assets.display()
    );
    assert!(said.contains(&from), "expected `{from}` in: {said}");
    // git never sees the runs: the tree is as committed.
    let status = git(&repo, &["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(status, "", "the run left files git sees");
}

/// `git ARGS` in `dir` (as the invoking user; any owner is trusted), its stdout trimmed.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "safe.directory=*"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running git (install it: apt-get install git)");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Commit what is staged, as a throwaway author.
fn commit(dir: &Path, message: &str) {
    git(
        dir,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            message,
        ],
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let name = e.file_name();
        if name == "__pycache__" || name == ".pytest_cache" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(&name));
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

/// Give `dir` and everything below it to the test user.
fn chown_tree(dir: &Path) {
    give_to_test_user(dir);
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            chown_tree(&e.path());
        } else {
            give_to_test_user(&e.path());
        }
    }
}
