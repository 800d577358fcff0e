//! Links: accepting and dialing connections, and the two tasks of a live link.
//!
//! The writer task drains the link's bounded queue, packing every message waiting into one
//! batch of records, sealing it into transport frames and writing it with one call; when the
//! link is quiet it sends a keepalive. The reader task opens frames, reassembles records and
//! hands each message to local routing, refusing any whose source is not the link's peer.
//! Any protocol violation (oversized frame or record, failed decryption, garbage record)
//! drops that link only. When a link ends, requests still queued on it are bounced to their
//! senders as `Offline`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use process_lib::host::Host;
use process_lib::{KernelMessage, SendErrorKind, WireMessage};
use rand::Rng;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::codec::{self, Reassembler, Record};
use super::framing::{read_frame, FrameError, HEADER as FRAME_HEADER};
use super::handshake::{self, HandshakeError, Session};
use super::identity::Identity;
use super::peers::{LinkHandle, Peer};
use super::queue::{link_queue, LinkDrain};
use super::session::{Opener, Sealer};
use super::stats::NetStats;
use crate::runtime::Runtime;

/// Handshakes that may be in progress on the listener at once.
const MAX_PENDING_HANDSHAKES: usize = 64;

/// A link up this long resets the redial backoff.
const STABLE_LINK: Duration = Duration::from_secs(10);

/// The writer stops adding messages to a batch past this many plaintext bytes.
const BATCH_BYTES: usize = 256 * 1024;

/// Accepts peers' dials until the node shuts down.
pub(super) async fn accept_loop(rt: Arc<Runtime>, identity: Arc<Identity>, listener: TcpListener) {
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = rt.shutdown.cancelled() => break,
        };
        let (mut stream, addr) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%error, "net accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = pending.clone().try_acquire_owned() else {
            tracing::warn!(%addr, "too many handshakes in progress; connection dropped");
            continue;
        };
        let rt2 = rt.clone();
        let identity = identity.clone();
        rt.tasks.spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            let net = &rt2.net;
            let key_of = |name: &str| net.peers.get(name).map(|p| p.key);
            let handshake = handshake::respond(&mut stream, &identity, &rt2.node, key_of);
            let outcome = tokio::select! {
                outcome = tokio::time::timeout(net.config.handshake_timeout, handshake) => outcome,
                () = rt2.shutdown.cancelled() => return,
            };
            match outcome {
                Ok(Ok(session)) => {
                    start_link(&rt2, stream, session, false);
                }
                Ok(Err(error)) => refused(&rt2, &addr.to_string(), &error),
                Err(_) => {
                    NetStats::bump(&net.stats.handshakes_failed);
                    tracing::warn!(%addr, "inbound handshake timed out");
                }
            }
        });
    }
}

fn refused(rt: &Runtime, addr: &str, error: &HandshakeError) {
    NetStats::bump(&rt.net.stats.handshakes_failed);
    match error {
        HandshakeError::WrongKey { peer, presented } => {
            tracing::warn!(%addr, peer, %presented, "link refused: the peer did not prove its configured key")
        }
        other => tracing::warn!(%addr, error = %other, "link refused"),
    }
}

/// Keeps a link to `peer` up by dialing its address whenever no link is up, with jittered
/// exponential backoff between failed attempts.
pub(super) async fn dial_loop(rt: Arc<Runtime>, identity: Arc<Identity>, peer: Arc<Peer>) {
    let config = &rt.net.config;
    let mut up = peer.watch_up();
    let mut address = peer.watch_address();
    let mut backoff = config.redial_min;
    let mut failures = 0u32;
    loop {
        tokio::select! {
            down = up.wait_for(|up| !*up) => if down.is_err() { return },
            () = rt.shutdown.cancelled() => return,
        }
        let Some(addr) = address.borrow_and_update().clone() else {
            tokio::select! {
                changed = address.changed() => if changed.is_err() { return },
                () = rt.shutdown.cancelled() => return,
            }
            continue;
        };
        let attempt = tokio::select! {
            attempt = tokio::time::timeout(config.handshake_timeout, dial(&rt, &identity, &peer, &addr)) => attempt,
            () = rt.shutdown.cancelled() => return,
        };
        match attempt {
            Ok(Ok((stream, session))) => {
                let started = tokio::time::Instant::now();
                failures = 0;
                if start_link(&rt, stream, session, true) {
                    tokio::select! {
                        down = up.wait_for(|up| !*up) => if down.is_err() { return },
                        () = rt.shutdown.cancelled() => return,
                    }
                }
                // A link that dies at once (e.g. the peer refused our key after the
                // handshake) must not turn into a tight redial loop.
                if started.elapsed() >= STABLE_LINK {
                    backoff = config.redial_min;
                }
            }
            Ok(Err(DialError::Connect(error))) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(peer = %peer.name, %addr, %error, "cannot reach peer; retrying with backoff");
                } else {
                    tracing::debug!(peer = %peer.name, %addr, %error, ?backoff, failures, "dial failed");
                }
            }
            Ok(Err(DialError::Handshake(error))) => refused(&rt, &addr, &error),
            Err(_) => {
                NetStats::bump(&rt.net.stats.handshakes_failed);
                tracing::warn!(peer = %peer.name, %addr, "dial timed out");
            }
        }
        let wait = jitter(backoff);
        backoff = (backoff * 2).min(config.redial_max);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = address.changed() => if changed.is_err() { return },
            () = rt.shutdown.cancelled() => return,
        }
    }
}

