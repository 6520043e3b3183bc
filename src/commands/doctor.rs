//! `vmharness doctor`: can a run proceed here, and if not, what exactly to do.

use crate::exit::Outcome;
use crate::programs::{self, Program};
use anyhow::Result;
use serde::Serialize;
use std::path::Path;

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub ok: bool,
    /// A failure here stops a run (else it is a warning).
    pub blocking: bool,
    pub what: String,
    pub detail: String,
    pub fix: Option<String>,
}

fn finding(ok: bool, blocking: bool, what: &str, detail: String, fix: Option<String>) -> Finding {
    Finding {
        ok,
        blocking,
        what: what.to_string(),
        detail,
        fix,
    }
}

fn check_program(p: Program, need: programs::Need, image_cached: bool) -> Finding {
    // Build tools only block when no image is cached yet.
    let blocking = match need {
        programs::Need::Run => true,
        programs::Need::Build => !image_cached,
        programs::Need::Optional => false,
    };
    match programs::find(p.name) {
        Some(path) => finding(
            true,
            blocking,
            p.name,
            programs::version_of(&path, p.version_flag)
                .unwrap_or_else(|| path.display().to_string()),
            None,
        ),
        None => finding(
            false,
            blocking,
            p.name,
            format!("not found ({})", p.why),
            Some(format!("sudo apt-get install {}", p.package)),
        ),
    }
}

/// Free bytes on the filesystem holding `dir` (or its nearest existing parent).
fn free_bytes(dir: &Path) -> Option<u64> {
    let dir = std::path::absolute(dir).ok()?;
    let existing = dir.ancestors().find(|d| d.exists())?;
    let st = nix::sys::statvfs::statvfs(existing).ok()?;
    Some(st.blocks_available() as u64 * st.fragment_size() as u64)
}

fn check_space(what: &str, dir: &Path, need_gib: u64) -> Finding {
    match free_bytes(dir) {
        Some(b) => {
            let gib = b as f64 / (1u64 << 30) as f64;
            finding(
                b >= need_gib << 30,
                true,
                what,
                format!("{:.1} GiB free at {} (needs {need_gib} GiB)", gib, dir.display()),
                (b < need_gib << 30).then(|| {
                    "free space there, or point it elsewhere (VMHARNESS_CACHE / VMHARNESS_RUN_DIR)".to_string()
                }),
            )
        }
        None => finding(
            false,
            true,
            what,
            format!("cannot inspect {}", dir.display()),
            None,
        ),
    }
}

/// The fast path: saved VM states in the cache, and whether new ones can be written.
fn saved_states() -> Finding {
    let store = crate::paths::states_dir();
    let count = std::fs::read_dir(&store)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|slot| slot.path().is_dir())
        .flat_map(|slot| {
            std::fs::read_dir(slot.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|e| e.path().join("meta.json").is_file())
        .count();
    // Probe the store, or the nearest directory that would hold it.
    let writable = store
        .ancestors()
        .find(|d| d.is_dir())
        .is_some_and(|d| tempfile::tempfile_in(d).is_ok());
    finding(
        writable,
        false,
        "saved VM states",
        format!(
            "{count} in {}{}",
            store.display(),
            if writable {
                " (the first VM of an image and shape builds one: one cold boot)"
            } else {
                ": not writable, every VM boots cold"
            }
        ),
        (!writable).then(|| {
            format!(
                "make {} writable, or point VMHARNESS_CACHE elsewhere",
                store.display()
            )
        }),
    )
}

pub fn findings() -> Vec<Finding> {
    let profile = crate::profile::default_path()
        .and_then(|p| crate::profile::load(&p))
        .unwrap_or_default();
    let image_cached = crate::paths::project_dir()
        .and_then(|dir| crate::image::recipe::locate(&dir.join("images"), &profile.vm.image))
        .and_then(|p| crate::image::recipe::load(&p))
        .map(|r| {
            crate::paths::images_dir()
                .join(r.entry_name())
                .join("meta.json")
                .is_file()
        })
        .unwrap_or(false);
    let root = nix::unistd::geteuid().is_root();
    let mut out = Vec::new();
    for (p, need) in programs::ALL {
        // The rootless build tools matter only to normal users.
        if root && [programs::UNSHARE.name, programs::NEWUIDMAP.name].contains(&p.name) {
            continue;
        }
        out.push(check_program(*p, *need, image_cached));
    }
    let kvm = crate::accel::probe_kvm();
    out.push(finding(
        true,
        false,
        "acceleration",
        if kvm.usable {
            format!("KVM: {}", kvm.reason)
        } else {
            format!("no KVM, TCG: {}", kvm.reason)
        },
        kvm.fix,
    ));
    if !root && !image_cached {
        let ok = std::process::Command::new("unshare")
            .args(["--map-root-user", "--map-auto", "true"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        out.push(finding(
            ok,
            true,
            "user namespaces",
            if ok { "rootless image builds work".into() } else { "`unshare --map-root-user --map-auto` fails".into() },
            (!ok).then(|| {
                "sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER \
                 (or build the image once as root with VMHARNESS_CACHE pointing at a shared directory)"
                    .to_string()
            }),
        ));
    }
    out.push(finding(
        image_cached,
        false,
        "guest image",
        if image_cached {
            format!("`{}` is built", profile.vm.image)
        } else {
            format!(
                "`{}` is not built yet (the first run builds it, ~3 min)",
                profile.vm.image
            )
        },
        (!image_cached).then(|| format!("vmharness image build {}", profile.vm.image)),
    ));
    out.push(saved_states());
    out.push(check_space(
        "cache space",
        &crate::paths::cache_dir(),
        if image_cached { 1 } else { 4 },
    ));
    let runs = crate::workspace::runs_dir().unwrap_or_else(|_| "run".into());
    out.push(check_space("run space", &runs, 3));
    let need = u64::from(profile.vm.memory_mib) + crate::jobs::HOST_OVERHEAD_MIB;
    match crate::jobs::read_available_mib() {
        Some(avail) => {
            let jobs = crate::jobs::decide(
                None,
                crate::jobs::cores(),
                avail,
                u64::from(profile.vm.memory_mib),
            );
            out.push(finding(
                avail >= need,
                true,
                "memory",
                format!(
                    "{avail} MiB available (a VM needs {need} MiB); VMs at once: {}",
                    jobs.reason
                ),
                (avail < need)
                    .then(|| "lower [vm] memory_mib in the profile or free memory".to_string()),
            ))
        }
        None => out.push(finding(
            false,
            false,
            "memory",
            "cannot read /proc/meminfo".into(),
            None,
        )),
    }
    out
}

/// A finding's status: ok, or a failure that stops a run, or a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Finding {
    pub fn status(&self) -> Status {
        match (self.ok, self.blocking) {
            (true, _) => Status::Ok,
            (false, true) => Status::Fail,
            (false, false) => Status::Warn,
        }
    }
}

/// `doctor --json`.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    /// No check failed that stops a run.
    pub can_run: bool,
    pub checks: Vec<CheckLine<'a>>,
}

#[derive(Debug, Serialize)]
pub struct CheckLine<'a> {
    pub name: &'a str,
    pub status: Status,
    pub detail: &'a str,
    pub fix: Option<&'a str>,
}

