//! A streaming reader of the `btrfs send` stream framing, fed chunk by chunk:
//! proves the concatenated chunks are one complete stream (header, whole
//! commands, END last) and tells a full stream (first command SUBVOL) from an
//! incremental one (SNAPSHOT, with the parent's UUID).
//!
//! Framing (btrfs-progs send.h): 13-byte magic `btrfs-stream\0`, le32
//! version; then commands: le32 payload length, le16 command, le32 crc32c,
//! payload of TLV attributes (le16 type, le16 length, value).

use serde::Serialize;

pub(crate) const MAGIC: &[u8; 13] = b"btrfs-stream\0";
pub(crate) const HEADER_LEN: usize = 17;
pub(crate) const CMD_HEADER_LEN: usize = 10;
pub const CMD_SUBVOL: u16 = 1;
pub const CMD_SNAPSHOT: u16 = 2;
pub const CMD_WRITE: u16 = 15;
pub const CMD_END: u16 = 21;
const ATTR_UUID: u16 = 1;
const ATTR_PATH: u16 = 15;
pub(crate) const ATTR_DATA: u16 = 19;
const ATTR_CLONE_UUID: u16 = 20;
/// How much of the first command's payload is kept for its attributes.
const FIRST_PAYLOAD_MAX: usize = 64 * 1024;

/// What the stream turned out to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamSummary {
    pub version: u32,
    pub bytes: u64,
    pub commands: u64,
    pub first_command: Option<u16>,
    /// SUBVOL/SNAPSHOT path attribute.
    pub subvol_path: Option<String>,
    /// UUID attribute of the first command (the sent snapshot's UUID).
    pub uuid: Option<String>,
    /// CLONE_UUID of a SNAPSHOT command (the parent snapshot's UUID).
    pub parent_uuid: Option<String>,
    pub ended: bool,
    /// Why the stream is not a complete send stream (None when it is).
    pub error: Option<String>,
}

impl StreamSummary {
    pub fn complete(&self) -> bool {
        self.ended && self.error.is_none()
    }

    pub fn is_incremental(&self) -> bool {
        self.first_command == Some(CMD_SNAPSHOT)
    }
}

#[derive(Debug)]
enum State {
    /// Collecting the stream header (`header`) or a command header.
    Need {
        buf: Vec<u8>,
        header: bool,
    },
    Payload {
        cmd: u16,
        remaining: u64,
        capture: Option<Vec<u8>>,
    },
    AfterEnd,
    Broken,
}

#[derive(Debug)]
pub struct StreamScanner {
    state: State,
    s: StreamSummary,
}

impl Default for StreamScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamScanner {
    pub fn new() -> StreamScanner {
        StreamScanner {
            state: State::Need {
                buf: Vec::with_capacity(HEADER_LEN),
                header: true,
            },
            s: StreamSummary {
                version: 0,
                bytes: 0,
                commands: 0,
                first_command: None,
                subvol_path: None,
                uuid: None,
                parent_uuid: None,
                ended: false,
                error: None,
            },
        }
    }

