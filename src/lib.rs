pub mod cli;
pub mod digest;
