//! Checkpoints of the store: every bucket's files hard-linked into a
//! directory, and the rollback that makes a bucket what a checkpoint holds.

use super::*;

impl Store {
    /// Save what every bucket holds now (objects with their metadata and
    /// restore state, open multipart uploads with their parts) in `dir`,
    /// replacing the checkpoint there, if any. Files are hard-linked (they
    /// are never changed in place), copied where linking fails. Waits for
    /// the writes in progress; no write runs meanwhile.
    pub async fn checkpoint(&self, dir: &Path) -> StoreResult<()> {
        let buckets = self.buckets();
        let mut held = Vec::with_capacity(buckets.len());
        for b in &buckets {
            held.push((b.writes.write().await, b.commit.lock().await));
        }
        let sources: Vec<(String, PathBuf)> = buckets
            .iter()
            .map(|b| (b.name.clone(), b.dir.clone()))
            .collect();
        let to = dir.to_owned();
        blocking(move || write_checkpoint(&sources, &to))
            .await
            .map_err(|e| checkpoint_error(dir, e))?;
        drop(held);
        Ok(())
    }

    /// Make every bucket hold again what it held at the checkpoint in `dir`
    /// (buckets created since are removed), again by hard links, so the
    /// same checkpoint can be rolled back to any number of times. Reloads
    /// the index and the open uploads, and forgets the completed ones.
    /// Waits for the writes in progress; no write runs meanwhile.
    pub async fn rollback(&self, dir: &Path) -> StoreResult<()> {
        let marker = dir.join(CHECKPOINT_FILE);
        if !marker.is_file() {
            return Err(StoreError::Checkpoint {
                dir: dir.to_owned(),
                reason: format!(
                    "no {CHECKPOINT_FILE}: not a checkpoint, or one that never finished"
                ),
            });
        }
        let saved: CheckpointFile = read_json(&marker)?;
        for name in &saved.buckets {
            if self.bucket(name).is_err() {
                self.create_bucket(name)?;
            }
        }
        let buckets = self.buckets();
        let mut held = Vec::with_capacity(buckets.len());
        for b in &buckets {
            held.push((b.writes.write().await, b.commit.lock().await));
        }
        for b in &buckets {
            if !saved.buckets.contains(&b.name) {
                self.buckets
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&b.name);
                let bdir = b.dir.clone();
                blocking(move || {
                    std::fs::remove_dir_all(&bdir).map_err(|e| DurableError::io("remove", &bdir, e))
                })
                .await?;
                continue;
            }
            let (bdir, src) = (b.dir.clone(), dir.join("buckets").join(&b.name));
            let replaced = tokio::task::spawn_blocking(move || replace_tree(&bdir, &src))
                .await
                .map_err(|e| StoreError::Checkpoint {
                    dir: dir.to_owned(),
                    reason: format!("the rollback task failed: {e}"),
                })?;
            let (objects, uploads) = replaced.map_err(|e| StoreError::Checkpoint {
                dir: dir.to_owned(),
                reason: format!("rolling back bucket {}: {e}", b.name),
            })?;
            *b.objects.write().unwrap_or_else(PoisonError::into_inner) = objects;
            *lock(&b.uploads) = uploads;
            lock(&b.completed).clear();
        }
        drop(held);
        Ok(())
    }
}

fn checkpoint_error(dir: &Path, e: DurableError) -> StoreError {
    StoreError::Checkpoint {
        dir: dir.to_owned(),
        reason: e.to_string(),
    }
}

/// Write the checkpoint of the buckets `(name, directory)` to `dir`.
fn write_checkpoint(buckets: &[(String, PathBuf)], dir: &Path) -> Result<(), DurableError> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map_err(|e| DurableError::io("list", dir, e))?
            .next()
            .is_none();
        if !empty && !dir.join(CHECKPOINT_FILE).is_file() {
            // Never remove a directory that is not ours.
            return Err(DurableError::io(
                "replace",
                dir,
                std::io::Error::other(format!(
                    "the directory is not empty and holds no {CHECKPOINT_FILE}"
                )),
            ));
        }
        std::fs::remove_dir_all(dir).map_err(|e| DurableError::io("remove", dir, e))?;
    }
    for (name, from) in buckets {
        let to = dir.join("buckets").join(name);
        for sub in BUCKET_DIRS {
            link_tree(&from.join(sub), &to.join(sub))?;
        }
    }
    let marker = CheckpointFile {
        buckets: buckets.iter().map(|(n, _)| n.clone()).collect(),
        created_ms: now_ms(),
    };
    durable::write_json(dir, &dir.join(CHECKPOINT_FILE), &marker)
}

/// Replace the trees of the bucket directory `bucket` with the ones of the
/// checkpointed bucket `saved` (linked into a staging tree first, so a
/// checkpoint that cannot be read changes nothing), then read its index.
fn replace_tree(bucket: &Path, saved: &Path) -> StoreResult<(Objects, Uploads)> {
    let new = bucket.join(ROLLBACK_NEW);
    let old = bucket.join(ROLLBACK_OLD);
    for stage in [&new, &old] {
        if stage.exists() {
            std::fs::remove_dir_all(stage).map_err(|e| DurableError::io("remove", stage, e))?;
        }
    }
    for sub in BUCKET_DIRS {
        link_tree(&saved.join(sub), &new.join(sub))?;
    }
    durable::create_dir_all(&old)?;
    for sub in BUCKET_DIRS {
        let live = bucket.join(sub);
        match std::fs::rename(&live, old.join(sub)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(DurableError::io("rename", &live, e).into()),
        }
        std::fs::rename(new.join(sub), &live).map_err(|e| DurableError::io("rename", &live, e))?;
    }
    durable::sync_dir(bucket)?;
    for stage in [&old, &new] {
        std::fs::remove_dir_all(stage).map_err(|e| DurableError::io("remove", stage, e))?;
    }
    read_index(bucket)
}

/// Make `to` (created) hold hard links to the files under `from`, copies
/// where a link fails (another filesystem).
fn link_tree(from: &Path, to: &Path) -> Result<(), DurableError> {
    durable::create_dir_all(to)?;
    let entries = std::fs::read_dir(from).map_err(|e| DurableError::io("list", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| DurableError::io("list", from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry
            .file_type()
            .map_err(|e| DurableError::io("stat", &src, e))?;
        if kind.is_dir() {
            link_tree(&src, &dst)?;
        } else if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst)
                .and_then(|_| std::fs::File::open(&dst)?.sync_all())
                .map_err(|e| DurableError::io("copy", &dst, e))?;
        }
    }
    durable::sync_dir(to)
}
