//! From the profile's `[s3]` section to what `crate::s3` runs: the embedded
//! endpoint's [`EndpointConfig`], or a [`Remote`] backend with the
//! credentials the profile names and the host's client of it. The profile
//! is read here, above `s3/`, so that nothing in `s3/` knows the profile.
//! (The section itself, its keys and their checks: `crate::profile::s3`.)

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::net::egress::EgressConfig;
use crate::net::pki::{PkiError, RunPki, S3_TLS_NAME};
use crate::s3::server::EndpointTls;

use crate::profile::s3::S3Section;
use crate::s3::client::remote::{aws_url, BackendError, Remote, RemoteConfig};
use crate::s3::server::endpoint::{Credentials, EndpointConfig, MIN_PART_SIZE};
use crate::s3::{Backend, S3Client, S3ClientError};

/// Endpoint configuration for the embedded backend; store in `dir`.
pub fn endpoint_config(s: &S3Section, dir: &Path) -> EndpointConfig {
    let mut cfg = EndpointConfig::new(dir);
    cfg.bucket = s.bucket.clone();
    cfg.region = s.region.clone();
    cfg.port = s.embedded.port.unwrap_or(0);
    cfg.min_part_size = s.embedded.min_part_size.unwrap_or(MIN_PART_SIZE);
    cfg.restore_delay = Duration::from_secs(s.restore_delay_secs);
    cfg.faults = s.faults.clone();
    cfg
}

/// `[s3] transport = "https-proxy"`: the guest's S3 URL (port 443 through
/// the proxy, never resolved in the guest).
pub fn guest_tls_url() -> String {
    format!("https://{S3_TLS_NAME}")
}

/// Where the run's CA certificate is put in the guest (on the root disk,
/// so it survives a reboot of the guest).
pub const GUEST_CA_PATH: &str = "/etc/vmharness/s3-ca.pem";
/// The run's CA certificate in the run directory.
pub const CA_FILE: &str = "s3-ca.pem";
/// The egress proxy's record of every CONNECT, in the run directory.
pub const EGRESS_FILE: &str = "egress.jsonl";

/// How the embedded endpoint serves https with `pki`'s certificate; the
/// host's client reaches it as `name`.
pub fn endpoint_tls(pki: &RunPki, name: &str) -> Result<EndpointTls, PkiError> {
    Ok(EndpointTls {
        server: pki.server_config()?,
        name: name.to_owned(),
        ca_pem: pki.ca_pem().to_owned(),
    })
}

/// The egress proxy of a run over https: only the `allow` (host, port)
/// pairs, each sent to `to` when given (the embedded endpoint's https
/// port) or else to the name resolved on the host; every CONNECT recorded
/// in `record_file`.
pub fn egress_config(
    allow: &[(String, u16)],
    to: Option<SocketAddr>,
    record_file: PathBuf,
) -> EgressConfig {
    let cfg = EgressConfig {
        record_file: Some(record_file),
        ..EgressConfig::default()
    };
    allow.iter().fold(cfg, |cfg, (host, port)| {
        let cfg = cfg.allow(host, *port);
        match to {
            Some(addr) => cfg.map(host, *port, addr),
            None => cfg,
        }
    })
}

/// The embedded endpoint's one https name and port, for [`egress_config`].
pub fn embedded_tls_target() -> Vec<(String, u16)> {
    vec![(S3_TLS_NAME.to_owned(), 443)]
}

/// What the tool needs besides the endpoint's own variables to go through
/// the proxy at `proxy_url`, trusting only the CAs at [`GUEST_CA_PATH`]
/// when `own_ca` (else its default CAs).
pub fn https_proxy_env(proxy_url: &str, own_ca: bool) -> Vec<(String, String)> {
    let mut env = vec![("HTTPS_PROXY".to_owned(), proxy_url.to_owned())];
    if own_ca {
        env.push(("AWS_CA_BUNDLE".to_owned(), GUEST_CA_PATH.to_owned()));
    }
    env
}

/// `backend = "aws"`: every run works under its own sub-prefix of the
/// profile's, so that parallel runs on one bucket never meet.
pub fn run_prefix(prefix: &str, run_id: &str) -> String {
    format!("{}{run_id}/", crate::profile::s3::normalize_prefix(prefix))
}

/// Test-only: with this variable set to 1, `backend = "aws"` runs against
/// an embedded https endpoint standing in for AWS (the proxy sends AWS's
/// names to it; the guest trusts the run's CA). Everything but AWS itself
/// is exercised, judged as on AWS (no journal).
pub const AWS_STAND_IN_ENV: &str = "VMHARNESS_TEST_AWS_STAND_IN";

/// The endpoint standing in for AWS under [`AWS_STAND_IN_ENV`]: the
/// profile's bucket and region, the guest's named credentials, AWS's
/// bucket subdomains; store in `dir`.
pub fn aws_stand_in_config(s: &S3Section, remote: &Remote, dir: &Path) -> EndpointConfig {
    let mut cfg = endpoint_config(s, dir);
    cfg.credentials = Some(remote.credentials.clone());
    cfg.bucket_domains = crate::s3::client::remote::aws_domains(&s.region);
    cfg
}

