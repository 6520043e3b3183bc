//! Multipart uploads with AWS's rules: parts 1..=10000, gaps allowed, every
//! part but the last at least the minimum size, ETags checked on complete,
//! object ETag `md5-of-md5s-N`.
//!
//! Layout: `uploads/<id>/upload.json`, `uploads/<id>/part-<n>.json` and the
//! part data `uploads/<id>/<random>` that the part's JSON names.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::blob::TempBlob;
use super::checksum::{self, Algorithm, Hasher, StoredChecksum};
use super::durable::{self, DurableError};
use super::store::{
    blocking, lock, now_ms, read_json, Bucket, ObjectAttrs, ObjectMeta, StoreError, StoreResult,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadMeta {
    pub upload_id: String,
    pub key: String,
    pub initiated_ms: i64,
    pub attrs: ObjectAttrs,
    pub checksum_algorithm: Option<Algorithm>,
    /// `COMPOSITE` or `FULL_OBJECT` when a checksum algorithm was chosen.
    pub checksum_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartMeta {
    pub number: u32,
    pub size: u64,
    pub md5_hex: String,
    pub last_modified_ms: i64,
    pub checksum: Option<StoredChecksum>,
    pub data_file: String,
}

#[derive(Debug, Clone)]
pub struct UploadState {
    pub meta: UploadMeta,
    pub parts: BTreeMap<u32, PartMeta>,
}

/// A part as named in CompleteMultipartUpload.
#[derive(Debug, Clone)]
pub struct CompletedPart {
    pub number: i32,
    pub etag: Option<String>,
    pub checksum: Option<(Algorithm, String)>,
}

fn no_such_upload() -> StoreError {
    StoreError::api(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    )
}

pub(crate) fn load_uploads(dir: &Path) -> StoreResult<BTreeMap<String, UploadState>> {
    let mut out = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| DurableError::io("list", dir, e))?;
    for entry in entries.flatten() {
        let udir = entry.path();
        let file = udir.join("upload.json");
        if !file.exists() {
            let _ = std::fs::remove_dir_all(&udir);
            continue;
        }
        let meta: UploadMeta = read_json(&file)?;
        let mut parts = BTreeMap::new();
        if let Ok(files) = std::fs::read_dir(&udir) {
            for f in files.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                if name.starts_with("part-") && name.ends_with(".json") {
                    let part: PartMeta = read_json(&f.path())?;
                    parts.insert(part.number, part);
                }
            }
        }
        out.insert(meta.upload_id.clone(), UploadState { meta, parts });
    }
    Ok(out)
}

impl Bucket {
    fn upload_dir(&self, id: &str) -> PathBuf {
        self.dir.join("uploads").join(id)
    }

    pub async fn create_upload(
        &self,
        key: &str,
        attrs: ObjectAttrs,
        checksum_algorithm: Option<Algorithm>,
        checksum_type: Option<String>,
    ) -> StoreResult<UploadMeta> {
        let _writing = self.writes.read().await;
        let meta = UploadMeta {
            upload_id: uuid::Uuid::new_v4().simple().to_string(),
            key: key.to_owned(),
            initiated_ms: now_ms(),
            attrs,
            checksum_algorithm,
            checksum_type: checksum_algorithm
                .map(|_| checksum_type.unwrap_or_else(|| "COMPOSITE".to_owned())),
        };
        let dir = self.upload_dir(&meta.upload_id);
        let tmp = self.tmp.clone();
        let m = meta.clone();
        blocking(move || {
            durable::create_dir_all(&dir)?;
            durable::write_json(&tmp, &dir.join("upload.json"), &m)
        })
        .await?;
        lock(&self.uploads).insert(
            meta.upload_id.clone(),
            UploadState {
                meta: meta.clone(),
                parts: BTreeMap::new(),
            },
        );
        Ok(meta)
    }

    /// The upload `id` for `key`, or NoSuchUpload.
    pub fn upload(&self, id: &str, key: &str) -> StoreResult<UploadState> {
        lock(&self.uploads)
            .get(id)
            .filter(|u| u.meta.key == key)
            .cloned()
            .ok_or_else(no_such_upload)
    }

