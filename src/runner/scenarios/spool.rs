//! spool: with `[backup] spool_enabled = true` the tool stages chunks in
//! `[tool] spool_dir` before uploading them. A backup larger than the
//! spool (`spool_size_bytes + chunk_size_bytes` of incompressible data in
//! the first subvolume) must succeed, never hold more than
//! `spool_size_bytes` in the spool (sampled in the guest while it runs by
//! `guest/spool_usage.py`, which also sees unlinked temporary files), and
//! leave the spool empty. The stream itself is checked by `verify`.

use super::guest::{self, note_backups};
use super::Scenario;
use crate::fixture::guest_program;
use crate::runner::background::BackgroundRun;
use crate::runner::session::{Session, ToolRun};
use crate::ssh::shell_quote;
use crate::verify::layout::Layout;
use crate::verify::{Check, Verdict};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

pub const BACKUP: &str = "verify.spool.backup";
pub const WITHIN_LIMIT: &str = "verify.spool.within_limit";
pub const USED: &str = "verify.spool.used";
pub const EMPTY_AFTER: &str = "verify.spool.empty_after";

/// Where the sampler keeps its result in the guest.
const USAGE_FILE: &str = "/tmp/vmharness-spool-usage.json";

const SHORT: Duration = Duration::from_secs(60);

pub struct Spool;

/// What `guest/spool_usage.py` wrote.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Usage {
    pub samples: u64,
    pub peak_bytes: u64,
    pub peak_files: u64,
    pub last_bytes: u64,
}

impl Scenario for Spool {
    fn name(&self) -> &'static str {
        "spool"
    }
    fn expected_checks(&self, _s: &Session) -> Vec<String> {
        [BACKUP, WITHIN_LIMIT, USED, EMPTY_AFTER]
            .map(String::from)
            .to_vec()
    }
    fn produces(&self) -> bool {
        true
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let b = s.profile.backup.clone();
        if !b.spool_enabled {
            bail!("the spool scenario needs [backup] spool_enabled = true: use config/spool.toml");
        }
        let layout = Layout::from_profile(&s.profile)?;
        let sv = super::first_subvolume(s)?;
        let data = b.spool_size_bytes + b.chunk_size_bytes;
        guest::add_random_file(s, &sv, "spool.bin", data)?;
        let dir = s.profile.tool.spool_dir.clone();

        let sampler = start_sampler(s, &dir)?;
        let line = s.tool.backup_now(&sv);
        let run = s.run_tool(&format!("spool-{sv}"), &line);
        // Stop the sampler whatever the backup did.
        let usage = stop_sampler(s, sampler);
        let (run, usage) = (run?, usage?);
        note_backups(s, "spool", &run)?;

        let state = guest::s3_state(s, &layout)?;
        let left = s.vm.ssh().run(
            "spool-left",
            &format!(
                "d={}; if [ -d \"$d\" ]; then ls -A \"$d\"; fi",
                shell_quote(&dir)
            ),
            SHORT,
        )?;
        let left: Vec<String> = left.stdout_text().lines().map(str::to_string).collect();
        for c in [
            guest::published_check(BACKUP, "the spooled backup", &run, &sv, &state, &layout),
            within_limit(&usage, b.spool_size_bytes, data, &run),
            used(&usage),
            empty_after(&dir, &left),
        ] {
            s.record(c);
        }
        Ok(())
    }
}

/// Start the sampler and wait for its first sample (so it watches the
/// whole backup).
fn start_sampler(s: &mut Session, dir: &str) -> Result<BackgroundRun> {
    let out = shell_quote(USAGE_FILE);
    s.vm.ssh()
        .run("spool-usage-reset", &format!("rm -f {out}"), SHORT)?;
    let sampler = BackgroundRun::start_helper(
        s,
        "spool-usage",
        &guest_program(
            "spool_usage",
            &[
                "--dir".into(),
                dir.into(),
                "--out".into(),
                USAGE_FILE.into(),
            ],
        ),
    )?;
    let first = s.vm.ssh().run(
        "spool-usage-first",
        &format!("for i in $(seq 1 600); do [ -s {out} ] && exit 0; sleep 0.05; done; exit 1"),
        SHORT,
    );
    if let Err(e) = first {
        let _ = stop_sampler(s, sampler);
        return Err(e.context("the spool sampler wrote no first sample"));
    }
    Ok(sampler)
}

