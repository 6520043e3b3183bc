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

/// An S3 the run does not serve: where it is and the keys it takes.
struct Target {
    url: String,
    bucket: String,
    region: String,
    key: String,
    secret: String,
}

impl Target {
    fn of(ep: &vmharness::s3::Endpoint) -> Target {
        let c = ep.credentials();
        Target {
            url: ep.url(),
            bucket: ep.bucket().to_string(),
            region: ep.region().to_string(),
            key: c.access_key_id.clone(),
            secret: c.secret_access_key.clone(),
        }
    }
}

/// A profile using `t` as backend = "endpoint", running `scenarios`.
fn endpoint_profile(dir: &Path, t: &Target, scenarios: &[&str]) -> PathBuf {
    let backend = format!("backend = \"endpoint\"\nendpoint_url = \"{}\"", t.url);
    write_profile(&dir.join("endpoint.toml"), "", &backend, t, scenarios)
}

/// Write a profile to `path`: `head` (sections before `[s3]`), `[s3]`
/// with `backend` and `t`'s bucket and region under the tests' prefix and
/// credential variables, the tiny one-subvolume fixture, `scenarios`.
fn write_profile(
    path: &Path,
    head: &str,
    backend: &str,
    t: &Target,
    scenarios: &[&str],
) -> PathBuf {
    let list: Vec<String> = scenarios.iter().map(|s| format!("{s:?}")).collect();
    let text = format!(
        r#"{head}[s3]
{backend}
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
        bucket = t.bucket,
        region = t.region,
        list = list.join(", "),
    );
    std::fs::write(path, text).expect("writing the profile");
    path.to_owned()
}

fn run_with(runs: &Path, t: &Target, args: &[&str]) -> std::process::Output {
    vmharness_env(
        runs,
        &[(KEY_ENV, t.key.as_str()), (SECRET_ENV, t.secret.as_str())],
        args,
    )
}

/// The backup cycle every external-endpoint run makes.
const CYCLE: &[&str] = &[
    "setup",
    "seed",
    "full",
    "mutate",
    "incremental",
    "restore",
    "verify",
    "cleanup",
];

/// The cycle's run under `runs` passed: what needs the embedded endpoint's
/// journal is SKIP with that reason, what S3 itself shows passed. Returns
/// the run directory.
fn judged_without_a_journal(runs: &Path, backend: &str) -> PathBuf {
    let run = std::fs::canonicalize(runs.join("latest")).expect("run/latest");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(v["backend"], backend);
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
            reason.contains(&format!("backend = \"{backend}\""))
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
    run
}

