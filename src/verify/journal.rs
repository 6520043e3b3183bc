//! The embedded endpoint's request journal (JSON lines) and the promises
//! only it can show: SSE as requested, publish order, no overwrite.

use super::layout::{KeyClass, Layout};
use super::{names, Check, Problem, Verdict};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One request, as the endpoint journals it. Unknown fields are ignored so
/// the endpoint may add more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    pub seq: u64,
    /// RFC 3339 with nanoseconds.
    pub start: String,
    pub end: String,
    /// S3 operation name: PutObject, UploadPart, CompleteMultipartUpload, ...
    pub op: String,
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub upload_id: Option<String>,
    #[serde(default)]
    pub part: Option<u32>,
    #[serde(default)]
    pub bytes_in: u64,
    #[serde(default)]
    pub bytes_out: u64,
    /// None: no answer went out (the connection was reset or died).
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub storage_class: Option<String>,
    /// `x-amz-server-side-encryption` as the client sent it.
    #[serde(default)]
    pub sse: Option<String>,
    #[serde(default)]
    pub checksum: Option<String>,
    /// The injected fault, if any (any JSON; null means none).
    #[serde(default)]
    pub fault: Option<Value>,
    /// For a PUT of a pointer: the manifest key its body names, when the
    /// endpoint (or the binder) recorded it. Makes publish order exact.
    #[serde(default)]
    pub pointer_manifest_key: Option<String>,
}

/// A record with parsed times (nanoseconds since the epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub r: JournalRecord,
    pub start_ns: i128,
    pub end_ns: i128,
}

impl Entry {
    pub fn ok(&self) -> bool {
        self.r.status.is_some_and(|c| (200..300).contains(&c))
    }

    pub fn faulted(&self) -> bool {
        self.r.fault.as_ref().is_some_and(|f| !f.is_null())
    }

    pub fn key(&self) -> &str {
        self.r.key.as_deref().unwrap_or_default()
    }

    /// A request that stores an object's final bytes under `key`.
    pub fn is_store(&self) -> bool {
        matches!(
            self.r.op.as_str(),
            "PutObject" | "CompleteMultipartUpload" | "CopyObject"
        )
    }
}

/// The journal, in `seq` order.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    pub entries: Vec<Entry>,
}

fn parse_time(s: &str, what: &str, seq: u64) -> Result<i128> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .with_context(|| format!("journal record {seq}: {what} {s:?} is not RFC 3339"))?;
    Ok(t.unix_timestamp_nanos())
}

impl Journal {
    pub fn from_records(records: Vec<JournalRecord>) -> Result<Journal> {
        let mut entries = Vec::with_capacity(records.len());
        for r in records {
            let start_ns = parse_time(&r.start, "start", r.seq)?;
            let end_ns = parse_time(&r.end, "end", r.seq)?;
            if end_ns < start_ns {
                bail!(
                    "journal record {}: end {} is before start {}",
                    r.seq,
                    r.end,
                    r.start
                );
            }
            entries.push(Entry {
                r,
                start_ns,
                end_ns,
            });
        }
        entries.sort_by_key(|e| e.r.seq);
        Ok(Journal { entries })
    }

    /// `s3-journal.jsonl` text; blank lines are skipped, errors name the line.
    pub fn parse_jsonl(text: &str) -> Result<Journal> {
        let mut records = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let r: JournalRecord =
                serde_json::from_str(line).map_err(|e| anyhow!("journal line {}: {e}", i + 1))?;
            records.push(r);
        }
        Journal::from_records(records)
    }

    /// Only the requests that arrived after `seq` (one scenario's stretch).
    pub fn since(mut self, seq: u64) -> Journal {
        self.entries.retain(|e| e.r.seq > seq);
        self
    }

    /// Without the records numbered inside any of `ranges` (inclusive):
    /// what a rollback undid is judged by the scenario that did it, not by
    /// the verifiers of the state that survived.
    pub fn without(mut self, ranges: &[(u64, u64)]) -> Journal {
        self.entries
            .retain(|e| !ranges.iter().any(|(a, b)| (*a..=*b).contains(&e.r.seq)));
        self
    }

    /// Entries whose key is under `prefix`.
    pub fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.key().starts_with(prefix))
    }

    /// Successful stores of `key`, in order.
    pub fn stores_of<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.is_store() && e.ok() && e.key() == key)
    }
}

/// `verify.sse_requested`: every PutObject, CreateMultipartUpload and
/// CopyObject under the prefix asked for `sse`.
pub fn verify_sse_requested(journal: &Journal, layout: &Layout, sse: &str) -> Check {
    let mut problems = Vec::new();
    let mut requests = 0;
    for e in journal.under(&layout.prefix) {
        if !matches!(
            e.r.op.as_str(),
            "PutObject" | "CreateMultipartUpload" | "CopyObject"
        ) {
            continue;
        }
        requests += 1;
        if e.r.sse.as_deref() != Some(sse) {
            problems.push(
                Problem::about(
                    e.key(),
                    format!(
                        "{} (seq {}) asked for SSE {:?}, expected {sse}",
                        e.r.op, e.r.seq, e.r.sse
                    ),
                )
                .with(json!({"seq": e.r.seq, "op": e.r.op})),
            );
        }
    }
    if requests == 0 {
        return Check::skip(
            names::SSE_REQUESTED,
            "the journal has no PutObject or CreateMultipartUpload under the prefix",
        );
    }
    Check::from_problems(
        names::SSE_REQUESTED,
        problems,
        Verdict::Fail,
        json!({"requests": requests}),
        format!(
            "all {requests} PutObject/CreateMultipartUpload/CopyObject request(s) asked for {sse}"
        ),
    )
}

