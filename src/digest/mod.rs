//! The restore comparison of FIXTURE.md: parse the tree digests written by
//! `guest/fixture.py digest`, compare them field by field under documented
//! exceptions and named expected failures, and render a grouped report.
//! Also reads `btrfs subvolume show` for evidence of a real receive.

pub mod compare;
pub mod escape;
pub mod exceptions;
pub mod parse;
pub mod report;
pub mod subvolume_show;

#[cfg(test)]
mod compare_tests;

pub use compare::{compare, CompareOptions, Comparison, Field, Mismatch};
pub use exceptions::{Exception, ExpectedFailure};
pub use parse::{parse, Digest, Entry, FileType, ParseError};
pub use report::{render, ReportLimits};
pub use subvolume_show::{parse_subvolume_show, receive_evidence, ReceiveEvidence, SubvolumeShow};

use thiserror::Error;

/// Which digest failed to parse.
#[derive(Debug, Error)]
#[error("cannot read the {side} digest")]
pub struct DigestError {
    pub side: &'static str,
    #[source]
    pub source: ParseError,
}

/// Parses both digest texts and compares them.
pub fn compare_texts(
    source: &str,
    target: &str,
    options: &CompareOptions,
) -> Result<Comparison, DigestError> {
    let s = parse(source).map_err(|e| DigestError {
        side: "source",
        source: e,
    })?;
    let t = parse(target).map_err(|e| DigestError {
        side: "target",
        source: e,
    })?;
    Ok(compare(&s, &t, options))
}
