//! The tests that boot no VM: the embedded S3 endpoint's conformance (Rust
//! SDK, boto3), its fault injection, checkpoints and durability, the relay,
//! the machine-readable CLI output, the HTML report in a browser, the
//! reference tool's Python unit tests and the links of the README and the
//! book. One binary: one link instead of nine.

mod s3_common;

mod cli_json;
mod docs_links;
mod install_deps;
mod python_units;
mod relay;
mod report_browser;
mod s3_boto3;
mod s3_checkpoint;
mod s3_durability;
mod s3_faults;
mod s3_sdk;
mod s3_sdk_answers;
mod s3_sdk_auth;
mod s3_sdk_bucket;
mod s3_sdk_part_copy;
