//! The embedded endpoint over https: a host client trusting only the
//! run's CA stores and reads objects; one trusting another CA, or talking
//! plain http to the port, gets nothing.

use super::*;
use crate::net::pki::{RunPki, S3_TLS_NAME};
use crate::s3::server::EndpointConfig;

async fn tls_endpoint(dir: &std::path::Path, pki: &RunPki) -> Endpoint {
    let mut cfg = EndpointConfig::new(dir);
    cfg.tls = Some(EndpointTls {
        server: pki.server_config().expect("server config"),
        name: S3_TLS_NAME.to_owned(),
        ca_pem: pki.ca_pem().to_owned(),
    });
    Endpoint::start(cfg).await.expect("start the endpoint")
}

#[tokio::test]
async fn a_client_trusting_the_run_ca_puts_and_gets_over_https() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = RunPki::issue(&[S3_TLS_NAME]).expect("pki");
    let ep = tls_endpoint(dir.path(), &pki).await;
    assert_eq!(ep.url(), format!("https://{S3_TLS_NAME}:{}", ep.port()));
    let client = S3Client::for_endpoint(&ep).expect("client");
    let body = vec![7u8; 300_000];
    client
        .sdk()
        .put_object()
        .bucket(client.bucket())
        .key("dir/object")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("PUT over https");
    let got = client
        .sdk()
        .get_object()
        .bucket(client.bucket())
        .key("dir/object")
        .send()
        .await
        .expect("GET over https")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    assert_eq!(got.as_ref(), body.as_slice());
    let (meta, stored) = ep.object("dir/object").expect("stored");
    assert_eq!(stored, body);
    assert_eq!(meta.size, 300_000);
    ep.shutdown().await;
}

#[tokio::test]
async fn another_ca_or_plain_http_gets_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = RunPki::issue(&[S3_TLS_NAME]).expect("pki");
    let ep = tls_endpoint(dir.path(), &pki).await;
    let other = RunPki::issue(&[S3_TLS_NAME]).expect("other pki");
    let wrong = EndpointTls {
        server: other.server_config().expect("server config"),
        name: S3_TLS_NAME.to_owned(),
        ca_pem: other.ca_pem().to_owned(),
    };
    let http = pinned_tls_http_client(&wrong, ep.addr().ip()).expect("http client");
    let sdk = sdk_client_over(&ep.url(), ep.observer_credentials(), ep.region(), 1, http);
    let e = sdk
        .list_objects_v2()
        .bucket(ep.bucket())
        .send()
        .await
        .expect_err("a client trusting another CA must fail");
    let text = format!("{}", DisplayErrorContext(&e));
    assert!(
        text.contains("UnknownIssuer") || text.contains("certificate"),
        "{text}"
    );

    let plain = sdk_client(
        &format!("http://{}", ep.addr()),
        ep.observer_credentials(),
        ep.region(),
        1,
    );
    let e = plain.list_objects_v2().bucket(ep.bucket()).send().await;
    assert!(e.is_err(), "plain http to the https port must fail");
    assert!(
        ep.journal().all().is_empty(),
        "nothing reached the S3 service"
    );
    ep.shutdown().await;
}

/// The `reset` fault over https: the TCP connection under the TLS session
/// is reset (no HTTP answer, no TLS close), the upload is not stored, and
/// the next request on a new connection works.
#[tokio::test]
async fn the_reset_fault_resets_the_connection_under_tls() {
    use crate::s3::server::{FaultKind, FaultRule};
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = RunPki::issue(&[S3_TLS_NAME]).expect("pki");
    let ep = tls_endpoint(dir.path(), &pki).await;
    let tls = ep.tls().expect("https").clone();
    let http = pinned_tls_http_client(&tls, ep.addr().ip()).expect("http client");
    // The tool's key (the harness's own is never faulted), no retries.
    let sdk = sdk_client_over(&ep.url(), ep.credentials(), ep.region(), 1, http);
    ep.faults()
        .add(FaultRule::new(FaultKind::Reset).op("PutObject").times(1))
        .expect("rule");
    let put = |key: &'static str| {
        sdk.put_object()
            .bucket(ep.bucket())
            .key(key)
            .body(ByteStream::from(vec![3u8; 200_000]))
            .send()
    };
    let e = put("r/up").await.expect_err("reset upload");
    let msg = format!("{}", DisplayErrorContext(&e));
    assert!(e.raw_response().is_none(), "no HTTP answer: {msg}");
    assert!(
        msg.contains("Connection reset by peer") || msg.contains("os error 104"),
        "a TCP RST under the TLS session: {msg}"
    );
    let client = S3Client::for_endpoint(&ep).expect("client");
    assert_eq!(client.head("r/up").await.expect("head"), None);
    put("r/next").await.expect("the next upload works");
    let rec = ep
        .journal()
        .wait_finished(
            |r| r.fault.as_deref() == Some("reset"),
            1,
            std::time::Duration::from_secs(10),
        )
        .await
        .expect("journaled");
    assert_eq!((rec.op.as_str(), rec.status), ("PutObject", None));
    ep.shutdown().await;
}
