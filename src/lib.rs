//! vmharness: end-to-end tests of Btrfs-to-S3 backup tools in disposable QEMU VMs.

pub mod accel;
pub mod cli;
pub mod commands;
pub mod digest;
pub mod exit;
pub mod fixture;
pub mod image;
pub mod jobs;
pub mod jsonout;
pub mod logging;
pub mod matrix;
pub mod paths;
pub mod plan;
pub mod profile;
pub mod programs;
pub mod report;
pub mod runner;
pub mod s3;
pub mod signals;
pub mod ssh;
pub mod stats;
pub mod tool;
pub mod toolconfig;
pub mod util;
pub mod verify;
pub mod vm;
