//! `vmharness gc`: remove what killed runs left behind.

use crate::exit::Outcome;
use crate::vm::files;
use anyhow::Result;
use std::path::Path;

pub fn run() -> Result<Outcome> {
    let runs = crate::workspace::runs_dir()?;
    let mut cleaned = 0;
    for entry in std::fs::read_dir(&runs).into_iter().flatten().flatten() {
        let dir = entry.path();
        if !dir.is_dir() || files::leftovers(&dir).is_empty() {
            continue;
        }
        let owner = files::read_pid(&dir.join(files::OWNER_PID));
        if owner.is_some_and(files::pid_alive) {
            continue;
        }
        let removed = clean_run(&dir);
        println!("cleaned {}: {} file(s)", dir.display(), removed);
        cleaned += 1;
    }
    println!("{cleaned} dead run(s) cleaned in {}", runs.display());
    Ok(Outcome::Passed)
}

/// Kill a QEMU the run left (only if it really is that run's QEMU) and
/// remove the run's disposable files. Returns how many files went.
pub fn clean_run(dir: &Path) -> usize {
    if let Some(pid) = files::read_pid(&dir.join(files::QEMU_PID)) {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let ours = String::from_utf8_lossy(&cmdline).contains(&*dir.to_string_lossy());
        if ours && files::pid_alive(pid) {
            crate::vm::machine::kill_group(pid as u32);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while files::pid_alive(pid) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
    files::remove_disposable(dir, dir.join(files::KEPT).exists()).len()
}
