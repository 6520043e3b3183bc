//! `vmharness s3 serve`.
