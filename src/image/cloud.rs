//! Building a cache entry from a pinned Debian cloud image: download and
//! verify it, boot it once with a cloud-init seed that installs the
//! recipe's packages, finish it over SSH (overlay, units, package lock,
//! kernel and initrd, cloud-init state cleaned), power it off and keep the
//! disk as the entry's `base.qcow2`. The entry then runs like a built one.

use super::build::{make_entry, phase, write_lock};
use super::cache::EntryMeta;
use super::download;
use super::recipe::{beside, CloudRecipe, ResolvedRecipe};
use crate::events::{self, Scope};
use crate::programs::{self, run_checked};
use crate::ssh::{shell_quote, Ssh};
use crate::vm::{Vm, VmConfig};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Longest wait for cloud-init to install the packages.
const CLOUD_INIT_WAIT: Duration = Duration::from_secs(3600);

/// Build the entry for a cloud recipe in `images_dir` (downloads go to
/// `<cache>/downloads`), or return the existing one at once.
pub fn build(r: &ResolvedRecipe<CloudRecipe>, images_dir: &Path) -> Result<super::cache::Entry> {
    make_entry(images_dir, &r.entry_name(), |tmp, started| {
        build_into(r, images_dir, tmp, started)
    })
}

fn build_into(
    r: &ResolvedRecipe<CloudRecipe>,
    images_dir: &Path,
    tmp: &Path,
    started: Instant,
) -> Result<EntryMeta> {
    let rec = &r.recipe;
    rec.check_pinned(&r.path)?;
    let qemu_img = programs::require(programs::QEMU_IMG)?;
    let downloads = images_dir.with_file_name("downloads");
    let sha512 = match (&rec.sha512, &rec.sha512_sums_url) {
        (Some(h), _) => h.clone(),
        (None, Some(sums_url)) => {
            let sums = download::fetch_text(sums_url, &downloads)?;
            download::sha512_from_sums(&sums, &download::file_name_of(&rec.url)?)
                .with_context(|| format!("reading {sums_url}"))?
        }
        (None, None) => bail!("{}: no `sha512`", r.path.display()),
    };
    events::progress(
        Scope::Image,
        format!("provisioning {} (key {}) from {}", rec.name, r.key, rec.url),
    );
    let image = download::fetch(&rec.url, &sha512, &downloads)?;
    check_qcow2(&image, &rec.url)?;
    phase("cloud image downloaded and verified", started);

    // In the runs directory, where socket paths are known to fit (108 bytes).
    let run_dir = std::path::absolute(crate::workspace::runs_dir()?)
        .context("locating the runs directory")?
        .join(format!("provision-{}-{}", rec.name, std::process::id()));
    let (accel, _) = crate::accel::choose(None);
    let first_boot = rec
        .first_boot_kernel
        .as_ref()
        .zip(rec.first_boot_initrd.as_ref())
        .map(|(k, i)| (beside(&r.path, k), beside(&r.path, i)));
    let cfg = VmConfig {
        run_dir: run_dir.clone(),
        run_id: format!("provision-{}", rec.name),
        base_image: image,
        kernel: first_boot.as_ref().map(|f| f.0.clone()).unwrap_or_default(),
        initrd: first_boot.as_ref().map(|f| f.1.clone()).unwrap_or_default(),
        accel,
        memory_mib: 2048,
        cpus: 2,
        boot_timeout: Duration::from_secs(300) * accel.timeout_factor(),
        disk_timeout: Duration::from_secs(20) * accel.timeout_factor(),
        command_timeout: Duration::from_secs(120),
        keep_disks: true,
        guestfwd: Vec::new(),
        extra_append: String::new(),
        root_device: rec.root.clone(),
        internet: true,
        saved_states: None,
    };
    let provisioned = provision(r, cfg, tmp, &qemu_img, first_boot.is_none());
    // The logs of a failed provisioning stay in the runs directory.
    crate::vm::files::remove_disposable(&run_dir, false);
    let (lock, kernel_release) = provisioned.with_context(|| {
        format!(
            "provisioning the cloud image (logs in {})",
            run_dir.display()
        )
    })?;
    std::fs::copy(&r.path, tmp.join("recipe.toml"))?;
    Ok(EntryMeta {
        name: rec.name.clone(),
        key: r.key.clone(),
        suite: rec.suite.clone(),
        kernel_release,
        packages: lock.len(),
        built_at: crate::util::now_rfc3339(),
        build_seconds: started.elapsed().as_secs_f64(),
        root: rec.root.clone(),
    })
}

