//! A non-embedded backend (`aws` or `endpoint`) as a run uses it: its URL,
//! the credentials the profile names, what the guest's relay connects to,
//! and the tool's environment.

use super::s3_client::{S3Client, S3ClientError};
use crate::s3::backend::{tool_env, Backend, BackendError, S3Section};
use crate::s3::server::Credentials;

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
    /// The profile's remote backend with its credentials looked up (`lookup`
    /// reads a host variable); None for the embedded backend.
    pub fn from_section(
        s: &S3Section,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Remote>, BackendError> {
        let Some(url) = remote_url(s)? else {
            return Ok(None);
        };
        let (credentials, session_token) = named_credentials(s, lookup)?;
        Ok(Some(Remote {
            backend: s.backend,
            url,
            credentials,
            session_token,
        }))
    }

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

    /// The host-side client (see [`host_uses_named_credentials`]).
    pub async fn client(&self, s: &S3Section) -> Result<S3Client, S3ClientError> {
        let credentials = host_uses_named_credentials(s).then_some(&self.credentials);
        S3Client::for_remote(s, credentials).await
    }
}

/// The profile's S3 URL on a remote backend (`endpoint_url`, or AWS's from
/// the region); None for the embedded backend.
pub fn remote_url(s: &S3Section) -> Result<Option<String>, BackendError> {
    match (s.backend, &s.endpoint_url) {
        (Backend::Embedded, _) => Ok(None),
        (Backend::Endpoint, Some(u)) => Ok(Some(u.clone())),
        (Backend::Endpoint, None) => Err(BackendError::Unreachable {
            key: "endpoint_url",
            url: String::new(),
            why: "required when backend = \"endpoint\"".to_owned(),
        }),
        (Backend::Aws, _) => Ok(Some(aws_url(&s.region))),
    }
}

/// The credentials (and session token) `[s3.guest_credentials]` names.
fn named_credentials(
    s: &S3Section,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(Credentials, Option<String>), BackendError> {
    let Some(g) = &s.guest_credentials else {
        return Err(BackendError::GuestEnv(
            "(none named: [s3.guest_credentials] is missing)".to_owned(),
        ));
    };
    let get = |name: &str| lookup(name).ok_or_else(|| BackendError::GuestEnv(name.to_owned()));
    let credentials = Credentials {
        access_key_id: get(&g.access_key_id_env)?,
        secret_access_key: get(&g.secret_access_key_env)?,
    };
    Ok((
        credentials,
        g.session_token_env.as_deref().map(get).transpose()?,
    ))
}

/// The host's own client uses the named credentials on an endpoint without
/// `aws_profile`; otherwise aws-config's (the profile `aws_profile` names,
/// or on AWS the default chain).
fn host_uses_named_credentials(s: &S3Section) -> bool {
    s.aws_profile.is_none() && s.backend == Backend::Endpoint
}

/// The host-side client of a remote backend and its URL, for work without a
/// guest (`vmharness cleanup`): the named credentials are read only when the
/// host uses them. None on the embedded backend.
pub async fn host_client(
    s: &S3Section,
    lookup: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<(String, S3Client)>> {
    let Some(url) = remote_url(s)? else {
        return Ok(None);
    };
    let named = match host_uses_named_credentials(s) {
        true => Some(named_credentials(s, lookup)?.0),
        false => None,
    };
    Ok(Some((url, S3Client::for_remote(s, named.as_ref()).await?)))
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

    fn section(toml_text: &str) -> S3Section {
        toml::from_str(toml_text).expect("valid toml")
    }

    const ENDPOINT: &str = r#"
        backend = "endpoint"
        endpoint_url = "http://127.0.0.1:9000"
        [guest_credentials]
        access_key_id_env = "K"
        secret_access_key_env = "S"
    "#;

    #[test]
    fn credentials_come_from_the_named_variables() {
        let r = Remote::from_section(&section(ENDPOINT), |n| Some(format!("v-{n}")))
            .expect("ok")
            .expect("remote");
        assert_eq!(r.credentials.access_key_id, "v-K");
        assert_eq!(r.relay_upstream().as_deref(), Ok("127.0.0.1:9000"));
        let env = r.tool_env("http://10.0.2.100:9000", "us-east-1");
        assert_eq!(env.len(), 4, "{env:?}");
        assert!(env.contains(&(
            "AWS_ENDPOINT_URL_S3".into(),
            "http://10.0.2.100:9000".into()
        )));
        assert!(env.contains(&("AWS_SECRET_ACCESS_KEY".into(), "v-S".into())));
        assert_eq!(r.secrets(), ["v-S"]);
        assert_eq!(
            Remote::from_section(&section(ENDPOINT), |_| None).err(),
            Some(BackendError::GuestEnv("K".into()))
        );
        assert!(Remote::from_section(&S3Section::default(), |_| None)
            .expect("ok")
            .is_none());
    }

    #[test]
    fn aws_is_refused_for_the_guest_with_the_reason() {
        let aws = section(
            r#"
            backend = "aws"
            region = "eu-west-1"
            [guest_credentials]
            access_key_id_env = "K"
            secret_access_key_env = "S"
            "#,
        );
        let r = Remote::from_section(&aws, |_| Some("x".into()))
            .expect("ok")
            .expect("remote");
        assert_eq!(r.url, "https://s3.eu-west-1.amazonaws.com");
        let e = r.relay_upstream().unwrap_err().to_string();
        assert!(e.contains("backend = \"aws\"") && e.contains("TLS"), "{e}");
    }

    #[tokio::test]
    async fn the_host_client_reads_the_named_variables_only_when_it_uses_them() {
        let aws = section(
            r#"
            backend = "aws"
            [guest_credentials]
            access_key_id_env = "K"
            secret_access_key_env = "S"
            "#,
        );
        let (url, _) = host_client(&aws, |_| None)
            .await
            .expect("aws: aws-config's chain")
            .expect("remote");
        assert_eq!(url, "https://s3.us-east-1.amazonaws.com");
        let e = host_client(&section(ENDPOINT), |_| None).await.err();
        assert!(e.is_some_and(|e| e.to_string().contains("variable K")));
        assert!(host_client(&S3Section::default(), |_| None)
            .await
            .expect("ok")
            .is_none());
    }
}
