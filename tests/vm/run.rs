//! The main job through the CLI: `run-all` of the default profile against
//! the reference tool, run through a wrapper command named by
//! BTRFS_TO_S3_CMD (so the harness is not tied to one command line), the
//! reports it writes, and the exit codes. (Defects: tests/vm_defects.rs.)

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn results(runs: &Path) -> (PathBuf, Value) {
    let latest = runs.join("latest");
    let run = std::fs::canonicalize(&latest).expect("run/latest points at the run");
    let v = read_results(&run);
    (run, v)
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

#[test]
fn run_all_through_a_wrapper_passes_and_writes_every_report() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    // The tool runs through a wrapper: the harness is not tied to one command line.
    let wrapper = r#"["sh", "-c", "exec python3 -m btrfs_to_s3 \"$@\"", "btrfs_to_s3-wrapper"]"#;
    let out = vmharness_env(runs.path(), &[("BTRFS_TO_S3_CMD", wrapper)], &["run-all"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "all checks pass against the correct reference tool"
    );
    let (run, v) = results(runs.path());
    assert_eq!(
        v["tool_cmd"][0], "sh",
        "the wrapper from BTRFS_TO_S3_CMD ran the tool"
    );
    let all = checks(&v);
    assert!(all.len() >= 80, "{} checks", all.len());
    // Warnings the requirements allow: objects the killed backups abandoned.
    let bad: Vec<_> = all
        .iter()
        .filter(|(n, verdict)| {
            verdict != "pass" && !(verdict == "warn" && n.starts_with("verify.orphans."))
        })
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
    let ran: Vec<&str> = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let profile = vmharness::profile::load(&vmharness::profile::default_path().unwrap()).unwrap();
    assert_eq!(
        ran, profile.scenarios.run,
        "the default profile's scenarios, in order"
    );
    for sc in ["interrupt", "cli-flags", "lock-contention"] {
        assert!(ran.contains(&sc), "{sc} is in the default run");
    }

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

#[test]
fn the_spool_profile_bounds_and_empties_the_spool() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let out = vmharness(
        runs.path(),
        &[
            "run",
            "--profile",
            "config/spool.toml",
            "setup",
            "seed",
            "full",
            "spool",
            "verify",
            "cleanup",
        ],
    );
    let (_run, v) = results(runs.path());
    let all = checks(&v);
    for name in [
        "verify.spool.backup",
        "verify.spool.within_limit",
        "verify.spool.used",
        "verify.spool.empty_after",
    ] {
        assert!(
            all.iter()
                .any(|(n, verdict)| n == name && verdict == "pass"),
            "{name} passes: {all:?}"
        );
    }
    assert_eq!(out.status.code(), Some(0), "{all:?}");
}

/// Parse an RFC 3339 time of results.json into seconds.
fn epoch(t: &str) -> f64 {
    let odt = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .expect("started_at is RFC 3339");
    odt.unix_timestamp_nanos() as f64 / 1e9
}

#[test]
fn several_profiles_run_as_parallel_groups_into_one_report() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let mut args = vec!["run-all".to_string()];
    for (name, subvolumes) in [
        ("small-a", "[\"data\"]"),
        ("small-b", "[\"data\", \"home\"]"),
    ] {
        let p = runs.path().join(format!("{name}.toml"));
        std::fs::write(
            &p,
            format!(
                "[btrfs]\nsubvolumes = {subvolumes}\n[fixture]\nscale = \"tiny\"\n\
                 [scenarios]\nrun = [\"setup\", \"seed\", \"full\", \"verify\", \"cleanup\"]\n"
            ),
        )
        .unwrap();
        args.extend(["--profile".to_string(), p.display().to_string()]);
    }
    args.extend(["-j".into(), "2".into()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = vmharness(runs.path(), &argv);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("2 group(s), -j 2"), "{text}");
    let suite_dir = std::fs::read_dir(runs.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("suite-")
        })
        .expect("run/suite-<id>/");
    let suite: Value =
        serde_json::from_slice(&std::fs::read(suite_dir.join("suite.json")).unwrap()).unwrap();
    let groups = suite["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    let mut spans = Vec::new();
    for g in groups {
        assert_eq!(g["exit"], 0, "{g}");
        assert!(g["counts"]["pass"].as_u64().unwrap() > 0, "{g}");
        let dir = PathBuf::from(g["run_dir"].as_str().unwrap());
        let r: Value =
            serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
        let start = epoch(r["started_at"].as_str().unwrap());
        spans.push((start, start + r["seconds"].as_f64().unwrap()));
    }
    // -j 2: the two groups' VMs ran at the same time.
    assert!(
        spans[0].0 < spans[1].1 && spans[1].0 < spans[0].1,
        "the groups did not overlap: {spans:?}"
    );
    let junit = std::fs::read_to_string(suite_dir.join("junit.xml")).unwrap();
    for name in ["small-a/full", "small-b/full", "small-b/verify"] {
        assert!(
            junit.contains(&format!("<testsuite name=\"{name}\"")),
            "{name} missing from the merged junit.xml"
        );
    }
    assert!(!junit.contains("<failure"), "{junit}");
}
