//! Keys against the profile's layout patterns.

use super::{names, Check, Problem, Verdict};
use crate::profile::{KeyPatterns, Profile};
use anyhow::Result;
use serde_json::json;

/// The prefix and the compiled patterns of a profile.
#[derive(Debug, Clone)]
pub struct Layout {
    /// With exactly one trailing slash.
    pub prefix: String,
    pub patterns: KeyPatterns,
    pub full_kind: String,
    pub incremental_kind: String,
}

/// What a key is, by the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClass {
    Chunk {
        subvol: String,
        kind: String,
        ts: String,
        index: u64,
    },
    Manifest {
        subvol: String,
        kind: String,
        ts: String,
    },
    Pointer {
        subvol: String,
    },
    /// Under the prefix but matching no pattern.
    Unknown,
    /// Not under the prefix.
    Outside,
}

impl Layout {
    pub fn from_profile(p: &Profile) -> Result<Layout> {
        Ok(Layout {
            prefix: p.s3.normalized_prefix(),
            patterns: p.layout.compile()?,
            full_kind: p.layout.full_kind.clone(),
            incremental_kind: p.layout.incremental_kind.clone(),
        })
    }

    pub fn classify(&self, key: &str) -> KeyClass {
        let Some(rest) = key.strip_prefix(&self.prefix) else {
            return KeyClass::Outside;
        };
        let p = &self.patterns;
        if let Some(c) = p.chunk.captures(rest) {
            if let Ok(index) = c["index"].parse::<u64>() {
                return KeyClass::Chunk {
                    subvol: c["subvol"].to_string(),
                    kind: c["kind"].to_string(),
                    ts: c["ts"].to_string(),
                    index,
                };
            }
        }
        if let Some(c) = p.manifest.captures(rest) {
            return KeyClass::Manifest {
                subvol: c["subvol"].to_string(),
                kind: c["kind"].to_string(),
                ts: c["ts"].to_string(),
            };
        }
        if let Some(c) = p.pointer.captures(rest) {
            return KeyClass::Pointer {
                subvol: c["subvol"].to_string(),
            };
        }
        KeyClass::Unknown
    }

    pub fn is_chunk(&self, key: &str) -> bool {
        matches!(self.classify(key), KeyClass::Chunk { .. })
    }

    pub fn is_manifest(&self, key: &str) -> bool {
        matches!(self.classify(key), KeyClass::Manifest { .. })
    }

    pub fn is_pointer(&self, key: &str) -> bool {
        matches!(self.classify(key), KeyClass::Pointer { .. })
    }

    /// The subvolume a chunk, manifest or pointer key belongs to.
    pub fn subvolume_of(&self, key: &str) -> Option<String> {
        match self.classify(key) {
            KeyClass::Chunk { subvol, .. }
            | KeyClass::Manifest { subvol, .. }
            | KeyClass::Pointer { subvol } => Some(subvol),
            KeyClass::Unknown | KeyClass::Outside => None,
        }
    }
}

/// A regular expression (for the endpoint's fault rules, which match keys
/// by pattern) for the full keys of one of the profile's layout patterns
/// (chunk, manifest, pointer), with the named groups in `pins` replaced by
/// literal values, e.g. `[("subvol", "data"), ("index", "1")]` on the chunk
/// pattern: "chunk 1 of data, any kind and TS".
pub fn key_regex(layout_pattern: &str, prefix: &str, pins: &[(&str, &str)]) -> Result<String> {
    let mut pattern = layout_pattern.to_string();
    for (group, value) in pins {
        pattern = pin_group(&pattern, group, &regex::escape(value))
            .ok_or_else(|| anyhow::anyhow!("the layout pattern has no group (?P<{group}>...)"))?;
    }
    let full = format!("^{}(?:{pattern})$", regex::escape(prefix));
    regex::Regex::new(&full).map_err(|e| anyhow::anyhow!("pinned layout pattern {full}: {e}"))?;
    Ok(full)
}

