//! Building a cache entry from a recipe: mmdebstrap -> root tree -> ext4 ->
//! qcow2, with kernel, initrd and package lock. Atomic and idempotent.

use super::cache::{Entry, EntryMeta};
use super::recipe::ResolvedRecipe;
use crate::events::{self, Scope};
use crate::programs::{self, run_checked};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// How mmdebstrap and the finishing steps get root inside the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildMode {
    /// Running as root: plain chroot.
    Root,
    /// A normal user: user namespaces (`mmdebstrap --mode=unshare`).
    Unshare,
}

impl BuildMode {
    pub fn detect() -> Self {
        if nix::unistd::geteuid().is_root() {
            BuildMode::Root
        } else {
            BuildMode::Unshare
        }
    }
}

/// The shell lines run by mmdebstrap's customize hook (`$1` is the root tree).
pub fn customize_script(r: &ResolvedRecipe) -> Vec<String> {
    let rec = &r.recipe;
    let mut s = Vec::new();
    if let Some(dir) = &r.overlay_dir {
        s.push(format!(
            "tar -C {} --owner=0 --group=0 -cf - . | tar -C \"$1\" -xf -",
            shell_quote(&dir.to_string_lossy())
        ));
    }
    for unit in &rec.mask_units {
        s.push(format!("ln -sf /dev/null \"$1/etc/systemd/system/{unit}\""));
    }
    for unit in &rec.enable_units {
        s.push(format!("chroot \"$1\" systemctl enable {unit}"));
    }
    // Host keys come from each run's seed: the image must not carry any.
    s.push("rm -f \"$1\"/etc/ssh/ssh_host_*".into());
    s.push(": > \"$1/etc/machine-id\"".into());
    if !rec.initramfs_modules.is_empty() {
        s.push(format!(
            "printf '%s\\n' {} > \"$1/etc/initramfs-tools/modules\"",
            rec.initramfs_modules.join(" ")
        ));
        s.push("chroot \"$1\" update-initramfs -u -k all".into());
    }
    s
}

/// The mmdebstrap command line (pure, tested).
pub fn mmdebstrap_args(r: &ResolvedRecipe, mode: BuildMode, tarball: &Path) -> Vec<OsString> {
    let rec = &r.recipe;
    let mut a: Vec<OsString> = vec![
        format!(
            "--mode={}",
            if mode == BuildMode::Root {
                "root"
            } else {
                "unshare"
            }
        )
        .into(),
        format!("--variant={}", rec.variant).into(),
        format!("--components={}", rec.components.join(",")).into(),
        format!("--include={}", rec.include_list().join(",")).into(),
        "--dpkgopt=path-exclude=/usr/share/man/*".into(),
        "--dpkgopt=path-exclude=/usr/share/doc/*".into(),
        "--dpkgopt=path-include=/usr/share/doc/*/copyright".into(),
        "--dpkgopt=path-exclude=/usr/share/locale/*".into(),
    ];
    for line in customize_script(r) {
        a.push(format!("--customize-hook={line}").into());
    }
    a.push(rec.suite.clone().into());
    a.push(tarball.into());
    a.push(rec.mirror.clone().into());
    a
}

/// Turn the tarball into `root.raw`, `vmlinuz`, `initrd.img` and `dpkg-status`
/// (run inside a user namespace when not root, so owners stay right).
pub fn finish_script(disk_size_mib: u64, mkfs: &Path) -> String {
    format!(
        "set -eu\n\
         mkdir tree\n\
         tar -C tree --numeric-owner -xpf rootfs.tar --exclude='./dev/*'\n\
         set -- tree/boot/vmlinuz-*; cp \"$1\" vmlinuz\n\
         set -- tree/boot/initrd.img-*; cp \"$1\" initrd.img\n\
         basename \"$1\" | sed 's/^initrd.img-//' > kernel-release\n\
         cp tree/var/lib/dpkg/status dpkg-status\n\
         {mkfs} -q -F -L vmh-root -d tree root.raw {disk_size_mib}M\n\
         rm -rf tree\n",
        mkfs = shell_quote(&mkfs.to_string_lossy())
    )
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Parse dpkg's status file into sorted `name version` lines of installed packages.
pub fn package_lock(status: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for stanza in status.split("\n\n") {
        let (mut name, mut version, mut installed) = (None, None, false);
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package: ") {
                name = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("Version: ") {
                version = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("Status: ") {
                installed = v.trim().ends_with(" installed");
            }
        }
        if let (Some(n), Some(v), true) = (name, version, installed) {
            out.push((n, v));
        }
    }
    out.sort();
    out
}

/// Removes a half-built directory unless disarmed.
struct TmpGuard(Option<PathBuf>);
impl Drop for TmpGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}

