//! What the proxy lets through: exact (host, port) pairs, nothing else.
//! Pure: [`decide`] looks only at the config and the request's target.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::request::ConnectTarget;

/// How to start an [`super::EgressProxy`]. `EgressConfig::new()` allows
/// nothing.
#[derive(Debug, Clone)]
pub struct EgressConfig {
    pub bind: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// The only (host, port) pairs a tunnel may go to (hosts lower-case).
    pub allow: Vec<ConnectTarget>,
    /// Test-only name table: an allowed `host:port` listed here is sent to
    /// this address instead of being resolved (e.g. `s3.vmharness.test:443`
    /// to the embedded endpoint's TLS port).
    pub map: BTreeMap<String, SocketAddr>,
    /// Where to append one JSON line per CONNECT; None keeps them in memory.
    pub record_file: Option<PathBuf>,
    /// Longest wait for the request head, and for the upstream connection.
    pub timeout: Duration,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            allow: Vec::new(),
            map: BTreeMap::new(),
            record_file: None,
            timeout: Duration::from_secs(30),
        }
    }
}

impl EgressConfig {
    /// Allow `host:port` (the host is compared case-insensitively).
    pub fn allow(mut self, host: &str, port: u16) -> Self {
        self.allow.push(ConnectTarget {
            host: host.to_ascii_lowercase(),
            port,
        });
        self
    }

    /// Send the allowed `host:port` to `to` (tests, the embedded endpoint).
    pub fn map(mut self, host: &str, port: u16, to: SocketAddr) -> Self {
        self.map
            .insert(format!("{}:{port}", host.to_ascii_lowercase()), to);
        self
    }
}

/// The proxy's answer to one CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Open the tunnel: to the mapped address, or (None) to the host name
    /// resolved on the host.
    Allow { mapped: Option<SocketAddr> },
    /// Answer 403 with this one-line reason.
    Refuse(String),
}

/// Allow `target` only when it is one of the config's pairs.
pub fn decide(cfg: &EgressConfig, target: &ConnectTarget) -> Decision {
    if !cfg.allow.contains(target) {
        let allowed: Vec<String> = cfg.allow.iter().map(|t| t.to_string()).collect();
        return Decision::Refuse(format!(
            "{target} is not an S3 address of this run (allowed: {})",
            match allowed.is_empty() {
                true => "none".to_owned(),
                false => allowed.join(", "),
            }
        ));
    }
    Decision::Allow {
        mapped: cfg.map.get(&target.to_string()).copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(host: &str, port: u16) -> ConnectTarget {
        ConnectTarget {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn only_the_listed_pairs_pass() {
        let local: SocketAddr = "127.0.0.1:4443".parse().expect("addr");
        let cfg = EgressConfig::default()
            .allow("S3.vmharness.test", 443)
            .allow("bucket.s3.eu-west-1.amazonaws.com", 443)
            .map("s3.vmharness.test", 443, local);
        assert_eq!(
            decide(&cfg, &t("s3.vmharness.test", 443)),
            Decision::Allow {
                mapped: Some(local)
            }
        );
        assert_eq!(
            decide(&cfg, &t("bucket.s3.eu-west-1.amazonaws.com", 443)),
            Decision::Allow { mapped: None }
        );
        let Decision::Refuse(why) = decide(&cfg, &t("s3.vmharness.test", 80)) else {
            panic!("another port of an allowed host must be refused");
        };
        assert_eq!(
            why,
            "s3.vmharness.test:80 is not an S3 address of this run \
             (allowed: s3.vmharness.test:443, bucket.s3.eu-west-1.amazonaws.com:443)"
        );
        assert!(matches!(
            decide(&cfg, &t("example.com", 443)),
            Decision::Refuse(_)
        ));
        // A mapping alone allows nothing.
        let only_map = EgressConfig::default().map("x.test", 1, local);
        assert_eq!(
            decide(&only_map, &t("x.test", 1)),
            Decision::Refuse("x.test:1 is not an S3 address of this run (allowed: none)".into())
        );
    }
}
