//! `scripts/install-deps` (the README's install step and `.ci/run`'s) on
//! other distributions' os-release files, with `--print`: it names each
//! distribution's packages and refuses one it has no list for.

use std::process::{Command, Output};

fn install_deps(os_release: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("os-release");
    std::fs::write(&path, os_release).unwrap();
    Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install-deps"))
        .args(args)
        .env("VMHARNESS_OS_RELEASE", &path)
        .output()
        .expect("scripts/install-deps runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn fedora_and_arch_get_their_package_names() {
    let fedora = install_deps("ID=fedora\nVERSION_ID=40\n", &["--print"]);
    assert!(fedora.status.success(), "{}", text(&fedora));
    assert!(
        text(&fedora).contains("+ dnf install -y qemu-system-x86-core qemu-img mmdebstrap"),
        "{}",
        text(&fedora)
    );
    let arch = install_deps("ID=arch\n", &["--print"]);
    assert!(arch.status.success(), "{}", text(&arch));
    assert!(text(&arch).contains("+ pacman -S"), "{}", text(&arch));
}

#[test]
fn an_unknown_distribution_is_refused_with_the_programs_to_install() {
    let o = install_deps("ID=alpine\n", &["--print"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    for program in [
        "qemu-system-x86_64",
        "qemu-img",
        "mmdebstrap",
        "e2fsprogs",
        "doctor",
    ] {
        assert!(t.contains(program), "{program} not named: {t}");
    }
}

#[test]
fn a_debian_machine_gets_apt_or_is_told_all_is_installed() {
    // This host's dpkg decides which: either way the packages are named.
    let o = install_deps(
        "ID=debian\nVERSION_CODENAME=trixie\n",
        &["--print", "--tests"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.starts_with("all installed: qemu-system-x86 qemu-utils mmdebstrap")
            || (t.contains("+ apt-get update") && t.contains("+ apt-get install -y -q")),
        "{t}"
    );
    assert!(!t.contains("backports"), "trixie needs no backports: {t}");
    let bad = install_deps("ID=debian\n", &["--frobnicate"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(text(&bad).contains("--frobnicate"));
}
