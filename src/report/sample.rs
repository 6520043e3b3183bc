//! A small report used by the report tests.

use super::benchmark::{Transfer, TransferKind};
use super::results::{Phase, RunReport, ScenarioReport};
use crate::verify::{Check, Verdict};
use serde_json::json;

pub fn check(name: &str, verdict: Verdict, diagnosis: &str) -> Check {
    Check::new(name, verdict, json!({"keys": ["a"]}), diagnosis)
}

pub fn report() -> RunReport {
    RunReport {
        run_id: "20240101-000000-abcd".into(),
        profile: "config/test.toml".into(),
        accel: "tcg".into(),
        accel_reason: "tcg (no vmx/svm)".into(),
        image: "debian-13 abc".into(),
        kernel: "6.12.0".into(),
        tool_version: Some("1.0.0".into()),
        tool_cmd: vec!["python3".into(), "-m".into(), "btrfs_to_s3".into()],
        seed: 1,
        backend: "embedded".into(),
        strict: false,
        started_at: "2024-01-01T00:00:00Z".into(),
        seconds: 42.0,
        skipped_scenarios: vec!["cleanup".into()],
        repro: Some(crate::repro::sample()),
        work: crate::report::WorkSeconds {
            tool: 20.0,
            fixture: 11.5,
            vm_starts: 1,
        },
        phases: vec![
            Phase {
                name: "boot".into(),
                seconds: 20.5,
            },
            Phase {
                name: "full".into(),
                seconds: 3.25,
            },
        ],
        scenarios: vec![
            ScenarioReport {
                name: "full".into(),
                seconds: 3.25,
                expected_checks: vec!["verify.layout".into(), "verify.manifest.sha256".into()],
                checks: vec![
                    check(
                        "verify.layout",
                        Verdict::Pass,
                        "every key follows the layout",
                    ),
                    check(
                        "verify.manifest.sha256",
                        Verdict::Fail,
                        "1 problem(s): k: chunk 1 hashes to x",
                    ),
                ],
                infra_error: None,
                group: None,
                isolation: None,
            },
            ScenarioReport {
                name: "interrupt".into(),
                seconds: 1.0,
                expected_checks: vec![
                    "verify.orphans.multipart".into(),
                    "verify.stream.complete".into(),
                ],
                checks: vec![
                    check(
                        "verify.orphans.multipart",
                        Verdict::Warn,
                        "1 problem(s): k: incomplete multipart upload u",
                    ),
                    check(
                        "verify.stream.complete",
                        Verdict::Skip("archived".into()),
                        "archived",
                    ),
                ],
                infra_error: None,
                group: None,
                isolation: None,
            },
        ],
        transfers: vec![
            Transfer {
                kind: TransferKind::Backup,
                scenario: "full".into(),
                subvolume: "data".into(),
                bytes: 12_000_000,
                seconds: 1.5,
                group: None,
            },
            Transfer {
                kind: TransferKind::Restore,
                scenario: "restore".into(),
                subvolume: "data".into(),
                bytes: 5,
                seconds: 0.0,
                group: None,
            },
        ],
        harness_errors: vec![],
        groups: vec![],
    }
}
