//! The running proxy: accept loop, one task per client connection. Each
//! reads the request head, asks [`decide`], then refuses (403 and the
//! reason) or opens the tunnel and copies both ways, counting bytes. The
//! record of a connection is written when it ends, even when the proxy is
//! shut down under it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::policy::{decide, Decision, EgressConfig};
use super::record::{now_rfc3339, ConnectRecord, Recorder};
use super::request::{head_end, parse_connect, ConnectTarget, RequestError};
use crate::net::accept::accept_until_shutdown;

/// The longest request head read before refusing.
const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("egress proxy: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("egress proxy: cannot create its record file {path}: {source}")]
    RecordFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A running proxy. Dropping it stops serving.
pub struct EgressProxy {
    addr: SocketAddr,
    recorder: Arc<Recorder>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl EgressProxy {
    /// Bind the port and start serving on the current tokio runtime.
    pub async fn start(config: EgressConfig) -> Result<EgressProxy, EgressError> {
        let recorder = Recorder::new(config.record_file.as_deref()).map_err(|source| {
            EgressError::RecordFile {
                path: config.record_file.clone().unwrap_or_default(),
                source,
            }
        })?;
        let want = SocketAddr::new(config.bind, config.port);
        let listener = TcpListener::bind(want)
            .await
            .map_err(|source| EgressError::Bind { addr: want, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EgressError::Bind { addr: want, source })?;
        let recorder = Arc::new(recorder);
        let (shutdown, rx) = watch::channel(false);
        let task = tokio::spawn(serve(listener, Arc::new(config), recorder.clone(), rx));
        Ok(EgressProxy {
            addr,
            recorder,
            shutdown,
            task: Some(task),
        })
    }

    /// `127.0.0.1:PORT` as the host reaches it (the relay's upstream).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CONNECTs that have ended so far, in the order they ended.
    pub fn records(&self) -> Vec<ConnectRecord> {
        self.recorder.snapshot()
    }

    /// [`EgressProxy::shutdown`], then the lines for a run's log: the
    /// counts and each refusal ([`super::record::summary`]).
    pub async fn shutdown_and_report(self) -> Vec<String> {
        let recorder = self.recorder.clone();
        self.shutdown().await;
        super::record::summary(&recorder.snapshot())
    }

    /// Stop accepting, end open tunnels (recording them) and wait.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

async fn serve(
    listener: TcpListener,
    cfg: Arc<EgressConfig>,
    recorder: Arc<Recorder>,
    shutdown: watch::Receiver<bool>,
) {
    accept_until_shutdown(listener, shutdown, "egress proxy", |stream| {
        Some(connection(
            stream,
            cfg.clone(),
            Pending::new(recorder.clone()),
        ))
    })
    .await;
}

/// The record of one connection, pushed when it is dropped (the
/// connection ended, or its task was aborted).
struct Pending {
    recorder: Arc<Recorder>,
    record: ConnectRecord,
    started: Instant,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
}

impl Pending {
    fn new(recorder: Arc<Recorder>) -> Pending {
        Pending {
            recorder,
            record: ConnectRecord {
                time: now_rfc3339(),
                ..Default::default()
            },
            started: Instant::now(),
            up: Arc::default(),
            down: Arc::default(),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut r = std::mem::take(&mut self.record);
        r.bytes_up = self.up.load(Ordering::Relaxed);
        r.bytes_down = self.down.load(Ordering::Relaxed);
        r.duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.recorder.push(r);
    }
}

async fn connection(mut client: TcpStream, cfg: Arc<EgressConfig>, mut p: Pending) {
    let (head, rest) = match tokio::time::timeout(cfg.timeout, read_head(&mut client)).await {
        Ok(Ok(read)) => read,
        Ok(Err(why)) => return refuse(&mut client, &mut p, 400, why).await,
        Err(_) => {
            let why = format!("no complete request head within {:?}", cfg.timeout);
            return refuse(&mut client, &mut p, 408, why).await;
        }
    };
    let target = match parse_connect(&head) {
        Ok(t) => t,
        Err(e) => {
            let status = match e {
                RequestError::Method(_) => 405,
                _ => 400,
            };
            return refuse(&mut client, &mut p, status, e.to_string()).await;
        }
    };
    p.record.host = target.host.clone();
    p.record.port = target.port;
    let mapped = match decide(&cfg, &target) {
        Decision::Refuse(why) => return refuse(&mut client, &mut p, 403, why).await,
        Decision::Allow { mapped } => mapped,
    };
    p.record.allowed = true;
    let upstream = match tokio::time::timeout(cfg.timeout, open(&target, mapped)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let why = format!("connecting to {target}: {e}");
            return answer(&mut client, &mut p, 502, why).await;
        }
        Err(_) => {
            let why = format!("connecting to {target}: no answer within {:?}", cfg.timeout);
            return answer(&mut client, &mut p, 504, why).await;
        }
    };
    p.record.upstream = upstream.peer_addr().ok().map(|a| a.to_string());
    let _ = upstream.set_nodelay(true);
    if client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_err()
    {
        p.record.reason = Some("the client left before the tunnel opened".into());
        return;
    }
    let (client_r, client_w) = client.into_split();
    let (up_r, mut up_w) = upstream.into_split();
    if !rest.is_empty() {
        if let Err(e) = up_w.write_all(&rest).await {
            p.record.reason = Some(format!("forwarding to {target}: {e}"));
            return;
        }
        p.up.fetch_add(rest.len() as u64, Ordering::Relaxed);
    }
    tokio::join!(pump(client_r, up_w, &p.up), pump(up_r, client_w, &p.down));
}

/// Read up to the end of the head: (the head, bytes read past it).
async fn read_head(s: &mut TcpStream) -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(end) = head_end(&buf) {
            let rest = buf.split_off(end);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(format!("request head longer than {MAX_HEAD} bytes"));
        }
        match s.read(&mut chunk).await {
            Ok(0) => return Err("the client closed before a complete request head".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("reading the request head: {e}")),
        }
    }
}

/// The mapped address, or the host name resolved here on the host.
async fn open(target: &ConnectTarget, mapped: Option<SocketAddr>) -> std::io::Result<TcpStream> {
    match mapped {
        Some(addr) => TcpStream::connect(addr).await,
        None => TcpStream::connect((target.host.as_str(), target.port)).await,
    }
}

/// Refuse: the record says not allowed, with the reason.
async fn refuse(client: &mut TcpStream, p: &mut Pending, status: u16, why: String) {
    p.record.allowed = false;
    answer(client, p, status, why).await;
}

/// Answer `status` with `why` as a one-line body and close.
async fn answer(client: &mut TcpStream, p: &mut Pending, status: u16, why: String) {
    let line = format!("{why}\n");
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason_phrase(status),
        line.len()
    );
    let _ = client.write_all(head.as_bytes()).await;
    let _ = client.write_all(line.as_bytes()).await;
    let _ = client.shutdown().await;
    p.record.reason = Some(why);
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        502 => "Bad Gateway",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

/// Copy `from` to `to` until end of stream or an error, counting bytes;
/// then close `to`'s write side so the other end sees the end too.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    count: &AtomicU64,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = to.shutdown().await;
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
