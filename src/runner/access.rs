//! How a run reaches its S3: the embedded endpoint started for it, or the
//! profile's remote backend. Gives the host-side client, what the guest's
//! relay connects to, the tool's environment and the secrets to redact.

use super::session::endpoint_config;
use crate::plan;
use crate::profile::Profile;
use crate::s3::{Endpoint, S3Client};
use crate::vm::relay;
use anyhow::{Context, Result};
use std::path::Path;

pub(crate) struct S3Access {
    /// The embedded endpoint (None on a remote backend).
    pub endpoint: Option<Endpoint>,
    pub client: S3Client,
    /// HOST:PORT the relay connects each guest connection to.
    pub upstream: String,
    pub tool_env: Vec<(String, String)>,
    pub secrets: Vec<String>,
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
        let endpoint = rt
            .block_on(Endpoint::start(endpoint_config(profile, run_dir)))
            .context("starting the embedded S3 endpoint")?;
        return Ok(S3Access {
            client: S3Client::for_endpoint(&endpoint)
                .context("the host's client of the embedded S3 endpoint")?,
            upstream: format!("127.0.0.1:{}", endpoint.port()),
            tool_env: endpoint.tool_env(&guest_url),
            secrets: vec![endpoint.credentials().secret_access_key.clone()],
            endpoint: Some(endpoint),
        });
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
        upstream,
        tool_env: remote.tool_env(&guest_url, &profile.s3.region),
        secrets: remote.secrets(),
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
