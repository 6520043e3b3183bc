//! The tool's own reason for failing, in one line: the crash it ended on,
//! else its last failure event, else its last traceback or panic, else its
//! last word. Also the readers of Python tracebacks and Rust panics that
//! [`super::crash`] shares.

use super::{one_line, MAX_CAUSE_CHARS};
use crate::verify::logs::{parse_line, parse_log, LogRecord, ParsedLog};

const TRACEBACK: &str = "Traceback (most recent call last):";
const GROUP_TRACEBACK: &str = "+ Exception Group Traceback (most recent call last):";
const CHAINS: &[&str] = &[
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
];
/// Continuation lines of an exception message kept at most.
const MAX_MESSAGE_LINES: usize = 20;

const LEVELS: &[&str] = &["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];

/// The level of a line in the record format (`<date> <time,ms> <LEVEL>
/// <logger> ...`), with or without `event=` (a library's own record, a
/// value with a space): the program was still logging.
pub(super) fn log_level(line: &str) -> Option<&str> {
    let mut parts = line.splitn(4, ' ');
    let (date, time, level) = (parts.next()?, parts.next()?, parts.next()?);
    let date_like = date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-';
    (date_like && time.contains(',') && LEVELS.contains(&level)).then_some(level)
}

/// What follows `<date> <time,ms> <LEVEL> <logger> `.
pub(super) fn record_message(line: &str) -> &str {
    line.splitn(5, ' ').nth(4).unwrap_or_default()
}

fn is_record(line: &str) -> bool {
    log_level(line).is_some()
}

fn is_error_level(level: &str) -> bool {
    matches!(level, "ERROR" | "CRITICAL")
}

/// A Python traceback header at the top level (a group's own header is
/// indented by two spaces; its sub-tracebacks deeper).
pub(super) fn is_traceback_header(line: &str) -> bool {
    let t = line.trim_end();
    let body = t.trim_start();
    t == TRACEBACK || (body == GROUP_TRACEBACK && t.len() - body.len() <= 2)
}

/// `File "x.py", line 3, in f` (the `in f` is missing for a SyntaxError).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Frame {
    pub file: String,
    pub line: String,
    pub func: Option<String>,
}

fn frame(line: &str) -> Option<Frame> {
    let rest = line.trim_start().strip_prefix("File \"")?;
    let (file, rest) = rest.split_once("\", line ")?;
    let (n, func) = match rest.split_once(", in ") {
        Some((n, f)) => (n, Some(f.trim().to_string())),
        None => (rest.trim(), None),
    };
    n.chars().all(|c| c.is_ascii_digit()).then(|| Frame {
        file: file.to_string(),
        line: n.to_string(),
        func,
    })
}

/// The last Python traceback of stderr (the last of a chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Traceback {
    /// 0-based line indices: the header, the first header of its chain
    /// ("During handling ...", "The above exception was the direct cause
    /// ..."), and the last line of the exception message.
    pub header: usize,
    pub chain_start: usize,
    pub end: usize,
    /// The exception line and its continuation lines.
    pub exception: Option<String>,
    /// The innermost frame.
    pub frame: Option<Frame>,
    /// An exception group's first sub-exception.
    pub first_sub: Option<String>,
}

pub(super) fn last_traceback(lines: &[&str]) -> Option<Traceback> {
    let header = lines.iter().rposition(|l| is_traceback_header(l))?;
    let group = lines[header].trim_start().starts_with('+');
    let mut t = Traceback {
        header,
        chain_start: chain_start(lines, header),
        end: header,
        exception: None,
        frame: None,
        first_sub: None,
    };
    let mut message: Vec<&str> = Vec::new();
    let mut i = header + 1;
    while i < lines.len() && message.len() < MAX_MESSAGE_LINES {
        let line = if group {
            match lines[i].strip_prefix("  |") {
                Some(c) => c.strip_prefix(' ').unwrap_or(c),
                None => break,
            }
        } else {
            lines[i]
        };
        let skip = line.trim().is_empty() || is_record(line);
        if skip && !message.is_empty() {
            break;
        }
        if !skip {
            if !message.is_empty() || !line.starts_with(char::is_whitespace) {
                message.push(line);
                t.end = i;
            } else if let Some(f) = frame(line) {
                t.frame = Some(f);
            }
        }
        i += 1;
    }
    if group {
        t.first_sub = first_sub(&lines[i..]);
    }
    t.exception = (!message.is_empty()).then(|| message.join("\n"));
    Some(t)
}

