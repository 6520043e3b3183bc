//! The QEMU command line, built by a pure function from a plain description.

use crate::accel::Accel;
use std::ffi::OsString;
use std::path::PathBuf;

/// Everything that shapes the QEMU command line of one VM.
#[derive(Debug, Clone)]
pub struct QemuSpec {
    pub name: String,
    pub accel: Accel,
    pub memory_mib: u32,
    pub cpus: u32,
    pub source: BootSource,
    pub overlay: PathBuf,
    pub ssh_port: u16,
    pub qmp_socket: PathBuf,
    pub console_log: PathBuf,
    /// The run's SSH public key, padded to [`RUN_KEY_FW_CFG_SIZE`], given to
    /// the guest as the firmware file [`RUN_KEY_FW_CFG`] at every start: a
    /// guest resumed from a saved state reads the key sshd accepts from
    /// there (see `vm::resume`), so its first login is already the run's.
    pub run_key: PathBuf,
    /// `guestfwd` rules (`tcp:ADDR:PORT-cmd:...`), the only way out of the
    /// restricted user network.
    pub guestfwd: Vec<String>,
    /// Let the guest reach the outside (only the boot that provisions a
    /// cloud image, to install packages); else the network is restricted.
    pub internet: bool,
}

/// How the guest starts: the one difference between a cold boot and a resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootSource {
    /// Boot this kernel with the cloud-init seed attached (PCI slot 5).
    Kernel {
        kernel: PathBuf,
        initrd: PathBuf,
        append: String,
        seed: PathBuf,
    },
    /// Boot through the disk's own bootloader (SeaBIOS, then e.g. grub),
    /// the seed attached as for `Kernel`: the provisioning boot of a cloud
    /// image.
    Firmware { seed: PathBuf },
    /// Wait for a saved state (`-incoming defer`); the seed was unplugged
    /// before it was saved, so slot 5 is empty. The kernel the state was
    /// booted with is given again (the guest runs from its saved memory and
    /// never reads it): the firmware files then match the saved guest's,
    /// whose driver found each file by its position when it booted.
    Incoming {
        kernel: PathBuf,
        initrd: PathBuf,
        append: String,
    },
    /// Boot this kernel again on a disk that was already provisioned (after a
    /// power cut): no seed, `cloud-init=disabled` appended to `append` (with
    /// no seed cloud-init would become a new instance and regenerate the
    /// host keys), and the fixture, if any, attached at boot in slot 7.
    Reboot {
        kernel: PathBuf,
        initrd: PathBuf,
        append: String,
        fixture: Option<BootDisk>,
    },
}

/// A qcow2 disk attached at boot as the fixture (the top layer of its
/// checkpoint chain: QEMU opens the backing files its header names): node `fixture`, device
/// `dev-fixture` (the names hot-plug uses, so it unplugs the same way), at a
/// pinned PCI address. Unpinned it would take slot 2, enumerate before the
/// root disk and become /dev/vda: the boot would fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootDisk {
    pub file: PathBuf,
    /// The virtio serial (`/dev/disk/by-id/virtio-<serial>`).
    pub serial: String,
}

/// The PCI slot of a fixture attached at boot.
pub const FIXTURE_BOOT_ADDR: &str = "0x7";

/// The id of the VM's one netdev (what QMP `set_link` names).
pub const NETDEV: &str = "net0";

/// The QMP node name of the fixture disk (its device is `dev-fixture`).
pub const FIXTURE_NODE: &str = "fixture";

/// The kernel command line for a guest booted from our images, whose root
/// filesystem is on `root` (`/dev/vda` for a built image).
pub fn kernel_append(root: &str, extra: &str) -> String {
    let base = format!(
        "root={root} rw rootfstype=ext4 console=ttyS0,115200 loglevel=4 \
         panic=-1 fsck.mode=skip ci.ds=NoCloud systemd.show_status=1 \
         systemd.log_color=0 net.ifnames=1"
    );
    if extra.is_empty() {
        base
    } else {
        format!("{base} {extra}")
    }
}

/// The kernel command line of a reboot on provisioned disks: cloud-init
/// stays off, so the host keys and `authorized_keys` stay as they are.
pub fn reboot_append(append: &str) -> String {
    format!("{append} cloud-init=disabled")
}

