//! What every answer of the endpoint carries, as on AWS: a request id in
//! `x-amz-request-id` and a host id in `x-amz-id-2`, on successes and
//! errors alike, and in an XML error body `<Resource>`, `<RequestId>` and
//! `<HostId>` after the code and message. Applied in the HTTP layer to the
//! finished response, so errors s3s makes itself (signature, routing) get
//! them as well.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use base64::Engine as _;
use bytes::Bytes;
use sha2::{Digest as _, Sha256};

/// One request's identity: `x-amz-request-id` and `x-amz-id-2`.
pub(crate) struct RequestId {
    pub id: String,
    pub host_id: String,
}

impl RequestId {
    /// A fresh id: 16 upper-case hex digits like AWS's, a per-process random
    /// half and a counter half, so no two requests of a process share one.
    pub fn next() -> RequestId {
        static SALT: OnceLock<u32> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let salt = *SALT.get_or_init(rand::random::<u32>);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let id = format!("{salt:08X}{:08X}", n & 0xFFFF_FFFF);
        let host_id = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&id));
        RequestId { id, host_id }
    }

    /// Put both ids in the response headers.
    pub fn stamp(&self, headers: &mut http::HeaderMap) {
        for (name, value) in [
            ("x-amz-request-id", &self.id),
            ("x-amz-id-2", &self.host_id),
        ] {
            if let Ok(v) = http::HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        }
    }

    /// The XML error body `body` with `<Resource>` (the request path),
    /// `<RequestId>` and `<HostId>` added before `</Error>` where missing;
    /// None when `body` is not an S3 error document.
    pub fn error_body(&self, body: &[u8], resource: &str) -> Option<Bytes> {
        let text = std::str::from_utf8(body).ok()?;
        let end = text.rfind("</Error>")?;
        let mut out = String::with_capacity(text.len() + 160);
        out.push_str(&text[..end]);
        for (tag, value) in [
            ("Resource", resource),
            ("RequestId", self.id.as_str()),
            ("HostId", self.host_id.as_str()),
        ] {
            if !text.contains(&format!("<{tag}>")) {
                out.push_str(&format!("<{tag}>{}</{tag}>", xml_escape(value)));
            }
        }
        out.push_str(&text[end..]);
        Some(Bytes::from(out))
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::RequestId;

    #[test]
    fn ids_are_unique_and_aws_shaped() {
        let (a, b) = (RequestId::next(), RequestId::next());
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), 16);
        assert!(a.id.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!a.host_id.is_empty());
    }

    #[test]
    fn error_body_gains_resource_request_and_host_id() {
        let id = RequestId::next();
        let xml =
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>m</Message></Error>";
        let out = id.error_body(xml, "/b/k&1").expect("an error document");
        let out = std::str::from_utf8(&out).expect("utf-8");
        let want = format!(
            "<Message>m</Message><Resource>/b/k&amp;1</Resource><RequestId>{}</RequestId><HostId>{}</HostId></Error>",
            id.id, id.host_id
        );
        assert!(out.ends_with(&want), "{out}");
        assert!(id.error_body(b"not xml", "/").is_none());
    }
}
