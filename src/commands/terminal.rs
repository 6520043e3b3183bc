//! The terminal view of the library's events: progress lines on stderr,
//! finished tables on stdout; on a terminal outside CI, a live line per
//! running scenario (one each when groups run in parallel), in CI or a log
//! plain lines (one when a scenario starts, one when it ends).

use crate::events::{Event, Sink};
use crate::runner::progress::{self, Mode};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

pub struct Terminal {
    mode: Mode,
    bars: MultiProgress,
    live: Mutex<HashMap<(String, String), ProgressBar>>,
}

impl Terminal {
    /// The view this process's stderr and `CI` call for.
    pub fn detect() -> Terminal {
        Terminal {
            mode: progress::detect(),
            bars: MultiProgress::new(),
            live: Mutex::new(HashMap::new()),
        }
    }

    /// A line on stderr that the live lines do not overwrite.
    fn line(&self, text: &str) {
        if self.mode == Mode::Live {
            let _ = self.bars.println(text);
        } else {
            eprintln!("{text}");
        }
    }
}

impl Sink for Terminal {
    fn event(&self, e: &Event) {
        match e {
            Event::ScenarioStarted { run_id, name } if self.mode == Mode::Live => {
                let bar = self.bars.add(ProgressBar::new_spinner());
                if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                    bar.set_style(style);
                }
                bar.set_message(format!("[run {run_id}] scenario {name}"));
                bar.enable_steady_tick(Duration::from_millis(250));
                if let Ok(mut live) = self.live.lock() {
                    live.insert((run_id.clone(), name.clone()), bar);
                }
            }
            Event::ScenarioEnded { run_id, name, line } => {
                let bar = self
                    .live
                    .lock()
                    .ok()
                    .and_then(|mut l| l.remove(&(run_id.clone(), name.clone())));
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                    self.bars.remove(&bar);
                }
                self.line(line);
            }
            Event::Report { text } => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
            other => self.line(&other.line()),
        }
    }
}