/// The argv after the program name.
pub fn qemu_args(s: &QemuSpec) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |x: &str| a.push(x.into());
    push("-name");
    push(&format!("{},process={}", s.name, s.name));
    push("-nodefaults");
    push("-no-user-config");
    push("-no-reboot");
    push("-display");
    push("none");
    push("-machine");
    push("pc");
    push("-accel");
    push(match s.accel {
        Accel::Kvm => "kvm",
        Accel::Tcg => "tcg,thread=multi",
    });
    if s.accel == Accel::Kvm {
        push("-cpu");
        push("host");
    }
    push("-m");
    push(&s.memory_mib.to_string());
    push("-smp");
    push(&s.cpus.to_string());
    match &s.source {
        BootSource::Kernel {
            kernel,
            initrd,
            append,
            ..
        }
        | BootSource::Reboot {
            kernel,
            initrd,
            append,
            ..
        }
        | BootSource::Incoming {
            kernel,
            initrd,
            append,
        } => {
            push("-kernel");
            push(&kernel.to_string_lossy());
            push("-initrd");
            push(&initrd.to_string_lossy());
            push("-append");
            if matches!(s.source, BootSource::Reboot { .. }) {
                push(&reboot_append(append));
            } else {
                push(append);
            }
        }
        BootSource::Firmware { .. } => {}
    }
    // NIC first, at a pinned address, so its name never changes (ens3).
    let mut netdev = format!(
        "user,id={NETDEV},restrict={},hostfwd=tcp:127.0.0.1:{}-:22",
        if s.internet { "off" } else { "on" },
        s.ssh_port
    );
    for fwd in &s.guestfwd {
        netdev.push_str(",guestfwd=");
        netdev.push_str(fwd);
    }
    push("-netdev");
    push(&netdev);
    push("-device");
    push(&format!("virtio-net-pci,netdev={NETDEV},addr=0x3"));
    // Root disk before the seed so that it is /dev/vda.
    push("-blockdev");
    push(&format!(
        "driver=qcow2,node-name=root,discard=unmap,file.driver=file,file.filename={}",
        opt_value(&s.overlay.to_string_lossy())
    ));
    push("-device");
    push(if matches!(s.source, BootSource::Firmware { .. }) {
        "virtio-blk-pci,drive=root,addr=0x4,bootindex=0"
    } else {
        "virtio-blk-pci,drive=root,addr=0x4"
    });
    if let BootSource::Kernel { seed, .. } | BootSource::Firmware { seed } = &s.source {
        push("-blockdev");
        push(&format!(
            "driver=raw,node-name={SEED_NODE},read-only=on,file.driver=file,file.filename={}",
            opt_value(&seed.to_string_lossy())
        ));
        push("-device");
        push(&format!(
            "virtio-blk-pci,id=dev-{SEED_NODE},drive={SEED_NODE},addr=0x5"
        ));
    }
    push("-device");
    push("virtio-rng-pci,addr=0x6");
    if let BootSource::Reboot {
        fixture: Some(disk),
        ..
    } = &s.source
    {
        push("-blockdev");
        push(&format!(
            "driver=qcow2,node-name={FIXTURE_NODE},discard=unmap,file.driver=file,file.filename={}",
            opt_value(&disk.file.to_string_lossy())
        ));
        push("-device");
        push(&format!(
            "virtio-blk-pci,id=dev-{FIXTURE_NODE},drive={FIXTURE_NODE},serial={},addr={FIXTURE_BOOT_ADDR}",
            disk.serial
        ));
    }
    // A new generation id at every start: a guest resumed from a saved state
    // reseeds its random number generator instead of repeating the last run's.
    push("-device");
    push("vmgenid,guid=auto");
    push("-fw_cfg");
    push(&format!(
        "name={RUN_KEY_FW_CFG},file={}",
        opt_value(&s.run_key.to_string_lossy())
    ));
    push("-qmp");
    push(&format!(
        "unix:{},server=on,wait=off",
        s.qmp_socket.to_string_lossy()
    ));
    // Appended to: the harness may write a header line first (a resume's).
    push("-chardev");
    push(&format!(
        "file,id=console,path={},append=on",
        opt_value(&s.console_log.to_string_lossy())
    ));
    push("-serial");
    push("chardev:console");
    if matches!(s.source, BootSource::Incoming { .. }) {
        push("-incoming");
        push("defer");
    }
    a
}

/// The firmware file (fw_cfg) that holds the run's SSH public key; the
/// guest sees it as `/sys/firmware/qemu_fw_cfg/by_name/<name>/raw`.
pub const RUN_KEY_FW_CFG: &str = "opt/vmharness/ssh-key";

/// Where the guest reads that file (the fw_cfg sysfs driver's path).
pub fn run_key_guest_path() -> String {
    format!("/sys/firmware/qemu_fw_cfg/by_name/{RUN_KEY_FW_CFG}/raw")
}

/// The size of that file, whatever the key: the guest learns the size when
/// it boots, and a resumed guest must read every run's whole key with it.
pub const RUN_KEY_FW_CFG_SIZE: usize = 1024;

