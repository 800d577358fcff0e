//! Processes outside the node: a program connects to the node's process socket
//! ([`wire::PATH`]) and is a process from then on.
//!
//! - [`wire`]: the headers the node and the program exchange (always built: the node uses them).
//! - [`run`] (feature `remote`): runs a process function over the socket, with the same
//!   [`crate::host::Host`] interface a node gives the processes inside it, so
//!   `await_message`, `get_blob`, `send_ws_push`, `Request`, `Response` and the binds work
//!   unchanged.

pub mod wire;

#[cfg(feature = "remote")]
mod client;
#[cfg(feature = "remote")]
mod socket_host;

#[cfg(feature = "remote")]
pub use client::{run, RemoteError};
