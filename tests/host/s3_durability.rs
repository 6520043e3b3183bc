//! Durability of the embedded endpoint: a restart on the same directory
//! serves the same data, and a PUT acknowledged before the process is
//! SIGKILLed survives.

use std::io::BufRead as _;
use std::time::Duration;

use crate::s3_common::{bytes, MIB};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, StorageClass};
use vmharness::s3::client::sdk_client;
use vmharness::s3::{Credentials, Endpoint, EndpointConfig, S3Client};

fn creds() -> Credentials {
    Credentials {
        access_key_id: "AKIADURABILITYTEST00".to_owned(),
        secret_access_key: "durability-secret".to_owned(),
    }
}

fn config(dir: &std::path::Path) -> EndpointConfig {
    let mut cfg = EndpointConfig::new(dir);
    cfg.credentials = Some(creds());
    cfg.restore_delay = Duration::from_millis(100);
    cfg
}

#[tokio::test]
async fn restart_serves_the_same_bucket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ep = Endpoint::start(config(dir.path())).await.expect("start");
    let sdk = sdk_client(&ep.url(), ep.credentials(), ep.region(), 1);
    let client = S3Client::from_sdk(sdk.clone(), ep.bucket(), true);
    let b = ep.bucket().to_owned();
    client.put("a", bytes(10, 1).into()).await.expect("put a");
    client
        .put("a/b", bytes(20, 2).into())
        .await
        .expect("put a/b");
    sdk.put_object()
        .bucket(&b)
        .key("g")
        .storage_class(StorageClass::Glacier)
        .body(ByteStream::from(bytes(30, 3)))
        .send()
        .await
        .expect("put glacier");
    client.restore("g", 1).await.expect("restore");
    let id = sdk
        .create_multipart_upload()
        .bucket(&b)
        .key("mp")
        .send()
        .await
        .expect("create")
        .upload_id()
        .expect("id")
        .to_owned();
    let e1 = sdk
        .upload_part()
        .bucket(&b)
        .key("mp")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(bytes(5 * MIB, 4)))
        .send()
        .await
        .expect("part")
        .e_tag()
        .expect("etag")
        .to_owned();
    let before = client.list("").await.expect("list");
    ep.shutdown().await;

    let ep = Endpoint::start(config(dir.path())).await.expect("restart");
    let sdk = sdk_client(&ep.url(), ep.credentials(), ep.region(), 1);
    let client = S3Client::from_sdk(sdk.clone(), ep.bucket(), true);
    assert_eq!(client.list("").await.expect("list"), before);
    assert_eq!(
        client.get_bytes("a").await.expect("a").as_ref(),
        bytes(10, 1)
    );
    assert_eq!(
        client.get_bytes("a/b").await.expect("a/b").as_ref(),
        bytes(20, 2)
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let g = client.head("g").await.expect("head").expect("g");
    assert!(g
        .restore
        .expect("restore kept")
        .contains("ongoing-request=\"false\""));
    assert_eq!(
        client.get_bytes("g").await.expect("restored").as_ref(),
        bytes(30, 3)
    );
    let uploads = client.list_uploads("").await.expect("uploads");
    assert_eq!(uploads.len(), 1, "the pending upload survived");
    let e2 = sdk
        .upload_part()
        .bucket(&b)
        .key("mp")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from(bytes(7, 5)))
        .send()
        .await
        .expect("part after restart")
        .e_tag()
        .expect("etag")
        .to_owned();
    sdk.complete_multipart_upload()
        .bucket(&b)
        .key("mp")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(e1).build())
                .parts(CompletedPart::builder().part_number(2).e_tag(e2).build())
                .build(),
        )
        .send()
        .await
        .expect("complete after restart");
    assert_eq!(
        client.head("mp").await.expect("head").expect("mp").size,
        (5 * MIB + 7) as u64
    );
}

/// Run by `acknowledged_put_survives_sigkill` as a child process: serves
/// the directory in `VMH_CHILD_STORE` until killed.
#[tokio::test]
#[ignore = "helper process for acknowledged_put_survives_sigkill"]
async fn child_endpoint_process() {
    let Some(dir) = std::env::var_os("VMH_CHILD_STORE") else {
        return;
    };
    let ep = Endpoint::start(config(std::path::Path::new(&dir)))
        .await
        .expect("child start");
    println!("VMH_URL={}", ep.url());
    tokio::time::sleep(Duration::from_secs(600)).await;
}

#[tokio::test]
async fn acknowledged_put_survives_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "s3_durability::child_endpoint_process",
            "--ignored",
            "--nocapture",
        ])
        .env("VMH_CHILD_STORE", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn child endpoint");
    let stdout = child.stdout.take().expect("stdout");
    let url = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("VMH_URL=").map(str::to_owned))
        .expect("child prints its URL");
    let client = S3Client::from_sdk(
        sdk_client(&url, &creds(), "us-east-1", 1),
        "vmharness",
        true,
    );
    let data = bytes(3 * MIB + 17, 9);
    let etag = client
        .put("acked/obj", data.clone().into())
        .await
        .expect("put");
    child.kill().expect("SIGKILL child");
    let _ = child.wait();

    let ep = Endpoint::start(config(dir.path())).await.expect("restart");
    let client = S3Client::from_sdk(
        sdk_client(&ep.url(), ep.credentials(), ep.region(), 1),
        ep.bucket(),
        true,
    );
    let head = client
        .head("acked/obj")
        .await
        .expect("head")
        .expect("survived");
    assert_eq!(head.etag, etag);
    assert_eq!(
        client.get_bytes("acked/obj").await.expect("get").as_ref(),
        data
    );
}
