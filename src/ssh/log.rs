//! `ssh.jsonl`: one record per guest command, with its full output in `logs/`.

use super::Output;
use anyhow::{Context, Result};
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct CommandLog {
    inner: Arc<Inner>,
}

struct Inner {
    file: Mutex<File>,
    dir: PathBuf,
    seq: AtomicU64,
    /// Values never written to the log (per-run credentials).
    secrets: Mutex<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct CommandRecord<'a> {
    pub seq: u64,
    pub time: String,
    pub label: &'a str,
    pub command: &'a str,
    pub status: i32,
    pub signal: Option<&'a str>,
    pub timed_out: bool,
    pub seconds: f64,
    pub stdout_bytes: usize,
    pub stderr_bytes: usize,
    pub stdout_log: String,
    pub stderr_log: String,
}

fn file_stem(seq: u64, label: &str) -> String {
    let clean: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("{seq:04}-{clean}")
}

impl CommandLog {
    /// Append to `<run_dir>/ssh.jsonl`, outputs under `<run_dir>/logs/`.
    pub fn open(run_dir: &Path) -> Result<Self> {
        let dir = run_dir.join("logs");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = run_dir.join("ssh.jsonl");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let existing = std::fs::read_to_string(&path)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        Ok(CommandLog {
            inner: Arc::new(Inner {
                file: Mutex::new(file),
                dir,
                seq: AtomicU64::new(existing as u64),
                secrets: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Never write `secret` to ssh.jsonl: commands show `***` instead.
    pub fn redact(&self, secret: &str) {
        if secret.len() >= 4 {
            if let Ok(mut s) = self.inner.secrets.lock() {
                s.push(secret.to_string());
            }
        }
    }

    fn redacted(&self, text: &str) -> String {
        let mut out = text.to_string();
        if let Ok(secrets) = self.inner.secrets.lock() {
            for s in secrets.iter() {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }

    pub fn next_seq(&self) -> u64 {
        self.inner.seq.fetch_add(1, Ordering::SeqCst)
    }

    pub fn open_outputs(&self, seq: u64, label: &str) -> Result<(File, File)> {
        let stem = file_stem(seq, label);
        let o = self.inner.dir.join(format!("{stem}.out"));
        let e = self.inner.dir.join(format!("{stem}.err"));
        Ok((
            File::create(&o).with_context(|| format!("creating {}", o.display()))?,
            File::create(&e).with_context(|| format!("creating {}", e.display()))?,
        ))
    }

    pub fn record(&self, seq: u64, label: &str, command: &str, out: &Output) -> Result<()> {
        let stem = file_stem(seq, label);
        let command = self.redacted(command);
        let rec = CommandRecord {
            seq,
            time: crate::util::now_rfc3339(),
            label,
            command: &command,
            status: out.status,
            signal: out.signal.as_deref(),
            timed_out: out.timed_out,
            seconds: out.duration.as_secs_f64(),
            stdout_bytes: out.stdout.len(),
            stderr_bytes: out.stderr.len(),
            stdout_log: format!("logs/{stem}.out"),
            stderr_log: format!("logs/{stem}.err"),
        };
        let mut line = serde_json::to_string(&rec)?;
        line.push('\n');
        let mut f = self
            .inner
            .file
            .lock()
            .map_err(|_| anyhow::anyhow!("ssh log lock poisoned"))?;
        f.write_all(line.as_bytes()).context("writing ssh.jsonl")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn secrets_never_reach_the_log() {
        let d = tempfile::tempdir().unwrap();
        let log = CommandLog::open(d.path()).unwrap();
        log.redact("s3cr3t-value");
        let out = Output {
            status: 0,
            signal: None,
            stdout: b"x".to_vec(),
            stderr: vec![],
            duration: Duration::from_millis(5),
            timed_out: false,
        };
        let seq = log.next_seq();
        log.record(
            seq,
            "tool",
            "env AWS_SECRET_ACCESS_KEY=s3cr3t-value run",
            &out,
        )
        .unwrap();
        let text = std::fs::read_to_string(d.path().join("ssh.jsonl")).unwrap();
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(text.contains("AWS_SECRET_ACCESS_KEY=***"), "{text}");
        assert!(text.contains("\"stdout_bytes\":1"), "{text}");
    }
}
