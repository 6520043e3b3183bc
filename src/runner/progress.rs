//! Whether the terminal shows live lines: on a terminal outside CI (the
//! terminal view, `commands/terminal.rs`, draws them); under CI or when
//! stderr is not a terminal, plain lines.

use std::io::IsTerminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Live,
    Plain,
}

/// Whether the `CI` variable's value says "in CI" (anything but unset, "", "0" or "false").
pub fn in_ci(ci: Option<&str>) -> bool {
    ci.is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Live only on a terminal outside CI.
pub fn mode(stderr_is_terminal: bool, ci: Option<&str>) -> Mode {
    if stderr_is_terminal && !in_ci(ci) {
        Mode::Live
    } else {
        Mode::Plain
    }
}

/// The mode for this process.
pub fn detect() -> Mode {
    mode(
        std::io::stderr().is_terminal(),
        std::env::var("CI").ok().as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_only_on_a_terminal_outside_ci() {
        assert_eq!(mode(true, None), Mode::Live);
        assert_eq!(mode(true, Some("")), Mode::Live);
        assert_eq!(mode(true, Some("false")), Mode::Live);
        assert_eq!(mode(true, Some("0")), Mode::Live);
        assert_eq!(mode(true, Some("1")), Mode::Plain);
        assert_eq!(mode(true, Some("true")), Mode::Plain);
        assert_eq!(mode(false, None), Mode::Plain);
    }
}
