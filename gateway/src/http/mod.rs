//! Plain HTTP: what the node serves that is not a WebSocket.
//!
//! - [`login`], [`login_page`]: password login, the auth cookie, logout.
//! - [`web`]: the chat page and the browser client module, served from `web/`.
//! - [`bindings`]: the paths processes bound, as HTTP or WebSocket (the table, and the warp
//!   filters that split a request's path for it).
//! - [`bound_http`]: HTTP requests on bound paths, sent to their process as messages;
//!   [`pending`] holds them until the process's `Response` comes back.
//! - [`origin`]: the `Origin` check for upgrades and cookie-authenticated requests.
//! - [`problem`]: every HTTP error, as a status code and a JSON sentence.
//! - [`our_js`]: `our.js`, which tells a Kinode web app its node and process.
//!
//! The routes that lead here are in [`crate::server::routes`].

pub mod bindings;
pub mod bound_http;
pub mod login;
pub mod login_page;
pub mod origin;
pub mod our_js;
pub mod pending;
pub mod problem;
pub mod web;

/// What the accept loop knows about a connection, handed to the routes as an extension.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: std::net::SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}
