//! ListObjects (v1), ListObjectsV2 and ListObjectVersions over a bucket:
//! the pages come from [`listing::page`]; this answers them as AWS does
//! (v1's `Marker` and `NextMarker`, v2's `FetchOwner`, an empty
//! `delimiter=` as none; versions as of an unversioned bucket).

use s3s::dto;
use s3s::{S3ErrorCode, S3Result};

use super::listing::{self, Entry, Params};
use super::service::{api, quoted, ts, Service};
use super::store::Bucket;

/// The owner every object of the embedded endpoint has (one account).
fn owner() -> dto::Owner {
    dto::Owner {
        display_name: Some("vmharness".to_owned()),
        id: Some("75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a".to_owned()),
    }
}

fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        Some(n) if n < 0 => Err(api(
            S3ErrorCode::InvalidArgument,
            "max-keys must be a non-negative integer",
        )),
        Some(n) => Ok(usize::try_from(n).unwrap_or(1000).min(1000)),
        None => Ok(1000),
    }
}

/// A listing's `delimiter`: an empty one is none (as on AWS).
fn delimiter(given: Option<&str>) -> Option<&str> {
    given.filter(|d| !d.is_empty())
}

/// `encoding-type=url` applied to what a listing returns.
fn encoder(kind: Option<&dto::EncodingType>) -> impl Fn(&str) -> String {
    let url = kind.is_some_and(|e| e.as_str() == "url");
    move |s: &str| {
        if url {
            listing::url_encode(s)
        } else {
            s.to_owned()
        }
    }
}

/// One page: objects, common prefixes and the token of the last entry.
struct Listed {
    contents: Vec<dto::Object>,
    prefixes: Vec<dto::CommonPrefix>,
    next: Option<String>,
}

struct PageOf<'a> {
    prefix: &'a str,
    delimiter: Option<&'a str>,
    after: Option<String>,
    max: usize,
    owner: bool,
}

fn list_page(bucket: &Bucket, q: PageOf<'_>, enc: &dyn Fn(&str) -> String) -> Listed {
    let start = match &q.after {
        Some(a) if a.as_str() > q.prefix => a.clone(),
        _ => q.prefix.to_owned(),
    };
    let prefix = q.prefix;
    bucket.scan(&start, |it| {
        let mut metas = std::collections::HashMap::new();
        let keys = it.take_while(|(k, _)| k.starts_with(prefix)).map(|(k, m)| {
            metas.insert(k.as_str(), m.clone());
            k.as_str()
        });
        let page = listing::page(
            keys,
            &Params {
                prefix,
                delimiter: q.delimiter,
                after: q.after.clone(),
                max: q.max,
            },
        );
        let mut contents = Vec::new();
        let mut prefixes = Vec::new();
        for e in page.entries {
            match e {
                Entry::Key(k) => {
                    if let Some(m) = metas.get(k) {
                        contents.push(dto::Object {
                            key: Some(enc(k)),
                            size: i64::try_from(m.size).ok(),
                            e_tag: Some(quoted(&m.etag)),
                            last_modified: Some(ts(m.last_modified_ms)),
                            storage_class: Some(dto::ObjectStorageClass::from(
                                m.attrs.storage_class.clone(),
                            )),
                            checksum_algorithm: m.checksum.as_ref().map(|c| {
                                vec![dto::ChecksumAlgorithm::from(
                                    c.algorithm.as_str().to_owned(),
                                )]
                            }),
                            checksum_type: m
                                .checksum
                                .as_ref()
                                .map(|c| dto::ChecksumType::from(c.kind.clone())),
                            owner: q.owner.then(owner),
                            ..Default::default()
                        });
                    }
                }
                Entry::CommonPrefix(p) => prefixes.push(dto::CommonPrefix {
                    prefix: Some(enc(&p)),
                }),
            }
        }
        Listed {
            contents,
            prefixes,
            next: page.next_token,
        }
    })
}

/// What every listing asks, read from its input.
struct Asked<'a> {
    bucket: &'a str,
    max_keys: Option<i32>,
    prefix: Option<&'a str>,
    delimiter: Option<&'a str>,
    encoding: Option<&'a dto::EncodingType>,
    /// The key the page starts after (a marker, token or start-after).
    after: Option<String>,
    owner: bool,
}

/// A listing's page with what its answer repeats of the question.
struct Answered {
    max: usize,
    prefix: String,
    delimiter: Option<String>,
    enc: Box<dyn Fn(&str) -> String>,
    listed: Listed,
}

/// The `MaxKeys` an answer repeats.
fn answered_max(max: usize) -> Option<i32> {
    Some(i32::try_from(max).unwrap_or(1000))
}

impl Service {
    /// List the page a listing asks for.
    fn list(&self, a: Asked<'_>) -> S3Result<Answered> {
        let bucket = self.bucket(a.bucket)?;
        let max = max_keys(a.max_keys)?;
        let prefix = a.prefix.unwrap_or_default().to_owned();
        let delimiter = delimiter(a.delimiter);
        let enc = encoder(a.encoding);
        let page = PageOf {
            prefix: &prefix,
            delimiter,
            after: a.after,
            max,
            owner: a.owner,
        };
        let listed = list_page(&bucket, page, &enc);
        Ok(Answered {
            max,
            delimiter: delimiter.map(str::to_owned),
            prefix,
            enc: Box::new(enc),
            listed,
        })
    }

