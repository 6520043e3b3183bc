//! The flat, durable object store behind the embedded endpoint.
//!
//! Keys are arbitrary strings, so they never become paths: each object has
//! a metadata file named by the SHA-256 of its key and an immutable data
//! file with a random name. Committing an object is the atomic rename of
//! its metadata file; the in-memory index is rebuilt from those files on
//! start, so a restarted endpoint serves the same bucket.
//!
//! Layout under the root:
//! ```text
//! tmp/                                  staging for every write
//! buckets/<bucket>/bucket.json
//! buckets/<bucket>/meta/<sha256(key)>.json
//! buckets/<bucket>/data/<random>
//! buckets/<bucket>/uploads/<upload-id>/  see multipart.rs
//! ```
//!
//! No file is ever changed in place (data files are immutable, metadata is
//! replaced by a rename), so a checkpoint of the store is a tree of hard
//! links (see `Store::checkpoint`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::blob::TempBlob;
use super::checksum::StoredChecksum;
use super::durable::{self, DurableError};
use super::multipart::UploadState;
use super::restore::RestoreState;

/// Why a store operation failed: an S3-level answer or a disk problem.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{code}: {message}")]
    Api { code: &'static str, message: String },
    #[error(transparent)]
    Disk(#[from] DurableError),
    #[error("checkpoint {dir}: {reason}")]
    Checkpoint { dir: PathBuf, reason: String },
    #[error("corrupt metadata {path}: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    pub fn api(code: &'static str, message: impl Into<String>) -> Self {
        StoreError::Api {
            code,
            message: message.into(),
        }
    }

    pub fn no_such_key() -> Self {
        StoreError::api("NoSuchKey", "The specified key does not exist.")
    }

    /// 412: a request's condition (If-Match, If-None-Match, a date) failed.
    pub fn precondition_failed() -> Self {
        StoreError::api(
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        )
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What a conditional write (PutObject, CompleteMultipartUpload) requires of
/// the key's current version. Judged again when the write commits, under
/// the commit lock: of two racing writes with `If-None-Match: *` one wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteCondition {
    /// `If-None-Match: *`: the key must not exist.
    pub absent: bool,
    /// `If-Match`: the key must exist, with this ETag (unquoted; None: `*`).
    pub matches: Option<Option<String>>,
}

impl WriteCondition {
    /// Ok when `current` (the key's version now) meets the condition, else
    /// the error AWS answers: 412 PreconditionFailed, or 404 NoSuchKey for
    /// an `If-Match` on a missing key.
    pub fn judge(&self, current: Option<&ObjectMeta>) -> StoreResult<()> {
        if self.absent && current.is_some() {
            return Err(StoreError::precondition_failed());
        }
        match (&self.matches, current) {
            (Some(_), None) => Err(StoreError::no_such_key()),
            (Some(Some(etag)), Some(cur)) if *etag != cur.etag => {
                Err(StoreError::precondition_failed())
            }
            _ => Ok(()),
        }
    }
}

/// Everything S3 returns about an object, persisted as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// Without quotes: `<md5hex>` or `<md5hex>-<parts>`.
    pub etag: String,
    pub last_modified_ms: i64,
    #[serde(default)]
    pub attrs: ObjectAttrs,
    #[serde(default)]
    pub checksum: Option<StoredChecksum>,
    #[serde(default)]
    pub parts_count: Option<u32>,
    /// File name under the bucket's `data/`.
    pub data_file: String,
    #[serde(default)]
    pub restore: Option<RestoreState>,
}

/// Attributes chosen by the writer (PutObject, CreateMultipartUpload).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectAttrs {
    pub storage_class: String,
    /// What the object is encrypted with, as reported back (`AES256`).
    pub sse: String,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// The `Expires` header given on the write, returned on GET/HEAD.
    #[serde(default)]
    pub expires_ms: Option<i64>,
}

/// What a bucket directory holds besides `bucket.json`.
const BUCKET_DIRS: [&str; 3] = ["meta", "data", "uploads"];
/// A rollback's new tree of a bucket, and the tree it replaces.
const ROLLBACK_NEW: &str = ".rollback-new";
const ROLLBACK_OLD: &str = ".rollback-old";
/// Written last into a checkpoint directory: one without it is incomplete.
const CHECKPOINT_FILE: &str = "checkpoint.json";

