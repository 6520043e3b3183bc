//! S3: the embedded endpoint a run may serve ([`server`]), the host-side
//! client and the remote backends ([`client`]), and [`Backend`], which of
//! them a run uses. Nothing here reads the profile: `crate::plan::s3` turns
//! its `[s3]` into an [`EndpointConfig`] or a [`client::Remote`].
//!
//! The embedded endpoint is a real S3 wire endpoint on 127.0.0.1 (s3s does
//! routing, SigV4 and XML; our flat store does the rest). Start one with
//! [`Endpoint::start`], give the tool [`Endpoint::tool_env`], read
//! [`Endpoint::journal`] and steer [`Endpoint::faults`].

pub mod client;
pub mod server;

pub use client::{S3Client, S3ClientError};
pub use server::{
    Credentials, Endpoint, EndpointConfig, EndpointError, FaultKind, FaultRule, Faults, Journal,
    Record, RuleId,
};

use serde::{Deserialize, Serialize};

/// Which S3 a run uses (the profile's `[s3] backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The in-process endpoint (journal, faults, archive simulation).
    Embedded,
    /// Real AWS S3 through the default credential chain.
    Aws,
    /// Any S3-compatible URL (`endpoint_url`).
    Endpoint,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Aws => "aws",
            Backend::Endpoint => "endpoint",
        }
    }
}
