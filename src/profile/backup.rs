//! `[backup]`: the tool's backup settings (rendered into its config) and the
//! sizes of the interrupt and large scenarios.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

const MIB: u64 = 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSection {
    pub chunk_size_bytes: u64,
    pub concurrency: u32,
    pub retain: u32,
    pub full_every_days: f64,
    pub incremental_every_days: f64,
    /// "HH:MM".
    pub run_at: String,
    pub spool_enabled: bool,
    pub spool_size_bytes: u64,
    /// Incompressible data added before the interrupt scenario's backup, so
    /// that it spans several chunks.
    pub interrupt_data_bytes: u64,
    /// The interrupt scenario kills the tool once this many chunks are stored.
    pub interrupt_after_chunks: u32,
    /// Incompressible data added before the large scenario's backup, so
    /// that it spans at least two full chunks and a part of a third.
    pub large_data_bytes: u64,
    /// The large scenario requires at least this many parts in the
    /// multipart upload of every full-size chunk (the part size is the
    /// tool's choice: 1 accepts one part per chunk).
    pub large_min_parts: u32,
}

impl Default for BackupSection {
    fn default() -> Self {
        BackupSection {
            chunk_size_bytes: 8 * MIB,
            concurrency: 2,
            retain: 3,
            full_every_days: 7.0,
            incremental_every_days: 1.0,
            run_at: "02:00".into(),
            spool_enabled: false,
            spool_size_bytes: 256 * MIB,
            interrupt_data_bytes: 32 * MIB,
            interrupt_after_chunks: 1,
            large_data_bytes: 20 * MIB,
            large_min_parts: 1,
        }
    }
}

/// Largest object S3 stores (5 TiB).
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * MIB;

/// S3's smallest multipart part but the last, and its largest part count.
pub const MIN_PART_BYTES: u64 = 5 * MIB;
pub const MAX_PARTS: u32 = 10_000;

impl BackupSection {
    pub(super) fn validate(&self, f: &str) -> Result<()> {
        if !(4096..=MAX_OBJECT_BYTES).contains(&self.chunk_size_bytes) {
            bail!(
                "profile {f}: [backup] chunk_size_bytes must be between 4096 and 5 TiB, got {}",
                self.chunk_size_bytes
            );
        }
        if !(1..=64).contains(&self.concurrency) {
            bail!(
                "profile {f}: [backup] concurrency must be between 1 and 64, got {}",
                self.concurrency
            );
        }
        if self.retain == 0 {
            bail!("profile {f}: [backup] retain must be at least 1");
        }
        for (key, v) in [
            ("full_every_days", self.full_every_days),
            ("incremental_every_days", self.incremental_every_days),
        ] {
            if !v.is_finite() || v < 0.0 {
                bail!("profile {f}: [backup] {key} must be a number >= 0, got {v}");
            }
        }
        if parse_hh_mm(&self.run_at).is_none() {
            bail!(
                "profile {f}: [backup] run_at must be \"HH:MM\" (00:00-23:59), got {:?}",
                self.run_at
            );
        }
        if self.spool_size_bytes == 0 {
            bail!("profile {f}: [backup] spool_size_bytes must be positive");
        }
        if self.spool_enabled && self.chunk_size_bytes > self.spool_size_bytes {
            bail!(
                "profile {f}: [backup] chunk_size_bytes ({}) must not exceed spool_size_bytes ({}) when spool_enabled = true",
                self.chunk_size_bytes,
                self.spool_size_bytes
            );
        }
        if self.interrupt_data_bytes < 2 * self.chunk_size_bytes {
            bail!(
                "profile {f}: [backup] interrupt_data_bytes ({}) must be at least two chunks (2 x chunk_size_bytes = {}) so the interrupted backup spans several chunks",
                self.interrupt_data_bytes,
                2 * self.chunk_size_bytes
            );
        }
        let chunks = self.interrupt_data_bytes / self.chunk_size_bytes;
        if self.interrupt_after_chunks == 0 || u64::from(self.interrupt_after_chunks) >= chunks {
            bail!(
                "profile {f}: [backup] interrupt_after_chunks must be between 1 and {} (the chunks interrupt_data_bytes fills, less one), got {}",
                chunks - 1,
                self.interrupt_after_chunks
            );
        }
        if 2 * self.large_data_bytes < 5 * self.chunk_size_bytes {
            bail!(
                "profile {f}: [backup] large_data_bytes ({}) must be at least 2.5 chunks (2.5 x chunk_size_bytes = {}) so the large backup spans several chunks",
                self.large_data_bytes,
                5 * self.chunk_size_bytes / 2
            );
        }
        // Every part but the last holds at least MIN_PART_BYTES.
        let most_parts = self
            .chunk_size_bytes
            .div_ceil(MIN_PART_BYTES)
            .min(MAX_PARTS.into());
        if self.large_min_parts == 0 || u64::from(self.large_min_parts) > most_parts {
            bail!(
                "profile {f}: [backup] large_min_parts must be between 1 and {most_parts} (the parts of {} MiB a chunk of chunk_size_bytes can have), got {}",
                MIN_PART_BYTES / MIB,
                self.large_min_parts
            );
        }
        Ok(())
    }
}

/// `"HH:MM"` -> (hour, minute).
pub fn parse_hh_mm(s: &str) -> Option<(u8, u8)> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 23 && m <= 59).then_some((h, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hh_mm() {
        assert_eq!(parse_hh_mm("02:00"), Some((2, 0)));
        assert_eq!(parse_hh_mm("23:59"), Some((23, 59)));
        for bad in ["24:00", "2:00", "02:60", "0200", "ab:cd", "+1:00"] {
            assert_eq!(parse_hh_mm(bad), None, "{bad}");
        }
    }

    #[test]
    fn validation_names_keys() {
        let d = BackupSection::default;
        assert!(d().validate("f").is_ok());
        let e = |b: BackupSection| b.validate("f").unwrap_err().to_string();
        assert!(e(BackupSection { retain: 0, ..d() }).contains("[backup] retain"));
        assert!(e(BackupSection {
            concurrency: 0,
            ..d()
        })
        .contains("[backup] concurrency"));
        assert!(e(BackupSection {
            run_at: "7am".into(),
            ..d()
        })
        .contains("[backup] run_at"));
        assert!(e(BackupSection {
            full_every_days: f64::NAN,
            ..d()
        })
        .contains("[backup] full_every_days"));
        assert!(e(BackupSection {
            spool_enabled: true,
            spool_size_bytes: MIB,
            ..d()
        })
        .contains("spool_size_bytes"));
        assert!(e(BackupSection {
            interrupt_data_bytes: 8 * MIB,
            ..d()
        })
        .contains("[backup] interrupt_data_bytes"));
        assert!(e(BackupSection {
            interrupt_after_chunks: 4,
            ..d()
        })
        .contains("[backup] interrupt_after_chunks"));
        assert!(e(BackupSection {
            large_data_bytes: 16 * MIB,
            ..d()
        })
        .contains("[backup] large_data_bytes"));
        for parts in [0, 3] {
            assert!(e(BackupSection {
                large_min_parts: parts,
                ..d()
            })
            .contains("[backup] large_min_parts"));
        }
        assert!(BackupSection {
            chunk_size_bytes: 24 * MIB,
            interrupt_data_bytes: 48 * MIB,
            large_data_bytes: 60 * MIB,
            large_min_parts: 5,
            ..d()
        }
        .validate("f")
        .is_ok());
    }
}
