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
use crate::profile::Profile;
use crate::s3::{Endpoint, S3Client};
use crate::vm::relay;
use anyhow::{Context, Result};
use std::path::Path;

pub(crate) struct S3Access {
    /// The embedded endpoint (None on a remote backend).
    pub endpoint: Option<Endpoint>,
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
/// reached from the host and relayed to the guest (before any VM boots).
pub(crate) fn open(
    profile: &Profile,
    profile_path: &Path,
    run_dir: &Path,
    rt: &tokio::runtime::Runtime,
) -> Result<S3Access> {
    let file = profile_path.display();
    let guest_url = relay::guest_s3_url();
    let remote = plan::s3::remote(&profile.s3, |n| std::env::var(n).ok())
        .with_context(|| format!("profile {file}"))?;
    let Some(remote) = remote else {
        return match profile.s3.transport {
            Transport::Relay => open_embedded(profile, run_dir, rt),
            Transport::HttpsProxy => open_embedded_https(profile, run_dir, rt),
        };
    };
    let upstream = remote
        .relay_upstream()
        .with_context(|| format!("profile {file}: the guest cannot reach this S3"))?;
    let client = rt
        .block_on(plan::s3::remote_client(&remote, &profile.s3))
        .with_context(|| format!("profile {file}: building the S3 client for {}", remote.url))?;
    rt.block_on(probe(&client, &profile.s3.normalized_prefix()))
        .with_context(|| {
            format!(
                "profile {file}: [s3] backend = \"{}\" at {}, bucket {:?}: not reachable from the host",
                profile.s3.backend.as_str(),
                remote.url,
                profile.s3.bucket
            )
        })?;
    Ok(S3Access {
        endpoint: None,
        client,
        forwards: vec![Forward::S3(upstream)],
        tool_env: remote.tool_env(&guest_url, &profile.s3.region),
        secrets: remote.secrets(),
        egress: None,
        guest_files: Vec::new(),
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
    cfg.tls = Some(plan::s3::endpoint_tls(&pki)?);
    let endpoint = rt
        .block_on(Endpoint::start(cfg))
        .context("starting the embedded S3 endpoint (https)")?;
    let egress = rt
        .block_on(EgressProxy::start(plan::s3::egress_config(
            endpoint.addr(),
            run_dir.join(plan::s3::EGRESS_FILE),
        )))
        .context("https-proxy transport: starting the egress proxy")?;
    let mut tool_env = endpoint.tool_env(&plan::s3::guest_tls_url());
    tool_env.extend(plan::s3::https_proxy_env(&relay::guest_proxy_url()));
    Ok(S3Access {
        client: S3Client::for_endpoint(&endpoint)
            .context("the host's client of the embedded S3 endpoint (https)")?,
        forwards: vec![Forward::Proxy(egress.addr().to_string())],
        tool_env,
        secrets: vec![endpoint.credentials().secret_access_key.clone()],
        endpoint: Some(endpoint),
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
