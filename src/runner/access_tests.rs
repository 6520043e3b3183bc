//! The run's S3 as the guest will reach it, exercised from the host: the
//! default relay stays plain http; `transport = "https-proxy"` gives the
//! guest only the proxy, which tunnels only `s3.vmharness.test:443` to the
//! endpoint's https port, trusted through the CA written to the run
//! directory.

use super::*;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::PathBuf;
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

/// `open` of the embedded endpoint reached by `transport`, with no host
/// variables.
fn open_embedded_with(transport: &str, run_dir: &Path, rt: &tokio::runtime::Runtime) -> S3Access {
    open(
        &profile(transport),
        Path::new("x.toml"),
        run_dir,
        rt,
        &|_| None,
    )
    .expect("open")
}

#[test]
fn the_default_relay_is_plain_http_without_a_proxy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let s3 = open_embedded_with("relay", dir.path(), &rt);
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
    let s3 = open_embedded_with("https-proxy", dir.path(), &rt);
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

/// The host variables the https profiles name for their credentials.
const KEY_ENV: &str = "VMH_UT_KEY";
const SECRET_ENV: &str = "VMH_UT_SECRET";

/// An S3 endpoint over https with a certificate for `localhost` from its
/// own CA; a host environment holding its credentials in [`KEY_ENV`] and
/// [`SECRET_ENV`] (nothing else); a profile for it in `dir` naming
/// `ca_bundle` (if any).
fn https_endpoint(
    dir: &Path,
    rt: &tokio::runtime::Runtime,
    pki: &RunPki,
) -> (
    Endpoint,
    impl Fn(&str) -> Option<String>,
    impl Fn(Option<&str>) -> PathBuf,
) {
    let creds = crate::s3::Credentials::random();
    let (key, secret) = (creds.access_key_id.clone(), creds.secret_access_key.clone());
    let env = move |name: &str| match name {
        KEY_ENV => Some(key.clone()),
        SECRET_ENV => Some(secret.clone()),
        _ => None,
    };
    let mut cfg = crate::s3::EndpointConfig::new(dir.join("store"));
    cfg.credentials = Some(creds);
    cfg.tls = Some(plan::s3::endpoint_tls(pki, "localhost").expect("tls"));
    let ep = rt.block_on(Endpoint::start(cfg)).expect("endpoint");
    let (url, bucket, dir) = (
        format!("https://localhost:{}", ep.port()),
        ep.bucket().to_owned(),
        dir.to_owned(),
    );
    let profile = move |ca: Option<&str>| {
        let ca = ca
            .map(|c| format!("ca_bundle = {c:?}\n"))
            .unwrap_or_default();
        let text = format!(
            "[s3]\nbackend = \"endpoint\"\nendpoint_url = \"{url}\"\nbucket = \"{bucket}\"\n{ca}\
             [s3.guest_credentials]\naccess_key_id_env = \"{KEY_ENV}\"\nsecret_access_key_env = \"{SECRET_ENV}\"\n"
        );
        let path = dir.join("https.toml");
        std::fs::write(&path, text).expect("profile");
        path
    };
    (ep, env, profile)
}

#[test]
fn an_https_endpoint_is_reached_through_the_proxy_trusting_only_the_ca_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let pki = RunPki::issue(&["localhost"]).expect("pki");
    pki.write_ca(&dir.path().join("ca.pem")).expect("ca");
    let (ep, env, profile) = https_endpoint(dir.path(), &rt, &pki);
    let path = profile(Some("ca.pem"));
    let p = crate::profile::load(&path).expect("profile");
    let run = tempfile::tempdir().expect("run dir");
    let s3 = open(&p, &path, run.path(), &rt, &env).expect("reached over https");
    let egress = s3.egress.as_ref().expect("the egress proxy");
    assert_eq!(s3.forwards, [Forward::Proxy(egress.addr().to_string())]);
    let env = &s3.tool_env;
    let url = format!("https://localhost:{}", ep.port());
    assert_eq!(env_of(env, "AWS_ENDPOINT_URL_S3"), Some(url.as_str()));
    assert_eq!(env_of(env, "HTTPS_PROXY"), Some("http://10.0.2.101:3128"));
    assert_eq!(env_of(env, "AWS_CA_BUNDLE"), Some(plan::s3::GUEST_CA_PATH));
    assert_eq!(
        s3.guest_files,
        [(
            plan::s3::GUEST_CA_PATH.to_owned(),
            pki.ca_pem().as_bytes().to_vec()
        )]
    );
    assert!(s3.endpoint.is_none() && !s3.client.has_journal());

    // The proxy lets the endpoint's name and port through, resolved on the
    // host, and nothing else.
    let answer = |target: String| {
        rt.block_on(async {
            let mut s = TcpStream::connect(egress.addr()).await.expect("proxy");
            s.write_all(format!("CONNECT {target} HTTP/1.1\r\n\r\n").as_bytes())
                .await
                .expect("CONNECT");
            let mut head = [0u8; 12];
            s.read_exact(&mut head).await.expect("answer");
            String::from_utf8_lossy(&head).into_owned()
        })
    };
    assert_eq!(answer(format!("localhost:{}", ep.port())), "HTTP/1.1 200");
    assert_eq!(answer("localhost:22".to_owned()), "HTTP/1.1 403");
}

#[test]
fn a_certificate_the_ca_bundle_does_not_trust_is_refused_naming_aws_ca_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let pki = RunPki::issue(&["localhost"]).expect("pki");
    let other = RunPki::issue(&["localhost"]).expect("another CA");
    other.write_ca(&dir.path().join("other.pem")).expect("ca");
    std::fs::write(dir.path().join("junk.pem"), "not a certificate").expect("junk");
    let (_ep, env, profile) = https_endpoint(dir.path(), &rt, &pki);
    let run = tempfile::tempdir().expect("run dir");
    let refusal = |ca: Option<&str>| {
        let path = profile(ca);
        let p = crate::profile::load(&path).expect("profile");
        let e = open(&p, &path, run.path(), &rt, &env)
            .err()
            .expect("refused");
        let text = format!("{e:#}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        text
    };
    let wrong = refusal(Some("other.pem"));
    let other_path = dir.path().join("other.pem").display().to_string();
    assert!(
        wrong.contains("[s3] ca_bundle")
            && wrong.contains(&other_path)
            && wrong.contains("AWS_CA_BUNDLE")
            && wrong.contains("not signed by a CA"),
        "{wrong}"
    );
    let none = refusal(None);
    assert!(
        none.contains("system's CAs") && none.contains("set [s3] ca_bundle"),
        "{none}"
    );
    let junk = refusal(Some("junk.pem"));
    assert!(junk.contains("no PEM certificate"), "{junk}");
    assert!(
        std::fs::read_dir(run.path())
            .expect("run dir")
            .next()
            .is_none(),
        "nothing was started or written"
    );
}
