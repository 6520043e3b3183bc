//! `[s3]`: which S3 a run uses, how the host and the guest reach it, and
//! how the tool's objects must be stored.
//!
//! ```toml
//! [s3]
//! backend = "embedded"            # or "aws" or "endpoint"
//! bucket = "my-backup-tests"
//! prefix = "vmharness/"           # normalised to exactly one trailing slash
//! region = "eu-central-1"
//! # endpoint_url = "http://127.0.0.1:9000"   # backend = "endpoint" only
//! # aws_profile = "backup-tests"             # host-side credentials (aws-config)
//! # transport = "https-proxy"    # embedded only: https through the egress proxy
//!
//! [s3.guest_credentials]          # aws/endpoint: what the guest may use
//! access_key_id_env = "BACKUP_TEST_AWS_ACCESS_KEY_ID"
//! secret_access_key_env = "BACKUP_TEST_AWS_SECRET_ACCESS_KEY"
//!
//! [s3.embedded]                   # embedded only
//! port = 0                        # 0 picks a free port
//!
//! [[s3.faults]]                   # embedded only
//! op = "UploadPart"
//! action = "slow_down"
//! count = 2
//! ```

use crate::s3::server::faults::{FaultRule, Faults};
pub use crate::s3::Backend;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    /// aws-config profile for the host-side client (aws backend).
    pub aws_profile: Option<String>,
    /// Path-style addressing for the host client (default: true for the
    /// embedded and endpoint backends, false for aws).
    pub force_path_style: Option<bool>,
    /// aws/endpoint: host variables whose values the guest gets as its
    /// credentials (never the host user's own credentials by accident).
    pub guest_credentials: Option<GuestCredentials>,
    /// Embedded endpoint settings.
    pub embedded: EmbeddedSection,
    /// Embedded endpoint: faults injected from the start of the run.
    pub faults: Vec<FaultRule>,
    /// How the guest reaches the S3 endpoint.
    pub transport: Transport,
    /// aws/endpoint over https: the PEM file of the CAs to trust instead of
    /// the system's (the guest's tool gets it as `AWS_CA_BUNDLE`, the
    /// host's client trusts the same). Relative: from the profile's
    /// directory.
    pub ca_bundle: Option<PathBuf>,
}

/// `[s3] transport`: how the guest's tool reaches S3.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// Plain http to a fixed guest address relayed to the endpoint.
    #[default]
    Relay,
    /// The embedded endpoint over https as `https://s3.vmharness.test`,
    /// reached only through the host's egress proxy (`HTTPS_PROXY`),
    /// trusting only the run's CA (`AWS_CA_BUNDLE`). Needs a tool that
    /// honours both, as CONTRACT.md states boto3 does.
    HttpsProxy,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Relay => "relay",
            Transport::HttpsProxy => "https-proxy",
        }
    }
}

/// Host environment variables whose values the guest gets as its AWS credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestCredentials {
    pub access_key_id_env: String,
    pub secret_access_key_env: String,
    #[serde(default)]
    pub session_token_env: Option<String>,
}

/// `[s3.embedded]`: the in-process endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedSection {
    /// Host port; 0 or absent picks a free one.
    #[serde(default)]
    pub port: Option<u16>,
    /// Smallest multipart part but the last (AWS: 5 MiB).
    #[serde(default)]
    pub min_part_size: Option<u64>,
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
            aws_profile: None,
            force_path_style: None,
            guest_credentials: None,
            embedded: EmbeddedSection::default(),
            faults: Vec::new(),
            transport: Transport::Relay,
            ca_bundle: None,
        }
    }
}

impl S3Section {
    /// The contract's P: the prefix with exactly one trailing slash.
    pub fn normalized_prefix(&self) -> String {
        normalize_prefix(&self.prefix)
    }

    /// Only the embedded endpoint keeps a journal; checks that need it say
    /// they are skipped on other backends.
    pub fn has_journal(&self) -> bool {
        self.backend == Backend::Embedded
    }

