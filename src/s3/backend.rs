//! The profile's `[s3]` section: which S3 the run uses and how the host and
//! the guest reach it.
//!
//! ```toml
//! [s3]
//! backend = "embedded"            # or "aws" or "endpoint"
//! bucket = "my-backup-tests"      # required for aws/endpoint
//! prefix = "vmharness/"           # exactly one trailing slash
//! region = "eu-central-1"
//! # endpoint_url = "http://127.0.0.1:9000"   # backend = "endpoint" only
//! # aws_profile = "backup-tests"             # host-side credentials (aws-config)
//!
//! [s3.guest_credentials]          # aws/endpoint: what the guest may use
//! access_key_id_env = "BACKUP_TEST_AWS_ACCESS_KEY_ID"
//! secret_access_key_env = "BACKUP_TEST_AWS_SECRET_ACCESS_KEY"
//!
//! [s3.embedded]
//! restore_delay_secs = 5
//!
//! [[s3.faults]]                   # embedded only
//! op = "UploadPart"
//! action = "slow_down"
//! count = 2
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::endpoint::{EndpointConfig, DEFAULT_BUCKET, DEFAULT_REGION, MIN_PART_SIZE};
use super::faults::{FaultRule, Faults};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The in-process endpoint (journal and faults available).
    #[default]
    Embedded,
    /// Real AWS S3 through the aws-config credential chain.
    Aws,
    /// Any S3-compatible URL.
    Endpoint,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Embedded => "embedded",
            BackendKind::Aws => "aws",
            BackendKind::Endpoint => "endpoint",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Section {
    #[serde(default)]
    pub backend: BackendKind,
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// aws-config profile for the host-side client (aws backend).
    #[serde(default)]
    pub aws_profile: Option<String>,
    /// Path-style addressing for the host client (default: true for the
    /// embedded and endpoint backends, false for aws).
    #[serde(default)]
    pub force_path_style: Option<bool>,
    #[serde(default)]
    pub guest_credentials: Option<GuestCredentials>,
    #[serde(default)]
    pub embedded: EmbeddedSection,
    #[serde(default)]
    pub faults: Vec<FaultRule>,
}

/// Host environment variables whose values the guest gets as its AWS
/// credentials (never the host user's own credentials by accident).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestCredentials {
    pub access_key_id_env: String,
    pub secret_access_key_env: String,
    #[serde(default)]
    pub session_token_env: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedSection {
    /// Host port; 0 or absent picks a free one.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub restore_delay_secs: Option<f64>,
    #[serde(default)]
    pub min_part_size: Option<u64>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BackendError {
    #[error("[s3] backend = \"{backend}\" needs `{field}`")]
    Missing {
        backend: &'static str,
        field: &'static str,
    },
    #[error("[s3] `{field}` is not used by backend = \"{backend}\"")]
    NotApplicable {
        backend: &'static str,
        field: &'static str,
    },
    #[error(
        "[s3] prefix {0:?} must be non-empty, not start with '/', and end with exactly one '/'"
    )]
    Prefix(String),
    #[error("[s3] endpoint_url {0:?} must start with http:// or https://")]
    Url(String),
    #[error("[s3] {0}")]
    Faults(String),
    #[error("[s3.embedded] restore_delay_secs must be a non-negative number")]
    RestoreDelay,
    #[error("[s3.guest_credentials] environment variable {0} is not set on the host")]
    GuestEnv(String),
}

pub const DEFAULT_PREFIX: &str = "vmharness/";

fn check_prefix(p: &str) -> Result<(), BackendError> {
    let ok = !p.is_empty() && !p.starts_with('/') && p.ends_with('/') && !p.ends_with("//");
    if ok {
        Ok(())
    } else {
        Err(BackendError::Prefix(p.to_owned()))
    }
}