    fn broken(&mut self, why: String) {
        if self.s.error.is_none() {
            self.s.error = Some(why);
        }
        self.state = State::Broken;
    }

    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let offset = self.s.bytes;
            match &mut self.state {
                State::Broken => return,
                State::AfterEnd => {
                    let n = data.len() as u64;
                    self.s.bytes += n;
                    self.broken(format!(
                        "{n}+ byte(s) after the END command at offset {offset}"
                    ));
                    return;
                }
                State::Need { buf, header } => {
                    let want = if *header { HEADER_LEN } else { CMD_HEADER_LEN };
                    let take = (want - buf.len()).min(data.len());
                    buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    self.s.bytes += take as u64;
                    if buf.len() == want {
                        let full = std::mem::take(buf);
                        if *header {
                            self.on_header(&full);
                        } else {
                            self.on_cmd_header(&full);
                        }
                    }
                }
                State::Payload {
                    cmd,
                    remaining,
                    capture,
                } => {
                    let take = (*remaining).min(data.len() as u64) as usize;
                    if let Some(c) = capture.as_mut() {
                        let room = FIRST_PAYLOAD_MAX.saturating_sub(c.len()).min(take);
                        c.extend_from_slice(&data[..room]);
                    }
                    *remaining -= take as u64;
                    data = &data[take..];
                    self.s.bytes += take as u64;
                    if *remaining == 0 {
                        let cmd = *cmd;
                        let capture = capture.take();
                        self.on_command(cmd, capture);
                    }
                }
            }
        }
    }

    fn on_header(&mut self, h: &[u8]) {
        if &h[..13] != MAGIC {
            self.broken("does not start with the btrfs-stream magic".into());
            return;
        }
        self.s.version = u32::from_le_bytes([h[13], h[14], h[15], h[16]]);
        if !(1..=3).contains(&self.s.version) {
            self.broken(format!("unknown send stream version {}", self.s.version));
            return;
        }
        self.state = next_command();
    }

    fn on_cmd_header(&mut self, h: &[u8]) {
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let cmd = u16::from_le_bytes([h[4], h[5]]);
        if cmd == 0 || cmd > 64 {
            let at = self.s.bytes - CMD_HEADER_LEN as u64;
            self.broken(format!("invalid command {cmd} at offset {at}"));
            return;
        }
        let first = self.s.first_command.is_none();
        if first {
            self.s.first_command = Some(cmd);
        }
        let capture = first.then(Vec::new);
        if len == 0 {
            self.on_command(cmd, capture);
        } else {
            self.state = State::Payload {
                cmd,
                remaining: u64::from(len),
                capture,
            };
        }
    }

    fn on_command(&mut self, cmd: u16, capture: Option<Vec<u8>>) {
        self.s.commands += 1;
        if let Some(payload) = capture {
            if cmd == CMD_SUBVOL || cmd == CMD_SNAPSHOT {
                for (ty, value) in attributes(&payload) {
                    match ty {
                        ATTR_PATH => {
                            self.s.subvol_path = Some(String::from_utf8_lossy(value).into_owned())
                        }
                        ATTR_UUID => self.s.uuid = uuid_text(value),
                        ATTR_CLONE_UUID => self.s.parent_uuid = uuid_text(value),
                        _ => {}
                    }
                }
            }
        }
        if cmd == CMD_END {
            self.s.ended = true;
            self.state = State::AfterEnd;
        } else {
            self.state = next_command();
        }
    }

    /// The summary once every byte was fed.
    pub fn finish(mut self) -> StreamSummary {
        match &self.state {
            State::Need {
                buf: b,
                header: true,
            } => {
                let why = if b.is_empty() {
                    "empty stream".to_string()
                } else {
                    format!("stream of {} byte(s) ends inside its header", b.len())
                };
                self.broken(why);
            }
            State::Need {
                buf: b,
                header: false,
            } if !b.is_empty() => {
                self.broken(format!(
                    "ends inside a command header at offset {}",
                    self.s.bytes
                ));
            }
            State::Payload { cmd, remaining, .. } => {
                let why = format!(
                    "ends inside command {cmd}: {remaining} byte(s) of its payload missing"
                );
                self.broken(why);
            }
            State::Need { .. } => {
                self.broken(format!(
                    "no END command: the stream stops after {} command(s)",
                    self.s.commands
                ));
            }
            State::AfterEnd | State::Broken => {}
        }
        self.s
    }
}

fn next_command() -> State {
    State::Need {
        buf: Vec::with_capacity(CMD_HEADER_LEN),
        header: false,
    }
}

fn attributes(payload: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut rest = payload;
    while rest.len() >= 4 {
        let ty = u16::from_le_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
        if rest.len() < 4 + len {
            break;
        }
        out.push((ty, &rest[4..4 + len]));
        rest = &rest[4 + len..];
    }
    out
}

