//! S3 additional checksums (CRC32, CRC32C, CRC64NVME, SHA1, SHA256).
//!
//! boto3 >= 1.36 and the Rust SDK send one of these on every upload, as a
//! header or as an aws-chunked trailer. The endpoint recomputes the value,
//! rejects a mismatch with `BadDigest` and echoes it back as AWS does.

use base64::Engine as _;
use http::HeaderMap;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Md5, Sha1, Sha256};
use serde::{Deserialize, Serialize};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One of the checksum algorithms S3 knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Algorithm {
    Crc32,
    Crc32c,
    Crc64nvme,
    Sha1,
    Sha256,
}

impl Algorithm {
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Crc32,
        Algorithm::Crc32c,
        Algorithm::Crc64nvme,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    /// The name S3 uses in `x-amz-checksum-algorithm` and XML.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// The request/response header carrying this checksum.
    pub fn header_name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// CRC checksums can be combined into a full-object value for multipart
    /// uploads; SHA ones only as composite (checksum of checksums).
    pub fn is_crc(self) -> bool {
        matches!(
            self,
            Algorithm::Crc32 | Algorithm::Crc32c | Algorithm::Crc64nvme
        )
    }
}

/// A checksum value as stored with an object or a part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChecksum {
    pub algorithm: Algorithm,
    /// Base64 of the digest; composite values end in `-N`.
    pub value: String,
    /// `FULL_OBJECT` or `COMPOSITE`.
    pub kind: String,
}

impl StoredChecksum {
    pub fn full(algorithm: Algorithm, value: String) -> Self {
        StoredChecksum {
            algorithm,
            value,
            kind: "FULL_OBJECT".to_owned(),
        }
    }
}

/// Running digest for one algorithm.
pub enum Hasher {
    Crc32(Crc32),
    Crc32c(Crc32c),
    Crc64nvme(Crc64Nvme),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Crc32 => Hasher::Crc32(Crc32::new()),
            Algorithm::Crc32c => Hasher::Crc32c(Crc32c::new()),
            Algorithm::Crc64nvme => Hasher::Crc64nvme(Crc64Nvme::new()),
            Algorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc32(h) => h.update(data),
            Hasher::Crc32c(h) => h.update(data),
            Hasher::Crc64nvme(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// Raw digest bytes.
    pub fn finalize_raw(self) -> Vec<u8> {
        match self {
            Hasher::Crc32(h) => h.finalize().as_ref().to_vec(),
            Hasher::Crc32c(h) => h.finalize().as_ref().to_vec(),
            Hasher::Crc64nvme(h) => h.finalize().as_ref().to_vec(),
            Hasher::Sha1(h) => h.finalize().as_ref().to_vec(),
            Hasher::Sha256(h) => h.finalize().as_ref().to_vec(),
        }
    }

    pub fn finalize_base64(self) -> String {
        B64.encode(self.finalize_raw())
    }
}

/// MD5 in lowercase hex (the ETag of a single-part object).
pub fn md5_hex_of_digest(digest: &[u8]) -> String {
    hex::encode(digest)
}

pub fn new_md5() -> Md5 {
    Md5::new()
}

pub fn finalize_md5(md5: Md5) -> Vec<u8> {
    md5.finalize().as_ref().to_vec()
}

/// Which checksum the client asked for, and the value it sent if it came in
/// a header. A value in a trailer is only known after the body was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    pub algorithm: Algorithm,
    pub header_value: Option<String>,
    pub in_trailer: bool,
}

