//! Verifiers: pure functions from plain inputs (S3 state, the endpoint's
//! journal, logs, snapshot lists, digests) to [`Check`]s. No VM, no network:
//! S3 is reached through the [`ObjectSource`] trait, which the embedded
//! store, AWS and the in-memory fake of the tests implement.

pub mod chunks;
pub mod journal;
pub mod layout;
pub mod logs;
pub mod manifest;
pub mod memory;
pub mod multipart;
pub mod objects;
pub mod restore;
pub mod retention;
pub mod schema;
pub mod source;
pub mod state;
pub mod stream;
pub mod stream_edit;
pub mod suite;
#[cfg(test)]
pub(crate) mod testdata;
pub mod tool_output;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use layout::{KeyClass, Layout};
pub use schema::Schemas;
pub use source::{MultipartUpload, ObjectError, ObjectInfo, ObjectSource, RestoreState, S3State};

/// Check names (DEFECTS.md's where it names one).
pub mod names {
    pub const LAYOUT: &str = "verify.layout";
    pub const MANIFEST_SCHEMA: &str = "verify.manifest.schema";
    pub const MANIFEST_KIND: &str = "verify.manifest.kind";
    pub const CHUNK_ORDER: &str = "verify.manifest.chunk_order";
    pub const CHUNKS_STORED: &str = "verify.manifest.chunks_stored";
    pub const TOTAL_BYTES: &str = "verify.manifest.total_bytes";
    pub const PARENT_CHAIN: &str = "verify.manifest.parent_chain";
    pub const POINTER: &str = "verify.pointer.target";
    pub const SHA256: &str = "verify.manifest.sha256";
    pub const STREAM_COMPLETE: &str = "verify.stream.complete";
    pub const STREAM_HAS_PARENT: &str = "verify.incremental.stream_has_parent";
    pub const INCREMENTAL_KIND: &str = "verify.incremental.kind";
    pub const STORAGE_CLASS: &str = "verify.storage_class";
    pub const CONTENT_TYPE: &str = "verify.content_type";
    pub const SSE_STORED: &str = "verify.sse_stored";
    pub const SSE_REQUESTED: &str = "verify.sse_requested";
    pub const PUBLISH_ORDER: &str = "verify.publish_order";
    pub const NO_OVERWRITE: &str = "verify.rapid_runs.no_overwrite";
    pub const ORPHAN_UPLOADS: &str = "verify.orphans.multipart";
    pub const ORPHAN_OBJECTS: &str = "verify.orphans.objects";
    pub const RETENTION: &str = "verify.retention";
    pub const STATE_COHERENT: &str = "verify.state.coherent";
    pub const LOG_EVENTS: &str = "verify.log.events";
    pub const RESTORE_DIGEST: &str = "verify.restore.digest";
    pub const MULTIPART_PARTS: &str = "verify.large.multipart_parts";
    pub const MULTIPART_COMPLETED: &str = "verify.large.multipart_completed";
    pub const NO_CRASH: &str = "verify.tool.no_crash";
    pub const NO_LEFTOVERS: &str = "verify.restore.no_leftovers";
}

/// What a check concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// A promise the requirements leave soft; `strict` makes it a failure.
    Warn,
    /// Not checked, and why (on the embedded endpoint this is a harness error).
    Skip(String),
}

impl Verdict {
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Warn => "warn",
            Verdict::Skip(_) => "skip",
        }
    }
}

/// One verdict with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub evidence: Value,
    pub diagnosis: String,
    /// A skip caused by the tool: the failed check (or scenario) that left
    /// nothing to judge here. Such a skip counts as the tool's failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<String>,
}

impl Check {
    pub fn new(
        name: &str,
        verdict: Verdict,
        evidence: Value,
        diagnosis: impl Into<String>,
    ) -> Check {
        Check {
            name: name.to_string(),
            verdict,
            evidence,
            diagnosis: diagnosis.into(),
            blocked_by: None,
        }
    }

    /// Not judged because `by` (a check, or a scenario, the tool failed)
    /// left nothing to judge: a skip that counts as the tool's failure.
    pub fn blocked(name: &str, by: &str, reason: impl Into<String>) -> Check {
        let reason = reason.into();
        let mut c = Check::skip(name, format!("not judged: {reason}"));
        c.blocked_by = Some(by.to_string());
        c
    }

