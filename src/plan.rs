//! From a validated profile and command-line overrides to the immutable
//! plan of one VM, and ([`s3`]) from the profile's `[s3]` to the run's S3.

use crate::accel::Accel;
use crate::profile::Profile;
use crate::vm::VmConfig;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod s3;

/// What the command line may override (serialisable: `vm up` hands it to
/// its supervisor).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BootOverrides {
    pub profile: Option<PathBuf>,
    pub accel: Option<Accel>,
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    pub keep: bool,
    /// Boot the kernel instead of resuming from the saved VM state.
    #[serde(default)]
    pub cold_boot: bool,
}

/// Everything needed to boot one VM and give it its fixture disk
/// (serialisable: `vm up` hands it to its supervisor).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BootPlan {
    pub vm: VmConfig,
    pub accel_reason: String,
    pub fixture_size_mib: u64,
    pub fixture_serial: String,
    pub image_name: String,
    pub kernel_release: String,
}

/// Load the profile the overrides name (or the default).
pub fn load_profile(o: &BootOverrides) -> Result<Profile> {
    crate::profile::load(&crate::profile::path_or_default(o.profile.as_deref())?)
}

/// Build the plan of one VM booted from `image` (the profile's, made sure
/// of by [`crate::image::ensure`]), with the guest's forwards to the host
/// (`guestfwd` rules: the run's S3); nothing changes it afterwards.
pub fn plan_boot(
    profile: &Profile,
    image: &crate::image::cache::Entry,
    o: &BootOverrides,
    run_dir: &Path,
    run_id: &str,
    guestfwd: Vec<String>,
) -> Result<BootPlan> {
    let (kernel, initrd, kernel_release) = match (&o.kernel, &o.initrd) {
        (Some(k), Some(i)) => {
            for p in [k, i] {
                if !p.is_file() {
                    bail!("--kernel/--initrd: {} is not a file", p.display());
                }
            }
            (
                absolute(k)?,
                absolute(i)?,
                format!("custom ({})", k.display()),
            )
        }
        (None, None) => (
            image.kernel(),
            image.initrd(),
            image.meta.kernel_release.clone(),
        ),
        _ => bail!("--kernel and --initrd go together"),
    };
    let (accel, accel_reason) = profile.accel(o.accel);
    let factor = accel.timeout_factor();
    Ok(BootPlan {
        vm: VmConfig {
            run_dir: absolute(run_dir)?,
            run_id: run_id.to_string(),
            base_image: image.base(),
            kernel,
            initrd,
            accel,
            memory_mib: profile.vm.memory_mib,
            cpus: profile.vm.cpus,
            boot_timeout: Duration::from_secs(profile.vm.boot_timeout_secs * u64::from(factor)),
            command_timeout: Duration::from_secs(profile.vm.command_timeout_secs),
            disk_timeout: Duration::from_secs(profile.vm.disk_timeout_secs * u64::from(factor)),
            keep_disks: o.keep,
            guestfwd,
            extra_append: String::new(),
            root_device: image.meta.root.clone(),
            internet: false,
            saved_states: (!o.cold_boot).then(crate::paths::states_dir),
        },
        accel_reason,
        fixture_size_mib: profile.btrfs.disk_size_mib,
        fixture_serial: profile.btrfs.disk_serial.clone(),
        image_name: format!("{} {}", image.meta.name, image.meta.key),
        kernel_release,
    })
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}
