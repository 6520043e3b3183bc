//! The faults group against the correct reference tool: every fault
//! scenario of `config/faults.toml` runs, each proves its perturbation
//! landed (its evidence), every check passes, and `verify` still finds the
//! bucket sound afterwards. (The defects each scenario exists to catch:
//! tests/vm_defects.rs.)

mod common;

use common::*;
use serde_json::Value;

#[test]
fn the_faults_group_passes_against_the_correct_tool() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let out = vmharness(runs.path(), &["run-all", "--profile", "config/faults.toml"]);
    let run = std::fs::canonicalize(runs.path().join("latest")).expect("run/latest");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    let scenarios = v["scenarios"].as_array().unwrap();
    let ran: Vec<&str> = scenarios
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let mut want = vec!["setup", "seed"];
    want.extend(vmharness::runner::scenarios::faults::SCENARIOS);
    want.extend(["verify", "cleanup"]);
    assert_eq!(ran, want, "the group expanded in place, in order");
    let check = |name: &str| -> &Value {
        scenarios
            .iter()
            .flat_map(|s| s["checks"].as_array().unwrap())
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} ran"))
    };
    let mut bad = Vec::new();
    for s in scenarios {
        if !s["infra_error"].is_null() {
            bad.push(format!("{}: {}", s["name"], s["infra_error"]));
        }
        for c in s["checks"].as_array().unwrap() {
            let soft = c["verdict"] == "warn"
                && c["name"].as_str().unwrap().starts_with("verify.orphans.");
            if c["verdict"] != "pass" && !soft {
                bad.push(format!(
                    "{} {}: {}",
                    c["name"], c["verdict"], c["diagnosis"]
                ));
            }
            assert!(!c["diagnosis"].as_str().unwrap().is_empty(), "{c}");
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // Each perturbation landed mid-operation, as its evidence shows.
    let pl = &check("verify.power_loss.fixture_intact")["evidence"]["power_cut"];
    assert!(
        pl["chunks_stored_before_cut"].as_u64().unwrap() >= 1,
        "{pl}"
    );
    assert!(
        !pl["writes_before_cut"].as_array().unwrap().is_empty(),
        "{pl}"
    );
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
    let rr = check("verify.rapid_runs.no_overwrite")["evidence"]["runs"].clone();
    let clocks: Vec<&Value> = rr
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.get("clock"))
        .collect();
    assert_eq!(clocks.len(), 2, "two runs with the clock held: {rr}");
    // The bucket is still sound after all of it.
    assert_eq!(check("verify.publish_order")["verdict"], "pass");
    assert_eq!(check("verify.manifest.parent_chain")["verdict"], "pass");
    // The VM that was power-cut and restarted was stopped like any other.
    assert!(vmharness::vm::files::leftovers(&run).is_empty());
}
