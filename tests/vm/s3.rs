//! The guest reaches the embedded S3 endpoint through the relay at a fixed
//! address, with boto3 as the guest ships it, and reaches nothing else.

use crate::common::*;
use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use vmharness::ssh::{env_command, shell_quote};
use vmharness::vm::relay;

const BOTO3_SCRIPT: &str = r#"
import boto3, hashlib, sys
s3 = boto3.client("s3")
body = bytes(range(256)) * 4096
s3.put_object(Bucket="vmharness", Key="from-guest/a b+c.bin", Body=body, ServerSideEncryption="AES256",
              StorageClass="STANDARD_IA")
got = s3.get_object(Bucket="vmharness", Key="from-guest/a b+c.bin")
assert got["Body"].read() == body, "round trip"
assert got["ServerSideEncryption"] == "AES256"
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="vmharness", Prefix="from-guest/")["Contents"]]
print("boto3", boto3.__version__, keys, hashlib.sha256(body).hexdigest())
"#;

#[test]
fn guest_reaches_the_endpoint_and_nothing_else() {
    if !vm_tests_enabled() {
        return;
    }
    let te = TestEndpoint::start();
    let ep = &te.ep;

    // A host service the guest must NOT reach.
    let decoy = TcpListener::bind("127.0.0.1:0").unwrap();
    let decoy_port = decoy.local_addr().unwrap().port();
    decoy.set_nonblocking(true).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));

    let mut lvm = te.boot_vm("s3");
    let ssh = lvm.vm.ssh();

    let cmd = env_command(
        &ep.tool_env(&relay::guest_s3_url()),
        &["python3", "-c", BOTO3_SCRIPT],
    );
    let out = ssh
        .run("boto3", &cmd, Duration::from_secs(300))
        .expect("boto3 in the guest");
    let text = out.stdout_text();
    assert!(text.starts_with("boto3 1."), "{text}");
    assert!(text.contains("'from-guest/a b+c.bin'"), "{text}");

    // The journal saw the guest's requests, with SSE and class as sent.
    let records = ep.journal().records();
    let put = records
        .iter()
        .find(|r| r.op == "PutObject" && r.key.as_deref() == Some("from-guest/a b+c.bin"))
        .expect("PutObject in the journal");
    assert_eq!(put.sse.as_deref(), Some("AES256"));
    assert_eq!(put.storage_class.as_deref(), Some("STANDARD_IA"));
    assert_eq!(put.status, Some(200));

    // Nothing else is reachable: not the decoy, not the endpoint's real
    // port through the gateway, not the outside world.
    let probe = |addr: &str, port: u16| {
        format!(
            "timeout 8 python3 -c {} {addr} {port}",
            shell_quote(
                "import socket,sys\ns=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=5)\ns.sendall(b'x\\r\\n\\r\\n')\nprint(s.recv(1) or b'', end='')"
            )
        )
    };
    // The probe itself works: it reaches the endpoint through the relay.
    let ok = ssh
        .run(
            "probe-endpoint",
            &probe(relay::GUEST_S3_ADDR, relay::GUEST_S3_PORT),
            Duration::from_secs(60),
        )
        .expect("the probe reaches the endpoint");
    assert!(!ok.stdout_text().is_empty());
    for (what, addr, port) in [
        ("a host port through the gateway", "10.0.2.2", decoy_port),
        (
            "the endpoint's own port through the gateway",
            "10.0.2.2",
            ep.port(),
        ),
        ("an outside address", "1.1.1.1", 80),
        (
            "another port at the endpoint's address",
            relay::GUEST_S3_ADDR,
            22,
        ),
    ] {
        let out = ssh
            .exec(&vmharness::ssh::Exec {
                command: &probe(addr, port),
                label: "probe",
                timeout: Duration::from_secs(60),
                echo: false,
            })
            .unwrap();
        assert!(
            !out.success(),
            "{what} ({addr}:{port}) was reachable from the guest: {}",
            out.stdout_text()
        );
    }
    while let Ok((mut s, _)) = decoy.accept() {
        accepted.fetch_add(1, Ordering::SeqCst);
        let _ = s.read(&mut [0u8; 1]);
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "the decoy accepted a connection from the guest"
    );
    drop(lvm);
    te.shutdown();
}

/// The tool's command for the https-proxy run: first a CONNECT to a host
/// the run does not need, through the guest's proxy address (what a
/// misdirected client would do; it must be refused), then the reference
/// tool itself, unchanged.
const PROBE_THEN_TOOL: &str = r#"import runpy, socket
try:
    s = socket.create_connection(("10.0.2.101", 3128), timeout=10)
    s.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    s.recv(512)
    s.close()
except OSError:
    pass
runpy.run_module("btrfs_to_s3", run_name="__main__", alter_sys=True)
"#;

/// `[s3] transport = "https-proxy"`: a whole small cycle where the guest
/// reaches S3 only as https://s3.vmharness.test through the host's egress
/// proxy, trusting only the run's CA; every CONNECT is in egress.jsonl.
#[test]
fn a_cycle_over_https_through_the_egress_proxy() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let runs = runs_dir();
    let profile = runs.path().join("https-proxy.toml");
    let text = format!(
        r#"[tool]
cmd = ["python3", "-c", '''{PROBE_THEN_TOOL}''']

[s3]
transport = "https-proxy"

[btrfs]
subvolumes = ["data"]

[fixture]
scale = "tiny"

[scenarios]
run = ["setup", "seed", "full", "restore", "verify", "cleanup"]
"#
    );
    std::fs::write(&profile, text).expect("writing the profile");
    let p = profile.display().to_string();
    let out = vmharness(runs.path(), &["run-all", "--profile", &p]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("S3 over https through the egress proxy"),
        "{err}"
    );

    let run = std::fs::canonicalize(runs.path().join("latest")).expect("run/latest");
    let ca = std::fs::read_to_string(run.join("s3-ca.pem")).expect("the run's CA");
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    let text = std::fs::read_to_string(run.join("egress.jsonl")).expect("egress.jsonl");
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let allowed: Vec<&serde_json::Value> =
        records.iter().filter(|r| r["allowed"] == true).collect();
    assert!(
        allowed
            .iter()
            .all(|r| r["host"] == "s3.vmharness.test" && r["port"] == 443),
        "only the endpoint's name was let through: {text}"
    );
    assert!(
        allowed
            .iter()
            .any(|r| r["bytes_up"].as_u64() > Some(0) && r["bytes_down"].as_u64() > Some(0)),
        "the tool's S3 traffic went through the proxy: {text}"
    );
    let refused: Vec<&serde_json::Value> =
        records.iter().filter(|r| r["allowed"] == false).collect();
    assert!(
        !refused.is_empty(),
        "the guest's probe was recorded: {text}"
    );
    for r in &refused {
        assert_eq!(
            (&r["host"], &r["port"]),
            (&"example.com".into(), &443.into()),
            "{r}"
        );
        assert!(
            r["reason"]
                .as_str()
                .is_some_and(|why| why.contains("not an S3 address of this run")),
            "{r}"
        );
        assert_eq!(r["bytes_up"], 0, "{r}");
    }
    assert!(
        err.contains("egress: refused CONNECT example.com:443"),
        "the refusal is a line of the run's output: {err}"
    );

    // The endpoint journaled the tool's requests, all of them over the
    // tunnel (the guest had no other way to it).
    let journal = std::fs::read_to_string(run.join("s3-journal.jsonl")).expect("journal");
    assert!(journal.contains("\"PutObject\"") || journal.contains("\"CompleteMultipartUpload\""));
}
