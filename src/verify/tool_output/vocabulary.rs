//! Did the tool say that data failed an integrity check? Its wording is its
//! own, so this looks for a broad vocabulary, and only in what it said as an
//! error: never in INFO/DEBUG records, where a tool may log `sha256=<hex>`
//! for every chunk.
//!
//! Words match case-insensitively as whole tokens: the text is split at
//! every character that is not a letter or a digit, between a lower-case
//! and an upper-case letter (`ChunkCorrupted`), before the last capital of a
//! run followed by a lower-case letter (`SHAMismatch`), and between letters
//! and digits (`sha256`). A word of several tokens (`does not match`, `md5`)
//! matches that sequence; its last token may carry an inflection (`s`,
//! `es`, `ed`, `ing`, `ion`, `ions`): `corrupt` finds "corrupted" and
//! "Corruption", `sha` finds "sha256" and "SHA-256" but not "shadow" or
//! "/usr/share", `hash` finds "HashMismatch" but not "hashlib".

use super::cause::{is_traceback_header, log_level, panic_header, record_message};
use super::one_line;
use crate::verify::logs::parse_line;

/// The words that say an integrity check failed (the profile's `[tool]
/// integrity_words` are added to them).
pub const DEFAULT_INTEGRITY_WORDS: &[&str] = &[
    "integrity",
    "corrupt",
    "checksum",
    "hash",
    "digest",
    "sha",
    "md5",
    "crc",
    "mismatch",
    "does not match",
    "do not match",
    "did not match",
    "doesn't match",
    "verification failed",
    "failed verification",
    "failed to verify",
    "verify failed",
    "bad data",
    "tamper",
    "bitrot",
    "bit rot",
];

/// Words that also say other things: a line about a signature ("The request
/// signature we calculated does not match", `SignatureDoesNotMatch`: wrong
/// credentials) does not count for them.
const GENERIC: &[&str] = &[
    "mismatch",
    "does not match",
    "do not match",
    "did not match",
    "doesn't match",
];

const SUFFIXES: &[&str] = &["", "s", "es", "ed", "ing", "ion", "ions"];

