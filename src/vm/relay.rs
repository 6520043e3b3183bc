//! The guest's only way out: QEMU's restricted user network runs one relay
//! per guest connection (`guestfwd=tcp:ADDR:PORT-cmd:vmharness __relay
//! HOST:PORT`), which copies the connection between its stdin/stdout and the
//! host endpoint. (A `guestfwd` to a TCP target serves only the first
//! connection; a command per connection serves them all.)

use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

/// Copy stdin to `addr` and `addr` to stdout until both directions end.
pub fn relay(addr: &str) -> Result<()> {
    let upstream =
        TcpStream::connect(addr).with_context(|| format!("relay: connecting to {addr}"))?;
    upstream.set_nodelay(true).ok();
    let mut to_host = upstream.try_clone()?;
    let uploader = std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let _ = copy(&mut stdin, &mut to_host);
        let _ = to_host.shutdown(Shutdown::Write);
    });
    let mut from_host = upstream;
    let mut stdout = std::io::stdout().lock();
    let _ = copy(&mut from_host, &mut stdout);
    // The guest side is gone once the host closed: do not wait for stdin.
    drop(uploader);
    Ok(())
}

fn copy(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        to.flush()?;
        total += n as u64;
    }
}

/// The address the guest reaches the S3 endpoint at (only through the relay).
pub const GUEST_S3_ADDR: &str = "10.0.2.100";
pub const GUEST_S3_PORT: u16 = 9000;

/// The endpoint URL as the guest sees it.
pub fn guest_s3_url() -> String {
    format!("http://{GUEST_S3_ADDR}:{GUEST_S3_PORT}")
}

/// The rule that gives the guest the S3 endpoint at `upstream` (HOST:PORT
/// as the host reaches it, e.g. the embedded endpoint's `127.0.0.1:PORT`),
/// and nothing else.
pub fn s3_forward(exe: &std::path::Path, upstream: &str) -> String {
    guestfwd_rule(exe, GUEST_S3_ADDR, GUEST_S3_PORT, upstream)
}

/// The address the guest reaches the host's egress proxy at (only
/// through the relay; `HTTPS_PROXY` names it).
pub const GUEST_PROXY_ADDR: &str = "10.0.2.101";
pub const GUEST_PROXY_PORT: u16 = 3128;

/// The proxy URL as the guest sees it.
pub fn guest_proxy_url() -> String {
    format!("http://{GUEST_PROXY_ADDR}:{GUEST_PROXY_PORT}")
}

/// The rule that gives the guest the egress proxy at `upstream` (the
/// proxy's `127.0.0.1:PORT` on the host), and nothing else.
pub fn proxy_forward(exe: &std::path::Path, upstream: &str) -> String {
    guestfwd_rule(exe, GUEST_PROXY_ADDR, GUEST_PROXY_PORT, upstream)
}

/// The `guestfwd` rule that makes `guest_addr:guest_port` in the guest reach
/// `host_addr` through a relay process per connection.
pub fn guestfwd_rule(
    exe: &std::path::Path,
    guest_addr: &str,
    guest_port: u16,
    host_addr: &str,
) -> String {
    format!(
        "tcp:{guest_addr}:{guest_port}-cmd:{} __relay {host_addr}",
        crate::ssh::shell_quote(&exe.to_string_lossy())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_shape() {
        assert_eq!(
            guestfwd_rule(
                std::path::Path::new("/usr/bin/vmharness"),
                "10.0.2.100",
                9000,
                "127.0.0.1:41234"
            ),
            "tcp:10.0.2.100:9000-cmd:/usr/bin/vmharness __relay 127.0.0.1:41234"
        );
    }

    #[test]
    fn proxy_forward_relays_its_own_guest_address() {
        assert_eq!(
            proxy_forward(std::path::Path::new("/r/vmh"), "127.0.0.1:5000"),
            "tcp:10.0.2.101:3128-cmd:/r/vmh __relay 127.0.0.1:5000"
        );
        assert_eq!(guest_proxy_url(), "http://10.0.2.101:3128");
    }

    #[test]
    fn s3_forward_relays_the_fixed_guest_address_to_the_upstream() {
        assert_eq!(
            s3_forward(std::path::Path::new("/r/vmh"), "minio.lan:9000"),
            "tcp:10.0.2.100:9000-cmd:/r/vmh __relay minio.lan:9000"
        );
    }
}
