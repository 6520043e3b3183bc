//! `run-all --shard K/N` and `report merge`: two tiny profiles (the default
//! profile whose run list is just `setup`) run unsplit, then as shards 1/2
//! and 2/2; the shards merged hold the same (scenario, check, verdict) as
//! the unsplit run, and every directory has its report.html.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The default profile with `[scenarios] run = ["setup"]`, as `<dir>/<name>.toml`.
fn tiny_profile(dir: &Path, name: &str) -> PathBuf {
    let base = std::fs::read_to_string(vmharness::profile::default_path().unwrap())
        .expect("config/test.toml");
    let text: String = base
        .lines()
        .map(|l| {
            if l.starts_with("run = [") {
                r#"run = ["setup"]"#.to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains(r#"run = ["setup"]"#),
        "config/test.toml has a run list"
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text + "\n").expect("writing a profile");
    path
}

/// The run directory `latest` points at, and its results.json.
fn latest(runs: &Path) -> (PathBuf, Value) {
    let dir = std::fs::canonicalize(runs.join("latest")).expect("run/latest");
    let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json");
    assert!(
        dir.join("report.html").is_file(),
        "{} has report.html",
        dir.display()
    );
    (dir, serde_json::from_str(&text).expect("JSON"))
}

/// (group/scenario, check, verdict) of every check, sorted.
fn triples(v: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = v["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .flat_map(|s| {
            let scenario = format!(
                "{}/{}",
                s["group"].as_str().unwrap_or("-"),
                s["name"].as_str().unwrap()
            );
            s["checks"].as_array().unwrap().iter().map(move |c| {
                (
                    scenario.clone(),
                    c["name"].as_str().unwrap().to_string(),
                    c["verdict"].as_str().unwrap().to_string(),
                )
            })
        })
        .collect();
    out.sort();
    out
}

#[test]
fn shards_merged_equal_the_unsplit_run() {
    let runs = runs_dir();
    let a = tiny_profile(runs.path(), "tiny-a");
    let b = tiny_profile(runs.path(), "tiny-b");
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let both = ["run-all", "--profile", a, "--profile", b];

    // Bad shards are usage errors, before any VM; an empty shard runs nothing.
    let out = vmharness(runs.path(), &[&both[..], &["--shard", "3/2"]].concat());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("K is out of range") && err.contains("--shard 1/2"),
        "{err}"
    );
    let out = vmharness(runs.path(), &[&both[..], &["--shard", "3/3"]].concat());
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 3/3 has no group"));
    assert!(!runs.path().join("latest").exists(), "nothing ran");

    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let out = vmharness(runs.path(), &both);
    assert_eq!(out.status.code(), Some(0), "unsplit");
    let (whole_dir, whole) = latest(runs.path());
    assert!(whole_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("suite-"));
    assert_eq!(whole["groups"], serde_json::json!(["tiny-a", "tiny-b"]));

    let mut shard_dirs = Vec::new();
    for (shard, group) in [("1/2", "tiny-a"), ("2/2", "tiny-b")] {
        let out = vmharness(runs.path(), &[&both[..], &["--shard", shard]].concat());
        assert_eq!(out.status.code(), Some(0), "shard {shard}");
        let (dir, v) = latest(runs.path());
        assert_eq!(v["groups"], serde_json::json!([group]), "shard {shard}");
        shard_dirs.push(dir.display().to_string());
    }

    let merged = runs.path().join("merged");
    let merged_s = merged.display().to_string();
    let out = vmharness(
        runs.path(),
        &[
            "report",
            "merge",
            &shard_dirs[0],
            &shard_dirs[1],
            "--out",
            &merged_s,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "merged outcome");
    let text = std::fs::read_to_string(merged.join("results.json")).expect("merged results.json");
    let m: Value = serde_json::from_str(&text).unwrap();
    let want = triples(&whole);
    assert!(!want.is_empty());
    assert_eq!(
        triples(&m),
        want,
        "the shards merged hold the unsplit run's checks"
    );
    for f in ["junit.xml", "benchmark.json", "report.html"] {
        assert!(merged.join(f).is_file(), "merged {f}");
    }
    let junit = std::fs::read_to_string(merged.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testsuite name="tiny-a/setup""#),
        "{junit}"
    );
    assert!(
        junit.contains(r#"<testsuite name="tiny-b/setup""#),
        "{junit}"
    );
    // The merged run and the unsplit suite are the same profiles: a trend.
    let html = std::fs::read_to_string(merged.join("report.html")).unwrap();
    assert_eq!(
        html.matches(r#"<tr class="trend-run">"#).count(),
        2,
        "{html}"
    );

    // `vmharness report` of the latest run (shard 2/2): its table and files.
    let out = vmharness(runs.path(), &["report"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = stdout(&out);
    assert!(
        stdout.contains("tiny-b/setup") && stdout.contains("report.html"),
        "{stdout}"
    );
}
