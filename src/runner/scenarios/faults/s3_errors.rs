//! s3-errors: the endpoint answers with 503 SlowDown, 500 InternalError and
//! connection resets, or never answers. Variants:
//! - `backup`: a few transient faults on uploads, multipart steps and
//!   heads: the backup must complete (`verify.s3_errors.completes`);
//! - `restore`: transient faults on gets and heads: the restore must
//!   complete and equal its snapshot (`completes`);
//! - `mixed`: every operation faulted at random (seeded by the profile's
//!   fixture seed) during a backup and its restore (`completes`);
//! - `fatal`: every manifest upload fails: the tool must exit non-zero and
//!   publish nothing (`verify.s3_errors.exit_code`);
//! - `stall`: one chunk upload is never answered: the tool must end
//!   (either way) within [`NO_HANG_BOUND`] (`verify.s3_errors.no_hang`).
//!
//! Each variant proves its faults fired during the operation (else the
//! harness failed, not the tool).

use super::super::{first_subvolume, guest, hold, record_variant, Scenario};
use crate::runner::blame::tool_broke;
use crate::runner::session::{Session, ToolRun};
use crate::s3::server::faults::{FaultKind, FaultRule};
use crate::verify::layout::{key_regex, Layout};
use crate::verify::Check;
use anyhow::{bail, Result};
use serde_json::json;
use std::time::{Duration, Instant};

pub const COMPLETES: &str = "verify.s3_errors.completes";
pub const EXIT_CODE: &str = "verify.s3_errors.exit_code";
pub const NO_HANG: &str = "verify.s3_errors.no_hang";

/// How long a tool may take to give up on (or retry past) a request that
/// is never answered: several times a 30–60 s read timeout plus the backup.
pub const NO_HANG_BOUND: Duration = Duration::from_secs(120);

/// Probability of each fault kind per request in the mixed variant.
const MIXED_P: [(FaultKind, f64); 3] = [
    (FaultKind::SlowDown, 0.10),
    (FaultKind::InternalError, 0.05),
    (FaultKind::Reset, 0.05),
];

pub struct S3Errors;

impl Scenario for S3Errors {
    fn name(&self) -> &'static str {
        "s3-errors"
    }
    fn needs_embedded(&self) -> Option<&'static str> {
        Some("the endpoint's fault injection")
    }
    fn expected_checks(&self, _s: &Session) -> Vec<String> {
        vec![
            super::variant(COMPLETES, "backup"),
            super::variant(COMPLETES, "restore"),
            super::variant(COMPLETES, "mixed"),
            super::variant(EXIT_CODE, "fatal"),
            super::variant(NO_HANG, "stall"),
        ]
    }
    fn variants(&self) -> &'static [&'static str] {
        &["backup", "restore", "mixed", "fatal", "stall"]
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let layout = Layout::from_profile(&s.profile)?;
        let sv = first_subvolume(s)?;
        let prefix = s.profile.s3.normalized_prefix();
        let under = format!("{prefix}*");

        let mut backup_key = None;
        // The restore variant restores the backup variant's backup.
        if s.runs_variant("backup") || s.runs_variant("restore") {
            let decided = backup(s, &layout, &sv, &under, &mut backup_key);
            record_variant(s, &super::variant(COMPLETES, "backup"), decided)?;
        }
        if s.runs_variant("restore") {
            let name = super::variant(COMPLETES, "restore");
            match backup_key.as_deref() {
                Some(key) => {
                    let decided = restore(s, &sv, &under, key);
                    record_variant(s, &name, decided)?;
                }
                None => s.record(Check::blocked(
                    &name,
                    &super::variant(COMPLETES, "backup"),
                    "nothing to restore: the faulted backup published no manifest",
                )),
            }
        }
        if s.runs_variant("mixed") {
            let decided = mixed(s, &layout, &sv, &under);
            record_variant(s, &super::variant(COMPLETES, "mixed"), decided)?;
        }
        if s.runs_variant("fatal") {
            let decided = fatal(s, &layout, &sv, &prefix);
            record_variant(s, &super::variant(EXIT_CODE, "fatal"), decided)?;
        }
        if s.runs_variant("stall") {
            let decided = stall(s, &sv);
            record_variant(s, &super::variant(NO_HANG, "stall"), decided)?;
        }
        Ok(())
    }
}

