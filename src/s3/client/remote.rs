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
    /// PEM file of the only CAs to trust (`[s3] ca_bundle`); None: the
    /// system's.
    pub ca_bundle: Option<std::path::PathBuf>,
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
    /// How the guest reaches this backend (see [`Route`]); `bucket` and
    /// `region` name AWS's hosts.
    pub fn route(&self, bucket: &str, region: &str) -> Result<Route, BackendError> {
        if self.backend == Backend::Aws {
            return Ok(Route::Proxy {
                allow: aws_hosts(bucket, region)
                    .into_iter()
                    .map(|h| (h, 443))
                    .collect(),
                url: None,
            });
        }
        let unreachable = |why: String| BackendError::Unreachable {
            key: "endpoint_url",
            url: self.url.clone(),
            why,
        };
        let (scheme, host, port) = split_url(&self.url).map_err(unreachable)?;
        Ok(match scheme {
            Scheme::Http => Route::Relay(format!("{host}:{port}")),
            Scheme::Https => Route::Proxy {
                allow: vec![(host.to_ascii_lowercase(), port)],
                url: Some(self.url.clone()),
            },
        })
    }

    /// The tool's environment: the guest's view of the URL (None: the
    /// tool's default, AWS), the named credentials and the region, nothing
    /// else.
    pub fn tool_env(&self, guest_url: Option<&str>, region: &str) -> Vec<(String, String)> {
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

/// How the guest reaches a remote backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// An `http://` endpoint: plain HTTP to the guest's fixed S3 address,
    /// relayed to this HOST:PORT.
    Relay(String),
    /// https (an endpoint's `https://` URL, or AWS): the tool connects
    /// through the egress proxy, which lets only these (host, port) pairs
    /// through (names resolved on the host). `url` is the tool's
    /// `AWS_ENDPOINT_URL_S3`; None on AWS (the tool's own default).
    Proxy {
        allow: Vec<(String, u16)>,
        url: Option<String>,
    },
}

/// AWS's S3 URL for `region`.
pub fn aws_url(region: &str) -> String {
    format!("https://s3.{region}.amazonaws.com")
}

/// The host names a client of `bucket` in `region` uses: the regional
/// endpoint path-style and virtual-hosted, and in us-east-1 also the
/// global ones (boto3's default there).
pub fn aws_hosts(bucket: &str, region: &str) -> Vec<String> {
    aws_domains(region)
        .into_iter()
        .flat_map(|d| [d.clone(), format!("{bucket}.{d}")])
        .collect()
}

/// AWS's S3 domains for `region` (whose subdomains are buckets).
pub fn aws_domains(region: &str) -> Vec<String> {
    let mut domains = vec![format!("s3.{region}.amazonaws.com")];
    if region == "us-east-1" {
        domains.push("s3.amazonaws.com".to_owned());
    }
    domains
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

/// Scheme, host and port of an `http(s)://host[:port][/]` URL, or why the
/// guest cannot be given it (its URL has no path or query).
fn split_url(url: &str) -> Result<(Scheme, String, u16), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let (scheme, default_port) = match uri.scheme_str() {
        Some("http") => (Scheme::Http, 80),
        Some("https") => (Scheme::Https, 443),
        other => {
            return Err(format!(
                "unsupported scheme {other:?}; use http:// or https://"
            ))
        }
    };
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err("the URL must not have a path or query (the guest's URL has none)".to_owned());
    }
    let host = uri.host().ok_or("the URL has no host")?;
    Ok((
        scheme,
        host.to_owned(),
        uri.port_u16().unwrap_or(default_port),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str) -> Remote {
        Remote {
            backend: Backend::Endpoint,
            url: url.to_owned(),
            credentials: Credentials {
                access_key_id: "k".into(),
                secret_access_key: "s".into(),
            },
            session_token: None,
        }
    }

    #[test]
    fn http_endpoints_are_relayed_and_https_ones_go_through_the_proxy() {
        let route = |u: &str| endpoint(u).route("b", "us-east-1");
        assert_eq!(
            route("http://127.0.0.1:9000"),
            Ok(Route::Relay("127.0.0.1:9000".into()))
        );
        assert_eq!(
            route("http://minio.lan/"),
            Ok(Route::Relay("minio.lan:80".into()))
        );
        assert_eq!(
            route("https://MinIO.lan:9443"),
            Ok(Route::Proxy {
                allow: vec![("minio.lan".into(), 9443)],
                url: Some("https://MinIO.lan:9443".into())
            })
        );
        assert_eq!(
            route("https://s3.example.com"),
            Ok(Route::Proxy {
                allow: vec![("s3.example.com".into(), 443)],
                url: Some("https://s3.example.com".into())
            })
        );
        let e = route("http://h:1/bucket").unwrap_err().to_string();
        assert!(e.contains("endpoint_url") && e.contains("path"), "{e}");
        assert!(route("ftp://h").unwrap_err().to_string().contains("scheme"));
    }

    #[test]
    fn aws_goes_through_the_proxy_to_the_buckets_names_only() {
        let aws = Remote {
            backend: Backend::Aws,
            url: aws_url("eu-west-1"),
            ..endpoint("")
        };
        assert_eq!(
            aws.route("vmh", "eu-west-1"),
            Ok(Route::Proxy {
                allow: vec![
                    ("s3.eu-west-1.amazonaws.com".into(), 443),
                    ("vmh.s3.eu-west-1.amazonaws.com".into(), 443)
                ],
                url: None
            })
        );
        assert_eq!(
            aws_hosts("b", "us-east-1"),
            [
                "s3.us-east-1.amazonaws.com",
                "b.s3.us-east-1.amazonaws.com",
                "s3.amazonaws.com",
                "b.s3.amazonaws.com"
            ]
        );
        let env = aws.tool_env(None, "eu-west-1");
        assert!(
            env.iter().all(|(k, _)| k != "AWS_ENDPOINT_URL_S3"),
            "{env:?}"
        );
        assert!(env.contains(&("AWS_DEFAULT_REGION".into(), "eu-west-1".into())));
    }
}
