//! The digest's byte escaping: printable ASCII (0x20..=0x7e) except the
//! backslash stays as is; every other byte is written `\xNN`.

use thiserror::Error;

/// A malformed `\xNN` sequence.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("bad escape sequence at byte {offset}")]
pub struct EscapeError {
    pub offset: usize,
}

/// Turns an escaped field back into raw bytes.
pub fn unescape(text: &str) -> Result<Vec<u8>, EscapeError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let hex = bytes
                .get(i + 1..i + 4)
                .filter(|s| s[0] == b'x')
                .and_then(|s| std::str::from_utf8(&s[1..]).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(EscapeError { offset: i })?;
            out.push(hex);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Escapes raw bytes the way the guest does (for display and tests).
pub fn escape(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        if (0x20..=0x7e).contains(&b) && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_hostile_bytes() {
        let raw = b"tab\there\nnew \\ \xff\xfe \x7f ok=";
        let text = escape(raw);
        assert_eq!(text, "tab\\x09here\\x0anew \\x5c \\xff\\xfe \\x7f ok=");
        assert_eq!(unescape(&text).unwrap(), raw.to_vec());
    }

    #[test]
    fn rejects_bad_sequences() {
        assert_eq!(unescape("a\\q12"), Err(EscapeError { offset: 1 }));
        assert_eq!(unescape("a\\x1"), Err(EscapeError { offset: 1 }));
        assert_eq!(unescape("a\\xzz"), Err(EscapeError { offset: 1 }));
    }
}
