//! What the terminal shows while a scenario runs: on a terminal, a live
//! line with the scenario and its elapsed time; under CI or when stderr is
//! not a terminal, plain lines (one when it starts, one when it ends).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

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

/// One scenario's line.
pub struct Step {
    bar: Option<ProgressBar>,
}

impl Step {
    pub fn start(mode: Mode, label: &str) -> Step {
        match mode {
            Mode::Plain => {
                eprintln!("{label} ...");
                Step { bar: None }
            }
            Mode::Live => {
                let bar = ProgressBar::new_spinner();
                if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                    bar.set_style(style);
                }
                bar.set_message(label.to_string());
                bar.enable_steady_tick(Duration::from_millis(250));
                Step { bar: Some(bar) }
            }
        }
    }

    /// Replace the live line (if any) with the scenario's result line.
    pub fn finish(self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{line}");
    }
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
