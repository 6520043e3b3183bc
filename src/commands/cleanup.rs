//! `vmharness cleanup`: empty the profile's prefix on its remote S3.

use crate::exit::Outcome;
use anyhow::{Context, Result};
use std::path::Path;

pub fn run(profile: Option<&Path>) -> Result<Outcome> {
    let path = crate::profile::path_or_default(profile)?;
    let file = path.display();
    let profile = crate::profile::load(&path)?;
    let s3 = &profile.s3;
    let prefix = s3.normalized_prefix();
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let client = rt
        .block_on(crate::plan::s3::host_client(s3, |n| std::env::var(n).ok()))
        .with_context(|| format!("profile {file}: the host's S3 client"))?;
    let Some((url, client)) = client else {
        println!(
            "profile {file}: backend = \"embedded\": nothing to clean (each run's store is in its run directory)"
        );
        return Ok(Outcome::Passed);
    };
    let cleaned = rt
        .block_on(client.delete_prefix(&prefix))
        .with_context(|| {
            format!(
                "profile {file}: emptying s3://{}/{prefix} at {url}",
                s3.bucket
            )
        })?;
    println!(
        "s3://{}/{prefix} at {}: {} object(s) deleted, {} incomplete multipart upload(s) aborted",
        s3.bucket, url, cleaned.objects, cleaned.uploads
    );
    Ok(Outcome::Passed)
}
