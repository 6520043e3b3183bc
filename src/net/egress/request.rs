//! The head of a proxy request: `CONNECT host:port HTTP/1.1` and its
//! header lines, up to the blank line. Pure parsing, no I/O.

/// Where a CONNECT asks to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTarget {
    /// Lower-cased host name or IP literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for ConnectTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host.contains(':') {
            true => write!(f, "[{}]:{}", self.host, self.port),
            false => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the request head is not complete (no blank line)")]
    Incomplete,
    #[error("the request head is not text")]
    NotText,
    #[error("malformed request line {0:?}")]
    RequestLine(String),
    #[error("only CONNECT is served, not {0}")]
    Method(String),
    #[error("malformed CONNECT target {0:?} (want host:port)")]
    Target(String),
}

/// The end of the head in `buf` (index just past `\r\n\r\n`), if there.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parse the head of a proxy request (`buf` holds at least the whole head).
pub fn parse_connect(buf: &[u8]) -> Result<ConnectTarget, RequestError> {
    let end = head_end(buf).ok_or(RequestError::Incomplete)?;
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| RequestError::NotText)?;
    let line = head.split("\r\n").next().unwrap_or_default();
    let mut words = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(RequestError::RequestLine(line.to_owned()));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(RequestError::RequestLine(line.to_owned()));
    }
    if method != "CONNECT" {
        return Err(RequestError::Method(method.to_owned()));
    }
    parse_target(target).ok_or_else(|| RequestError::Target(target.to_owned()))
}

/// `host:port` or `[v6]:port`, host non-empty and without odd characters.
fn parse_target(t: &str) -> Option<ConnectTarget> {
    let (host, port) = match t.strip_prefix('[') {
        Some(rest) => {
            let (h, p) = rest.split_once("]:")?;
            h.parse::<std::net::Ipv6Addr>().ok()?;
            (h, p)
        }
        None => t.rsplit_once(':')?,
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    host_ok.then(|| ConnectTarget {
        host: host.trim_end_matches('.').to_ascii_lowercase(),
        port,
    })
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
    fn a_connect_gives_its_host_and_port() {
        let head =
            b"CONNECT S3.VMharness.test.:443 HTTP/1.1\r\nHost: s3.vmharness.test:443\r\n\r\n";
        assert_eq!(parse_connect(head), Ok(t("s3.vmharness.test", 443)));
        assert_eq!(
            parse_connect(b"CONNECT [::1]:8443 HTTP/1.0\r\n\r\n"),
            Ok(t("::1", 8443))
        );
        assert_eq!(t("::1", 8443).to_string(), "[::1]:8443");
        assert_eq!(
            parse_connect(b"CONNECT 10.0.0.1:80 HTTP/1.1\r\n\r\nextra body"),
            Ok(t("10.0.0.1", 80))
        );
    }

    #[test]
    fn anything_else_is_refused_with_what_was_wrong() {
        assert_eq!(
            parse_connect(b"CONNECT a:1 HTTP/1.1\r\n"),
            Err(RequestError::Incomplete)
        );
        assert_eq!(
            parse_connect(b"GET http://example.com/ HTTP/1.1\r\n\r\n"),
            Err(RequestError::Method("GET".into()))
        );
        for bad in [
            "example.com",
            "example.com:0",
            "example.com:99999",
            ":443",
            "a b:1",
            "[zz]:1",
        ] {
            let head = format!("CONNECT {bad} HTTP/1.1\r\n\r\n");
            assert!(
                matches!(
                    parse_connect(head.as_bytes()),
                    Err(RequestError::RequestLine(_) | RequestError::Target(_))
                ),
                "{bad}: {:?}",
                parse_connect(head.as_bytes())
            );
        }
        assert!(matches!(
            parse_connect(b"CONNECT a:1 SPDY/3\r\n\r\n"),
            Err(RequestError::RequestLine(_))
        ));
        assert_eq!(
            parse_connect(b"\xff\xfe\r\n\r\n"),
            Err(RequestError::NotText)
        );
    }

    #[test]
    fn the_head_ends_at_the_blank_line() {
        assert_eq!(head_end(b"CONNECT a:1 HTTP/1.1\r\n\r\nX"), Some(24));
        assert_eq!(head_end(b"CONNECT a:1 HTTP/1.1\r\n"), None);
    }
}
