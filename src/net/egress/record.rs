//! One JSON line per CONNECT, in memory and appended to the record file
//! (`egress.jsonl` in a run directory).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// What happened to one CONNECT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectRecord {
    /// RFC 3339 UTC time the connection was accepted.
    pub time: String,
    /// The host or IP asked for (empty when the request did not parse).
    pub host: String,
    pub port: u16,
    pub allowed: bool,
    /// Why it was refused, or why an allowed tunnel failed to open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The address the tunnel went to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Guest to upstream, upstream to guest (tunnelled payload only).
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub duration_ms: u64,
}

impl ConnectRecord {
    /// The one-line account of a refusal, for a run's log.
    pub fn refusal_line(&self) -> Option<String> {
        (!self.allowed).then(|| {
            format!(
                "egress: refused CONNECT {}:{}: {}",
                self.host,
                self.port,
                self.reason.as_deref().unwrap_or("refused")
            )
        })
    }
}

/// The lines a run's log gets at the end: how many CONNECTs, allowed
/// with their bytes, refused; then one line per refusal.
pub fn summary(records: &[ConnectRecord]) -> Vec<String> {
    let allowed: Vec<&ConnectRecord> = records.iter().filter(|r| r.allowed).collect();
    let up: u64 = allowed.iter().map(|r| r.bytes_up).sum();
    let down: u64 = allowed.iter().map(|r| r.bytes_down).sum();
    let mut lines = vec![format!(
        "egress: {} CONNECT(s): {} allowed ({up} bytes up, {down} down), {} refused",
        records.len(),
        allowed.len(),
        records.len() - allowed.len()
    )];
    lines.extend(records.iter().filter_map(ConnectRecord::refusal_line));
    lines
}

/// The records so far, and the file they are appended to.
#[derive(Debug)]
pub(crate) struct Recorder {
    file: Option<PathBuf>,
    records: Mutex<Vec<ConnectRecord>>,
}

impl Recorder {
    /// Create (truncate) the record file now, so that a run's directory
    /// shows it even before the first CONNECT.
    pub fn new(file: Option<&Path>) -> std::io::Result<Recorder> {
        if let Some(f) = file {
            std::fs::File::create(f)?;
        }
        Ok(Recorder {
            file: file.map(Path::to_owned),
            records: Mutex::new(Vec::new()),
        })
    }

    pub fn push(&self, r: ConnectRecord) {
        if let Some(line) = r.refusal_line() {
            tracing::warn!("{line}");
        }
        if let Some(f) = &self.file {
            if let Err(e) = append_line(f, &r) {
                tracing::warn!("egress: cannot append to {}: {e}", f.display());
            }
        }
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(r);
    }

    pub fn snapshot(&self) -> Vec<ConnectRecord> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn append_line(file: &Path, r: &ConnectRecord) -> std::io::Result<()> {
    let mut line = serde_json::to_string(r).map_err(std::io::Error::other)?;
    line.push('\n');
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)?
        .write_all(line.as_bytes())
}

/// Now as RFC 3339 UTC.
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(allowed: bool) -> ConnectRecord {
        ConnectRecord {
            time: "2026-01-01T00:00:00Z".into(),
            host: "example.com".into(),
            port: 443,
            allowed,
            reason: (!allowed).then(|| "not an S3 address".into()),
            upstream: None,
            bytes_up: 3,
            bytes_down: 4,
            duration_ms: 5,
        }
    }

    #[test]
    fn records_are_json_lines_in_the_file_and_kept_in_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("egress.jsonl");
        let rec = Recorder::new(Some(&f)).expect("create");
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "");
        rec.push(record(true));
        rec.push(record(false));
        let text = std::fs::read_to_string(&f).expect("read");
        let lines: Vec<ConnectRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(lines, rec.snapshot());
        assert_eq!(lines, [record(true), record(false)]);
        assert!(!text.lines().next().expect("line").contains("reason"));
    }

    #[test]
    fn the_summary_counts_and_names_each_refusal() {
        assert_eq!(
            summary(&[record(true), record(false), record(true)]),
            [
                "egress: 3 CONNECT(s): 2 allowed (6 bytes up, 8 down), 1 refused",
                "egress: refused CONNECT example.com:443: not an S3 address"
            ]
        );
        assert_eq!(
            summary(&[]),
            ["egress: 0 CONNECT(s): 0 allowed (0 bytes up, 0 down), 0 refused"]
        );
    }

    #[test]
    fn a_refusal_has_its_log_line() {
        assert_eq!(record(true).refusal_line(), None);
        assert_eq!(
            record(false).refusal_line().as_deref(),
            Some("egress: refused CONNECT example.com:443: not an S3 address")
        );
    }
}
