//! The `http-server:distro:sys` module's two doors: the accept loop and [`routes`], which
//! hand every connection to plain HTTP ([`crate::http`]) or to WebSockets ([`crate::ws`]);
//! and [`requests`], what processes ask the module (push, close, bind).
//!
//! The accept loop is our own, rather than `warp::serve`, so every accepted socket gets
//! `TCP_NODELAY`, carries its peer address to the routes, and stops (closing the listener) once the node
//! begins to drain.
//! With TLS configured, the handshake runs in the connection's task, never in the loop.
//! A client that has sent part of a request when the header deadline passes is answered 408
//! before the connection is closed (hyper itself would close without a word).

pub mod requests;
pub mod routes;

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::http::problem::Problem;
use crate::http::ConnInfo;
use crate::runtime::Runtime;
use routes::routes;

/// How long the last words to a client that was too slow may take to leave.
const CLOSING_WRITE_WAIT: Duration = Duration::from_secs(1);

/// Accepts connections on `listener` until the node shuts down; with `tls`, each connection
/// does the TLS handshake first (https/wss).
pub async fn accept_loop(rt: Arc<Runtime>, listener: TcpListener, tls: Option<TlsAcceptor>) {
    let service = warp::service(routes(rt.clone()));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = rt.draining.cancelled() => break,
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
        let header_timeout = rt.config.header_read_timeout;
        let tls = tls.clone();
        rt.tasks.spawn(async move {
            match tls {
                None => serve_connection(stream, info, service, header_timeout, shutdown).await,
                Some(acceptor) => {
                    if let Some(stream) = crate::tls::handshake(&acceptor, stream).await {
                        serve_connection(stream, info, service, header_timeout, shutdown).await;
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
    header_timeout: Duration,
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
    let mut conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), hyper_service)
        .with_upgrades();
    let result = tokio::select! {
        result = &mut conn => result,
        () = shutdown.cancelled() => {
            std::pin::Pin::new(&mut conn).graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
            return;
        }
    };
    match result {
        Ok(()) => {}
        Err(error) if error.is_timeout() => {
            // hyper gives up on the request without a word; say why before closing. Not on a
            // kept-alive connection idle between requests (nothing read): its client may be
            // sending its next request already, and would take the 408 as the answer to it.
            if let Some(parts) = conn.into_parts() {
                if !parts.read_buf.is_empty() {
                    tracing::debug!(%peer, "request headers too slow; answering 408");
                    answer_and_close(
                        parts.io.into_inner(),
                        &Problem::RequestTimeout(header_timeout),
                    )
                    .await;
                }
            }
        }
        Err(error) => tracing::debug!(%error, %peer, "http connection ended with an error"),
    }
}

/// Writes `problem` as a whole HTTP/1.1 response, the way the routes answer it (JSON
/// `{"error":…}`), then closes the connection.
async fn answer_and_close<I: AsyncWrite + Unpin>(mut io: I, problem: &Problem) {
    let body = serde_json::json!({ "error": problem.to_string() }).to_string();
    let status = problem.status();
    let response = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        status.as_str(),
        status.canonical_reason().unwrap_or_default(),
        body.len(),
    );
    let write = async {
        io.write_all(response.as_bytes()).await?;
        io.shutdown().await
    };
    let _ = tokio::time::timeout(CLOSING_WRITE_WAIT, write).await;
}