fn uuid_text(v: &[u8]) -> Option<String> {
    if v.len() != 16 || v.iter().all(|b| *b == 0) {
        return None;
    }
    let h = hex::encode(v);
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// Builds send streams for tests (of this module and of the verifiers).
#[cfg(test)]
pub(crate) mod build {
    use super::*;

    pub fn attr(ty: u16, value: &[u8]) -> Vec<u8> {
        let mut v = ty.to_le_bytes().to_vec();
        v.extend((value.len() as u16).to_le_bytes());
        v.extend(value);
        v
    }

    /// A command with the CRC32C that `btrfs receive` checks.
    pub fn cmd(cmd: u16, payload: &[u8]) -> Vec<u8> {
        let mut h = [0u8; CMD_HEADER_LEN];
        h[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        h[4..6].copy_from_slice(&cmd.to_le_bytes());
        let crc = crate::verify::stream_edit::command_crc(&h, payload);
        h[6..].copy_from_slice(&crc.to_le_bytes());
        let mut v = h.to_vec();
        v.extend(payload);
        v
    }

    /// A stream: SUBVOL (or SNAPSHOT with the parent's UUID), `writes`
    /// WRITE commands of `write_len` bytes, END.
    pub fn stream(parent: Option<[u8; 16]>, writes: usize, write_len: usize) -> Vec<u8> {
        let mut s = MAGIC.to_vec();
        s.extend(1u32.to_le_bytes());
        let mut first = attr(ATTR_PATH, b"data__20240101T000000Z__full");
        first.extend(attr(ATTR_UUID, &[0x11; 16]));
        let c = match parent {
            None => CMD_SUBVOL,
            Some(p) => {
                first.extend(attr(ATTR_CLONE_UUID, &p));
                CMD_SNAPSHOT
            }
        };
        s.extend(cmd(c, &first));
        for i in 0..writes {
            let mut p = attr(ATTR_PATH, b"f");
            p.extend(attr(19, &vec![i as u8; write_len]));
            s.extend(cmd(15, &p));
        }
        s.extend(cmd(CMD_END, &[]));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    fn scan(data: &[u8], piece: usize) -> StreamSummary {
        let mut s = StreamScanner::new();
        for p in data.chunks(piece.max(1)) {
            s.feed(p);
        }
        s.finish()
    }

    #[test]
    fn full_stream_in_any_pieces() {
        let data = stream(None, 5, 1000);
        for piece in [1, 3, 10, 17, 4096, data.len()] {
            let s = scan(&data, piece);
            assert!(s.complete(), "{piece}: {s:?}");
            assert_eq!(s.commands, 7);
            assert_eq!(s.first_command, Some(CMD_SUBVOL));
            assert!(!s.is_incremental());
            assert_eq!(
                s.uuid.as_deref(),
                Some("11111111-1111-1111-1111-111111111111")
            );
            assert_eq!(
                s.subvol_path.as_deref(),
                Some("data__20240101T000000Z__full")
            );
            assert_eq!(s.bytes, data.len() as u64);
        }
    }

    #[test]
    fn incremental_stream_names_parent() {
        let s = scan(&stream(Some([0xab; 16]), 1, 10), 5);
        assert!(s.complete() && s.is_incremental());
        assert_eq!(
            s.parent_uuid.as_deref(),
            Some("abababab-abab-abab-abab-abababababab")
        );
    }

    #[test]
    fn truncated_and_padded_streams_are_incomplete() {
        let data = stream(None, 3, 100);
        let last_cmd_start = data.len() - CMD_HEADER_LEN;
        let s = scan(&data[..last_cmd_start], 7);
        assert!(!s.complete());
        assert!(s.error.as_deref().unwrap().contains("no END"), "{s:?}");
        let s = scan(&data[..last_cmd_start - 50], 7);
        assert!(
            s.error.as_deref().unwrap().contains("payload missing"),
            "{s:?}"
        );
        let mut padded = data.clone();
        padded.extend([0u8; 3]);
        assert!(scan(&padded, 7).error.unwrap().contains("after the END"));
        assert!(scan(b"not a stream at all", 4)
            .error
            .unwrap()
            .contains("magic"));
        assert!(scan(b"", 4).error.unwrap().contains("empty"));
    }
}
