//! Debugging a failure and reproducing a run: `--keep-on-failure` keeps a
//! failed run's VM for `vmharness ssh` until `vm down`; `vmharness repro`
//! reruns with the recorded inputs; `--bisect` turns a harness failure
//! into 125; the interactive commands refuse to run without a terminal.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A tiny profile: one subvolume, the tiny fixture, these scenarios.
fn profile(runs: &Path, name: &str, scenarios: &[&str]) -> PathBuf {
    let p = runs.join(format!("{name}.toml"));
    let list: Vec<String> = scenarios.iter().map(|s| format!("{s:?}")).collect();
    std::fs::write(
        &p,
        format!(
            "[btrfs]\nsubvolumes = [\"data\"]\n[fixture]\nscale = \"tiny\"\n\
             [scenarios]\nrun = [{}]\n",
            list.join(", ")
        ),
    )
    .unwrap();
    p
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn keep_on_failure_keeps_the_vm_for_ssh_until_vm_down() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let p = profile(runs.path(), "failing", &["setup", "full", "cleanup"]);
    let p = p.to_str().unwrap();
    // `false` as the tool: the backup fails its exit check in `full`.
    let mut child = vmharness_command(
        runs.path(),
        &[
            ("BTRFS_TO_S3_CMD", r#"["false"]"#),
            // Tests have no terminal (and CI is set): force the interactive path.
            ("VMHARNESS_FORCE_INTERACTIVE", "1"),
        ],
        &["run-all", "--keep-on-failure", "--profile", p],
    )
    .stdout(Stdio::piped())
    .spawn()
    .expect("starting vmharness run-all");
    let (tx, rx) = mpsc::channel();
    let pipe = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            eprintln!("run-all| {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut printed = Vec::new();
    let run_id = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no `vmharness ssh RUN` line ({e}): {printed:#?}"));
        if let Some(id) = line
            .trim()
            .strip_prefix("open a shell in it:  vmharness ssh ")
        {
            break id.trim().to_string();
        }
        printed.push(line);
    };
    let run_dir = runs.path().join(&run_id);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run waits with its VM up"
    );

    // The report is written already: the failure, the skipped scenario, the inputs.
    let v = read_results(&run_dir);
    assert_eq!(v["skipped_scenarios"], serde_json::json!(["cleanup"]));
    let ran: Vec<&str> = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(ran, ["setup", "full"]);
    assert_eq!(v["repro"]["tool_cmd_override"], r#"["false"]"#);

    // The VM is up: listed, and reachable through the supervisor's machinery.
    let list = vmharness(runs.path(), &["vm", "list"]);
    assert_eq!(
        stdout(&list).matches(&run_id).count(),
        1,
        "{}",
        stdout(&list)
    );
    let out = vmharness(
        runs.path(),
        &[
            "vm",
            "ssh",
            "--run",
            &run_id,
            "--",
            "mountpoint",
            "-q",
            "/mnt/btrfs",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "the fixture is still mounted");
    if vmharness::programs::find("ssh").is_some() || std::env::var_os("CI").is_some() {
        // The host's ssh, as a person would use it; the tool's environment
        // is there for login shells.
        let out = vmharness(
            runs.path(),
            &[
                "ssh",
                &run_id,
                "--",
                "bash",
                "-lc",
                "'type bts3 && echo $AWS_ENDPOINT_URL_S3'",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("http://10.0.2.100"),
            "{}",
            stdout(&out)
        );
        let out = vmharness(runs.path(), &["ssh", &run_id, "--", "exit", "7"]);
        assert_eq!(
            out.status.code(),
            Some(7),
            "the remote status passes through"
        );
    } else {
        eprintln!("SKIPPED the `vmharness ssh` part: ssh is not installed (openssh-client)");
    }

    let down = vmharness(runs.path(), &["vm", "down", "--run", &run_id]);
    assert_eq!(down.status.code(), Some(0), "{}", stderr(&down));
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the run did not end after vm down"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(1), "the tool failed a check: exit 1");
    let list = vmharness(runs.path(), &["vm", "list"]);
    assert!(
        stdout(&list).contains("no running VMs"),
        "{}",
        stdout(&list)
    );
    assert!(
        qemu_processes_mentioning(&run_id).is_empty(),
        "QEMU is gone"
    );
    assert!(
        vmharness::vm::files::leftovers(&run_dir).is_empty(),
        "{:?}",
        vmharness::vm::files::leftovers(&run_dir)
    );
}

#[test]
fn repro_reruns_with_the_same_inputs() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let p = profile(runs.path(), "setup-only", &["setup"]);
    let out = vmharness(runs.path(), &["run-all", "--profile", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = std::fs::canonicalize(runs.path().join("latest")).unwrap();
    let v1 = read_results(&first);
    let saved = first.join("profile.toml");
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        std::fs::read(&p).unwrap(),
        "the profile is saved in the run"
    );
    let r1 = &v1["repro"];
    assert_eq!(
        r1["profile_sha256"].as_str(),
        Some(vmharness::repro::sha256_file(&p).unwrap().as_str())
    );
    assert_eq!(r1["scenarios"], serde_json::json!(["setup"]));
    assert!(
        r1["image_lock_sha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64),
        "{r1}"
    );
    assert!(
        r1["recipe_hash"].as_str().is_some_and(|h| !h.is_empty()),
        "{r1}"
    );

    // The original profile changes: the rerun still uses the saved one.
    std::fs::write(&p, "[fixture]\nseed = 99\n").unwrap();
    let id1 = v1["run_id"].as_str().unwrap();
    let out = vmharness(runs.path(), &["repro", id1]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("warning:"),
        "nothing differs: {}",
        stderr(&out)
    );
    let second = std::fs::canonicalize(runs.path().join("latest")).unwrap();
    assert_ne!(first, second, "a new run");
    let v2 = read_results(&second);
    assert_eq!(v2["repro"], v1["repro"], "the same inputs");
    assert_ne!(v2["run_id"], v1["run_id"]);
}

#[test]
fn bisect_turns_a_harness_failure_into_125() {
    let runs = runs_dir();
    let broken = [("BTRFS_TO_S3_CMD", "not json")];
    let out = vmharness_env(runs.path(), &broken, &["run", "setup"]);
    assert_eq!(out.status.code(), Some(2));
    let out = vmharness_env(runs.path(), &broken, &["run", "--bisect", "setup"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    let out = vmharness_env(runs.path(), &broken, &["run-all", "--bisect"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
}

#[test]
fn the_interactive_commands_need_a_person() {
    let runs = runs_dir();
    // No terminal here: --keep-on-failure is ignored, with one line saying why.
    let out = vmharness_env(
        runs.path(),
        &[("BTRFS_TO_S3_CMD", "not json")],
        &["run", "--keep-on-failure", "setup"],
    );
    let err = stderr(&out);
    assert!(err.contains("--keep-on-failure ignored:"), "{err}");
    assert_eq!(err.matches("--keep-on-failure ignored").count(), 1, "{err}");
    // Several profiles: refused (one VM is kept, not one per group).
    let out = vmharness_env(
        runs.path(),
        &[("VMHARNESS_FORCE_INTERACTIVE", "1")],
        &[
            "run-all",
            "--keep-on-failure",
            "--profile",
            "config/test.toml",
            "--profile",
            "config/defects.toml",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("keeps one VM"), "{}", stderr(&out));
    // `shell` without a terminal on stdin: refused before anything boots.
    let out = vmharness(runs.path(), &["shell"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("stdin is not a terminal"),
        "{}",
        stderr(&out)
    );
    assert!(
        std::fs::read_dir(runs.path()).unwrap().next().is_none(),
        "no run started"
    );
}
