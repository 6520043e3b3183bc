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

use super::endpoint::{EndpointConfig, MIN_PART_SIZE};
pub use crate::profile::s3::{Backend, EmbeddedSection, GuestCredentials, S3Section};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BackendError {
    #[error("[s3.guest_credentials] environment variable {0} is not set on the host")]
    GuestEnv(String),
}

/// What the running harness derives from the profile's `[s3]`.
impl S3Section {
    /// Endpoint configuration for the embedded backend; store in `dir`.
    pub fn endpoint_config(&self, dir: &std::path::Path) -> EndpointConfig {
        let mut cfg = EndpointConfig::new(dir);
        cfg.bucket = self.bucket.clone();
        cfg.region = self.region.clone();
        cfg.port = self.embedded.port.unwrap_or(0);
        cfg.min_part_size = self.embedded.min_part_size.unwrap_or(MIN_PART_SIZE);
        cfg.restore_delay = Duration::from_secs(self.restore_delay_secs);
        cfg.faults = self.faults.clone();
        cfg
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
        env.push(("AWS_DEFAULT_REGION".to_owned(), self.region.clone()));
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
    fn embedded_config_carries_delay_and_faults() {
        let s = parse(
            r#"
            restore_delay_secs = 2
            [embedded]
            min_part_size = 1024
            [[faults]]
            op = "UploadPart"
            action = "slow_down"
            count = 2
            "#,
        );
        let cfg = s.endpoint_config(std::path::Path::new("/tmp/x"));
        assert_eq!(cfg.restore_delay, Duration::from_secs(2));
        assert_eq!(cfg.min_part_size, 1024);
        assert_eq!(cfg.faults.len(), 1);
        assert_eq!(cfg.bucket, "vmharness");
    }

    #[test]
    fn guest_env_reads_the_named_host_variables() {
        let s = parse(
            r#"
            backend = "aws"
            bucket = "b-1"
            prefix = "tests/"
            [guest_credentials]
            access_key_id_env = "K"
            secret_access_key_env = "S"
            "#,
        );
        assert!(!s.has_journal());
        let env = s.guest_env(|n| Some(format!("value-of-{n}"))).expect("env");
        assert_eq!(env[0], ("AWS_ACCESS_KEY_ID".into(), "value-of-K".into()));
        assert_eq!(
            s.guest_env(|_| None),
            Err(BackendError::GuestEnv("K".into()))
        );
    }
}
