//! How a run reaches its S3: the embedded endpoint started for it (over
//! plain http through the relay, or over https through the egress proxy),
//! or the profile's remote backend. Gives the host-side client, what the
//! guest's relays connect to, the tool's environment, the files the guest
//! needs and the secrets to redact.

use super::session::endpoint_config;
use crate::net::egress::EgressProxy;
use crate::net::pki::{RunPki, S3_TLS_NAME};
use crate::plan;
use crate::profile::s3::Transport;
use crate::profile::{Backend, Profile};
use crate::s3::client::remote::Route;
use crate::s3::{Endpoint, S3Client};
use crate::vm::relay;
use anyhow::{Context, Result};
use std::path::Path;

pub(crate) struct S3Access {
    /// The embedded endpoint (None on a remote backend).
    pub endpoint: Option<Endpoint>,
    /// Test-only: the embedded endpoint standing in for AWS (its journal
    /// unused: the run is judged as on AWS).
    pub stand_in: Option<Endpoint>,
    pub client: S3Client,
    /// The guest's ways out, each through its own relay.
    pub forwards: Vec<Forward>,
    pub tool_env: Vec<(String, String)>,
    pub secrets: Vec<String>,
    /// `transport = "https-proxy"`: the egress proxy, serving for the run.
    pub egress: Option<EgressProxy>,
    /// Files to put in the guest after each boot: (guest path, content).
    pub guest_files: Vec<(String, Vec<u8>)>,
}

/// One guest address relayed to a host address (HOST:PORT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Forward {
    /// The S3 endpoint at the fixed guest S3 address.
    S3(String),
    /// The egress proxy at the fixed guest proxy address.
    Proxy(String),
}

impl Forward {
    /// Its `guestfwd` rule, run by the relay executable `exe`.
    pub fn rule(&self, exe: &Path) -> String {
        match self {
            Forward::S3(up) => relay::s3_forward(exe, up),
            Forward::Proxy(up) => relay::proxy_forward(exe, up),
        }
    }
}

