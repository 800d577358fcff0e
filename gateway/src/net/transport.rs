//! An established link's two tasks: [`LinkWriter`] seals what the link's queue holds and
//! writes it in batches, [`LinkReader`] reads frames, opens them, and hands the messages to
//! local routing. Either one ending ends the link.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use process_lib::host::Host;
use process_lib::{KernelMessage, SendErrorKind};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::{Framed, FramedParts, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

use super::codec::{self, Reassembler, Record};
use super::framing::{self, read_frame, FrameError, HEADER as FRAME_HEADER};
use super::link::bounce;
use super::peers::Peer;
use super::queue::LinkDrain;
use super::session::{Opener, Sealer};
use super::stats::NetStats;
use crate::runtime::Runtime;

/// The writer stops adding messages to a batch past this many plaintext bytes.
const BATCH_BYTES: usize = 256 * 1024;

/// Room a link's reader keeps for bytes read from the socket, so a burst arrives in large
/// reads.
const READ_BUFFER: usize = 128 * 1024;

/// What a link's writer and reader tasks share: the node, the peer, the link's id, and the
/// token that ends both.
#[derive(Debug, Clone)]
pub(super) struct Link {
    pub rt: Arc<Runtime>,
    pub peer: Arc<Peer>,
    pub id: u64,
    pub cancel: CancellationToken,
}

impl Link {
    /// Ends the link: both tasks stop, and the peer forgets it.
    fn end(&self) {
        self.cancel.cancel();
        self.peer.unregister(self.id);
    }
}

/// A link's writer task: seals what the link's queue holds, in batches, and writes it;
/// a keepalive when the link is quiet.
pub(super) struct LinkWriter {
    link: Link,
    write: OwnedWriteHalf,
    sealer: Sealer,
    rx: LinkDrain,
    /// The batch's encoded records.
    plain: Vec<u8>,
    /// The batch sealed into frames.
    out: Vec<u8>,
}

impl LinkWriter {
    pub(super) fn new(link: Link, write: OwnedWriteHalf, sealer: Sealer, rx: LinkDrain) -> Self {
        Self {
            link,
            write,
            sealer,
            rx,
            plain: Vec::with_capacity(BATCH_BYTES + 64 * 1024),
            out: Vec::with_capacity(BATCH_BYTES + 64 * 1024),
        }
    }

    pub(super) async fn run(mut self) {
        let rt = self.link.rt.clone();
        let config = &rt.net.config;
        let mut keepalive = tokio::time::interval(config.keepalive);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        keepalive.reset();
        let why = loop {
            self.plain.clear();
            self.out.clear();
            tokio::select! {
                biased;
                () = self.link.cancel.cancelled() => break "closed",
                message = self.rx.recv() => {
                    let Some(message) = message else { break "queue closed" };
                    self.gather(message);
                }
                _ = keepalive.tick() => codec::encode_keepalive(&mut self.plain),
            }
            if self.plain.is_empty() {
                continue;
            }
            if self.sealer.seal(&self.plain, &mut self.out).is_err() {
                break "encryption failed";
            }
            let written = tokio::select! {
                written = tokio::time::timeout(config.idle_timeout, self.write.write_all(&self.out)) => written,
                () = self.link.cancel.cancelled() => break "closed",
            };
            match written {
                Ok(Ok(())) => {
                    keepalive.reset();
                    let peer = &self.link.peer;
                    peer.bytes_sent
                        .fetch_add(self.out.len() as u64, Ordering::Relaxed);
                }
                Ok(Err(_)) => break "write failed",
                Err(_) => break "write stalled past the idle timeout",
            }
        };
        self.finish(why).await;
    }

    /// Encodes `first` and whatever else waits, up to [`BATCH_BYTES`].
    fn gather(&mut self, first: KernelMessage) {
        self.add(first);
        while self.plain.len() < BATCH_BYTES {
            match self.rx.try_recv() {
                Some(message) => self.add(message),
                None => break,
            }
        }
    }

    /// Adds one message to the batch, or bounces it when it is over the limit.
    fn add(&mut self, message: KernelMessage) {
        let rt = &self.link.rt;
        let limit = rt.net.config.max_message_size;
        if let Err(error) = codec::encode(&message, limit, &mut self.plain) {
            NetStats::bump(&rt.net.stats.too_large);
            tracing::warn!(peer = %self.link.peer.name, source = %message.source, %error, "message not sent");
            bounce(rt, SendErrorKind::Offline, message);
        }
    }

    /// Ends the link, bounces what is still queued, and shuts the socket's writing down.
    async fn finish(mut self, why: &str) {
        let Link { rt, peer, id, .. } = &self.link;
        tracing::debug!(peer = %peer.name, link = id, why, "link writer ending");
        self.link.end();
        self.rx.close();
        while let Some(message) = self.rx.try_recv() {
            NetStats::bump(&rt.net.stats.offline);
            bounce(rt, SendErrorKind::Offline, message);
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), self.write.shutdown()).await;
    }
}

