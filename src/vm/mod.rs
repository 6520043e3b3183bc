//! The VM: QEMU command line, seed, keys, QMP, console, lifecycle.

pub mod console;
pub mod error;
pub mod files;
pub mod fixture_layers;
pub mod hang;
pub mod keys;
pub mod machine;
pub mod qemu_args;
pub mod qmp;
pub mod relay;
pub mod resume;
pub mod saved;
pub mod seed;
pub mod supervisor;

pub use error::VmError;
pub use fixture_layers::FixtureCheckpoint;
pub use machine::{BootTimeline, PowerCut, RestartFacts, Vm, VmConfig, VmState};
