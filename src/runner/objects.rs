//! The verifiers' view of S3 (`ObjectSource`) over the host-side client,
//! bridged from async; archived objects on the embedded endpoint are read
//! from its store directly (it is ours), elsewhere they are "not restored".

use crate::s3::{Endpoint, S3Client};
use crate::verify::source::{MultipartUpload, ObjectError, ObjectInfo, ObjectSource, RestoreState};
use std::io::Read;

pub struct ClientSource<'a> {
    pub client: &'a S3Client,
    pub rt: &'a tokio::runtime::Runtime,
    pub embedded: Option<&'a Endpoint>,
}

fn other(key: &str, e: impl std::fmt::Display) -> ObjectError {
    ObjectError::Other {
        key: key.to_string(),
        message: e.to_string(),
    }
}

/// `x-amz-restore` plus the class into the verifiers' restore state.
pub fn restore_state(class: Option<&str>, header: Option<&str>) -> RestoreState {
    let archived = matches!(class, Some("GLACIER") | Some("DEEP_ARCHIVE"));
    match (archived, header) {
        (false, _) => RestoreState::NotArchived,
        (true, None) => RestoreState::Archived,
        (true, Some(h)) if h.contains("ongoing-request=\"true\"") => RestoreState::Ongoing,
        (true, Some(_)) => RestoreState::Restored,
    }
}

const PIECE: u64 = 8 << 20;

impl ObjectSource for ClientSource<'_> {
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ObjectError> {
        let listed = self
            .rt
            .block_on(self.client.list(prefix))
            .map_err(|e| other(prefix, e))?;
        Ok(listed
            .into_iter()
            .map(|o| ObjectInfo {
                key: o.key,
                size: o.size,
                storage_class: o.storage_class,
                etag: Some(o.etag),
                ..ObjectInfo::default()
            })
            .collect())
    }

    fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ObjectError> {
        let h = self
            .rt
            .block_on(self.client.head(key))
            .map_err(|e| other(key, e))?;
        Ok(h.map(|h| ObjectInfo {
            key: key.to_string(),
            size: h.size,
            restore: restore_state(h.storage_class.as_deref(), h.restore.as_deref()),
            storage_class: h.storage_class,
            sse: h.sse,
            content_type: h.content_type,
            etag: Some(h.etag),
        }))
    }

    fn read(&self, key: &str, sink: &mut dyn FnMut(&[u8])) -> Result<(), ObjectError> {
        let head = self
            .head(key)?
            .ok_or_else(|| ObjectError::NotFound(key.to_string()))?;
        if matches!(head.restore, RestoreState::Archived | RestoreState::Ongoing) {
            let Some(path) = self.embedded.and_then(|ep| ep.store_path_of(key)) else {
                return Err(ObjectError::NotRestored(key.to_string()));
            };
            let mut f = std::fs::File::open(&path).map_err(|e| other(key, e))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf).map_err(|e| other(key, e))?;
                if n == 0 {
                    return Ok(());
                }
                sink(&buf[..n]);
            }
        }
        let mut at = 0;
        while at < head.size {
            let end = (at + PIECE).min(head.size);
            let bytes = self
                .rt
                .block_on(self.client.get_range(key, at..end))
                .map_err(|e| other(key, e))?;
            sink(&bytes);
            at = end;
        }
        Ok(())
    }

    fn multipart_uploads(&self, prefix: &str) -> Result<Vec<MultipartUpload>, ObjectError> {
        let ups = self
            .rt
            .block_on(self.client.list_uploads(prefix))
            .map_err(|e| other(prefix, e))?;
        Ok(ups
            .into_iter()
            .map(|u| MultipartUpload {
                key: u.key,
                upload_id: u.upload_id,
                initiated: None,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_states() {
        assert_eq!(restore_state(None, None), RestoreState::NotArchived);
        assert_eq!(
            restore_state(Some("GLACIER_IR"), None),
            RestoreState::NotArchived
        );
        assert_eq!(
            restore_state(Some("DEEP_ARCHIVE"), None),
            RestoreState::Archived
        );
        assert_eq!(
            restore_state(Some("GLACIER"), Some("ongoing-request=\"true\"")),
            RestoreState::Ongoing
        );
        assert_eq!(
            restore_state(
                Some("GLACIER"),
                Some("ongoing-request=\"false\", expiry-date=\"x\"")
            ),
            RestoreState::Restored
        );
    }
}
