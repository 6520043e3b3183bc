//! Scenarios that need what only the embedded endpoint has are refused on
//! other backends before anything boots.

use super::scenarios::Scenario;
use crate::profile::Backend;
use std::path::Path;

/// Why `chosen` cannot run on `backend` (None: they all can).
pub fn refusal(backend: Backend, chosen: &[Box<dyn Scenario>], profile: &Path) -> Option<String> {
    if backend == Backend::Embedded {
        return None;
    }
    let needs: Vec<String> = chosen
        .iter()
        .filter_map(|sc| Some(format!("{} (needs {})", sc.name(), sc.needs_embedded()?)))
        .collect();
    if needs.is_empty() {
        return None;
    }
    Some(format!(
        "profile {}: [s3] backend = \"{}\" cannot run scenario(s) {}: only the embedded endpoint has that. \
         Use backend = \"embedded\", or remove them from [scenarios] run (or the command line)",
        profile.display(),
        backend.as_str(),
        needs.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(names: &[&str]) -> Vec<Box<dyn Scenario>> {
        super::super::choose(names, Path::new("p.toml")).expect("known scenarios")
    }

    #[test]
    fn embedded_only_scenarios_are_named_with_the_file_and_the_fix() {
        let list = chosen(&["setup", "interrupt", "full", "lock-contention"]);
        let msg = refusal(Backend::Endpoint, &list, Path::new("cfg/e.toml")).expect("refused");
        assert!(
            msg.starts_with("profile cfg/e.toml: [s3] backend = \"endpoint\""),
            "{msg}"
        );
        assert!(msg.contains("interrupt (needs the stall fault"), "{msg}");
        assert!(msg.contains("lock-contention (needs"), "{msg}");
        assert!(!msg.contains("setup"), "{msg}");
        assert!(msg.contains("backend = \"embedded\"") && msg.contains("[scenarios] run"));
        assert!(refusal(Backend::Embedded, &list, Path::new("e.toml")).is_none());
    }

    #[test]
    fn only_scenarios_needing_faults_journal_or_archives_are_refused() {
        let all = "setup seed mutate full incremental interrupt large spool lock-contention \
                   cli-flags restore archive-restore verify cleanup";
        let refused: Vec<&str> = all
            .split_whitespace()
            .filter(|n| refusal(Backend::Aws, &chosen(&[n]), Path::new("a.toml")).is_some())
            .collect();
        assert_eq!(
            refused,
            [
                "interrupt",
                "large",
                "lock-contention",
                "cli-flags",
                "archive-restore"
            ]
        );
    }
}
