//! `[s3]`: where the tool's backups go and how objects must be stored.
//! Kept apart (and small) so the endpoint's own settings can join it.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Storage classes S3 accepts on PUT (the reference tool's list).
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
];

/// Classes whose objects need a RestoreObject before GetObject.
pub const ARCHIVE_CLASSES: &[&str] = &["GLACIER", "DEEP_ARCHIVE"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The in-process endpoint (journal, faults, archive simulation).
    Embedded,
    /// Real AWS S3 through the default credential chain.
    Aws,
    /// Any S3-compatible URL (`endpoint_url`).
    Endpoint,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Section {
    pub backend: Backend,
    pub bucket: String,
    pub region: String,
    /// Key prefix of every object; normalised to exactly one trailing slash.
    pub prefix: String,
    /// Required for `backend = "endpoint"`, rejected otherwise.
    pub endpoint_url: Option<String>,
    pub storage_class_chunks: String,
    pub storage_class_manifest: String,
    pub sse: String,
    /// Embedded endpoint: seconds an archive restore stays `ongoing`.
    pub restore_delay_secs: u64,
}

impl Default for S3Section {
    fn default() -> Self {
        S3Section {
            backend: Backend::Embedded,
            bucket: "vmharness".into(),
            region: "us-east-1".into(),
            prefix: "backups/".into(),
            endpoint_url: None,
            storage_class_chunks: "STANDARD".into(),
            storage_class_manifest: "STANDARD".into(),
            sse: "AES256".into(),
            restore_delay_secs: 5,
        }
    }
}

impl S3Section {
    /// The contract's P: the prefix with exactly one trailing slash.
    pub fn normalized_prefix(&self) -> String {
        normalize_prefix(&self.prefix)
    }

    pub fn chunks_archived(&self) -> bool {
        ARCHIVE_CLASSES.contains(&self.storage_class_chunks.as_str())
    }

    pub(super) fn validate(&self, f: &str) -> Result<()> {
        if !valid_bucket(&self.bucket) {
            bail!(
                "profile {f}: [s3] bucket must be 3-63 characters of [a-z0-9.-], starting and ending with a letter or digit, got {:?}",
                self.bucket
            );
        }
        if self.region.is_empty()
            || !self
                .region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            bail!(
                "profile {f}: [s3] region must be a region name like \"us-east-1\", got {:?}",
                self.region
            );
        }
        let p = self.normalized_prefix();
        if p.is_empty() {
            bail!("profile {f}: [s3] prefix must not be empty (cleanup deletes everything under it), got {:?}", self.prefix);
        }
        if p.starts_with('/') || p.contains("//") || p.split('/').any(|s| s == "." || s == "..") {
            bail!("profile {f}: [s3] prefix must be relative, without empty, \".\" or \"..\" segments, got {:?}", self.prefix);
        }
        match (self.backend, &self.endpoint_url) {
            (Backend::Endpoint, None) => {
                bail!("profile {f}: [s3] endpoint_url is required when backend = \"endpoint\"")
            }
            (Backend::Endpoint, Some(u))
                if !(u.starts_with("http://") || u.starts_with("https://")) =>
            {
                bail!(
                    "profile {f}: [s3] endpoint_url must start with http:// or https://, got {u:?}"
                )
            }
            (Backend::Embedded | Backend::Aws, Some(_)) => {
                bail!("profile {f}: [s3] endpoint_url is only used with backend = \"endpoint\"; remove it")
            }
            _ => {}
        }
        for (key, value) in [
            ("storage_class_chunks", &self.storage_class_chunks),
            ("storage_class_manifest", &self.storage_class_manifest),
        ] {
            if !STORAGE_CLASSES.contains(&value.as_str()) {
                bail!(
                    "profile {f}: [s3] {key} must be one of {}, got {value:?}",
                    STORAGE_CLASSES.join(", ")
                );
            }
        }
        if ARCHIVE_CLASSES.contains(&self.storage_class_manifest.as_str()) {
            bail!(
                "profile {f}: [s3] storage_class_manifest must not be an archive class (manifests must stay readable), got {:?}",
                self.storage_class_manifest
            );
        }
        if self.sse != "AES256" {
            bail!(
                "profile {f}: [s3] sse must be \"AES256\" (SSE-S3), got {:?}",
                self.sse
            );
        }
        if self.restore_delay_secs > 3600 {
            bail!(
                "profile {f}: [s3] restore_delay_secs must be at most 3600, got {}",
                self.restore_delay_secs
            );
        }
        Ok(())
    }
}

/// `a/b//` -> `a/b/`; `""` and `"/"` -> `""`.
pub fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

fn valid_bucket(b: &str) -> bool {
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && ends_ok(b.chars().next())
        && ends_ok(b.chars().last())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_normalisation() {
        assert_eq!(normalize_prefix("a/b"), "a/b/");
        assert_eq!(normalize_prefix("a/b///"), "a/b/");
        assert_eq!(normalize_prefix("/"), "");
        assert_eq!(normalize_prefix(""), "");
    }

    fn check(s: S3Section) -> String {
        s.validate("x.toml")
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn rejects_bad_values_with_key() {
        let d = S3Section::default;
        assert_eq!(check(d()), "");
        assert!(check(S3Section {
            bucket: "A".into(),
            ..d()
        })
        .contains("[s3] bucket"));
        assert!(check(S3Section {
            prefix: "/".into(),
            ..d()
        })
        .contains("[s3] prefix"));
        assert!(check(S3Section {
            prefix: "a//b".into(),
            ..d()
        })
        .contains("[s3] prefix"));
        assert!(check(S3Section {
            prefix: "a/../b".into(),
            ..d()
        })
        .contains("[s3] prefix"));
        assert!(check(S3Section {
            backend: Backend::Endpoint,
            ..d()
        })
        .contains("endpoint_url is required"));
        assert!(check(S3Section {
            endpoint_url: Some("http://x".into()),
            ..d()
        })
        .contains("only used"));
        assert_eq!(
            check(S3Section {
                backend: Backend::Endpoint,
                endpoint_url: Some("http://127.0.0.1:9000".into()),
                ..d()
            }),
            ""
        );
        assert!(check(S3Section {
            storage_class_chunks: "COLD".into(),
            ..d()
        })
        .contains("[s3] storage_class_chunks"));
        assert!(check(S3Section {
            storage_class_manifest: "GLACIER".into(),
            ..d()
        })
        .contains("archive class"));
        assert!(check(S3Section {
            sse: "aws:kms".into(),
            ..d()
        })
        .contains("[s3] sse"));
    }
}