/// The profile's remote backend with its credentials looked up (`lookup`
/// reads a host variable); None for the embedded backend.
pub fn remote(
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

/// The host-side client of `remote` (see [`host_uses_named_credentials`]).
pub async fn remote_client(remote: &Remote, s: &S3Section) -> Result<S3Client, S3ClientError> {
    let credentials = host_uses_named_credentials(s).then_some(&remote.credentials);
    S3Client::for_remote(&remote_config(s), credentials).await
}

/// How the host's SDK client reaches the profile's remote backend.
fn remote_config(s: &S3Section) -> RemoteConfig {
    RemoteConfig {
        backend: s.backend,
        bucket: s.bucket.clone(),
        region: s.region.clone(),
        endpoint_url: s.endpoint_url.clone(),
        aws_profile: s.aws_profile.clone(),
        force_path_style: s.force_path_style,
        ca_bundle: s.ca_bundle.clone(),
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
    Ok(Some((
        url,
        S3Client::for_remote(&remote_config(s), named.as_ref()).await?,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_config_carries_delay_and_faults() {
        let s = section(
            r#"
            restore_delay_secs = 2
            [embedded]
            min_part_size = 1024
            [[faults]]
            op = "UploadPart"
            action = "slow_down"
            count = 2
            "#,
        );
        let cfg = endpoint_config(&s, Path::new("/tmp/x"));
        assert_eq!(cfg.restore_delay, Duration::from_secs(2));
        assert_eq!(cfg.min_part_size, 1024);
        assert_eq!(cfg.faults.len(), 1);
        assert_eq!(cfg.bucket, "vmharness");
    }

    #[test]
    fn the_https_proxy_glue_allows_only_the_tls_name_to_the_endpoint() {
        use crate::net::egress::{decide, Decision};
        let tls: SocketAddr = "127.0.0.1:4443".parse().expect("addr");
        let cfg = egress_config(
            &embedded_tls_target(),
            Some(tls),
            PathBuf::from("/r/egress.jsonl"),
        );
        let t = |host: &str, port| crate::net::egress::ConnectTarget {
            host: host.into(),
            port,
        };
        assert_eq!(
            decide(&cfg, &t("s3.vmharness.test", 443)),
            Decision::Allow { mapped: Some(tls) }
        );
        assert!(matches!(
            decide(&cfg, &t("s3.amazonaws.com", 443)),
            Decision::Refuse(_)
        ));
        assert_eq!(
            cfg.record_file.as_deref(),
            Some(Path::new("/r/egress.jsonl"))
        );
        assert_eq!(guest_tls_url(), "https://s3.vmharness.test");
        assert_eq!(
            https_proxy_env("http://10.0.2.101:3128", true),
            [
                (
                    "HTTPS_PROXY".to_owned(),
                    "http://10.0.2.101:3128".to_owned()
                ),
                ("AWS_CA_BUNDLE".to_owned(), GUEST_CA_PATH.to_owned())
            ]
        );
        assert_eq!(https_proxy_env("http://p:1", false).len(), 1);
    }

    #[test]
    fn a_remote_over_https_is_resolved_on_the_host_and_aws_runs_in_its_own_prefix() {
        use crate::net::egress::{decide, Decision};
        let allow = vec![("minio.lan".to_owned(), 9443)];
        let cfg = egress_config(&allow, None, PathBuf::from("/r/e.jsonl"));
        let t = |host: &str, port| crate::net::egress::ConnectTarget {
            host: host.into(),
            port,
        };
        assert_eq!(
            decide(&cfg, &t("minio.lan", 9443)),
            Decision::Allow { mapped: None }
        );
        assert!(matches!(
            decide(&cfg, &t("minio.lan", 443)),
            Decision::Refuse(_)
        ));
        assert_eq!(run_prefix("backups", "20261203-1"), "backups/20261203-1/");
        assert_eq!(run_prefix("a/b//", "r"), "a/b/r/");
    }

    #[test]
    fn the_aws_stand_in_takes_the_guests_credentials_and_awss_bucket_names() {
        let s = section(AWS);
        let r = remote(&s, |n| Some(format!("v-{n}")))
            .expect("ok")
            .expect("remote");
        let cfg = aws_stand_in_config(&s, &r, Path::new("/tmp/x"));
        assert!(cfg.credentials == Some(r.credentials.clone()));
        assert_eq!(cfg.bucket_domains, ["s3.eu-west-1.amazonaws.com"]);
        assert_eq!(cfg.region, "eu-west-1");
        assert!(cfg.faults.is_empty() && cfg.tls.is_none());
    }

    const AWS: &str = r#"
        backend = "aws"
        region = "eu-west-1"
        [guest_credentials]
        access_key_id_env = "K"
        secret_access_key_env = "S"
    "#;

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
        let r = remote(&section(ENDPOINT), |n| Some(format!("v-{n}")))
            .expect("ok")
            .expect("remote");
        assert_eq!(r.credentials.access_key_id, "v-K");
        assert_eq!(
            r.route("vmharness", "us-east-1"),
            Ok(crate::s3::client::remote::Route::Relay(
                "127.0.0.1:9000".into()
            ))
        );
        let env = r.tool_env(Some("http://10.0.2.100:9000"), "us-east-1");
        assert_eq!(env.len(), 4, "{env:?}");
        assert!(env.contains(&(
            "AWS_ENDPOINT_URL_S3".into(),
            "http://10.0.2.100:9000".into()
        )));
        assert!(env.contains(&("AWS_SECRET_ACCESS_KEY".into(), "v-S".into())));
        assert_eq!(r.secrets(), ["v-S"]);
        assert_eq!(
            remote(&section(ENDPOINT), |_| None).err(),
            Some(BackendError::GuestEnv("K".into()))
        );
        assert!(remote(&S3Section::default(), |_| None)
            .expect("ok")
            .is_none());
    }

    #[test]
    fn aws_is_reached_at_its_regional_url() {
        let r = remote(&section(AWS), |_| Some("x".into()))
            .expect("ok")
            .expect("remote");
        assert_eq!(r.url, "https://s3.eu-west-1.amazonaws.com");
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
