//! HTTP serving: accept loop, one hyper connection per socket, and the
//! journaling layer around the s3s service. A `reset` fault makes the
//! connection close with a real TCP RST (SO_LINGER 0, then close).

use std::os::fd::{AsFd as _, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::net::accept::accept_until_shutdown;

use super::answer::RequestId;
use super::ctx::{RequestCtx, StatusOverride};
use super::journal::Journal;
use super::keys::presign_refusal;

pub(crate) struct App {
    pub s3: s3s::service::S3Service,
    pub journal: Arc<Journal>,
    /// Serve https with this configuration (None: plain http).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// The longest a client may take over its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Returned to hyper to make it drop the connection (after SO_LINGER 0).
#[derive(Debug, thiserror::Error)]
#[error("connection reset by fault injection")]
pub(crate) struct InjectedReset;

/// Accept connections until `shutdown` flips, then abort open ones.
pub(crate) async fn serve(listener: TcpListener, app: Arc<App>, shutdown: watch::Receiver<bool>) {
    accept_until_shutdown(listener, shutdown, "embedded S3", |stream| {
        // A second handle on the socket: lets a fault set SO_LINGER 0 and
        // keeps the socket alive until hyper is done, so the final close
        // sends the RST.
        match stream.as_fd().try_clone_to_owned() {
            Ok(fd) => Some(accept(stream, Arc::new(fd), app.clone())),
            Err(e) => {
                tracing::warn!("embedded S3: cannot dup socket: {e}");
                None
            }
        }
    })
    .await;
}

/// Serve one accepted socket: over TLS when the endpoint has it.
async fn accept(stream: tokio::net::TcpStream, fd: Arc<OwnedFd>, app: Arc<App>) {
    let Some(acceptor) = app.tls.clone() else {
        return connection(stream, fd, app).await;
    };
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => connection(tls, fd, app).await,
        Ok(Err(e)) => tracing::debug!("embedded S3: TLS handshake failed: {e}"),
        Err(_) => tracing::debug!("embedded S3: no TLS handshake within {TLS_HANDSHAKE_TIMEOUT:?}"),
    }
}

async fn connection<S>(stream: S, fd: Arc<OwnedFd>, app: Arc<App>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let reset = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(ResettableIo {
        inner: stream,
        reset: reset.clone(),
    });
    let conn_reset = Reset { fd, flag: reset };
    let svc = hyper::service::service_fn(move |req| request(app.clone(), conn_reset.clone(), req));
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, svc);
    if let Err(e) = conn.await {
        tracing::debug!("embedded S3 connection ended: {e}");
    }
}

async fn request(
    app: Arc<App>,
    conn: Reset,
    req: http::Request<Incoming>,
) -> Result<http::Response<JournalBody>, InjectedReset> {
    let started = Instant::now();
    let seq = app.journal.begin(req.method().as_str());
    let ctx = RequestCtx {
        seq,
        journal: app.journal.clone(),
        reset: Arc::new(AtomicBool::new(false)),
    };
    let bytes_in = Arc::new(AtomicU64::new(0));
    // Writes the record even if hyper drops this future (client gone).
    let mut finish = Finish {
        journal: app.journal.clone(),
        seq,
        started,
        status: None,
        code: None,
        bytes_in: bytes_in.clone(),
        bytes_out: 0,
    };
    let id = RequestId::next();
    let resource = req.uri().path().to_owned();
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(ctx.clone());
    let body = s3s::Body::http_body(Counting {
        inner: body,
        count: bytes_in,
    });
    let result = match presign_refusal(&parts.uri) {
        Some(refused) => refused
            .to_http_response()
            .map_err(|e| s3s::HttpError::new(Box::new(e))),
        None => app.s3.call(http::Request::from_parts(parts, body)).await,
    };
    if ctx.reset_requested() {
        conn.arm();
        return Err(InjectedReset);
    }
    let mut resp = match result {
        Ok(resp) => resp,
        Err(e) => {
            tracing::error!("embedded S3: {e:?}");
            let mut resp = http::Response::new(s3s::Body::from(Bytes::new()));
            *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            resp
        }
    };
    if let Some(StatusOverride(s)) = resp.extensions().get::<StatusOverride>().copied() {
        *resp.status_mut() = s;
    }
    let status = resp.status().as_u16();
    let (mut parts, mut body) = resp.into_parts();
    id.stamp(&mut parts.headers);
    finish.status = Some(status);
    if let Some(sent) = (status >= 400).then(|| body.bytes()).flatten() {
        finish.code = error_code(&sent);
        if let Some(stamped) = id.error_body(&sent, &resource) {
            parts.headers.remove(http::header::CONTENT_LENGTH);
            body = s3s::Body::from(stamped);
        }
    }
    Ok(http::Response::from_parts(
        parts,
        JournalBody {
            inner: body,
            finish: Some(finish),
        },
    ))
}