    pub async fn upload_part(
        &self,
        id: &str,
        key: &str,
        number: i32,
        blob: TempBlob,
        checksum: Option<StoredChecksum>,
    ) -> StoreResult<PartMeta> {
        let _writing = self.writes.read().await;
        let number = match u32::try_from(number) {
            Ok(n @ 1..=10_000) => n,
            _ => {
                blob.discard();
                return Err(StoreError::api(
                    "InvalidArgument",
                    "Part number must be an integer between 1 and 10000, inclusive",
                ));
            }
        };
        if let Err(e) = self.upload(id, key) {
            blob.discard();
            return Err(e);
        }
        let part = PartMeta {
            number,
            size: blob.size,
            md5_hex: blob.md5_hex.clone(),
            last_modified_ms: now_ms(),
            checksum,
            data_file: format!("data-{}", uuid::Uuid::new_v4().simple()),
        };
        let dir = self.upload_dir(id);
        let tmp = self.tmp.clone();
        let p = part.clone();
        let from = blob.path.clone();
        let written = blocking(move || {
            durable::rename_durable(&from, &dir.join(&p.data_file))?;
            durable::write_json(&tmp, &dir.join(format!("part-{number}.json")), &p)
        })
        .await;
        if let Err(e) = written {
            let _ = std::fs::remove_file(&blob.path);
            // The upload directory vanished: it was aborted or completed meanwhile.
            return Err(if e.is_not_found() {
                no_such_upload()
            } else {
                e.into()
            });
        }
        let replaced = {
            let mut uploads = lock(&self.uploads);
            match uploads.get_mut(id) {
                Some(u) => u.parts.insert(number, part.clone()),
                None => return Err(no_such_upload()),
            }
        };
        if let Some(old) = replaced {
            let _ = std::fs::remove_file(self.upload_dir(id).join(old.data_file));
        }
        Ok(part)
    }

    pub async fn abort_upload(&self, id: &str, key: &str) -> StoreResult<()> {
        let _writing = self.writes.read().await;
        self.upload(id, key)?;
        lock(&self.uploads).remove(id);
        let dir = self.upload_dir(id);
        blocking(move || {
            std::fs::remove_dir_all(&dir).map_err(|e| DurableError::io("remove", &dir, e))
        })
        .await?;
        Ok(())
    }

    pub fn uploads(&self) -> Vec<UploadMeta> {
        let mut v: Vec<UploadMeta> = lock(&self.uploads)
            .values()
            .map(|u| u.meta.clone())
            .collect();
        v.sort_by(|a, b| {
            (a.key.as_str(), a.initiated_ms, a.upload_id.as_str()).cmp(&(
                b.key.as_str(),
                b.initiated_ms,
                b.upload_id.as_str(),
            ))
        });
        v
    }

    /// Assemble the listed parts into the object, check every rule first.
    pub async fn complete_upload(
        &self,
        id: &str,
        key: &str,
        listed: &[CompletedPart],
        min_part_size: u64,
        cond: &super::store::WriteCondition,
    ) -> StoreResult<Arc<ObjectMeta>> {
        let _writing = self.writes.read().await;
        let upload = match self.upload(id, key) {
            Ok(u) => u,
            Err(e) => {
                // A retried complete of an upload that already completed.
                let done = lock(&self.completed).get(id).cloned();
                return match done {
                    Some(meta) if meta.key == key => Ok(meta),
                    _ => Err(e),
                };
            }
        };
        let chosen = validate(&upload, listed, min_part_size)?;
        // Refused before the parts are assembled; judged again at the commit.
        cond.judge(self.get(key).as_deref())?;
        let algorithm = upload.meta.checksum_algorithm;
        let full_object = upload.meta.checksum_type.as_deref() == Some("FULL_OBJECT");
        let etag =
            checksum::multipart_etag(&chosen.iter().map(|p| p.md5_hex.clone()).collect::<Vec<_>>())
                .ok_or_else(|| StoreError::api("InvalidPart", "corrupt part digest"))?;
        let composite = match algorithm {
            Some(a) if !full_object => {
                let values: Option<Vec<String>> = chosen
                    .iter()
                    .map(|p| p.checksum.as_ref().map(|c| c.value.clone()))
                    .collect();
                values.and_then(|v| checksum::composite(a, &v))
            }
            _ => None,
        };
        let dir = self.upload_dir(id);
        let data_file = uuid::Uuid::new_v4().simple().to_string();
        let target = self.dir.join("data").join(&data_file);
        let tmp = self
            .tmp
            .join(format!("assemble-{}", uuid::Uuid::new_v4().simple()));
        let sources: Vec<PathBuf> = chosen.iter().map(|p| dir.join(&p.data_file)).collect();
        let full_algorithm = algorithm.filter(|_| full_object);
        let (size, full_value) =
            blocking(move || assemble(&sources, &tmp, &target, full_algorithm)).await?;
        let checksum = match (algorithm, composite, full_value) {
            (Some(a), _, Some(v)) => Some(StoredChecksum::full(a, v)),
            (Some(a), Some(v), None) => Some(StoredChecksum {
                algorithm: a,
                value: v,
                kind: "COMPOSITE".to_owned(),
            }),
            _ => None,
        };
        let meta = ObjectMeta {
            key: key.to_owned(),
            size,
            etag,
            last_modified_ms: now_ms(),
            attrs: upload.meta.attrs.clone(),
            checksum,
            parts_count: u32::try_from(chosen.len()).ok(),
            data_file,
            restore: None,
        };
        // A refused condition keeps the upload: it may be completed later.
        let meta = self.commit_writing_if(meta, cond).await?;
        lock(&self.uploads).remove(id);
        lock(&self.completed).insert(id.to_owned(), meta.clone());
        let _ = blocking(move || {
            std::fs::remove_dir_all(&dir).map_err(|e| DurableError::io("remove", &dir, e))
        })
        .await;
        Ok(meta)
    }
}