    /// Skipped because the tool failed something this check needed.
    pub fn is_blocked_skip(&self) -> bool {
        matches!(self.verdict, Verdict::Skip(_)) && self.blocked_by.is_some()
    }

    pub fn pass(name: &str, evidence: Value, diagnosis: impl Into<String>) -> Check {
        Check::new(name, Verdict::Pass, evidence, diagnosis)
    }

    pub fn fail(name: &str, evidence: Value, diagnosis: impl Into<String>) -> Check {
        Check::new(name, Verdict::Fail, evidence, diagnosis)
    }

    pub fn skip(name: &str, reason: impl Into<String>) -> Check {
        let reason = reason.into();
        Check::new(name, Verdict::Skip(reason.clone()), Value::Null, reason)
    }

    /// Pass when `problems` is empty, else `bad` (Fail or Warn); the
    /// evidence holds the problems (capped) and `extra`.
    pub fn from_problems(
        name: &str,
        problems: Vec<Problem>,
        bad: Verdict,
        extra: Value,
        ok: impl Into<String>,
    ) -> Check {
        let mut evidence = match extra {
            Value::Object(m) => m,
            Value::Null => serde_json::Map::new(),
            other => {
                let mut m = serde_json::Map::new();
                m.insert("details".into(), other);
                m
            }
        };
        if problems.is_empty() {
            return Check::new(name, Verdict::Pass, Value::Object(evidence), ok);
        }
        let diagnosis = summarize(&problems);
        evidence.insert("problem_count".into(), json!(problems.len()));
        let shown: Vec<&Problem> = problems.iter().take(MAX_PROBLEMS).collect();
        evidence.insert("problems".into(), json!(shown));
        Check::new(name, bad, Value::Object(evidence), diagnosis)
    }
}

/// Evidence lists are capped so results.json stays readable.
pub const MAX_PROBLEMS: usize = 50;

/// One thing wrong, with the object it is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Value::is_null", default)]
    pub details: Value,
}

impl Problem {
    pub fn new(key: Option<&str>, message: impl Into<String>) -> Problem {
        Problem {
            key: key.map(str::to_string),
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn about(key: &str, message: impl Into<String>) -> Problem {
        Problem::new(Some(key), message)
    }

    pub fn with(mut self, details: Value) -> Problem {
        self.details = details;
        self
    }
}

/// "3 problem(s): a; b; c" with at most three shown.
fn summarize(problems: &[Problem]) -> String {
    let shown: Vec<String> = problems
        .iter()
        .take(3)
        .map(|p| match &p.key {
            Some(k) => format!("{k}: {}", p.message),
            None => p.message.clone(),
        })
        .collect();
    let more = problems.len().saturating_sub(3);
    let tail = if more > 0 {
        format!(" (and {more} more)")
    } else {
        String::new()
    };
    format!("{} problem(s): {}{tail}", problems.len(), shown.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_json_shape() {
        let c = Check::skip("verify.x", "archived");
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["verdict"], "skip");
        assert_eq!(v["reason"], "archived");
        let back: Check = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
        let v = serde_json::to_value(Check::pass("verify.y", Value::Null, "fine")).unwrap();
        assert_eq!(v["verdict"], "pass");
        assert!(v.get("reason").is_none());
    }

    #[test]
    fn problems_are_summarized_and_capped() {
        let problems: Vec<Problem> = (0..60)
            .map(|i| Problem::about(&format!("k{i}"), "bad"))
            .collect();
        let c = Check::from_problems("verify.z", problems, Verdict::Warn, json!({"n": 1}), "ok");
        assert_eq!(c.verdict, Verdict::Warn);
        assert_eq!(c.evidence["problem_count"], 60);
        assert_eq!(
            c.evidence["problems"].as_array().unwrap().len(),
            MAX_PROBLEMS
        );
        assert_eq!(c.evidence["n"], 1);
        assert!(
            c.diagnosis
                .starts_with("60 problem(s): k0: bad; k1: bad; k2: bad (and 57 more)"),
            "{}",
            c.diagnosis
        );
        let c = Check::from_problems("verify.z", vec![], Verdict::Fail, Value::Null, "all good");
        assert_eq!(c.verdict, Verdict::Pass);
        assert_eq!(c.diagnosis, "all good");
    }
}
