//! How many VMs may run at once: from the cores and the memory available,
//! never more than memory holds.

/// Host memory one VM needs beyond its guest RAM (QEMU, its caches, the
/// harness's own side of the run).
pub const HOST_OVERHEAD_MIB: u64 = 512;

/// The number of VMs to run at once and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jobs {
    pub n: usize,
    pub reason: String,
}

/// `requested` (or the default: one per core) capped by what memory holds.
pub fn decide(
    requested: Option<usize>,
    cores: usize,
    available_mib: u64,
    vm_memory_mib: u64,
) -> Jobs {
    let per_vm = vm_memory_mib + HOST_OVERHEAD_MIB;
    let fit = usize::try_from(available_mib / per_vm.max(1))
        .unwrap_or(usize::MAX)
        .max(1);
    let cores = cores.max(1);
    match requested {
        Some(n) if n > fit => Jobs {
            n: fit,
            reason: format!(
                "-j {n} asked, {fit} fit in memory ({available_mib} MiB available, \
                 {per_vm} MiB per VM): {fit}"
            ),
        },
        Some(n) => Jobs {
            n: n.max(1),
            reason: format!("-j {}", n.max(1)),
        },
        None => {
            let n = cores.min(fit);
            Jobs {
                n,
                reason: format!(
                    "{n} (default: {cores} core(s), {fit} VM(s) of {per_vm} MiB fit in \
                     {available_mib} MiB available)"
                ),
            }
        }
    }
}

/// `decide` with this host's cores and available memory (unreadable: one VM).
pub fn here(requested: Option<usize>, vm_memory_mib: u32) -> Jobs {
    decide(
        requested,
        cores(),
        read_available_mib().unwrap_or(0),
        u64::from(vm_memory_mib),
    )
}

/// `MemAvailable` of /proc/meminfo in MiB, if it can be read.
pub fn read_available_mib() -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| parse_available(&t))
}

fn parse_available(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib / 1024)
}

/// The host's cores.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `f` over `items` with at most `workers` at once (scoped threads taking
/// the next item as they free up); results in the items' order. Items not
/// started when `stop()` turns true are None.
pub fn map<T: Send, R: Send>(
    workers: usize,
    items: Vec<T>,
    stop: impl Fn() -> bool + Sync,
    f: impl Fn(usize, T) -> R + Sync,
) -> Vec<Option<R>> {
    let n = items.len();
    let queue = std::sync::Mutex::new(items.into_iter().enumerate().collect::<Vec<_>>());
    let results = std::sync::Mutex::new((0..n).map(|_| None).collect::<Vec<Option<R>>>());
    std::thread::scope(|scope| {
        for w in 1..=workers.clamp(1, n.max(1)) {
            let (queue, results, f, stop) = (&queue, &results, &f, &stop);
            scope.spawn(move || loop {
                if stop() {
                    break;
                }
                let next = {
                    let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                    (!q.is_empty()).then(|| q.remove(0))
                };
                let Some((i, item)) = next else { break };
                let r = f(w, item);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_one_per_core_within_memory() {
        assert_eq!(decide(None, 2, 24_000, 1024).n, 2);
        assert_eq!(decide(None, 16, 4_000, 1024).n, 2, "memory caps it");
        assert_eq!(decide(None, 8, 100, 1024).n, 1, "never zero");
        let j = decide(Some(8), 2, 3_000, 1024);
        assert_eq!(j.n, 1);
        assert!(j.reason.contains("fit in memory"), "{}", j.reason);
        assert_eq!(decide(Some(3), 2, 24_000, 1024).n, 3);
        assert_eq!(decide(Some(0), 2, 24_000, 1024).n, 1);
    }

    #[test]
    fn map_keeps_order_and_runs_at_most_workers_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let out = map(
            2,
            (0..6).collect(),
            || false,
            |_, x: u64| {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(20));
                now.fetch_sub(1, Ordering::SeqCst);
                x * 10
            },
        );
        assert_eq!(out, (0..6).map(|x| Some(x * 10)).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        let none = map(3, vec![1, 2], || true, |_, x: i32| x);
        assert_eq!(none, [None, None]);
    }

    #[test]
    fn meminfo() {
        let t = "MemTotal:       24000000 kB\nMemFree:  1 kB\nMemAvailable:   20480000 kB\n";
        assert_eq!(parse_available(t), Some(20000));
        assert_eq!(parse_available("MemTotal: 1 kB\n"), None);
    }
}
