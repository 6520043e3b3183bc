//! The cloud-init NoCloud seed: a small FAT image labelled CIDATA holding
//! `user-data` and `meta-data`, written without root or external tools.

use super::keys::KeyPair;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// Indent every line of a block for YAML's literal style.
fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// The user-data document: the per-run host key and the key root logs in with.
pub fn user_data(host: &KeyPair, user: &KeyPair) -> String {
    format!(
        "#cloud-config\n\
         # Written by vmharness for one run.\n\
         users: []\n\
         disable_root: false\n\
         ssh_deletekeys: true\n\
         ssh_genkeytypes: []\n\
         ssh_keys:\n  ed25519_private: |\n{private}  ed25519_public: {public}\n\
         ssh_authorized_keys:\n  - {user}\n",
        private = indent(&host.private_openssh, 4),
        public = host.public_line,
        user = user.public_line,
    )
}

/// The meta-data document.
pub fn meta_data(instance_id: &str) -> String {
    format!("instance-id: {instance_id}\nlocal-hostname: vmharness\n")
}

/// Write the seed image at `path`.
pub fn write_seed(path: &Path, user_data: &str, meta_data: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .with_context(|| format!("creating seed image {}", path.display()))?;
    file.set_len(2 * 1024 * 1024)?;
    let opts = fatfs::FormatVolumeOptions::new().volume_label(*b"CIDATA     ");
    fatfs::format_volume(fscommon::BufStream::new(&mut file), opts)
        .context("formatting the seed image")?;
    let fs = fatfs::FileSystem::new(fscommon::BufStream::new(&mut file), fatfs::FsOptions::new())
        .context("opening the seed image")?;
    for (name, body) in [("user-data", user_data), ("meta-data", meta_data)] {
        let mut f = fs
            .root_dir()
            .create_file(name)
            .with_context(|| format!("seed: creating {name}"))?;
        f.truncate()?;
        f.write_all(body.as_bytes())
            .with_context(|| format!("seed: writing {name}"))?;
        f.flush()?;
    }
    fs.unmount().context("closing the seed image")?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn fixed_keys() -> (KeyPair, KeyPair) {
        let host = KeyPair {
            private_openssh: "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\nBBBB\n-----END OPENSSH PRIVATE KEY-----\n".into(),
            public_line: "ssh-ed25519 HOSTPUB host".into(),
            public_blob: vec![],
        };
        let user = KeyPair {
            private_openssh: String::new(),
            public_line: "ssh-ed25519 USERPUB user".into(),
            public_blob: vec![],
        };
        (host, user)
    }

    #[test]
    fn user_data_golden() {
        let (host, user) = fixed_keys();
        assert_eq!(
            user_data(&host, &user),
            "#cloud-config\n\
             # Written by vmharness for one run.\n\
             users: []\n\
             disable_root: false\n\
             ssh_deletekeys: true\n\
             ssh_genkeytypes: []\n\
             ssh_keys:\n\
             \x20 ed25519_private: |\n\
             \x20   -----BEGIN OPENSSH PRIVATE KEY-----\n\
             \x20   AAAA\n\
             \x20   BBBB\n\
             \x20   -----END OPENSSH PRIVATE KEY-----\n\
             \x20 ed25519_public: ssh-ed25519 HOSTPUB host\n\
             ssh_authorized_keys:\n\
             \x20 - ssh-ed25519 USERPUB user\n"
        );
    }

    #[test]
    fn seed_image_is_fat_labelled_cidata_with_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("seed.img");
        write_seed(&p, "#cloud-config\n", &meta_data("vmh-1")).unwrap();
        let file = std::fs::File::open(&p).unwrap();
        let fs = fatfs::FileSystem::new(fscommon::BufStream::new(file), fatfs::FsOptions::new())
            .unwrap();
        assert_eq!(fs.volume_label().trim_end(), "CIDATA");
        let mut s = String::new();
        fs.root_dir()
            .open_file("meta-data")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "instance-id: vmh-1\nlocal-hostname: vmharness\n");
        let mut u = String::new();
        fs.root_dir()
            .open_file("user-data")
            .unwrap()
            .read_to_string(&mut u)
            .unwrap();
        assert_eq!(u, "#cloud-config\n");
    }
}
