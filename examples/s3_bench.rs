//! PUT and GET throughput of the embedded endpoint for 64 MiB objects
//! (single stream and 4 parallel), next to a plain file copy of the same
//! bytes on the same disk.
//!
//! `cargo run --release --example s3_bench -- [DIR]` (DIR defaults to a
//! temporary directory under the current one, so "same disk" holds).

use std::io::Write as _;
use std::time::Instant;

use bytes::Bytes;
use vmharness::s3::client::sdk_client;
use vmharness::s3::{Endpoint, EndpointConfig, S3Client};

const SIZE: usize = 64 * 1024 * 1024;
const PARALLEL: usize = 4;

fn mbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs.max(1e-9)
}

fn file_copy(dir: &std::path::Path, data: &[u8]) -> std::io::Result<f64> {
    let src = dir.join("copy-src");
    let dst = dir.join("copy-dst");
    let mut f = std::fs::File::create(&src)?;
    f.write_all(data)?;
    f.sync_all()?;
    let t = Instant::now();
    std::fs::copy(&src, &dst)?;
    std::fs::File::open(&dst)?.sync_all()?;
    let secs = t.elapsed().as_secs_f64();
    std::fs::remove_file(src)?;
    std::fs::remove_file(dst)?;
    Ok(secs)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let base = match std::env::args().nth(1) {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir_in(".")?,
    };
    let data: Bytes = (0..SIZE)
        .map(|i| (i as u8).wrapping_mul(131).wrapping_add((i >> 13) as u8))
        .collect::<Vec<u8>>()
        .into();
    let copy = mbps(SIZE, file_copy(base.path(), &data)?);

    let ep = Endpoint::start(EndpointConfig::new(base.path().join("store"))).await?;
    let client = S3Client::from_sdk(
        sdk_client(&ep.url(), ep.credentials(), ep.region(), 1),
        ep.bucket(),
        true,
    );

    let t = Instant::now();
    client.put("bench/0", data.clone()).await?;
    let put1 = mbps(SIZE, t.elapsed().as_secs_f64());
    let t = Instant::now();
    let got = client.get_bytes("bench/0").await?;
    let get1 = mbps(got.len(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    let puts: Vec<_> = (0..PARALLEL)
        .map(|i| {
            let c = client.clone();
            let d = data.clone();
            tokio::spawn(async move { c.put(&format!("bench/p{i}"), d).await })
        })
        .collect();
    for p in puts {
        p.await??;
    }
    let put4 = mbps(SIZE * PARALLEL, t.elapsed().as_secs_f64());
    let t = Instant::now();
    let gets: Vec<_> = (0..PARALLEL)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move { c.get_bytes(&format!("bench/p{i}")).await })
        })
        .collect();
    let mut total = 0;
    for g in gets {
        total += g.await??.len();
    }
    let get4 = mbps(total, t.elapsed().as_secs_f64());
    ep.shutdown().await;

    println!("64 MiB objects, store on {}", base.path().display());
    println!("{:<22} {:>10} {:>10}", "", "MB/s", "vs copy");
    println!("{:<22} {:>10.1} {:>9.0}%", "file copy + fsync", copy, 100.0);
    for (name, v) in [
        ("PUT x1", put1),
        ("GET x1", get1),
        ("PUT x4 (aggregate)", put4),
        ("GET x4 (aggregate)", get4),
    ] {
        println!("{:<22} {:>10.1} {:>9.0}%", name, v, 100.0 * v / copy);
    }
    Ok(())
}
