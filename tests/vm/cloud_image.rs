//! The cloud-image recipe kind end to end, offline: the locally built image
//! is served from a local HTTP server as if it were Debian's cloud image
//! (with a SHA512SUMS beside it), provisioned into a fresh cache (nothing
//! is left to install: it has the packages), then a VM runs from the
//! provisioned entry like from a built one. Under TCG: ~4 minutes (two cold
//! boots, the provisioning one and `vm up --cold-boot`; 230-256 s measured
//! with other VMs sharing the 2 cores).

use crate::common::*;
use crate::http_server::Server;
use std::path::Path;
use vmharness::image::{cache::Entry, download, recipe};

const DIR: &str = "/images/cloud/trixie/20260101-0000";
const FILE: &str = "debian-13-generic-amd64-20260101-0000.qcow2";

/// The entry of the default recipe (built by `ensure_image`).
fn built_image() -> Entry {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("images/debian-13.toml");
    let r = recipe::load(&p).expect("default recipe");
    let dir = vmharness::paths::images_dir().join(r.entry_name());
    Entry::open(&dir)
        .expect("reading the built image")
        .unwrap_or_else(|| panic!("no built image at {}", dir.display()))
}

fn cloud_entries(cache: &Path) -> Vec<Entry> {
    vmharness::image::cache::list(&cache.join("images")).expect("listing the test cache")
}

#[test]
fn cloud_recipe_provisions_the_served_image_and_a_vm_runs_from_it() {
    if !vm_tests_enabled() {
        return;
    }
    ensure_image();
    let built = built_image();
    let runs = runs_dir();
    let cache = runs.path().join("cache");
    let sha = download::sha512_of(&built.base()).expect("hashing the built image");
    let server = Server::start(vec![
        (format!("{DIR}/{FILE}"), built.base().into()),
        (
            format!("{DIR}/SHA512SUMS"),
            format!("{sha}  {FILE}\n").into_bytes().into(),
        ),
    ]);

    // An overlay with a marker, and an fstab that `overlay_skip` must keep out.
    let overlay = runs.path().join("overlay");
    std::fs::create_dir_all(overlay.join("etc/vmharness")).unwrap();
    std::fs::write(overlay.join("etc/vmharness/cloud-marker"), "provisioned\n").unwrap();
    std::fs::write(overlay.join("etc/fstab"), "# skipped by the recipe\n").unwrap();
    let recipe_path = runs.path().join("cloud-test.toml");
    std::fs::write(
        &recipe_path,
        format!(
            "name = \"cloud-test\"\nsource = \"cloud\"\nsuite = \"trixie\"\n\
             url = \"{}\"\nsha512_sums_url = \"{}\"\n\
             # The served image is a built one: root on the whole disk, no bootloader.\n\
             root = \"/dev/vda\"\nfirst_boot_kernel = \"{}\"\nfirst_boot_initrd = \"{}\"\n\
             packages = [\"btrfs-progs\"]\noverlay = \"{}\"\noverlay_skip = [\"etc/fstab\"]\n\
             mask_units = [\"vmh-cloud-test.service\"]\nenable_units = [\"systemd-networkd.service\"]\n",
            server.url(&format!("{DIR}/{FILE}")),
            server.url(&format!("{DIR}/SHA512SUMS")),
            built.kernel().display(),
            built.initrd().display(),
            overlay.display(),
        ),
    )
    .unwrap();
    let cache_env = cache.display().to_string();
    let env = [("VMHARNESS_CACHE", cache_env.as_str())];
    let recipe_arg = recipe_path.display().to_string();

    let started = std::time::Instant::now();
    let build = vmharness_env(runs.path(), &env, &["image", "build", &recipe_arg]);
    assert!(
        build.status.success(),
        "image build of the cloud recipe failed"
    );
    eprintln!(
        "cloud image provisioned in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    let asked: Vec<(String, u16)> = server
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.status))
        .collect();
    assert_eq!(
        asked,
        [
            (format!("{DIR}/SHA512SUMS"), 200),
            (format!("{DIR}/{FILE}"), 200)
        ]
    );

    // The entry has the built image's layout and its own content.
    let entries = cloud_entries(&cache);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry.meta.name, "cloud-test");
    assert_eq!(entry.meta.root, "/dev/vda");
    assert_eq!(entry.meta.kernel_release, built.meta.kernel_release);
    let lock = std::fs::read_to_string(entry.lock()).expect("packages.lock");
    assert!(
        lock.lines().any(|l| l.starts_with("btrfs-progs ")),
        "{lock}"
    );
    assert_eq!(
        lock,
        std::fs::read_to_string(built.lock()).unwrap(),
        "the dpkg-query of the guest lists what the built image holds"
    );
    assert_eq!(
        std::fs::read(entry.kernel()).unwrap(),
        std::fs::read(built.kernel()).unwrap(),
        "vmlinuz was copied out of the guest"
    );
    assert!(std::fs::metadata(entry.initrd()).unwrap().len() > 1 << 20);
    let info = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(entry.base())
        .output()
        .expect("qemu-img info");
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("qemu-img json");
    assert_eq!(info["format"], "qcow2");
    assert!(
        info.get("backing-filename").is_none(),
        "base.qcow2 stands alone: {info}"
    );
    let downloads: Vec<String> = std::fs::read_dir(cache.join("downloads"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(
        downloads
            .iter()
            .any(|n| n == &format!("{}-{FILE}", &sha[..32])),
        "{downloads:?}"
    );

    // A second build downloads nothing.
    let again = vmharness_env(runs.path(), &env, &["image", "build", &recipe_arg]);
    assert!(again.status.success());
    assert!(stdout(&again).contains(&entry.meta.key));
    assert_eq!(server.requests().len(), 2, "nothing fetched again");

    // A VM runs from the provisioned image like from a built one.
    let profile = runs.path().join("profile.toml");
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/test.toml"))
            .unwrap()
            .replace(
                "image = \"debian-13\"",
                &format!("image = \"{recipe_arg}\""),
            );
    assert!(text.contains(&recipe_arg));
    std::fs::write(&profile, text).unwrap();
    let profile_arg = profile.display().to_string();
    let started = std::time::Instant::now();
    let up = vmharness_env(
        runs.path(),
        &env,
        &["vm", "up", "--cold-boot", "--profile", &profile_arg],
    );
    assert!(up.status.success(), "vm up from the cloud image failed");
    eprintln!(
        "vm up --cold-boot in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    let check = vmharness_env(
        runs.path(),
        &env,
        &[
            "vm",
            "ssh",
            "--",
            "btrfs --version; cat /etc/vmharness/cloud-marker; cat /etc/fstab; \
             readlink /etc/systemd/system/vmh-cloud-test.service; \
             cloud-init status || [ $? = 2 ]",
        ],
    );
    let out = stdout(&check);
    assert!(check.status.success(), "{out}");
    assert!(out.contains("btrfs-progs v"), "{out}");
    assert!(
        out.contains("provisioned"),
        "the overlay was applied: {out}"
    );
    assert!(
        !out.contains("skipped by the recipe"),
        "overlay_skip kept etc/fstab out: {out}"
    );
    assert!(out.contains("/dev/null"), "the unit was masked: {out}");
    assert!(
        out.contains("status: done"),
        "cloud-init ran afresh from the run's seed: {out}"
    );
    let down = vmharness_env(runs.path(), &env, &["vm", "down"]);
    assert!(down.status.success());
}
