//! The request journal: every request to the embedded endpoint, in order,
//! with what the client sent (storage class, SSE, checksum) and what it got.
//!
//! Records are numbered when a request arrives (`seq`) and written when it
//! ends (to `s3-journal.jsonl` and to subscribers). Harness code waits on it
//! instead of sleeping: "the 2nd UploadPart of key X has arrived" is
//! `journal.wait_arrived(|r| r.is("UploadPart", X), 2, timeout)`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::{broadcast, watch};

use super::store::lock;

/// The journal's file name in a run's (or a served store's) directory.
pub const JOURNAL_FILE: &str = "s3-journal.jsonl";

/// One request as seen by the endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    /// RFC 3339 with nanoseconds, UTC.
    pub start: String,
    /// Empty while the request is in flight.
    #[serde(default)]
    pub end: String,
    /// Microseconds from arrival to the end of the response.
    #[serde(default)]
    pub duration_us: u64,
    /// S3 operation name (`PutObject`, `UploadPart`, ...); empty if the
    /// request was rejected before it was routed (e.g. bad signature).
    pub op: String,
    pub method: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub upload_id: Option<String>,
    pub part: Option<i32>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// HTTP status; None when the connection was reset.
    pub status: Option<u16>,
    pub error_code: Option<String>,
    /// `x-amz-storage-class` as sent.
    pub storage_class: Option<String>,
    /// `x-amz-server-side-encryption` as sent (None: the client did not ask).
    pub sse: Option<String>,
    /// Checksum as sent: `CRC32`, or `CRC32:<base64>` when the value came
    /// in a header or trailer.
    pub checksum: Option<String>,
    pub content_type: Option<String>,
    /// The injected fault, e.g. `slow_down`, `reset`, `latency:200ms`, `stall`.
    pub fault: Option<String>,
}

impl Record {
    /// True for operation `op` on exactly `key`.
    pub fn is(&self, op: &str, key: &str) -> bool {
        self.op == op && self.key.as_deref() == Some(key)
    }

    pub fn finished(&self) -> bool {
        !self.end.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("opening journal file {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out after {waited:?} waiting for {what} (journal has {seen} records)")]
    Timeout {
        what: String,
        waited: Duration,
        seen: usize,
    },
}

#[derive(Default)]
struct State {
    next_seq: u64,
    in_flight: BTreeMap<u64, Record>,
    done: Vec<Record>,
}

pub struct Journal {
    state: Mutex<State>,
    file: Mutex<Option<std::fs::File>>,
    path: Option<PathBuf>,
    /// Bumped on every change, so waiters re-check without polling.
    version: watch::Sender<u64>,
    finished: broadcast::Sender<Record>,
}

/// RFC 3339 with exactly nine fractional digits.
pub fn timestamp(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(fmt)
        .unwrap_or_default()
}

