//! Per-request context shared by the HTTP layer, the access gate and the
//! S3 operations, carried in the request's extensions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::journal::{Journal, Record};

#[derive(Clone)]
pub(crate) struct RequestCtx {
    pub seq: u64,
    pub journal: Arc<Journal>,
    /// Set when a reset fault fired: the HTTP layer aborts the connection.
    pub reset: Arc<AtomicBool>,
}

impl RequestCtx {
    pub fn note(&self, f: impl FnOnce(&mut Record)) {
        self.journal.update(self.seq, f);
    }

    pub fn request_reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
    }

    pub fn reset_requested(&self) -> bool {
        self.reset.load(Ordering::SeqCst)
    }
}

/// Response extension: the HTTP status to send instead of the one s3s
/// derives from the output type (s3s 0.14 ignores `S3Response::status`;
/// RestoreObject answers 202 Accepted for a new restore).
#[derive(Clone, Copy, Debug)]
pub(crate) struct StatusOverride(pub http::StatusCode);