    /// Why checks that read the journal are skipped on this backend (None:
    /// the journal exists).
    pub fn journal_missing(&self) -> Option<String> {
        (!self.has_journal()).then(|| {
            format!(
                "backend = \"{}\": the journal exists only on the embedded endpoint",
                self.backend.as_str()
            )
        })
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
        match self.backend {
            Backend::Embedded => {
                for (key, set) in [
                    ("guest_credentials", self.guest_credentials.is_some()),
                    ("aws_profile", self.aws_profile.is_some()),
                ] {
                    if set {
                        bail!("profile {f}: [s3] {key} is not used by backend = \"embedded\"; remove it");
                    }
                }
                if let Err(e) = Faults::new(&self.faults) {
                    bail!("profile {f}: [[s3.faults]]: {e}");
                }
            }
            Backend::Aws | Backend::Endpoint => {
                if self.guest_credentials.is_none() {
                    bail!(
                        "profile {f}: [s3.guest_credentials] is required with backend = \"{}\": name the host \
                         variables holding the credentials the guest may use, e.g. \
                         [s3.guest_credentials] access_key_id_env = \"BACKUP_TEST_AWS_ACCESS_KEY_ID\", \
                         secret_access_key_env = \"BACKUP_TEST_AWS_SECRET_ACCESS_KEY\"",
                        self.backend.as_str()
                    );
                }
                if !self.faults.is_empty() || self.embedded != EmbeddedSection::default() {
                    bail!(
                        "profile {f}: [[s3.faults]] and [s3.embedded] need backend = \"embedded\""
                    );
                }
            }
        }
        if self.transport == Transport::HttpsProxy && self.backend != Backend::Embedded {
            bail!(
                "profile {f}: [s3] transport = \"https-proxy\" serves only backend = \"embedded\" \
                 (the egress proxy and the per-run CA front the embedded endpoint), not backend = \"{}\"; \
                 remove transport or use the embedded backend",
                self.backend.as_str()
            );
        }
        if let Some(ca) = &self.ca_bundle {
            if self.backend == Backend::Embedded {
                bail!(
                    "profile {f}: [s3] ca_bundle is for an aws or endpoint backend over https \
                     (the embedded endpoint's https uses a per-run CA); remove it"
                );
            }
            if self.backend == Backend::Endpoint
                && self
                    .endpoint_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("http://"))
            {
                bail!(
                    "profile {f}: [s3] ca_bundle {} is only used over https, but endpoint_url is http://; \
                     remove ca_bundle or use the endpoint's https:// URL",
                    ca.display()
                );
            }
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
                guest_credentials: Some(GuestCredentials {
                    access_key_id_env: "K".into(),
                    secret_access_key_env: "S".into(),
                    session_token_env: None,
                }),
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

    #[test]
    fn backend_specific_keys_are_checked() {
        let aws_without_guest = S3Section {
            backend: Backend::Aws,
            ..S3Section::default()
        };
        assert!(check(aws_without_guest).contains("[s3.guest_credentials] is required"));
        let embedded_with_guest = S3Section {
            guest_credentials: Some(GuestCredentials {
                access_key_id_env: "K".into(),
                secret_access_key_env: "S".into(),
                session_token_env: None,
            }),
            ..S3Section::default()
        };
        assert!(check(embedded_with_guest).contains("guest_credentials is not used"));
        let https_on_endpoint = S3Section {
            backend: Backend::Endpoint,
            endpoint_url: Some("https://s3.example.test".into()),
            guest_credentials: Some(GuestCredentials {
                access_key_id_env: "K".into(),
                secret_access_key_env: "S".into(),
                session_token_env: None,
            }),
            transport: Transport::HttpsProxy,
            ..S3Section::default()
        };
        let e = check(https_on_endpoint);
        assert!(
            e.contains("transport = \"https-proxy\" serves only backend = \"embedded\"")
                && e.contains("not backend = \"endpoint\""),
            "{e}"
        );
        let https_embedded: S3Section = toml::from_str("transport = \"https-proxy\"").unwrap();
        assert_eq!(https_embedded.transport, Transport::HttpsProxy);
        assert_eq!(check(https_embedded), "");
        assert_eq!(S3Section::default().transport, Transport::Relay);
        let typo = toml::from_str::<S3Section>("transport = \"https\"").unwrap_err();
        assert!(typo.to_string().contains("https-proxy"), "{typo}");
        let bad_fault: S3Section =
            toml::from_str("faults = [{ op = \"PutObjekt\", action = \"slow_down\" }]").unwrap();
        assert!(check(bad_fault).contains("[[s3.faults]]"));
    }
}
