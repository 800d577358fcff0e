//! The process socket's headers: one JSON text frame per message, followed by one binary
//! frame holding the blob's bytes when the header has a `blob` field. The node and every SDK
//! read and write these; the README's "Processes outside the node" shows each as JSON.

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::http::{HttpServerError, WsError, WsErrorCode, WsMessageType};
use crate::message::{KernelMessage, SendErrorKind, WireMessage};
use crate::process_id::ProcessId;
use crate::LazyLoadBlob;

/// The path of the process socket on a node's listener.
pub const PATH: &str = "/process";

/// The first frame a program sends: which process it is, and the token that proves it may be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// A process token (`switchboard token --process ID`).
    pub auth_token: String,
    /// The process id; the token's own when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessId>,
}

/// Says that a binary frame with the blob's bytes follows the header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobHeader {
    /// The blob's MIME type, when known.
    #[serde(default)]
    pub mime: Option<String>,
}

impl BlobHeader {
    /// The header for `blob` (whose bytes travel in the next frame).
    pub fn of(blob: &LazyLoadBlob) -> Self {
        Self {
            mime: blob.mime.clone(),
        }
    }

    /// The blob, given the bytes of the binary frame that followed.
    pub fn with_bytes(self, bytes: bytes::Bytes) -> LazyLoadBlob {
        LazyLoadBlob {
            mime: self.mime,
            bytes,
        }
    }
}

/// [`WireMessage`] as it travels on the socket: bodies as JSON strings when they are UTF-8.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// A request.
    Request {
        /// Seconds the sender waits for an answer, if it waits.
        expects_response: Option<u64>,
        /// The body.
        #[serde(with = "body_bytes")]
        body: Vec<u8>,
    },
    /// An answer to the request with the same id.
    Response {
        /// The body.
        #[serde(with = "body_bytes")]
        body: Vec<u8>,
    },
    /// A request that could not be delivered, back with the reason.
    Bounce {
        /// Why.
        kind: SendErrorKind,
        /// The undelivered request's body.
        #[serde(with = "body_bytes")]
        body: Vec<u8>,
    },
}

impl From<WireMessage> for Body {
    fn from(message: WireMessage) -> Self {
        match message {
            WireMessage::Request {
                expects_response,
                body,
            } => Self::Request {
                expects_response,
                body,
            },
            WireMessage::Response { body } => Self::Response { body },
            WireMessage::Bounce { kind, body } => Self::Bounce { kind, body },
        }
    }
}

impl From<Body> for WireMessage {
    fn from(message: Body) -> Self {
        match message {
            Body::Request {
                expects_response,
                body,
            } => Self::Request {
                expects_response,
                body,
            },
            Body::Response { body } => Self::Response { body },
            Body::Bounce { kind, body } => Self::Bounce { kind, body },
        }
    }
}

/// A message for the process: [`KernelMessage`]'s fields, its blob announced, not carried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Pairs a response or a bounce with its request.
    pub id: u64,
    /// Who sent it.
    pub source: Address,
    /// The process.
    pub target: Address,
    /// Where the response goes, when not to `source`.
    pub rsvp: Option<Address>,
    /// Request, response or bounce.
    pub message: Body,
    /// Present when a binary frame with the blob follows.
    pub blob: Option<BlobHeader>,
}

impl Envelope {
    /// The header for `message`, and the blob whose bytes go in the next frame.
    pub fn split(message: KernelMessage) -> (Self, Option<LazyLoadBlob>) {
        let KernelMessage {
            id,
            source,
            target,
            rsvp,
            message,
            blob,
        } = message;
        let header = Self {
            id,
            source,
            target,
            rsvp,
            message: message.into(),
            blob: blob.as_ref().map(BlobHeader::of),
        };
        (header, blob)
    }

    /// The kernel message, given its blob's bytes (when the header announced a blob).
    pub fn join(self, bytes: Option<bytes::Bytes>) -> KernelMessage {
        KernelMessage {
            id: self.id,
            source: self.source,
            target: self.target,
            rsvp: self.rsvp,
            message: self.message.into(),
            blob: self.blob.map(|b| b.with_bytes(bytes.unwrap_or_default())),
        }
    }
}

/// A message the process sends: [`KernelMessage`]'s fields but `source`, which the node sets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    /// The message id: a request's own, or the id of the request a response answers.
    pub id: u64,
    /// Where it goes.
    pub target: Address,
    /// Where the response goes, when not to the process.
    #[serde(default)]
    pub rsvp: Option<Address>,
    /// Request or response.
    pub message: Body,
    /// Present when a binary frame with the blob follows.
    #[serde(default)]
    pub blob: Option<BlobHeader>,
}

impl Outgoing {
    /// The header for `message` (its source is dropped), and the blob for the next frame.
    pub fn split(message: KernelMessage) -> (Self, Option<LazyLoadBlob>) {
        let (envelope, blob) = Envelope::split(message);
        let header = Self {
            id: envelope.id,
            target: envelope.target,
            rsvp: envelope.rsvp,
            message: envelope.message,
            blob: envelope.blob,
        };
        (header, blob)
    }

    /// The kernel message from `source`, given its blob's bytes.
    pub fn join(self, source: Address, bytes: Option<bytes::Bytes>) -> KernelMessage {
        KernelMessage {
            id: self.id,
            source,
            target: self.target,
            rsvp: self.rsvp,
            message: self.message.into(),
            blob: self.blob.map(|b| b.with_bytes(bytes.unwrap_or_default())),
        }
    }
}