/// `verify.publish_order`: every successful write of a pointer starts after
/// the manifest it names, and every chunk of that manifest, were stored.
///
/// Which manifest a write names: the record's `pointer_manifest_key` when
/// present; else, for the last write of each pointer, its current content
/// (`final_pointers`); else the newest manifest of the same subvolume stored
/// before the write (none: the write published nothing that existed).
/// `chunk_lists`: manifest key -> its chunk keys.
pub fn verify_publish_order(
    journal: &Journal,
    layout: &Layout,
    chunk_lists: &BTreeMap<String, Vec<String>>,
    final_pointers: &BTreeMap<String, String>,
) -> Check {
    let mut problems = Vec::new();
    let mut writes = Vec::new();
    let pointer_writes: Vec<&Entry> = journal
        .entries
        .iter()
        .filter(|e| e.is_store() && e.ok() && layout.is_pointer(e.key()))
        .collect();
    for (i, w) in pointer_writes.iter().enumerate() {
        let key = w.key();
        let is_last = !pointer_writes[i + 1..].iter().any(|x| x.key() == key);
        let named = w
            .r
            .pointer_manifest_key
            .clone()
            .map(|k| (k, "recorded"))
            .or_else(|| {
                is_last
                    .then(|| final_pointers.get(key).cloned())
                    .flatten()
                    .map(|k| (k, "current content"))
            })
            .or_else(|| {
                newest_manifest_before(journal, layout, key, w.start_ns).map(|k| (k, "inferred"))
            });
        let Some((manifest, how)) = named else {
            problems.push(Problem::about(
                key,
                format!(
                    "written (seq {}) before any manifest of its subvolume was stored",
                    w.r.seq
                ),
            ));
            continue;
        };
        writes.push(json!({"seq": w.r.seq, "pointer": key, "manifest": manifest, "named_by": how}));
        let mut late = Vec::new();
        if !stored_before(journal, &manifest, w.start_ns) {
            late.push(manifest.clone());
        }
        match chunk_lists.get(&manifest) {
            Some(chunks) => late.extend(
                chunks
                    .iter()
                    .filter(|c| !stored_before(journal, c, w.start_ns))
                    .cloned(),
            ),
            None => late.push(format!("(chunks of {manifest}: manifest unreadable)")),
        }
        if !late.is_empty() {
            problems.push(
                Problem::about(
                    key,
                    format!(
                        "written (seq {}) naming {manifest} before {} of its objects were stored",
                        w.r.seq,
                        late.len()
                    ),
                )
                .with(json!({"seq": w.r.seq, "not_yet_stored": late})),
            );
        }
    }
    if pointer_writes.is_empty() {
        return Check::skip(
            names::PUBLISH_ORDER,
            "the journal has no successful pointer write",
        );
    }
    Check::from_problems(
        names::PUBLISH_ORDER,
        problems,
        Verdict::Fail,
        json!({"pointer_writes": writes}),
        format!(
            "{} pointer write(s), each after its manifest and all its chunks were stored",
            pointer_writes.len()
        ),
    )
}

/// A successful store of `key` that ended no later than `t`.
fn stored_before(journal: &Journal, key: &str, t: i128) -> bool {
    journal.stores_of(key).any(|e| e.end_ns <= t)
}

fn newest_manifest_before(
    journal: &Journal,
    layout: &Layout,
    pointer: &str,
    t: i128,
) -> Option<String> {
    let subvol = layout.subvolume_of(pointer)?;
    journal
        .entries
        .iter()
        .filter(|e| e.is_store() && e.ok() && e.end_ns <= t)
        .filter(|e| matches!(layout.classify(e.key()), KeyClass::Manifest { subvol: s, .. } if s == subvol))
        .max_by_key(|e| e.end_ns)
        .map(|e| e.key().to_string())
}

/// `verify.rapid_runs.no_overwrite`: no chunk or manifest key was stored
/// twice. Stores answered with an injected fault are listed, not counted
/// (a client may legitimately retry a write whose answer it never saw).
pub fn verify_no_overwrite(journal: &Journal, layout: &Layout) -> Check {
    let mut stores: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut faulted = Vec::new();
    for e in journal.entries.iter().filter(|e| e.is_store() && e.ok()) {
        if !(layout.is_chunk(e.key()) || layout.is_manifest(e.key())) {
            continue;
        }
        if e.faulted() {
            faulted.push(json!({"seq": e.r.seq, "key": e.key()}));
            continue;
        }
        stores.entry(e.key()).or_default().push(e.r.seq);
    }
    let problems: Vec<Problem> = stores
        .iter()
        .filter(|(_, seqs)| seqs.len() > 1)
        .map(|(k, seqs)| {
            Problem::about(k, format!("stored {} times (seq {seqs:?})", seqs.len()))
                .with(json!(seqs))
        })
        .collect();
    Check::from_problems(
        names::NO_OVERWRITE,
        problems,
        Verdict::Fail,
        json!({"keys": stores.len(), "faulted_stores": faulted}),
        format!(
            "{} chunk and manifest key(s), each stored once",
            stores.len()
        ),
    )
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
