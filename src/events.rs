//! What the library tells its user while it works: typed events on one
//! stream, never prints. The face (the command line) installs a sink that
//! shows them ([`crate::cli`]: the terminal view, `--json`); a library user
//! installs its own, or gets none (events are dropped). Parallel groups emit
//! from their threads: a sink sees whole events, one at a time.

use std::sync::{Arc, Mutex, RwLock};

/// Who an event is about: shown as the `[...]` a line starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One run (a profile's group of scenarios), by id.
    Run(String),
    /// One VM, by its run id.
    Vm(String),
    /// A suite of groups, by id.
    Suite(String),
    /// The defect matrix, or one of its VMs (`vm1`, ...).
    Matrix(Option<usize>),
    /// Building or provisioning a guest image.
    Image,
    /// A download (of a cloud image).
    Download,
    /// A program the harness runs on the host, by name (mmdebstrap, ...).
    Program(String),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Run(id) => write!(f, "run {id}"),
            Scope::Vm(id) => write!(f, "vm {id}"),
            Scope::Suite(id) => write!(f, "suite {id}"),
            Scope::Matrix(None) => write!(f, "matrix"),
            Scope::Matrix(Some(w)) => write!(f, "matrix vm{w}"),
            Scope::Image => write!(f, "image"),
            Scope::Download => write!(f, "download"),
            Scope::Program(name) => write!(f, "{name}"),
        }
    }
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A step of the work, in words (where the run's files come from, a
    /// state being built, a case retried, ...).
    Progress { scope: Scope, text: String },
    /// A run's VM answers over SSH.
    VmReady {
        run_id: String,
        seconds: f64,
        resumed: bool,
    },
    /// A scenario of a run started.
    ScenarioStarted { run_id: String, name: String },
    /// It ended: `line` is its one-line verdict.
    ScenarioEnded {
        run_id: String,
        name: String,
        line: String,
    },
    /// A word to the user outside any run (an option ignored, ...).
    Notice { text: String },
    /// A finished piece of output: a run's, a suite's or the matrix's
    /// table with where its reports are, a kept VM's instructions.
    Report { text: String },
}

impl Event {
    /// A [`Event::Progress`].
    pub fn progress(scope: Scope, text: impl Into<String>) -> Event {
        Event::Progress {
            scope,
            text: text.into(),
        }
    }

    /// The event as the plain line(s) a log shows.
    pub fn line(&self) -> String {
        match self {
            Event::Progress { scope, text } => format!("[{scope}] {text}"),
            Event::VmReady {
                run_id,
                seconds,
                resumed,
            } => format!(
                "[run {run_id}] VM ready in {seconds:.1}s ({})",
                if *resumed {
                    "resumed from the saved state"
                } else {
                    "cold boot"
                }
            ),
            Event::ScenarioStarted { run_id, name } => {
                format!("[run {run_id}] scenario {name} ...")
            }
            Event::ScenarioEnded { line, .. } => line.clone(),
            Event::Notice { text } | Event::Report { text } => text.clone(),
        }
    }
}

/// Where events go.
pub trait Sink: Send + Sync {
    fn event(&self, e: &Event);
}

static SINK: RwLock<Option<Arc<dyn Sink>>> = RwLock::new(None);

/// Send every later event to `sink` (replacing the one before).
pub fn set_sink(sink: Arc<dyn Sink>) {
    if let Ok(mut s) = SINK.write() {
        *s = Some(sink);
    }
}

/// Tell the installed sink, if any.
pub fn emit(e: Event) {
    let sink = SINK.read().ok().and_then(|s| s.clone());
    if let Some(sink) = sink {
        sink.event(&e);
    }
}

/// A [`Event::Progress`] line.
pub fn progress(scope: Scope, text: impl Into<String>) {
    emit(Event::progress(scope, text));
}

/// A sink that keeps what it is told (tests, a library user's log).
#[derive(Default)]
pub struct Collect {
    pub events: Mutex<Vec<Event>>,
}

impl Sink for Collect {
    fn event(&self, e: &Event) {
        if let Ok(mut v) = self.events.lock() {
            v.push(e.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_their_scope() {
        assert_eq!(
            Event::progress(Scope::Matrix(Some(2)), "case x: held").line(),
            "[matrix vm2] case x: held"
        );
        assert_eq!(
            Event::VmReady {
                run_id: "r1".into(),
                seconds: 1.25,
                resumed: true
            }
            .line(),
            "[run r1] VM ready in 1.2s (resumed from the saved state)"
        );
        assert_eq!(
            Event::progress(Scope::Program("mmdebstrap".into()), "I: done").line(),
            "[mmdebstrap] I: done"
        );
    }

    #[test]
    fn events_reach_the_installed_sink_whole_from_any_thread() {
        let sink = Arc::new(Collect::default());
        set_sink(sink.clone());
        let threads: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || {
                    for j in 0..50 {
                        progress(Scope::Run(format!("events-test-{i}")), format!("step {j}"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let got = sink.events.lock().unwrap();
        // Other tests of this process may emit too: count only ours.
        let ours: Vec<&Event> = got
            .iter()
            .filter(|e| matches!(e, Event::Progress { scope: Scope::Run(id), .. } if id.starts_with("events-test-")))
            .collect();
        assert_eq!(ours.len(), 200);
        for i in 0..4 {
            let steps: Vec<String> = ours
                .iter()
                .filter_map(|e| match e {
                    Event::Progress {
                        scope: Scope::Run(id),
                        text,
                    } if *id == format!("events-test-{i}") => Some(text.clone()),
                    _ => None,
                })
                .collect();
            let want: Vec<String> = (0..50).map(|j| format!("step {j}")).collect();
            assert_eq!(steps, want, "thread {i}'s events in its order");
        }
    }
}