/// backup: transient faults, each once, on every write and head.
fn backup(
    s: &mut Session,
    layout: &Layout,
    sv: &str,
    under: &str,
    key: &mut Option<String>,
) -> Result<Check> {
    super::add_chunk_and_a_half(s, sv, "s3-errors.bin")?;
    let rules = once_each(
        s,
        under,
        &[
            ("PutObject", FaultKind::SlowDown, 0),
            ("PutObject", FaultKind::InternalError, 1),
            ("PutObject", FaultKind::Reset, 2),
            ("HeadObject", FaultKind::SlowDown, 0),
            ("ListObjectsV2", FaultKind::InternalError, 0),
            ("CreateMultipartUpload", FaultKind::SlowDown, 0),
            ("UploadPart", FaultKind::Reset, 0),
            ("CompleteMultipartUpload", FaultKind::InternalError, 0),
        ],
    )?;
    let (run, faults) = faulted(s, &rules, "s3-errors-backup", &s.tool.backup_now(sv))?;
    drop(rules);
    *key = run.field("backup_uploaded", "manifest_key");
    completes_backup(s, layout, sv, &run, faults, "backup")
}

/// restore: transient faults on gets and heads.
fn restore(s: &mut Session, sv: &str, under: &str, key: &str) -> Result<Check> {
    let rules = once_each(
        s,
        under,
        &[
            ("GetObject", FaultKind::SlowDown, 0),
            ("GetObject", FaultKind::Reset, 1),
            ("GetObject", FaultKind::InternalError, 2),
            ("HeadObject", FaultKind::SlowDown, 0),
        ],
    )?;
    completes_restore(s, &rules, sv, key, "restore")
}

/// mixed: every operation at random, seeded, over a backup and its restore.
fn mixed(s: &mut Session, layout: &Layout, sv: &str, under: &str) -> Result<Check> {
    let chunk = s.profile.backup.chunk_size_bytes;
    guest::add_random_file(s, sv, "s3-errors-mixed.bin", chunk / 2)?;
    let seed = s.profile.fixture.seed;
    let mut rules = hold::Rules::new(s)?;
    // One certain fault for the backup, so the variant never passes without one.
    rules.add(
        FaultRule::new(FaultKind::SlowDown)
            .op("PutObject")
            .key_glob(under)
            .times(1),
    )?;
    for (i, (kind, p)) in MIXED_P.iter().enumerate() {
        rules.add(
            FaultRule::new(*kind)
                .key_glob(under)
                .probability(*p, seed.wrapping_add(i as u64)),
        )?;
    }
    let (run, faults) = faulted(s, &rules, "s3-errors-mixed", &s.tool.backup_now(sv))?;
    let mut mixed = completes_backup(s, layout, sv, &run, faults, "mixed")?;
    if mixed.verdict == crate::verify::Verdict::Pass {
        if let Some(key) = run.field("backup_uploaded", "manifest_key") {
            // One certain fault for the restore too.
            rules.add(
                FaultRule::new(FaultKind::SlowDown)
                    .op("GetObject")
                    .key_glob(under)
                    .times(1),
            )?;
            let restored = completes_restore(s, &rules, sv, &key, "mixed")?;
            mixed.evidence["restore"] = json!(restored);
            if restored.verdict != crate::verify::Verdict::Pass {
                mixed = Check::fail(
                    &mixed.name,
                    mixed.evidence.clone(),
                    format!("the backup completed, but {}", restored.diagnosis),
                );
            }
        }
    }
    mixed.evidence["seed"] = json!(seed);
    Ok(mixed)
}

/// Each `(op, fault, skip)` once, on keys matching `under`, after letting
/// `skip` matches through.
fn once_each(s: &Session, under: &str, faults: &[(&str, FaultKind, u64)]) -> Result<hold::Rules> {
    let mut rules = hold::Rules::new(s)?;
    for (op, kind, skip) in faults {
        rules.add(
            FaultRule::new(*kind)
                .op(op)
                .key_glob(under)
                .skip(*skip)
                .times(1),
        )?;
    }
    Ok(rules)
}

/// Run `line` with `rules` in place; the run and how many faults fired
/// (none fired: the faults hit nothing, a harness error).
fn faulted(
    s: &mut Session,
    rules: &hold::Rules,
    label: &str,
    line: &str,
) -> Result<(ToolRun, u64)> {
    let before = rules.fired();
    let run = s.run_tool(label, line)?;
    guest::note_backups(s, "s3-errors", &run)?;
    let fired = rules.fired() - before;
    if fired == 0 && !run.succeeded() {
        return Err(tool_broke(
            format!(
                "{label}: the tool failed ({}) before any request an injected fault waited for",
                run.status_text()
            ),
            Some(&run),
        ));
    }
    if fired == 0 {
        bail!(
            "{label}: no injected fault fired although the run succeeded ({}), so it proved nothing: {}",
            run.status_text(),
            crate::programs::tail(&run.output.stderr_text(), 6)
        );
    }
    Ok((run, fired))
}