/// Start the embedded endpoint, or check that the remote backend can be
/// reached from the host and by the guest's way out (before any VM boots).
/// `env` reads a host variable (the named credentials, the test-only
/// stand-in switch).
pub(crate) fn open(
    profile: &Profile,
    profile_path: &Path,
    run_dir: &Path,
    rt: &tokio::runtime::Runtime,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<S3Access> {
    let file = profile_path.display();
    let remote = plan::s3::remote(&profile.s3, env).with_context(|| format!("profile {file}"))?;
    let Some(remote) = remote else {
        return match profile.s3.transport {
            Transport::Relay => open_embedded(profile, run_dir, rt),
            Transport::HttpsProxy => open_embedded_https(profile, run_dir, rt),
        };
    };
    let s = &profile.s3;
    let route = remote
        .route(&s.bucket, &s.region)
        .with_context(|| format!("profile {file}: the guest cannot reach this S3"))?;
    if s.backend == Backend::Aws && env(plan::s3::AWS_STAND_IN_ENV).as_deref() == Some("1") {
        return open_aws_stand_in(profile, &remote, route, run_dir, rt);
    }
    let guest_ca = match &s.ca_bundle {
        Some(path) => Some(read_ca_bundle(path).with_context(|| format!("profile {file}"))?),
        None => None,
    };
    let client = rt
        .block_on(plan::s3::remote_client(&remote, s))
        .with_context(|| format!("profile {file}: building the S3 client for {}", remote.url))?;
    rt.block_on(probe(&client, &s.normalized_prefix()))
        .map_err(|e| unreachable_from_host(e, s, &remote.url))
        .with_context(|| format!("profile {file}"))?;
    let mut access = S3Access {
        endpoint: None,
        stand_in: None,
        client,
        forwards: Vec::new(),
        tool_env: Vec::new(),
        secrets: remote.secrets(),
        egress: None,
        guest_files: Vec::new(),
    };
    match route {
        Route::Relay(upstream) => {
            access.forwards = vec![Forward::S3(upstream)];
            access.tool_env = remote.tool_env(Some(&relay::guest_s3_url()), &s.region);
        }
        Route::Proxy { allow, url } => {
            let egress = start_egress(&allow, None, run_dir, rt)?;
            access.forwards = vec![Forward::Proxy(egress.addr().to_string())];
            access.tool_env = remote.tool_env(url.as_deref(), &s.region);
            access.tool_env.extend(plan::s3::https_proxy_env(
                &relay::guest_proxy_url(),
                guest_ca.is_some(),
            ));
            access.guest_files = guest_ca
                .map(|pem| (plan::s3::GUEST_CA_PATH.to_owned(), pem))
                .into_iter()
                .collect();
            access.egress = Some(egress);
        }
    }
    Ok(access)
}

/// The PEM bundle `[s3] ca_bundle` names, checked to hold a certificate.
fn read_ca_bundle(path: &Path) -> Result<Vec<u8>> {
    use rustls::pki_types::{pem::PemObject as _, CertificateDer};
    let pem = std::fs::read(path)
        .with_context(|| format!("[s3] ca_bundle {}: cannot read it", path.display()))?;
    if CertificateDer::pem_slice_iter(&pem)
        .flatten()
        .next()
        .is_none()
    {
        anyhow::bail!(
            "[s3] ca_bundle {}: no PEM certificate in it (it must hold the CA certificates \
             that sign the endpoint's, as -----BEGIN CERTIFICATE----- blocks)",
            path.display()
        );
    }
    Ok(pem)
}

/// Why the host could not list the remote bucket, with the fix when the
/// trouble was the endpoint's certificate (the guest's tool would fail on
/// it the same way: it trusts the same CAs).
fn unreachable_from_host(
    e: anyhow::Error,
    s: &crate::profile::s3::S3Section,
    url: &str,
) -> anyhow::Error {
    let what = format!(
        "[s3] backend = \"{}\" at {url}, bucket {:?}: not reachable from the host",
        s.backend.as_str(),
        s.bucket
    );
    let text = format!("{e:#}");
    if !url.starts_with("https://") {
        return e.context(what);
    }
    let fix = match (&s.ca_bundle, text.contains("certificate")) {
        (Some(ca), true) => format!(
            "the endpoint's TLS certificate is not signed by a CA in [s3] ca_bundle {} \
             (the file the tool gets as AWS_CA_BUNDLE): point ca_bundle at the CA that signed it",
            ca.display()
        ),
        (None, true) => "the endpoint's TLS certificate is not trusted by the system's CAs: \
             set [s3] ca_bundle to the PEM file of the CA that signed it (the tool gets it as \
             AWS_CA_BUNDLE)"
            .to_owned(),
        (_, false) => "over https (TLS)".to_owned(),
    };
    e.context(format!("{what}: {fix}"))
}

/// Start the run's egress proxy letting only `allow` through (to `to`
/// when given), recording every CONNECT in the run directory.
fn start_egress(
    allow: &[(String, u16)],
    to: Option<std::net::SocketAddr>,
    run_dir: &Path,
    rt: &tokio::runtime::Runtime,
) -> Result<EgressProxy> {
    rt.block_on(EgressProxy::start(plan::s3::egress_config(
        allow,
        to,
        run_dir.join(plan::s3::EGRESS_FILE),
    )))
    .context("starting the egress proxy for S3 over https")
}

/// Test-only (`VMHARNESS_TEST_AWS_STAND_IN=1`): `backend = "aws"` against
/// an embedded https endpoint standing in for AWS under AWS's names, with
/// the guest's named credentials and a certificate from a per-run CA. The
/// run is judged as on AWS: the endpoint's journal is not used.
fn open_aws_stand_in(
    profile: &Profile,
    remote: &crate::s3::client::remote::Remote,
    route: Route,
    run_dir: &Path,
    rt: &tokio::runtime::Runtime,
) -> Result<S3Access> {
    let Route::Proxy { allow, url } = route else {
        anyhow::bail!("the AWS stand-in needs the https route");
    };
    let names: Vec<&str> = allow.iter().map(|(h, _)| h.as_str()).collect();
    let pki = RunPki::issue(&names).context("the AWS stand-in's CA and certificate")?;
    pki.write_ca(&run_dir.join(plan::s3::CA_FILE))?;
    let mut cfg = plan::s3::aws_stand_in_config(&profile.s3, remote, &run_dir.join("s3-store"));
    cfg.tls = Some(plan::s3::endpoint_tls(&pki, names[0])?);
    let endpoint = rt
        .block_on(Endpoint::start(cfg))
        .context("starting the endpoint standing in for AWS")?;
    let egress = start_egress(&allow, Some(endpoint.addr()), run_dir, rt)?;
    let own = S3Client::for_endpoint(&endpoint).context("the host's client of the AWS stand-in")?;
    let mut tool_env = remote.tool_env(url.as_deref(), &profile.s3.region);
    tool_env.extend(plan::s3::https_proxy_env(&relay::guest_proxy_url(), true));
    Ok(S3Access {
        client: S3Client::from_sdk(own.sdk().clone(), own.bucket(), false),
        forwards: vec![Forward::Proxy(egress.addr().to_string())],
        tool_env,
        secrets: remote.secrets(),
        endpoint: None,
        stand_in: Some(endpoint),
        egress: Some(egress),
        guest_files: vec![(
            plan::s3::GUEST_CA_PATH.to_owned(),
            pki.ca_pem().as_bytes().to_vec(),
        )],
    })
}

/// The embedded endpoint over plain http, relayed to the guest's fixed
/// S3 address.
fn open_embedded(
    profile: &Profile,
    run_dir: &Path,
    rt: &tokio::runtime::Runtime,
) -> Result<S3Access> {
    let endpoint = rt
        .block_on(Endpoint::start(endpoint_config(profile, run_dir)))
        .context("starting the embedded S3 endpoint")?;
    Ok(S3Access {
        client: S3Client::for_endpoint(&endpoint)
            .context("the host's client of the embedded S3 endpoint")?,
        forwards: vec![Forward::S3(format!("127.0.0.1:{}", endpoint.port()))],
        tool_env: endpoint.tool_env(&relay::guest_s3_url()),
        secrets: vec![endpoint.credentials().secret_access_key.clone()],
        endpoint: Some(endpoint),
        stand_in: None,
        egress: None,
        guest_files: Vec::new(),
    })
}

/// `transport = "https-proxy"`: the embedded endpoint over https with a
/// per-run CA (written to the run directory), reached by the guest only as
/// `https://s3.vmharness.test` through the egress proxy, which lets
/// nothing else through and records every CONNECT.
fn open_embedded_https(
    profile: &Profile,
    run_dir: &Path,
    rt: &tokio::runtime::Runtime,
) -> Result<S3Access> {
    let pki = RunPki::issue(&[S3_TLS_NAME])
        .context("https-proxy transport: issuing the run's CA and the endpoint's certificate")?;
    pki.write_ca(&run_dir.join(plan::s3::CA_FILE))?;
    let mut cfg = endpoint_config(profile, run_dir);
    cfg.tls = Some(plan::s3::endpoint_tls(&pki, S3_TLS_NAME)?);
    let endpoint = rt
        .block_on(Endpoint::start(cfg))
        .context("starting the embedded S3 endpoint (https)")?;
    let egress = start_egress(
        &plan::s3::embedded_tls_target(),
        Some(endpoint.addr()),
        run_dir,
        rt,
    )?;
    let mut tool_env = endpoint.tool_env(&plan::s3::guest_tls_url());
    tool_env.extend(plan::s3::https_proxy_env(&relay::guest_proxy_url(), true));
    Ok(S3Access {
        client: S3Client::for_endpoint(&endpoint)
            .context("the host's client of the embedded S3 endpoint (https)")?,
        forwards: vec![Forward::Proxy(egress.addr().to_string())],
        tool_env,
        secrets: vec![endpoint.credentials().secret_access_key.clone()],
        endpoint: Some(endpoint),
        stand_in: None,
        egress: Some(egress),
        guest_files: vec![(
            plan::s3::GUEST_CA_PATH.to_owned(),
            pki.ca_pem().as_bytes().to_vec(),
        )],
    })
}

/// One small listing: the URL answers, the credentials work, the bucket exists.
async fn probe(client: &S3Client, prefix: &str) -> Result<()> {
    client
        .sdk()
        .list_objects_v2()
        .bucket(client.bucket())
        .prefix(prefix)
        .max_keys(1)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(&e)))?;
    Ok(())
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
