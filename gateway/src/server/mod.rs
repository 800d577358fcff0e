//! The `http-server:distro:sys` module's two doors: the accept loop and [`routes`], which
//! hand every connection to plain HTTP ([`crate::http`]) or to WebSockets ([`crate::ws`]);
//! and [`requests`], what processes ask the module (push, close, bind).
//!
//! The accept loop is our own, rather than `warp::serve`, so every accepted socket gets
//! `TCP_NODELAY`, carries its peer address to the routes, and stops on the node's shutdown.
//! With TLS configured, the handshake runs in the connection's task, never in the loop.

pub mod requests;
pub mod routes;

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::http::ConnInfo;
use crate::runtime::Runtime;
use routes::routes;

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections on `listener` until the node shuts down; with `tls`, each connection
/// does the TLS handshake first (https/wss).
pub async fn accept_loop(rt: Arc<Runtime>, listener: TcpListener, tls: Option<TlsAcceptor>) {
    let service = warp::service(routes(rt.clone()));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = rt.shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let info = ConnInfo {
            peer,
            tls: tls.is_some(),
        };
        let service = service.clone();
        let shutdown = rt.shutdown.clone();
        let tls = tls.clone();
        rt.tasks.spawn(async move {
            match tls {
                None => serve_connection(stream, info, service, shutdown).await,
                Some(acceptor) => {
                    if let Some(stream) = crate::tls::handshake(&acceptor, stream).await {
                        serve_connection(stream, info, service, shutdown).await;
                    }
                }
            }
        });
    }
}

/// Serves HTTP/1.1 (with upgrades) on one connection until it ends or the node shuts down.
pub(crate) async fn serve_connection<I, S>(
    io: I,
    info: ConnInfo,
    service: S,
    shutdown: CancellationToken,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: tower_service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = warp::reply::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let peer = info.peer;
    let hyper_service = hyper::service::service_fn(move |mut request| {
        request.extensions_mut().insert(info);
        let mut service = service.clone();
        tower_service::Service::call(&mut service, request)
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), hyper_service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, %peer, "http connection ended with an error");
            }
        }
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}
