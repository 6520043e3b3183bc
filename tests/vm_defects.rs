//! The defect matrix: every defect of the reference tool's catalogue whose
//! scenario exists is caught by the check the catalogue names, with its
//! verdict, and blamed on no other check; the correct tool passes everything.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use vmharness::matrix::{recipe, table};

fn matrix_json(runs: &Path) -> Value {
    let dir = std::fs::read_dir(runs)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("matrix-"))
        })
        .expect("a matrix-<id> directory");
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
    assert!(covered >= 22, "{covered} defects covered");
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
