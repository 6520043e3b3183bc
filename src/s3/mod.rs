//! S3: the embedded endpoint a run may serve ([`server`]), the host-side
//! client and the remote backends ([`client`]), and the profile's `[s3]`
//! backend configuration.
//!
//! The embedded endpoint is a real S3 wire endpoint on 127.0.0.1 (s3s does
//! routing, SigV4 and XML; our flat store does the rest). Start one with
//! [`Endpoint::start`], give the tool [`Endpoint::tool_env`], read
//! [`Endpoint::journal`] and steer [`Endpoint::faults`].

pub mod backend;
pub mod client;
pub mod server;

pub use backend::{Backend, S3Section};
pub use client::{S3Client, S3ClientError};
pub use server::{
    Credentials, Endpoint, EndpointConfig, EndpointError, FaultKind, FaultRule, Faults, Journal,
    Record, RuleId,
};