/// A link's reader task: reads frames, opens them, and delivers the messages they carry.
pub(super) struct LinkReader {
    link: Link,
    /// The socket's read half, cut into frames.
    frames: Framed<OwnedReadHalf, LengthDelimitedCodec>,
    opener: Opener,
    /// Opened bytes, cut into records.
    records: Reassembler,
}

impl LinkReader {
    /// The reader of `read`, whose first bytes, read with the handshake, are `read_ahead`.
    pub(super) fn new(
        link: Link,
        read: OwnedReadHalf,
        opener: Opener,
        mut read_ahead: BytesMut,
    ) -> Self {
        let records = Reassembler::new(link.rt.net.config.max_message_size);
        read_ahead.reserve(READ_BUFFER);
        let mut parts = FramedParts::new::<Bytes>(read, framing::codec());
        parts.read_buf = read_ahead;
        Self {
            link,
            frames: Framed::from_parts(parts),
            opener,
            records,
        }
    }

    pub(super) async fn run(mut self) {
        let violation = loop {
            match self.next_frame().await {
                Ok(true) => {}
                Ok(false) => break None,
                Err(why) => break Some(why),
            }
            if let Err(why) = self.deliver_records() {
                break Some(why);
            }
        };
        let Link { rt, peer, id, .. } = &self.link;
        if let Some(why) = violation {
            NetStats::bump(&rt.net.stats.links_dropped);
            tracing::warn!(peer = %peer.name, link = id, %why, "link dropped for a protocol violation");
        }
        self.link.end();
        tracing::info!(peer = %peer.name, link = id, "link down");
    }

    /// Reads and opens the next frame: `Ok(false)` when the link ended (closed, cancelled,
    /// idle), `Err` with why when the peer broke the protocol.
    async fn next_frame(&mut self) -> Result<bool, String> {
        let Link {
            rt,
            peer,
            id,
            cancel,
        } = &self.link;
        let idle_timeout = rt.net.config.idle_timeout;
        let got = tokio::select! {
            () = cancel.cancelled() => return Ok(false),
            got = tokio::time::timeout(idle_timeout, read_frame(&mut self.frames)) => got,
        };
        let frame = match got {
            Ok(Ok(frame)) => {
                peer.bytes_received
                    .fetch_add((FRAME_HEADER + frame.len()) as u64, Ordering::Relaxed);
                frame
            }
            Ok(Err(FrameError::Io(error))) => {
                tracing::info!(peer = %peer.name, link = id, %error, "link closed by the peer");
                return Ok(false);
            }
            Ok(Err(error)) => return Err(error.to_string()),
            Err(_) => {
                tracing::warn!(peer = %peer.name, link = id, "link idle past the timeout");
                return Ok(false);
            }
        };
        self.opener
            .open(&frame, self.records.buffer())
            .map_err(|error| format!("frame did not decrypt: {error}"))?;
        Ok(true)
    }

    /// Delivers every whole record opened so far.
    fn deliver_records(&mut self) -> Result<(), String> {
        let Link { rt, peer, .. } = &self.link;
        loop {
            match self.records.next_record() {
                Ok(Some(Record::Message(message))) => deliver(rt, peer, message),
                Ok(Some(Record::Keepalive)) => {}
                Ok(None) => return Ok(()),
                Err(error) => return Err(error.to_string()),
            }
        }
    }
}

/// Hands a message from `peer` to local routing, if its source is that peer.
fn deliver(rt: &Runtime, peer: &Peer, message: KernelMessage) {
    let rsvp_elsewhere = message.rsvp.as_ref().is_some_and(|a| a.node != peer.name);
    if message.source.node != peer.name || message.target.node != rt.node || rsvp_elsewhere {
        NetStats::bump(&rt.net.stats.bad_source);
        tracing::warn!(
            peer = %peer.name,
            source = %message.source,
            target = %message.target,
            "message dropped: its source (or rsvp) is not the link's peer, or it is not for us"
        );
        return;
    }
    NetStats::bump(&rt.net.stats.received);
    if let Err((kind, message)) = rt.send(message) {
        tracing::debug!(peer = %peer.name, target = %message.target, ?kind, "message from a peer not delivered");
        bounce(rt, kind, message);
    }
}
