//! The defect matrix: every defect of the reference tool's catalogue
//! (`reference-tool/DEFECTS.md`) run through the scenarios that must catch
//! it, on one VM per profile, each case on a copy of one seeded fixture.

pub mod detection;
pub mod judge;
pub mod quirks;
pub mod recipe;
pub mod run;
pub mod table;

pub use run::{run, MatrixOptions};

/// The reference tool's switch for its deliberate defects.
pub const DEFECT_ENV: &str = "REFTOOL_DEFECT";
