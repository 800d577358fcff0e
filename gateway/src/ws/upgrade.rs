//! Finishing WebSocket upgrades ourselves. warp's `ws()` filter builds its socket with
//! tungstenite's default 128 KiB read buffer and offers no way to change it; here we take
//! hyper's upgrade handle from the request, answer `101` with the accept key, and build the
//! socket with the node's buffer sizes and message limit.

use std::future::Future;

use hyper::upgrade::OnUpgrade;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use warp::http::{header, HeaderMap, HeaderValue, StatusCode};
use warp::{Filter, Reply};

use super::conn::Conn;
use super::lazy_read::LazyRead;
use super::socket::ChannelSocket;
use crate::config::Config;
use crate::http::ConnInfo;

/// A server-side WebSocket over an upgraded hyper connection.
pub type WsStream = WebSocketStream<LazyRead<Conn>>;

/// A valid upgrade request, not yet answered.
#[derive(Debug)]
pub struct PendingUpgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
    /// The upgrade request's headers (cookies, origin).
    pub headers: HeaderMap,
    /// What the accept loop knows of the connection.
    pub conn: Option<ConnInfo>,
}

fn header_has(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case(token))
}

/// Matches a WebSocket upgrade request (GET, `Connection: upgrade`, `Upgrade: websocket`,
/// version 13, a key) and yields it as a `PendingUpgrade`.
pub fn websocket() -> impl Filter<Extract = (PendingUpgrade,), Error = warp::Rejection> + Clone {
    warp::get()
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<OnUpgrade>())
        .and(warp::ext::optional::<ConnInfo>())
        .and_then(
            |headers: HeaderMap, on_upgrade: Option<OnUpgrade>, conn: Option<ConnInfo>| async move {
                let is_upgrade = header_has(&headers, header::CONNECTION, "upgrade")
                    && header_has(&headers, header::UPGRADE, "websocket")
                    && headers
                        .get(header::SEC_WEBSOCKET_VERSION)
                        .map(|v| v.as_bytes())
                        == Some(b"13");
                match (
                    is_upgrade,
                    headers.get(header::SEC_WEBSOCKET_KEY).cloned(),
                    on_upgrade,
                ) {
                    (true, Some(key), Some(on_upgrade)) => Ok(PendingUpgrade {
                        key,
                        on_upgrade,
                        conn,
                        headers,
                    }),
                    _ => Err(warp::reject::not_found()),
                }
            },
        )
}

/// The socket a channel reads from, over `ws`'s connection: tungstenite's read buffer is at
/// its configured size again (a large first frame grows it, and it never shrinks), and the
/// socket is polled without tokio-tungstenite's waker proxies ([`ChannelSocket`]). `ws`
/// must have read whole frames only ([`LazyRead::stop_at_frame_ends`]) or none, so its
/// buffer holds no bytes of the next; reads are free again from here. A reply tungstenite
/// still holds (a pong for a ping sent before the first frame) goes out first if the socket
/// takes it now.
pub fn renew(mut ws: WsStream) -> ChannelSocket {
    use futures_util::{FutureExt, SinkExt};
    let _ = ws.flush().now_or_never();
    let config = *ws.get_config();
    let mut stream = ws.into_inner();
    stream.read_freely();
    ChannelSocket::new(stream, config)
}

/// The socket settings a node's config asks for.
pub fn socket_config(config: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(config.read_buffer_size)
        .write_buffer_size(16 * 1024)
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.max_message_size))
}

impl PendingUpgrade {
    /// Answers `101 Switching Protocols` and runs `serve` on the socket once hyper hands it
    /// over, as a task of `tasks`.
    pub fn accept<F, Fut>(
        self,
        tasks: &tokio_util::task::TaskTracker,
        config: WebSocketConfig,
        serve: F,
    ) -> warp::reply::Response
    where
        F: FnOnce(WsStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let accept = derive_accept_key(self.key.as_bytes());
        let on_upgrade = self.on_upgrade;
        let serving = tasks.clone();
        tasks.spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let (conn, ahead) = Conn::from_upgraded(upgraded);
                    let ws = WebSocketStream::from_raw_socket(
                        LazyRead::with_read_ahead(conn, &ahead),
                        Role::Server,
                        Some(config),
                    )
                    .await;
                    // A task of its own: the connection's long-lived task is then sized for
                    // `serve` alone, not for the upgrade's state beside it.
                    serving.spawn(serve(ws));
                }
                Err(error) => tracing::debug!(%error, "websocket upgrade failed"),
            }
        });
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(value) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
        }
        response
    }
}
