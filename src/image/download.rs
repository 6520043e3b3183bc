//! Fetching a pinned file over HTTP(S): into `<dir>/<name>.part`, resumed
//! with a Range request when a part exists, SHA-512 verified over the whole
//! file before it is moved into place, cached by its hash.

use crate::events::{self, Scope};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha512};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The last path segment of a URL (without query), the name a download keeps.
pub fn file_name_of(url: &str) -> Result<String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or_default();
    if name.is_empty() || name == "." || name == ".." {
        bail!("the URL {url} does not end in a file name");
    }
    Ok(name.to_string())
}

/// Check a SHA-512 written in a recipe: 128 hex digits (returned lowercase).
pub fn parse_sha512(hex_text: &str) -> Result<String> {
    let h = hex_text.trim().to_ascii_lowercase();
    if h.len() != 128 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("a SHA-512 is 128 hex digits, got {hex_text:?}");
    }
    Ok(h)
}

/// The SHA-512 of `file_name` in a `SHA512SUMS` text (`<hash>  <name>` lines,
/// `*<name>` for binary mode).
pub fn sha512_from_sums(sums: &str, file_name: &str) -> Result<String> {
    for line in sums.lines() {
        let mut words = line.split_whitespace();
        let (Some(hash), Some(name)) = (words.next(), words.next()) else {
            continue;
        };
        if name.trim_start_matches('*') == file_name {
            return parse_sha512(hash);
        }
    }
    bail!("the SHA512SUMS file lists no {file_name}")
}

/// Where the verified file with this hash is kept.
pub fn cached_path(dir: &Path, url: &str, sha512: &str) -> Result<PathBuf> {
    Ok(dir.join(format!("{}-{}", &sha512[..32], file_name_of(url)?)))
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .build()
}

fn get(url: &str, range_from: u64) -> Result<ureq::Response> {
    let mut req = agent().get(url);
    if range_from > 0 {
        req = req.set("Range", &format!("bytes={range_from}-"));
    }
    match req.call() {
        Ok(resp) => Ok(resp),
        Err(ureq::Error::Status(code, resp)) => Err(StatusError {
            code,
            text: resp.status_text().to_string(),
        })
        .with_context(|| format!("downloading {url}")),
        Err(e) => Err(e).with_context(|| format!("downloading {url}")),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the server answered HTTP {code} {text}")]
struct StatusError {
    code: u16,
    text: String,
}

/// A small text file (e.g. `SHA512SUMS`), kept in `dir` under a name made
/// from its URL so that a later build reads it from there.
pub fn fetch_text(url: &str, dir: &Path) -> Result<String> {
    use sha2::Sha256;
    let name = format!(
        "{}-{}",
        &hex::encode(Sha256::digest(url.as_bytes()))[..16],
        file_name_of(url)?
    );
    let path = dir.join(name);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(text);
    }
    let mut text = String::new();
    get(url, 0)?
        .into_reader()
        .take(16 << 20)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {url}"))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(text)
}

/// The verified file for `sha512` in `dir`, downloaded from `url` first
/// when it is not there. An interrupted download leaves `<name>.part`,
/// which the next call resumes; a file whose hash differs is deleted.
pub fn fetch(url: &str, sha512: &str, dir: &Path) -> Result<PathBuf> {
    let sha512 = parse_sha512(sha512)?;
    let done = cached_path(dir, url, &sha512)?;
    if done.is_file() {
        return Ok(done);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = done
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let _lock = crate::util::lock_exclusive(&dir.join(format!(".{name}.lock")))?;
    if done.is_file() {
        return Ok(done);
    }
    let part = dir.join(format!("{name}.part"));
    receive(url, &part)?;
    let got = sha512_of(&part)?;
    if got != sha512 {
        let _ = std::fs::remove_file(&part);
        bail!(
            "the file downloaded from {url} has SHA-512 {got}, but the recipe expects {sha512}: \
             it was deleted. Check the recipe's `sha512` (or `sha512_sums_url`) against the URL"
        );
    }
    std::fs::rename(&part, &done).with_context(|| format!("moving into {}", done.display()))?;
    events::progress(
        Scope::Download,
        format!("{url}: verified (SHA-512 {}...)", &sha512[..16]),
    );
    Ok(done)
}

/// Fill `part` with the whole body of `url`, continuing after what it holds.
fn receive(url: &str, part: &Path) -> Result<()> {
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let resp = match get(url, have) {
        Err(e)
            if have > 0
                && e.downcast_ref::<StatusError>()
                    .is_some_and(|s| s.code == 416) =>
        {
            events::progress(
                Scope::Download,
                format!("{url}: the server refused to resume ({e:#}); starting over"),
            );
            std::fs::remove_file(part).ok();
            get(url, 0)?
        }
        r => r?,
    };
    let resumed = resp.status() == 206;
    if have > 0 && !resumed {
        events::progress(
            Scope::Download,
            format!("{url}: the server ignored the range request; starting over"),
        );
    }
    let offset = if resumed {
        let from = resp.header("Content-Range").and_then(range_start);
        if from != Some(have) {
            bail!(
                "{url}: asked for the bytes from {have} on, the server sent Content-Range {:?}",
                resp.header("Content-Range")
            );
        }
        events::progress(
            Scope::Download,
            format!("{url}: resuming after {have} bytes"),
        );
        have
    } else {
        0
    };
    let total = resp
        .header("Content-Length")
        .and_then(|l| l.parse::<u64>().ok())
        .map(|l| l + offset);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(!resumed)
        .append(resumed)
        .open(part)
        .with_context(|| format!("opening {}", part.display()))?;
    let mut body = resp.into_reader();
    let mut buf = vec![0u8; 256 * 1024];
    let mut at = offset;
    let mut shown = None;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                file.flush().ok();
                return Err(interrupted(url, part, at, &e.to_string()));
            }
        };
        file.write_all(&buf[..n])
            .with_context(|| format!("writing {}", part.display()))?;
        at += n as u64;
        progress(url, at, total, &mut shown);
        if crate::signals::interrupted() {
            return Err(interrupted(url, part, at, "interrupted"));
        }
    }
    file.sync_all()
        .with_context(|| format!("writing {}", part.display()))?;
    if let Some(t) = total {
        if at < t {
            return Err(interrupted(url, part, at, "the connection closed early"));
        }
    }
    Ok(())
}

