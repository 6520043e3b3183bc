//! The defect matrix: every defect of the reference tool's catalogue whose
//! scenario exists is caught by the check the catalogue names, with its
//! verdict, and blamed on no other check; the correct tool passes everything.

#[path = "vm/common.rs"]
mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use vmharness::matrix::{recipe, table};

fn matrix_dir(runs: &Path) -> std::path::PathBuf {
    std::fs::read_dir(runs)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("matrix-"))
        })
        .expect("a matrix-<id> directory")
}

fn matrix_json(runs: &Path) -> Value {
    let dir = matrix_dir(runs);
    serde_json::from_str(&std::fs::read_to_string(dir.join("matrix.json")).unwrap())
        .expect("matrix.json is JSON")
}

#[test]
fn every_covered_defect_is_caught_by_its_named_check() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let catalogue = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference-tool/DEFECTS.md");
    let rows = table::parse(&std::fs::read_to_string(catalogue).unwrap()).unwrap();
    let runs = runs_dir();
    let out = vmharness(runs.path(), &["defects"]);
    let m = matrix_json(runs.path());
    // CI prints the detection table (docs/src/reference-tool.md: "What the
    // matrix caught") and keeps the matrix's reports and logs (not its
    // disks or stores): the runs directory goes with the test, and a
    // failure must be readable.
    if let Some(out) = std::env::var_os("VMHARNESS_TEST_OUTPUT") {
        let dir = matrix_dir(runs.path());
        let _ = std::fs::copy(
            dir.join("detection.md"),
            Path::new(&out).join("detection.md"),
        );
        keep_small_files(&dir, &Path::new(&out).join("matrix"));
    }
    let cases = m["cases"].as_array().unwrap();
    let case = |name: &str| cases.iter().find(|c| c["case"] == name);
    let mut problems = Vec::new();
    let mut covered = 0;
    for row in &rows {
        let Some(_) = recipe::recipe(&row.scenario) else {
            assert!(
                m["not_covered"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|n| n["defect"] == row.defect.as_str()),
                "{} is listed as not covered",
                row.defect
            );
            continue;
        };
        covered += 1;
        let Some(c) = case(&row.defect) else {
            problems.push(format!("{}: no case ran", row.defect));
            continue;
        };
        let want = if row.verdict == vmharness::verify::Verdict::Warn {
            "warn"
        } else {
            "fail"
        };
        let got = c["got"].as_array().unwrap();
        if !got.iter().any(|g| g[1] == want) {
            problems.push(format!(
                "{}: {} wanted {want}, got {got:?}",
                row.defect, row.check
            ));
        }
        for key in ["unrelated", "harness"] {
            if !c[key].as_array().unwrap().is_empty() {
                problems.push(format!("{}: {key}: {}", row.defect, c[key]));
            }
        }
    }
    // Every quirk (a legal variation) was accepted and proved it ran, and
    // the baselines (every quirk on at once) showed every quirk's code paths.
    let quirks_md = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference-tool/QUIRKS.md");
    let quirk_rows =
        vmharness::matrix::quirks::parse(&std::fs::read_to_string(quirks_md).unwrap()).unwrap();
    for q in &quirk_rows {
        match case(&format!("quirk:{}", q.quirk)) {
            None => problems.push(format!("quirk {}: no case ran", q.quirk)),
            Some(c) => {
                for key in ["unrelated", "harness", "unproven"] {
                    if c[key].as_array().is_some_and(|a| !a.is_empty()) {
                        problems.push(format!("quirk {}: {key}: {}", q.quirk, c[key]));
                    }
                }
            }
        }
    }
    assert!(
        m["quirks_unproven"].as_array().unwrap().is_empty(),
        "the baselines ran with every quirk on: {}",
        m["quirks_unproven"]
    );
    let baseline: Vec<&Value> = cases.iter().filter(|c| c["case"] == "baseline").collect();
    assert!(!baseline.is_empty(), "a baseline case ran");
    for b in baseline {
        assert!(
            b["caught"] == true
                && b["unrelated"].as_array().unwrap().is_empty()
                && b["harness"].as_array().unwrap().is_empty(),
            "the correct tool passes everything: {b}"
        );
    }
    assert_eq!(
        covered,
        rows.len(),
        "every defect of the catalogue has its scenario"
    );
    assert!(m["not_covered"].as_array().unwrap().is_empty());
    let with_faults = cases
        .iter()
        .filter(|c| c["case"] == "baseline")
        .filter(|c| faults_group_held(Path::new(c["report_dir"].as_str().unwrap())))
        .count();
    assert_eq!(
        with_faults, 1,
        "one baseline (config/defects.toml) ran the faults group"
    );
    // Two profiles, at least one VM each; with -j above 1 more VMs may start,
    // never more than one per case.
    let jobs = m["jobs"].as_u64().unwrap();
    let starts = m["vm_starts"].as_u64().unwrap();
    assert!(jobs >= 1, "{m}");
    assert!(
        (2..=cases.len() as u64).contains(&starts),
        "{starts} VM starts for {} cases",
        cases.len()
    );
    assert!(m["boot_seconds"].as_f64().unwrap() > 0.0);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(out.status.code(), Some(0), "every case held: exit 0");
    assert!(stdout(&out).contains(&format!("{}/{} case(s) held", cases.len(), cases.len())));
}

