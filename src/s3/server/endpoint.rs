//! The embedded S3 endpoint as a library object: start it on 127.0.0.1,
//! hand its URL and per-run credentials to the tool, watch its journal,
//! steer its faults, shut it down.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::distributions::{Alphanumeric, DistString as _};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::faults::{FaultError, FaultRule, Faults};
use super::gate::Gate;
use super::http::{self, App};
use super::journal::{Journal, JournalError};
use super::keys::Keys;
use super::service::{Behaviour, Service};
use super::store::{Store, StoreError};

/// Access key pair of the endpoint (per run unless configured).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Fresh random credentials shaped like AWS's.
    pub fn random() -> Self {
        let mut rng = rand::thread_rng();
        Credentials {
            access_key_id: format!(
                "VMH{}",
                Alphanumeric.sample_string(&mut rng, 17).to_uppercase()
            ),
            secret_access_key: Alphanumeric.sample_string(&mut rng, 40),
        }
    }
}

/// The environment a boto3 tool needs to reach S3 at `url` (as the tool
/// sees it; None: the tool's default, AWS) with `credentials`, and nothing
/// else.
pub fn tool_env(
    url: Option<&str>,
    credentials: &Credentials,
    session_token: Option<&str>,
    region: &str,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = url
        .map(|u| ("AWS_ENDPOINT_URL_S3".to_owned(), u.to_owned()))
        .into_iter()
        .collect();
    env.extend([
        (
            "AWS_ACCESS_KEY_ID".to_owned(),
            credentials.access_key_id.clone(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_owned(),
            credentials.secret_access_key.clone(),
        ),
    ]);
    if let Some(t) = session_token {
        env.push(("AWS_SESSION_TOKEN".to_owned(), t.to_owned()));
    }
    env.push(("AWS_DEFAULT_REGION".to_owned(), region.to_owned()));
    env
}

/// How to start an endpoint. `EndpointConfig::new(dir)` gives defaults.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Store directory; reused across restarts.
    pub dir: PathBuf,
    pub bind: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    pub bucket: String,
    pub region: String,
    /// None: random per start.
    pub credentials: Option<Credentials>,
    pub restore_delay: Duration,
    pub min_part_size: u64,
    /// Where to append `s3-journal.jsonl` records; None keeps them in memory.
    pub journal_file: Option<PathBuf>,
    pub faults: Vec<FaultRule>,
    /// Serve https instead of http (None: plain http).
    pub tls: Option<EndpointTls>,
    /// Domains whose subdomains are buckets (virtual-hosted-style
    /// addressing, as on AWS); empty: path-style only.
    pub bucket_domains: Vec<String>,
}

/// How the endpoint serves https: the server configuration, the name its
/// certificate is for and the PEM of the CA that signed it (for clients).
#[derive(Clone)]
pub struct EndpointTls {
    pub server: Arc<rustls::ServerConfig>,
    pub name: String,
    pub ca_pem: String,
}

impl std::fmt::Debug for EndpointTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointTls")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_BUCKET: &str = "vmharness";
pub const DEFAULT_REGION: &str = "us-east-1";
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

