//! [`SocketHost`]: the [`Host`] a process outside the node runs with. Every call returns at
//! once, as in the node: a message or push becomes a header (and a blob frame) on the
//! writer's queue. What the node refuses comes back later: a request that waits for an
//! answer gets a bounce through `await_message`, and a push's refusal is remembered and
//! returned by the next push to the same channel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::wire::{BlobHeader, FromProcess, Outgoing};
use crate::host::Host;
use crate::http::{HttpServerError, WsMessageType};
use crate::message::{KernelMessage, SendErrorKind};
use crate::{Address, LazyLoadBlob};

/// One header and the blob frame that follows it, ready for the writer.
#[derive(Debug)]
pub(crate) struct Frames {
    pub header: String,
    pub blob: Option<Bytes>,
}

/// At most this many refused channels are remembered; past it the oldest knowledge goes.
const REMEMBERED_REFUSALS: usize = 4096;

/// The host of a process whose node is at the other end of a socket.
#[derive(Debug)]
pub(crate) struct SocketHost {
    our: Address,
    out: mpsc::Sender<Frames>,
    next_id: AtomicU64,
    next_call: AtomicU64,
    /// Channels on our node that refused a push, and what the next push to them returns.
    refused: Mutex<HashMap<u32, HttpServerError>>,
}

impl SocketHost {
    pub fn new(our: Address, out: mpsc::Sender<Frames>) -> Self {
        Self {
            our,
            out,
            next_id: AtomicU64::new(1),
            next_call: AtomicU64::new(1),
            refused: Mutex::new(HashMap::new()),
        }
    }

    /// Notes the node's refusal of pushes to channels on our node.
    pub fn refused(&self, failed: &[(u32, HttpServerError)]) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        if refused.len() + failed.len() > REMEMBERED_REFUSALS {
            refused.clear();
        }
        refused.extend(failed.iter().copied());
    }

    /// The refusal a push to `channel_id` on `node` meets without asking the node: one the
    /// node gave before (a slow consumer's channel is closed, so after it comes "not found"),
    /// or a frame the node would refuse anyway.
    fn known_refusal(
        &self,
        node: &str,
        channel_id: u32,
        message_type: WsMessageType,
        blob: &LazyLoadBlob,
    ) -> Option<HttpServerError> {
        if let Some(error) = frame_refusal(message_type, blob) {
            return Some(error);
        }
        if node != self.our.node.as_str() {
            return None;
        }
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        let error = refused.get_mut(&channel_id)?;
        let now = *error;
        if now == HttpServerError::SlowConsumer {
            *error = HttpServerError::WsChannelNotFound;
        }
        Some(now)
    }

    fn push_frames(header: FromProcess, blob: &LazyLoadBlob) -> Frames {
        Frames {
            header: serde_json::to_string(&header).unwrap_or_default(),
            blob: Some(blob.bytes.clone()),
        }
    }

    /// A call number for a push to `node`: pushes to our node ask for their refusals (which
    /// are remembered per channel); pushes to other nodes are logged when refused.
    fn call_for(&self, node: &str) -> Option<u64> {
        (node == self.our.node.as_str()).then(|| self.next_call.fetch_add(1, Ordering::Relaxed))
    }
}

/// What the node refuses of a frame whatever the channel, checked here to say it at once.
fn frame_refusal(message_type: WsMessageType, blob: &LazyLoadBlob) -> Option<HttpServerError> {
    match message_type {
        WsMessageType::Ping | WsMessageType::Pong if blob.bytes.len() > 125 => {
            Some(HttpServerError::WsPingPongTooLong)
        }
        WsMessageType::Text if std::str::from_utf8(&blob.bytes).is_err() => {
            Some(HttpServerError::MalformedRequest)
        }
        _ => None,
    }
}

impl Host for SocketHost {
    fn send(&self, message: KernelMessage) -> Result<(), (SendErrorKind, KernelMessage)> {
        let permit = match self.out.try_reserve() {
            Ok(permit) => permit,
            Err(mpsc::error::TrySendError::Full(())) => {
                return Err((SendErrorKind::MailboxFull, message))
            }
            Err(mpsc::error::TrySendError::Closed(())) => {
                return Err((SendErrorKind::Offline, message))
            }
        };
        let (header, blob) = Outgoing::split(message);
        let header = serde_json::to_string(&FromProcess::Send(header)).unwrap_or_default();
        permit.send(Frames {
            header,
            blob: blob.map(|b| b.bytes),
        });
        Ok(())
    }

    fn ws_push(
        &self,
        _source: &Address,
        node: &str,
        channel_id: u32,
        message_type: WsMessageType,
        blob: LazyLoadBlob,
    ) -> Result<(), HttpServerError> {
        if let Some(error) = self.known_refusal(node, channel_id, message_type, &blob) {
            return Err(error);
        }
        let permit = self.out.try_reserve().map_err(|e| match e {
            mpsc::error::TrySendError::Full(()) => HttpServerError::SlowConsumer,
            mpsc::error::TrySendError::Closed(()) => HttpServerError::WsChannelNotFound,
        })?;
        let header = FromProcess::Push {
            call: self.call_for(node),
            node: node.to_owned(),
            channel_id,
            message_type,
            blob: Some(BlobHeader::of(&blob)),
        };
        permit.send(Self::push_frames(header, &blob));
        Ok(())
    }

    fn ws_push_many(
        &self,
        _source: &Address,
        node: &str,
        channel_ids: &[u32],
        message_type: WsMessageType,
        blob: &LazyLoadBlob,
    ) -> Vec<(u32, HttpServerError)> {
        let mut failed = Vec::new();
        let mut sending = Vec::with_capacity(channel_ids.len());
        for &id in channel_ids {
            match self.known_refusal(node, id, message_type, blob) {
                Some(error) => failed.push((id, error)),
                None => sending.push(id),
            }
        }
        if sending.is_empty() {
            return failed;
        }
        let permit = match self.out.try_reserve() {
            Ok(permit) => permit,
            Err(e) => {
                let error = match e {
                    mpsc::error::TrySendError::Full(()) => HttpServerError::SlowConsumer,
                    mpsc::error::TrySendError::Closed(()) => HttpServerError::WsChannelNotFound,
                };
                failed.extend(sending.into_iter().map(|id| (id, error)));
                return failed;
            }
        };
        let header = FromProcess::PushMany {
            call: self.call_for(node),
            node: node.to_owned(),
            channel_ids: sending,
            message_type,
            blob: Some(BlobHeader::of(blob)),
        };
        permit.send(Self::push_frames(header, blob));
        failed
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}