/// Half the backoff, plus a random part of the other half.
fn jitter(backoff: Duration) -> Duration {
    let half = backoff / 2;
    half + half.mul_f64(rand::thread_rng().gen::<f64>())
}

#[derive(Debug, thiserror::Error)]
enum DialError {
    #[error("connect: {0}")]
    Connect(#[from] std::io::Error),
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
}

async fn dial(
    rt: &Runtime,
    identity: &Identity,
    peer: &Peer,
    addr: &str,
) -> Result<(TcpStream, Session), DialError> {
    let mut stream = TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    let session =
        handshake::initiate(&mut stream, identity, &rt.node, &peer.name, peer.key).await?;
    Ok((stream, session))
}

/// Registers an authenticated link and starts its tasks. Returns false when a live link to
/// the same peer wins the tie-break (the new connection is then closed).
fn start_link(rt: &Arc<Runtime>, stream: TcpStream, session: Session, dialed_by_us: bool) -> bool {
    let net = &rt.net;
    let Some(peer) = net.peers.get(&session.peer).cloned() else {
        return false;
    };
    let (queue, rx) = link_queue(net.config.queue_capacity, net.config.queue_bytes);
    let cancel = rt.shutdown.child_token();
    let id = net.next_link_id.fetch_add(1, Ordering::Relaxed);
    let dialer = if dialed_by_us {
        rt.node.to_string()
    } else {
        peer.name.clone()
    };
    let preferred = std::cmp::min(rt.node.as_str(), peer.name.as_str()).to_owned();
    let handle = LinkHandle {
        id,
        dialer: dialer.clone(),
        queue,
        cancel: cancel.clone(),
    };
    if !peer.register(handle, &preferred) {
        tracing::debug!(peer = %peer.name, %dialer, "a link is already up; the new one is closed");
        return false;
    }
    NetStats::bump(&net.stats.links_up);
    tracing::info!(peer = %peer.name, %dialer, link = id, "link up");
    let (read, write) = stream.into_split();
    let link = Link {
        rt: rt.clone(),
        peer,
        id,
        cancel,
    };
    let writer = LinkWriter::new(link.clone(), write, session.sealer, rx);
    rt.tasks.spawn(writer.run());
    rt.tasks
        .spawn(LinkReader::new(link, read, session.opener).run());
    true
}

/// What a link's writer and reader tasks share: the node, the peer, the link's id, and the
/// token that ends both.
#[derive(Debug, Clone)]
struct Link {
    rt: Arc<Runtime>,
    peer: Arc<Peer>,
    id: u64,
    cancel: CancellationToken,
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
struct LinkWriter {
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
    fn new(link: Link, write: OwnedWriteHalf, sealer: Sealer, rx: LinkDrain) -> Self {
        Self {
            link,
            write,
            sealer,
            rx,
            plain: Vec::with_capacity(BATCH_BYTES + 64 * 1024),
            out: Vec::with_capacity(BATCH_BYTES + 64 * 1024),
        }
    }

    async fn run(mut self) {
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
struct LinkReader {
    link: Link,
    read: BufReader<OwnedReadHalf>,
    opener: Opener,
    /// The frame being read.
    frame: Vec<u8>,
    /// Opened bytes, cut into records.
    records: Reassembler,
}

impl LinkReader {
    fn new(link: Link, read: OwnedReadHalf, opener: Opener) -> Self {
        let records = Reassembler::new(link.rt.net.config.max_message_size);
        Self {
            link,
            read: BufReader::with_capacity(128 * 1024, read),
            opener,
            frame: Vec::new(),
            records,
        }
    }

    async fn run(mut self) {
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
            got = tokio::time::timeout(idle_timeout, read_frame(&mut self.read, &mut self.frame)) => got,
        };
        match got {
            Ok(Ok(())) => {
                peer.bytes_received
                    .fetch_add((FRAME_HEADER + self.frame.len()) as u64, Ordering::Relaxed);
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
        }
        self.opener
            .open(&self.frame, self.records.buffer())
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

/// Sends an undelivered request back to whoever waits for its answer. Anything else that
/// cannot be delivered is dropped (it has been counted and logged).
pub(super) fn bounce(rt: &Runtime, kind: SendErrorKind, message: KernelMessage) {
    let KernelMessage {
        id,
        source,
        target,
        rsvp,
        message,
        blob,
    } = message;
    let WireMessage::Request {
        expects_response: Some(_),
        body,
    } = message
    else {
        return;
    };
    let answer = KernelMessage {
        id,
        source: target,
        target: rsvp.unwrap_or(source),
        rsvp: None,
        message: WireMessage::Bounce { kind, body },
        blob,
    };
    if let Err((kind, answer)) = rt.send(answer) {
        tracing::debug!(target = %answer.target, ?kind, "bounce not delivered");
    }
}
