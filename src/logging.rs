//! Diagnostic logging to stderr, filtered by `VMHARNESS_LOG` (e.g. `debug`).
//! By default the S3 protocol library is silent: the errors it logs are the
//! answers the endpoint was told to give (injected faults), and the journal
//! records every one of them.

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VMHARNESS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,s3s=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
