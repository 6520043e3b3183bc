//! The guest's guarded way out to the network: [`egress`], a host-side HTTP
//! CONNECT proxy that lets through only the (host, port) pairs a run's S3
//! needs and records every tunnel; [`pki`], a per-run certificate authority
//! and the server certificate of the embedded endpoint's TLS name. Nothing
//! here reads the profile: `crate::plan` turns it into these configs.
//! [`accept`]: the accept loop both those servers and the embedded S3
//! endpoint run.

pub mod accept;
pub mod egress;
pub mod pki;