/// The first header of the chain that ends at `header`.
fn chain_start(lines: &[&str], header: usize) -> usize {
    let mut start = header;
    loop {
        let Some(p) = (0..start).rev().find(|j| !lines[*j].trim().is_empty()) else {
            return start;
        };
        if !CHAINS.contains(&lines[p].trim()) {
            return start;
        }
        match (0..p).rev().find(|j| is_traceback_header(lines[*j])) {
            Some(prev) => start = prev,
            None => return start,
        }
    }
}

/// The first sub-exception of a group (`    | ValueError: part 1`).
fn first_sub(lines: &[&str]) -> Option<String> {
    for l in lines {
        if !l.starts_with(char::is_whitespace) {
            return None;
        }
        let Some(c) = l.trim_start().strip_prefix('|') else {
            continue;
        };
        let c = c.strip_prefix(' ').unwrap_or(c);
        let header = c.trim_end() == TRACEBACK || c.contains("Exception Group Traceback");
        if !c.trim().is_empty() && !c.starts_with(char::is_whitespace) && !header {
            return Some(c.trim_end().to_string());
        }
    }
    None
}

impl Traceback {
    /// `botocore.exceptions.ClientError` of `botocore.exceptions.ClientError: ...`.
    pub fn exception_type(&self) -> Option<&str> {
        let first = self.exception.as_deref()?.lines().next()?;
        let name = first.split_once(':').map_or(first, |(n, _)| n).trim();
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
        ok.then_some(name)
    }

    /// Nothing but other text follows it: no log record, no panic.
    pub fn ends_stderr(&self, lines: &[&str]) -> bool {
        lines[self.end + 1..]
            .iter()
            .all(|l| !is_record(l) && panic_header(l).is_none())
    }

    /// Printed by Python for an exception it ignored (`__del__`, atexit).
    pub fn ignored(&self, lines: &[&str]) -> bool {
        (0..self.chain_start)
            .rev()
            .find(|j| !lines[*j].trim().is_empty())
            .is_some_and(|j| lines[j].starts_with("Exception ignored"))
    }

    /// The traceback of a record logged with it (`log.exception(...)`,
    /// `exc_info=True`): right below an ERROR record with an `error=`.
    pub fn logged(&self, lines: &[&str]) -> bool {
        let Some(prev) = self.chain_start.checked_sub(1) else {
            return false;
        };
        parse_line(lines[prev], prev + 1)
            .is_some_and(|r| is_error_level(&r.level) && r.get("error").is_some())
    }

    /// `Type: message (at file:line in func)`, plus a group's first member.
    pub fn render(&self) -> String {
        let mut suffix = String::new();
        if let Some(f) = &self.frame {
            suffix = format!(" (at {}:{}", f.file, f.line);
            if let Some(func) = &f.func {
                suffix.push_str(&format!(" in {func}"));
            }
            suffix.push(')');
        }
        if let Some(sub) = &self.first_sub {
            suffix.push_str(&format!("; first: {sub}"));
        }
        let head = self
            .exception
            .as_deref()
            .unwrap_or("a Python traceback cut off before its exception line");
        with_suffix(head, &suffix)
    }
}

/// `head` (one line, shortened so that `suffix` fits) then `suffix`.
fn with_suffix(head: &str, suffix: &str) -> String {
    let room = MAX_CAUSE_CHARS
        .saturating_sub(suffix.chars().count())
        .max(80);
    let mut head = one_line(head);
    if head.chars().count() > room {
        head = head.chars().take(room - 1).collect::<String>() + "…";
    }
    one_line(&format!("{head}{suffix}"))
}

/// `thread 'main' panicked at ...` (also `thread 'main' (1234) panicked
/// at`, Rust >= 1.89): the thread's name and the rest of the line.
pub(super) fn panic_header(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("thread '")?;
    let (thread, rest) = rest.split_once("' ")?;
    let rest = match rest.strip_prefix('(') {
        Some(r) => r.split_once(") ")?.1,
        None => rest,
    };
    Some((thread, rest.strip_prefix("panicked at ")?))
}

/// The last Rust panic of stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Panic {
    pub header: usize,
    pub thread: String,
    pub location: String,
    pub message: String,
}

fn is_panic_trailer(line: &str) -> bool {
    line.starts_with("note: ") || line.trim_end() == "stack backtrace:"
}