/// Lower-case tokens (see the module doc).
fn tokens(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if !cur.is_empty() {
            let p = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = (p.is_lowercase() && c.is_uppercase())
                || (p.is_uppercase() && c.is_uppercase() && next_lower)
                || (p.is_alphabetic() != c.is_alphabetic());
            if boundary {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn has_word(text: &[String], word: &[String]) -> bool {
    let Some((last, head)) = word.split_last() else {
        return false;
    };
    text.windows(word.len()).any(|w| {
        w[..head.len()] == *head
            && SUFFIXES
                .iter()
                .any(|s| w[head.len()].strip_suffix(s) == Some(last.as_str()))
    })
}

/// The vocabulary, tokenized, with the generic words marked.
fn vocabulary(extra: &[String]) -> Vec<(Vec<String>, bool)> {
    DEFAULT_INTEGRITY_WORDS
        .iter()
        .map(|w| (tokens(w), GENERIC.contains(w)))
        .chain(extra.iter().map(|w| (tokens(w), false)))
        .filter(|(t, _)| !t.is_empty())
        .collect()
}

/// What a line said as an error, or None when it said nothing as one: an
/// `error=` value (any level); a WARNING/ERROR/CRITICAL record's event
/// name and field names; an ERROR/CRITICAL record's field values (not
/// values with a `/`: paths and keys; a WARNING's values are settings and
/// names, e.g. `names=restore-skips-hash`); a line that is not a record,
/// except a traceback's frames and source lines (indented) and a panic's
/// location.
fn said_as_error(line: &str) -> Option<String> {
    if let Some(r) = parse_line(line, 0) {
        let error = r.get("error").unwrap_or_default().to_string();
        if matches!(r.level.as_str(), "INFO" | "DEBUG") {
            return (!error.is_empty()).then_some(error);
        }
        let values = r.level != "WARNING";
        let mut text = r.event.clone();
        for (k, v) in &r.fields {
            text.push(' ');
            text.push_str(k);
            if k == "error" || (values && !v.contains('/')) {
                text.push(' ');
                text.push_str(v);
            }
        }
        return Some(text);
    }
    match log_level(line) {
        Some("INFO" | "DEBUG") => return None,
        Some(_) => return Some(record_message(line).to_string()),
        None => {}
    }
    if is_traceback_header(line) {
        return None;
    }
    if let Some((_, rest)) = panic_header(line) {
        // Rust < 1.73 has the message in quotes; later ones on the next lines.
        let old = rest.strip_prefix('\'')?;
        return Some(old.rsplit_once("', ").map_or(old, |(m, _)| m).to_string());
    }
    if !line.starts_with(char::is_whitespace) {
        return Some(line.to_string());
    }
    // An exception group's members: `  | ValueError: ...`, `    | ...`.
    let member = line.trim_start().strip_prefix('|')?;
    let member = member.strip_prefix(' ').unwrap_or(member);
    (!member.starts_with(char::is_whitespace)).then(|| member.to_string())
}

/// The first line where the tool said, as an error, that data failed an
/// integrity check: a word of [`DEFAULT_INTEGRITY_WORDS`] or `extra_words`
/// in what it said as an error (see the module doc). One line, capped.
pub fn integrity_error(stderr: &str, extra_words: &[String]) -> Option<String> {
    let words = vocabulary(extra_words);
    stderr.lines().find_map(|line| {
        let said = tokens(&said_as_error(line)?);
        let about_signature = said.iter().any(|t| t == "signature");
        words
            .iter()
            .any(|(w, generic)| !(about_signature && *generic) && has_word(&said, w))
            .then(|| one_line(line))
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn found(text: &str) -> Option<String> {
        integrity_error(text, &[])
    }

    fn error_line(message: &str) -> String {
        format!("2024-01-01 00:00:00,000 ERROR t event=restore_failed error={message}\n")
    }

    #[test]
    fn tokenizer() {
        let t = |s: &str| tokens(s).join(" ");
        assert_eq!(t("ChunkCorrupted"), "chunk corrupted");
        assert_eq!(t("SHA-256 sha256"), "sha 256 sha 256");
        assert_eq!(
            t("XAmzContentSHA256Mismatch"),
            "x amz content sha 256 mismatch"
        );
        assert_eq!(
            t("IOError: chunk_integrity_failed"),
            "io error chunk integrity failed"
        );
        assert_eq!(t("crc32c md5"), "crc 32 c md 5");
        assert_eq!(t("doesn't"), "doesn t");
    }

    #[test]
    fn words_in_errors() {
        for message in [
            "hash mismatch for subvol/data/full/chunk-1.bin",
            "checksum error",
            "ChunkCorrupted",
            "chunk 3 is corrupted",
            "Corruption detected in chunk 2",
            "SHA-256 of chunk-2.bin differs",
            "sha256 differs",
            "An error occurred (BadDigest) when calling the PutObject operation",
            "XAmzContentSHA256Mismatch",
            "ERROR: crc32 mismatch in command",
            "size does not match the manifest",
            "verification failed for chunk 2",
            "integrity check failed for chunk k",
            "bad data in chunk 4",
            "data was tampered with",
            "expected md5 abc, got def",
        ] {
            assert!(found(&error_line(message)).is_some(), "{message}");
        }
    }

    #[test]
    fn other_errors_do_not_count() {
        for message in [
            "shadow copy failed",
            "cannot open /usr/share/btrfs",
            "No module named 'hashlib_ext'",
            "An error occurred (SignatureDoesNotMatch) when calling the PutObject operation: The request \
             signature we calculated does not match the signature you provided",
            "An error occurred (SlowDown) when calling the PutObject operation",
            "disk full",
            "connection reset by peer",
        ] {
            assert_eq!(found(&error_line(message)), None, "{message}");
        }
    }

    #[test]
    fn the_reference_tools_integrity_failure() {
        // chunk_integrity_failed has no error=: its event name says it.
        let got = found(INTEGRITY_FAILED).unwrap();
        assert!(got.contains("event=chunk_integrity_failed"), "{got}");
        assert!(got.chars().count() <= super::super::MAX_CAUSE_CHARS);
        // Expected and actual digests as field names in a WARNING record.
        let w = "2024-01-01 00:00:00,000 WARNING t event=chunk_check key=k expected_sha256=aa actual_sha256=bb\n";
        assert!(found(w).is_some());
    }

    #[test]
    fn info_and_debug_records_never_count() {
        assert_eq!(found(CLEAN), None);
        let info = "2024-01-01 00:00:00,000 INFO t event=chunk_hashed key=k sha256=ab12 md5=cd34 integrity=ok\n\
                    2024-01-01 00:00:00,000 DEBUG t event=checksum_mismatch_check result=none\n";
        assert_eq!(found(info), None);
        // Their error= is what the tool said as an error.
        let retry = "2024-01-01 00:00:00,000 INFO t event=chunk_download_retry attempt=1 error=checksum mismatch\n";
        assert!(found(retry).is_some());
        // A path in a field is not the tool's words; the same path in error= is.
        let path = "2024-01-01 00:00:00,000 WARNING t event=chunk_upload_retry key=backups/subvol/hashes/full/chunk-1.bin\n";
        assert_eq!(found(path), None);
        // Records without event=: by level too.
        let lib =
            "2024-01-01 00:00:00,000 DEBUG urllib3 checksum header x-amz-checksum-crc32 sent\n";
        assert_eq!(found(lib), None);
        let lib = "2024-01-01 00:00:00,000 ERROR tool Checksum does not match for part 3\n";
        assert!(found(lib).is_some());
    }

    #[test]
    fn traceback_lines() {
        // Frames and source lines mention hashing; only the exception line counts.
        let tb = "Traceback (most recent call last):\n  File \"/opt/tool/hashing.py\", line 3, in sha256_of\n    digest = hashlib.sha256(data).hexdigest()\nOSError: [Errno 5] Input/output error\n";
        assert_eq!(found(tb), None);
        let tb = tb.replace(
            "OSError: [Errno 5] Input/output error",
            "tool.errors.ChecksumError: chunk 2",
        );
        assert_eq!(found(&tb).unwrap(), "tool.errors.ChecksumError: chunk 2");
        let group = GROUP.replace("TypeError: part 2", "IntegrityError: part 2");
        assert_eq!(found(&group).unwrap(), "| IntegrityError: part 2");
        // A panic's location is not what it said; its message is.
        let panic = PANIC_NEW.replace("src/upload.rs", "src/hash.rs");
        assert_eq!(
            found(&panic),
            None,
            "backtrace frames (sha2::...) and the location"
        );
        let old = "thread 'main' panicked at 'digest mismatch', src/main.rs:2:5\n";
        assert!(found(old).is_some());
        assert_eq!(
            found("thread 'main' panicked at 'boom', src/hash.rs:2:5\n"),
            None
        );
    }

    #[test]
    fn profile_words_are_added() {
        let text = error_line("chunk 4 failed the Blake3 comparison");
        assert_eq!(found(&text), None);
        assert!(integrity_error(&text, &["blake3".into()]).is_some());
        assert!(integrity_error(&text, &["Blake3 comparison".into()]).is_some());
        assert_eq!(integrity_error(&text, &["".into(), "--".into()]), None);
    }

    #[test]
    fn a_warning_s_values_are_not_an_error() {
        let warn = "2026-12-02 07:56:00,031 WARNING btrfs_to_s3.cli event=defects_enabled names=restore-skips-hash\n";
        assert_eq!(found(warn), None);
        let warn = "2026-12-02 07:56:00,031 WARNING t event=chunk_hash_mismatch key=k retry=1\n";
        assert!(found(warn).is_some(), "a warning's event name counts");
        let err = "2026-12-02 07:56:00,031 ERROR t event=restore_failed reason=checksum\n";
        assert!(found(err).is_some(), "an error's values count");
    }
}