/// Every header the node sends a process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToProcess {
    /// The answer to the hello: the program is now the process at `our`.
    Registered {
        /// The process's address.
        our: Address,
        /// The largest blob or header the node takes, in bytes.
        max_message_size: usize,
    },
    /// A message for the process.
    Message(Envelope),
    /// A push with `call` was refused for these channels.
    PushRefused {
        /// The push's `call`.
        #[serde(default)]
        call: Option<u64>,
        /// Each refused channel, with why.
        failed: Vec<(u32, HttpServerError)>,
    },
    /// A message the process sent was not delivered, and no one waits for an answer to it.
    Undelivered {
        /// The message's id.
        id: u64,
        /// Where it was going.
        target: Address,
        /// Why.
        kind: SendErrorKind,
    },
    /// A frame the node could not use; or, right before the close, why it closes.
    #[serde(rename = "error")]
    Error(WsError),
}

impl ToProcess {
    /// An error header with `code` and a sentence.
    pub fn error(code: WsErrorCode, message: impl Into<String>) -> Self {
        Self::Error(WsError {
            code,
            message: message.into(),
        })
    }
}

/// Every header a process sends the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromProcess {
    /// A request or a response, routed as the process's own.
    Send(Outgoing),
    /// `send_ws_push`.
    Push {
        /// Returned with a refusal, to pair it with this push.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<u64>,
        /// The channel's node.
        node: String,
        /// The channel.
        channel_id: u32,
        /// The frame's type.
        message_type: WsMessageType,
        /// Present when a binary frame with the payload follows.
        #[serde(default)]
        blob: Option<BlobHeader>,
    },
    /// `send_ws_push_many`.
    PushMany {
        /// Returned with a refusal, to pair it with this push.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<u64>,
        /// The channels' node.
        node: String,
        /// The channels.
        channel_ids: Vec<u32>,
        /// The frame's type.
        message_type: WsMessageType,
        /// Present when a binary frame with the payload follows.
        #[serde(default)]
        blob: Option<BlobHeader>,
    },
}

impl FromProcess {
    /// Whether a binary frame follows this header.
    pub fn has_blob(&self) -> bool {
        match self {
            Self::Send(outgoing) => outgoing.blob.is_some(),
            Self::Push { blob, .. } | Self::PushMany { blob, .. } => blob.is_some(),
        }
    }
}

/// Bodies as JSON strings when they are UTF-8, as arrays of byte values otherwise.
mod body_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(body: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(body) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => serializer.collect_seq(body),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Bytes(Vec<u8>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        Ok(match Either::deserialize(deserializer)? {
            Either::Text(text) => text.into_bytes(),
            Either::Bytes(bytes) => bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Address {
        s.parse().expect("address")
    }

    #[test]
    fn a_message_header_is_the_kernel_message_with_its_blob_announced() {
        let km = KernelMessage {
            id: 7,
            source: addr("local.os@http-server:distro:sys"),
            target: addr("local.os@echo:echo:ext"),
            rsvp: None,
            message: WireMessage::Request {
                expects_response: None,
                body: br#"{"WebSocketPush":{"channel_id":3,"message_type":"Text"}}"#.to_vec(),
            },
            blob: Some(LazyLoadBlob::from_bytes("hi")),
        };
        let (envelope, blob) = Envelope::split(km.clone());
        let text = serde_json::to_string(&ToProcess::Message(envelope)).unwrap();
        assert_eq!(
            text,
            r#"{"Message":{"id":7,"source":"local.os@http-server:distro:sys","target":"local.os@echo:echo:ext","rsvp":null,"message":{"Request":{"expects_response":null,"body":"{\"WebSocketPush\":{\"channel_id\":3,\"message_type\":\"Text\"}}"}},"blob":{"mime":null}}}"#
        );
        let ToProcess::Message(back) = serde_json::from_str(&text).unwrap() else {
            panic!("a message");
        };
        assert_eq!(back.join(blob.map(|b| b.bytes)), km);
    }

    #[test]
    fn a_body_that_is_not_utf8_travels_as_byte_values() {
        let body = Body::Response {
            body: vec![0xff, 0],
        };
        let text = serde_json::to_string(&body).unwrap();
        assert_eq!(text, r#"{"Response":{"body":[255,0]}}"#);
        assert_eq!(serde_json::from_str::<Body>(&text).unwrap(), body);
    }

    #[test]
    fn headers_from_the_process_read_as_the_readme_writes_them() {
        let push: FromProcess = serde_json::from_str(
            r#"{"Push":{"call":12,"node":"local.os","channel_id":3,"message_type":"Text","blob":{"mime":null}}}"#,
        )
        .unwrap();
        assert!(push.has_blob());
        let send: FromProcess = serde_json::from_str(
            r#"{"Send":{"id":9,"target":"local.os@chat:chat:sys","message":{"Request":{"expects_response":5,"body":"hi"}}}}"#,
        )
        .unwrap();
        assert!(!send.has_blob());
        let hello: Hello = serde_json::from_str(r#"{"auth_token":"t"}"#).unwrap();
        assert_eq!(hello.process, None);
    }

    #[test]
    fn replies_and_errors_read_as_the_readme_writes_them() {
        let refused = ToProcess::PushRefused {
            call: Some(12),
            failed: vec![(3, HttpServerError::SlowConsumer)],
        };
        assert_eq!(
            serde_json::to_string(&refused).unwrap(),
            r#"{"PushRefused":{"call":12,"failed":[[3,"SlowConsumer"]]}}"#
        );
        let error = ToProcess::error(WsErrorCode::MalformedFrame, "no such header");
        assert_eq!(
            serde_json::to_string(&error).unwrap(),
            r#"{"error":{"code":"malformed_frame","message":"no such header"}}"#
        );
    }
}
