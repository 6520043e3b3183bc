//! S3: the embedded endpoint (store, service, journal, faults, server), the
//! profile's `[s3]` backend configuration and the host-side client used by
//! verifiers.
//!
//! The embedded endpoint is a real S3 wire endpoint on 127.0.0.1 (s3s does
//! routing, SigV4 and XML; our flat store does the rest). Start one with
//! [`Endpoint::start`], give the tool [`Endpoint::tool_env`], read
//! [`Endpoint::journal`] and steer [`Endpoint::faults`].

mod answer;
mod blob;
mod body;
mod bucket_ops;
pub mod checksum;
mod conditions;
mod ctx;
pub mod durable;
mod gate;
mod keys;
mod list_ops;
pub mod listing;
mod multipart;
mod multipart_ops;
mod part_copy;
mod receive;
pub mod restore;
mod restore_op;
mod server;
mod service;
pub mod store;

pub mod backend;
pub mod cli;
pub mod client;
pub mod endpoint;
pub mod faults;
pub mod journal;
pub mod remote;

pub use backend::{Backend, S3Section};
pub use client::{S3Client, S3ClientError};
pub use endpoint::{Credentials, Endpoint, EndpointConfig, EndpointError};
pub use faults::{FaultKind, FaultRule, Faults, RuleId};
pub use journal::{Journal, Record};
