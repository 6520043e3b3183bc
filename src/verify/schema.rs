//! The JSON Schemas of `expected/`, loaded at run time (a user with another
//! tool edits the files) and applied with the `jsonschema` crate.

use anyhow::{anyhow, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub struct Schemas {
    pub manifest: jsonschema::Validator,
    pub pointer: jsonschema::Validator,
    pub manifest_path: PathBuf,
    pub pointer_path: PathBuf,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("manifest_path", &self.manifest_path)
            .field("pointer_path", &self.pointer_path)
            .finish()
    }
}

impl Schemas {
    /// Load both schemas; relative paths are taken from `base` (the project directory).
    pub fn load(base: &Path, manifest: &str, pointer: &str) -> Result<Schemas> {
        let manifest_path = base.join(manifest);
        let pointer_path = base.join(pointer);
        Ok(Schemas {
            manifest: load_one(&manifest_path)?,
            pointer: load_one(&pointer_path)?,
            manifest_path,
            pointer_path,
        })
    }

    /// The schemas a profile names.
    pub fn for_profile(p: &crate::profile::Profile, base: &Path) -> Result<Schemas> {
        Schemas::load(base, &p.layout.manifest_schema, &p.layout.pointer_schema)
    }
}

fn load_one(path: &Path) -> Result<jsonschema::Validator> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading JSON Schema {}", path.display()))?;
    let schema: Value = serde_json::from_str(&text)
        .with_context(|| format!("JSON Schema {} is not JSON", path.display()))?;
    jsonschema::draft202012::new(&schema)
        .map_err(|e| anyhow!("JSON Schema {} is invalid: {e}", path.display()))
}

/// Every violation as "`/json/pointer`: message" (empty when valid).
pub fn violations(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| {
            let path = e.instance_path().to_string();
            let at = if path.is_empty() {
                "/".to_string()
            } else {
                path
            };
            format!("{at}: {e}")
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn schemas() -> Schemas {
        Schemas::load(
            Path::new(env!("CARGO_MANIFEST_DIR")),
            "expected/manifest.schema.json",
            "expected/current.schema.json",
        )
        .unwrap()
    }

    pub(crate) fn manifest_doc() -> Value {
        json!({
            "version": 1, "subvolume": "data", "kind": "full", "created_at": "20240101T000000Z",
            "snapshot": {"name": "data__20240101T000000Z__full", "path": "/mnt/btrfs/.snapshots/data__20240101T000000Z__full",
                         "uuid": null, "parent_uuid": null},
            "parent_manifest": null,
            "chunks": [{"key": "backups/subvol/data/full/chunk-20240101T000000Z-0.bin", "size": 10,
                        "sha256": "0".repeat(64), "etag": null}],
            "total_bytes": 10, "chunk_size": 8388608, "s3": {"storage_class": "STANDARD"}
        })
    }

    #[test]
    fn valid_documents_pass() {
        let s = schemas();
        assert_eq!(
            violations(&s.manifest, &manifest_doc()),
            Vec::<String>::new()
        );
        // CONTRACT.md: a tool may add fields; verifiers ignore what they do not know.
        let mut extra = manifest_doc();
        extra["tool"] = json!({"name": "other"});
        extra["chunks"][0]["md5"] = json!("abc");
        assert!(violations(&s.manifest, &extra).is_empty(), "extra fields");
        let mut inc = manifest_doc();
        inc["kind"] = json!("incremental");
        inc["parent_manifest"] = json!("backups/subvol/data/full/manifest-20231231T000000Z.json");
        inc["snapshot"]["uuid"] = json!("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        inc["chunks"][0]["etag"] = json!("\"abc-2\"");
        assert_eq!(violations(&s.manifest, &inc), Vec::<String>::new());
        let p = json!({"manifest_key": "k", "kind": "full", "created_at": "20240101T000000Z"});
        assert!(violations(&s.pointer, &p).is_empty());
    }

    #[test]
    fn invalid_documents_are_named() {
        let s = schemas();
        type Mutation = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("/version", Box::new(|d| d["version"] = json!(2))),
            ("/kind", Box::new(|d| d["kind"] = json!("inc"))),
            (
                "/chunks/0/sha256",
                Box::new(|d| d["chunks"][0]["sha256"] = json!("XYZ")),
            ),
            (
                "/chunks/0/size",
                Box::new(|d| d["chunks"][0]["size"] = json!(-1)),
            ),
            ("/chunks", Box::new(|d| d["chunks"] = json!([]))),
            (
                "/created_at",
                Box::new(|d| d["created_at"] = json!("2024-01-01")),
            ),
            (
                "/parent_manifest",
                Box::new(|d| d["parent_manifest"] = json!("x")),
            ),
            (
                "/",
                Box::new(|d| {
                    d.as_object_mut().unwrap().remove("total_bytes");
                }),
            ),
        ];
        for (path, mutate) in cases {
            let mut d = manifest_doc();
            mutate(&mut d);
            let v = violations(&s.manifest, &d);
            assert!(
                v.iter().any(|m| m.starts_with(&format!("{path}:"))),
                "{path}: {v:?}"
            );
        }
        // CONTRACT.md: a tool may add fields; verifiers ignore what they do not know.
        let mut extra = manifest_doc();
        extra["tool"] = json!({"name": "other"});
        extra["chunks"][0]["md5"] = json!("abc");
        assert!(violations(&s.manifest, &extra).is_empty(), "extra fields");
        let mut inc = manifest_doc();
        inc["kind"] = json!("incremental");
        assert!(
            !violations(&s.manifest, &inc).is_empty(),
            "incremental without parent"
        );
        let bad = json!({"manifest_key": "", "kind": "full"});
        assert_eq!(violations(&s.pointer, &bad).len(), 2);
    }

    #[test]
    fn missing_or_broken_schema_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = Schemas::load(dir.path(), "nope.json", "nope.json").unwrap_err();
        assert!(format!("{err:#}").contains("nope.json"));
        std::fs::write(dir.path().join("bad.json"), r#"{"type": 12}"#).unwrap();
        std::fs::write(dir.path().join("p.json"), "{}").unwrap();
        let err = Schemas::load(dir.path(), "bad.json", "p.json").unwrap_err();
        assert!(format!("{err:#}").contains("invalid"), "{err:#}");
    }
}
