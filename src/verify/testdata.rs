//! A consistent S3 state for verifier tests: subvolume `data` with a full
//! backup (3 chunks) and an incremental (2 chunks), their manifests and
//! `current.json`, in a [`MemoryStore`].

use super::layout::Layout;
use super::memory::MemoryStore;
use super::schema::Schemas;
use super::source::S3State;
use super::stream::build::stream;
use super::{Check, Verdict};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

pub const FULL_TS: &str = "20240101T000000Z";
pub const INC_TS: &str = "20240102T000000Z";
pub const P: &str = "backups/";
pub const FULL_UUID: [u8; 16] = [0x11; 16];

pub struct Fixture {
    pub store: MemoryStore,
    pub layout: Layout,
    pub full: String,
    pub inc: String,
    pub pointer: String,
}

pub fn manifest_key(kind: &str, ts: &str) -> String {
    format!("{P}subvol/data/{kind}/manifest-{ts}.json")
}

pub fn chunk_key(kind: &str, ts: &str, i: usize) -> String {
    format!("{P}subvol/data/{kind}/chunk-{ts}-{i}.bin")
}

fn put_backup(
    store: &mut MemoryStore,
    kind: &str,
    ts: &str,
    data: &[u8],
    piece: usize,
    parent: Option<&str>,
    uuid: Option<&str>,
) -> String {
    let mut chunks = Vec::new();
    for (i, part) in data.chunks(piece).enumerate() {
        let key = chunk_key(kind, ts, i);
        store.put(&key, part.to_vec(), None, None);
        chunks.push(json!({"key": key, "size": part.len(), "sha256": hex::encode(Sha256::digest(part)), "etag": null}));
    }
    let short = if kind == "full" { "full" } else { "inc" };
    let m = json!({
        "version": 1, "subvolume": "data", "kind": kind, "created_at": ts,
        "snapshot": {"name": format!("data__{ts}__{short}"), "path": format!("/mnt/btrfs/.snapshots/data__{ts}__{short}"),
                     "uuid": uuid, "parent_uuid": null},
        "parent_manifest": parent, "chunks": chunks, "total_bytes": data.len(), "chunk_size": piece,
        "s3": {"storage_class": "STANDARD"}
    });
    let key = manifest_key(kind, ts);
    put_json(store, &key, &m);
    key
}

pub fn put_json(store: &mut MemoryStore, key: &str, v: &Value) {
    store.put(
        key,
        serde_json::to_vec(v).unwrap(),
        None,
        Some("application/json"),
    );
}

pub fn fixture() -> Fixture {
    let layout = super::layout::tests::layout();
    let mut store = MemoryStore::new();
    let full_stream = stream(None, 6, 1000);
    let full = put_backup(
        &mut store,
        "full",
        FULL_TS,
        &full_stream,
        2500,
        None,
        Some("11111111-1111-1111-1111-111111111111"),
    );
    let inc_stream = stream(Some(FULL_UUID), 2, 900);
    let inc = put_backup(
        &mut store,
        "incremental",
        INC_TS,
        &inc_stream,
        1000,
        Some(&full),
        None,
    );
    let pointer = format!("{P}subvol/data/current.json");
    put_json(
        &mut store,
        &pointer,
        &json!({"manifest_key": inc, "kind": "incremental", "created_at": INC_TS}),
    );
    Fixture {
        store,
        layout,
        full,
        inc,
        pointer,
    }
}

impl Fixture {
    pub fn state(&self) -> S3State {
        S3State::collect(&self.store, &self.layout).unwrap()
    }

    pub fn manifest(&self, key: &str) -> Value {
        serde_json::from_slice(&self.store.objects[key].1).unwrap()
    }

    pub fn edit(&mut self, key: &str, f: impl FnOnce(&mut Value)) {
        let mut v = self.manifest(key);
        f(&mut v);
        put_json(&mut self.store, key, &v);
    }
}

pub fn schemas() -> Schemas {
    super::schema::tests::schemas()
}

pub fn find<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {checks:#?}"))
}

/// Every check passes, except those named in `failing` which have `verdict`.
pub fn assert_only(checks: &[Check], failing: &[&str], verdict: Verdict) {
    for c in checks {
        if failing.contains(&c.name.as_str()) {
            assert_eq!(c.verdict, verdict, "{}: {}", c.name, c.diagnosis);
        } else {
            assert_eq!(
                c.verdict,
                Verdict::Pass,
                "{} should pass: {}",
                c.name,
                c.diagnosis
            );
        }
    }
    for f in failing {
        find(checks, f);
    }
}