pub(super) fn phase(name: &str, started: Instant) {
    events::progress(
        Scope::Image,
        format!("{name} ({:.1}s)", started.elapsed().as_secs_f64()),
    );
}

/// Build the entry for `r` in `images_dir`, or return the existing one at once.
pub fn build(r: &ResolvedRecipe, images_dir: &Path) -> Result<Entry> {
    make_entry(images_dir, &r.entry_name(), |tmp, started| {
        build_into(r, tmp, started)
    })
}

/// The entry `entry_name` of `images_dir`: returned at once when it is
/// there, else made by `fill` in a private directory (it writes the files
/// and returns the meta), then moved into place whole. One builder per
/// entry; a second one waits, then finds the entry ready.
pub(super) fn make_entry(
    images_dir: &Path,
    entry_name: &str,
    fill: impl FnOnce(&Path, Instant) -> Result<EntryMeta>,
) -> Result<Entry> {
    let final_dir = images_dir.join(entry_name);
    if let Some(e) = Entry::open(&final_dir)? {
        return Ok(e);
    }
    std::fs::create_dir_all(images_dir)
        .with_context(|| format!("creating image cache {}", images_dir.display()))?;
    let lock_path = images_dir.join(format!(".{entry_name}.lock"));
    let _lock = crate::util::lock_exclusive(&lock_path)?;
    if let Some(e) = Entry::open(&final_dir)? {
        return Ok(e);
    }
    let tmp = images_dir.join(format!(".build-{entry_name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut guard = TmpGuard(Some(tmp.clone()));
    let started = Instant::now();
    let meta = fill(&tmp, started)?;
    meta.write(&tmp)?;
    std::fs::rename(&tmp, &final_dir).with_context(|| {
        format!(
            "moving the finished image into place at {}",
            final_dir.display()
        )
    })?;
    guard.0 = None;
    phase("image ready", started);
    Entry::open(&final_dir)?.context("the image entry vanished right after it was built")
}

/// Write `packages.lock` in `dir` from a dpkg status file; the number of
/// packages.
pub(super) fn write_lock(dir: &Path, dpkg_status: &str) -> Result<Vec<(String, String)>> {
    let lock = package_lock(dpkg_status);
    if lock.is_empty() {
        bail!("the image lists no installed packages: the build is broken");
    }
    let lock_text: String = lock.iter().map(|(n, v)| format!("{n} {v}\n")).collect();
    std::fs::write(dir.join("packages.lock"), lock_text)?;
    Ok(lock)
}

fn build_into(r: &ResolvedRecipe, tmp: &Path, started: Instant) -> Result<EntryMeta> {
    let mmdebstrap = programs::require(programs::MMDEBSTRAP)?;
    let mkfs = programs::require(programs::MKFS_EXT4)?;
    let qemu_img = programs::require(programs::QEMU_IMG)?;
    let mode = BuildMode::detect();
    if mode == BuildMode::Unshare {
        programs::require(programs::UNSHARE)?;
        programs::require(programs::NEWUIDMAP)?;
        check_unshare_works()?;
    }
    events::progress(
        Scope::Image,
        format!(
            "building {} (key {}) from {} {} as {}",
            r.recipe.name,
            r.key,
            r.recipe.mirror,
            r.recipe.suite,
            if mode == BuildMode::Root {
                "root"
            } else {
                "a normal user (user namespaces)"
            }
        ),
    );

    let tarball = tmp.join("rootfs.tar");
    let mut cmd = Command::new(&mmdebstrap);
    cmd.args(mmdebstrap_args(r, mode, &tarball));
    run_streaming(&mut cmd, "mmdebstrap")?;
    phase("root tree downloaded and installed", started);

    let script = finish_script(r.recipe.disk_size_mib, &mkfs);
    let mut cmd = in_build_namespace(mode, &script);
    cmd.current_dir(tmp);
    run_checked(&mut cmd, "making the root filesystem image")?;
    std::fs::remove_file(&tarball).ok();
    phase("root filesystem image made", started);

    let mut cmd = Command::new(&qemu_img);
    cmd.args(["convert", "-f", "raw", "-O", "qcow2"])
        .arg(tmp.join("root.raw"))
        .arg(tmp.join("base.qcow2"));
    run_checked(&mut cmd, "converting the root image to qcow2")?;
    std::fs::remove_file(tmp.join("root.raw")).ok();

    let status = std::fs::read_to_string(tmp.join("dpkg-status")).context("reading dpkg status")?;
    let lock = write_lock(tmp, &status)?;
    std::fs::remove_file(tmp.join("dpkg-status")).ok();
    let kernel_release = std::fs::read_to_string(tmp.join("kernel-release"))?
        .trim()
        .to_string();
    std::fs::remove_file(tmp.join("kernel-release")).ok();
    std::fs::copy(&r.path, tmp.join("recipe.toml"))?;

    Ok(EntryMeta {
        name: r.recipe.name.clone(),
        key: r.key.clone(),
        suite: r.recipe.suite.clone(),
        kernel_release,
        packages: lock.len(),
        built_at: crate::util::now_rfc3339(),
        build_seconds: started.elapsed().as_secs_f64(),
        root: super::cache::DEFAULT_ROOT.into(),
    })
}

fn in_build_namespace(mode: BuildMode, script: &str) -> Command {
    let mut cmd = match mode {
        BuildMode::Root => Command::new("sh"),
        BuildMode::Unshare => {
            let mut c = Command::new("unshare");
            c.args(["--map-root-user", "--map-auto", "sh"]);
            c
        }
    };
    cmd.args(["-c", script]);
    cmd
}

fn check_unshare_works() -> Result<()> {
    let out = Command::new("unshare")
        .args(["--map-root-user", "--map-auto", "true"])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => bail!(
            "building an image as a normal user needs user namespaces with subordinate ids, \
             and `unshare --map-root-user --map-auto true` failed: {}\n\
             fix: give your user a range in /etc/subuid and /etc/subgid \
             (`sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER`), \
             make sure `sysctl kernel.unprivileged_userns_clone` is 1, or build the image as root \
             (`sudo -E vmharness image build` with VMHARNESS_CACHE set to a shared directory)",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => bail!("cannot run unshare ({e}): install util-linux"),
    }
}

/// Run a long command, showing its progress lines as they come.
fn run_streaming(cmd: &mut Command, what: &str) -> Result<()> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let mut last = Vec::new();
    if let Some(err) = child.stderr.take() {
        for line in BufReader::new(err).lines() {
            let line = line.unwrap_or_default();
            events::progress(Scope::Program(what.to_string()), line.clone());
            last.push(line);
            if last.len() > 30 {
                last.remove(0);
            }
        }
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status}); last lines:\n{}", last.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved() -> ResolvedRecipe {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("images/debian-13.toml");
        match super::super::recipe::load(&p).unwrap() {
            super::super::recipe::AnyRecipe::Mmdebstrap(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mmdebstrap_argv_shape() {
        let r = resolved();
        let args = mmdebstrap_args(&r, BuildMode::Unshare, Path::new("/t/rootfs.tar"));
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args[0], "--mode=unshare");
        assert!(args[3].starts_with("--include=linux-image-amd64,systemd,"));
        let n = args.len();
        assert_eq!(
            &args[n - 3..],
            ["trixie", "/t/rootfs.tar", "http://deb.debian.org/debian"]
        );
        assert!(args
            .iter()
            .any(|a| a == "--customize-hook=rm -f \"$1\"/etc/ssh/ssh_host_*"));
        assert!(args.iter().any(|a| a
            == "--customize-hook=ln -sf /dev/null \"$1/etc/systemd/system/getty@tty1.service\""));
    }

    #[test]
    fn lock_lists_installed_only() {
        let status = "Package: a\nStatus: install ok installed\nVersion: 1.0\n\n\
                      Package: b\nStatus: deinstall ok config-files\nVersion: 2\n\n\
                      Package: linux-image-6.12-amd64\nStatus: install ok installed\nVersion: 6.12.1-1\n";
        assert_eq!(
            package_lock(status),
            vec![
                ("a".to_string(), "1.0".to_string()),
                ("linux-image-6.12-amd64".to_string(), "6.12.1-1".to_string())
            ]
        );
    }
}