#[test]
fn embedded_only_scenarios_are_refused_before_booting() {
    let runs = runs_dir();
    let ep = TestEndpoint::start();
    let target = Target::of(&ep.ep);
    let profile = endpoint_profile(runs.path(), &target, &["setup", "interrupt", "full"]);
    let p = profile.display().to_string();
    let out = run_with(runs.path(), &target, &["run-all", "--profile", &p]);
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
    let target = Target::of(&ep.ep);
    let profile = endpoint_profile(runs.path(), &target, &["setup"]);
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
        let out = run_with(runs.path(), &target, &["run-all", "--profile", &p]);
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
    let target = Target::of(&ep.ep);
    let profile = endpoint_profile(runs.path(), &target, CYCLE);
    let p = profile.display().to_string();
    let out = run_with(runs.path(), &target, &["run-all", "--profile", &p]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "every check passed or was skipped"
    );
    judged_without_a_journal(runs.path(), "endpoint");

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
    let client = vmharness::s3::S3Client::for_endpoint(&ep.ep).expect("host client");
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
    let out = run_with(runs.path(), &target, &["cleanup", "--profile", &p]);
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

/// moto's S3 server (a Python S3 implementation this project did not
/// write), run from the Python of `VMHARNESS_TEST_PYTHON`; stopped on drop.
struct Moto {
    child: std::process::Child,
    python: String,
    url: String,
    log: PathBuf,
    /// Over https: the CA bundle that trusts its certificate.
    ca_bundle: Option<PathBuf>,
}

impl Moto {
    /// None (the test is skipped) when that Python has no moto, outside CI;
    /// under CI a missing moto fails the test.
    fn start(dir: &Path) -> Option<Moto> {
        Moto::start_serving(dir, None)
    }

    /// Over https as `https://localhost:PORT`, with a certificate from a CA
    /// of its own, whose PEM is written to `dir/moto-ca.pem`.
    fn start_https(dir: &Path) -> Option<Moto> {
        let pki = vmharness::net::pki::RunPki::issue(&["localhost"]).expect("a CA");
        let (cert, key) = pki.server_pem();
        std::fs::write(dir.join("moto-cert.pem"), cert).expect("cert");
        std::fs::write(dir.join("moto-key.pem"), key).expect("key");
        pki.write_ca(&dir.join("moto-ca.pem")).expect("CA");
        Moto::start_serving(dir, Some(&pki))
    }

    fn start_serving(dir: &Path, tls: Option<&vmharness::net::pki::RunPki>) -> Option<Moto> {
        let python = std::env::var("VMHARNESS_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let has_moto = std::process::Command::new(&python)
            .args(["-c", "import moto.server, boto3"])
            .status()
            .is_ok_and(|s| s.success());
        if !has_moto {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but {python} cannot import moto.server: \
                 pip install 'moto[server]==5.*' into it (.ci/run does)"
            );
            eprintln!("SKIPPED: {python} has no moto (pip install 'moto[server]==5.*')");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.join("moto.log");
        let mut args: Vec<String> = ["-m", "moto.server", "-H", "127.0.0.1", "-p"]
            .map(String::from)
            .to_vec();
        args.push(port.to_string());
        if tls.is_some() {
            for (flag, file) in [
                ("--ssl-cert", "moto-cert.pem"),
                ("--ssl-key", "moto-key.pem"),
            ] {
                args.push(flag.to_owned());
                args.push(dir.join(file).display().to_string());
            }
        }
        let child = std::process::Command::new(&python)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("moto.log"))
            .spawn()
            .expect("starting moto.server");
        Some(Moto {
            child,
            python,
            url: match tls {
                Some(_) => format!("https://localhost:{port}"),
                None => format!("http://127.0.0.1:{port}"),
            },
            log,
            ca_bundle: tls.map(|_| dir.join("moto-ca.pem")),
        })
    }

    /// Create the target's bucket, waiting for the server to answer.
    fn create_bucket(&self, t: &Target) {
        const SCRIPT: &str = r#"
import sys, time, boto3
url, region, bucket, key, secret = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=url, region_name=region,
                  aws_access_key_id=key, aws_secret_access_key=secret)
deadline = time.time() + 60
while True:
    try:
        s3.create_bucket(Bucket=bucket)
        break
    except Exception:
        if time.time() > deadline:
            raise
        time.sleep(0.3)
"#;
        let mut cmd = std::process::Command::new(&self.python);
        cmd.args([
            "-c", SCRIPT, &t.url, &t.region, &t.bucket, &t.key, &t.secret,
        ]);
        if let Some(ca) = &self.ca_bundle {
            cmd.env("AWS_CA_BUNDLE", ca);
        }
        let out = cmd.output().expect("running the bucket script");
        assert!(
            out.status.success(),
            "creating the bucket on moto: {out:?}\n{}",
            self.log_tail()
        );
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// The tests' target on `moto`: `bucket`, created there.
fn moto_target(moto: &Moto, bucket: &str) -> Target {
    let target = Target {
        url: moto.url.clone(),
        bucket: bucket.into(),
        region: "us-east-1".into(),
        key: "moto-key".into(),
        secret: "moto-secret".into(),
    };
    moto.create_bucket(&target);
    target
}

/// `run-all` of `profile` on `moto` exits 0 and is judged without a
/// journal; its run directory.
fn the_cycle_passes_on_moto(runs: &Path, moto: &Moto, target: &Target, profile: &str) -> PathBuf {
    let out = run_with(runs, target, &["run-all", "--profile", profile]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "every check passed or was skipped; moto said:\n{}",
        moto.log_tail()
    );
    judged_without_a_journal(runs, "endpoint")
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The backup cycle against moto's S3 server over http: what vmharness
/// cannot judge without its journal is SKIP with the reason, everything
/// else passes, as on the project's own endpoint.
#[test]
fn the_backup_cycle_on_moto_an_s3_server_the_project_did_not_write() {
    if !vm_tests_enabled() {
        return;
    }
    let runs = runs_dir();
    let Some(moto) = Moto::start(runs.path()) else {
        return;
    };
    ensure_image();
    let target = moto_target(&moto, "vmh-moto");
    let profile = endpoint_profile(runs.path(), &target, CYCLE);
    let p = profile.display().to_string();
    the_cycle_passes_on_moto(runs.path(), &moto, &target, &p);
}

/// Insert `line` at the top of the profile's `[s3]` section.
fn add_s3_key(profile: &Path, line: &str) {
    let text = std::fs::read_to_string(profile).expect("profile");
    std::fs::write(
        profile,
        text.replacen("[s3]\n", &format!("[s3]\n{line}\n"), 1),
    )
    .expect("writing the profile");
}

/// The CONNECTs of the run in `run`: every one allowed, to `hosts` only.
fn egress_went_only_to(run: &Path, hosts: &[String]) -> Vec<Value> {
    let text = std::fs::read_to_string(run.join("egress.jsonl")).expect("egress.jsonl");
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(!records.is_empty(), "the tool went through the proxy");
    for r in &records {
        let target = format!("{}:{}", r["host"].as_str().unwrap_or(""), r["port"]);
        assert!(r["allowed"] == true && hosts.contains(&target), "{r}");
    }
    records
}

/// The backup cycle against moto over https, with its CA as the profile's
/// `[s3] ca_bundle`: the guest reaches `https://localhost:PORT` only
/// through the egress proxy (names resolved on the host) and trusts only
/// that CA. A CA bundle that does not trust moto's certificate is refused
/// before booting, naming `AWS_CA_BUNDLE`.
#[test]
fn the_backup_cycle_on_moto_over_https_with_a_ca_bundle() {
    if !vm_tests_enabled() {
        return;
    }
    let runs = runs_dir();
    let Some(moto) = Moto::start_https(runs.path()) else {
        return;
    };
    ensure_image();
    let target = moto_target(&moto, "vmh-moto-tls");
    let profile = endpoint_profile(runs.path(), &target, CYCLE);
    let p = profile.display().to_string();

    let wrong = vmharness::net::pki::RunPki::issue(&["localhost"]).expect("another CA");
    wrong
        .write_ca(&runs.path().join("wrong-ca.pem"))
        .expect("CA");
    add_s3_key(&profile, "ca_bundle = \"wrong-ca.pem\"");
    let out = run_with(runs.path(), &target, &["run-all", "--profile", &p]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("AWS_CA_BUNDLE") && err.contains("wrong-ca.pem") && !err.contains("VM ready"),
        "{err}"
    );

    let text = std::fs::read_to_string(&profile).expect("profile");
    std::fs::write(&profile, text.replace("wrong-ca.pem", "moto-ca.pem")).expect("profile");
    let run = the_cycle_passes_on_moto(runs.path(), &moto, &target, &p);
    let port = moto.url.rsplit(':').next().unwrap_or_default();
    egress_went_only_to(&run, &[format!("localhost:{port}")]);
}

/// The tool's command in the AWS test: first look for the secret key the
/// command was given in the guest's files (the harness passes it per
/// command; no file may hold it), failing the command if one does, then
/// the reference tool itself, unchanged.
const LEAK_CHECK_THEN_TOOL: &str = r#"import os, runpy, subprocess, sys
secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
if not secret:
    sys.exit("LEAK CHECK: no AWS_SECRET_ACCESS_KEY in the tool's environment")
dirs = ["/etc", "/root", "/home", "/var", "/tmp", "/opt", "/srv", "/usr/local"]
found = subprocess.run(["grep", "-rlsF", "--", secret] + dirs,
                       capture_output=True, text=True).stdout.split()
if found:
    sys.exit("LEAK CHECK: the secret key is in guest files: " + " ".join(found))
runpy.run_module("btrfs_to_s3", run_name="__main__", alter_sys=True)
"#;

/// `backend = "aws"` end to end, with everything but AWS itself real: the
/// test-only switch makes the egress proxy send AWS's names for the bucket
/// to an embedded https endpoint standing in for AWS. The tool gets no
/// endpoint URL (boto3's own AWS addressing), the run works in its own
/// sub-prefix, what needs the journal is SKIP with the reason, and the
/// guest's secret key is in no file of the run directory nor of the guest
/// (looked for before each of the tool's commands).
#[test]
fn the_backup_cycle_on_aws_through_the_egress_proxy() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let target = Target {
        url: String::new(),
        bucket: "vmh-nightly".into(),
        region: "eu-west-1".into(),
        key: "AKIAVMHARNESSTEST01".into(),
        secret: format!("sEcReT{:016x}", rand::random::<u64>()),
    };
    let profile = write_profile(
        &runs.path().join("aws.toml"),
        &format!("[tool]\ncmd = [\"python3\", \"-c\", '''{LEAK_CHECK_THEN_TOOL}''']\n\n"),
        "backend = \"aws\"",
        &target,
        CYCLE,
    );
    let p = profile.display().to_string();
    let out = vmharness_env(
        runs.path(),
        &[
            (KEY_ENV, target.key.as_str()),
            (SECRET_ENV, target.secret.as_str()),
            ("VMHARNESS_TEST_AWS_STAND_IN", "1"),
        ],
        &["run-all", "--profile", &p],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "every check passed or was skipped:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = judged_without_a_journal(runs.path(), "aws");
    let run_id = run.file_name().expect("run id").to_string_lossy();
    let said = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(
        said.contains(&format!("this run's prefix {PREFIX}{run_id}/")),
        "{said}"
    );
    let records = egress_went_only_to(
        &run,
        &[
            "s3.eu-west-1.amazonaws.com:443".to_owned(),
            "vmh-nightly.s3.eu-west-1.amazonaws.com:443".to_owned(),
        ],
    );
    assert!(
        records
            .iter()
            .any(|r| r["host"] == "vmh-nightly.s3.eu-west-1.amazonaws.com"),
        "boto3 addressed the bucket virtual-hosted, as on AWS: {records:?}"
    );
    let mut leaks = Vec::new();
    for entry in walk(&run) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        if bytes
            .windows(target.secret.len())
            .any(|w| w == target.secret.as_bytes())
        {
            leaks.push(entry);
        }
    }
    assert!(leaks.is_empty(), "the secret key is in {leaks:?}");
}

/// Every regular file under `dir` (symbolic links not followed).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            out.extend(walk(&e.path()));
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    out
}
