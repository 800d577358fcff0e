//! What crosses NATS between the instances of a node: one [`Push`] per destination instance,
//! carrying every channel of that instance the push is for, so a push to many costs one
//! NATS message per instance, not one per channel; a [`SiblingCall`] from a process to the
//! same process on another instance, and its [`SiblingAnswer`]. Encoded with bincode.

use bincode::Options;
use bytes::Bytes;
use process_lib::{LazyLoadBlob, ProcessId, WsMessageType};
use serde::{Deserialize, Serialize};

/// The largest message decoded, so a malformed length can never ask for more memory.
const MAX_MESSAGE: u64 = 64 << 20;

fn options() -> impl Options {
    bincode::DefaultOptions::new().with_limit(MAX_MESSAGE)
}

/// A push from a process on one instance to channels held by another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    /// The pushing process; the channels must be bound to the same process id.
    pub source: ProcessId,
    /// The frame's type.
    pub message_type: WsMessageType,
    /// The channels, all held by the destination instance.
    pub channel_ids: Vec<u32>,
    /// The payload's MIME type.
    pub mime: Option<String>,
    /// The payload.
    pub bytes: Bytes,
}

/// Why a message from another instance was not understood.
#[derive(Debug, thiserror::Error)]
#[error("a cluster message did not decode: {0}")]
pub struct DecodeError(#[from] bincode::Error);

impl Push {
    /// The push of `blob` by `source` to `channel_ids`.
    pub fn new(
        source: &ProcessId,
        message_type: WsMessageType,
        channel_ids: Vec<u32>,
        blob: &LazyLoadBlob,
    ) -> Self {
        Self {
            source: source.clone(),
            message_type,
            channel_ids,
            mime: blob.mime.clone(),
            bytes: blob.bytes.clone(),
        }
    }

    /// Its bytes on NATS.
    pub fn encode(&self) -> Bytes {
        // Serialising plain owned data into a Vec cannot fail.
        Bytes::from(options().serialize(self).unwrap_or_default())
    }

    /// Reads one from NATS.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(options().deserialize(bytes)?)
    }

    /// The blob it carries.
    pub fn blob(&self) -> LazyLoadBlob {
        LazyLoadBlob {
            mime: self.mime.clone(),
            bytes: self.bytes.clone(),
        }
    }
}

/// A request or publish from a process to its siblings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiblingCall {
    /// The sending instance.
    pub from: u8,
    /// The process, the same on both sides.
    pub process: ProcessId,
    /// How long the sender waits for the answer, in milliseconds; `None` for a publish.
    pub timeout_ms: Option<u64>,
    /// The body.
    pub body: Vec<u8>,
    /// The blob's MIME type and bytes, when there is a blob.
    pub blob: Option<(Option<String>, Bytes)>,
}

/// What a sibling answers to a [`SiblingCall`] that waits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SiblingAnswer {
    /// The process's response.
    Response {
        /// The body.
        body: Vec<u8>,
        /// The blob's MIME type and bytes, when there is a blob.
        blob: Option<(Option<String>, Bytes)>,
    },
    /// The process does not run on that instance (or its mailbox is full).
    NotRunning,
}

/// A blob as it crosses NATS.
pub fn blob_parts(blob: Option<LazyLoadBlob>) -> Option<(Option<String>, Bytes)> {
    blob.map(|b| (b.mime, b.bytes))
}

/// A blob back from its parts.
pub fn blob_from(parts: Option<(Option<String>, Bytes)>) -> Option<LazyLoadBlob> {
    parts.map(|(mime, bytes)| LazyLoadBlob { mime, bytes })
}

/// Bytes on NATS of any of these messages.
pub fn encode<T: Serialize>(message: &T) -> Bytes {
    // Serialising plain owned data into a Vec cannot fail.
    Bytes::from(options().serialize(message).unwrap_or_default())
}

/// Reads one of these messages from NATS.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    Ok(options().deserialize(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_round_trips() {
        let source: ProcessId = "chat:chat:sys".parse().unwrap();
        let blob = LazyLoadBlob::from_bytes("hello");
        let push = Push::new(&source, WsMessageType::Text, vec![0x0300_0001, 7], &blob);
        let back = Push::decode(&push.encode()).unwrap();
        assert_eq!(back, push);
        assert_eq!(back.blob(), blob);
    }

    #[test]
    fn a_sibling_call_round_trips() {
        let call = SiblingCall {
            from: 2,
            process: "chat:chat:sys".parse().unwrap(),
            timeout_ms: Some(1500),
            body: b"count".to_vec(),
            blob: blob_parts(Some(LazyLoadBlob::from_bytes("x"))),
        };
        assert_eq!(decode::<SiblingCall>(&encode(&call)).unwrap(), call);
        let answer = SiblingAnswer::NotRunning;
        assert_eq!(decode::<SiblingAnswer>(&encode(&answer)).unwrap(), answer);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let err = Push::decode(b"\xff\xff\xff").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("a cluster message did not decode"));
    }
}
