pub mod cli;
pub mod s3;
