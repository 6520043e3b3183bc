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

use super::server::endpoint::{Credentials, EndpointConfig, MIN_PART_SIZE};
pub use crate::profile::s3::{Backend, EmbeddedSection, GuestCredentials, S3Section};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BackendError {
    #[error("[s3.guest_credentials] environment variable {0} is not set on the host")]
    GuestEnv(String),
    #[error("[s3] {key} {url:?}: {why}")]
    Unreachable {
        key: &'static str,
        url: String,
        why: String,
    },
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
}

/// The environment a boto3 tool needs to reach S3 at `url` (as the tool
/// sees it) with `credentials`, and nothing else.
pub fn tool_env(
    url: &str,
    credentials: &Credentials,
    session_token: Option<&str>,
    region: &str,
) -> Vec<(String, String)> {
    let mut env = vec![
        ("AWS_ENDPOINT_URL_S3".to_owned(), url.to_owned()),
        (
            "AWS_ACCESS_KEY_ID".to_owned(),
            credentials.access_key_id.clone(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_owned(),
            credentials.secret_access_key.clone(),
        ),
    ];
    if let Some(t) = session_token {
        env.push(("AWS_SESSION_TOKEN".to_owned(), t.to_owned()));
    }
    env.push(("AWS_DEFAULT_REGION".to_owned(), region.to_owned()));
    env
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
    fn tool_env_is_the_url_the_keys_and_the_region() {
        let creds = Credentials {
            access_key_id: "AK".into(),
            secret_access_key: "SK".into(),
        };
        let names = |env: Vec<(String, String)>| -> Vec<String> {
            env.into_iter().map(|(k, _)| k).collect()
        };
        assert_eq!(
            names(tool_env("http://10.0.2.100:9000", &creds, None, "r-1")),
            [
                "AWS_ENDPOINT_URL_S3",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION"
            ]
        );
        let env = tool_env("http://x", &creds, Some("T"), "r-1");
        assert!(env.contains(&("AWS_SESSION_TOKEN".into(), "T".into())));
        assert!(env.contains(&("AWS_SECRET_ACCESS_KEY".into(), "SK".into())));
    }
}
