//! The embedded endpoint against real boto3 (what the tool in the guest
//! uses). The interpreter comes from `VMHARNESS_TEST_PYTHON` (default
//! `python3`). Without boto3 the test fails under CI (`CI` set) and is
//! skipped with a message otherwise.

use std::time::Duration;

use crate::s3_common::start_with;
use vmharness::s3::{FaultKind, FaultRule};

fn python() -> String {
    std::env::var("VMHARNESS_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Ok(version) when boto3 imports; Err(reason) otherwise.
fn boto3_version(python: &str) -> Result<String, String> {
    let out = std::process::Command::new(python)
        .args(["-c", "import boto3; print(boto3.__version__)"])
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{python} cannot import boto3: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_conformance() {
    let python = python();
    let version = match boto3_version(&python) {
        Ok(v) => v,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("{why} (CI is set, so this is a failure; set VMHARNESS_TEST_PYTHON)")
        }
        Err(why) => {
            eprintln!("SKIPPED boto3_conformance: {why} (set VMHARNESS_TEST_PYTHON to a python with boto3 >= 1.36)");
            return;
        }
    };
    eprintln!("boto3 {version} via {python}");
    let f = start_with(|cfg| {
        // Long enough that a loaded CI machine still sees the 409 phase.
        cfg.restore_delay = Duration::from_secs(3);
        cfg.faults = vec![
            FaultRule::new(FaultKind::SlowDown)
                .op("PutObject")
                .key_glob("fault/slow")
                .times(1),
            FaultRule::new(FaultKind::InternalError)
                .op("PutObject")
                .key_glob("fault/err")
                .times(1),
            FaultRule::new(FaultKind::Reset)
                .op("PutObject")
                .key_glob("fault/reset")
                .times(1),
        ];
    })
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/s3_boto3/conformance.py");
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(script)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("VMH_BUCKET", f.ep.bucket())
        .kill_on_drop(true);
    for (k, v) in f.ep.tool_env(&f.ep.url()) {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("boto3 script finishes within 5 minutes")
        .expect("boto3 script runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    if !out.status.success() {
        let journal: Vec<String> =
            f.ep.journal()
                .records()
                .iter()
                .filter_map(|r| serde_json::to_string(r).ok())
                .collect();
        panic!(
            "boto3 conformance failed:\n{stdout}\n{stderr}\njournal:\n{}",
            journal.join("\n")
        );
    }

    // What boto3 sent, as the journal saw it.
    let recs = f.ep.journal().records();
    let trailer = recs
        .iter()
        .find(|r| r.is("PutObject", "trailer/obj") && r.status == Some(200))
        .expect("trailer upload journaled");
    let sum = trailer.checksum.as_deref().unwrap_or_default();
    assert!(
        sum.starts_with("CRC32:"),
        "trailer checksum recorded: {sum}"
    );
    let sse: Vec<_> = recs
        .iter()
        .filter(|r| r.op == "PutObject" && r.key.as_deref().is_some_and(|k| k.starts_with("sc/")))
        .map(|r| r.sse.clone())
        .collect();
    assert!(!sse.is_empty() && sse.iter().all(|s| s.as_deref() == Some("AES256")));
    let faults: Vec<&str> = recs.iter().filter_map(|r| r.fault.as_deref()).collect();
    assert_eq!(faults, vec!["slow_down", "internal_error", "reset"]);
}
