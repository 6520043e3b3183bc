//! `run-all` against an S3 the harness does not serve for the run
//! (`backend = "endpoint"`): a standalone endpoint stands in for any
//! S3-compatible server. Journal checks are skipped with their reason,
//! embedded-only scenarios are refused before booting, and `vmharness
//! cleanup` empties the prefix.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const KEY_ENV: &str = "VMH_TEST_ENDPOINT_KEY";
const SECRET_ENV: &str = "VMH_TEST_ENDPOINT_SECRET";
const PREFIX: &str = "ext-tests/";

/// A profile using `ep` as backend = "endpoint", running `scenarios`.
fn endpoint_profile(dir: &Path, ep: &vmharness::s3::Endpoint, scenarios: &[&str]) -> PathBuf {
    let list: Vec<String> = scenarios.iter().map(|s| format!("{s:?}")).collect();
    let text = format!(
        r#"[s3]
backend = "endpoint"
endpoint_url = "{url}"
bucket = "{bucket}"
region = "{region}"
prefix = "{PREFIX}"

[s3.guest_credentials]
access_key_id_env = "{KEY_ENV}"
secret_access_key_env = "{SECRET_ENV}"

[btrfs]
subvolumes = ["data"]

[fixture]
scale = "tiny"

[scenarios]
run = [{list}]
"#,
        url = ep.url(),
        bucket = ep.bucket(),
        region = ep.region(),
        list = list.join(", "),
    );
    let path = dir.join("endpoint.toml");
    std::fs::write(&path, text).expect("writing the profile");
    path
}

fn credentials_env(ep: &vmharness::s3::Endpoint) -> [(&'static str, String); 2] {
    let c = ep.credentials();
    [
        (KEY_ENV, c.access_key_id.clone()),
        (SECRET_ENV, c.secret_access_key.clone()),
    ]
}

fn run_with(runs: &Path, ep: &vmharness::s3::Endpoint, args: &[&str]) -> std::process::Output {
    let env = credentials_env(ep);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    vmharness_env(runs, &env, args)
}

#[test]
fn embedded_only_scenarios_are_refused_before_booting() {
    let runs = runs_dir();
    let ep = TestEndpoint::start();
    let profile = endpoint_profile(runs.path(), &ep.ep, &["setup", "interrupt", "full"]);
    let p = profile.display().to_string();
    let out = run_with(runs.path(), &ep.ep, &["run-all", "--profile", &p]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&p) && err.contains("interrupt (needs the stall fault"),
        "{err}"
    );
    assert!(
        err.contains("backend = \"embedded\"") && err.contains("[scenarios] run"),
        "{err}"
    );
    assert!(
        !runs.path().join("latest").exists(),
        "no run started: {:?}",
        std::fs::read_dir(runs.path()).map(|d| d.count())
    );
    ep.shutdown();
}

#[test]
fn an_endpoint_the_guest_or_host_cannot_reach_is_refused_before_booting() {
    let runs = runs_dir();
    let ep = TestEndpoint::start();
    let profile = endpoint_profile(runs.path(), &ep.ep, &["setup"]);
    let p = profile.display().to_string();
    let text = std::fs::read_to_string(&profile).unwrap();
    let url = ep.ep.url();
    for (bad_url, expected) in [
        (url.replace("http://", "https://"), "TLS"),
        (
            "http://127.0.0.1:9".to_owned(),
            "not reachable from the host",
        ),
    ] {
        std::fs::write(&profile, text.replace(&url, &bad_url)).unwrap();
        let out = run_with(runs.path(), &ep.ep, &["run-all", "--profile", &p]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&p) && err.contains(expected), "{err}");
        assert!(!err.contains("VM ready"), "{err}");
        let left: Vec<_> = std::fs::read_dir(runs.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != "endpoint.toml")
            .collect();
        assert!(left.is_empty(), "no run directory left: {left:?}");
    }
    ep.shutdown();
}

#[test]
fn run_all_on_an_external_endpoint_then_cleanup() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let ep = TestEndpoint::start();
    let profile = endpoint_profile(
        runs.path(),
        &ep.ep,
        &[
            "setup",
            "seed",
            "full",
            "mutate",
            "incremental",
            "restore",
            "verify",
            "cleanup",
        ],
    );
    let p = profile.display().to_string();
    let out = run_with(runs.path(), &ep.ep, &["run-all", "--profile", &p]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "every check passed or was skipped"
    );

    let run = std::fs::canonicalize(runs.path().join("latest")).expect("run/latest");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(v["backend"], "endpoint");
    let checks: Vec<&Value> = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap())
        .collect();
    let verdict = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} reported"))
    };
    for name in [
        "verify.sse_requested",
        "verify.publish_order",
        "verify.rapid_runs.no_overwrite",
        "verify.restore.chain[data]",
    ] {
        let c = verdict(name);
        assert_eq!(c["verdict"], "skip", "{c}");
        let reason = c["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("backend = \"endpoint\"")
                && reason.contains("the journal exists only on the embedded endpoint"),
            "{c}"
        );
    }
    for name in [
        "verify.manifest.sha256",
        "verify.restore.digest[data]",
        "cleanup.prefix_empty",
    ] {
        assert_eq!(verdict(name)["verdict"], "pass", "{name}");
    }
    assert!(
        !run.join("s3-journal.jsonl").exists(),
        "no embedded endpoint ran for the run"
    );

    // The tool's objects landed in the external endpoint (its own journal).
    let stored: Vec<String> = ep
        .ep
        .journal()
        .records()
        .into_iter()
        .filter(|r| {
            ["PutObject", "CompleteMultipartUpload"].contains(&r.op.as_str())
                && r.status.is_some_and(|s| s < 300)
        })
        .filter_map(|r| r.key)
        .collect();
    let pointer = format!("{PREFIX}subvol/data/current.json");
    assert!(stored.contains(&pointer), "{stored:?}");
    assert!(
        stored.iter().any(|k| k.contains("/full/chunk-"))
            && stored.iter().any(|k| k.contains("/incremental/manifest-")),
        "{stored:?}"
    );

    // `vmharness cleanup`: an object and an incomplete upload left under the prefix.
    let client = vmharness::s3::S3Client::for_endpoint(&ep.ep);
    ep.rt.block_on(async {
        client
            .put(
                &format!("{PREFIX}left/over"),
                bytes::Bytes::from_static(b"x"),
            )
            .await
            .expect("put");
        client
            .sdk()
            .create_multipart_upload()
            .bucket(client.bucket())
            .key(format!("{PREFIX}left/upload"))
            .send()
            .await
            .expect("create upload");
    });
    let out = run_with(runs.path(), &ep.ep, &["cleanup", "--profile", &p]);
    assert_eq!(out.status.code(), Some(0));
    let printed = stdout(&out);
    assert!(
        printed.contains("1 object(s) deleted, 1 incomplete multipart upload(s) aborted"),
        "{printed}"
    );
    let (left, uploads) = ep.rt.block_on(async {
        (
            client.list(PREFIX).await.expect("list"),
            client.list_uploads(PREFIX).await.expect("uploads"),
        )
    });
    assert!(
        left.is_empty() && uploads.is_empty(),
        "{left:?} {uploads:?}"
    );
    ep.shutdown();
}

#[test]
fn cleanup_on_the_embedded_backend_has_nothing_to_do() {
    let runs = runs_dir();
    let out = vmharness(runs.path(), &["cleanup"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("nothing to clean"),
        "{}",
        stdout(&out)
    );
}
