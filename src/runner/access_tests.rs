//! The run's S3 as the guest will reach it, exercised from the host: the
//! default relay stays plain http; `transport = "https-proxy"` gives the
//! guest only the proxy, which tunnels only `s3.vmharness.test:443` to the
//! endpoint's https port, trusted through the CA written to the run
//! directory.

use super::*;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

fn profile(transport: &str) -> Profile {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/test.toml"))
            .expect("config/test.toml");
    let text = text.replace(
        "transport = \"relay\"",
        &format!("transport = \"{transport}\""),
    );
    crate::profile::parse(&text, Path::new("x.toml")).expect("valid profile")
}

fn env_of<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn the_default_relay_is_plain_http_without_a_proxy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let s3 = open(&profile("relay"), Path::new("x.toml"), dir.path(), &rt).expect("open");
    let port = s3.endpoint.as_ref().expect("embedded").port();
    assert_eq!(s3.forwards, [Forward::S3(format!("127.0.0.1:{port}"))]);
    assert_eq!(
        env_of(&s3.tool_env, "AWS_ENDPOINT_URL_S3"),
        Some("http://10.0.2.100:9000")
    );
    assert_eq!(env_of(&s3.tool_env, "HTTPS_PROXY"), None);
    assert_eq!(env_of(&s3.tool_env, "AWS_CA_BUNDLE"), None);
    assert!(s3.egress.is_none() && s3.guest_files.is_empty());
    assert!(!dir.path().join(plan::s3::EGRESS_FILE).exists());
    assert!(!dir.path().join(plan::s3::CA_FILE).exists());
}

#[test]
fn https_proxy_gives_the_guest_only_the_proxy_to_the_tls_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let s3 = open(
        &profile("https-proxy"),
        Path::new("x.toml"),
        dir.path(),
        &rt,
    )
    .expect("open");
    let egress = s3.egress.as_ref().expect("the egress proxy");
    assert_eq!(s3.forwards, [Forward::Proxy(egress.addr().to_string())]);
    assert_eq!(
        s3.forwards[0].rule(Path::new("/r/x")),
        format!("tcp:10.0.2.101:3128-cmd:/r/x __relay {}", egress.addr())
    );
    let env = &s3.tool_env;
    assert_eq!(
        env_of(env, "AWS_ENDPOINT_URL_S3"),
        Some("https://s3.vmharness.test")
    );
    assert_eq!(env_of(env, "HTTPS_PROXY"), Some("http://10.0.2.101:3128"));
    assert_eq!(
        env_of(env, "AWS_CA_BUNDLE"),
        Some("/etc/vmharness/s3-ca.pem")
    );
    let ca_pem = std::fs::read(dir.path().join(plan::s3::CA_FILE)).expect("CA in the run dir");
    assert_eq!(
        s3.guest_files,
        [("/etc/vmharness/s3-ca.pem".to_owned(), ca_pem.clone())]
    );

    // What the guest's boto3 does, by hand: CONNECT through the proxy, TLS
    // trusting only the CA file, then an (unsigned) S3 request.
    let proxy = egress.addr();
    let answer = rt.block_on(async {
        let mut s = TcpStream::connect(proxy).await.expect("proxy");
        s.write_all(b"CONNECT s3.vmharness.test:443 HTTP/1.1\r\nHost: s3.vmharness.test:443\r\n\r\n")
            .await
            .expect("CONNECT");
        let mut head = [0u8; 39];
        s.read_exact(&mut head).await.expect("200");
        assert_eq!(&head, b"HTTP/1.1 200 Connection Established\r\n\r\n");
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(&ca_pem).expect("PEM"))
            .expect("root");
        let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = ServerName::try_from("s3.vmharness.test").expect("name");
        let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
            .connect(name, s)
            .await
            .expect("TLS through the tunnel, trusting only the run's CA");
        tls.write_all(b"GET /vmharness?list-type=2 HTTP/1.1\r\nHost: s3.vmharness.test\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let mut answer = Vec::new();
        let _ = tls.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    });
    assert!(answer.starts_with("HTTP/1.1 403 "), "{answer}");
    assert!(answer.contains("<Code>AccessDenied</Code>"), "{answer}");
    let ep = s3.endpoint.as_ref().expect("embedded");
    assert_eq!(
        ep.journal().all().len(),
        1,
        "the request reached the S3 service"
    );

    // Anything else is refused, and both are recorded in egress.jsonl.
    let refused = rt.block_on(async {
        let mut s = TcpStream::connect(proxy).await.expect("proxy");
        s.write_all(b"CONNECT s3.amazonaws.com:443 HTTP/1.1\r\n\r\n")
            .await
            .expect("CONNECT");
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer).await;
        answer
    });
    assert!(refused.starts_with("HTTP/1.1 403 Forbidden"), "{refused}");
    let S3Access {
        egress, endpoint, ..
    } = s3;
    let lines = rt.block_on(egress.expect("proxy").shutdown_and_report());
    let text =
        std::fs::read_to_string(dir.path().join(plan::s3::EGRESS_FILE)).expect("egress.jsonl");
    let records: Vec<crate::net::egress::ConnectRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(records.len(), 2, "{text}");
    let ok = records
        .iter()
        .find(|r| r.allowed)
        .expect("the allowed CONNECT");
    assert_eq!((ok.host.as_str(), ok.port), ("s3.vmharness.test", 443));
    assert!(ok.bytes_up > 0 && ok.bytes_down > 0, "{ok:?}");
    let no = records
        .iter()
        .find(|r| !r.allowed)
        .expect("the refused CONNECT");
    assert_eq!((no.host.as_str(), no.port), ("s3.amazonaws.com", 443));
    assert_eq!(
        lines[0],
        format!(
            "egress: 2 CONNECT(s): 1 allowed ({} bytes up, {} down), 1 refused",
            ok.bytes_up, ok.bytes_down
        )
    );
    assert!(lines[1].starts_with("egress: refused CONNECT s3.amazonaws.com:443: "));
    drop(endpoint);
}
