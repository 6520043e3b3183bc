//! A non-embedded backend (`aws` or `endpoint`) as a run uses it: its URL,
//! the credentials the profile names, what the guest's relay connects to,
//! and the tool's environment. `crate::plan::s3` builds one from the
//! profile's `[s3]`.

use crate::s3::server::{tool_env, Credentials};
use crate::s3::Backend;

/// Why a remote backend cannot be used as the profile names it.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BackendError {
    #[error("[s3.guest_credentials] environment variable {0} is not set on the host")]
    GuestEnv(String),
    #[error("[s3] {key} {url:?}: {why}")]
    Unreachable {
        key: &'static str,
        url: String,
        why: String,
    },
}

/// How the host's SDK client reaches a remote backend.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    pub backend: Backend,
    pub bucket: String,
    pub region: String,
    /// The S3-compatible URL (`backend = "endpoint"`); AWS's is the SDK's.
    pub endpoint_url: Option<String>,
    /// The aws-config profile of the host's credentials.
    pub aws_profile: Option<String>,
    /// None: path-style on an endpoint, virtual-hosted on AWS.
    pub force_path_style: Option<bool>,
}

/// An S3 the harness does not serve itself.
pub struct Remote {
    pub backend: Backend,
    /// `endpoint_url`, or AWS's regional URL.
    pub url: String,
    /// The credentials of `[s3.guest_credentials]`, read from the host.
    pub credentials: Credentials,
    pub session_token: Option<String>,
}

impl Remote {
    /// HOST:PORT the guest's relay connects to. The guest speaks plain HTTP
    /// to a fixed address, so only an `http://` URL without a path can be
    /// relayed: TLS would need the real host name, which the guest cannot
    /// resolve (its network reaches nothing but the relay).
    pub fn relay_upstream(&self) -> Result<String, BackendError> {
        let key = match self.backend {
            Backend::Aws => "backend = \"aws\" (URL from region)",
            _ => "endpoint_url",
        };
        relay_upstream(&self.url).map_err(|why| BackendError::Unreachable {
            key,
            url: self.url.clone(),
            why,
        })
    }

    /// The tool's environment: the guest's view of the URL, the named
    /// credentials and the region, nothing else.
    pub fn tool_env(&self, guest_url: &str, region: &str) -> Vec<(String, String)> {
        tool_env(
            guest_url,
            &self.credentials,
            self.session_token.as_deref(),
            region,
        )
    }

    /// Values to redact from logs.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = vec![self.credentials.secret_access_key.clone()];
        out.extend(self.session_token.clone());
        out
    }
}

/// AWS's S3 URL for `region`.
pub fn aws_url(region: &str) -> String {
    format!("https://s3.{region}.amazonaws.com")
}

/// HOST:PORT of an `http://host[:port][/]` URL, or why the guest cannot
/// reach it through the relay.
pub fn relay_upstream(url: &str) -> Result<String, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(
                "the guest reaches S3 only through vmharness's relay, as plain HTTP \
                 to a fixed address: an https:// endpoint needs TLS to its real host name, \
                 which the guest cannot resolve. Use an http:// S3-compatible endpoint \
                 (backend = \"endpoint\") or backend = \"embedded\""
                    .to_owned(),
            )
        }
        other => return Err(format!("unsupported scheme {other:?}; use http://")),
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err("the URL must not have a path or query (the guest's URL has none)".to_owned());
    }
    let host = uri.host().ok_or("the URL has no host")?;
    Ok(format!("{host}:{}", uri.port_u16().unwrap_or(80)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_upstream_of_http_urls() {
        assert_eq!(
            relay_upstream("http://127.0.0.1:9000").as_deref(),
            Ok("127.0.0.1:9000")
        );
        assert_eq!(
            relay_upstream("http://minio.lan/").as_deref(),
            Ok("minio.lan:80")
        );
        assert!(relay_upstream("https://s3.eu-west-1.amazonaws.com")
            .unwrap_err()
            .contains("TLS"));
        assert!(relay_upstream("http://h:1/bucket")
            .unwrap_err()
            .contains("path"));
        assert!(relay_upstream("ftp://h").unwrap_err().contains("scheme"));
    }
}
