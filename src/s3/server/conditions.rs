//! Conditional requests as S3 judges them: a GET's and a HEAD's read
//! conditions, CopyObject's `x-amz-copy-source-if-*` (the same judge: what
//! a read answers with 304, a copy refuses with 412) and a write's
//! `If-Match` / `If-None-Match`.

use s3s::dto::{self, Timestamp};
use s3s::{S3Error, S3ErrorCode, S3Result};
use time::OffsetDateTime;

use super::service::{api, quoted, s3_err};
use super::store::{ObjectMeta, StoreError, WriteCondition};

/// The conditional headers of a GET's or HEAD's input.
macro_rules! read_conditions {
    ($input:expr) => {
        $crate::s3::server::conditions::ReadConditions {
            if_match: $input.if_match.as_ref(),
            if_none_match: $input.if_none_match.as_ref(),
            if_modified_since: $input.if_modified_since.as_ref(),
            if_unmodified_since: $input.if_unmodified_since.as_ref(),
        }
    };
}
pub(super) use read_conditions;

/// A read's conditional headers (GET, HEAD, a copy's source).
pub(super) struct ReadConditions<'a> {
    pub if_match: Option<&'a dto::ETagCondition>,
    pub if_none_match: Option<&'a dto::ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

/// The conditions on a copy's source (`x-amz-copy-source-if-*`) of a
/// CopyObject's or an UploadPartCopy's input.
macro_rules! copy_source_conditions {
    ($input:expr) => {
        $crate::s3::server::conditions::ReadConditions {
            if_match: $input.copy_source_if_match.as_ref(),
            if_none_match: $input.copy_source_if_none_match.as_ref(),
            if_modified_since: $input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: $input.copy_source_if_unmodified_since.as_ref(),
        }
    };
}
pub(super) use copy_source_conditions;

/// What the conditions say of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Holds,
    /// `If-Match`, else `If-Unmodified-Since`, fails.
    Failed,
    /// `If-None-Match`, else `If-Modified-Since`, finds it unchanged.
    Unchanged,
}

/// Judge conditions as S3 does (RFC 7232's order): `If-Match`, else
/// `If-Unmodified-Since`; then `If-None-Match`, else `If-Modified-Since`.
/// Dates compare in whole seconds (what `Last-Modified` shows).
fn verdict(meta: &ObjectMeta, c: &ReadConditions<'_>) -> Verdict {
    let etag = quoted(&meta.etag);
    let hit = |cond: &dto::ETagCondition| match cond {
        dto::ETagCondition::Any => true,
        dto::ETagCondition::ETag(e) => e.value() == etag.value(),
    };
    let secs = |t: &Timestamp| OffsetDateTime::from(t.clone()).unix_timestamp();
    let modified = meta.last_modified_ms.div_euclid(1000);
    let holds = match (c.if_match, c.if_unmodified_since) {
        (Some(cond), _) => hit(cond),
        (None, Some(t)) => modified <= secs(t),
        (None, None) => true,
    };
    if !holds {
        return Verdict::Failed;
    }
    let unchanged = match (c.if_none_match, c.if_modified_since) {
        (Some(cond), _) => hit(cond),
        (None, Some(t)) => modified <= secs(t),
        (None, None) => false,
    };
    if unchanged {
        Verdict::Unchanged
    } else {
        Verdict::Holds
    }
}

/// A GET's or HEAD's conditions: 412 when they fail, 304 when unchanged.
pub(super) fn check_read(meta: &ObjectMeta, c: &ReadConditions<'_>) -> S3Result<()> {
    match verdict(meta, c) {
        Verdict::Holds => Ok(()),
        Verdict::Failed => Err(s3_err(StoreError::precondition_failed())),
        Verdict::Unchanged => Err(S3Error::with_message(
            S3ErrorCode::NotModified,
            "Not Modified",
        )),
    }
}

/// A copy's conditions on its source: 412 whenever a read would not
/// answer 200 (AWS: if-match true and if-unmodified-since false copies;
/// if-none-match false and if-modified-since true refuses).
pub(super) fn check_copy(meta: &ObjectMeta, c: &ReadConditions<'_>) -> S3Result<()> {
    match verdict(meta, c) {
        Verdict::Holds => Ok(()),
        Verdict::Failed | Verdict::Unchanged => Err(s3_err(StoreError::precondition_failed())),
    }
}

/// A write's conditional headers (PutObject, CompleteMultipartUpload) as
/// the store judges them: `If-None-Match` takes only `*` (as on AWS).
pub(super) fn write_condition(
    if_match: Option<&dto::ETagCondition>,
    if_none_match: Option<&dto::ETagCondition>,
) -> S3Result<WriteCondition> {
    let absent = match if_none_match {
        None => false,
        Some(dto::ETagCondition::Any) => true,
        Some(dto::ETagCondition::ETag(_)) => {
            return Err(api(
                S3ErrorCode::NotImplemented,
                "A header you provided implies functionality that is not implemented",
            ))
        }
    };
    let matches = if_match.map(|c| match c {
        dto::ETagCondition::Any => None,
        dto::ETagCondition::ETag(e) => Some(e.value().to_owned()),
    });
    Ok(WriteCondition { absent, matches })
}
