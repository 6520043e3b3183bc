//! The accept loop of a host-side server (the embedded S3 endpoint, the
//! egress proxy): one task per connection until shutdown, then the open
//! ones are aborted and waited for.

use std::future::Future;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Accept on `listener` until `shutdown` changes, serving each connection
/// (TCP_NODELAY set) with the task `serve` makes for it (None: drop it);
/// then abort the open connections and wait for them. `what` names the
/// server in the warning a failed accept logs.
pub async fn accept_until_shutdown<F, Fut>(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    what: &str,
    mut serve: F,
) where
    F: FnMut(TcpStream) -> Option<Fut>,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    if let Some(task) = serve(stream) {
                        conns.spawn(task);
                    }
                }
                Err(e) => {
                    tracing::warn!("{what}: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}
