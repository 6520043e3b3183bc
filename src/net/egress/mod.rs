//! A host-side HTTP CONNECT proxy for the guest (reached through the same
//! per-connection relay as the S3 endpoint). It opens a tunnel only to the
//! (host, port) pairs of its [`EgressConfig`], resolving names on the host
//! (or through the config's test-only name table); anything else gets a 403
//! with a one-line reason. Every CONNECT, allowed or refused, becomes one
//! JSON line of its record file ([`ConnectRecord`]).

mod policy;
mod proxy;
mod record;
mod request;

pub use policy::{decide, Decision, EgressConfig};
pub use proxy::{EgressError, EgressProxy};
pub use record::ConnectRecord;
pub use request::{parse_connect, ConnectTarget, RequestError};
