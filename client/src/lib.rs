//! # switchboard_client
//!
//! The Rust client library for Switchboard. [`connect`] opens a WebSocket to a node,
//! registers it to a process with a token, and returns a [`Connection`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), switchboard_client::ClientError> {
//! use switchboard_client::{connect, Received};
//! let mut chat = connect("ws://127.0.0.1:8080/", "<token>", "chat:chat:sys").await?;
//! chat.send_text("hello").await?;
//! match chat.receive().await {
//!     Received::Text(text) => println!("{text}"),
//!     Received::Binary(bytes) => println!("{} bytes", bytes.len()),
//!     Received::Close { code, reason, .. } => println!("closed: {code} {reason}"),
//!     Received::Error(error) => eprintln!("{error}"),
//! }
//! chat.close().await;
//! # Ok(()) }
//! ```
//!
//! Pings go out on their own, and a connection that hears nothing for two ping intervals
//! counts as lost. A lost connection reconnects with exponential backoff and full jitter
//! ([`Backoff`]), registers again, and reports each step on the stream from
//! [`Connection::take_states`]; frames sent meanwhile wait for the new socket. Refusals
//! that will not change (a bad token, an unknown process) end the connection instead, and
//! every error says what the server said: its error frame and close code.
//! A node that runs as several instances (or on several addresses) is given as several URLs
//! ([`Options::other_urls`]): the connection opens to the first that registers and, when its
//! socket is lost, moves round the others with the same backoff; only a refusal by every URL
//! ends it. Each [`ConnectionState::Connected`] says which URL it registered at: the moment to
//! ask the process for what was missed (a chat's `{"type":"history","since":ID}`).
//! A program may hold any number of connections.
//!
//! `wss://` URLs speak TLS through rustls (ring): the node's certificate must chain to one of
//! Mozilla's roots or to a CA certificate given in [`Options::ca_pem`]; a refused certificate
//! is a [`ClientError::Tls`] that says what was wrong ([`TlsError`]) and, being permanent,
//! ends a reconnecting connection too. A `ws://` URL runs no TLS code.
//!
//! ## Layout
//! - [`connection`]: [`connect`], [`Connection`] (receive, close, state stream) and
//!   [`Sender`] (send from any task).
//! - [`events`]: [`Received`], [`ConnectionState`], [`CloseInfo`].
//! - [`options`]: [`Options`] and [`Backoff`].
//! - [`error`]: the one error type, [`ClientError`], and its TLS part, [`TlsError`].
//! - `register` (private): opening a socket and the register handshake.
//! - `driver` (private): the task that owns the socket, pings, and reconnects.
//! - `rotation` (private): which URL a reconnection tries next.
//! - `tls` (private): the rustls configuration for `wss://`, and reading its errors.

pub mod connection;
mod driver;
pub mod error;
pub mod events;
pub mod options;
mod register;
mod rotation;
mod tls;

pub use connection::{connect, connect_with, Connection, Sender};
pub use error::{ClientError, TlsError};
pub use events::{CloseInfo, ConnectionState, Received};
pub use options::{Backoff, Options};
