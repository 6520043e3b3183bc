//! Did the tool crash? CONTRACT.md: "a process that ends on an uncaught
//! exception (stderr ending in a traceback, a Rust panic, a signal the
//! harness did not send) has crashed, which is a defect even when its exit
//! code is non-zero". A failure the tool handled and logged is not a crash.

use super::cause::{last_panic, last_traceback};
use super::one_line;
use regex::Regex;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashKind {
    PythonTraceback,
    RustPanic,
    Signal,
    /// One of the profile's `[tool] crash_patterns`.
    Pattern,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Crash {
    pub kind: CrashKind,
    /// The exception line, the panic message, `killed by SIGSEGV`, or the
    /// pattern and the line it matched.
    pub summary: String,
}

/// How many of the last lines the crash patterns look at.
pub const PATTERN_TAIL_LINES: usize = 20;

/// `SIGTERM`, `term`, `TERM` -> `TERM`.
fn signal_name(s: &str) -> String {
    let up = s.trim().to_ascii_uppercase();
    up.strip_prefix("SIG").unwrap_or(&up).to_string()
}

/// The crash a tool's stderr and exit signal show, if any.
///
/// - stderr ends in an uncaught Python traceback: the last traceback has no
///   log record (and no panic) after it. Not a crash: a traceback followed
///   by records (handled, e.g. `traceback.print_exc()` then
///   `event=backup_failed`), one Python printed as "Exception ignored in:",
///   the traceback of an ERROR record with `error=` logged right above it
///   (`log.exception(...)`), `SystemExit`, and `KeyboardInterrupt` when the
///   harness sent INT.
/// - stderr ends in a Rust panic (its message, `note:` lines, a backtrace).
/// - `signal` (the exit signal, `SEGV` or `SIGSEGV`) is not one of
///   `harness_sent`.
/// - one of `extra_patterns` matches the last [`PATTERN_TAIL_LINES`] lines
///   (also when the harness sent the signal: the end of stderr is then the
///   harness's doing, so tracebacks and panics are not judged).
pub fn crash(
    stderr: &str,
    signal: Option<&str>,
    harness_sent: &[&str],
    extra_patterns: &[Regex],
) -> Option<Crash> {
    let lines: Vec<&str> = stderr.lines().collect();
    let sent = |name: &str| harness_sent.iter().any(|h| signal_name(h) == name);
    let by_harness = signal.is_some_and(|s| sent(&signal_name(s)));
    if !by_harness {
        if let Some(c) = python(&lines, sent("INT")) {
            return Some(c);
        }
        if let Some(p) = last_panic(&lines).filter(|p| p.ends_stderr(&lines)) {
            return Some(Crash {
                kind: CrashKind::RustPanic,
                summary: p.render(),
            });
        }
        if let Some(s) = signal {
            return Some(Crash {
                kind: CrashKind::Signal,
                summary: format!("killed by SIG{}", signal_name(s)),
            });
        }
    }
    pattern(&lines, extra_patterns)
}

fn python(lines: &[&str], int_sent: bool) -> Option<Crash> {
    let t = last_traceback(lines)?;
    if !t.ends_stderr(lines) || t.ignored(lines) || t.logged(lines) {
        return None;
    }
    let short = t
        .exception_type()
        .map(|n| n.rsplit('.').next().unwrap_or(n));
    match short {
        Some("SystemExit") => return None,
        Some("KeyboardInterrupt") if int_sent => return None,
        _ => {}
    }
    Some(Crash {
        kind: CrashKind::PythonTraceback,
        summary: t.render(),
    })
}

fn pattern(lines: &[&str], patterns: &[Regex]) -> Option<Crash> {
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1);
    let start = end.saturating_sub(PATTERN_TAIL_LINES);
    let tail = lines[start..end].join("\n");
    patterns.iter().find_map(|re| {
        let m = re.find(&tail)?;
        let line_start = tail[..m.start()].rfind('\n').map_or(0, |i| i + 1);
        let line_end = tail[m.start()..]
            .find('\n')
            .map_or(tail.len(), |i| m.start() + i);
        Some(Crash {
            kind: CrashKind::Pattern,
            summary: one_line(&format!(
                "crash pattern {:?} matched: {}",
                re.as_str(),
                &tail[line_start..line_end]
            )),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn none(stderr: &str) -> Option<Crash> {
        crash(stderr, None, &[], &[])
    }

    fn kind(stderr: &str) -> Option<CrashKind> {
        none(stderr).map(|c| c.kind)
    }

    #[test]
    fn uncaught_tracebacks_are_crashes() {
        for text in [
            CHAINED_CRASH,
            DURING_HANDLING,
            BOTO_SLOWDOWN,
            NO_MESSAGE,
            GROUP,
            SYNTAX,
        ] {
            assert_eq!(kind(text), Some(CrashKind::PythonTraceback), "{text}");
        }
        assert_eq!(
            none(BOTO_SLOWDOWN).unwrap().summary,
            super::super::cause(BOTO_SLOWDOWN).unwrap()
        );
        assert_eq!(
            none(DURING_HANDLING).unwrap().summary,
            "AttributeError: 'NoneType' object has no attribute 'x' (at /tmp/wtout-panic/t.py:10 in <module>)"
        );
        // Trailing blank lines and non-record text (a note, a message line) still end it.
        let noted = format!("{NO_MESSAGE}Add a note: retried 3 times\n\n\n");
        assert_eq!(kind(&noted), Some(CrashKind::PythonTraceback));
    }

    #[test]
    fn handled_tracebacks_are_not() {
        for text in [
            HANDLED_MID_LOG,
            HANDLED_THEN_FAILED,
            IGNORED,
            LOGGED_EXCEPTION,
            SYSTEM_EXIT,
            CLEAN,
            INTEGRITY_FAILED,
            PLAIN,
            "",
        ] {
            assert_eq!(none(text), None, "{text}");
        }
        let exit = "Traceback (most recent call last):\n  File \"/t.py\", line 1, in <module>\nSystemExit: 3\n";
        assert_eq!(none(exit), None);
        let interrupted = "Traceback (most recent call last):\n  File \"/t.py\", line 9, in f\n    time.sleep(1)\nKeyboardInterrupt\n";
        assert_eq!(kind(interrupted), Some(CrashKind::PythonTraceback));
        assert_eq!(crash(interrupted, None, &["INT"], &[]), None);
    }

    #[test]
    fn panics() {
        for text in [PANIC_NEW, PANIC_173, PANIC_OLD] {
            assert_eq!(kind(text), Some(CrashKind::RustPanic), "{text}");
        }
        assert_eq!(
            none(PANIC_OLD).unwrap().summary,
            "called `Option::unwrap()` on a `None` value (thread 'main' panicked at src/main.rs:2:5)"
        );
        assert_eq!(none(PANIC_HANDLED), None);
        // panic = "abort": the panic says more than the SIGABRT it ends in.
        assert_eq!(
            crash(PANIC_173, Some("ABRT"), &["TERM"], &[]).unwrap().kind,
            CrashKind::RustPanic
        );
    }

    #[test]
    fn signals() {
        for sig in ["SEGV", "ABRT", "BUS", "ILL", "FPE", "KILL", "TERM"] {
            let c = crash(CLEAN, Some(sig), &[], &[]).unwrap();
            assert_eq!(c.kind, CrashKind::Signal);
            assert_eq!(c.summary, format!("killed by SIG{sig}"));
        }
        assert_eq!(
            crash(CLEAN, Some("SIGSEGV"), &["TERM"], &[])
                .unwrap()
                .summary,
            "killed by SIGSEGV"
        );
        // Sent by the harness: the interrupt scenario's KILL, a timeout's TERM.
        assert_eq!(crash(CLEAN, Some("TERM"), &["TERM"], &[]), None);
        assert_eq!(crash(CLEAN, Some("KILL"), &["sigkill"], &[]), None);
        assert_eq!(crash(CHAINED_CRASH, Some("KILL"), &["KILL"], &[]), None);
        // A KILL the harness did not send (the OOM killer).
        assert_eq!(
            crash(CLEAN, Some("KILL"), &["TERM"], &[]).unwrap().kind,
            CrashKind::Signal
        );
    }

    #[test]
    fn profile_patterns_look_at_the_tail() {
        let pats = vec![
            Regex::new(r"AddressSanitizer|Segmentation fault").unwrap(),
            Regex::new(r"(?m)^fatal error: .*").unwrap(),
        ];
        let text = format!("{CLEAN}fatal error: runtime: out of memory\n\n");
        let c = crash(&text, None, &[], &pats).unwrap();
        assert_eq!(c.kind, CrashKind::Pattern);
        assert_eq!(
            c.summary,
            "crash pattern \"(?m)^fatal error: .*\" matched: fatal error: runtime: out of memory"
        );
        // Matched also when the harness sent the signal.
        assert!(crash(&text, Some("TERM"), &["TERM"], &pats).is_some());
        // Only the last lines count.
        let early = format!(
            "fatal error: long ago\n{}",
            "2024-01-01 00:00:00,000 INFO t event=x\n".repeat(25)
        );
        assert_eq!(crash(&early, None, &[], &pats), None);
        assert_eq!(crash(PLAIN, None, &[], &pats), None);
    }

    #[test]
    fn serializes_in_snake_case() {
        let c = none(PANIC_OLD).unwrap();
        let v = serde_json::to_value(c).unwrap();
        assert_eq!(v["kind"], "rust_panic");
    }
}