/// The connection's reset switch: SO_LINGER 0 on the socket (through a
/// second descriptor) and a flag that stops the IO from sending a FIN, so
/// the close after hyper gives up is an RST and nothing else.
#[derive(Clone)]
struct Reset {
    fd: Arc<OwnedFd>,
    flag: Arc<AtomicBool>,
}

impl Reset {
    fn arm(&self) {
        if let Err(e) = socket2::SockRef::from(&*self.fd).set_linger(Some(Duration::ZERO)) {
            tracing::warn!("embedded S3: SO_LINGER for reset: {e}");
        }
        self.flag.store(true, Ordering::SeqCst);
    }
}

/// A connection's stream (TCP, or TLS over it) that, once a reset is
/// armed, fails reads and writes and skips the graceful shutdown hyper
/// would otherwise do.
struct ResettableIo<S> {
    inner: S,
    reset: Arc<AtomicBool>,
}

fn reset_error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected reset")
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for ResettableIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.reset.load(Ordering::SeqCst) {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for ResettableIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.reset.load(Ordering::SeqCst) {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.reset.load(Ordering::SeqCst) {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.reset.load(Ordering::SeqCst) {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `<Code>X</Code>` from an S3 XML error body.
fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].to_owned())
}

/// Request body wrapper counting bytes received.
struct Counting {
    inner: Incoming,
    count: Arc<AtomicU64>,
}

impl HttpBody for Counting {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.count.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Writes a request's journal record when dropped: after the response
/// body ended, or when the request was abandoned (reset, client gone: then
/// `status` is None).
struct Finish {
    journal: Arc<Journal>,
    seq: u64,
    started: Instant,
    status: Option<u16>,
    code: Option<String>,
    bytes_in: Arc<AtomicU64>,
    bytes_out: u64,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let (status, code, out) = (self.status, self.code.take(), self.bytes_out);
        let bytes_in = self.bytes_in.load(Ordering::SeqCst);
        self.journal.finish(self.seq, self.started, |r| {
            r.status = status;
            r.bytes_in = bytes_in;
            r.bytes_out = out;
            if r.error_code.is_none() {
                r.error_code = code;
            }
        });
    }
}

/// Response body wrapper: counts bytes sent; the record is written when
/// the body ends or is dropped because the client went away.
pub(crate) struct JournalBody {
    inner: s3s::Body,
    finish: Option<Finish>,
}

impl HttpBody for JournalBody {
    type Data = Bytes;
    type Error = s3s::StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, s3s::StdError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                if let Some(f) = self.finish.as_mut() {
                    f.bytes_out += n;
                }
            }
            Poll::Ready(None) => drop(self.finish.take()),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_code_from_xml() {
        let xml =
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>x</Message></Error>";
        assert_eq!(super::error_code(xml).as_deref(), Some("NoSuchKey"));
        assert_eq!(super::error_code(b"garbage"), None);
    }
}
