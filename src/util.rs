//! Small shared helpers.

/// Now as RFC 3339 UTC with nanoseconds.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A short random hex token (run ids, secrets).
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// A JSON file as `T`, or None when there is no such file.
pub fn read_json_if_file<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> anyhow::Result<Option<T>> {
    use anyhow::Context;
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .with_context(|| format!("reading {}", path.display()))
}

/// Write `value` as pretty JSON to `path`.
/// Lower-case hex digest (`D`: e.g. `sha2::Sha256`) of a file's content,
/// read in a stream.
pub fn file_digest<D: sha2::Digest + std::io::Write>(
    path: &std::path::Path,
) -> anyhow::Result<String> {
    use anyhow::Context;
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = D::new();
    std::io::copy(&mut f, &mut h).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(h.finalize()))
}

pub fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::write(path, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Take an exclusive lock on `path` (created if missing), waiting for
/// whoever holds it; released when the returned guard drops.
pub fn lock_exclusive(path: &std::path::Path) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    use anyhow::Context;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .with_context(|| format!("locking {}", path.display()))
}

/// The guest command that sets its clock to `now` (to the nanosecond).
pub fn set_clock_command(now: std::time::SystemTime) -> anyhow::Result<String> {
    let d = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| anyhow::anyhow!("the host clock is before 1970"))?;
    Ok(format!(
        "date -s @{}.{:09} >/dev/null",
        d.as_secs(),
        d.subsec_nanos()
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_clock_command_has_seconds_and_nanoseconds() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_795_812_780, 5);
        assert_eq!(
            super::set_clock_command(t).unwrap(),
            "date -s @1795812780.000000005 >/dev/null"
        );
    }
}
