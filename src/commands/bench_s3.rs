//! `vmharness bench s3`: the embedded endpoint's PUT and GET of large
//! objects from the host's SDK client, next to the host's hash bound (the
//! endpoint computes MD5 for the ETag and SHA-256 for the checksum of every
//! byte it stores: both, concurrently, on the same bytes).

use crate::exit::Outcome;
use crate::s3::{Endpoint, EndpointConfig, S3Client};
use crate::stats::summarize;
use anyhow::{Context, Result};
use bytes::Bytes;
use std::time::Instant;

/// Seconds of one MD5 and one SHA-256 of `data`, computed at the same time
/// on two threads: (MD5, SHA-256, both done).
pub fn hash_bound(data: &[u8]) -> (f64, f64, f64) {
    let t = Instant::now();
    let (md5, sha) = std::thread::scope(|s| {
        let md5 = s.spawn(|| {
            let t = Instant::now();
            let mut h = crate::s3::server::checksum::new_md5();
            s3s::crypto::Checksum::update(&mut h, data);
            std::hint::black_box(crate::s3::server::checksum::finalize_md5(h));
            t.elapsed().as_secs_f64()
        });
        let sha = s.spawn(|| {
            let t = Instant::now();
            std::hint::black_box(<sha2::Sha256 as sha2::Digest>::digest(data));
            t.elapsed().as_secs_f64()
        });
        (md5.join(), sha.join())
    });
    let both = t.elapsed().as_secs_f64();
    (md5.unwrap_or(f64::NAN), sha.unwrap_or(f64::NAN), both)
}

/// `size_mib` of bytes that do not compress (a fixed xorshift stream).
fn payload(size_mib: usize) -> Bytes {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(size_mib << 20);
    while out.len() < size_mib << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    Bytes::from(out)
}

/// The figures of one run of the bench.
struct Figures {
    hash: Vec<f64>,
    md5: Vec<f64>,
    sha: Vec<f64>,
    put: Vec<f64>,
    get: Vec<f64>,
}

pub fn bench_s3(size_mib: usize, runs: usize) -> Result<Outcome> {
    let dir = tempfile::tempdir().context("a directory for the endpoint's store")?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let ep = rt
        .block_on(Endpoint::start(EndpointConfig::new(dir.path())))
        .context("starting the embedded S3 endpoint")?;
    let client = S3Client::for_endpoint(&ep).context("the host's client of the endpoint")?;
    let data = payload(size_mib);
    println!(
        "bench s3: {size_mib} MiB objects, {runs} run(s), embedded endpoint at {} (store in {})",
        ep.url(),
        dir.path().display()
    );
    let mut f = Figures {
        hash: Vec::new(),
        md5: Vec::new(),
        sha: Vec::new(),
        put: Vec::new(),
        get: Vec::new(),
    };
    for i in 1..=runs {
        let (md5, sha, both) = hash_bound(&data);
        let key = format!("bench/object-{i}");
        let t = Instant::now();
        rt.block_on(client.put(&key, data.clone()))
            .with_context(|| format!("PUT {key}"))?;
        let put = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let got = rt
            .block_on(client.get_bytes(&key))
            .with_context(|| format!("GET {key}"))?;
        let get = t.elapsed().as_secs_f64();
        if got.len() != data.len() {
            anyhow::bail!("GET {key} returned {} bytes of {}", got.len(), data.len());
        }
        eprintln!(
            "[bench] run {i}/{runs}: MD5 {md5:.3}s, SHA-256 {sha:.3}s (together {both:.3}s), \
             PUT {put:.3}s, GET {get:.3}s"
        );
        f.hash.push(both);
        f.md5.push(md5);
        f.sha.push(sha);
        f.put.push(put);
        f.get.push(get);
    }
    rt.block_on(ep.shutdown());
    print_figures(size_mib, &f);
    Ok(Outcome::Passed)
}

fn print_figures(size_mib: usize, f: &Figures) {
    let median = |v: &[f64]| summarize(v).map_or(f64::NAN, |s| s.median);
    let rate = |secs: f64| size_mib as f64 / secs;
    let bound = median(&f.hash);
    println!(
        "  hash bound (MD5 and SHA-256 at once) median {bound:.3}s = {:.0} MiB/s \
         (MD5 {:.3}s, SHA-256 {:.3}s: the slower sets the bound)",
        rate(bound),
        median(&f.md5),
        median(&f.sha)
    );
    for (name, v) in [("PUT", &f.put), ("GET", &f.get)] {
        let m = median(v);
        println!(
            "  {name} {size_mib} MiB  median {m:.3}s = {:.0} MiB/s, {:.1}x the hash bound \
             (min {:.3}s, max {:.3}s)",
            rate(m),
            m / bound,
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(0.0, f64::max)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_bound_times_both_hashes_and_the_payload_does_not_repeat() {
        let data = payload(1);
        assert_eq!(data.len(), 1 << 20);
        assert_ne!(data[..4096], data[4096..8192]);
        let (md5, sha, both) = hash_bound(&data);
        assert!(md5 > 0.0 && sha > 0.0, "{md5} {sha}");
        assert!(both >= md5.max(sha), "{both} {md5} {sha}");
    }
}
