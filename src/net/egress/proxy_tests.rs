use super::*;
use crate::net::egress::EgressConfig;
use std::time::Duration;

/// A TCP echo server on 127.0.0.1: every byte read is written back.
async fn echo_target() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let addr = l.local_addr().expect("echo addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

/// Send `head` to the proxy; the status line and the whole answer when the
/// proxy closes (refusals), or the open stream after a 200.
async fn ask(proxy: SocketAddr, head: &str) -> (String, TcpStream) {
    let mut s = TcpStream::connect(proxy).await.expect("connect proxy");
    s.write_all(head.as_bytes()).await.expect("send head");
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while head_end(&got).is_none() {
        let n = s.read(&mut byte).await.expect("read answer");
        assert!(n > 0, "proxy closed mid-answer: {got:?}");
        got.push(byte[0]);
    }
    (String::from_utf8(got).expect("text head"), s)
}

/// Wait until the proxy has recorded `n` connections.
async fn records(p: &EgressProxy, n: usize) -> Vec<ConnectRecord> {
    for _ in 0..200 {
        let r = p.records();
        if r.len() >= n {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("fewer than {n} records: {:?}", p.records());
}

#[tokio::test]
async fn an_allowed_tunnel_carries_bytes_both_ways_and_is_recorded() {
    let echo = echo_target().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("egress.jsonl");
    let cfg = EgressConfig {
        record_file: Some(file.clone()),
        ..EgressConfig::default()
    }
    .allow("s3.vmharness.test", 443)
    .map("s3.vmharness.test", 443, echo);
    let proxy = EgressProxy::start(cfg).await.expect("start");

    let (status, mut s) = ask(
        proxy.addr(),
        "CONNECT s3.vmharness.test:443 HTTP/1.1\r\nHost: s3.vmharness.test:443\r\n\r\n",
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 200 "), "{status}");
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (mut r, mut w) = s.split();
    let send = async {
        w.write_all(&payload).await.expect("send");
        w.shutdown().await.expect("shutdown write");
    };
    let mut back = Vec::new();
    let recv = r.read_to_end(&mut back);
    let (_, got) = tokio::join!(send, recv);
    got.expect("read back");
    assert_eq!(back, payload, "the echo came back through the tunnel");
    drop(s);

    let recs = records(&proxy, 1).await;
    let r = &recs[0];
    assert_eq!(
        (r.host.as_str(), r.port, r.allowed),
        ("s3.vmharness.test", 443, true)
    );
    assert_eq!((r.bytes_up, r.bytes_down), (300_000, 300_000));
    assert_eq!(r.upstream.as_deref(), Some(echo.to_string().as_str()));
    assert_eq!(r.reason, None);
    proxy.shutdown().await;
    let lines: Vec<ConnectRecord> = std::fs::read_to_string(&file)
        .expect("record file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines, recs);
}

#[tokio::test]
async fn other_hosts_ports_and_methods_are_refused_and_recorded() {
    let echo = echo_target().await;
    let cfg =
        EgressConfig::default()
            .allow("s3.vmharness.test", 443)
            .map("s3.vmharness.test", 443, echo);
    let proxy = EgressProxy::start(cfg).await.expect("start");

    let (head, mut s) = ask(proxy.addr(), "CONNECT example.com:443 HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{head}");
    let mut body = String::new();
    s.read_to_string(&mut body).await.expect("body");
    assert_eq!(
        body,
        "example.com:443 is not an S3 address of this run (allowed: s3.vmharness.test:443)\n"
    );
    // The allowed host on another port: refused too, nothing reaches the echo.
    let (head, _) = ask(
        proxy.addr(),
        "CONNECT s3.vmharness.test:80 HTTP/1.1\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 403 "), "{head}");
    let (head, _) = ask(proxy.addr(), "GET http://example.com/ HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 405 "), "{head}");

    let recs = records(&proxy, 3).await;
    assert!(
        recs.iter()
            .all(|r| !r.allowed && r.bytes_up == 0 && r.bytes_down == 0),
        "{recs:?}"
    );
    let mut seen: Vec<(String, u16)> = recs.iter().map(|r| (r.host.clone(), r.port)).collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (String::new(), 0),
            ("example.com".to_owned(), 443),
            ("s3.vmharness.test".to_owned(), 80)
        ]
    );
    let refused = recs
        .iter()
        .find(|r| r.host == "example.com")
        .expect("example.com");
    assert_eq!(
        refused.refusal_line().as_deref(),
        Some("egress: refused CONNECT example.com:443: example.com:443 is not an S3 address of this run (allowed: s3.vmharness.test:443)")
    );
    let get = recs.iter().find(|r| r.host.is_empty()).expect("the GET");
    assert_eq!(
        get.reason.as_deref(),
        Some("only CONNECT is served, not GET")
    );
}

#[tokio::test]
async fn an_unmapped_allowed_name_is_resolved_on_the_host() {
    let echo = echo_target().await;
    let cfg = EgressConfig::default().allow("localhost", echo.port());
    let proxy = EgressProxy::start(cfg).await.expect("start");
    let head = format!("CONNECT localhost:{} HTTP/1.1\r\n\r\n", echo.port());
    let (status, mut s) = ask(proxy.addr(), &head).await;
    assert!(status.starts_with("HTTP/1.1 200 "), "{status}");
    s.write_all(b"ping").await.expect("send");
    let mut back = [0u8; 4];
    s.read_exact(&mut back).await.expect("echo");
    assert_eq!(&back, b"ping");
    drop(s);
    let recs = records(&proxy, 1).await;
    assert_eq!((recs[0].bytes_up, recs[0].bytes_down), (4, 4));
    assert!(recs[0]
        .upstream
        .as_deref()
        .is_some_and(|u| u.ends_with(&format!(":{}", echo.port()))));
}

#[tokio::test]
async fn an_allowed_target_that_does_not_answer_gets_502_and_is_recorded() {
    // A port nothing listens on: bind, note it, close.
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let cfg =
        EgressConfig::default()
            .allow("s3.vmharness.test", 443)
            .map("s3.vmharness.test", 443, dead);
    let proxy = EgressProxy::start(cfg).await.expect("start");
    let (head, _) = ask(
        proxy.addr(),
        "CONNECT s3.vmharness.test:443 HTTP/1.1\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 502 "), "{head}");
    let recs = records(&proxy, 1).await;
    assert!(recs[0].allowed);
    assert!(
        recs[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("connecting to s3.vmharness.test:443: ")),
        "{recs:?}"
    );
}
