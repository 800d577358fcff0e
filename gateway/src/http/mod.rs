//! The `http-server:distro:sys` module: WebSocket channels and HTTP routes.
//!
//! - [`routes`]: the warp filters (`GET /` upgrades; everything else is plain HTTP).
//! - [`upgrade`]: finishing a WebSocket upgrade ourselves, so the socket gets our buffer sizes.
//! - [`conn`]: the stream under a socket: the TCP socket itself on a plain connection.
//! - [`lazy_read`]: 16 KiB socket reads behind a tiny per-socket read buffer.
//! - [`register`]: the first frame — parse, authenticate, find the process.
//! - [`socket`]: one channel's life: reader, writer task, close.
//! - [`outbound`]: a channel's byte-bounded queue, and the fast path past it to an idle socket.
//! - [`writer`]: the socket's write half and the writer task that drains the queue.
//! - [`wire`]: a frame as it goes on the wire, its header formatted once per push.
//! - [`channels`]: the channel table.
//! - [`queue`]: the queue under each writer, which holds no storage while a quiet channel sleeps.
//! - [`refusal`]: every error a client can be told, as an error frame and a close code.
//! - [`actions`]: requests processes send the module (`WebSocketPush`, `WebSocketClose`, …).
//! - [`login`], [`login_page`]: password login, the auth cookie, logout.
//! - [`origin`]: the `Origin` check for upgrades and cookie-authenticated requests.
//! - [`bindings`]: the paths processes bound; [`bound_ws`], [`bound_http`] serve them.
//! - [`problem`]: every HTTP error, as a status code and a JSON sentence.
//! - [`web`]: the chat page and the browser client module, served from `web/`.
//! - [`our_js`]: `our.js`, which tells a Kinode web app its node and process.

pub mod actions;
pub mod bindings;
pub mod bound_http;
pub mod bound_ws;
pub mod channels;
pub mod conn;
pub mod lazy_read;
pub mod login;
pub mod login_page;
pub mod origin;
pub mod our_js;
pub mod outbound;
pub mod problem;
pub mod queue;
pub mod refusal;
pub mod register;
pub mod routes;
pub mod socket;
pub mod upgrade;
pub mod web;
pub mod wire;
pub mod writer;

/// What the accept loop knows about a connection, handed to the routes as an extension.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: std::net::SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}
