//! A per-run certificate authority and one server certificate it signs
//! (for the embedded endpoint's TLS name), made fresh for each run so the
//! guest trusts only this run's CA. Keys stay in memory; only the CA's
//! certificate is written out (for `AWS_CA_BUNDLE` and host clients).

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The name the guest's tool reaches the embedded endpoint by over TLS
/// (never resolved in the guest: the egress proxy maps it on the host).
pub const S3_TLS_NAME: &str = "s3.vmharness.test";

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("per-run CA: generating {what}: {source}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("per-run CA: the TLS server configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("per-run CA: writing the CA certificate to {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// This run's CA certificate and a server certificate (and key) it signed.
pub struct RunPki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_key: PrivatePkcs8KeyDer<'static>,
    /// The server certificate and key, PEM (for a server run elsewhere).
    server_pem: (String, String),
    names: Vec<String>,
}

impl std::fmt::Debug for RunPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunPki")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl RunPki {
    /// A fresh CA and a server certificate for `names` (DNS names).
    pub fn issue(names: &[&str]) -> Result<RunPki, PkiError> {
        let gen = |what| move |source| PkiError::Generate { what, source };
        let ca_key = KeyPair::generate().map_err(gen("the CA key"))?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(gen("the CA"))?;
        // A name of its own: a client trusting another run's CA then says
        // "unknown issuer", not "bad signature".
        let id: u64 = rand::random();
        ca.distinguished_name.push(
            DnType::CommonName,
            format!("vmharness per-run CA {id:016x}"),
        );
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).map_err(gen("the CA certificate"))?;
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut server =
            CertificateParams::new(names.clone()).map_err(gen("the server certificate"))?;
        server
            .distinguished_name
            .push(DnType::CommonName, names.first().map_or("", |n| n.as_str()));
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let server_key = KeyPair::generate().map_err(gen("the server key"))?;
        let issuer = Issuer::new(ca, ca_key);
        let server_cert = server
            .signed_by(&server_key, &issuer)
            .map_err(gen("the server certificate"))?;
        Ok(RunPki {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().clone(),
            server_der: server_cert.der().clone(),
            server_key: PrivatePkcs8KeyDer::from(server_key.serialize_der()),
            server_pem: (server_cert.pem(), server_key.serialize_pem()),
            names,
        })
    }

    /// The CA certificate, PEM (what `AWS_CA_BUNDLE` points at).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate, DER (for a host client's root store).
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// The server certificate and its private key, PEM: for a server that
    /// is not the embedded endpoint (a test's third-party S3 over https).
    pub fn server_pem(&self) -> (&str, &str) {
        (&self.server_pem.0, &self.server_pem.1)
    }

    /// The names the server certificate is for.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Write the CA certificate PEM to `path`.
    pub fn write_ca(&self, path: &Path) -> Result<(), PkiError> {
        std::fs::write(path, &self.ca_pem).map_err(|source| PkiError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// A TLS server configuration presenting the server certificate
    /// (HTTP/1.1 only, ring as the crypto provider).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.server_der.clone()],
                PrivateKeyDer::Pkcs8(self.server_key.clone_key()),
            )?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }

    /// A TLS client configuration trusting this CA and nothing else.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, PkiError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone())?;
        let cfg = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(cfg))
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Handshake over an in-memory pipe: the server presents `server`'s
    /// certificate, the client trusts only `trust`'s CA and asks for `name`.
    async fn handshake(server: &RunPki, trust: &RunPki, name: &str) -> Result<(), String> {
        let (c, s) = tokio::io::duplex(64 * 1024);
        let acceptor = tokio_rustls::TlsAcceptor::from(server.server_config().expect("server"));
        let connector = tokio_rustls::TlsConnector::from(trust.client_config().expect("client"));
        let srv = tokio::spawn(async move {
            let mut tls = acceptor.accept(s).await.map_err(|e| e.to_string())?;
            tls.write_all(b"hello").await.map_err(|e| e.to_string())?;
            tls.shutdown().await.map_err(|e| e.to_string())
        });
        let server_name = ServerName::try_from(name.to_owned()).expect("name");
        let mut tls = connector
            .connect(server_name, c)
            .await
            .map_err(|e| e.to_string())?;
        let mut got = Vec::new();
        tls.read_to_end(&mut got).await.map_err(|e| e.to_string())?;
        assert_eq!(got, b"hello");
        srv.await.expect("join").map_err(|e| format!("server: {e}"))
    }

    #[tokio::test]
    async fn a_client_trusting_only_the_run_ca_accepts_the_server_name() {
        let pki = RunPki::issue(&[S3_TLS_NAME]).expect("issue");
        assert!(pki.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(pki.names(), [S3_TLS_NAME]);
        handshake(&pki, &pki, S3_TLS_NAME).await.expect("trusted");
        let wrong_name = handshake(&pki, &pki, "other.vmharness.test").await;
        assert!(
            wrong_name
                .as_ref()
                .is_err_and(|e| e.contains("not valid for name")),
            "{wrong_name:?}"
        );
        let other = RunPki::issue(&[S3_TLS_NAME]).expect("issue");
        let wrong_ca = handshake(&pki, &other, S3_TLS_NAME).await;
        assert!(
            wrong_ca
                .as_ref()
                .is_err_and(|e| e.contains("UnknownIssuer")),
            "{wrong_ca:?}"
        );
    }

    #[test]
    fn the_ca_pem_is_written_where_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = RunPki::issue(&[S3_TLS_NAME]).expect("issue");
        let f = dir.path().join("s3-ca.pem");
        pki.write_ca(&f).expect("write");
        assert_eq!(std::fs::read_to_string(&f).expect("read"), pki.ca_pem());
        let e = pki
            .write_ca(&dir.path().join("no/such/dir/ca.pem"))
            .unwrap_err();
        assert!(
            e.to_string().contains("writing the CA certificate to"),
            "{e}"
        );
    }
}
