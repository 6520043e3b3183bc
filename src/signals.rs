//! Ctrl-C and SIGTERM: the first asks for a graceful teardown (waits notice
//! and return `Interrupted`), the second kills at once (QEMU children die
//! with us through PR_SET_PDEATHSIG).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

struct Flags {
    /// Set by either signal: the second one exits at once.
    any: Arc<AtomicBool>,
    /// The number of the signal that arrived (0: none yet).
    which: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Install the handlers once per process (a second registration would turn
/// the first signal into an immediate exit).
pub fn install() {
    FLAGS.get_or_init(|| {
        let flags = Flags {
            any: Arc::new(AtomicBool::new(false)),
            which: Arc::new(AtomicUsize::new(0)),
        };
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // A second signal while the first is being handled exits at once.
            let _ =
                signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&flags.any));
            let _ = signal_hook::flag::register(sig, Arc::clone(&flags.any));
            let _ = signal_hook::flag::register_usize(
                sig,
                Arc::clone(&flags.which),
                usize::try_from(sig).unwrap_or(0),
            );
        }
        flags
    });
}

/// True once Ctrl-C or SIGTERM arrived.
pub fn interrupted() -> bool {
    FLAGS.get().is_some_and(|f| f.any.load(Ordering::SeqCst))
}

/// `SIGINT` or `SIGTERM`: the signal that interrupted the run.
pub fn name() -> &'static str {
    let which = FLAGS.get().map_or(0, |f| f.which.load(Ordering::SeqCst));
    signal_name(which)
}

fn signal_name(number: usize) -> &'static str {
    match i32::try_from(number) {
        Ok(signal_hook::consts::SIGINT) => "SIGINT",
        Ok(signal_hook::consts::SIGTERM) => "SIGTERM",
        _ => "Ctrl-C or SIGTERM",
    }
}

/// The error a wait returns when a signal cut it short: the harness's, never
/// the tool's (a command it ran was not judged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by {signal}")]
pub struct Interrupted {
    pub signal: &'static str,
}

impl Interrupted {
    /// The interruption that has happened.
    pub fn now() -> Interrupted {
        Interrupted { signal: name() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_the_signal() {
        assert_eq!(signal_name(2), "SIGINT");
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(
            Interrupted { signal: "SIGTERM" }.to_string(),
            "interrupted by SIGTERM"
        );
    }
}