#[derive(Debug, Serialize, Deserialize)]
struct CheckpointFile {
    buckets: Vec<String>,
    created_ms: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct BucketFile {
    name: String,
    created_ms: i64,
}

pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Lock helpers: a panic elsewhere must not wedge the endpoint.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

pub struct Store {
    root: PathBuf,
    tmp: PathBuf,
    buckets: RwLock<BTreeMap<String, Arc<Bucket>>>,
}

pub struct Bucket {
    pub name: String,
    pub created_ms: i64,
    pub(crate) dir: PathBuf,
    pub(crate) tmp: PathBuf,
    objects: RwLock<BTreeMap<String, Arc<ObjectMeta>>>,
    pub(crate) uploads: Mutex<BTreeMap<String, UploadState>>,
    /// Recently completed uploads, so a retried CompleteMultipartUpload gets
    /// the same answer, as on AWS.
    pub(crate) completed: Mutex<HashMap<String, Arc<ObjectMeta>>>,
    /// Serialises metadata commits so the index and the files agree.
    commit: tokio::sync::Mutex<()>,
    /// Every write holds it shared for its whole change of files and index;
    /// a checkpoint or a rollback holds it exclusively.
    pub(crate) writes: tokio::sync::RwLock<()>,
}

impl Store {
    /// Open (or create) a store at `root` and make sure `buckets` exist.
    pub fn open(root: &Path, buckets: &[String]) -> StoreResult<Store> {
        let tmp = root.join("tmp");
        durable::create_dir_all(&tmp)?;
        // Leftovers of writes that never committed.
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let bdir = root.join("buckets");
        durable::create_dir_all(&bdir)?;
        let store = Store {
            root: root.to_owned(),
            tmp,
            buckets: RwLock::new(BTreeMap::new()),
        };
        let entries = std::fs::read_dir(&bdir).map_err(|e| DurableError::io("list", &bdir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| DurableError::io("list", &bdir, e))?;
            let file = entry.path().join("bucket.json");
            if !file.exists() {
                continue;
            }
            let bf: BucketFile = read_json(&file)?;
            let bucket = Bucket::load(&entry.path(), &store.tmp, bf)?;
            store
                .buckets
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(bucket.name.clone(), Arc::new(bucket));
        }
        for name in buckets {
            if store.bucket(name).is_err() {
                store.create_bucket(name)?;
            }
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn bucket(&self, name: &str) -> StoreResult<Arc<Bucket>> {
        read(&self.buckets)
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::api("NoSuchBucket", "The specified bucket does not exist"))
    }

    pub fn buckets(&self) -> Vec<Arc<Bucket>> {
        read(&self.buckets).values().cloned().collect()
    }

    pub fn create_bucket(&self, name: &str) -> StoreResult<Arc<Bucket>> {
        let mut buckets = self.buckets.write().unwrap_or_else(PoisonError::into_inner);
        if buckets.contains_key(name) {
            return Err(StoreError::api(
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already own it.",
            ));
        }
        let dir = self.root.join("buckets").join(name);
        for sub in BUCKET_DIRS {
            durable::create_dir_all(&dir.join(sub))?;
        }
        let bf = BucketFile {
            name: name.to_owned(),
            created_ms: now_ms(),
        };
        durable::write_json(&self.tmp, &dir.join("bucket.json"), &bf)?;
        let bucket = Arc::new(Bucket::empty(&dir, &self.tmp, bf));
        buckets.insert(name.to_owned(), bucket.clone());
        Ok(bucket)
    }

    /// Remove an empty bucket (409 BucketNotEmpty while it holds objects).
    pub async fn delete_bucket(&self, name: &str) -> StoreResult<()> {
        let bucket = self.bucket(name)?;
        // No write may be under way while the bucket goes.
        let _writing = bucket.writes.write().await;
        let mut buckets = self.buckets.write().unwrap_or_else(PoisonError::into_inner);
        if !bucket.is_empty() {
            return Err(StoreError::api(
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty",
            ));
        }
        buckets.remove(name);
        drop(buckets);
        let dir = bucket.dir.clone();
        std::fs::remove_dir_all(&dir).map_err(|e| DurableError::io("remove", &dir, e))?;
        match dir.parent() {
            Some(parent) => durable::sync_dir(parent).map_err(Into::into),
            None => Ok(()),
        }
    }
}

type Objects = BTreeMap<String, Arc<ObjectMeta>>;
type Uploads = BTreeMap<String, UploadState>;

/// The objects and open uploads stored in a bucket directory (read from
/// its files, data files nothing refers to removed).
fn read_index(dir: &Path) -> StoreResult<(Objects, Uploads)> {
    for sub in BUCKET_DIRS {
        durable::create_dir_all(&dir.join(sub))?;
    }
    let mut objects = BTreeMap::new();
    let meta_dir = dir.join("meta");
    let entries =
        std::fs::read_dir(&meta_dir).map_err(|e| DurableError::io("list", &meta_dir, e))?;
    for entry in entries.flatten() {
        let meta: ObjectMeta = read_json(&entry.path())?;
        objects.insert(meta.key.clone(), Arc::new(meta));
    }
    // Data files no metadata points at are leftovers of crashed writes.
    let referenced: std::collections::HashSet<&str> =
        objects.values().map(|m| m.data_file.as_str()).collect();
    if let Ok(entries) = std::fs::read_dir(dir.join("data")) {
        for e in entries.flatten() {
            let name = e.file_name();
            if !referenced.contains(name.to_string_lossy().as_ref()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    drop(referenced);
    let uploads = super::multipart::load_uploads(&dir.join("uploads"))?;
    Ok((objects, uploads))
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> StoreResult<T> {
    let bytes = std::fs::read(path).map_err(|e| DurableError::io("read", path, e))?;
    serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
        path: path.to_owned(),
        source,
    })
}

fn meta_name(key: &str) -> String {
    format!("{}.json", hex::encode(sha2::Sha256::digest(key.as_bytes())))
}

impl Bucket {
    fn empty(dir: &Path, tmp: &Path, bf: BucketFile) -> Bucket {
        Bucket {
            name: bf.name,
            created_ms: bf.created_ms,
            dir: dir.to_owned(),
            tmp: tmp.to_owned(),
            objects: RwLock::new(BTreeMap::new()),
            uploads: Mutex::new(BTreeMap::new()),
            completed: Mutex::new(HashMap::new()),
            commit: tokio::sync::Mutex::new(()),
            writes: tokio::sync::RwLock::new(()),
        }
    }

    fn load(dir: &Path, tmp: &Path, bf: BucketFile) -> StoreResult<Bucket> {
        let bucket = Bucket::empty(dir, tmp, bf);
        // Leftovers of a rollback that was interrupted.
        for stage in [ROLLBACK_NEW, ROLLBACK_OLD] {
            let _ = std::fs::remove_dir_all(dir.join(stage));
        }
        let (objects, uploads) = read_index(dir)?;
        *bucket
            .objects
            .write()
            .unwrap_or_else(PoisonError::into_inner) = objects;
        *lock(&bucket.uploads) = uploads;
        Ok(bucket)
    }

    pub fn data_path(&self, meta: &ObjectMeta) -> PathBuf {
        self.dir.join("data").join(&meta.data_file)
    }

    pub fn get(&self, key: &str) -> Option<Arc<ObjectMeta>> {
        read(&self.objects).get(key).cloned()
    }

    pub fn is_empty(&self) -> bool {
        read(&self.objects).is_empty()
    }

    /// Run `f` over the index in key order starting at `from` (inclusive).
    pub fn scan<R>(
        &self,
        from: &str,
        f: impl FnOnce(&mut dyn Iterator<Item = (&String, &Arc<ObjectMeta>)>) -> R,
    ) -> R {
        let objects = read(&self.objects);
        let mut it =
            objects.range::<str, _>((std::ops::Bound::Included(from), std::ops::Bound::Unbounded));
        f(&mut it)
    }

    /// Open an object's data for reading. Retries once if a concurrent
    /// overwrite replaced the data file between lookup and open.
    pub fn open(&self, key: &str) -> StoreResult<(Arc<ObjectMeta>, std::fs::File)> {
        for _ in 0..2 {
            let meta = self.get(key).ok_or_else(StoreError::no_such_key)?;
            let path = self.data_path(&meta);
            match std::fs::File::open(&path) {
                Ok(f) => return Ok((meta, f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(DurableError::io("open", &path, e).into()),
            }
        }
        Err(StoreError::no_such_key())
    }

    /// Move a received body into place as `key` and commit its metadata.
    pub async fn put(
        &self,
        key: &str,
        blob: TempBlob,
        attrs: ObjectAttrs,
        checksum: Option<StoredChecksum>,
        cond: &WriteCondition,
    ) -> StoreResult<Arc<ObjectMeta>> {
        let _writing = self.writes.read().await;
        let data_file = uuid::Uuid::new_v4().simple().to_string();
        let target = self.dir.join("data").join(&data_file);
        let from = blob.path.clone();
        let to = target.clone();
        blocking(move || durable::rename_durable(&from, &to)).await?;
        let meta = ObjectMeta {
            key: key.to_owned(),
            size: blob.size,
            etag: blob.md5_hex.clone(),
            last_modified_ms: now_ms(),
            attrs,
            checksum,
            parts_count: None,
            data_file,
            restore: None,
        };
        self.commit_writing_if(meta, cond).await
    }

    /// Persist `meta` as the current version of its key, replacing any
    /// previous version and removing the data file it no longer uses.
    pub async fn commit(&self, meta: ObjectMeta) -> StoreResult<Arc<ObjectMeta>> {
        let _writing = self.writes.read().await;
        self.commit_writing(meta).await
    }

    /// `commit` for a caller that holds `writes` already (taking it twice
    /// could deadlock behind a waiting rollback).
    pub(crate) async fn commit_writing(&self, meta: ObjectMeta) -> StoreResult<Arc<ObjectMeta>> {
        self.commit_writing_if(meta, &WriteCondition::default())
            .await
    }

    /// `commit_writing` when the key's version at the commit meets `cond`;
    /// otherwise the new data file is removed and the write refused.
    pub(crate) async fn commit_writing_if(
        &self,
        meta: ObjectMeta,
        cond: &WriteCondition,
    ) -> StoreResult<Arc<ObjectMeta>> {
        let _guard = self.commit.lock().await;
        if let Err(e) = cond.judge(self.get(&meta.key).as_deref()) {
            let _ = std::fs::remove_file(self.data_path(&meta));
            return Err(e);
        }
        let meta = Arc::new(meta);
        let path = self.dir.join("meta").join(meta_name(&meta.key));
        let tmp = self.tmp.clone();
        let m = meta.clone();
        blocking(move || durable::write_json(&tmp, &path, &*m)).await?;
        let old = self
            .objects
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(meta.key.clone(), meta.clone());
        if let Some(old) = old {
            if old.data_file != meta.data_file {
                let _ = std::fs::remove_file(self.data_path(&old));
            }
        }
        Ok(meta)
    }

    /// Store `bytes` as `key` with `template`'s attributes and ETag, outside
    /// the S3 API: what rot on the disk or an operator's hand does to an
    /// object (a corruption fault's tool, never a request's path).
    pub async fn replace_bytes(
        &self,
        template: &ObjectMeta,
        bytes: Vec<u8>,
    ) -> StoreResult<Arc<ObjectMeta>> {
        let _writing = self.writes.read().await;
        let data_file = uuid::Uuid::new_v4().simple().to_string();
        let target = self.dir.join("data").join(&data_file);
        let to = target.clone();
        let size = bytes.len() as u64;
        blocking(move || {
            std::fs::write(&to, &bytes).map_err(|e| DurableError::io("write", &to, e))
        })
        .await?;
        let meta = ObjectMeta {
            key: template.key.clone(),
            size,
            data_file,
            checksum: None,
            last_modified_ms: now_ms(),
            ..template.clone()
        };
        self.commit_writing(meta).await
    }

    /// Delete `key`; deleting a missing key is not an error (as on S3).
    pub async fn delete(&self, key: &str) -> StoreResult<bool> {
        let _writing = self.writes.read().await;
        let _guard = self.commit.lock().await;
        let Some(old) = self.get(key) else {
            return Ok(false);
        };
        let path = self.dir.join("meta").join(meta_name(key));
        blocking(move || durable::remove_durable(&path)).await?;
        self.objects
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
        let _ = std::fs::remove_file(self.data_path(&old));
        Ok(true)
    }

    /// A new key sharing `src`'s bytes (data files are immutable, so a hard
    /// link is a copy).
    pub async fn copy_from(
        &self,
        src_bucket: &Bucket,
        src: &ObjectMeta,
        key: &str,
        attrs: ObjectAttrs,
    ) -> StoreResult<Arc<ObjectMeta>> {
        let _writing = self.writes.read().await;
        let data_file = uuid::Uuid::new_v4().simple().to_string();
        let from = src_bucket.data_path(src);
        let to = self.dir.join("data").join(&data_file);
        blocking(move || {
            std::fs::hard_link(&from, &to)
                .or_else(|_| std::fs::copy(&from, &to).map(|_| ()))
                .map_err(|e| DurableError::io("copy", &to, e))?;
            match to.parent() {
                Some(dir) => durable::sync_dir(dir),
                None => Ok(()),
            }
        })
        .await?;
        let meta = ObjectMeta {
            key: key.to_owned(),
            size: src.size,
            etag: src.etag.clone(),
            last_modified_ms: now_ms(),
            attrs,
            checksum: src.checksum.clone(),
            parts_count: src.parts_count,
            data_file,
            restore: None,
        };
        self.commit_writing(meta).await
    }
}

/// Run blocking filesystem work off the async workers.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, DurableError>
where
    F: FnOnce() -> Result<T, DurableError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(DurableError::io(
            "blocking task",
            Path::new("-"),
            std::io::Error::other(e.to_string()),
        )),
    }
}

#[path = "store_checkpoint.rs"]
mod checkpoint;

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