/// Copy the files under `from` of at most 2 MiB (reports, logs, console
/// and QEMU output) to `to`, leaving S3 stores out.
fn keep_small_files(from: &Path, to: &Path) {
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    for e in entries.flatten() {
        let (path, name) = (e.path(), e.file_name());
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() && name != "s3-store" {
            keep_small_files(&path, &to.join(&name));
        } else if meta.is_file() && meta.len() <= 2 << 20 {
            let _ = std::fs::create_dir_all(to);
            let _ = std::fs::copy(&path, to.join(&name));
        }
    }
}

/// The baseline of config/defects.toml ran the whole faults group against
/// the correct tool: every fault scenario passed, each proved its
/// perturbation landed (its evidence), and `verify` still found the bucket
/// sound afterwards.
/// False when this baseline did not run the group (another profile's).
fn faults_group_held(report_dir: &Path) -> bool {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("results.json")).unwrap())
            .unwrap();
    let scenarios = v["scenarios"].as_array().unwrap();
    let ran: Vec<&str> = scenarios
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    if !ran.contains(&"power-loss") {
        return false;
    }
    for sc in vmharness::runner::scenarios::faults::names() {
        assert!(ran.contains(&sc), "the baseline ran {sc}: {ran:?}");
    }
    let check = |name: &str| -> &Value {
        scenarios
            .iter()
            .flat_map(|s| s["checks"].as_array().unwrap())
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} ran"))
    };
    let pl = &check("verify.power_loss.fixture_intact")["evidence"]["power_cut"];
    assert!(
        pl["chunks_stored_before_cut"].as_u64().unwrap() >= 1,
        "{pl}"
    );
    assert!(
        !pl["writes_before_cut"].as_array().unwrap().is_empty(),
        "{pl}"
    );
    for c in [
        "verify.power_loss.rerun_succeeds",
        "verify.power_loss.restore",
        "verify.network_cut.backup",
        "verify.network_cut.restore",
    ] {
        assert_eq!(check(c)["verdict"], "pass", "{}", check(c));
    }
    let nc = check("verify.network_cut.backup")["evidence"].to_string();
    assert!(nc.contains("cut_seconds"), "{nc}");
    let stall = &check("verify.s3_errors.no_hang[stall]")["evidence"];
    assert_eq!(stall["ended_within_bound"], true, "{stall}");
    for v in ["backup", "restore", "mixed"] {
        let c = &check(&format!("verify.s3_errors.completes[{v}]"))["evidence"];
        assert!(c["faults_fired"].as_u64().unwrap() >= 1, "{v}: {c}");
    }
    for v in ["flip", "truncate", "swap"] {
        let c = &check(&format!("verify.corruption.integrity_error[{v}]"))["evidence"];
        assert!(
            !c["reads_of_altered"].as_array().unwrap().is_empty(),
            "{v}: {c}"
        );
    }
    let runs = check("verify.rapid_runs.no_overwrite")["evidence"]["runs"].clone();
    let held = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("clock").is_some())
        .count();
    assert_eq!(held, 2, "two runs with the clock held: {runs}");
    for c in [
        "verify.publish_order",
        "verify.manifest.parent_chain",
        "verify.manifest.sha256",
    ] {
        assert_eq!(
            check(c)["verdict"],
            "pass",
            "{c} after the faults: {}",
            check(c)
        );
    }
    true
}
