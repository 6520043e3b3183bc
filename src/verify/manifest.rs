//! The manifest rules of CONTRACT.md over the S3 state: schema, kind, chunk
//! order, stored sizes, totals, the parent chain and the pointers.

use super::layout::{KeyClass, Layout};
use super::schema::{violations, Schemas};
use super::source::S3State;
use super::{names, Check, Problem, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u64,
    pub subvolume: String,
    pub kind: String,
    pub created_at: String,
    pub snapshot: SnapshotRef,
    pub parent_manifest: Option<String>,
    pub chunks: Vec<ChunkEntry>,
    pub total_bytes: u64,
    pub chunk_size: u64,
    pub s3: ManifestS3,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRef {
    pub name: String,
    pub path: String,
    pub uuid: Option<String>,
    pub parent_uuid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkEntry {
    pub key: String,
    pub size: u64,
    pub sha256: String,
    #[serde(default)]
    pub etag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestS3 {
    pub storage_class: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pointer {
    pub manifest_key: String,
    pub kind: String,
    pub created_at: String,
}

/// Manifests and pointers of the state, typed where they could be.
#[derive(Debug, Clone, Default)]
pub struct Documents {
    pub manifests: BTreeMap<String, Result<Manifest, String>>,
    pub pointers: BTreeMap<String, Result<Pointer, String>>,
}

impl Documents {
    pub fn from_state(state: &S3State, layout: &Layout) -> Documents {
        let mut d = Documents::default();
        for (key, doc) in &state.documents {
            match layout.classify(key) {
                KeyClass::Manifest { .. } => {
                    let m = doc.clone().and_then(|v| {
                        serde_json::from_value::<Manifest>(v)
                            .map_err(|e| format!("not a manifest: {e}"))
                    });
                    d.manifests.insert(key.clone(), m);
                }
                KeyClass::Pointer { .. } => {
                    let p = doc.clone().and_then(|v| {
                        serde_json::from_value::<Pointer>(v)
                            .map_err(|e| format!("not a pointer: {e}"))
                    });
                    d.pointers.insert(key.clone(), p);
                }
                _ => {}
            }
        }
        d
    }

    /// The readable manifests.
    pub fn valid_manifests(&self) -> impl Iterator<Item = (&String, &Manifest)> {
        self.manifests
            .iter()
            .filter_map(|(k, m)| m.as_ref().ok().map(|m| (k, m)))
    }

    /// Manifest key -> its chunk keys in manifest order.
    pub fn chunk_lists(&self) -> BTreeMap<String, Vec<String>> {
        self.valid_manifests()
            .map(|(k, m)| (k.clone(), m.chunks.iter().map(|c| c.key.clone()).collect()))
            .collect()
    }

    /// Pointer key -> the manifest key it names.
    pub fn pointer_targets(&self) -> BTreeMap<String, String> {
        self.pointers
            .iter()
            .filter_map(|(k, p)| p.as_ref().ok().map(|p| (k.clone(), p.manifest_key.clone())))
            .collect()
    }
}

/// All manifest and pointer checks. `expect_pointer_for`: subvolumes that
/// must have a `current.json`.
pub fn verify_manifests(
    state: &S3State,
    layout: &Layout,
    schemas: &Schemas,
    expect_pointer_for: &[String],
) -> Vec<Check> {
    let docs = Documents::from_state(state, layout);
    vec![
        schema_check(state, layout, schemas),
        kind_check(&docs, layout),
        chunk_order_check(&docs, layout),
        chunks_stored_check(&docs, state),
        total_bytes_check(&docs),
        parent_chain_check(&docs, layout),
        pointer_check(&docs, state, layout, expect_pointer_for),
    ]
}

fn unreadable(docs: &Documents) -> Vec<Problem> {
    docs.manifests
        .iter()
        .filter_map(|(k, m)| {
            m.as_ref()
                .err()
                .map(|e| Problem::about(k, format!("cannot be checked: {e}")))
        })
        .collect()
}

fn counted(docs: &Documents) -> serde_json::Value {
    json!({"manifests": docs.manifests.len(), "pointers": docs.pointers.len()})
}

fn schema_check(state: &S3State, layout: &Layout, schemas: &Schemas) -> Check {
    let mut problems = Vec::new();
    let mut n = 0;
    for (key, doc) in &state.documents {
        let validator = match layout.classify(key) {
            KeyClass::Manifest { .. } => &schemas.manifest,
            KeyClass::Pointer { .. } => &schemas.pointer,
            _ => continue,
        };
        n += 1;
        match doc {
            Err(e) => problems.push(Problem::about(key, e.clone())),
            Ok(v) => {
                let errs = violations(validator, v);
                if !errs.is_empty() {
                    problems.push(
                        Problem::about(key, format!("violates its schema: {}", errs[0]))
                            .with(json!(errs)),
                    );
                }
            }
        }
    }
    Check::from_problems(
        names::MANIFEST_SCHEMA,
        problems,
        Verdict::Fail,
        json!({"documents": n, "manifest_schema": schemas.manifest_path, "pointer_schema": schemas.pointer_path}),
        format!("{n} manifest(s) and pointer(s) match their JSON Schemas"),
    )
}

fn kind_check(docs: &Documents, layout: &Layout) -> Check {
    let mut problems = unreadable(docs);
    for (key, m) in docs.valid_manifests() {
        if let KeyClass::Manifest { subvol, kind, ts } = layout.classify(key) {
            if m.kind != kind {
                problems.push(Problem::about(
                    key,
                    format!("kind {:?} but the key's segment is {kind:?}", m.kind),
                ));
            }
            if m.kind != layout.full_kind && m.kind != layout.incremental_kind {
                problems.push(Problem::about(key, format!("unknown kind {:?}", m.kind)));
            }
            if m.subvolume != subvol {
                problems.push(Problem::about(
                    key,
                    format!("subvolume {:?} but the key says {subvol:?}", m.subvolume),
                ));
            }
            if m.created_at != ts {
                problems.push(Problem::about(
                    key,
                    format!("created_at {:?} but the key's TS is {ts:?}", m.created_at),
                ));
            }
        }
    }
    Check::from_problems(
        names::MANIFEST_KIND,
        problems,
        Verdict::Fail,
        counted(docs),
        "every manifest's kind, subvolume and created_at match its key",
    )
}

fn chunk_order_check(docs: &Documents, layout: &Layout) -> Check {
    let mut problems = unreadable(docs);
    for (key, m) in docs.valid_manifests() {
        let KeyClass::Manifest { subvol, kind, ts } = layout.classify(key) else {
            continue;
        };
        let mut seen = BTreeSet::new();
        for (i, c) in m.chunks.iter().enumerate() {
            if !seen.insert(&c.key) {
                problems.push(Problem::about(
                    key,
                    format!("chunk {i} ({}) is listed twice", c.key),
                ));
                continue;
            }
            match layout.classify(&c.key) {
                KeyClass::Chunk {
                    subvol: s,
                    kind: k,
                    ts: t,
                    index,
                } => {
                    if index != i as u64 {
                        problems.push(
                            Problem::about(
                                key,
                                format!("entry {i} is chunk index {index}: not in stream order"),
                            )
                            .with(json!({"entry": i, "chunk": c.key})),
                        );
                    }
                    if s != subvol || k != kind || t != ts {
                        problems.push(Problem::about(
                            key,
                            format!("chunk {} belongs to another backup ({s}/{k}/{t})", c.key),
                        ));
                    }
                }
                _ => problems.push(Problem::about(
                    key,
                    format!("entry {i} key {:?} is not a chunk key of the layout", c.key),
                )),
            }
        }
    }
    Check::from_problems(
        names::CHUNK_ORDER,
        problems,
        Verdict::Fail,
        counted(docs),
        "every manifest lists its own chunks in stream order (0, 1, 2, ...)",
    )
}

fn chunks_stored_check(docs: &Documents, state: &S3State) -> Check {
    let mut problems = unreadable(docs);
    let mut chunks = 0;
    for (key, m) in docs.valid_manifests() {
        for c in &m.chunks {
            chunks += 1;
            match state.objects.get(&c.key) {
                None => problems.push(Problem::about(
                    key,
                    format!("chunk {} does not exist", c.key),
                )),
                Some(o) if o.size != c.size => problems.push(
                    Problem::about(
                        key,
                        format!(
                            "chunk {} has {} bytes, the manifest says {}",
                            c.key, o.size, c.size
                        ),
                    )
                    .with(json!({"chunk": c.key, "stored": o.size, "manifest": c.size})),
                ),
                Some(_) => {}
            }
        }
    }
    Check::from_problems(
        names::CHUNKS_STORED,
        problems,
        Verdict::Fail,
        json!({"manifests": docs.manifests.len(), "chunks": chunks}),
        format!("all {chunks} chunk(s) exist with their manifest sizes"),
    )
}

fn total_bytes_check(docs: &Documents) -> Check {
    let mut problems = unreadable(docs);
    for (key, m) in docs.valid_manifests() {
        let sum: u64 = m.chunks.iter().map(|c| c.size).sum();
        if sum != m.total_bytes {
            problems.push(
                Problem::about(
                    key,
                    format!(
                        "total_bytes {} is not the sum of chunk sizes {sum}",
                        m.total_bytes
                    ),
                )
                .with(json!({"total_bytes": m.total_bytes, "sum": sum})),
            );
        }
    }
    Check::from_problems(
        names::TOTAL_BYTES,
        problems,
        Verdict::Fail,
        counted(docs),
        "every total_bytes is the sum of its chunk sizes",
    )
}

/// Why following parents from `key` does not end at a full, if it does not.
pub fn chain_problem(docs: &Documents, layout: &Layout, key: &str) -> Option<String> {
    let mut seen = vec![key.to_string()];
    let mut cur = key.to_string();
    loop {
        let m = match docs.manifests.get(&cur) {
            None => return Some(format!("{cur} does not exist")),
            Some(Err(e)) => return Some(format!("{cur} is unreadable: {e}")),
            Some(Ok(m)) => m,
        };
        if m.kind == layout.full_kind {
            return None;
        }
        let Some(parent) = &m.parent_manifest else {
            return Some(format!("{cur} is an incremental without parent_manifest"));
        };
        if seen.contains(parent) {
            seen.push(parent.clone());
            return Some(format!("the chain loops: {}", seen.join(" -> ")));
        }
        seen.push(parent.clone());
        cur = parent.clone();
    }
}

/// The readable manifests from `key` back along its parents (stops at a
/// missing one or a loop).
pub fn chain_of<'a>(docs: &'a Documents, key: &str) -> Vec<&'a Manifest> {
    let mut out: Vec<&Manifest> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut cur = Some(key.to_string());
    while let Some(k) = cur {
        if !seen.insert(k.clone()) {
            break;
        }
        let Some(Ok(m)) = docs.manifests.get(&k) else {
            break;
        };
        out.push(m);
        cur = m.parent_manifest.clone();
    }
    out
}

fn parent_chain_check(docs: &Documents, layout: &Layout) -> Check {
    let mut problems = unreadable(docs);
    for (key, m) in docs.valid_manifests() {
        let is_full = m.kind == layout.full_kind;
        match (&m.parent_manifest, is_full) {
            (Some(p), true) => problems.push(Problem::about(
                key,
                format!("a full backup has parent_manifest {p:?}"),
            )),
            (None, false) => problems.push(Problem::about(
                key,
                "an incremental backup has no parent_manifest",
            )),
            (None, true) => {}
            (Some(p), false) => {
                match docs.manifests.get(p) {
                    None => {
                        problems.push(Problem::about(key, format!("parent {p} does not exist")))
                    }
                    Some(Err(e)) => problems.push(Problem::about(
                        key,
                        format!("parent {p} is unreadable: {e}"),
                    )),
                    Some(Ok(parent)) => {
                        if parent.subvolume != m.subvolume {
                            problems.push(Problem::about(
                                key,
                                format!("parent {p} belongs to subvolume {:?}", parent.subvolume),
                            ));
                        }
                        if parent.created_at >= m.created_at {
                            problems.push(Problem::about(
                                key,
                                format!(
                                    "parent {p} ({}) is not older than this backup ({})",
                                    parent.created_at, m.created_at
                                ),
                            ));
                        }
                    }
                }
                if let Some(why) = chain_problem(docs, layout, key) {
                    problems.push(Problem::about(
                        key,
                        format!("following parents does not end at a full: {why}"),
                    ));
                }
            }
        }
    }
    Check::from_problems(
        names::PARENT_CHAIN,
        problems,
        Verdict::Fail,
        counted(docs),
        "every chain of parents ends at a full of the same subvolume, older at each step, without loops",
    )
}

fn pointer_check(
    docs: &Documents,
    state: &S3State,
    layout: &Layout,
    expect_pointer_for: &[String],
) -> Check {
    let mut problems = Vec::new();
    let mut with_pointer = BTreeSet::new();
    let mut targets = BTreeMap::new();
    for (key, p) in &docs.pointers {
        let subvol = layout.subvolume_of(key).unwrap_or_default();
        with_pointer.insert(subvol.clone());
        let p = match p {
            Ok(p) => p,
            Err(e) => {
                problems.push(Problem::about(key, e.clone()));
                continue;
            }
        };
        targets.insert(key.clone(), p.manifest_key.clone());
        let m = match docs.manifests.get(&p.manifest_key) {
            None if state.objects.contains_key(&p.manifest_key) => {
                problems.push(Problem::about(
                    key,
                    format!(
                        "names {}, which is not a manifest key of the layout",
                        p.manifest_key
                    ),
                ));
                continue;
            }
            None => {
                problems.push(Problem::about(
                    key,
                    format!("names {}, which does not exist", p.manifest_key),
                ));
                continue;
            }
            Some(Err(e)) => {
                problems.push(Problem::about(
                    key,
                    format!("names {}, which is unreadable: {e}", p.manifest_key),
                ));
                continue;
            }
            Some(Ok(m)) => m,
        };
        if m.subvolume != subvol {
            problems.push(Problem::about(
                key,
                format!("names a manifest of subvolume {:?}", m.subvolume),
            ));
        }
        if m.kind != p.kind || m.created_at != p.created_at {
            problems.push(Problem::about(
                key,
                format!(
                    "says {} {} but the manifest is {} {}",
                    p.kind, p.created_at, m.kind, m.created_at
                ),
            ));
        }
        let missing: Vec<&str> = chain_of(docs, &p.manifest_key)
            .into_iter()
            .flat_map(|m| m.chunks.iter())
            .filter(|c| state.objects.get(&c.key).is_none_or(|o| o.size != c.size))
            .map(|c| c.key.as_str())
            .collect();
        if !missing.is_empty() {
            problems.push(
                Problem::about(
                    key,
                    format!(
                        "names a manifest whose chain is incomplete: {} chunk(s) missing or short",
                        missing.len()
                    ),
                )
                .with(json!(missing)),
            );
        }
        if let Some(why) = chain_problem(docs, layout, &p.manifest_key) {
            problems.push(Problem::about(
                key,
                format!("names a manifest whose chain is broken: {why}"),
            ));
        }
    }
    for s in expect_pointer_for {
        if !with_pointer.contains(s) {
            problems.push(Problem::new(
                None,
                format!("subvolume {s:?} has no pointer"),
            ));
        }
    }
    Check::from_problems(
        names::POINTER,
        problems,
        Verdict::Fail,
        json!({"pointers": targets}),
        format!(
            "{} pointer(s), each naming an existing, complete manifest of its subvolume",
            docs.pointers.len()
        ),
    )
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
