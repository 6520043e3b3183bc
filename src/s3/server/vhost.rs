//! Virtual-hosted-style addressing (`BUCKET.s3.REGION.amazonaws.com`), for
//! an endpoint that stands in for AWS: a request whose `Host` is a bucket
//! under one of the configured domains names that bucket; any other `Host`
//! (an address, `s3.vmharness.test`, the domain itself) is path-style.

use s3s::host::{S3Host, VirtualHost};
use s3s::S3Result;

/// The domains whose subdomains are buckets.
#[derive(Debug, Clone)]
pub struct BucketSubdomains {
    domains: Vec<String>,
}

impl BucketSubdomains {
    pub fn new(domains: &[String]) -> BucketSubdomains {
        BucketSubdomains {
            domains: domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
        }
    }

    /// The bucket `host` (with or without a port) names, if any.
    pub fn bucket_of<'a>(&self, host: &'a str) -> Option<&'a str> {
        let name = strip_port(host);
        self.domains.iter().find_map(|d| {
            let bucket = name.strip_suffix(d.as_str())?.strip_suffix('.')?;
            (!bucket.is_empty()).then_some(bucket)
        })
    }
}

/// `host:port` -> `host` (IPv6 literals in brackets are left whole).
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(']') && !name.contains(':') => {
            port.parse::<u16>().map(|_| name).unwrap_or(host)
        }
        _ => host,
    }
}

impl S3Host for BucketSubdomains {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match self.bucket_of(host) {
            Some(bucket) => VirtualHost::new(host).with_bucket(bucket),
            None => VirtualHost::new(host),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_subdomains_of_the_configured_domains_only() {
        let v = BucketSubdomains::new(&[
            "s3.eu-west-1.amazonaws.com".to_owned(),
            "s3.amazonaws.com".to_owned(),
        ]);
        assert_eq!(v.bucket_of("vmh.s3.eu-west-1.amazonaws.com"), Some("vmh"));
        assert_eq!(
            v.bucket_of("vmh.s3.eu-west-1.amazonaws.com:443"),
            Some("vmh")
        );
        assert_eq!(v.bucket_of("a.b.s3.amazonaws.com"), Some("a.b"));
        assert_eq!(v.bucket_of("s3.eu-west-1.amazonaws.com"), None);
        assert_eq!(v.bucket_of("xs3.amazonaws.com"), None);
        assert_eq!(v.bucket_of("127.0.0.1:9000"), None);
        assert_eq!(v.bucket_of("s3.vmharness.test"), None);
        assert_eq!(v.bucket_of("[::1]:9000"), None);
    }
}
