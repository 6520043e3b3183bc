//! Receiving a request body into a durable temporary file while computing
//! its size, MD5 and (optionally) one S3 checksum in the same pass.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use tokio::io::AsyncWriteExt as _;

use super::checksum::{self, Algorithm, Hasher};
use super::durable::DurableError;

/// A fully received, fsynced body waiting to be renamed into place.
#[derive(Debug)]
pub struct TempBlob {
    pub path: PathBuf,
    pub size: u64,
    pub md5_hex: String,
    /// Base64 checksum computed with the requested algorithm.
    pub checksum: Option<(Algorithm, String)>,
}

impl TempBlob {
    /// Remove the file; used when a request is rejected after the body.
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("reading request body: {0}")]
    Body(String),
    #[error(transparent)]
    Disk(#[from] DurableError),
}

const WRITE_BUFFER: usize = 1 << 20;

/// Stream `body` into a new file in `tmp_dir`.
pub async fn receive<S, E>(
    tmp_dir: &Path,
    body: S,
    algorithm: Option<Algorithm>,
) -> Result<TempBlob, ReceiveError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let path = tmp_dir.join(format!("body-{}", uuid::Uuid::new_v4().simple()));
    let result = receive_into(&path, body, algorithm).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&path).await;
    }
    result
}

async fn receive_into<S, E>(
    path: &Path,
    mut body: S,
    algorithm: Option<Algorithm>,
) -> Result<TempBlob, ReceiveError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let file = tokio::fs::File::create(path)
        .await
        .map_err(|e| DurableError::io("create", path, e))?;
    let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut md5 = checksum::new_md5();
    let mut hasher = algorithm.map(Hasher::new);
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ReceiveError::Body(e.to_string()))?;
        s3s::crypto::Checksum::update(&mut md5, &chunk);
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
        size += chunk.len() as u64;
        out.write_all(&chunk)
            .await
            .map_err(|e| DurableError::io("write", path, e))?;
    }
    out.flush()
        .await
        .map_err(|e| DurableError::io("write", path, e))?;
    let file = out.into_inner();
    file.sync_all()
        .await
        .map_err(|e| DurableError::io("fsync", path, e))?;
    Ok(TempBlob {
        path: path.to_owned(),
        size,
        md5_hex: hex::encode(checksum::finalize_md5(md5)),
        checksum: algorithm.zip(hasher).map(|(a, h)| (a, h.finalize_base64())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn receive_hashes_and_persists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"hello ")),
            Ok(Bytes::from_static(b"world")),
        ];
        let blob = receive(
            dir.path(),
            futures::stream::iter(chunks),
            Some(Algorithm::Crc32),
        )
        .await
        .expect("receive");
        assert_eq!(blob.size, 11);
        assert_eq!(blob.md5_hex, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(
            blob.checksum,
            Some((Algorithm::Crc32, "DUoRhQ==".to_owned()))
        );
        assert_eq!(std::fs::read(&blob.path).expect("read"), b"hello world");
    }
}
