//! What the verifiers need from S3, as a trait, and a snapshot of the S3
//! state under the prefix that the pure checks read.

use super::layout::{KeyClass, Layout};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use thiserror::Error;

/// Archive restore state (`x-amz-restore`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RestoreState {
    /// Not an archive class: readable.
    #[default]
    NotArchived,
    /// Archived, no restore requested: not readable.
    Archived,
    /// A restore is running: not readable yet.
    Ongoing,
    /// Restored copy available: readable.
    Restored,
}

/// HeadObject (or listing) facts about one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// As S3 reports it; `None` means STANDARD (S3 omits it).
    pub storage_class: Option<String>,
    /// `x-amz-server-side-encryption` as stored.
    pub sse: Option<String>,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub restore: RestoreState,
}

impl ObjectInfo {
    pub fn class(&self) -> &str {
        self.storage_class.as_deref().unwrap_or("STANDARD")
    }
}

/// An incomplete multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipartUpload {
    pub key: String,
    pub upload_id: String,
    /// RFC 3339, as listed.
    pub initiated: Option<String>,
}

#[derive(Debug, Error)]
pub enum ObjectError {
    #[error("no such object: {0}")]
    NotFound(String),
    /// Archived and not restored: a GetObject would be 403 InvalidObjectState.
    #[error("object {0} is archived and not restored")]
    NotRestored(String),
    #[error("S3 error on {key}: {message}")]
    Other { key: String, message: String },
}

/// S3 access for verifiers. Implemented over the embedded store, AWS (with
/// a blocking bridge) and [`super::memory::MemoryStore`].
pub trait ObjectSource {
    /// Every object whose key starts with `prefix` (all pages).
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ObjectError>;
    /// HeadObject; `Ok(None)` when the object does not exist.
    fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ObjectError>;
    /// Stream the object's bytes into `sink`, in order.
    fn read(&self, key: &str, sink: &mut dyn FnMut(&[u8])) -> Result<(), ObjectError>;
    /// Incomplete multipart uploads under `prefix`.
    fn multipart_uploads(&self, prefix: &str) -> Result<Vec<MultipartUpload>, ObjectError>;

    /// The whole object, refusing more than `max` bytes.
    fn get(&self, key: &str, max: u64) -> Result<Vec<u8>, ObjectError> {
        let mut out = Vec::new();
        let mut too_big = false;
        self.read(key, &mut |b| {
            if out.len() as u64 + b.len() as u64 > max {
                too_big = true;
            } else {
                out.extend_from_slice(b);
            }
        })?;
        if too_big {
            return Err(ObjectError::Other {
                key: key.to_string(),
                message: format!("larger than {max} bytes"),
            });
        }
        Ok(out)
    }
}

/// A parsed JSON document (manifest or pointer) or why it could not be read.
pub type Document = Result<Value, String>;

/// Everything under the prefix: heads of all objects, the bodies of the
/// manifests and pointers, the incomplete uploads.
#[derive(Debug, Clone, Default)]
pub struct S3State {
    pub objects: BTreeMap<String, ObjectInfo>,
    pub documents: BTreeMap<String, Document>,
    pub uploads: Vec<MultipartUpload>,
}

/// Manifests and pointers are small; anything bigger is an error, not a read.
pub const MAX_DOCUMENT_BYTES: u64 = 16 * 1024 * 1024;

impl S3State {
    /// List, head every object and read every manifest and pointer.
    pub fn collect(source: &dyn ObjectSource, layout: &Layout) -> Result<S3State, ObjectError> {
        let mut state = S3State::default();
        for listed in source.list(&layout.prefix)? {
            let info = source.head(&listed.key)?.unwrap_or(listed);
            state.objects.insert(info.key.clone(), info);
        }
        for key in state.objects.keys() {
            if matches!(
                layout.classify(key),
                KeyClass::Manifest { .. } | KeyClass::Pointer { .. }
            ) {
                let doc = match source.get(key, MAX_DOCUMENT_BYTES) {
                    Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
                        .map_err(|e| format!("not JSON: {e}")),
                    Err(ObjectError::Other { key, message }) => {
                        return Err(ObjectError::Other { key, message })
                    }
                    Err(e) => Err(e.to_string()),
                };
                state.documents.insert(key.clone(), doc);
            }
        }
        state.uploads = source.multipart_uploads(&layout.prefix)?;
        Ok(state)
    }
}
