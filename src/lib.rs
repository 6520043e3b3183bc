//! vmharness: end-to-end tests of Btrfs-to-S3 backup tools in disposable QEMU VMs.

pub mod accel;
pub mod cli;
pub mod image;
pub mod paths;
pub mod programs;
pub mod util;
pub mod commands;
pub mod exit;
pub mod logging;
pub mod signals;
pub mod ssh;
pub mod vm;
pub mod profile;
pub mod plan;
