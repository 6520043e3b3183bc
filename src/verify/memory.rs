//! An in-memory [`ObjectSource`] for tests (and for scenario tests of the
//! harness itself).

use super::source::{MultipartUpload, ObjectError, ObjectInfo, ObjectSource, RestoreState};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    pub objects: BTreeMap<String, (ObjectInfo, Vec<u8>)>,
    pub uploads: Vec<MultipartUpload>,
    /// Bytes handed to `read`'s sink per call (exercises chunked streaming).
    pub read_piece: usize,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore {
            read_piece: 7,
            ..Default::default()
        }
    }

    /// Store an object with SSE AES256, the given class and content type.
    pub fn put(
        &mut self,
        key: &str,
        body: Vec<u8>,
        class: Option<&str>,
        content_type: Option<&str>,
    ) {
        let archived = matches!(class, Some("GLACIER") | Some("DEEP_ARCHIVE"));
        let info = ObjectInfo {
            key: key.to_string(),
            size: body.len() as u64,
            storage_class: class.map(str::to_string),
            sse: Some("AES256".into()),
            content_type: content_type.map(str::to_string),
            etag: None,
            restore: if archived {
                RestoreState::Archived
            } else {
                RestoreState::NotArchived
            },
        };
        self.objects.insert(key.to_string(), (info, body));
    }

    pub fn info_mut(&mut self, key: &str) -> Option<&mut ObjectInfo> {
        self.objects.get_mut(key).map(|(i, _)| i)
    }
}

impl ObjectSource for MemoryStore {
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ObjectError> {
        Ok(self
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, (i, _))| ObjectInfo {
                key: k.clone(),
                size: i.size,
                storage_class: i.storage_class.clone(),
                ..Default::default()
            })
            .collect())
    }

    fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ObjectError> {
        Ok(self.objects.get(key).map(|(i, _)| i.clone()))
    }

    fn read(&self, key: &str, sink: &mut dyn FnMut(&[u8])) -> Result<(), ObjectError> {
        let (info, body) = self
            .objects
            .get(key)
            .ok_or_else(|| ObjectError::NotFound(key.to_string()))?;
        if matches!(info.restore, RestoreState::Archived | RestoreState::Ongoing) {
            return Err(ObjectError::NotRestored(key.to_string()));
        }
        for piece in body.chunks(self.read_piece.max(1)) {
            sink(piece);
        }
        Ok(())
    }

    fn multipart_uploads(&self, prefix: &str) -> Result<Vec<MultipartUpload>, ObjectError> {
        Ok(self
            .uploads
            .iter()
            .filter(|u| u.key.starts_with(prefix))
            .cloned()
            .collect())
    }
}