fn completes_backup(
    s: &mut Session,
    layout: &Layout,
    sv: &str,
    run: &ToolRun,
    faults: u64,
    v: &str,
) -> Result<Check> {
    let state = guest::s3_state(s, layout)?;
    let mut c = guest::published_check(
        &super::variant(COMPLETES, v),
        &format!("the backup with {faults} injected S3 fault(s)"),
        run,
        sv,
        &state,
        layout,
    );
    c.evidence["faults_fired"] = json!(faults);
    c.evidence["retries_logged"] = json!(run.log.events("s3_retry").count());
    Ok(c)
}

fn completes_restore(
    s: &mut Session,
    rules: &hold::Rules,
    sv: &str,
    key: &str,
    v: &str,
) -> Result<Check> {
    let before = rules.fired();
    let source = super::snapshot_of(s, key);
    let mut c = super::restore_check(
        s,
        &super::variant(COMPLETES, v),
        sv,
        key,
        source.as_deref(),
        &format!("s3-errors-{v}"),
    )?;
    let fired = rules.fired() - before;
    if fired == 0 && c.verdict != crate::verify::Verdict::Pass {
        return Err(tool_broke(
            format!(
                "the {v} restore failed before any request an injected fault waited for: {}",
                c.diagnosis
            ),
            None,
        ));
    }
    if fired == 0 {
        bail!("the {v} restore saw no injected fault, so it proved nothing");
    }
    c.evidence["faults_fired"] = json!(fired);
    Ok(c)
}

/// Every manifest upload fails: non-zero exit, the pointer unchanged.
fn fatal(s: &mut Session, layout: &Layout, sv: &str, prefix: &str) -> Result<Check> {
    let name = super::variant(EXIT_CODE, "fatal");
    let docs = crate::verify::manifest::Documents::from_state(&guest::s3_state(s, layout)?, layout);
    let before = guest::pointer_of(&docs, layout, sv);
    guest::add_random_file(s, sv, "s3-errors-fatal.bin", 4096)?;
    let manifests = key_regex(&s.profile.layout.manifest, prefix, &[("subvol", sv)])?;
    let mut rules = hold::Rules::new(s)?;
    rules.add(
        FaultRule::new(FaultKind::InternalError)
            .op("PutObject")
            .key_regex(&manifests),
    )?;
    let (run, fired) = faulted(s, &rules, "s3-errors-fatal", &s.tool.backup_now(sv))?;
    drop(rules);
    let docs = crate::verify::manifest::Documents::from_state(&guest::s3_state(s, layout)?, layout);
    let after = guest::pointer_of(&docs, layout, sv);
    let evidence = json!({"faults_fired": fired, "status": run.status_text(), "pointer_before": before, "pointer_after": after,
        "stderr_tail": crate::programs::tail(&run.output.stderr_text(), 8)});
    Ok(if run.succeeded() {
        Check::fail(
            &name,
            evidence,
            format!("every manifest upload failed ({fired} times) but the backup exited 0"),
        )
    } else if after != before {
        Check::fail(&name, evidence, "the backup failed but the pointer changed")
    } else {
        Check::pass(
            &name,
            evidence,
            format!(
                "the manifest could not be stored: the backup failed ({}) and published nothing",
                run.status_text()
            ),
        )
    })
}

/// One chunk upload never answered: the tool must end within the bound.
fn stall(s: &mut Session, sv: &str) -> Result<Check> {
    let name = super::variant(NO_HANG, "stall");
    let chunk = s.profile.backup.chunk_size_bytes;
    super::add_chunk_and_a_half(s, sv, "s3-errors-stall.bin")?;
    // The data upload, not the multipart creation: a creation answered
    // after the tool gave up on it would leave an upload nobody completes.
    let op = hold::chunk_data_op(chunk);
    let held = hold::Stall::chunks(s, Some(op), &[("subvol", sv), ("index", "0")], true)?;
    let line = s.tool.backup_now(sv);
    let (bg, held) = hold::start_held(s, held, "s3-errors-stall", &line, "at chunk 0")?;
    let t = Instant::now();
    let mut ended = false;
    while t.elapsed() < NO_HANG_BOUND {
        if bg.finished(s)? {
            ended = true;
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    let waited = t.elapsed().as_secs_f64();
    held.release();
    let timeout = s.timeout();
    let run = bg.wait(s, timeout)?;
    guest::note_backups(s, "s3-errors", &run)?;
    let evidence = json!({"bound_seconds": NO_HANG_BOUND.as_secs(), "ended_after_seconds": waited, "ended_within_bound": ended,
        "status": run.status_text(), "stderr_tail": crate::programs::tail(&run.output.stderr_text(), 8)});
    Ok(if ended {
        Check::pass(
            &name,
            evidence,
            format!(
                "with a chunk upload never answered the tool ended ({}) after {waited:.0}s",
                run.status_text()
            ),
        )
    } else {
        Check::fail(&name, evidence, format!("with a chunk upload never answered the tool was still running after {}s (it hangs without a timeout)", NO_HANG_BOUND.as_secs()))
    })
}