impl S3Section {
    /// Check that the section is complete and consistent for its backend.
    pub fn validate(&self) -> Result<(), BackendError> {
        let backend = self.backend.as_str();
        let missing = |field| BackendError::Missing { backend, field };
        let not_applicable = |field| BackendError::NotApplicable { backend, field };
        if let Some(p) = &self.prefix {
            check_prefix(p)?;
        }
        match self.backend {
            BackendKind::Embedded => {
                if self.endpoint_url.is_some() {
                    return Err(not_applicable("endpoint_url"));
                }
                if self.guest_credentials.is_some() {
                    return Err(not_applicable("guest_credentials"));
                }
                if self.aws_profile.is_some() {
                    return Err(not_applicable("aws_profile"));
                }
                if let Some(d) = self.embedded.restore_delay_secs {
                    if Duration::try_from_secs_f64(d).is_err() {
                        return Err(BackendError::RestoreDelay);
                    }
                }
                Faults::new(&self.faults).map_err(|e| BackendError::Faults(e.to_string()))?;
            }
            BackendKind::Aws | BackendKind::Endpoint => {
                if self.bucket.is_none() {
                    return Err(missing("bucket"));
                }
                // A dedicated prefix: cleanup deletes everything under it.
                if self.prefix.is_none() {
                    return Err(missing("prefix"));
                }
                if self.guest_credentials.is_none() {
                    return Err(missing("guest_credentials"));
                }
                if !self.faults.is_empty() {
                    return Err(not_applicable("faults"));
                }
                if self.embedded != EmbeddedSection::default() {
                    return Err(not_applicable("embedded"));
                }
                match (self.backend, &self.endpoint_url) {
                    (BackendKind::Endpoint, None) => return Err(missing("endpoint_url")),
                    (BackendKind::Endpoint, Some(u))
                        if !(u.starts_with("http://") || u.starts_with("https://")) =>
                    {
                        return Err(BackendError::Url(u.clone()))
                    }
                    (BackendKind::Aws, Some(_)) => return Err(not_applicable("endpoint_url")),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    pub fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or(DEFAULT_BUCKET)
    }

    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or(DEFAULT_PREFIX)
    }

    /// The region, when the profile names one (aws may take it from the
    /// credential chain's configuration instead).
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// Only the embedded endpoint keeps a journal; checks that need it are
    /// skipped (and say so) on other backends.
    pub fn has_journal(&self) -> bool {
        self.backend == BackendKind::Embedded
    }

    /// Endpoint configuration for the embedded backend; store in `dir`.
    pub fn endpoint_config(&self, dir: &std::path::Path) -> Result<EndpointConfig, BackendError> {
        let mut cfg = EndpointConfig::new(dir);
        cfg.bucket = self.bucket().to_owned();
        cfg.region = self.region().unwrap_or(DEFAULT_REGION).to_owned();
        cfg.port = self.embedded.port.unwrap_or(0);
        cfg.min_part_size = self.embedded.min_part_size.unwrap_or(MIN_PART_SIZE);
        if let Some(d) = self.embedded.restore_delay_secs {
            cfg.restore_delay =
                Duration::try_from_secs_f64(d).map_err(|_| BackendError::RestoreDelay)?;
        }
        cfg.faults = self.faults.clone();
        Ok(cfg)
    }

    /// The guest's AWS credential environment for aws/endpoint backends,
    /// read from the host variables the profile names.
    pub fn guest_env(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<(String, String)>, BackendError> {
        let Some(g) = &self.guest_credentials else {
            return Ok(Vec::new());
        };
        let get = |name: &str| lookup(name).ok_or_else(|| BackendError::GuestEnv(name.to_owned()));
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID".to_owned(), get(&g.access_key_id_env)?),
            (
                "AWS_SECRET_ACCESS_KEY".to_owned(),
                get(&g.secret_access_key_env)?,
            ),
        ];
        if let Some(t) = &g.session_token_env {
            env.push(("AWS_SESSION_TOKEN".to_owned(), get(t)?));
        }
        if let Some(u) = &self.endpoint_url {
            env.push(("AWS_ENDPOINT_URL_S3".to_owned(), u.clone()));
        }
        if let Some(r) = self.region() {
            env.push(("AWS_DEFAULT_REGION".to_owned(), r.to_owned()));
        }
        Ok(env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> S3Section {
        toml::from_str(s).expect("valid toml")
    }

    #[test]
    fn defaults_to_embedded() {
        let s = parse("");
        assert_eq!(s.backend, BackendKind::Embedded);
        assert!(s.validate().is_ok());
        assert_eq!(s.bucket(), "vmharness");
        assert_eq!(s.prefix(), "vmharness/");
        assert!(s.has_journal());
    }

    #[test]
    fn embedded_with_faults_and_delay() {
        let s = parse(
            r#"
            [embedded]
            restore_delay_secs = 0.5
            [[faults]]
            op = "UploadPart"
            action = "slow_down"
            count = 2
            "#,
        );
        assert!(s.validate().is_ok());
        let cfg = s
            .endpoint_config(std::path::Path::new("/tmp/x"))
            .expect("config");
        assert_eq!(cfg.restore_delay, Duration::from_millis(500));
        assert_eq!(cfg.faults.len(), 1);
    }

    #[test]
    fn aws_needs_bucket_prefix_and_guest_credentials() {
        let s = parse("backend = \"aws\"\nbucket = \"b\"");
        assert_eq!(
            s.validate(),
            Err(BackendError::Missing {
                backend: "aws",
                field: "prefix"
            })
        );
        let s = parse(
            r#"
            backend = "aws"
            bucket = "b"
            prefix = "tests/"
            [guest_credentials]
            access_key_id_env = "K"
            secret_access_key_env = "S"
            "#,
        );
        assert!(s.validate().is_ok());
        assert!(!s.has_journal());
        let env = s.guest_env(|n| Some(format!("value-of-{n}"))).expect("env");
        assert_eq!(env[0], ("AWS_ACCESS_KEY_ID".into(), "value-of-K".into()));
        assert_eq!(
            s.guest_env(|_| None),
            Err(BackendError::GuestEnv("K".into()))
        );
    }

    #[test]
    fn rejects_bad_prefix_unknown_keys_and_misplaced_fields() {
        assert!(matches!(
            parse("prefix = \"a//\"").validate(),
            Err(BackendError::Prefix(_))
        ));
        assert!(matches!(
            parse("prefix = \"a\"").validate(),
            Err(BackendError::Prefix(_))
        ));
        assert!(toml::from_str::<S3Section>("bukket = \"x\"").is_err());
        assert!(matches!(
            parse("endpoint_url = \"http://x\"").validate(),
            Err(BackendError::NotApplicable { .. })
        ));
        let s = parse(
            r#"
            backend = "endpoint"
            bucket = "b"
            prefix = "p/"
            endpoint_url = "ftp://x"
            [guest_credentials]
            access_key_id_env = "K"
            secret_access_key_env = "S"
            "#,
        );
        assert!(matches!(s.validate(), Err(BackendError::Url(_))));
    }
}
