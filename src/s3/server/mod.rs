//! The embedded S3 endpoint: the flat store on disk (durable writes,
//! multipart uploads, archive restores, checkpoints), the s3s service and
//! its operations, HTTP serving, the request journal, fault injection, and
//! `vmharness s3 serve` to run one standalone.
//!
//! Nothing here knows the profile: [`EndpointConfig`] is all an endpoint
//! is started from, and the profile's `[[s3.faults]]` are this module's
//! [`FaultRule`]s.

mod answer;
mod blob;
mod body;
mod bucket_ops;
pub mod checksum;
mod conditions;
mod ctx;
pub mod durable;
mod gate;
mod http;
mod keys;
mod list_ops;
pub mod listing;
mod multipart;
mod multipart_ops;
mod part_copy;
mod receive;
pub mod restore;
mod restore_op;
mod service;
pub mod store;
mod vhost;

pub mod cli;
pub mod endpoint;
pub mod faults;
pub mod journal;

pub use endpoint::{tool_env, Credentials, Endpoint, EndpointConfig, EndpointError, EndpointTls};
pub use faults::{FaultKind, FaultRule, Faults, RuleId};
pub use journal::{Journal, Record};