/// Boot the downloaded image once, finish it, power it off and keep its
/// disk as `<tmp>/base.qcow2`; the package lock and the kernel release.
fn provision(
    r: &ResolvedRecipe<CloudRecipe>,
    cfg: VmConfig,
    tmp: &Path,
    qemu_img: &Path,
    firmware: bool,
) -> Result<(Vec<(String, String)>, String)> {
    let rec = &r.recipe;
    let run_dir = cfg.run_dir.clone();
    let started = Instant::now();
    let mut vm = Vm::boot_provisioning(cfg, &packages_user_data(&rec.packages), firmware)
        .map_err(anyhow::Error::from)
        .context("the provisioning boot of the cloud image")?;
    phase("provisioning boot reached SSH", started);
    wait_cloud_init(vm.ssh())?;
    phase("cloud-init finished", started);
    if let Some(dir) = &r.overlay_dir {
        vm.ssh()
            .upload_dir(dir, STAGING, Duration::from_secs(120))
            .context("copying the recipe's overlay into the guest")?;
    }
    let finish = finish_script(rec, r.overlay_dir.is_some());
    vm.ssh()
        .run("finish-image", &finish, Duration::from_secs(300))
        .context("applying the overlay and units in the guest")?;
    let status = vm
        .ssh()
        .run(
            "dpkg-status",
            "cat /var/lib/dpkg/status",
            Duration::from_secs(60),
        )?
        .stdout_text();
    let lock = write_lock(tmp, &status)?;
    let missing = missing_packages(&rec.packages, &lock);
    if !missing.is_empty() {
        bail!(
            "cloud-init did not install {} (see /var/log/cloud-init-output.log in the guest; \
             installing packages needs internet)",
            missing.join(", ")
        );
    }
    let kernel_release = copy_boot_files(vm.ssh(), tmp)?;
    vm.ssh()
        .run("clean-image", CLEAN, Duration::from_secs(300))
        .context("cleaning cloud-init's state in the guest")?;
    vm.shutdown()
        .map_err(anyhow::Error::from)
        .context("powering the provisioned guest off")?;
    phase("guest provisioned and powered off", started);

    run_checked(
        Command::new(qemu_img)
            .args(["convert", "-O", "qcow2"])
            .arg(run_dir.join(crate::vm::files::OVERLAY))
            .arg(tmp.join("base.qcow2")),
        "keeping the provisioned disk as one qcow2",
    )?;
    std::fs::remove_dir_all(&run_dir).ok();
    Ok((lock, kernel_release))
}

/// Debian's cloud images come as `.qcow2` and `.raw`: the overlay needs qcow2.
fn check_qcow2(path: &Path, url: &str) -> Result<()> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .with_context(|| format!("reading {}", path.display()))?;
    if &magic != b"QFI\xfb" {
        bail!("{url} is not a qcow2 image: name the `.qcow2` file of the directory in `url`");
    }
    Ok(())
}

/// The cloud-config keys that install `packages` at the first boot.
pub fn packages_user_data(packages: &[String]) -> String {
    if packages.is_empty() {
        return String::new();
    }
    let mut s = String::from("package_update: true\npackages:\n");
    for p in packages {
        s.push_str(&format!("  - {p}\n"));
    }
    s
}

/// Where the overlay is staged in the guest before it is copied over `/`.
const STAGING: &str = "/var/tmp/vmharness-overlay";

/// The guest commands that apply the overlay (less `overlay_skip`) and the
/// masked and enabled units, as mmdebstrap's hook does for a built image.
pub fn finish_script(rec: &CloudRecipe, has_overlay: bool) -> String {
    let mut s = vec!["set -eu".to_string()];
    if has_overlay {
        let excludes: String = rec
            .overlay_skip
            .iter()
            .map(|p| format!(" --exclude={}", shell_quote(&format!("./{p}"))))
            .collect();
        s.push(format!(
            "tar -C {STAGING}{excludes} --owner=0 --group=0 -cf - . | tar -C / --no-same-owner -xf -"
        ));
        s.push(format!("rm -rf {STAGING}"));
    }
    for unit in &rec.mask_units {
        s.push(format!("ln -sf /dev/null /etc/systemd/system/{unit}"));
    }
    for unit in &rec.enable_units {
        s.push(format!("systemctl enable {unit}"));
    }
    s.join("\n")
}

/// Make the next boot a first boot again, as a built image's is: cloud-init
/// runs afresh from the run's seed, no host keys, no machine id.
const CLEAN: &str = "set -eu
cloud-init clean --logs --seed
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
apt-get clean
fstrim -a >/dev/null 2>&1 || true
sync";

