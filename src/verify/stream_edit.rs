//! A corruption that the send stream itself does not notice.
//!
//! Every command of a `btrfs send` stream carries a CRC32C, and `btrfs
//! receive` rejects a command whose CRC does not match ("crc32 mismatch").
//! So flipping a byte of a stored chunk is caught by receive even when the
//! tool never checks the chunk's SHA-256. [`flip_write_byte`] flips one byte
//! of a WRITE command's data and rewrites that command's CRC, so the stream
//! stays valid for receive and only a tool that checks its own digests
//! notices.
//!
//! The CRC (btrfs-progs `send-stream.c`, kernel `fs/btrfs/send.c`): CRC32C
//! (Castagnoli, reflected polynomial 0x82F63B78) with seed 0 and no final
//! inversion, over the 10-byte command header with its crc field zeroed,
//! then the payload. Checked against real streams in the tests (the standard
//! CRC32C, seed and result inverted, matches none of their commands).

use super::stream::{ATTR_DATA, CMD_HEADER_LEN, CMD_WRITE, HEADER_LEN, MAGIC};

/// Where the crc field sits in a command header.
const CRC_AT: usize = 6;

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

/// Raw CRC32C: no inversion of the seed or of the result.
pub fn crc32c_raw(seed: u32, data: &[u8]) -> u32 {
    data.iter().fold(seed, |c, b| {
        CRC_TABLE[((c ^ u32::from(*b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// The CRC btrfs stores in a command: over `header` with its crc field
/// zeroed, then `payload`.
pub fn command_crc(header: &[u8; CMD_HEADER_LEN], payload: &[u8]) -> u32 {
    let mut h = *header;
    h[CRC_AT..].fill(0);
    crc32c_raw(crc32c_raw(0, &h), payload)
}

/// The outcome of [`flip_write_byte`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEdit {
    /// Stream offset of the flipped data byte.
    pub offset: u64,
    /// Stream offset of the WRITE command whose CRC was rewritten.
    pub command_offset: u64,
    /// The changed chunks: (index in the input, new bytes), by index.
    pub chunks: Vec<(usize, Vec<u8>)>,
}

/// The chunks of one stream read as one byte sequence.
struct Chunked<'a> {
    chunks: &'a [Vec<u8>],
    /// Stream offset where each chunk starts.
    starts: Vec<u64>,
    len: u64,
}

impl<'a> Chunked<'a> {
    fn new(chunks: &'a [Vec<u8>]) -> Chunked<'a> {
        let mut starts = Vec::with_capacity(chunks.len());
        let mut len = 0u64;
        for c in chunks {
            starts.push(len);
            len += c.len() as u64;
        }
        Chunked {
            chunks,
            starts,
            len,
        }
    }

    /// (chunk index, offset in it) of a stream offset below `len`.
    fn locate(&self, at: u64) -> (usize, usize) {
        // The last chunk starting at or before `at`: it holds `at` (an empty
        // chunk starts where the next one does, so it is never the last).
        let i = self.starts.partition_point(|s| *s <= at) - 1;
        (i, (at - self.starts[i]) as usize)
    }

    fn read(&self, at: u64, n: usize) -> Option<Vec<u8>> {
        if at + n as u64 > self.len {
            return None;
        }
        let mut out = Vec::with_capacity(n);
        let mut pos = at;
        while out.len() < n {
            let (i, off) = self.locate(pos);
            let take = (n - out.len()).min(self.chunks[i].len() - off);
            out.extend_from_slice(&self.chunks[i][off..off + take]);
            pos += take as u64;
        }
        Some(out)
    }
}

/// One command's place in the stream.
#[derive(Debug, Clone, Copy)]
struct Command {
    offset: u64,
    cmd: u16,
    len: u32,
}

/// The stream's version and its whole commands, in order (stops at the
/// first command that does not fit).
fn commands(s: &Chunked) -> Option<(u32, Vec<Command>)> {
    let header = s.read(0, HEADER_LEN)?;
    if &header[..MAGIC.len()] != MAGIC {
        return None;
    }
    let version = u32::from_le_bytes(header[13..17].try_into().ok()?);
    let mut out = Vec::new();
    let mut at = HEADER_LEN as u64;
    while let Some(h) = s.read(at, CMD_HEADER_LEN) {
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let cmd = u16::from_le_bytes([h[4], h[5]]);
        let end = at + (CMD_HEADER_LEN as u64) + u64::from(len);
        if end > s.len {
            break;
        }
        out.push(Command {
            offset: at,
            cmd,
            len,
        });
        at = end;
    }
    Some((version, out))
}

/// The (start, length) of the DATA attribute's value in a WRITE payload.
/// From version 2 on DATA has no length: it runs to the end of the command.
fn data_range(payload: &[u8], version: u32) -> Option<(usize, usize)> {
    let mut at = 0;
    while at + 2 <= payload.len() {
        let ty = u16::from_le_bytes([payload[at], payload[at + 1]]);
        if ty == ATTR_DATA && version >= 2 {
            return Some((at + 2, payload.len() - at - 2));
        }
        let len = usize::from(u16::from_le_bytes([
            *payload.get(at + 2)?,
            *payload.get(at + 3)?,
        ]));
        if at + 4 + len > payload.len() {
            return None;
        }
        if ty == ATTR_DATA {
            return Some((at + 4, len));
        }
        at += 4 + len;
    }
    None
}

/// Flip one byte in the data of a WRITE command (the data byte nearest the
/// middle of the stream) and rewrite that command's CRC, so `btrfs receive` still
/// accepts the stream and writes one wrong byte. `chunks` are one backup's
/// chunks in stream order. None when the stream has no WRITE with data.
pub fn flip_write_byte(chunks: &[Vec<u8>]) -> Option<StreamEdit> {
    let s = Chunked::new(chunks);
    let (version, cmds) = commands(&s)?;
    let middle = s.len / 2;
    let mut writes: Vec<Command> = cmds.into_iter().filter(|c| c.cmd == CMD_WRITE).collect();
    // The WRITE that holds the middle, else the nearest one.
    writes.sort_by_key(|c| {
        let end = c.offset + CMD_HEADER_LEN as u64 + u64::from(c.len);
        c.offset.saturating_sub(middle) + middle.saturating_sub(end - 1)
    });
    for w in writes {
        let header: [u8; CMD_HEADER_LEN] = s.read(w.offset, CMD_HEADER_LEN)?.try_into().ok()?;
        let payload_at = w.offset + CMD_HEADER_LEN as u64;
        let mut payload = s.read(payload_at, w.len as usize)?;
        let Some((start, len)) = data_range(&payload, version).filter(|(_, n)| *n > 0) else {
            continue;
        };
        // The data byte nearest the middle of the stream.
        let first = payload_at + start as u64;
        let flip = start + (middle.clamp(first, first + len as u64 - 1) - first) as usize;
        payload[flip] = !payload[flip];
        let crc = command_crc(&header, &payload).to_le_bytes();
        let offset = payload_at + flip as u64;
        let mut changes = vec![(offset, payload[flip])];
        for (k, b) in crc.iter().enumerate() {
            changes.push((w.offset + (CRC_AT + k) as u64, *b));
        }
        return Some(StreamEdit {
            offset,
            command_offset: w.offset,
            chunks: apply(&s, &changes),
        });
    }
    None
}

/// The chunks that `changes` (stream offset, new byte) alter, with the
/// changes applied.
fn apply(s: &Chunked, changes: &[(u64, u8)]) -> Vec<(usize, Vec<u8>)> {
    let mut out: Vec<(usize, Vec<u8>)> = Vec::new();
    for (at, byte) in changes {
        let (i, off) = s.locate(*at);
        if s.chunks[i][off] == *byte {
            continue;
        }
        let pos = match out.iter().position(|(j, _)| *j == i) {
            Some(p) => p,
            None => {
                out.push((i, s.chunks[i].clone()));
                out.len() - 1
            }
        };
        out[pos].1[off] = *byte;
    }
    out.sort_by_key(|(i, _)| *i);
    out
}

/// Every command's stored CRC checked as `btrfs receive` does: the number of
/// commands, or the first one whose CRC does not match.
pub fn check_crcs(chunks: &[Vec<u8>]) -> Result<usize, String> {
    let s = Chunked::new(chunks);
    let (_, cmds) = commands(&s).ok_or("not a btrfs send stream")?;
    for c in &cmds {
        let header: [u8; CMD_HEADER_LEN] = s
            .read(c.offset, CMD_HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or("short command header")?;
        let payload = s
            .read(c.offset + CMD_HEADER_LEN as u64, c.len as usize)
            .ok_or("short payload")?;
        let stored = u32::from_le_bytes(header[CRC_AT..].try_into().unwrap_or_default());
        let computed = command_crc(&header, &payload);
        if stored != computed {
            return Err(format!(
                "command {} at offset {}: stored crc {stored:#010x}, computed {computed:#010x}",
                c.cmd, c.offset
            ));
        }
    }
    Ok(cmds.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::stream::StreamScanner;

    const REAL: &[(&str, &[u8])] = &[
        ("full-v1", include_bytes!("testdata/full-v1.stream")),
        ("inc-v1", include_bytes!("testdata/inc-v1.stream")),
        ("full-v2", include_bytes!("testdata/full-v2.stream")),
        ("inc-v2", include_bytes!("testdata/inc-v2.stream")),
    ];

    fn split_at(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts = cuts.to_vec();
        cuts.sort();
        let mut out = Vec::new();
        let mut from = 0;
        for c in cuts {
            out.push(data[from..c].to_vec());
            from = c;
        }
        out.push(data[from..].to_vec());
        out
    }

    fn pieces(data: &[u8], n: usize) -> Vec<Vec<u8>> {
        data.chunks(n).map(<[u8]>::to_vec).collect()
    }

    fn edited(chunks: &[Vec<u8>], e: &StreamEdit) -> Vec<Vec<u8>> {
        let mut out = chunks.to_vec();
        for (i, bytes) in &e.chunks {
            out[*i] = bytes.clone();
        }
        out
    }

    fn scan(chunks: &[Vec<u8>]) -> bool {
        let mut s = StreamScanner::new();
        chunks.iter().for_each(|c| s.feed(c));
        s.finish().complete()
    }

    #[test]
    fn crc32c_check_value() {
        // The standard CRC32C of "123456789" is 0xE3069283: seed !0, result inverted.
        assert_eq!(!crc32c_raw(!0, b"123456789"), 0xE306_9283);
    }

    #[test]
    fn convention_matches_every_command_of_real_streams() {
        for (name, data) in REAL {
            let n = check_crcs(&[data.to_vec()]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(n >= 14, "{name}: {n}");
            assert!(scan(&[data.to_vec()]), "{name}");
        }
        // The standard convention (seed and result inverted) matches no command.
        let whole = [REAL[0].1.to_vec()];
        let s = Chunked::new(&whole);
        let (_, cmds) = commands(&s).unwrap();
        for c in cmds {
            let mut h = s.read(c.offset, CMD_HEADER_LEN).unwrap();
            let stored = u32::from_le_bytes(h[6..].try_into().unwrap());
            h[6..].fill(0);
            h.extend(s.read(c.offset + 10, c.len as usize).unwrap());
            assert_ne!(!crc32c_raw(!0, &h), stored);
        }
    }

    #[test]
    fn one_data_byte_flipped_and_crcs_still_valid() {
        for (name, data) in REAL {
            for n in [data.len(), 1, 7, 100, 1000] {
                let chunks = pieces(data, n);
                let e = flip_write_byte(&chunks).unwrap();
                let after = edited(&chunks, &e);
                assert_eq!(check_crcs(&after), check_crcs(&chunks), "{name}/{n}");
                assert!(scan(&after), "{name}/{n}");
                let (before, now) = (chunks.concat(), after.concat());
                assert_eq!(before.len(), now.len());
                let crc_field = e.command_offset + 6..e.command_offset + 10;
                let differing: Vec<u64> = (0..now.len() as u64)
                    .filter(|i| before[*i as usize] != now[*i as usize])
                    .filter(|i| !crc_field.contains(i))
                    .collect();
                assert_eq!(differing, vec![e.offset], "{name}/{n}");
                // Only the chunks that hold a changed byte are returned.
                for (i, bytes) in &e.chunks {
                    assert_ne!(bytes, &chunks[*i], "{name}/{n}");
                }
            }
        }
    }

    #[test]
    fn picks_the_write_nearest_the_middle() {
        // full-v1: WRITEs of 700, 12 and 1092 bytes; 3100 bytes in all.
        let data = REAL[0].1;
        let e = flip_write_byte(&[data.to_vec()]).unwrap();
        let len = u32::from_le_bytes(data[e.command_offset as usize..][..4].try_into().unwrap());
        assert_eq!(len, 1119, "the 1092-byte write holds the middle (1550)");
        // Its data starts 37 bytes into the command (header, path, offset).
        assert_eq!(e.offset, 1517 + 37, "{e:?}");
        // inc-v1 (826 bytes): the middle falls between its two WRITEs.
        let inc = REAL[1].1;
        let e = flip_write_byte(&[inc.to_vec()]).unwrap();
        assert!(e.offset.abs_diff(inc.len() as u64 / 2) < 300, "{e:?}");
    }

    #[test]
    fn chunk_boundaries_inside_the_command() {
        for (name, data) in REAL {
            let whole = flip_write_byte(&[data.to_vec()]).unwrap();
            let c = whole.command_offset as usize;
            let f = whole.offset as usize;
            // Cuts inside the crc field and right at the flipped byte, with
            // an empty chunk among them.
            let chunks = split_at(data, &[c + 3, c + 8, f, f, f + 1]);
            let e = flip_write_byte(&chunks).unwrap();
            assert_eq!(
                (e.offset, e.command_offset),
                (whole.offset, whole.command_offset)
            );
            let after = edited(&chunks, &e);
            assert_eq!(after.concat(), whole.chunks[0].1, "{name}");
            let changed: Vec<usize> = e.chunks.iter().map(|(i, _)| *i).collect();
            assert!(
                changed.contains(&4),
                "{name}: the flipped byte's chunk: {changed:?}"
            );
            assert!(changed.len() >= 2, "{name}: {changed:?}");
            assert!(!changed.contains(&3), "{name}: the empty chunk");
        }
    }

    #[test]
    fn no_write_with_data_is_none() {
        use crate::verify::stream::build::stream;
        assert_eq!(flip_write_byte(&[stream(None, 0, 0)]), None);
        assert_eq!(flip_write_byte(&[stream(None, 3, 0)]), None);
        assert_eq!(flip_write_byte(&[b"not a stream at all".to_vec()]), None);
        assert_eq!(flip_write_byte(&[]), None);
        // A truncated stream: the WRITEs that are whole still count.
        let data = REAL[0].1;
        assert!(flip_write_byte(&[data[..data.len() - 500].to_vec()]).is_some());
        assert_eq!(flip_write_byte(&[data[..200].to_vec()]), None);
    }

    #[test]
    fn built_streams_across_many_chunks() {
        use crate::verify::stream::build::stream;
        let data = stream(None, 40, 3000);
        let chunks = pieces(&data, 4096);
        assert_eq!(check_crcs(&chunks), Ok(42));
        let e = flip_write_byte(&chunks).unwrap();
        assert!(e.chunks.len() <= 2);
        let after = edited(&chunks, &e);
        assert_eq!(check_crcs(&after), Ok(42));
        // The flip alone, without the CRC: what receive rejects.
        let mut broken = after.concat();
        broken[e.offset as usize] ^= 0x01;
        let err = check_crcs(&[broken]).unwrap_err();
        assert!(err.starts_with("command 15 at offset "), "{err}");
        assert!(err.contains("stored crc"), "{err}");
    }
}
