//! Per-run SSH keys: the user key the harness logs in with, and the host key
//! the guest presents (so the harness verifies it instead of trusting on
//! first use).

use anyhow::{Context, Result};
use ssh_key::{Algorithm, LineEnding, PrivateKey};
use std::path::Path;

#[derive(Clone)]
pub struct KeyPair {
    /// OpenSSH private key text.
    pub private_openssh: String,
    /// `ssh-ed25519 AAAA... comment`.
    pub public_line: String,
    /// The public key blob in SSH wire format (what a server presents).
    pub public_blob: Vec<u8>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_line", &self.public_line)
            .finish()
    }
}

impl KeyPair {
    pub fn generate(comment: &str) -> Result<Self> {
        let mut key = PrivateKey::random(&mut rand::rngs::OsRng, Algorithm::Ed25519)
            .context("generating an ed25519 key")?;
        key.set_comment(comment);
        let private_openssh = key
            .to_openssh(LineEnding::LF)
            .context("encoding private key")?
            .to_string();
        let public = key.public_key();
        let public_line = public.to_openssh().context("encoding public key")?;
        let public_blob = public.to_bytes().context("encoding public key blob")?;
        Ok(KeyPair {
            private_openssh,
            public_line,
            public_blob,
        })
    }

    /// Write the private key with mode 0600 (libssh2 reads it from a file).
    pub fn write_private(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("writing {}", path.display()))?;
        f.write_all(self.private_openssh.as_bytes())?;
        Ok(())
    }

    /// Read back a key written by `write_private`.
    pub fn read_private(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let key = PrivateKey::from_openssh(&text)
            .with_context(|| format!("parsing {}", path.display()))?;
        let public = key.public_key();
        Ok(KeyPair {
            private_openssh: text,
            public_line: public.to_openssh()?,
            public_blob: public.to_bytes()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_differ() {
        let a = KeyPair::generate("a").unwrap();
        let b = KeyPair::generate("b").unwrap();
        assert!(a.public_line.starts_with("ssh-ed25519 "));
        assert!(a.public_line.ends_with(" a"));
        assert_ne!(a.public_blob, b.public_blob);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        a.write_private(&p).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            KeyPair::read_private(&p).unwrap().public_blob,
            a.public_blob
        );
    }
}
