//! The reference tool, driven directly in a guest against the embedded
//! endpoint: a full backup, an incremental, a restore of the chain into a
//! new subvolume, and the restored tree compared with the source snapshot.

use crate::common::*;
use std::time::Duration;
use vmharness::digest::{compare_texts, render, CompareOptions, ReportLimits};
use vmharness::fixture;
use vmharness::s3::S3Client;
use vmharness::ssh::{Exec, Ssh};
use vmharness::tool::{self, BackupArgs, RestoreArgs, ToolInvocation};
use vmharness::verify::logs::{parse_log, ParsedLog};
use vmharness::vm::relay;

const LONG: Duration = Duration::from_secs(900);

/// Run a tool command; it must exit 0. Returns its parsed log.
fn run_tool(ssh: &mut Ssh, label: &str, line: &str) -> ParsedLog {
    let out = ssh
        .exec(&Exec {
            command: line,
            label,
            timeout: LONG,
            echo: false,
        })
        .unwrap();
    let log = out.stderr_text();
    assert!(
        out.success(),
        "{label} failed (status {}, signal {:?}):\n{log}",
        out.status,
        out.signal
    );
    parse_log(&log)
}

fn field<'a>(log: &'a ParsedLog, event: &'a str, key: &str) -> &'a str {
    log.events(event)
        .next()
        .unwrap_or_else(|| panic!("no event={event} in the log"))
        .get(key)
        .unwrap_or_else(|| panic!("event={event} has no {key}="))
}

#[test]
fn full_incremental_restore_of_the_chain_equals_the_source() {
    if !vm_tests_enabled() {
        return;
    }
    let te = TestEndpoint::start();
    let (rt, ep) = (&te.rt, &te.ep);
    let mut lvm = te.boot_vm("reftool");
    let profile = lvm.profile.clone();
    let layout = fixture::prepare(&mut lvm.vm, &lvm.plan, &profile).expect("fixture");
    let ssh = lvm.vm.ssh();
    let data = layout.subvolume("data");
    let seeded = fixture::seed(ssh, &data, 7, &Default::default(), LONG).expect("seed");
    assert!(
        seeded.summary.problems.is_empty(),
        "{:#?}",
        seeded.summary.problems
    );

    let project = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let rendered = vmharness::toolconfig::render(&profile, "config/test.toml").unwrap();
    tool::install(ssh, &profile, project, &rendered, &[]).expect("install the tool");
    let inv: ToolInvocation =
        tool::invocation(&profile, None, ep.tool_env(&relay::guest_s3_url())).unwrap();
    let backup = BackupArgs {
        subvolumes: vec!["data".into()],
        once: true,
        ..Default::default()
    };

    // Full.
    let full = run_tool(ssh, "backup-full", &inv.backup(&backup));
    assert_eq!(field(&full, "snapshot_created", "kind"), "full");
    let full_manifest = field(&full, "backup_uploaded", "manifest_key").to_string();
    let chunks: u64 = field(&full, "backup_uploaded", "chunk_count")
        .parse()
        .unwrap();
    assert!(
        chunks >= 2,
        "the seeded tree spans several {}-byte chunks",
        profile.backup.chunk_size_bytes
    );

    // Incremental after a round of mutations.
    fixture::mutate(ssh, &data, 1, 7, &Default::default(), "all", LONG).expect("mutate");
    let inc = run_tool(ssh, "backup-incremental", &inv.backup(&backup));
    assert_eq!(field(&inc, "snapshot_created", "kind"), "inc");
    let source_snapshot = field(&inc, "snapshot_created", "path").to_string();
    let inc_manifest = field(&inc, "backup_uploaded", "manifest_key").to_string();
    assert!(inc_manifest.contains("/incremental/"), "{inc_manifest}");

    // What S3 holds: the pointer names the incremental, whose parent is the full.
    let client = S3Client::for_endpoint(ep).expect("host client");
    let prefix = profile.s3.normalized_prefix();
    let pointer: serde_json::Value = serde_json::from_slice(
        &rt.block_on(client.get_bytes(&format!("{prefix}subvol/data/current.json")))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(pointer["manifest_key"], inc_manifest.as_str());
    let manifest: serde_json::Value =
        serde_json::from_slice(&rt.block_on(client.get_bytes(&inc_manifest)).unwrap()).unwrap();
    assert_eq!(manifest["parent_manifest"], full_manifest.as_str());
    assert_eq!(manifest["kind"], "incremental");

    // Restore the chain into a new subvolume and compare with the source snapshot.
    let target = format!("{}/data-restored", layout.restore_dir());
    let restore = RestoreArgs {
        subvolume: "data".into(),
        target: target.clone(),
        verify: Some("full".into()),
        ..Default::default()
    };
    let restored = run_tool(ssh, "restore", &inv.restore(&restore));
    assert_eq!(field(&restored, "restore_complete", "status"), "ok");
    let gets = ep
        .journal()
        .records()
        .iter()
        .filter(|r| r.op == "GetObject" && r.key.as_deref().is_some_and(|k| k.contains("/chunk-")))
        .count();
    assert!(
        gets as u64 > chunks,
        "the restore fetched the full's chunks and the incremental's ({gets})"
    );

    let show = fixture::subvolume_show(ssh, &target).expect("the target is a subvolume");
    assert!(!show.readonly(), "the restore target must be writable");
    let src = fixture::digest(ssh, &source_snapshot, &[], LONG).unwrap();
    let dst = fixture::digest(ssh, &target, &[], LONG).unwrap();
    let cmp = compare_texts(
        &src,
        &dst,
        &CompareOptions {
            incremental: true,
            ..Default::default()
        },
    )
    .unwrap();
    println!("{}", render(&cmp, ReportLimits::default()));
    assert!(
        cmp.passed(),
        "restore differs from {source_snapshot}:\n{}",
        render(&cmp, ReportLimits::default())
    );
    assert!(
        cmp.source_entries > 1000,
        "a real tree was compared ({} entries)",
        cmp.source_entries
    );

    drop(lvm);
    te.shutdown();
}
