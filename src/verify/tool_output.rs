//! What the tool said on stderr, judged the same way for any tool that keeps
//! the contract (CONTRACT.md "Logs"): its own reason for failing
//! ([`cause`]), whether it crashed ([`crash`]: stderr ending in an uncaught
//! Python traceback or a Rust panic, a signal the harness did not send, a
//! profile pattern), and whether it said that data failed an integrity check
//! ([`integrity_error`]). Pure functions of the text: no VM, no I/O.

mod cause;
mod crash;
#[cfg(test)]
mod fixtures;
mod vocabulary;

pub use cause::cause;
pub use crash::{crash, Crash, CrashKind};
pub use vocabulary::{integrity_error, DEFAULT_INTEGRITY_WORDS};

/// How long a cause or a summary may be, in characters.
pub const MAX_CAUSE_CHARS: usize = 300;

/// One line (newlines become "; "), at most [`MAX_CAUSE_CHARS`] characters.
fn one_line(text: &str) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if joined.chars().count() <= MAX_CAUSE_CHARS {
        return joined;
    }
    let mut cut: String = joined.chars().take(MAX_CAUSE_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_joins_and_caps() {
        assert_eq!(one_line("a\n  b  \n\nc"), "a; b; c");
        let long = "é".repeat(400);
        let capped = one_line(&long);
        assert_eq!(capped.chars().count(), MAX_CAUSE_CHARS);
        assert!(capped.ends_with('…'));
    }
}