pub fn report(all: &[Finding]) -> Report<'_> {
    Report {
        can_run: !all.iter().any(|f| f.status() == Status::Fail),
        checks: all
            .iter()
            .map(|f| CheckLine {
                name: &f.what,
                status: f.status(),
                detail: &f.detail,
                fix: f.fix.as_deref(),
            })
            .collect(),
    }
}

pub fn run(json: bool) -> Result<Outcome> {
    let all = findings();
    let report = report(&all);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for f in &all {
            let tag = match f.status() {
                Status::Ok => "ok  ",
                Status::Fail => "FAIL",
                Status::Warn => "warn",
            };
            println!("{tag} {:<20} {}", f.what, f.detail);
            if let Some(fix) = &f.fix {
                if !f.ok || f.what == "acceleration" {
                    println!("     {:<20} fix: {fix}", "");
                }
            }
        }
        if report.can_run {
            println!("\nA run can proceed.");
        } else {
            println!("\nA run cannot proceed: fix the FAIL lines above.");
        }
    }
    Ok(if report.can_run {
        Outcome::Passed
    } else {
        Outcome::HarnessFailed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_program_blocks_and_names_package() {
        let p = Program {
            name: "no-such-qemu-xyz",
            package: "qemu-system-x86",
            why: "runs the guest VM",
            version_flag: "--version",
        };
        let f = check_program(p, programs::Need::Run, true);
        assert!(!f.ok && f.blocking);
        assert_eq!(
            f.fix.as_deref(),
            Some("sudo apt-get install qemu-system-x86")
        );
        let build_tool = check_program(p, programs::Need::Build, true);
        assert!(
            !build_tool.blocking,
            "build tools do not block once the image is cached"
        );
        assert!(
            check_program(p, programs::Need::Build, false).blocking,
            "build tools block while no image is cached"
        );
        assert!(
            !check_program(p, programs::Need::Optional, false).blocking,
            "an optional program (ssh) never blocks a run"
        );
        let all = [f, build_tool, finding(true, true, "x", "fine".into(), None)];
        let v = serde_json::to_value(report(&all)).unwrap();
        assert_eq!(v["can_run"], false);
        assert_eq!(v["checks"][0]["status"], "fail");
        assert_eq!(
            v["checks"][0]["fix"],
            "sudo apt-get install qemu-system-x86"
        );
        assert_eq!(v["checks"][1]["status"], "warn");
        assert_eq!(v["checks"][2]["status"], "ok");
        assert_eq!(v["checks"][2]["fix"], serde_json::Value::Null);
        assert!(serde_json::to_value(report(&all[1..])).unwrap()["can_run"] == true);
    }
}