fn interrupted(url: &str, part: &Path, at: u64, why: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the download of {url} stopped after {at} bytes ({why}); they are kept in {} and \
         the next build resumes from there",
        part.display()
    )
}

/// The first byte of `Content-Range: bytes N-M/T`.
fn range_start(v: &str) -> Option<u64> {
    v.trim()
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// One line on stderr at every tenth of the file (or every 64 MiB when the
/// size is unknown).
fn progress(url: &str, at: u64, total: Option<u64>, shown: &mut Option<u64>) {
    let step = match total {
        Some(t) if t > 0 => at * 10 / t,
        _ => at >> 26,
    };
    if *shown == Some(step) {
        return;
    }
    *shown = Some(step);
    match total {
        Some(t) if t > 0 => events::progress(
            Scope::Download,
            format!(
                "{}: {}% ({} of {} MiB)",
                file_name_of(url).unwrap_or_default(),
                at * 100 / t,
                at >> 20,
                t >> 20
            ),
        ),
        _ => events::progress(
            Scope::Download,
            format!(
                "{}: {} MiB",
                file_name_of(url).unwrap_or_default(),
                at >> 20
            ),
        ),
    }
}

/// SHA-512 of a whole file, lowercase hex.
pub fn sha512_of(path: &Path) -> Result<String> {
    crate::util::file_digest::<Sha512>(path)
}

#[cfg(test)]
#[path = "../../tests/support/http_server.rs"]
mod http_server;

#[cfg(test)]
mod tests {
    use super::http_server::{Behaviour, Server};
    use super::*;

    fn payload() -> Vec<u8> {
        (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn sha512_hex(data: &[u8]) -> String {
        hex::encode(Sha512::digest(data))
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn full_download_verifies_caches_and_is_not_fetched_again() {
        let data = payload();
        let server = Server::start(vec![("/img/disk.qcow2".into(), data.clone().into())]);
        let dir = tempfile::tempdir().unwrap();
        let url = server.url("/img/disk.qcow2");
        let got = fetch(&url, &sha512_hex(&data), dir.path()).unwrap();
        assert_eq!(std::fs::read(&got).unwrap(), data);
        assert_eq!(
            got,
            cached_path(dir.path(), &url, &sha512_hex(&data)).unwrap()
        );
        assert_eq!(server.requests().len(), 1);
        // The second time nothing is asked of the server.
        let again = fetch(&url, &sha512_hex(&data).to_uppercase(), dir.path()).unwrap();
        assert_eq!(again, got);
        assert_eq!(server.requests().len(), 1);
        assert_eq!(
            files_in(dir.path()),
            [got.file_name().unwrap().to_string_lossy()]
        );
    }

    #[test]
    fn checksum_mismatch_is_refused_and_nothing_is_kept() {
        let data = payload();
        let server = Server::start(vec![("/disk.qcow2".into(), data.clone().into())]);
        let dir = tempfile::tempdir().unwrap();
        let url = server.url("/disk.qcow2");
        let wrong = sha512_hex(b"something else");
        let err = format!("{:#}", fetch(&url, &wrong, dir.path()).unwrap_err());
        assert!(err.contains(&url), "{err}");
        assert!(err.contains(&wrong), "{err}");
        assert!(err.contains(&sha512_hex(&data)), "{err}");
        assert!(
            files_in(dir.path()).is_empty(),
            "{:?}",
            files_in(dir.path())
        );
    }

    #[test]
    fn interrupted_download_keeps_the_part_and_resumes_with_range() {
        let data = payload();
        let half = data.len() as u64 / 2;
        let server = Server::start(vec![("/disk.qcow2".into(), data.clone().into())]);
        server.set(Behaviour {
            cut_after: Some(half),
            ignore_range: false,
        });
        let dir = tempfile::tempdir().unwrap();
        let url = server.url("/disk.qcow2");
        let sha = sha512_hex(&data);
        let err = format!("{:#}", fetch(&url, &sha, dir.path()).unwrap_err());
        assert!(err.contains("stopped after"), "{err}");
        let part = dir.path().join(format!(
            "{}.part",
            cached_path(dir.path(), &url, &sha)
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
        ));
        assert_eq!(std::fs::metadata(&part).unwrap().len(), half);
        server.set(Behaviour::default());
        let got = fetch(&url, &sha, dir.path()).unwrap();
        assert_eq!(std::fs::read(&got).unwrap(), data);
        let reqs = server.requests();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].range, None);
        assert_eq!(
            reqs[1].range.as_deref(),
            Some(format!("bytes={half}-").as_str())
        );
        assert!(!part.exists());
    }

    #[test]
    fn server_that_ignores_range_restarts_from_zero() {
        let data = payload();
        let server = Server::start(vec![("/disk.qcow2".into(), data.clone().into())]);
        server.set(Behaviour {
            cut_after: Some(1000),
            ignore_range: true,
        });
        let dir = tempfile::tempdir().unwrap();
        let url = server.url("/disk.qcow2");
        let sha = sha512_hex(&data);
        assert!(fetch(&url, &sha, dir.path()).is_err());
        server.set(Behaviour {
            cut_after: None,
            ignore_range: true,
        });
        let got = fetch(&url, &sha, dir.path()).unwrap();
        assert_eq!(std::fs::read(&got).unwrap(), data);
        let reqs = server.requests();
        assert_eq!(reqs[1].range.as_deref(), Some("bytes=1000-"));
        assert_eq!(reqs[1].status, 200);
    }

    #[test]
    fn sums_file_gives_the_hash_of_the_named_file() {
        let a = sha512_hex(b"a");
        let b = sha512_hex(b"b");
        let sums =
            format!("{a}  debian-13-generic-amd64.json\n{b} *debian-13-generic-amd64.qcow2\n");
        assert_eq!(
            sha512_from_sums(&sums, "debian-13-generic-amd64.qcow2").unwrap(),
            b
        );
        let err = sha512_from_sums(&sums, "other.qcow2")
            .unwrap_err()
            .to_string();
        assert!(err.contains("other.qcow2"), "{err}");
    }

    #[test]
    fn sums_file_is_fetched_once() {
        let sums = format!("{}  x.qcow2\n", sha512_hex(b"x"));
        let server = Server::start(vec![(
            "/d/SHA512SUMS".into(),
            sums.clone().into_bytes().into(),
        )]);
        let dir = tempfile::tempdir().unwrap();
        let url = server.url("/d/SHA512SUMS");
        assert_eq!(fetch_text(&url, dir.path()).unwrap(), sums);
        assert_eq!(fetch_text(&url, dir.path()).unwrap(), sums);
        assert_eq!(server.requests().len(), 1);
    }

    #[test]
    fn missing_file_names_the_url_and_status() {
        let server = Server::start(vec![]);
        let dir = tempfile::tempdir().unwrap();
        let url = server.url("/nope.qcow2");
        let err = format!(
            "{:#}",
            fetch(&url, &sha512_hex(b""), dir.path()).unwrap_err()
        );
        assert!(err.contains(&url) && err.contains("404"), "{err}");
    }

    #[test]
    fn names_and_hashes_are_checked() {
        assert_eq!(file_name_of("https://h/a/b.qcow2?x=1").unwrap(), "b.qcow2");
        assert!(file_name_of("https://h/a/").is_err());
        assert!(parse_sha512("abc").is_err());
        assert_eq!(range_start("bytes 100-199/200"), Some(100));
    }
}
