//! What a VM whose guest stopped answering was doing: which of QEMU's
//! threads burn CPU (a vCPU spinning in the guest, or every thread idle:
//! a deadlock), read from `/proc`, so that a hang reported once can be
//! told apart from the next one.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// One thread's name and CPU time in clock ticks (user + system).
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadTicks {
    pub tid: u32,
    pub name: String,
    pub ticks: u64,
}

/// The threads of process `pid` and their CPU ticks so far.
pub fn sample(pid: u32) -> std::io::Result<Vec<ThreadTicks>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(Path::new("/proc").join(pid.to_string()).join("task"))? {
        let entry = entry?;
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(t) = parse_stat(&stat) {
            out.push(t);
        }
    }
    out.sort_by_key(|t| t.tid);
    Ok(out)
}

/// A `/proc/PID/task/TID/stat` line: `tid (name) state ... utime stime ...`
/// (fields 14 and 15; the name may hold spaces and parentheses).
fn parse_stat(line: &str) -> Option<ThreadTicks> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let tid = line[..open].trim().parse().ok()?;
    let name = line[open + 1..close].to_string();
    let rest: Vec<&str> = line[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some(ThreadTicks {
        tid,
        name,
        ticks: utime + stime,
    })
}

/// Each thread's share of one CPU between two samples `over` apart, busiest
/// first, as one line: `CPU 0/TCG 98%, CPU 1/TCG 0%, qemu-system-x86 1%`.
/// Threads of the same name are summed (QEMU's worker threads).
pub fn describe(
    before: &[ThreadTicks],
    after: &[ThreadTicks],
    over: Duration,
    ticks_per_second: u64,
) -> String {
    let earlier: BTreeMap<u32, u64> = before.iter().map(|t| (t.tid, t.ticks)).collect();
    let mut by_name: BTreeMap<&str, u64> = BTreeMap::new();
    for t in after {
        let spent = t
            .ticks
            .saturating_sub(earlier.get(&t.tid).copied().unwrap_or(t.ticks));
        *by_name.entry(t.name.as_str()).or_default() += spent;
    }
    let available = over.as_secs_f64() * ticks_per_second as f64;
    let mut shares: Vec<(&str, u64)> = by_name
        .into_iter()
        .map(|(name, spent)| {
            let pct = if available > 0.0 {
                (spent as f64 * 100.0 / available).round() as u64
            } else {
                0
            };
            (name, pct)
        })
        .collect();
    shares.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    shares
        .iter()
        .map(|(name, pct)| format!("{name} {pct}%"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// QEMU's threads' CPU over `over`, measured now: the line `describe` makes,
/// or why it could not be measured.
pub fn cpu_of(pid: u32, over: Duration) -> String {
    // SAFETY: sysconf reads a constant of the system and touches no memory.
    let ticks = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|t| *t > 0)
        .unwrap_or(100);
    let measured = sample(pid).and_then(|before| {
        std::thread::sleep(over);
        sample(pid).map(|after| (before, after))
    });
    match measured {
        Ok((before, after)) => format!(
            "QEMU's threads over {:.1?}: {}",
            over,
            describe(&before, &after, over, ticks)
        ),
        Err(e) => format!("QEMU's threads could not be read from /proc/{pid}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_spaces_and_parentheses_in_the_name_parse() {
        let line = "4242 (CPU 0/TCG) R 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 3 0";
        assert_eq!(
            parse_stat(line),
            Some(ThreadTicks {
                tid: 4242,
                name: "CPU 0/TCG".into(),
                ticks: 175
            })
        );
        let odd = "7 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 3 4 0";
        assert_eq!(
            parse_stat(odd).map(|t| (t.name, t.ticks)),
            Some(("a (b) c".into(), 7))
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn shares_are_per_thread_name_busiest_first() {
        let t = |tid, name: &str, ticks| ThreadTicks {
            tid,
            name: name.into(),
            ticks,
        };
        let before = [
            t(1, "qemu-system-x86", 10),
            t(2, "CPU 0/TCG", 100),
            t(3, "CPU 1/TCG", 50),
            t(4, "worker", 0),
        ];
        let after = [
            t(1, "qemu-system-x86", 11),
            t(2, "CPU 0/TCG", 198),
            t(3, "CPU 1/TCG", 50),
            t(4, "worker", 2),
            t(5, "worker", 3),
        ];
        assert_eq!(
            describe(&before, &after, Duration::from_secs(1), 100),
            "CPU 0/TCG 98%, worker 2%, qemu-system-x86 1%, CPU 1/TCG 0%"
        );
    }

    #[test]
    fn this_process_can_be_measured() {
        let line = cpu_of(std::process::id(), Duration::from_millis(20));
        assert!(line.starts_with("QEMU's threads over"), "{line}");
    }
}
