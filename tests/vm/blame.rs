//! Blame that cannot be faked: a tool that fails everything (`false`) and
//! a tool that crashes on every command are judged in every scenario of
//! the default scenario list and of the faults group: exit 1 (also under
//! `--bisect`, so a bisect never steps over such a commit), every scenario
//! judged (a FAIL, or a skip the tool caused), no harness error, and the
//! crash with its exception in the diagnosis.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

/// The merged results of the suite `run-all` just wrote.
fn suite_results(runs: &Path) -> Value {
    let dir = std::fs::canonicalize(runs.join("latest")).expect("run/latest");
    let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json");
    serde_json::from_str(&text).expect("results.json is JSON")
}

/// Every scenario of `v` was judged by checks and none is the harness's.
fn assert_all_judged(v: &Value, what: &str) -> Vec<Value> {
    assert!(
        v["harness_errors"].as_array().is_none_or(|a| a.is_empty()),
        "{what}: harness errors {}",
        v["harness_errors"]
    );
    let mut checks = Vec::new();
    for s in v["scenarios"].as_array().expect("scenarios") {
        let name = s["name"].as_str().unwrap_or_default();
        assert!(
            s["infra_error"].is_null(),
            "{what}: {name} was blamed on the harness: {}",
            s["infra_error"]
        );
        let cs = s["checks"].as_array().expect("checks");
        assert!(!cs.is_empty(), "{what}: {name} reported no check");
        for c in cs {
            if c["verdict"] == "skip" {
                assert!(
                    c["blocked_by"].is_string(),
                    "{what}: {name}: {} skipped for a reason of the harness's: {c}",
                    c["name"]
                );
            }
            checks.push(c.clone());
        }
    }
    checks
}

fn run_suite(tool: &str, bisect: bool) -> (Option<i32>, Value, String) {
    let runs = runs_dir();
    let mut args = vec![
        "run-all",
        "--profile",
        "config/defects.toml",
        "--profile",
        "config/faults.toml",
        "-j",
        "2",
    ];
    if bisect {
        args.push("--bisect");
    }
    let out = vmharness_env(runs.path(), &[("BTRFS_TO_S3_CMD", tool)], &args);
    (out.status.code(), suite_results(runs.path()), stdout(&out))
}

#[test]
fn a_tool_that_fails_everything_is_blamed_in_every_scenario() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let (code, v, out) = run_suite(r#"["false"]"#, true);
    assert_eq!(
        code,
        Some(1),
        "the tool failed: exit 1, also under --bisect\n{out}"
    );
    let checks = assert_all_judged(&v, "false");
    let fails = checks.iter().filter(|c| c["verdict"] == "fail").count();
    let blocked = checks
        .iter()
        .filter(|c| c["blocked_by"].is_string())
        .count();
    assert!(fails >= 20, "{fails} checks failed");
    assert!(
        blocked >= 10,
        "{blocked} checks were not judged because of the tool"
    );
    for name in [
        "verify.backup.exit[data]",
        "verify.interrupt.killed[SIGTERM]",
        "verify.no_credentials.exit_nonzero",
        "verify.corruption.precondition",
        "verify.s3_errors.completes[backup]",
        "verify.network_cut.backup",
        "verify.power_loss.precondition",
    ] {
        assert!(
            checks
                .iter()
                .any(|c| c["name"] == name && c["verdict"] == "fail"),
            "{name} failed"
        );
    }
}

#[test]
fn a_tool_that_crashes_is_blamed_with_its_exception() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let tool = r#"["python3", "-c", "import sys; print('2026-12-02 07:00:00,000 INFO t event=started', file=sys.stderr); raise RuntimeError('the tool under test crashed')"]"#;
    let (code, v, out) = run_suite(tool, false);
    assert_eq!(code, Some(1), "{out}");
    let checks = assert_all_judged(&v, "crash");
    let crashes: Vec<&Value> = checks
        .iter()
        .filter(|c| c["name"] == "verify.tool.no_crash")
        .collect();
    assert!(crashes.len() >= 10, "{} no_crash checks", crashes.len());
    for c in &crashes {
        assert_eq!(c["verdict"], "fail", "{c}");
        assert!(
            c["diagnosis"]
                .as_str()
                .unwrap_or_default()
                .contains("RuntimeError: the tool under test crashed"),
            "{c}"
        );
    }
    // The line people read carries the tool's own cause.
    let exit = checks
        .iter()
        .find(|c| c["name"] == "verify.backup.exit[data]")
        .expect("the full backup was judged");
    assert!(
        exit["diagnosis"]
            .as_str()
            .unwrap_or_default()
            .contains("the tool said: RuntimeError: the tool under test crashed"),
        "{exit}"
    );
}

/// A tool that works until an S3 error makes it crash in the middle of the
/// faults group (run from `s3-errors` on: what matters is after it): exit
/// 1, the crash (its exception) named in s3-errors' `verify.tool.no_crash`,
/// and every later scenario judged on the state the harness rolled back to
/// (they pass: the tool is otherwise correct).
#[test]
fn a_crash_in_the_middle_of_the_faults_group_blinds_nothing_after_it() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let tool = r#"["env", "REFTOOL_DEFECT=crash-on-s3-error", "python3", "-m", "btrfs_to_s3"]"#;
    let out = vmharness_env(
        runs.path(),
        &[("BTRFS_TO_S3_CMD", tool)],
        // The group from the crash on: what comes after it must still be judged.
        &[
            "run",
            "--profile",
            "config/faults.toml",
            "setup",
            "seed",
            "full",
            // The variant whose faults outlast the retries: the one this
            // defect crashes on (the others would pass and cost minutes).
            "s3-errors[fatal]",
            "network-cut",
            "power-loss",
            "verify",
            "cleanup",
        ],
    );
    let dir = std::fs::canonicalize(runs.path().join("latest")).expect("run/latest");
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("results.json")).expect("results.json"),
    )
    .expect("results.json is JSON");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let checks = assert_all_judged(&v, "crash-on-s3-error");
    let scenario_checks = |name: &str| -> Vec<Value> {
        v["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} ran"))["checks"]
            .as_array()
            .unwrap()
            .clone()
    };
    let crash = scenario_checks("s3-errors")
        .into_iter()
        .find(|c| c["name"] == "verify.tool.no_crash")
        .expect("s3-errors judged its commands for crashes");
    assert_eq!(crash["verdict"], "fail", "{crash}");
    assert!(
        crash["diagnosis"]
            .as_str()
            .unwrap_or_default()
            .contains("Error"),
        "the exception is in the diagnosis: {crash}"
    );
    for later in ["network-cut", "power-loss", "verify", "cleanup"] {
        for c in scenario_checks(later) {
            // Objects a cut backup abandoned are a warning the requirements allow.
            let allowed = c["verdict"] == "pass"
                || (c["verdict"] == "warn"
                    && c["name"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("verify.orphans."));
            assert!(allowed, "{later} after the crash: {c}");
        }
    }
    assert!(checks.len() > 40, "{} checks", checks.len());
}
