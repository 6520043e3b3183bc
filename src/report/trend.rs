//! The trend of a run's figures across the earlier runs of the same profile
//! in the same runs directory: total seconds and the backup and restore
//! throughput of each run, oldest to newest.

use super::benchmark::{Transfer, TransferKind};
use super::merge::{group_name, PROFILE_SEP};
use super::results::RunReport;
use std::path::Path;

/// Runs shown in a trend at most (the newest of them; the current one included).
pub const MAX_RUNS: usize = 20;

/// One run's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub run_id: String,
    pub started_at: String,
    pub seconds: f64,
    pub backup_mib_s: Option<f64>,
    pub restore_mib_s: Option<f64>,
}

/// Bytes over seconds of the transfers of one kind, in MiB/s (None: no
/// transfer with a duration).
pub fn mib_per_second<'a>(
    transfers: impl IntoIterator<Item = &'a Transfer>,
    kind: TransferKind,
) -> Option<f64> {
    let (bytes, secs) = transfers
        .into_iter()
        .filter(|t| t.kind == kind && t.seconds > 0.0)
        .fold((0u64, 0.0), |(b, s), t| (b + t.bytes, s + t.seconds));
    (secs > 0.0).then(|| bytes as f64 / secs / (1024.0 * 1024.0))
}

impl Point {
    pub fn of(r: &RunReport) -> Point {
        Point {
            run_id: r.run_id.clone(),
            started_at: r.started_at.clone(),
            seconds: r.seconds,
            backup_mib_s: mib_per_second(&r.transfers, TransferKind::Backup),
            restore_mib_s: mib_per_second(&r.transfers, TransferKind::Restore),
        }
    }
}

/// What makes two runs comparable: their profiles' file stems (a merged
/// report's, sorted), so the same profile from another checkout counts.
pub fn profile_key(profile: &str) -> String {
    let mut stems: Vec<String> = profile.split(PROFILE_SEP).map(group_name).collect();
    stems.sort();
    stems.join(PROFILE_SEP)
}

/// The trend ending at `current`: the runs among `others` of the same
/// profile that started before it, oldest first, then `current`; at most
/// `MAX_RUNS` points.
pub fn pick(current: &RunReport, others: &[RunReport]) -> Vec<Point> {
    let key = profile_key(&current.profile);
    let mut earlier: Vec<&RunReport> = others
        .iter()
        .filter(|r| r.run_id != current.run_id && profile_key(&r.profile) == key)
        .filter(|r| (&r.started_at, &r.run_id) < (&current.started_at, &current.run_id))
        .collect();
    earlier.sort_by(|a, b| (&a.started_at, &a.run_id).cmp(&(&b.started_at, &b.run_id)));
    let skip = (earlier.len() + 1).saturating_sub(MAX_RUNS);
    earlier
        .into_iter()
        .skip(skip)
        .chain(std::iter::once(current))
        .map(Point::of)
        .collect()
}

/// The reports of the run directories beside `run_dir` (unreadable ones are
/// left out: a trend is a help, not a judgement).
pub fn siblings(run_dir: &Path) -> Vec<RunReport> {
    let Some(parent) = run_dir.parent() else {
        return vec![];
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return vec![];
    };
    let own = std::fs::canonicalize(run_dir).ok();
    entries
        .flatten()
        .map(|e| e.path())
        // `latest` is a link to one of the others.
        .filter(|p| !p.is_symlink() && p.is_dir())
        .filter(|p| own.is_none() || std::fs::canonicalize(p).ok() != own)
        .filter_map(|p| super::load(&p).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::report;

    fn run(id: &str, profile: &str, started: &str, seconds: f64) -> RunReport {
        let mut r = report();
        r.run_id = id.into();
        r.profile = profile.into();
        r.started_at = started.into();
        r.seconds = seconds;
        r
    }

    #[test]
    fn only_earlier_runs_of_the_same_profile_oldest_first() {
        let current = run("r3", "config/test.toml", "2024-01-03T00:00:00Z", 30.0);
        let others = vec![
            run(
                "r2",
                "/other/checkout/config/test.toml",
                "2024-01-02T00:00:00Z",
                20.0,
            ),
            run("r4", "config/test.toml", "2024-01-04T00:00:00Z", 40.0),
            run("x", "config/archive.toml", "2024-01-01T00:00:00Z", 5.0),
            run("r1", "config/test.toml", "2024-01-01T00:00:00Z", 10.0),
        ];
        let t = pick(&current, &others);
        let ids: Vec<&str> = t.iter().map(|p| p.run_id.as_str()).collect();
        assert_eq!(ids, ["r1", "r2", "r3"]);
        assert_eq!(t[1].seconds, 20.0);
    }

    #[test]
    fn at_most_the_newest_runs() {
        let others: Vec<RunReport> = (0..30)
            .map(|i| {
                run(
                    &format!("r{i:02}"),
                    "t.toml",
                    &format!("2024-01-01T00:00:{i:02}Z"),
                    1.0,
                )
            })
            .collect();
        let current = run("now", "t.toml", "2024-02-01T00:00:00Z", 1.0);
        let t = pick(&current, &others);
        assert_eq!(t.len(), MAX_RUNS);
        assert_eq!(t[0].run_id, "r11");
        assert_eq!(t.last().unwrap().run_id, "now");
    }

    #[test]
    fn merged_profiles_compare_by_their_stems_in_any_order() {
        assert_eq!(
            profile_key("config/b.toml + /x/a.toml"),
            profile_key("a.toml + b.toml")
        );
        assert_ne!(profile_key("a.toml"), profile_key("a.toml + b.toml"));
    }

    #[test]
    fn throughput_is_all_bytes_over_all_seconds() {
        let r = report();
        // 12_000_000 bytes in 1.5 s; the restore has no duration.
        let b = mib_per_second(&r.transfers, TransferKind::Backup).unwrap();
        assert!((b - 12_000_000.0 / 1.5 / 1048576.0).abs() < 1e-9);
        assert_eq!(mib_per_second(&r.transfers, TransferKind::Restore), None);
    }

    #[test]
    fn siblings_reads_the_other_runs_not_latest_nor_itself() {
        let dir = tempfile::tempdir().unwrap();
        for id in ["a", "b"] {
            let d = dir.path().join(id);
            std::fs::create_dir(&d).unwrap();
            let r = run(id, "t.toml", "2024", 1.0);
            std::fs::write(
                d.join("results.json"),
                crate::report::results::to_json(&r).unwrap(),
            )
            .unwrap();
        }
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        crate::report::update_latest(dir.path(), "a").unwrap();
        let got = siblings(&dir.path().join("b"));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].run_id, "a");
    }
}
