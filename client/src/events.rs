//! What a connection hands its caller: received frames ([`Received`]) and changes of state
//! ([`ConnectionState`]).

use std::time::Duration;

use bytes::Bytes;
use process_lib::http::WsError;

use crate::error::ClientError;

/// How a socket ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code; 1006 when the socket ended with no close frame.
    pub code: u16,
    /// The close frame's reason.
    pub reason: String,
    /// The error frame the gateway sent just before closing, if it sent one.
    pub error: Option<WsError>,
}

impl std::fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            Some(error) => write!(f, "{} (close code {})", error.message, self.code),
            None if self.code == 1006 => write!(f, "the connection was lost"),
            None => write!(f, "closed with code {} {}", self.code, self.reason),
        }
    }
}

/// One thing `receive()` returns.
#[derive(Debug)]
pub enum Received {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Bytes),
    /// The connection ended and will not be reconnected.
    Close {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
        /// The gateway's error frame, when it explained the close.
        error: Option<WsError>,
    },
    /// Something went wrong; the connection is over.
    Error(ClientError),
}

/// A change in a connection's state, reported as it happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Registered, with this channel id (again, after a reconnection).
    Connected {
        /// The channel.
        channel_id: u32,
        /// The URL it registered at: the first that answered, or another of
        /// [`Options::other_urls`](crate::Options::other_urls) after a move.
        url: String,
    },
    /// The socket was lost; reconnection follows.
    Disconnected(CloseInfo),
    /// About to try again, after `delay`, at `url`.
    Reconnecting {
        /// Which attempt, from 1.
        attempt: u32,
        /// The wait before it.
        delay: Duration,
        /// The URL this attempt goes to.
        url: String,
    },
    /// The connection is over for good.
    Closed,
}