impl Journal {
    /// A journal kept in memory and, if `path` is given, appended to it.
    pub fn new(path: Option<&Path>) -> Result<Journal, JournalError> {
        let file = match path {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|source| JournalError::Open {
                        path: p.to_owned(),
                        source,
                    })?,
            ),
            None => None,
        };
        let (version, _) = watch::channel(0);
        let (finished, _) = broadcast::channel(4096);
        Ok(Journal {
            state: Mutex::new(State::default()),
            file: Mutex::new(file),
            path: path.map(Path::to_owned),
            version,
            finished,
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Register an arriving request; returns its sequence number.
    pub(crate) fn begin(&self, method: &str) -> u64 {
        let mut st = lock(&self.state);
        st.next_seq += 1;
        let seq = st.next_seq;
        st.in_flight.insert(
            seq,
            Record {
                seq,
                start: timestamp(OffsetDateTime::now_utc()),
                method: method.to_owned(),
                ..Record::default()
            },
        );
        drop(st);
        self.bump();
        seq
    }

    /// Change an in-flight record (op resolved, fault chosen, ...).
    pub(crate) fn update(&self, seq: u64, f: impl FnOnce(&mut Record)) {
        let mut st = lock(&self.state);
        if let Some(r) = st.in_flight.get_mut(&seq) {
            f(r);
        }
        drop(st);
        self.bump();
    }

    /// Finish a request: stamp its end, write it out, wake waiters.
    pub(crate) fn finish(
        &self,
        seq: u64,
        started: std::time::Instant,
        f: impl FnOnce(&mut Record),
    ) {
        let mut st = lock(&self.state);
        let Some(mut r) = st.in_flight.remove(&seq) else {
            return;
        };
        f(&mut r);
        r.end = timestamp(OffsetDateTime::now_utc());
        r.duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        st.done.push(r.clone());
        // Write under the state lock so the file is in completion order.
        if let Some(file) = lock(&self.file).as_mut() {
            if let Ok(mut line) = serde_json::to_vec(&r) {
                line.push(b'\n');
                if let Err(e) = file.write_all(&line) {
                    tracing::warn!("writing s3 journal: {e}");
                }
            }
        }
        drop(st);
        let _ = self.finished.send(r);
        self.bump();
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Finished requests in completion order.
    pub fn records(&self) -> Vec<Record> {
        lock(&self.state).done.clone()
    }

    /// Requests still in flight, in arrival order.
    pub fn in_flight(&self) -> Vec<Record> {
        lock(&self.state).in_flight.values().cloned().collect()
    }

    /// Every request seen so far (finished and in flight) by arrival.
    pub fn all(&self) -> Vec<Record> {
        let st = lock(&self.state);
        let mut v: Vec<Record> = st
            .done
            .iter()
            .chain(st.in_flight.values())
            .cloned()
            .collect();
        v.sort_by_key(|r| r.seq);
        v
    }

    /// Live feed of finished records (lagging receivers lose the oldest).
    pub fn subscribe(&self) -> broadcast::Receiver<Record> {
        self.finished.subscribe()
    }

    /// Wait until the `n`th request matching `pred` has arrived (its
    /// operation is resolved; it may still be in flight). Returns it.
    pub async fn wait_arrived(
        &self,
        pred: impl Fn(&Record) -> bool,
        n: usize,
        timeout: Duration,
    ) -> Result<Record, JournalError> {
        self.wait(|| nth(self.all(), &pred, n), "arrived", n, timeout)
            .await
    }

    /// Wait until the `n`th request matching `pred` has finished.
    pub async fn wait_finished(
        &self,
        pred: impl Fn(&Record) -> bool,
        n: usize,
        timeout: Duration,
    ) -> Result<Record, JournalError> {
        self.wait(|| nth(self.records(), &pred, n), "finished", n, timeout)
            .await
    }

    async fn wait(
        &self,
        check: impl Fn() -> Option<Record>,
        what: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Record, JournalError> {
        let mut rx = self.version.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            if let Some(r) = check() {
                return Ok(r);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => {
                    return Err(JournalError::Timeout {
                        what: format!("request #{n} matching the predicate to be {what}"),
                        waited: timeout,
                        seen: self.all().len(),
                    })
                }
            }
        }
    }
}

fn nth(records: Vec<Record>, pred: &impl Fn(&Record) -> bool, n: usize) -> Option<Record> {
    records
        .into_iter()
        .filter(|r| !r.op.is_empty() && pred(r))
        .nth(n.saturating_sub(1))
}

/// Read a journal file back (for verifiers working from run artifacts).
pub fn read_file(path: &Path) -> std::io::Result<Vec<Record>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_see_arrivals_and_completions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.jsonl");
        let j = std::sync::Arc::new(Journal::new(Some(&path)).expect("journal"));
        let j2 = j.clone();
        let waiter = tokio::spawn(async move {
            j2.wait_arrived(|r| r.is("UploadPart", "k"), 2, Duration::from_secs(5))
                .await
        });
        for _ in 0..2 {
            let seq = j.begin("PUT");
            j.update(seq, |r| {
                r.op = "UploadPart".into();
                r.key = Some("k".into());
            });
        }
        let got = waiter.await.expect("join").expect("arrived");
        assert_eq!(got.seq, 2);
        assert!(!got.finished());
        j.finish(2, std::time::Instant::now(), |r| r.status = Some(200));
        let r = j
            .wait_finished(|r| r.op == "UploadPart", 1, Duration::from_secs(1))
            .await
            .expect("finished");
        assert_eq!(r.seq, 2);
        assert_eq!(read_file(&path).expect("read back"), vec![r]);
        let err = j
            .wait_finished(|r| r.op == "UploadPart", 2, Duration::from_millis(20))
            .await;
        assert!(matches!(err, Err(JournalError::Timeout { .. })));
    }

    #[test]
    fn timestamps_have_nanoseconds() {
        let t =
            OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_000_000_001).expect("valid");
        assert_eq!(timestamp(t), "2023-11-14T22:13:20.000000001Z");
    }
}