/// `pattern` with the body of the named group `name` replaced by
/// `literal` (already escaped). None when there is no such group.
fn pin_group(pattern: &str, name: &str, literal: &str) -> Option<String> {
    let opener = [format!("(?P<{name}>"), format!("(?<{name}>")]
        .into_iter()
        .find_map(|o| pattern.find(&o).map(|at| (at, o.len())))?;
    let (start, open_len) = opener;
    let body = start + open_len;
    let bytes = pattern.as_bytes();
    let (mut depth, mut i, mut in_class) = (1usize, body, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'[' if !in_class => {
                in_class = true;
                // A `]` right after `[` or `[^` is a literal member.
                if bytes.get(i + 1) == Some(&b'^') {
                    i += 1;
                }
                if bytes.get(i + 1) == Some(&b']') {
                    i += 1;
                }
            }
            b']' if in_class => in_class = false,
            b'(' if !in_class => depth += 1,
            b')' if !in_class => {
                depth -= 1;
                if depth == 0 {
                    return Some(format!("{}{literal}{}", &pattern[..body], &pattern[i..]));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// `verify.layout`: every key under the prefix is a chunk, manifest or
/// pointer of the layout, and a kind segment is one of the two kinds.
pub fn verify_layout<'a>(layout: &Layout, keys: impl IntoIterator<Item = &'a str>) -> Check {
    let mut problems = Vec::new();
    let (mut chunks, mut manifests, mut pointers) = (0, 0, 0);
    for key in keys {
        match layout.classify(key) {
            KeyClass::Chunk { kind, .. } | KeyClass::Manifest { kind, .. }
                if kind != layout.full_kind && kind != layout.incremental_kind =>
            {
                problems.push(Problem::about(
                    key,
                    format!(
                        "kind segment {kind:?} is neither {:?} nor {:?}",
                        layout.full_kind, layout.incremental_kind
                    ),
                ));
            }
            KeyClass::Chunk { .. } => chunks += 1,
            KeyClass::Manifest { .. } => manifests += 1,
            KeyClass::Pointer { .. } => pointers += 1,
            KeyClass::Unknown => problems.push(Problem::about(
                key,
                "matches none of the layout's chunk, manifest and pointer patterns",
            )),
            KeyClass::Outside => {}
        }
    }
    let summary = format!("{chunks} chunk(s), {manifests} manifest(s), {pointers} pointer(s)");
    Check::from_problems(
        names::LAYOUT,
        problems,
        Verdict::Fail,
        json!({"prefix": layout.prefix, "chunks": chunks, "manifests": manifests, "pointers": pointers}),
        format!("every key follows the layout: {summary}"),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn layout() -> Layout {
        Layout::from_profile(&Profile::default()).unwrap()
    }

    #[test]
    fn classifies_contract_keys() {
        let l = layout();
        assert_eq!(
            l.classify("backups/subvol/data/full/chunk-20240101T000000Z-3.bin"),
            KeyClass::Chunk {
                subvol: "data".into(),
                kind: "full".into(),
                ts: "20240101T000000Z".into(),
                index: 3
            }
        );
        assert!(l.is_manifest("backups/subvol/data/incremental/manifest-20240101T000000Z.json"));
        assert!(l.is_pointer("backups/subvol/data/current.json"));
        assert_eq!(
            l.classify("other/subvol/data/current.json"),
            KeyClass::Outside
        );
        assert_eq!(
            l.classify("backups/subvol/data/full/chunk-x.bin"),
            KeyClass::Unknown
        );
    }

    #[test]
    fn pinned_chunk_regex() {
        let p = crate::profile::Profile::default();
        let re = key_regex(
            &p.layout.chunk,
            "backups/",
            &[("subvol", "data"), ("index", "1")],
        )
        .unwrap();
        let re = regex::Regex::new(&re).unwrap();
        assert!(re.is_match("backups/subvol/data/full/chunk-20240101T000000Z-1.bin"));
        assert!(re.is_match("backups/subvol/data/incremental/chunk-20240101T000000Z-1.bin"));
        assert!(!re.is_match("backups/subvol/data/full/chunk-20240101T000000Z-11.bin"));
        assert!(!re.is_match("backups/subvol/root/full/chunk-20240101T000000Z-1.bin"));
        assert!(!re.is_match("x/backups/subvol/data/full/chunk-20240101T000000Z-1.bin"));
        let any = key_regex(&p.layout.chunk, "b.k/", &[("subvol", "a.b")]).unwrap();
        let any = regex::Regex::new(&any).unwrap();
        assert!(any.is_match("b.k/subvol/a.b/full/chunk-20240101T000000Z-7.bin"));
        assert!(!any.is_match("bxk/subvol/a.b/full/chunk-20240101T000000Z-7.bin"));
        assert!(!any.is_match("b.k/subvol/axb/full/chunk-20240101T000000Z-7.bin"));
        assert_eq!(
            pin_group(r"(?P<a>[)(]+(x))-(?P<b>y)", "a", "Z").as_deref(),
            Some("(?P<a>Z)-(?P<b>y)")
        );
        assert_eq!(
            pin_group(r"(?P<a>\)x)", "a", "Z").as_deref(),
            Some("(?P<a>Z)")
        );
        assert!(key_regex(&p.layout.chunk, "p/", &[("nope", "1")]).is_err());
    }

    #[test]
    fn layout_check() {
        let l = layout();
        let good = [
            "backups/subvol/data/full/chunk-20240101T000000Z-0.bin",
            "backups/subvol/data/full/manifest-20240101T000000Z.json",
            "backups/subvol/data/current.json",
            "elsewhere/x",
        ];
        let c = verify_layout(&l, good);
        assert_eq!(c.verdict, Verdict::Pass, "{}", c.diagnosis);
        assert_eq!(c.evidence["chunks"], 1);
        let c = verify_layout(
            &l,
            [
                "backups/subvol/data/full/chunk-20240101T000000Z-00.bin",
                "backups/tmp.part",
            ],
        );
        assert_eq!(c.verdict, Verdict::Fail);
        assert_eq!(c.evidence["problem_count"], 2);
        assert!(c.diagnosis.contains("backups/tmp.part"), "{}", c.diagnosis);
    }
}