impl EndpointConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        EndpointConfig {
            dir: dir.into(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            bucket: DEFAULT_BUCKET.to_owned(),
            region: DEFAULT_REGION.to_owned(),
            credentials: None,
            restore_delay: Duration::from_secs(10),
            min_part_size: MIN_PART_SIZE,
            journal_file: None,
            faults: Vec::new(),
            tls: None,
            bucket_domains: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("embedded S3 store at {dir}: {source}")]
    Store {
        dir: PathBuf,
        #[source]
        source: StoreError,
    },
    #[error("embedded S3: {op} {dir}: {source}")]
    Checkpoint {
        op: &'static str,
        dir: PathBuf,
        #[source]
        source: StoreError,
    },
    #[error("embedded S3 journal: {0}")]
    Journal(#[from] JournalError),
    #[error("embedded S3 faults: {0}")]
    Faults(#[from] FaultError),
    #[error("embedded S3: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A running embedded endpoint. Dropping it stops serving.
pub struct Endpoint {
    addr: SocketAddr,
    credentials: Credentials,
    /// The harness's key (never faulted).
    observer: Credentials,
    bucket: String,
    region: String,
    store: Arc<Store>,
    journal: Arc<Journal>,
    faults: Arc<Faults>,
    tls: Option<EndpointTls>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// Open the store, bind the port and start serving on the current
    /// tokio runtime.
    pub async fn start(config: EndpointConfig) -> Result<Endpoint, EndpointError> {
        let store =
            Store::open(&config.dir, std::slice::from_ref(&config.bucket)).map_err(|source| {
                EndpointError::Store {
                    dir: config.dir.clone(),
                    source,
                }
            })?;
        let store = Arc::new(store);
        let journal = Arc::new(Journal::new(config.journal_file.as_deref())?);
        let faults = Arc::new(Faults::new(&config.faults)?);
        let credentials = config
            .credentials
            .clone()
            .unwrap_or_else(Credentials::random);

        let service = Service {
            store: store.clone(),
            behaviour: Behaviour {
                restore_delay: config.restore_delay,
                min_part_size: config.min_part_size,
                region: config.region.clone(),
            },
        };
        // The harness's own key: its requests (verification reads, cleanup)
        // are journaled but never faulted, so a fault schedule meant for the
        // tool neither hits nor is used up by the harness.
        let observer = Credentials::random();
        let mut builder = s3s::service::S3ServiceBuilder::new(service);
        builder.set_auth(Keys::new([&credentials, &observer]));
        if !config.bucket_domains.is_empty() {
            builder.set_host(super::vhost::BucketSubdomains::new(&config.bucket_domains));
        }
        builder.set_access(Gate {
            faults: faults.clone(),
            exempt_access_key: observer.access_key_id.clone(),
        });
        let app = Arc::new(App {
            s3: builder.build(),
            journal: journal.clone(),
            tls: config
                .tls
                .as_ref()
                .map(|t| tokio_rustls::TlsAcceptor::from(t.server.clone())),
        });

        let want = SocketAddr::new(config.bind, config.port);
        let listener = TcpListener::bind(want)
            .await
            .map_err(|source| EndpointError::Bind { addr: want, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EndpointError::Bind { addr: want, source })?;
        let (shutdown, rx) = watch::channel(false);
        let task = tokio::spawn(http::serve(listener, app, rx));
        Ok(Endpoint {
            addr,
            credentials,
            observer,
            bucket: config.bucket,
            region: config.region,
            store,
            journal,
            faults,
            tls: config.tls,
            shutdown,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT` as seen from the host; over TLS
    /// `https://NAME:PORT` (NAME is the certificate's: a host client maps it
    /// to [`Endpoint::addr`], see [`Endpoint::tls`]).
    pub fn url(&self) -> String {
        match &self.tls {
            Some(t) => format!("https://{}:{}", t.name, self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }

    /// How it serves https (None: plain http).
    pub fn tls(&self) -> Option<&EndpointTls> {
        self.tls.as_ref()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The harness's own credentials: requests signed with them are never
    /// given an injected fault.
    pub fn observer_credentials(&self) -> &Credentials {
        &self.observer
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    pub fn faults(&self) -> &Arc<Faults> {
        &self.faults
    }

    pub fn dir(&self) -> &Path {
        self.store.root()
    }

    /// The file holding the current bytes of `key` in the endpoint's
    /// bucket (for hashing archived objects without a restore). The file is
    /// immutable; a later overwrite of the key writes a new one.
    pub fn store_path_of(&self, key: &str) -> Option<PathBuf> {
        let bucket = self.store.bucket(&self.bucket).ok()?;
        let meta = bucket.get(key)?;
        Some(bucket.data_path(&meta))
    }

    /// The stored metadata and bytes of `key` (None: no such object).
    pub fn object(&self, key: &str) -> Option<(super::store::ObjectMeta, Vec<u8>)> {
        let bucket = self.store.bucket(&self.bucket).ok()?;
        let (meta, mut f) = bucket.open(key).ok()?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut bytes).ok()?;
        Some(((*meta).clone(), bytes))
    }

    /// Put `bytes` in place of the object `template` describes (its key,
    /// attributes and ETag), bypassing the S3 API and the journal: the
    /// corruption and missing-object faults, and putting things back after them.
    pub async fn tamper(
        &self,
        template: &super::store::ObjectMeta,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let bucket = self.store.bucket(&self.bucket)?;
        bucket.replace_bytes(template, bytes).await.map(|_| ())
    }

    /// Remove `key` bypassing the S3 API and the journal (an object that
    /// vanished); true when it existed.
    pub async fn vanish(&self, key: &str) -> Result<bool, StoreError> {
        self.store.bucket(&self.bucket)?.delete(key).await
    }

    /// Save the bucket as it is now (objects, metadata, archive-restore
    /// state, open multipart uploads and their parts) in `dir`, replacing a
    /// checkpoint already there. Hard links, no copies: O(files). Waits for
    /// writes in progress and holds off new ones meanwhile.
    pub async fn checkpoint(&self, dir: &Path) -> Result<(), EndpointError> {
        self.store
            .checkpoint(dir)
            .await
            .map_err(|source| EndpointError::Checkpoint {
                op: "checkpoint to",
                dir: dir.to_owned(),
                source,
            })
    }

    /// Make the bucket hold again what it held at the checkpoint in `dir`
    /// (which stays valid: it can be rolled back to again). Meant for the
    /// time between scenarios, when no request is in flight; writes are
    /// held off while it runs. The endpoint keeps serving on the same port
    /// with the same credentials; the journal and the fault schedule are
    /// not rolled back (the journal is the record of all the tool did).
    pub async fn rollback(&self, dir: &Path) -> Result<(), EndpointError> {
        self.store
            .rollback(dir)
            .await
            .map_err(|source| EndpointError::Checkpoint {
                op: "rollback to",
                dir: dir.to_owned(),
                source,
            })
    }

    /// Environment for a boto3 tool talking to this endpoint through
    /// `url` (the address the guest sees; pass `self.url()` on the host).
    pub fn tool_env(&self, url: &str) -> Vec<(String, String)> {
        tool_env(Some(url), &self.credentials, None, &self.region)
    }

    /// Stop accepting, drop open connections and wait for the server task.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_env_is_the_url_the_keys_and_the_region() {
        let creds = Credentials {
            access_key_id: "AK".into(),
            secret_access_key: "SK".into(),
        };
        let names = |env: Vec<(String, String)>| -> Vec<String> {
            env.into_iter().map(|(k, _)| k).collect()
        };
        assert_eq!(
            names(tool_env(
                Some("http://10.0.2.100:9000"),
                &creds,
                None,
                "r-1"
            )),
            [
                "AWS_ENDPOINT_URL_S3",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION"
            ]
        );
        let env = tool_env(Some("http://x"), &creds, Some("T"), "r-1");
        assert!(env.contains(&("AWS_SESSION_TOKEN".into(), "T".into())));
        assert!(env.contains(&("AWS_SECRET_ACCESS_KEY".into(), "SK".into())));
    }
}