/// Stop the sampler and read what it saw.
fn stop_sampler(s: &mut Session, mut sampler: BackgroundRun) -> Result<Usage> {
    sampler.signal(s, "TERM")?;
    let ended = sampler.wait(s, SHORT)?;
    let out = s.vm.ssh().run(
        "spool-usage-read",
        &format!("cat {}", shell_quote(USAGE_FILE)),
        SHORT,
    )?;
    let usage: Usage = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "reading the spool sampler's result ({}): {}",
            ended.status_text(),
            crate::programs::tail(&ended.output.stderr_text(), 10)
        )
    })?;
    if usage.samples == 0 {
        bail!("the spool sampler took no sample");
    }
    Ok(usage)
}

/// `verify.spool.within_limit`: the spool never held more than `limit`.
fn within_limit(usage: &Usage, limit: u64, data: u64, run: &ToolRun) -> Check {
    let evidence = json!({"usage": usage, "spool_size_bytes": limit, "data_added_bytes": data,
        "stream_bytes": run.field("backup_metrics", "total_bytes")});
    if usage.peak_bytes <= limit {
        Check::pass(
            WITHIN_LIMIT,
            evidence,
            format!(
                "the spool held at most {} bytes in {} file(s) ({} samples), limit {limit}",
                usage.peak_bytes, usage.peak_files, usage.samples
            ),
        )
    } else {
        Check::fail(
            WITHIN_LIMIT,
            evidence,
            format!(
                "the spool held {} bytes in {} file(s), more than spool_size_bytes = {limit}",
                usage.peak_bytes, usage.peak_files
            ),
        )
    }
}

/// `verify.spool.used`: something was seen in the spool (soft: the
/// sampler may miss a short-lived file, and a tool may spool elsewhere).
fn used(usage: &Usage) -> Check {
    let evidence = json!({"usage": usage});
    if usage.peak_bytes > 0 {
        Check::pass(
            USED,
            evidence,
            format!("up to {} bytes were spooled", usage.peak_bytes),
        )
    } else {
        Check::new(
            USED,
            Verdict::Warn,
            evidence,
            format!(
                "no spool file was seen in {} samples: the tool did not spool to spool_dir, or too briefly to be seen",
                usage.samples
            ),
        )
    }
}

/// `verify.spool.empty_after`: nothing is left in the spool directory.
fn empty_after(dir: &str, left: &[String]) -> Check {
    let evidence = json!({"spool_dir": dir, "left": left});
    if left.is_empty() {
        Check::pass(
            EMPTY_AFTER,
            evidence,
            "the spool directory is empty or absent after the backup",
        )
    } else {
        Check::fail(
            EMPTY_AFTER,
            evidence,
            format!("{} entr(y/ies) left in {dir} after the backup", left.len()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::Output;

    fn usage(peak: u64) -> Usage {
        Usage {
            samples: 40,
            peak_bytes: peak,
            peak_files: u64::from(peak > 0),
            last_bytes: 0,
        }
    }

    fn run() -> ToolRun {
        let stderr = "2024-01-01 00:00:00,000 INFO backup event=backup_metrics subvolume=data total_bytes=42000000 elapsed_seconds=1.000 throughput=42.00MB/s\n";
        let output = Output {
            status: 0,
            signal: None,
            stdout: vec![],
            stderr: stderr.as_bytes().to_vec(),
            duration: Duration::from_secs(1),
            timed_out: false,
        };
        ToolRun::new(output, &[], &[])
    }

    #[test]
    fn peak_against_the_limit() {
        let c = within_limit(&usage(8 << 20), 32 << 20, 40 << 20, &run());
        assert_eq!(c.verdict, Verdict::Pass);
        assert_eq!(c.evidence["stream_bytes"], json!("42000000"));
        let c = within_limit(&usage((32 << 20) + 1), 32 << 20, 40 << 20, &run());
        assert_eq!(c.verdict, Verdict::Fail);
    }

    #[test]
    fn an_unseen_spool_is_a_warning() {
        assert_eq!(used(&usage(1)).verdict, Verdict::Pass);
        assert_eq!(used(&usage(0)).verdict, Verdict::Warn);
    }

    #[test]
    fn leftovers_fail() {
        assert_eq!(empty_after("/s", &[]).verdict, Verdict::Pass);
        let c = empty_after("/s", &["chunk-1".into()]);
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.diagnosis.contains("/s"));
    }

    #[test]
    fn the_samplers_file_parses() {
        let u: Usage = serde_json::from_str(
            r#"{"dir": "/s", "samples": 3, "peak_bytes": 9, "peak_files": 1, "last_bytes": 0}"#,
        )
        .unwrap();
        assert_eq!((u.samples, u.peak_bytes), (3, 9));
    }
}