/// Wait until cloud-init is done; a failure shows its status and output.
fn wait_cloud_init(ssh: &mut Ssh) -> Result<()> {
    let out = ssh.exec(&crate::ssh::Exec {
        command: "cloud-init status --wait >/dev/null; rc=$?; cloud-init status --long; exit $rc",
        label: "cloud-init-wait",
        timeout: CLOUD_INIT_WAIT,
        echo: false,
    })?;
    match out.status {
        0 => Ok(()),
        // 2: done with recoverable errors (e.g. a deprecated key): the
        // package check that follows is what matters.
        2 => {
            events::progress(
                Scope::Image,
                format!(
                    "cloud-init finished with warnings:\n{}",
                    out.stdout_text().trim()
                ),
            );
            Ok(())
        }
        _ => {
            let log = ssh
                .run(
                    "cloud-init-log",
                    "tail -n 40 /var/log/cloud-init-output.log",
                    Duration::from_secs(30),
                )
                .map(|o| o.stdout_text())
                .unwrap_or_default();
            bail!(
                "cloud-init failed in the provisioning boot (status {}{}):\n{}\n\
                 last lines of /var/log/cloud-init-output.log:\n{log}",
                out.status,
                if out.timed_out { ", timed out" } else { "" },
                out.stdout_text().trim()
            )
        }
    }
}

/// The recipe's packages that the lock does not list.
pub fn missing_packages(wanted: &[String], lock: &[(String, String)]) -> Vec<String> {
    wanted
        .iter()
        .filter(|w| !lock.iter().any(|(n, _)| n == *w))
        .cloned()
        .collect()
}

/// Copy the newest installed kernel and its initrd out of the guest as
/// `vmlinuz` and `initrd.img`; its release.
fn copy_boot_files(ssh: &mut Ssh, dir: &Path) -> Result<String> {
    let release = ssh
        .run(
            "kernel-release",
            "ls /boot/vmlinuz-* | sed 's|^/boot/vmlinuz-||' | sort -V | tail -n 1",
            Duration::from_secs(30),
        )?
        .stdout_text()
        .trim()
        .to_string();
    if release.is_empty() {
        bail!("the provisioned guest has no /boot/vmlinuz-*");
    }
    // Unlogged: the command log would keep a copy of each file.
    let mut plain = Ssh::connect(ssh.target(), Duration::from_secs(30), None)?;
    for (remote, local) in [
        (format!("/boot/vmlinuz-{release}"), "vmlinuz"),
        (format!("/boot/initrd.img-{release}"), "initrd.img"),
    ] {
        let out = plain.run(
            "copy-out",
            &format!("cat {}", shell_quote(&remote)),
            Duration::from_secs(300),
        )?;
        if out.stdout.is_empty() {
            bail!("{remote} in the provisioned guest is empty");
        }
        let path: PathBuf = dir.join(local);
        std::fs::write(&path, &out.stdout)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    plain.disconnect();
    Ok(release)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe() -> CloudRecipe {
        toml::from_str(&format!(
            "name = 'c'\nsource = 'cloud'\nsuite = 'trixie'\nurl = 'https://h/x.qcow2'\n\
             sha512 = '{}'\npackages = ['btrfs-progs', 'xfsprogs']\n\
             overlay_skip = ['etc/fstab']\nmask_units = ['getty.target']\n\
             enable_units = ['systemd-networkd.service']\n",
            "ab".repeat(64)
        ))
        .unwrap()
    }

    #[test]
    fn packages_become_cloud_config() {
        assert_eq!(
            packages_user_data(&recipe().packages),
            "package_update: true\npackages:\n  - btrfs-progs\n  - xfsprogs\n"
        );
        assert_eq!(packages_user_data(&[]), "");
    }

    #[test]
    fn finish_script_applies_overlay_less_skips_then_units() {
        assert_eq!(
            finish_script(&recipe(), true),
            "set -eu\n\
             tar -C /var/tmp/vmharness-overlay --exclude=./etc/fstab --owner=0 --group=0 -cf - . \
             | tar -C / --no-same-owner -xf -\n\
             rm -rf /var/tmp/vmharness-overlay\n\
             ln -sf /dev/null /etc/systemd/system/getty.target\n\
             systemctl enable systemd-networkd.service"
        );
        assert!(!finish_script(&recipe(), false).contains("tar -C"));
    }

    #[test]
    fn missing_packages_are_named() {
        let lock = vec![("btrfs-progs".to_string(), "6.14-1".to_string())];
        assert_eq!(missing_packages(&recipe().packages, &lock), ["xfsprogs"]);
    }
}
