//! Messages between processes: what the kernel carries (`KernelMessage`) and what a process
//! sees (`Message`), plus `SendError`, which hands an unsent message back to its sender.

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::blob::LazyLoadBlob;

/// One message in flight, as the kernel routes it between mailboxes and nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelMessage {
    /// Pairs a response (or a bounce) with its request.
    pub id: u64,
    /// Who sent it.
    pub source: Address,
    /// Who it is for.
    pub target: Address,
    /// Where the response goes, when not to `source`.
    pub rsvp: Option<Address>,
    /// Request, response or bounce.
    pub message: WireMessage,
    /// The payload.
    pub blob: Option<LazyLoadBlob>,
}

/// The kinds of message the kernel carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireMessage {
    /// A request; `expects_response` is the sender's timeout in seconds when it waits.
    Request {
        /// Seconds the sender waits for an answer, if it waits.
        expects_response: Option<u64>,
        /// The body.
        body: Vec<u8>,
    },
    /// The answer to the request with the same id.
    Response {
        /// The body.
        body: Vec<u8>,
    },
    /// A request that could not be delivered, sent back to its sender with the reason.
    Bounce {
        /// Why it was not delivered.
        kind: SendErrorKind,
        /// The undelivered request's body.
        body: Vec<u8>,
    },
}

/// A message as a process receives it from `await_message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A request from another process (or a runtime module).
    Request {
        /// The sender.
        source: Address,
        /// Seconds the sender waits for an answer, if it waits.
        expects_response: Option<u64>,
        /// The body.
        body: Vec<u8>,
        /// The payload, also available through `get_blob()` while this message is handled.
        blob: Option<LazyLoadBlob>,
    },
    /// An answer to a request this process sent.
    Response {
        /// The responder.
        source: Address,
        /// The body.
        body: Vec<u8>,
        /// The payload.
        blob: Option<LazyLoadBlob>,
    },
}

impl Message {
    /// The sender.
    pub fn source(&self) -> &Address {
        match self {
            Self::Request { source, .. } | Self::Response { source, .. } => source,
        }
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        match self {
            Self::Request { body, .. } | Self::Response { body, .. } => body,
        }
    }

    /// The payload, if any.
    pub fn blob(&self) -> Option<&LazyLoadBlob> {
        match self {
            Self::Request { blob, .. } | Self::Response { blob, .. } => blob.as_ref(),
        }
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self, Self::Request { .. })
    }
}

/// Why a message was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum SendErrorKind {
    /// The target node or process cannot be reached.
    #[error("Offline (the target node or process cannot be reached)")]
    Offline,
    /// No answer came within the request's timeout.
    #[error("Timeout (no answer came in time)")]
    Timeout,
    /// The target's mailbox is full; the sender may retry later.
    #[error("MailboxFull (the target's mailbox is full; try again later)")]
    MailboxFull,
    /// The target's node name is not a node name (`[a-z0-9-.]+`); nothing was sent.
    #[error("BadNodeName (a node name has only a-z, 0-9, `-` and `.`)")]
    BadNodeName,
}

/// A message that was not delivered, handed back to its sender.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("message to {target} not delivered: {kind}")]
pub struct SendError {
    /// Why.
    pub kind: SendErrorKind,
    /// Where it was going.
    pub target: Address,
    /// The unsent body.
    pub body: Vec<u8>,
    /// The unsent payload.
    pub blob: Option<LazyLoadBlob>,
}
