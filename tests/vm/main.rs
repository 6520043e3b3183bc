//! The tests that boot VMs (all but the defect matrix, which runs alone in
//! `tests/vm_defects.rs`: it keeps both cores busy with its own VMs). One
//! binary, so that libtest runs two of them at once (most keep one core
//! busy: one guest running one command) and one link instead of fifteen.
//! Tests here must not share mutable state: each has its own runs directory,
//! and a test that changes the shared cache (a saved state, a stored
//! fixture) works on a private copy of it or on keys only it uses.

mod common;
#[path = "../support/http_server.rs"]
mod http_server;

mod backends;
mod blame;
mod checkpoint;
mod cloud_image;
mod debug;
mod e2e;
mod fixture;
mod hang;
mod installed;
mod library;
mod power;
mod reference_tool;
mod resume;
mod run;
mod s3;
mod shard;
mod templates;