/// Find the checksum a request announces: an `x-amz-checksum-*` header, an
/// `x-amz-trailer` naming one, or `x-amz-sdk-checksum-algorithm` /
/// `x-amz-checksum-algorithm` alone (then we compute and echo it).
pub fn requested(headers: &HeaderMap) -> Option<Requested> {
    for algorithm in Algorithm::ALL {
        if let Some(v) = headers
            .get(algorithm.header_name())
            .and_then(|v| v.to_str().ok())
        {
            return Some(Requested {
                algorithm,
                header_value: Some(v.trim().to_owned()),
                in_trailer: false,
            });
        }
    }
    if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
        for name in trailer.split(',').map(str::trim) {
            if let Some(algorithm) = Algorithm::ALL
                .into_iter()
                .find(|a| a.header_name().eq_ignore_ascii_case(name))
            {
                return Some(Requested {
                    algorithm,
                    header_value: None,
                    in_trailer: true,
                });
            }
        }
    }
    for name in ["x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"] {
        if let Some(algorithm) = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(Algorithm::parse)
        {
            return Some(Requested {
                algorithm,
                header_value: None,
                in_trailer: false,
            });
        }
    }
    None
}

/// The value of `algorithm` in trailing headers, if present.
pub fn from_trailers(trailers: &HeaderMap, algorithm: Algorithm) -> Option<String> {
    trailers
        .get(algorithm.header_name())
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
}

/// Composite checksum of a multipart upload: the checksum of the
/// concatenated raw part checksums, suffixed with `-N`.
pub fn composite(algorithm: Algorithm, part_values_b64: &[String]) -> Option<String> {
    let mut hasher = Hasher::new(algorithm);
    for value in part_values_b64 {
        let raw = B64.decode(value).ok()?;
        hasher.update(&raw);
    }
    Some(format!(
        "{}-{}",
        hasher.finalize_base64(),
        part_values_b64.len()
    ))
}

/// The ETag of a multipart object: MD5 of the concatenated binary part MD5s,
/// then `-N`.
pub fn multipart_etag(part_md5s_hex: &[String]) -> Option<String> {
    let mut md5 = new_md5();
    for part in part_md5s_hex {
        let raw = hex::decode(part).ok()?;
        md5.update(&raw);
    }
    Some(format!(
        "{}-{}",
        hex::encode(finalize_md5(md5)),
        part_md5s_hex.len()
    ))
}

/// Decode a base64 Content-MD5 header into hex, or None if malformed.
pub fn content_md5_hex(b64: &str) -> Option<String> {
    let raw = B64.decode(b64.trim()).ok()?;
    (raw.len() == 16).then(|| hex::encode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_of_known_input() {
        let mut h = Hasher::new(Algorithm::Crc32);
        h.update(b"hello world");
        // crc32("hello world") = 0x0d4a1185
        assert_eq!(h.finalize_base64(), B64.encode([0x0d, 0x4a, 0x11, 0x85]));
    }

    #[test]
    fn multipart_etag_matches_aws_rule() {
        let a = hex::encode(finalize_md5({
            let mut m = new_md5();
            m.update(b"a");
            m
        }));
        let b = hex::encode(finalize_md5({
            let mut m = new_md5();
            m.update(b"b");
            m
        }));
        let etag = multipart_etag(&[a.clone(), b.clone()]).expect("valid hex");
        let mut m = new_md5();
        m.update(&hex::decode(a).expect("hex"));
        m.update(&hex::decode(b).expect("hex"));
        assert_eq!(etag, format!("{}-2", hex::encode(finalize_md5(m))));
    }

    #[test]
    fn requested_prefers_header_then_trailer() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-trailer",
            "x-amz-checksum-crc32".parse().expect("header"),
        );
        let r = requested(&h).expect("trailer checksum");
        assert_eq!(r.algorithm, Algorithm::Crc32);
        assert!(r.in_trailer);
        h.insert("x-amz-checksum-sha256", "abc=".parse().expect("header"));
        let r = requested(&h).expect("header checksum");
        assert_eq!(r.algorithm, Algorithm::Sha256);
        assert_eq!(r.header_value.as_deref(), Some("abc="));
    }

    #[test]
    fn content_md5_rejects_garbage() {
        assert!(content_md5_hex("not base64!").is_none());
        assert_eq!(
            content_md5_hex("XrY7u+Ae7tCTyyK7j1rNww==").as_deref(),
            Some("5eb63bbbe01eeed093cb22bb8f5acdc3")
        );
    }
}
