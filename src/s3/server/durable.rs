//! Crash-safe file writes: write to a temporary file, fsync, rename, fsync
//! the directory. An acknowledged write survives the process being killed.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DurableError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("encoding {path}: {source}")]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl DurableError {
    pub fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        DurableError::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, DurableError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// fsync a directory so a rename or unlink inside it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), DurableError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| DurableError::io("fsync dir", dir, e))
}

/// Rename `from` to `to` and make the rename durable.
pub fn rename_durable(from: &Path, to: &Path) -> Result<(), DurableError> {
    std::fs::rename(from, to).map_err(|e| DurableError::io("rename", to, e))?;
    if let Some(parent) = to.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Write `value` as JSON to `path` atomically and durably, staging the
/// temporary file in `tmp_dir` (same filesystem).
pub fn write_json(tmp_dir: &Path, path: &Path, value: &impl Serialize) -> Result<(), DurableError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| DurableError::Encode {
        path: path.to_owned(),
        source,
    })?;
    write_bytes(tmp_dir, path, &bytes)
}

pub fn write_bytes(tmp_dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), DurableError> {
    let tmp = tmp_dir.join(format!("meta-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| DurableError::io("create", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| DurableError::io("write", &tmp, e))?;
        f.sync_all()
            .map_err(|e| DurableError::io("fsync", &tmp, e))?;
        rename_durable(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: a stray temp file is swept on the next start anyway.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Remove a file and make the removal durable; a missing file is fine.
pub fn remove_durable(path: &Path) -> Result<(), DurableError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(DurableError::io("remove", path, e)),
    }
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

pub fn create_dir_all(path: &Path) -> Result<(), DurableError> {
    std::fs::create_dir_all(path).map_err(|e| DurableError::io("create dir", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_json_replaces_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("x.json");
        write_json(dir.path(), &target, &vec![1, 2, 3]).expect("first write");
        write_json(dir.path(), &target, &vec![4]).expect("second write");
        let back: Vec<i32> =
            serde_json::from_slice(&std::fs::read(&target).expect("read")).expect("json");
        assert_eq!(back, vec![4]);
        let leftovers = std::fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(leftovers, 1, "no temp files left behind");
    }
}
