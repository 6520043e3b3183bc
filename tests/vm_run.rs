//! The main job through the CLI: scenarios against the reference tool, the
//! reports they write, the exit codes, a defect caught, and the tool run
//! through a wrapper command named by BTRFS_TO_S3_CMD.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const CORE: &[&str] = &[
    "setup",
    "seed",
    "full",
    "mutate",
    "incremental",
    "restore",
    "verify",
    "cleanup",
];

fn results(runs: &Path) -> (PathBuf, Value) {
    let latest = runs.join("latest");
    let run = std::fs::canonicalize(&latest).expect("run/latest points at the run");
    let text = std::fs::read_to_string(run.join("results.json")).expect("results.json");
    (
        run,
        serde_json::from_str(&text).expect("results.json is JSON"),
    )
}

fn checks(v: &Value) -> Vec<(String, String)> {
    v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap().iter())
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A copy of the default profile with `[tool] env` set, in `dir`.
fn profile_with_env(dir: &Path, env: &[(&str, &str)]) -> PathBuf {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/test.toml"))
            .unwrap();
    let mut t: toml::Table = toml::from_str(&text).unwrap();
    let tool = t.get_mut("tool").and_then(|v| v.as_table_mut()).unwrap();
    let mut e = toml::Table::new();
    for (k, v) in env {
        e.insert(k.to_string(), toml::Value::String(v.to_string()));
    }
    tool.insert("env".into(), toml::Value::Table(e));
    let p = dir.join("profile.toml");
    std::fs::write(&p, toml::to_string(&t).unwrap()).unwrap();
    p
}

#[test]
fn core_scenarios_pass_and_write_every_report() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let mut args = vec!["run"];
    args.extend(CORE);
    let out = vmharness(runs.path(), &args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "all checks pass against the correct reference tool"
    );
    let (run, v) = results(runs.path());
    let all = checks(&v);
    assert!(all.len() >= 50, "{} checks", all.len());
    let bad: Vec<_> = all
        .iter()
        .filter(|(_, verdict)| verdict != "pass")
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    for name in [
        "verify.manifest.sha256",
        "verify.publish_order",
        "verify.sse_requested",
        "verify.restore.digest[data]",
        "verify.restore.chain[home]",
        "verify.retention",
    ] {
        assert!(all.iter().any(|(n, _)| n == name), "{name} ran");
    }
    assert_eq!(v["backend"], "embedded");
    assert_eq!(v["scenarios"].as_array().unwrap().len(), CORE.len());

    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    assert_eq!(
        junit.matches("<testcase").count(),
        all.len(),
        "one testcase per check"
    );
    assert!(!junit.contains("<failure"));

    let bench: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("benchmark.json")).unwrap())
            .unwrap();
    let text = bench.to_string();
    assert!(
        text.contains("\"backup\"") && text.contains("\"restore\""),
        "{text}"
    );
    for f in [
        "console.log",
        "ssh.jsonl",
        "s3-journal.jsonl",
        "qemu.argv",
        "tool-config.toml",
    ] {
        assert!(run.join(f).is_file(), "{f} is kept");
    }
    assert!(vmharness::vm::files::leftovers(&run).is_empty());
    let stdout = stdout(&out);
    assert!(
        stdout.contains("verify.publish_order") && stdout.contains("PASS"),
        "the final table: {stdout}"
    );
}

#[test]
fn a_defect_fails_its_check_with_exit_1_and_a_wrapper_command_works() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let dir = tempfile::tempdir().unwrap();
    let profile = profile_with_env(dir.path(), &[("REFTOOL_DEFECT", "wrong-sha256")]);
    let p = profile.to_string_lossy().to_string();
    // The tool runs through a wrapper: the harness is not tied to one command line.
    let wrapper = r#"["sh", "-c", "exec python3 -m btrfs_to_s3 \"$@\"", "btrfs_to_s3-wrapper"]"#;
    let out = vmharness_env(
        runs.path(),
        &[("BTRFS_TO_S3_CMD", wrapper)],
        &[
            "run",
            "--profile",
            &p,
            "setup",
            "seed",
            "full",
            "verify",
            "cleanup",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a tool that fails a check exits 1"
    );
    let (_run, v) = results(runs.path());
    assert_eq!(
        v["tool_cmd"][0], "sh",
        "the wrapper from BTRFS_TO_S3_CMD ran the tool"
    );
    let all = checks(&v);
    let verdict = |n: &str| {
        all.iter()
            .find(|(name, _)| name == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        verdict("verify.manifest.sha256").as_deref(),
        Some("fail"),
        "{all:?}"
    );
    // Unrelated checks are not dragged down by the defect.
    for n in [
        "verify.backup.exit[data]",
        "verify.publish_order",
        "verify.sse_requested",
        "verify.layout",
        "verify.manifest.chunks_stored",
    ] {
        assert_eq!(verdict(n).as_deref(), Some("pass"), "{n}: {all:?}");
    }
}

#[test]
fn a_broken_bts3_cmd_is_a_clear_harness_error() {
    let runs = runs_dir();
    let out = vmharness_env(
        runs.path(),
        &[("BTRFS_TO_S3_CMD", "python3 -m btrfs_to_s3")],
        &["run", "setup"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("BTRFS_TO_S3_CMD") && err.contains("JSON"),
        "{err}"
    );
}