    pub(super) fn list_v2(
        &self,
        input: &dto::ListObjectsV2Input,
    ) -> S3Result<dto::ListObjectsV2Output> {
        let token_after = match input.continuation_token.as_deref() {
            Some(t) => Some(listing::decode_token(t).ok_or_else(|| {
                api(
                    S3ErrorCode::InvalidArgument,
                    "The continuation token provided is incorrect",
                )
            })?),
            None => None,
        };
        let after = match (token_after, input.start_after.clone()) {
            (Some(t), Some(s)) => Some(t.max(s)),
            (t, s) => t.or(s),
        };
        let a = self.list(Asked {
            bucket: &input.bucket,
            max_keys: input.max_keys,
            prefix: input.prefix.as_deref(),
            delimiter: input.delimiter.as_deref(),
            encoding: input.encoding_type.as_ref(),
            after,
            owner: input.fetch_owner == Some(true),
        })?;
        let Answered {
            max,
            prefix,
            delimiter,
            enc,
            listed:
                Listed {
                    contents,
                    prefixes,
                    next,
                },
        } = a;
        Ok(dto::ListObjectsV2Output {
            name: Some(input.bucket.clone()),
            prefix: Some(enc(&prefix)),
            delimiter: delimiter.as_deref().map(&enc),
            max_keys: answered_max(max),
            key_count: i32::try_from(contents.len() + prefixes.len()).ok(),
            continuation_token: input.continuation_token.clone(),
            start_after: input.start_after.as_deref().map(&enc),
            is_truncated: Some(next.is_some()),
            next_continuation_token: next,
            encoding_type: input.encoding_type.clone(),
            contents: Some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            ..Default::default()
        })
    }

    /// ListObjects (v1): resumes after `Marker`; `NextMarker` (the last
    /// key or common prefix) only when truncated and a delimiter was given,
    /// as on AWS (without one, clients resume after the last key); every
    /// object with its `Owner`.
    pub(super) fn list_v1(
        &self,
        input: &dto::ListObjectsInput,
    ) -> S3Result<dto::ListObjectsOutput> {
        let Answered {
            max,
            prefix,
            delimiter,
            enc,
            listed:
                Listed {
                    contents,
                    prefixes,
                    next,
                },
        } = self.list(Asked {
            bucket: &input.bucket,
            max_keys: input.max_keys,
            prefix: input.prefix.as_deref(),
            delimiter: input.delimiter.as_deref(),
            encoding: input.encoding_type.as_ref(),
            after: input.marker.clone().filter(|m| !m.is_empty()),
            owner: true,
        })?;
        let next_marker = next
            .as_deref()
            .and_then(listing::decode_token)
            .filter(|_| delimiter.is_some())
            .map(|m| enc(&m));
        Ok(dto::ListObjectsOutput {
            name: Some(input.bucket.clone()),
            prefix: Some(enc(&prefix)),
            delimiter: delimiter.as_deref().map(&enc),
            marker: input.marker.as_deref().map(&enc),
            max_keys: answered_max(max),
            is_truncated: Some(next.is_some()),
            next_marker,
            encoding_type: input.encoding_type.clone(),
            contents: Some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            ..Default::default()
        })
    }

    /// ListObjectVersions as AWS answers it for a bucket that never had
    /// versioning: every object is its only version, `VersionId` "null",
    /// `IsLatest` true; no delete markers. Pages resume after `KeyMarker`.
    pub(super) fn list_versions(
        &self,
        input: &dto::ListObjectVersionsInput,
    ) -> S3Result<dto::ListObjectVersionsOutput> {
        let Answered {
            max,
            prefix,
            delimiter,
            enc,
            listed:
                Listed {
                    contents,
                    prefixes,
                    next,
                },
        } = self.list(Asked {
            bucket: &input.bucket,
            max_keys: input.max_keys,
            prefix: input.prefix.as_deref(),
            delimiter: input.delimiter.as_deref(),
            encoding: input.encoding_type.as_ref(),
            after: input.key_marker.clone().filter(|m| !m.is_empty()),
            owner: true,
        })?;
        let versions = contents
            .into_iter()
            .map(|o| dto::ObjectVersion {
                key: o.key,
                size: o.size,
                e_tag: o.e_tag,
                last_modified: o.last_modified,
                storage_class: o
                    .storage_class
                    .map(|c| dto::ObjectVersionStorageClass::from(c.as_str().to_owned())),
                checksum_algorithm: o.checksum_algorithm,
                checksum_type: o.checksum_type,
                owner: o.owner,
                is_latest: Some(true),
                version_id: Some("null".to_owned()),
                ..Default::default()
            })
            .collect();
        let next_key_marker = next.as_deref().and_then(listing::decode_token);
        Ok(dto::ListObjectVersionsOutput {
            name: Some(input.bucket.clone()),
            prefix: Some(enc(&prefix)),
            delimiter: delimiter.as_deref().map(&enc),
            key_marker: Some(input.key_marker.as_deref().map(&enc).unwrap_or_default()),
            version_id_marker: Some(input.version_id_marker.clone().unwrap_or_default()),
            max_keys: answered_max(max),
            is_truncated: Some(next.is_some()),
            next_version_id_marker: next_key_marker.as_ref().map(|_| "null".to_owned()),
            next_key_marker: next_key_marker.map(|m| enc(&m)),
            encoding_type: input.encoding_type.clone(),
            versions: Some(versions),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            ..Default::default()
        })
    }
}