/// Check the part list of CompleteMultipartUpload against what was uploaded.
fn validate(
    upload: &UploadState,
    listed: &[CompletedPart],
    min_part_size: u64,
) -> StoreResult<Vec<PartMeta>> {
    if listed.is_empty() {
        return Err(StoreError::api(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        ));
    }
    let mut chosen = Vec::with_capacity(listed.len());
    let mut previous = 0i64;
    for part in listed {
        if i64::from(part.number) <= previous {
            return Err(StoreError::api(
                "InvalidPartOrder",
                "The list of parts was not in ascending order. Parts must be ordered by part number.",
            ));
        }
        previous = i64::from(part.number);
        let invalid = || {
            StoreError::api(
                "InvalidPart",
                "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
            )
        };
        let stored = u32::try_from(part.number)
            .ok()
            .and_then(|n| upload.parts.get(&n))
            .ok_or_else(invalid)?;
        let etag = part.etag.as_deref().map(|e| e.trim_matches('"'));
        if etag != Some(stored.md5_hex.as_str()) {
            return Err(invalid());
        }
        if let Some((alg, value)) = &part.checksum {
            let matches = stored
                .checksum
                .as_ref()
                .is_some_and(|c| c.algorithm == *alg && &c.value == value);
            if !matches {
                return Err(invalid());
            }
        }
        chosen.push(stored.clone());
    }
    if let Some((_, init)) = chosen.split_last() {
        if let Some(small) = init.iter().find(|p| p.size < min_part_size) {
            return Err(StoreError::api(
                "EntityTooSmall",
                format!(
                    "Your proposed upload is smaller than the minimum allowed size (part {} has {} bytes, minimum {min_part_size})",
                    small.number, small.size
                ),
            ));
        }
    }
    Ok(chosen)
}

/// Concatenate part files into `target` durably; optionally compute a
/// full-object checksum on the way.
fn assemble(
    sources: &[PathBuf],
    tmp: &Path,
    target: &Path,
    algorithm: Option<Algorithm>,
) -> Result<(u64, Option<String>), DurableError> {
    let mut out = std::fs::File::create(tmp).map_err(|e| DurableError::io("create", tmp, e))?;
    let mut hasher = algorithm.map(Hasher::new);
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let result = (|| {
        for src in sources {
            let mut f = std::fs::File::open(src).map_err(|e| DurableError::io("open", src, e))?;
            loop {
                let n = f
                    .read(&mut buf)
                    .map_err(|e| DurableError::io("read", src, e))?;
                if n == 0 {
                    break;
                }
                let chunk = buf.get(..n).unwrap_or_default();
                if let Some(h) = hasher.as_mut() {
                    h.update(chunk);
                }
                out.write_all(chunk)
                    .map_err(|e| DurableError::io("write", tmp, e))?;
                size += n as u64;
            }
        }
        out.sync_all()
            .map_err(|e| DurableError::io("fsync", tmp, e))?;
        durable::rename_durable(tmp, target)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    Ok((size, hasher.map(Hasher::finalize_base64)))
}
