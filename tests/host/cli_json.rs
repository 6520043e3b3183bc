//! The binary's machine-readable output (`--json`), its configuration
//! commands and its shell completions; none of these boots a VM.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn vmharness(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vmharness"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("VMHARNESS_CACHE", cache)
        .env("VMHARNESS_RUN_DIR", cache.join("runs"))
        .env_remove("BTRFS_TO_S3_CMD")
        .output()
        .expect("running vmharness")
}

fn expect_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn doctor_json_lists_every_check() {
    let cache = tempfile::tempdir().unwrap();
    let out = vmharness(&["doctor", "--json"], cache.path());
    let v = json_of(&out);
    let can_run = v["can_run"].as_bool().expect("can_run is a boolean");
    assert_eq!(out.status.code(), Some(if can_run { 0 } else { 2 }));
    let checks = v["checks"].as_array().expect("checks is an array");
    let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    for want in [
        "qemu-system-x86_64",
        "acceleration",
        "guest image",
        "memory",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    for c in checks {
        assert!(
            ["ok", "warn", "fail"].contains(&c["status"].as_str().unwrap_or_default()),
            "{c}"
        );
        assert!(c["detail"].is_string(), "{c}");
        assert!(c["fix"].is_null() || c["fix"].is_string(), "{c}");
    }
    // An empty cache: the image is not built, and doctor says how to build it.
    let image = checks.iter().find(|c| c["name"] == "guest image").unwrap();
    assert_eq!(image["status"], "warn");
    assert_eq!(image["fix"], "vmharness image build debian-13");
}

#[test]
fn image_list_json_describes_cached_images() {
    let cache = tempfile::tempdir().unwrap();
    let empty = vmharness(&["image", "list", "--json"], cache.path());
    expect_exit(&empty, 0);
    assert_eq!(json_of(&empty), serde_json::json!([]));

    let entry = cache
        .path()
        .join("images")
        .join("debian-13-0123456789abcdef");
    std::fs::create_dir_all(&entry).unwrap();
    std::fs::write(
        entry.join("meta.json"),
        r#"{"name": "debian-13", "key": "0123456789abcdef", "suite": "trixie",
            "kernel_release": "6.12.0-test", "packages": 3,
            "built_at": "2026-01-02T03:04:05Z", "build_seconds": 1.0}"#,
    )
    .unwrap();
    std::fs::write(entry.join("packages.lock"), "a 1\nb 2\nc 3\n").unwrap();
    std::fs::write(entry.join("base.qcow2"), vec![1u8; 64 * 1024]).unwrap();
    let out = vmharness(&["image", "list", "--json"], cache.path());
    expect_exit(&out, 0);
    let v = json_of(&out);
    let images = v.as_array().unwrap();
    assert_eq!(images.len(), 1, "{v}");
    let i = &images[0];
    assert_eq!(i["name"], "debian-13");
    assert_eq!(i["recipe_hash"], "0123456789abcdef");
    assert_eq!(i["path"], entry.display().to_string());
    assert!(i["size_bytes"].as_u64().unwrap() >= 64 * 1024, "{i}");
    assert_eq!(i["built_at"], "2026-01-02T03:04:05Z");
    assert_eq!(i["kernel_release"], "6.12.0-test");
    assert_eq!(i["packages"], 3);
    assert_eq!(
        i["packages_lock"],
        entry.join("packages.lock").display().to_string()
    );
}

#[test]
fn run_all_json_reports_a_bad_profile_on_stdout_and_nothing_else() {
    let cache = tempfile::tempdir().unwrap();
    let profile = cache.path().join("bad.toml");
    std::fs::write(&profile, "[backup]\nchunk_sise_bytes = 4096\n").unwrap();
    let out = vmharness(
        &["run-all", "--json", "--profile", profile.to_str().unwrap()],
        cache.path(),
    );
    expect_exit(&out, 2);
    let v = json_of(&out);
    assert_eq!(v["kind"], "error");
    assert_eq!(v["exit_code"], 2);
    assert_eq!(v["outcome"], "harness_failed");
    let err = v["error"].as_str().unwrap();
    assert!(err.contains("did you mean `chunk_size_bytes`?"), "{err}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: profile "), "{stderr}");
}

#[test]
fn config_check_exit_codes_and_messages() {
    let cache = tempfile::tempdir().unwrap();
    let ok = vmharness(
        &[
            "config",
            "check",
            "--profile",
            "config/test.toml",
            "--profile",
            "config/faults.toml",
        ],
        cache.path(),
    );
    expect_exit(&ok, 0);
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        "ok: config/test.toml\nok: config/faults.toml\n"
    );
    let bad = cache.path().join("bad.toml");
    std::fs::write(&bad, "[vm]\ncpus = \"two\"\n").unwrap();
    let out = vmharness(
        &[
            "config",
            "check",
            "--profile",
            "config/test.toml",
            "--profile",
            bad.to_str().unwrap(),
        ],
        cache.path(),
    );
    expect_exit(&out, 2);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok: config/test.toml\n"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2 column 8: [vm] cpus: expected an integer from 0 to 4294967295, found a string (\"two\")"),
        "{stderr}"
    );
}

#[test]
fn config_show_prints_a_profile_that_checks() {
    let cache = tempfile::tempdir().unwrap();
    let out = vmharness(
        &["config", "show", "--profile", "config/faults.toml"],
        cache.path(),
    );
    expect_exit(&out, 0);
    let shown = cache.path().join("shown.toml");
    std::fs::write(&shown, &out.stdout).unwrap();
    let check = vmharness(
        &["config", "check", "--profile", shown.to_str().unwrap()],
        cache.path(),
    );
    expect_exit(&check, 0);
    let json = vmharness(&["config", "show", "--json"], cache.path());
    assert_eq!(
        json_of(&json)["backup"]["chunk_size_bytes"],
        8 * 1024 * 1024
    );
}

#[test]
fn completions_for_every_shell() {
    let cache = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _vmharness"),
        ("zsh", "#compdef vmharness"),
        ("fish", "complete -c vmharness"),
        ("elvish", "edit:completion:arg-completer[vmharness]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = vmharness(&["completions", shell], cache.path());
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(marker), "{shell}: no {marker:?}");
        assert!(
            text.contains("run-all") && text.contains("config"),
            "{shell}"
        );
    }
}