pub(super) fn last_panic(lines: &[&str]) -> Option<Panic> {
    let header = lines.iter().rposition(|l| panic_header(l).is_some())?;
    let (thread, rest) = panic_header(lines[header])?;
    let after = lines[header + 1..]
        .iter()
        .take_while(|l| !l.trim().is_empty() && !is_panic_trailer(l) && !is_record(l))
        .take(MAX_MESSAGE_LINES);
    let (message, location) = if let Some(old) = rest.strip_prefix('\'') {
        // Rust < 1.73: panicked at 'message', src/x.rs:1:2 (the message
        // may run over several lines).
        let mut text = old.to_string();
        for l in after {
            if text.contains("', ") {
                break;
            }
            text.push('\n');
            text.push_str(l);
        }
        match text.rsplit_once("', ") {
            Some((m, loc)) => (m.to_string(), loc.trim().to_string()),
            None => (text, String::new()),
        }
    } else {
        let location = rest.trim_end();
        let location = location.strip_suffix(':').unwrap_or(location);
        let message: Vec<&str> = after.copied().collect();
        (message.join("\n"), location.to_string())
    };
    Some(Panic {
        header,
        thread: thread.to_string(),
        location,
        message,
    })
}

impl Panic {
    /// Only the panic's own lines follow it: its message, `note: ...`, a
    /// backtrace (indented frames), blank lines.
    pub fn ends_stderr(&self, lines: &[&str]) -> bool {
        let rest = &lines[self.header + 1..];
        if rest.iter().any(|l| is_record(l) || is_traceback_header(l)) {
            return false;
        }
        match rest.iter().position(|l| is_panic_trailer(l)) {
            None => true,
            Some(t) => rest[t..].iter().all(|l| {
                l.trim().is_empty() || l.starts_with(char::is_whitespace) || is_panic_trailer(l)
            }),
        }
    }

    /// `message (thread 'main' panicked at src/x.rs:1:2)`.
    pub fn render(&self) -> String {
        let suffix = format!(
            " (thread '{}' panicked at {})",
            self.thread,
            if self.location.is_empty() {
                "?"
            } else {
                &self.location
            }
        );
        let message = if self.message.trim().is_empty() {
            "a Rust panic without a message"
        } else {
            &self.message
        };
        with_suffix(message, &suffix)
    }
}

/// The record that says why the tool failed: the last with an `error=`,
/// preferring `*_failed` events, then ERROR/CRITICAL ones.
fn failure_record(log: &ParsedLog) -> Option<&LogRecord> {
    log.records
        .iter()
        .filter(|r| r.get("error").is_some())
        .max_by_key(|r| {
            (
                r.event.ends_with("_failed"),
                is_error_level(&r.level),
                r.line,
            )
        })
}

/// The last non-empty line that is not an INFO/DEBUG record (a record from
/// its message on: `event=...`).
fn last_word(lines: &[&str]) -> Option<String> {
    lines.iter().rev().find_map(|l| {
        if l.trim().is_empty() {
            return None;
        }
        match log_level(l) {
            Some("INFO" | "DEBUG") => None,
            Some(_) => Some(one_line(record_message(l))),
            None => Some(one_line(l)),
        }
    })
}

/// The tool's own reason for failing, one line of at most
/// [`MAX_CAUSE_CHARS`] characters; None for an empty stderr (or one of
/// INFO/DEBUG records only). In order:
/// 1. the uncaught Python traceback or Rust panic that stderr ends in;
/// 2. the last record with an `error=` (`*_failed` events first, then
///    ERROR/CRITICAL), as `event=<name> error=<value>`;
/// 3. the last traceback (`Type: message (at file:line in func)`) or panic
///    (`message (thread 'main' panicked at file:line:col)`), whichever is later;
/// 4. the last non-empty line that is not an INFO/DEBUG record (`raise
///    SystemExit("...")` prints its message alone).
pub fn cause(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let traceback = last_traceback(&lines);
    let panic = last_panic(&lines);
    if let Some(t) = &traceback {
        if t.ends_stderr(&lines) && !t.ignored(&lines) {
            return Some(t.render());
        }
    }
    if let Some(p) = &panic {
        if p.ends_stderr(&lines) {
            return Some(p.render());
        }
    }
    if let Some(r) = failure_record(&parse_log(stderr)) {
        let error = r.get("error").unwrap_or_default();
        return Some(with_suffix(&format!("event={} error={error}", r.event), ""));
    }
    match (traceback, panic) {
        (Some(t), Some(p)) if p.header > t.header => Some(p.render()),
        (Some(t), _) => Some(t.render()),
        (None, Some(p)) => Some(p.render()),
        (None, None) => last_word(&lines),
    }
}

#[cfg(test)]
#[path = "cause_tests.rs"]
mod tests;
