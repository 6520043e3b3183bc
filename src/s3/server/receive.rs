//! Receiving a write's body: Content-MD5 and the announced checksum (header
//! or trailer) verified, and the checksum fields an answer echoes.

use s3s::dto;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};

use super::blob::{self, ReceiveError, TempBlob};
use super::checksum::{self, Algorithm, StoredChecksum};
use super::service::{api, ctx_of, s3_err, Service};
use super::store::StoreError;

pub(super) struct ChecksumFields {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub kind: Option<dto::ChecksumType>,
}

pub(super) fn checksum_fields(c: Option<&StoredChecksum>) -> ChecksumFields {
    let mut f = ChecksumFields {
        crc32: None,
        crc32c: None,
        crc64nvme: None,
        sha1: None,
        sha256: None,
        kind: None,
    };
    if let Some(c) = c {
        let v = Some(c.value.clone());
        match c.algorithm {
            Algorithm::Crc32 => f.crc32 = v,
            Algorithm::Crc32c => f.crc32c = v,
            Algorithm::Crc64nvme => f.crc64nvme = v,
            Algorithm::Sha1 => f.sha1 = v,
            Algorithm::Sha256 => f.sha256 = v,
        }
        f.kind = Some(dto::ChecksumType::from(c.kind.clone()));
    }
    f
}

fn bad_digest(alg: Algorithm) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::BadDigest,
        format!(
            "The {} you specified did not match the calculated checksum.",
            alg.as_str()
        ),
    )
}

pub(super) fn receive_err(e: ReceiveError) -> S3Error {
    match e {
        ReceiveError::Body(msg) => {
            S3Error::with_message(S3ErrorCode::IncompleteBody, format!("request body: {msg}"))
        }
        ReceiveError::Disk(d) => s3_err(StoreError::Disk(d)),
    }
}

impl Service {
    /// Receive a body, verify Content-MD5 and the announced checksum
    /// (header or trailer), and return it with the checksum to store.
    pub(super) async fn receive<T>(
        &self,
        req: &S3Request<T>,
        body: Option<dto::StreamingBlob>,
        content_md5: Option<&str>,
        default_algorithm: Option<Algorithm>,
    ) -> S3Result<(TempBlob, Option<StoredChecksum>)> {
        let requested = checksum::requested(&req.headers);
        let algorithm = requested
            .as_ref()
            .map(|r| r.algorithm)
            .or(default_algorithm);
        let expected_md5 = match content_md5 {
            Some(v) => Some(checksum::content_md5_hex(v).ok_or_else(|| {
                api(
                    S3ErrorCode::InvalidDigest,
                    "The Content-MD5 you specified was invalid.",
                )
            })?),
            None => None,
        };
        let tmp = self.store.root().join("tmp");
        let blob = match body {
            Some(b) => blob::receive(&tmp, b, algorithm).await,
            None => {
                let empty: Vec<Result<bytes::Bytes, std::io::Error>> = Vec::new();
                blob::receive(&tmp, futures::stream::iter(empty), algorithm).await
            }
        }
        .map_err(receive_err)?;
        if let Some(md5) = expected_md5 {
            if md5 != blob.md5_hex {
                blob.discard();
                return Err(api(
                    S3ErrorCode::BadDigest,
                    "The Content-MD5 you specified did not match what we received.",
                ));
            }
        }
        let computed = blob.checksum.clone();
        let Some((alg, value)) = computed else {
            return Ok((blob, None));
        };
        let sent = match &requested {
            Some(r) if r.in_trailer => req
                .trailing_headers
                .as_ref()
                .and_then(|t| t.read(|h| checksum::from_trailers(h, r.algorithm)))
                .flatten(),
            Some(r) => r.header_value.clone(),
            None => None,
        };
        if let Some(ctx) = ctx_of(&req.extensions) {
            if let Some(v) = &sent {
                let label = format!("{}:{v}", alg.as_str());
                ctx.note(|r| r.checksum = Some(label));
            }
        }
        if let Some(sent) = sent {
            if sent != value {
                blob.discard();
                return Err(bad_digest(alg));
            }
        }
        Ok((blob, Some(StoredChecksum::full(alg, value))))
    }
}