/// A value inside a QEMU option list (`key=value,...`): commas doubled.
pub fn opt_value(v: &str) -> String {
    v.replace(',', ",,")
}

/// The QMP node name of the cloud-init seed (its device is `dev-seed`).
pub const SEED_NODE: &str = "seed";

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(accel: Accel) -> QemuSpec {
        QemuSpec {
            name: "vmh-test".into(),
            accel,
            memory_mib: 1024,
            cpus: 2,
            source: BootSource::Kernel {
                kernel: "/c/vmlinuz".into(),
                initrd: "/c/initrd.img".into(),
                append: kernel_append("/dev/vda", ""),
                seed: "/r/seed.img".into(),
            },
            overlay: "/r/overlay.qcow2".into(),
            ssh_port: 40022,
            qmp_socket: "/r/qmp.sock".into(),
            console_log: "/r/console.log".into(),
            run_key: "/r/run-key.fw_cfg".into(),
            guestfwd: vec![],
            internet: false,
        }
    }

    fn strings(v: Vec<OsString>) -> Vec<String> {
        v.into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn golden_tcg() {
        let got = strings(qemu_args(&spec(Accel::Tcg)));
        let want = [
            "-name", "vmh-test,process=vmh-test", "-nodefaults", "-no-user-config", "-no-reboot",
            "-display", "none", "-machine", "pc", "-accel", "tcg,thread=multi", "-m", "1024",
            "-smp", "2", "-kernel", "/c/vmlinuz", "-initrd", "/c/initrd.img", "-append",
            "root=/dev/vda rw rootfstype=ext4 console=ttyS0,115200 loglevel=4 panic=-1 \
             fsck.mode=skip ci.ds=NoCloud systemd.show_status=1 systemd.log_color=0 net.ifnames=1",
            "-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22",
            "-device", "virtio-net-pci,netdev=net0,addr=0x3",
            "-blockdev", "driver=qcow2,node-name=root,discard=unmap,file.driver=file,file.filename=/r/overlay.qcow2",
            "-device", "virtio-blk-pci,drive=root,addr=0x4",
            "-blockdev", "driver=raw,node-name=seed,read-only=on,file.driver=file,file.filename=/r/seed.img",
            "-device", "virtio-blk-pci,id=dev-seed,drive=seed,addr=0x5",
            "-device", "virtio-rng-pci,addr=0x6",
            "-device", "vmgenid,guid=auto",
            "-fw_cfg", "name=opt/vmharness/ssh-key,file=/r/run-key.fw_cfg",
            "-qmp", "unix:/r/qmp.sock,server=on,wait=off",
            "-chardev", "file,id=console,path=/r/console.log,append=on",
            "-serial", "chardev:console",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn commas_in_paths_are_doubled_inside_option_lists() {
        let mut s = spec(Accel::Tcg);
        s.overlay = "/r,x/overlay.qcow2".into();
        s.console_log = "/r,x/console.log".into();
        let got = strings(qemu_args(&s));
        assert!(
            got.iter()
                .any(|a| a.ends_with("file.filename=/r,,x/overlay.qcow2")),
            "{got:?}"
        );
        assert!(
            got.contains(&"file,id=console,path=/r,,x/console.log,append=on".to_string()),
            "{got:?}"
        );
    }

    #[test]
    fn kvm_differs_only_in_accel_and_cpu() {
        let tcg = strings(qemu_args(&spec(Accel::Tcg)));
        let kvm = strings(qemu_args(&spec(Accel::Kvm)));
        let i = kvm.iter().position(|a| a == "-accel").unwrap();
        assert_eq!(&kvm[i..i + 4], ["-accel", "kvm", "-cpu", "host"]);
        let mut kvm_wo = kvm.clone();
        kvm_wo.drain(i + 1..i + 4);
        let mut tcg_wo = tcg.clone();
        tcg_wo.remove(i + 1);
        assert_eq!(kvm_wo, tcg_wo);
    }

    /// The saved guest's firmware files must be the ones it booted with
    /// (the kernel boot adds one): only the seed and `-incoming` differ.
    #[test]
    fn resume_differs_only_in_the_seed_and_incoming() {
        let cold = strings(qemu_args(&spec(Accel::Tcg)));
        let mut s = spec(Accel::Tcg);
        s.source = BootSource::Incoming {
            kernel: "/c/vmlinuz".into(),
            initrd: "/c/initrd.img".into(),
            append: kernel_append("/dev/vda", ""),
        };
        let resume = strings(qemu_args(&s));
        let mut expected: Vec<String> = Vec::new();
        let mut i = 0;
        while i < cold.len() {
            let seed_pair = ["-blockdev", "-device"].contains(&cold[i].as_str())
                && cold.get(i + 1).is_some_and(|v| v.contains("seed"));
            if seed_pair {
                i += 2;
            } else {
                expected.push(cold[i].clone());
                i += 1;
            }
        }
        expected.extend(["-incoming".to_string(), "defer".to_string()]);
        assert_eq!(resume, expected);
    }

    fn reboot(fixture: Option<BootDisk>) -> QemuSpec {
        let mut s = spec(Accel::Tcg);
        s.source = BootSource::Reboot {
            kernel: "/c/vmlinuz".into(),
            initrd: "/c/initrd.img".into(),
            append: kernel_append("/dev/vda", ""),
            fixture,
        };
        s
    }

    #[test]
    fn reboot_has_no_seed_and_disables_cloud_init() {
        let cold = strings(qemu_args(&spec(Accel::Tcg)));
        let got = strings(qemu_args(&reboot(None)));
        assert!(!got.iter().any(|a| a.contains("seed")), "{got:?}");
        let append = &got[got.iter().position(|a| a == "-append").unwrap() + 1];
        assert_eq!(
            *append,
            format!("{} cloud-init=disabled", kernel_append("/dev/vda", ""))
        );
        // Otherwise the cold boot's argv without the seed's two options.
        let mut want: Vec<String> = Vec::new();
        let mut i = 0;
        while i < cold.len() {
            if cold.get(i + 1).is_some_and(|v| v.contains("seed")) {
                i += 2;
                continue;
            }
            want.push(if cold[i] == kernel_append("/dev/vda", "") {
                append.clone()
            } else {
                cold[i].clone()
            });
            i += 1;
        }
        assert_eq!(got, want);
    }

    #[test]
    fn reboot_attaches_the_fixture_at_a_pinned_slot_after_the_root_disk() {
        let got = strings(qemu_args(&reboot(Some(BootDisk {
            file: "/r/fixture.qcow2".into(),
            serial: "vmh-fixture".into(),
        }))));
        let dev = "virtio-blk-pci,id=dev-fixture,drive=fixture,serial=vmh-fixture,addr=0x7";
        let node = "driver=qcow2,node-name=fixture,discard=unmap,file.driver=file,file.filename=/r/fixture.qcow2";
        let at = |w: &str| got.iter().position(|a| a == w).unwrap();
        assert_eq!(got[at(node) - 1], "-blockdev");
        assert_eq!(got[at(dev) - 1], "-device");
        assert!(at(dev) > at("virtio-blk-pci,drive=root,addr=0x4"));
        // Nothing else differs from a reboot without a fixture.
        let mut rest = got.clone();
        rest.drain(at(dev) - 1..=at(dev));
        rest.drain(at(node) - 1..=at(node));
        assert_eq!(rest, strings(qemu_args(&reboot(None))));
    }

    #[test]
    fn firmware_boot_drops_the_kernel_and_boots_the_root_disk() {
        let cold = strings(qemu_args(&spec(Accel::Tcg)));
        let mut s = spec(Accel::Tcg);
        s.source = BootSource::Firmware {
            seed: "/r/seed.img".into(),
        };
        let got = strings(qemu_args(&s));
        let mut want: Vec<String> = Vec::new();
        let mut i = 0;
        while i < cold.len() {
            if ["-kernel", "-initrd", "-append"].contains(&cold[i].as_str()) {
                i += 2;
                continue;
            }
            want.push(if cold[i] == "virtio-blk-pci,drive=root,addr=0x4" {
                "virtio-blk-pci,drive=root,addr=0x4,bootindex=0".into()
            } else {
                cold[i].clone()
            });
            i += 1;
        }
        assert_eq!(got, want);
    }

    #[test]
    fn the_root_device_and_the_open_network_are_settings() {
        assert!(kernel_append("/dev/vda1", "x=1").starts_with("root=/dev/vda1 rw "));
        assert!(kernel_append("/dev/vda1", "x=1").ends_with(" x=1"));
        let mut s = spec(Accel::Tcg);
        s.internet = true;
        let a = strings(qemu_args(&s));
        assert!(
            a.contains(&"user,id=net0,restrict=off,hostfwd=tcp:127.0.0.1:40022-:22".to_string())
        );
    }

    #[test]
    fn guestfwd_rules_join_the_restricted_netdev() {
        let mut s = spec(Accel::Tcg);
        s.guestfwd = vec!["tcp:10.0.2.100:80-cmd:relay 1".into()];
        let a = strings(qemu_args(&s));
        assert!(a.contains(
            &"user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22,guestfwd=tcp:10.0.2.100:80-cmd:relay 1".to_string()
        ));
    }
}
